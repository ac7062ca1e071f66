//! Lossless store ID rewriting in JSON documents.
//!
//! One recursive-descent pass validates the document against RFC 8259 and records an
//! [`Edit`] for each store ID value. The output is then copied once from the input, so every
//! byte outside a replaced value stays as it was: key order, number spelling, escapes, white
//! space and duplicate keys. A parse into `serde_json::Value` would lose all of these.

mod number;
mod string;
mod text;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_malformed;

use crate::rewrite::edit::{apply_edits, Edit};
use crate::rewrite::ids::{is_store_id_name, name_is, parse_id_text};
use crate::stores::{Direction, StoreMap};

use string::StringToken;

/// Maximum nesting of arrays and objects. Deeper input is rejected as malformed, which bounds
/// the recursion depth of the parser.
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
/// [`JsonOptions`] for URL and message text.
pub fn rewrite_json(
    input: &[u8],
    map: &StoreMap,
    direction: Direction,
    options: JsonOptions,
) -> Result<JsonRewrite, MalformedJson> {
    let mut scanner = Scanner::new(input, map, direction, options);
    scanner.document()?;

    let body = if scanner.edits.is_empty() {
        None
    } else {
        Some(apply_edits(input, &scanner.edits))
    };
    Ok(JsonRewrite {
        body,
        count: scanner.edits.len(),
        skipped_urls: scanner.skipped_urls,
    })
}

/// The meaning of the value being parsed, decided by the key in front of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Plain,
    StoreId,
    Url,
    Message,
}

/// A store ID value seen directly in an object at [`Scanner::record_depth`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordedId {
    /// Offset of the value's first byte.
    pub offset: usize,
    /// The ID, when the value is one.
    pub id: Option<u64>,
}

pub(crate) struct Scanner<'a> {
    input: &'a [u8],
    pos: usize,
    map: &'a StoreMap,
    direction: Direction,
    options: JsonOptions,
    pub edits: Vec<Edit>,
    pub skipped_urls: usize,
    /// When set, store ID values of objects at this depth go to `recorded`, and the spans of
    /// the top-level array's elements go to `elements`.
    pub record_depth: Option<usize>,
    pub recorded: Vec<RecordedId>,
    pub elements: Vec<(usize, usize)>,
}

impl<'a> Scanner<'a> {
    pub fn new(
        input: &'a [u8],
        map: &'a StoreMap,
        direction: Direction,
        options: JsonOptions,
    ) -> Self {
        Self {
            input,
            pos: 0,
            map,
            direction,
            options,
            edits: Vec::new(),
            skipped_urls: 0,
            record_depth: None,
            recorded: Vec::new(),
            elements: Vec::new(),
        }
    }

    /// Parses the whole input: one value with optional white space around it.
    pub fn document(&mut self) -> Result<(), MalformedJson> {
        self.value(0, Slot::Plain)?;
        self.skip_space();
        if self.pos < self.input.len() {
            return Err(self.error("unexpected data after the JSON value"));
        }
        Ok(())
    }

    fn error(&self, reason: &'static str) -> MalformedJson {
        MalformedJson::at(self.pos, reason)
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    /// Parses one value inside `depth` enclosing arrays and objects.
    fn value(&mut self, depth: usize, slot: Slot) -> Result<(), MalformedJson> {
        self.skip_space();
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => {
                let token = string::scan_string(self.input, self.pos)?;
                self.pos = token.end;
                self.string_value(token, depth, slot);
                Ok(())
            }
            Some(b'-' | b'0'..=b'9') => {
                let token = number::scan_number(self.input, self.pos)?;
                self.pos = token.end;
                if slot == Slot::StoreId {
                    let id = token.integral_value(self.input);
                    self.store_id(token.start, token.end, id, false, depth);
                }
                Ok(())
            }
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(_) => Err(self.error("expected a JSON value")),
            None => Err(self.error("unexpected end of input, expected a JSON value")),
        }
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), MalformedJson> {
        if self.input.get(self.pos..self.pos + word.len()) != Some(word) {
            return Err(self.error("invalid literal (expected true, false or null)"));
        }
        self.pos += word.len();
        Ok(())
    }

