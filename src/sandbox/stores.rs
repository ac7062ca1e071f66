//! `/stores` endpoints: list, get, update, refresh, refresh status, deactivate and
//! reactivate.

use serde_json::{json, Value};

use super::dates::{pacific_now, parse_request_datetime, store_timestamp};
use super::errors;
use super::reply::Reply;
use super::routes::{id_field, json_body, path_id, required_id, Call, IdField};
use super::state::{State, StatusMapping, Store};

// NOTE: only "2 = Updating orders" appears in ShipStation's examples. The idle status ID
// and text are guesses.
const REFRESH_IN_PROGRESS: (u64, &str) = (2, "Updating orders");
const REFRESH_IDLE: (u64, &str) = (1, "Idle");

fn store_not_found(store_id: u64) -> Reply {
    errors::not_found(format!("Store ID {store_id} was not found."))
}

fn to_json(store: &Store) -> Value {
    serde_json::to_value(store).unwrap_or(Value::Null)
}

/// `GET /stores`: active stores, or all with `showInactive=true`, optionally for one
/// `marketplaceId`. Returns a bare array, as V1 does.
pub(crate) fn list(call: &Call<'_>, state: &State) -> Reply {
    let show_inactive = match call.query.bool("showInactive") {
        Ok(value) => value.unwrap_or(false),
        Err(reply) => return reply,
    };
    let marketplace = match call.query.u64("marketplaceId") {
        Ok(value) => value,
        Err(reply) => return reply,
    };
    let stores: Vec<Value> = state
        .stores
        .iter()
        .filter(|store| show_inactive || store.active)
        .filter(|store| marketplace.is_none_or(|id| store.marketplace_id == id))
        .map(|store| to_json(&store.list_view()))
        .collect();
    Reply::ok(Value::Array(stores))
}

/// `GET /stores/marketplaces`: the marketplaces of the seeded stores.
pub(crate) fn marketplaces(state: &State) -> Reply {
    let mut seen = Vec::new();
    let mut list = Vec::new();
    for store in &state.stores {
        if seen.contains(&store.marketplace_id) {
            continue;
        }
        seen.push(store.marketplace_id);
        let integrated = !store.is_manual();
        list.push(json!({
            "name": store.marketplace_name,
            "marketplaceId": store.marketplace_id,
            "canRefresh": integrated,
            "supportsCustomMappings": integrated,
            "supportsCustomStatuses": integrated,
            "canConfirmShipments": integrated
        }));
    }
    Reply::ok(Value::Array(list))
}

