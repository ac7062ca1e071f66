//! Store ID rewriting: every place where a legacy Miva store ID is turned into its Miva
//! Connect ID (requests, [`Direction::ToConnect`](crate::stores::Direction)) or back
//! (responses to mirror clients, `Direction::ToLegacy`).
//!
//! | Where the ID appears | Example | Function |
//! |---|---|---|
//! | Query parameter `storeId`/`storeID`/`store_id` (any case) on `/orders`, `/shipments`, `/stores/getrefreshstatus`, `/stores/refreshstore`, V2 | `?storeId=12345` | [`rewrite_query`] |
//! | Path segment of `/stores/{id}` (GET, PUT) | `/stores/12345` | [`rewrite_store_path`] |
//! | JSON key `storeId`, `StoreID`, `store_id`, ... at any depth: `advancedOptions.storeId` in orders and shipments (also in the top-level array of createorders), Store objects, getrefreshstatus, refreshstore, deactivate and reactivate bodies, `webhooks[].StoreID`, subscribe `store_id`, V2 `store_id` | `"storeId": 12345` | [`rewrite_json`]; [`JsonStream`] for a mirror response as it streams |
//! | Query of a `resource_url` or `href` string in JSON (webhook payloads, V2 links) | `"resource_url": ".../orders?storeID=12345"` | [`rewrite_json`] or [`JsonStream`] with [`JsonOptions::urls`] |
//! | Text of the top-level `message` of the refreshstore response | `"message": "... for Store ID 12345"` | [`rewrite_json`] or [`JsonStream`] with [`JsonOptions::refresh_message`] |
//! | `GET /stores` list for a mirror client: the legacy store is dropped when its connect partner is listed | `[{"storeId": 12345, ...}, {"storeId": 7654321, ...}]` | [`merge_store_list`] |
//! | A request body that is not strict JSON: whether to reject it | `{storeId: 12345,}` | [`might_carry_store_id`] |
//!
//! Every rewriter matches by field name and position, never by searching for digits, so the
//! same digits in `orderNumber`, `orderId`, custom fields or phone numbers are left alone.
//! Each returns `None` (or `body: None`) when nothing changed, so the caller can forward the
//! original buffer. [`JsonStream`] instead writes every byte, rewritten or not, as it goes.

mod edit;
mod ids;
mod json;
mod lenient;
mod path;
mod query;
mod stores_list;

pub use json::{
    rewrite_json, JsonOptions, JsonRewrite, JsonStream, MalformedJson, MAX_DEPTH, MAX_HELD_VALUE,
};
pub use lenient::might_carry_store_id;
pub use path::rewrite_store_path;
pub use query::rewrite_query;
pub use stores_list::merge_store_list;
