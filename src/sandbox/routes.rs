//! Request dispatch: matches method and path to a handler, and the parsing helpers the
//! handlers share (query parameters, JSON bodies, IDs).
//!
//! ASP.NET Web API matches route segments and parameter names without regard to letter
//! case, and ShipStation itself sends `storeID` to endpoints documented with `storeId`, so
//! paths and query names are compared case-insensitively here too.

use http::{Method, Uri};
use percent_encoding::percent_decode_str;
use serde_json::Value;

use super::errors;
use super::reply::Reply;
use super::state::State;
use super::{edits, labels, orders, shipments, stores, webhooks};

/// One request as the handlers see it.
pub(crate) struct Call<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub query: Query,
    pub body: &'a [u8],
    /// Public base URL of the sandbox, for `resource_url` values and 404 messages.
    pub base_url: &'a str,
    /// Webhook POSTs to send once the state lock is released.
    pub outgoing: Vec<Outgoing>,
}

/// A webhook POST a handler queued.
#[derive(Clone, Debug)]
pub(crate) struct Outgoing {
    pub target_url: String,
    pub body: String,
}

/// Routes `call` to its handler.
pub(crate) fn dispatch(call: &mut Call<'_>, state: &mut State) -> Reply {
    let path = call.uri.path().to_ascii_lowercase();
    let segments: Vec<&str> = path.split('/').filter(|part| !part.is_empty()).collect();
    let method = call.method.clone();
    let get = method == Method::GET;
    let post = method == Method::POST;

    match segments.as_slice() {
        ["stores"] if get => stores::list(call, state),
        ["stores"] => errors::method_not_allowed(&method, "GET"),
        ["stores", "marketplaces"] if get => stores::marketplaces(state),
        ["stores", "getrefreshstatus"] if get => stores::refresh_status(call, state),
        ["stores", "refreshstore"] if post => stores::refresh(call, state),
        ["stores", "deactivate"] if post => stores::set_active(call, state, false),
        ["stores", "reactivate"] if post => stores::set_active(call, state, true),
        ["stores", "marketplaces" | "getrefreshstatus"] => {
            errors::method_not_allowed(&method, "GET")
        }
        ["stores", "refreshstore" | "deactivate" | "reactivate"] => {
            errors::method_not_allowed(&method, "POST")
        }
        ["stores", id] if get => stores::get(call, state, id),
        ["stores", id] if method == Method::PUT => stores::update(call, state, id),
        ["stores", _] => errors::method_not_allowed(&method, "GET, PUT"),

        ["orders"] if get => orders::list(call, state),
        ["orders"] => errors::method_not_allowed(&method, "GET"),
        ["orders", "createorder"] if post => orders::create_or_update(call, state),
        ["orders", "createorders"] if post => orders::create_many(call, state),
        ["orders", "markasshipped"] if post => labels::mark_as_shipped(call, state),
        ["orders", "createlabelfororder"] if post => labels::create_label(call, state),
        ["orders", "addtag"] if post => edits::tag(call, state, true),
        ["orders", "removetag"] if post => edits::tag(call, state, false),
        ["orders", "holduntil"] if post => edits::hold_until(call, state),
        ["orders", "assignuser"] if post => edits::assign_user(call, state),
        ["orders", "restorefromhold"] if post => edits::restore_from_hold(call, state),
        ["orders", "unassignuser"] if post => edits::unassign_user(call, state),
        ["orders", "createorder"
        | "createorders"
        | "markasshipped"
        | "createlabelfororder"
        | "addtag"
        | "removetag"
        | "holduntil"
        | "assignuser"
        | "restorefromhold"
        | "unassignuser"] => errors::method_not_allowed(&method, "POST"),
        ["orders", id] if get => orders::get(call, state, id),
        ["orders", id] if method == Method::DELETE => orders::delete(call, state, id),
        ["orders", _] => errors::method_not_allowed(&method, "GET, DELETE"),

        ["shipments"] if get => shipments::list(call, state),
        ["shipments"] => errors::method_not_allowed(&method, "GET"),

        ["webhooks"] if get => webhooks::list(state),
        ["webhooks"] => errors::method_not_allowed(&method, "GET"),
        ["webhooks", "subscribe"] if post => webhooks::subscribe(call, state),
        ["webhooks", "subscribe"] => errors::method_not_allowed(&method, "POST"),
        ["webhooks", id] if method == Method::DELETE => webhooks::unsubscribe(call, state, id),
        ["webhooks", _] => errors::method_not_allowed(&method, "DELETE"),

        _ => errors::no_route(call.uri, call.base_url),
    }
}