/// `GET /stores/{storeId}`, with status mappings.
pub(crate) fn get(_call: &Call<'_>, state: &State, segment: &str) -> Reply {
    let store_id = match path_id(segment, "storeId") {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    match state.store(store_id) {
        Some(store) => Reply::ok(to_json(&store.detail_view())),
        None => store_not_found(store_id),
    }
}

/// `PUT /stores/{storeId}`: replaces the store's editable fields. The body's `storeId`
/// must equal the path's.
pub(crate) fn update(call: &Call<'_>, state: &mut State, segment: &str) -> Reply {
    let path_store_id = match path_id(segment, "storeId") {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    let body = match json_body(call, "store") {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    if !body.is_object() {
        return errors::invalid_field("store", errors::required("store"));
    }
    let body_store_id = match required_id(&body, "storeId", "store.storeId") {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    if body_store_id != path_store_id {
        return errors::invalid_field(
            "store.storeId",
            format!(
                "The storeId in the body ({body_store_id}) does not match the storeId in the URL ({path_store_id})."
            ),
        );
    }
    let mappings = match body.get("statusMappings") {
        None | Some(Value::Null) => None,
        Some(value) => match serde_json::from_value::<Vec<StatusMapping>>(value.clone()) {
            Ok(mappings) => Some(mappings),
            Err(_) => {
                return errors::invalid_field(
                    "store.statusMappings",
                    "Each status mapping needs string orderStatus and statusKey fields.",
                )
            }
        },
    };
    let Some(store) = state.store_mut(path_store_id) else {
        return store_not_found(path_store_id);
    };

    // NOTE: V1 documents that the whole resource must be sent. What it does with missing
    // fields is not documented, so the sandbox keeps the stored value for them.
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
    let flag = |key: &str| body.get(key).and_then(Value::as_bool);
    if let Some(value) = text("storeName") {
        store.store_name = value;
    }
    for (key, target) in [
        ("companyName", &mut store.company_name),
        ("phone", &mut store.phone),
        ("publicEmail", &mut store.public_email),
        ("website", &mut store.website),
    ] {
        if let Some(value) = text(key) {
            *target = value;
        }
    }
    for (key, target) in [
        ("integrationUrl", &mut store.integration_url),
        ("email", &mut store.email),
        ("accountName", &mut store.account_name),
    ] {
        if body.get(key).is_some() {
            *target = text(key);
        }
    }
    if let Some(value) = flag("active") {
        store.active = value;
    }
    if let Some(value) = flag("autoRefresh") {
        store.auto_refresh = value;
    }
    if mappings.is_some() {
        store.status_mappings = mappings;
    }
    store.modify_date = store_timestamp(pacific_now());
    Reply::ok(to_json(&store.detail_view()))
}

/// `GET /stores/getrefreshstatus?storeId=`.
pub(crate) fn refresh_status(call: &Call<'_>, state: &mut State) -> Reply {
    let store_id = match call.query.u64("storeId") {
        // The parameter is required, so ASP.NET finds no matching action without it.
        Ok(None) => return errors::no_route(call.uri, call.base_url),
        Ok(Some(id)) => id,
        Err(reply) => return reply,
    };
    let Some(store) = state.store_mut(store_id) else {
        return store_not_found(store_id);
    };
    let (status_id, status) = if store.refresh_in_progress {
        REFRESH_IN_PROGRESS
    } else {
        REFRESH_IDLE
    };
    store.refresh_in_progress = false;
    Reply::ok(json!({
        "storeId": store.store_id,
        "refreshStatusId": status_id,
        "refreshStatus": status,
        "lastRefreshAttempt": store.last_refresh_attempt,
        "refreshDate": store.refresh_date
    }))
}

/// `POST /stores/refreshstore`: `storeId` and `refreshDate` come from the JSON body or, as
/// the legacy documentation shows, from the query string. Without `storeId` every active
/// integrated store is refreshed.
pub(crate) fn refresh(call: &Call<'_>, state: &mut State) -> Reply {
    let body = match json_body(call, "request") {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let store_id = match id_field(body.get("storeId")) {
        IdField::Valid(id) => Some(id),
        IdField::Invalid => {
            return errors::invalid_field(
                "request.storeId",
                "The value of storeId is not a valid integer.",
            )
        }
        IdField::Missing => match call.query.u64("storeId") {
            Ok(value) => value,
            Err(reply) => return reply,
        },
    };
    let date_text = body
        .get("refreshDate")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| call.query.get("refreshDate").map(str::to_owned));
    let now = pacific_now();
    let refresh_date = match date_text
        .as_deref()
        .map(str::trim)
        .filter(|text| !text.is_empty())
    {
        None => now,
        Some(text) => match parse_request_datetime(text) {
            Some(date) => date,
            None => {
                return errors::invalid_field(
                    "request.refreshDate",
                    format!("The value '{text}' is not a valid date; use yyyy-mm-dd hh:mm:ss."),
                )
            }
        },
    };

    let mark = |store: &mut Store| {
        store.last_refresh_attempt = store_timestamp(now);
        store.refresh_date = store_timestamp(refresh_date);
        store.refresh_in_progress = true;
    };
    let message = match store_id {
        Some(id) => {
            let Some(store) = state.store_mut(id) else {
                return store_not_found(id);
            };
            mark(store);
            format!("A store refresh has been initiated for Store ID {id}")
        }
        None => {
            state
                .stores
                .iter_mut()
                .filter(|store| store.active && !store.is_manual())
                .for_each(mark);
            "A store refresh has been initiated for all stores".to_owned()
        }
    };
    Reply::ok(json!({ "success": true, "message": message }))
}

/// `POST /stores/deactivate` and `/stores/reactivate`. `storeId` may be a number or a
/// numeric string, and `success` is the string "true", as in the V1 documentation.
pub(crate) fn set_active(call: &Call<'_>, state: &mut State, active: bool) -> Reply {
    let body = match json_body(call, "request") {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let store_id = match required_id(&body, "storeId", "request.storeId") {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    let Some(store) = state.store_mut(store_id) else {
        return store_not_found(store_id);
    };
    store.active = active;
    store.modify_date = store_timestamp(pacific_now());
    let verb = if active { "reactivated" } else { "deactivated" };
    Reply::ok(json!({
        "success": "true",
        "message": format!("The requested store has been {verb}.")
    }))
}
