//! Placeholder with the rewrite API's signatures; the real module replaces it.
use crate::stores::{Direction, StoreMap};

#[derive(Clone, Copy, Debug, Default)]
pub struct JsonOptions {
    pub urls: bool,
    pub refresh_message: bool,
}
pub struct JsonRewrite {
    pub body: Option<Vec<u8>>,
    pub count: usize,
    pub skipped_urls: usize,
}
#[derive(Debug, thiserror::Error)]
#[error("invalid JSON at byte {offset}: {reason}")]
pub struct MalformedJson {
    pub offset: usize,
    pub reason: &'static str,
}
pub fn rewrite_json(
    _: &[u8],
    _: &StoreMap,
    _: Direction,
    _: JsonOptions,
) -> Result<JsonRewrite, MalformedJson> {
    Ok(JsonRewrite {
        body: None,
        count: 0,
        skipped_urls: 0,
    })
}
pub fn rewrite_query(_: &str, _: &StoreMap, _: Direction) -> Option<(String, usize)> {
    None
}
pub fn rewrite_store_path(_: &str, _: &StoreMap, _: Direction) -> Option<String> {
    None
}
pub fn merge_store_list(_: &[u8], _: &StoreMap) -> Result<JsonRewrite, MalformedJson> {
    Ok(JsonRewrite {
        body: None,
        count: 0,
        skipped_urls: 0,
    })
}
pub fn might_carry_store_id(_: &[u8], _: &StoreMap) -> bool {
    false
}