/// Decoded query parameters in request order.
#[derive(Debug, Default)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(uri: &Uri) -> Self {
        let pairs = uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (decode_component(name), decode_component(value))
            })
            .collect();
        Self(pairs)
    }

    /// Returns the first value of `name`, matched without regard to letter case. An empty
    /// value counts as absent, as it does for ASP.NET's optional parameters.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
    }

    /// Parses an optional integer parameter, or returns a 400 naming it.
    pub fn u64(&self, name: &str) -> Result<Option<u64>, Reply> {
        match self.get(name) {
            None => Ok(None),
            Some(text) => text
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| invalid_parameter(name, text)),
        }
    }

    /// Parses an optional boolean parameter (`true`/`false` in any case, as .NET accepts).
    pub fn bool(&self, name: &str) -> Result<Option<bool>, Reply> {
        match self.get(name) {
            None => Ok(None),
            Some(text) if text.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(text) if text.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(text) => Err(invalid_parameter(name, text)),
        }
    }
}

fn decode_component(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

fn invalid_parameter(name: &str, text: &str) -> Reply {
    errors::invalid_field(name, format!("The value '{text}' is not valid for {name}."))
}

/// Parses a numeric path segment such as the `{storeId}` of `/stores/{storeId}`.
pub(crate) fn path_id(segment: &str, name: &str) -> Result<u64, Reply> {
    segment
        .parse()
        .map_err(|_| invalid_parameter(name, segment))
}

/// Parses the JSON request body. An empty body is `null`, which handlers report as a
/// missing required field. `parameter` is the ASP.NET action parameter name used as the
/// ModelState key, e.g. `apiOrder`.
pub(crate) fn json_body(call: &Call<'_>, parameter: &str) -> Result<Value, Reply> {
    if call.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(call.body).map_err(|error| {
        errors::invalid_field(
            parameter,
            format!(
                "The request body is not valid JSON (line {}, column {}).",
                error.line(),
                error.column()
            ),
        )
    })
}

/// An ID read from a JSON body, where clients send numbers or numeric strings.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum IdField {
    Missing,
    Valid(u64),
    Invalid,
}

pub(crate) fn id_field(value: Option<&Value>) -> IdField {
    match value {
        None | Some(Value::Null) => IdField::Missing,
        Some(Value::Number(number)) => number.as_u64().map_or(IdField::Invalid, IdField::Valid),
        Some(Value::String(text)) => text.trim().parse().map_or(IdField::Invalid, IdField::Valid),
        Some(_) => IdField::Invalid,
    }
}

/// Reads a required ID from a JSON object, or returns the 400 for `key`.
pub(crate) fn required_id(body: &Value, field: &str, key: &str) -> Result<u64, Reply> {
    match id_field(body.get(field)) {
        IdField::Valid(id) => Ok(id),
        IdField::Missing => Err(errors::invalid_field(key, errors::required(field))),
        IdField::Invalid => Err(errors::invalid_field(
            key,
            format!("The value of {field} is not a valid integer."),
        )),
    }
}

/// Returns one page of `items` and the V1 paging numbers `(page, pages)`. `pageSize`
/// defaults to 100 and is capped at 500, the documented maximum.
pub(crate) fn paginate<T>(items: Vec<T>, query: &Query) -> Result<(Vec<T>, u64, u64), Reply> {
    let page = query.u64("page")?.unwrap_or(1).max(1);
    let page_size = query.u64("pageSize")?.unwrap_or(100).clamp(1, 500);
    let total = items.len() as u64;
    let pages = total.div_ceil(page_size);
    let skip = usize::try_from((page - 1).saturating_mul(page_size)).unwrap_or(usize::MAX);
    let take = usize::try_from(page_size).unwrap_or(usize::MAX);
    let selected = items.into_iter().skip(skip).take(take).collect();
    Ok((selected, page, pages))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn query_names_ignore_case() {
        let uri: Uri = "/orders?storeID=12345&orderNumber=A%2B1+x".parse().unwrap();
        let query = Query::parse(&uri);
        assert_eq!(query.get("storeId"), Some("12345"));
        assert_eq!(query.get("ordernumber"), Some("A+1 x"));
        assert_eq!(query.u64("STOREID").ok().flatten(), Some(12345));
    }

    #[test]
    fn id_field_accepts_number_and_string() {
        assert_eq!(id_field(Some(&json!(12))), IdField::Valid(12));
        assert_eq!(id_field(Some(&json!(" 12 "))), IdField::Valid(12));
        assert_eq!(id_field(Some(&json!(null))), IdField::Missing);
        assert_eq!(id_field(Some(&json!("abc"))), IdField::Invalid);
        assert_eq!(id_field(Some(&json!(-1))), IdField::Invalid);
    }

    #[test]
    fn paginate_counts_pages() {
        let uri: Uri = "/x?page=2&pageSize=2".parse().unwrap();
        let (items, page, pages) = paginate((1..=5).collect(), &Query::parse(&uri)).unwrap();
        assert_eq!(items, vec![3, 4]);
        assert_eq!(page, 2);
        assert_eq!(pages, 3);
    }
}
