//! The streaming rewrite of one JSON document, fed a chunk at a time, as a `mirror`
//! listener rewrites a response body while it arrives.

use std::sync::Arc;

use super::scanner::Scanner;
use super::{JsonOptions, MalformedJson};
use crate::stores::{Direction, StoreMap};

/// Rewrites a JSON document that arrives in chunks.
///
/// The output of every split of a document into chunks is the same, and equals the body
/// of [`rewrite_json`](super::rewrite_json) for valid JSON. Memory stays bounded by the
/// open-container stack and one held value of at most
/// [`MAX_HELD_VALUE`](super::MAX_HELD_VALUE) bytes, whatever the document's size.
///
/// When the input turns out not to be JSON, the rewrite stops there: the bytes not yet
/// written, and everything fed afterwards, pass unchanged, and [`Self::error`] returns
/// the error. Values rewritten before that point stay rewritten.
pub struct JsonStream {
    scanner: Scanner,
    map: Arc<StoreMap>,
    error: Option<MalformedJson>,
}

impl JsonStream {
    pub fn new(map: Arc<StoreMap>, direction: Direction, options: JsonOptions) -> Self {
        Self {
            scanner: Scanner::new(direction, options),
            map,
            error: None,
        }
    }

    /// Rewrites the next chunk, appending what is final to `out`. Bytes of a value that
    /// may be rewritten are held until the value ends in a later chunk.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if self.error.is_some() {
            out.extend_from_slice(chunk);
            return;
        }
        if let Err(error) = self.scanner.feed(&self.map, chunk, out) {
            self.scanner.release(chunk, out);
            self.error = Some(error);
        }
    }

    /// Ends the document, appending the last held bytes to `out`. A document that ends
    /// early (inside a value or an open container) counts as invalid JSON.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.error.is_some() {
            return;
        }
        if let Err(error) = self.scanner.finish(&self.map, out) {
            self.scanner.release(&[], out);
            self.error = Some(error);
        }
    }

    /// Returns the error that stopped the rewrite, if the input is not valid JSON so far.
    pub fn error(&self) -> Option<&MalformedJson> {
        self.error.as_ref()
    }

    /// Returns the number of store IDs replaced so far.
    pub fn count(&self) -> usize {
        self.scanner.count
    }

    /// Returns the number of URL strings left unchanged because they contain JSON escapes.
    pub fn skipped_urls(&self) -> usize {
        self.scanner.skipped_urls
    }

    /// Returns the number of values of interest left unchanged because they are longer
    /// than [`MAX_HELD_VALUE`](super::MAX_HELD_VALUE).
    pub fn skipped_long(&self) -> usize {
        self.scanner.skipped_long
    }
}
