//! Error bodies in the shapes ShipStation's V1 API (ASP.NET Web API) returns: PascalCase
//! `Message` with `ModelState` for binding failures, the framework's "No HTTP resource" and
//! "does not support http method" messages, and the exception body of a 500.

use http::{Method, StatusCode, Uri};
use serde_json::{json, Map, Value};

use super::reply::Reply;

/// Builds the 400 for one invalid or missing field. `key` names the action parameter and field the
/// way ASP.NET does, e.g. `apiOrder.orderNumber`.
pub(crate) fn invalid_field(key: &str, message: impl Into<String>) -> Reply {
    invalid_fields(vec![(key.to_owned(), message.into())])
}

/// Builds the 400 that lists every invalid field of one request.
pub(crate) fn invalid_fields(fields: Vec<(String, String)>) -> Reply {
    let mut model_state = Map::new();
    for (key, message) in fields {
        let entry = model_state
            .entry(key)
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(messages) = entry {
            messages.push(Value::String(message));
        }
    }
    Reply::json(
        StatusCode::BAD_REQUEST,
        json!({ "Message": "The request is invalid.", "ModelState": model_state }),
    )
}

/// Returns the message for a required field that is absent or null.
pub(crate) fn required(field: &str) -> String {
    format!("The {field} field is required.")
}

/// Builds a 400 that is not tied to one field.
pub(crate) fn bad_request(message: impl Into<String>) -> Reply {
    Reply::json(
        StatusCode::BAD_REQUEST,
        json!({ "Message": message.into() }),
    )
}

/// Builds the 404 for a path that no route matches.
pub(crate) fn no_route(uri: &Uri, base_url: &str) -> Reply {
    let path_and_query = uri.path_and_query().map_or("/", |value| value.as_str());
    let full = format!("{}{}", base_url.trim_end_matches('/'), path_and_query);
    Reply::json(
        StatusCode::NOT_FOUND,
        json!({ "Message": format!("No HTTP resource was found that matches the request URI '{full}'.") }),
    )
}

/// Builds the 404 for a store, order or webhook that does not exist.
pub(crate) fn not_found(message: impl Into<String>) -> Reply {
    Reply::json(StatusCode::NOT_FOUND, json!({ "Message": message.into() }))
}

/// Builds the 405 for a known path requested with a method it does not support.
pub(crate) fn method_not_allowed(method: &Method, allow: &'static str) -> Reply {
    let mut reply = Reply::json(
        StatusCode::METHOD_NOT_ALLOWED,
        json!({ "Message": format!("The requested resource does not support http method '{method}'.") }),
    );
    reply.allow = Some(allow);
    reply
}

/// Builds the 500 ShipStation returns when an operation needs an active manual store and the
/// account has none: an unhandled .NET null reference.
pub(crate) fn null_reference() -> Reply {
    Reply::json(
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({
            "Message": "An error has occurred.",
            "ExceptionMessage": "Object reference not set to an instance of an object.",
            "ExceptionType": "System.NullReferenceException",
            "StackTrace": null
        }),
    )
}

/// Builds the 401 for missing or wrong credentials. The real body is not documented, so this
/// uses the lowercase `message` key of the documented 429 body.
pub(crate) fn unauthorized() -> Reply {
    let mut reply = Reply::json(
        StatusCode::UNAUTHORIZED,
        json!({ "message": "Unauthorized" }),
    );
    reply.basic_challenge = true;
    reply
}

/// Builds the 429 with the documented body.
pub(crate) fn too_many_requests() -> Reply {
    Reply::json(
        StatusCode::TOO_MANY_REQUESTS,
        json!({ "message": "Too Many Requests" }),
    )
}
