//! Lossless store ID rewriting in JSON documents, whole or streamed.
//!
//! The scanner is written by hand rather than built on a JSON library because it must keep
//! every byte outside a replaced value as it was: key order, number spelling, escapes, white
//! space and duplicate keys. A parse into `serde_json::Value` would lose all of these, and
//! streaming parsers report values, not the bytes they came from.
//!
//! One pass validates the document against RFC 8259 with an explicit stack of open arrays
//! and objects (no recursion, at most [`MAX_DEPTH`] deep), so it can stop at the end of any
//! chunk and go on with the next. Every scanned byte is final except those of a store ID,
//! URL or refresh message value whose end has not arrived, which are held until it does.
//! [`rewrite_json`] feeds the whole document as one chunk and collects [`Edit`]s, then copies
//! the input once; [`JsonStream`] writes the rewritten bytes chunk by chunk.

mod number;
mod output;
mod scanner;
mod stream;
mod string;
mod text;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_malformed;
#[cfg(test)]
mod tests_stream;

use crate::rewrite::edit::{apply_edits, Edit};
use crate::stores::{Direction, StoreMap};

pub use scanner::MAX_HELD_VALUE;
pub(crate) use scanner::{RecordedId, Scanner};
pub use stream::JsonStream;

/// Maximum nesting of arrays and objects. Deeper input is rejected as malformed, which bounds
/// the stack of open containers.
pub const MAX_DEPTH: usize = 512;

/// Optional rewrites that [`rewrite_json`] performs besides store ID keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JsonOptions {
    /// Rewrite the `storeId`/`store_id` query parameters inside the string values of
    /// `resource_url` and `href` keys (any case). A URL string that contains a JSON escape
    /// is left unchanged and counted in [`JsonRewrite::skipped_urls`].
    pub urls: bool,
    /// Rewrite `Store ID <digits>` in the string value of a top-level `message` key, as in
    /// the `/stores/refreshstore` response.
    pub refresh_message: bool,
}

/// The outcome of a rewrite.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JsonRewrite {
    /// The rewritten document, or `None` when nothing changed and the input can be reused.
    pub body: Option<Vec<u8>>,
    /// Number of store IDs replaced (and, for `merge_store_list`, store elements removed).
    pub count: usize,
    /// Number of URL strings left unchanged because they contain JSON escapes.
    pub skipped_urls: usize,
    /// Number of store ID, URL or message values left unchanged because they are longer
    /// than [`MAX_HELD_VALUE`].
    pub skipped_long: usize,
}

/// The input is not strict JSON.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON at byte {offset}: {reason}")]
pub struct MalformedJson {
    /// Byte offset in the input where the problem was found.
    pub offset: usize,
    pub reason: &'static str,
}

impl MalformedJson {
    pub(crate) fn at(offset: usize, reason: &'static str) -> Self {
        Self { offset, reason }
    }
}

/// Rewrites every store ID in a JSON document that `map` translates in `direction`.
///
/// A store ID is the value of any object key named `storeid` or `store_id` (ASCII case
/// ignored, escapes decoded), at any depth. Numbers and numeric strings are matched by value
/// and keep their JSON type. Other values under such a key are left alone. See
/// [`JsonOptions`] for URL and message text. The document is scanned as one chunk by the
/// same scanner that [`JsonStream`] feeds chunk by chunk.
pub fn rewrite_json(
    input: &[u8],
    map: &StoreMap,
    direction: Direction,
    options: JsonOptions,
) -> Result<JsonRewrite, MalformedJson> {
    let mut scanner = Scanner::new(direction, options);
    let mut edits: Vec<Edit> = Vec::new();
    scanner.feed(map, input, &mut edits)?;
    scanner.finish(map, &mut edits)?;

    let body = if edits.is_empty() {
        None
    } else {
        Some(apply_edits(input, &edits))
    };
    Ok(JsonRewrite {
        body,
        count: edits.len(),
        skipped_urls: scanner.skipped_urls,
        skipped_long: scanner.skipped_long,
    })
}