    fn object(&mut self, depth: usize) -> Result<(), MalformedJson> {
        if depth > MAX_DEPTH {
            return Err(self.error("nesting deeper than 512 arrays and objects"));
        }
        self.pos += 1;
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }

        loop {
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let key = string::scan_string(self.input, self.pos)?;
            self.pos = key.end;
            let slot = self.classify_key(key, depth);

            self.skip_space();
            if self.peek() != Some(b':') {
                return Err(self.error("expected ':' after object key"));
            }
            self.pos += 1;
            self.value(depth, slot)?;

            self.skip_space();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_space();
                }
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.error("expected ',' or '}' in object")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), MalformedJson> {
        if depth > MAX_DEPTH {
            return Err(self.error("nesting deeper than 512 arrays and objects"));
        }
        let record_elements = depth == 1 && self.record_depth.is_some();
        self.pos += 1;
        self.skip_space();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }

        loop {
            self.skip_space();
            let start = self.pos;
            self.value(depth, Slot::Plain)?;
            if record_elements {
                self.elements.push((start, self.pos));
            }

            self.skip_space();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.error("expected ',' or ']' in array")),
            }
        }
    }

    /// Decides what the value after `key` is, from the key's decoded name.
    fn classify_key(&self, key: StringToken, depth: usize) -> Slot {
        // Fast path: without escapes the raw bytes are the name, so no decoding is needed.
        if !key.has_escape {
            return self.classify_plain_key(key.content(self.input), depth);
        }

        if is_store_id_name(key.decoded(self.input)) {
            Slot::StoreId
        } else if self.options.urls
            && (name_is(key.decoded(self.input), b"resource_url")
                || name_is(key.decoded(self.input), b"href"))
        {
            Slot::Url
        } else if self.options.refresh_message
            && depth == 1
            && name_is(key.decoded(self.input), b"message")
        {
            Slot::Message
        } else {
            Slot::Plain
        }
    }

    /// Classifies a key without escapes by its raw bytes. Most keys are dismissed by length
    /// and first letter alone. Must agree with the decoding path in [`Self::classify_key`].
    fn classify_plain_key(&self, name: &[u8], depth: usize) -> Slot {
        let first = name.first().map_or(0, u8::to_ascii_lowercase);
        match (name.len(), first) {
            (7, b's') if name.eq_ignore_ascii_case(b"storeid") => Slot::StoreId,
            (8, b's') if name.eq_ignore_ascii_case(b"store_id") => Slot::StoreId,
            (12, b'r') if self.options.urls && name.eq_ignore_ascii_case(b"resource_url") => {
                Slot::Url
            }
            (4, b'h') if self.options.urls && name.eq_ignore_ascii_case(b"href") => Slot::Url,
            (7, b'm')
                if self.options.refresh_message
                    && depth == 1
                    && name.eq_ignore_ascii_case(b"message") =>
            {
                Slot::Message
            }
            _ => Slot::Plain,
        }
    }

    fn string_value(&mut self, token: StringToken, depth: usize, slot: Slot) {
        match slot {
            Slot::Plain => {}
            Slot::StoreId => {
                let id = parse_id_text(token.decoded(self.input));
                self.store_id(token.start, token.end, id, true, depth);
            }
            Slot::Url if token.has_escape => {
                // NOTE: a URL with JSON escapes (such as `\/` from PHP encoders) is left
                // unchanged and counted, because re-escaping it exactly is not worth the risk.
                self.skipped_urls += 1;
            }
            Slot::Url => {
                let content_start = token.start + 1;
                text::url_edits(
                    token.content(self.input),
                    content_start,
                    self.map,
                    self.direction,
                    &mut self.edits,
                );
            }
            Slot::Message => {
                text::message_edits(
                    token.content(self.input),
                    token.start + 1,
                    self.map,
                    self.direction,
                    &mut self.edits,
                );
            }
        }
    }

    /// Records the store ID value at `input[start..end]` and replaces it when it is mapped.
    fn store_id(&mut self, start: usize, end: usize, id: Option<u64>, quoted: bool, depth: usize) {
        if self.record_depth == Some(depth) {
            self.recorded.push(RecordedId { offset: start, id });
        }
        if let Some(new_id) = id.and_then(|id| self.map.translate(self.direction, id)) {
            self.edits.push(Edit::id(start, end, new_id, quoted));
        }
    }
}
