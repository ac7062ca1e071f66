//! The resumable scanner: RFC 8259 validation with an explicit stack of open arrays and
//! objects, fed one chunk at a time.
//!
//! Every byte goes to the [`Output`] as soon as it is scanned, except the bytes of a value
//! that may be rewritten (a store ID, a URL or the refresh message) while its end is not in
//! sight yet. Those are held in `held` until the value ends, then written with their edits.

mod interest;

use super::number::{self, NumberScan};
use super::output::Output;
use super::string::{self, StringScan, StringToken};
use super::{JsonOptions, MalformedJson, MAX_DEPTH};
use crate::rewrite::edit::Edit;
use crate::rewrite::ids::{is_store_id_name, name_is};
use crate::stores::{Direction, StoreMap};

/// Maximum length in bytes of a value the rewriter reads whole: a store ID, a URL or the
/// refresh message. A longer one passes unchanged and is counted in
/// [`JsonRewrite::skipped_long`](super::JsonRewrite::skipped_long), so that a chunk boundary
/// inside one never keeps more than this in memory. Real values are a few dozen to a few hundred bytes.
pub const MAX_HELD_VALUE: usize = 64 * 1024;

/// Maximum length of a key, quotes included, whose bytes are kept across a chunk boundary.
/// A longer key cannot be a name of interest: the longest name, `resource_url`, has 12
/// characters, and an escaped character takes at most 6 bytes (`\u0041`).
const MAX_HELD_KEY: usize = 128;

/// The meaning of the value being parsed, decided by the key in front of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Plain,
    StoreId,
    Url,
    Message,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Container {
    Array,
    Object,
}

/// The token expected next, apart from white space. While a token is pending, the token
/// expected after it.
///
/// Each value state fixes the state after its value, and each separator state fixes the
/// container, so the main loop reads the stack only when a container opens or closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// The document's value.
    Document,
    /// After `[`: a value or `]`.
    FirstElement,
    /// After `,` in an array.
    Element,
    /// After `{`: a key or `}`.
    FirstKey,
    /// After `,` in an object.
    Key,
    Colon,
    /// After `:`.
    MemberValue,
    /// After a member value: `,` or `}`.
    AfterMember,
    /// After an element: `,` or `]`.
    AfterElement,
    /// After the document: only white space.
    AfterDocument,
}

/// The index in the chunk after a token, with the state there. `None` means that the chunk
/// ended inside the token, which [`Scanner::pending`] then keeps, with the state after it in
/// [`Scanner::expect`].
type Next = Option<(usize, Expect)>;

/// A token the previous chunk ended inside. Offsets are absolute.
#[derive(Clone, Copy, Debug)]
enum Pending {
    None,
    Key {
        start: usize,
        scan: StringScan,
    },
    Value {
        start: usize,
        slot: Slot,
        scan: ValueScan,
    },
    Literal {
        start: usize,
        word: &'static [u8],
        matched: usize,
    },
}

/// The scan of a string or number value.
#[derive(Clone, Copy, Debug)]
enum ValueScan {
    String(StringScan),
    Number(NumberScan),
}

impl ValueScan {
    #[inline]
    fn scan(
        &mut self,
        chunk: &[u8],
        pos: usize,
        base: usize,
    ) -> Result<Option<usize>, MalformedJson> {
        match self {
            ValueScan::String(scan) => scan.scan(chunk, pos, base),
            ValueScan::Number(scan) => scan.scan(chunk, pos, base),
        }
    }

    /// Returns `Some(has_escape)` for a string, `None` for a number.
    #[inline]
    fn string(&self) -> Option<bool> {
        match self {
            ValueScan::String(scan) => Some(scan.has_escape),
            ValueScan::Number(_) => None,
        }
    }

    fn end_of_input(&self, total: usize) -> Option<MalformedJson> {
        match self {
            ValueScan::String(scan) => Some(scan.end_of_input(total)),
            ValueScan::Number(scan) => scan.end_of_input(total),
        }
    }
}

/// A store ID value seen directly in an object at [`Scanner::record_depth`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordedId {
    /// Absolute offset of the value's first byte.
    pub offset: usize,
    /// The ID, when the value is one.
    pub id: Option<u64>,
}

/// A value of interest whose last byte has been scanned.
#[derive(Clone, Copy)]
struct Finished {
    start: usize,
    end: usize,
    slot: Slot,
    /// `Some(has_escape)` for a string, `None` for a number.
    string: Option<bool>,
}

pub(crate) struct Scanner {
    direction: Direction,
    options: JsonOptions,
    stack: Vec<Container>,
    expect: Expect,
    /// The slot of the next value: set by a key, and back to `Plain` once the value starts.
    slot: Slot,
    pending: Pending,
    /// The bytes of the pending key, or of the pending value of interest, from earlier
    /// chunks. A held value has not been written to the output yet; a held key has.
    held: Vec<u8>,
    /// Absolute offset of the first byte of the chunk being scanned.
    base: usize,
    /// Absolute offset up to which the output has been written.
    emitted: usize,
    edits: Vec<Edit>,
    pub count: usize,
    pub skipped_urls: usize,
    pub skipped_long: usize,
    /// When set, store ID values of objects at this depth go to `recorded`, and the spans of
    /// the top-level array's elements go to `elements`.
    pub record_depth: Option<usize>,
    pub recorded: Vec<RecordedId>,
    pub elements: Vec<(usize, usize)>,
    element_start: usize,
}

impl Scanner {
    pub fn new(direction: Direction, options: JsonOptions) -> Self {
        Self {
            direction,
            options,
            stack: Vec::new(),
            expect: Expect::Document,
            slot: Slot::Plain,
            pending: Pending::None,
            held: Vec::new(),
            base: 0,
            emitted: 0,
            edits: Vec::new(),
            count: 0,
            skipped_urls: 0,
            skipped_long: 0,
            record_depth: None,
            recorded: Vec::new(),
            elements: Vec::new(),
            element_start: 0,
        }
    }

    /// Scans the next chunk of the document and writes what is final to `out`.
    ///
    /// After an error the scanner must not be fed again; [`Self::release`] writes out what
    /// it still holds.
    pub fn feed(
        &mut self,
        map: &StoreMap,
        chunk: &[u8],
        out: &mut impl Output,
    ) -> Result<(), MalformedJson> {
        if let Some(pos) = self.resume(map, chunk, out)? {
            self.scan_tokens(map, chunk, pos, out)?;
        }
        self.end_chunk(chunk, out);
        Ok(())
    }

    /// Scans the tokens from `chunk[pos]` to the end of the chunk.
    ///
    /// The state lives in locals here and goes back to `self.expect` when the chunk ends, so
    /// that the compiler can keep it in a register. An object member (key, colon and value)
    /// takes one turn of the loop.
    #[inline(always)]
    fn scan_tokens(
        &mut self,
        map: &StoreMap,
        chunk: &[u8],
        mut pos: usize,
        out: &mut impl Output,
    ) -> Result<(), MalformedJson> {
        let mut expect = self.expect;
        loop {
            pos = skip_whitespace(chunk, pos);
            let Some(&byte) = chunk.get(pos) else {
                break;
            };
            let next = match expect {
                Expect::AfterMember => match byte {
                    b',' => {
                        let mut next = self.member(map, chunk, pos + 1, out)?;
                        // Members of one object usually follow each other without white
                        // space, so the next one is read here, without the dispatch above.
                        while let Some((end, Expect::AfterMember)) = next {
                            if chunk.get(end) != Some(&b',') {
                                break;
                            }
                            next = self.member(map, chunk, end + 1, out)?;
                        }
                        next
                    }
                    b'}' => Some(self.close(pos)),
                    _ => return Err(self.error(pos, "expected ',' or '}' in object")),
                },
                Expect::FirstKey if byte == b'}' => Some(self.close(pos)),
                Expect::FirstKey | Expect::Key => self.member(map, chunk, pos, out)?,
                Expect::Colon if byte == b':' => Some((pos + 1, Expect::MemberValue)),
                Expect::Colon => return Err(self.error(pos, "expected ':' after object key")),
                Expect::MemberValue => {
                    self.value(map, chunk, pos, byte, Expect::AfterMember, out)?
                }
                Expect::AfterElement => match byte {
                    b',' => Some((pos + 1, Expect::Element)),
                    b']' => Some(self.close(pos)),
                    _ => return Err(self.error(pos, "expected ',' or ']' in array")),
                },
                Expect::FirstElement if byte == b']' => Some(self.close(pos)),
                Expect::FirstElement | Expect::Element => {
                    self.element(map, chunk, pos, byte, out)?
                }
                Expect::Document => {
                    self.value(map, chunk, pos, byte, Expect::AfterDocument, out)?
                }
                Expect::AfterDocument => {
                    return Err(self.error(pos, "unexpected data after the JSON value"))
                }
            };
            match next {
                Some((next_pos, next_expect)) => {
                    pos = next_pos;
                    expect = next_expect;
                }
                // The token is pending, and `self.expect` is already the state after it.
                None => return Ok(()),
            }
        }
        self.expect = expect;
        Ok(())
    }

    /// Ends the document: checks that nothing is missing and writes the last held value.
    pub fn finish(&mut self, map: &StoreMap, out: &mut impl Output) -> Result<(), MalformedJson> {
        let total = self.base;
        match self.pending {
            Pending::None => {}
            Pending::Key { scan, .. } => return Err(scan.end_of_input(total)),
            Pending::Value { start, slot, scan } => {
                if let Some(error) = scan.end_of_input(total) {
                    return Err(error);
                }
                if slot != Slot::Plain {
                    let value = Finished {
                        start,
                        end: total,
                        slot,
                        string: scan.string(),
                    };
                    self.write_value(map, &[], value, out);
                }
                self.pending = Pending::None;
                self.pending_value_done(total);
            }
            Pending::Literal { start, .. } => return Err(invalid_literal(start)),
        }

        let reason = match self.expect {
            Expect::AfterDocument => return Ok(()),
            Expect::Document | Expect::FirstElement | Expect::Element | Expect::MemberValue => {
                "unexpected end of input, expected a JSON value"
            }
            Expect::FirstKey | Expect::Key => "expected a string key",
            Expect::Colon => "expected ':' after object key",
            Expect::AfterMember => "expected ',' or '}' in object",
            Expect::AfterElement => "expected ',' or ']' in array",
        };
        Err(MalformedJson::at(total, reason))
    }

    /// Writes everything not yet written, unchanged: the held value and the rest of
    /// `chunk`, the chunk during whose scan an error was found (empty after `finish`).
    pub fn release(&mut self, chunk: &[u8], out: &mut impl Output) {
        if self.holds_value() {
            out.pass(&self.held);
        }
        self.held.clear();
        self.pending = Pending::None;
        let from = self.emitted.saturating_sub(self.base);
        out.pass(chunk.get(from..).unwrap_or_default());
        self.base += chunk.len();
        self.emitted = self.base;
    }

    #[cold]
    #[inline(never)]
    fn error(&self, pos: usize, reason: &'static str) -> MalformedJson {
        MalformedJson::at(self.base + pos, reason)
    }

    fn holds_value(&self) -> bool {
        match self.pending {
            Pending::Value { slot, .. } => slot != Slot::Plain,
            Pending::None | Pending::Key { .. } | Pending::Literal { .. } => false,
        }
    }

    /// Continues the token the previous chunk ended inside. Returns where scanning goes on,
    /// or `None` when this chunk ends inside the token too.
    fn resume(
        &mut self,
        map: &StoreMap,
        chunk: &[u8],
        out: &mut impl Output,
    ) -> Result<Option<usize>, MalformedJson> {
        let base = self.base;
        match self.pending {
            Pending::None => Ok(Some(0)),
            Pending::Key { start, mut scan } => {
                let result = scan.scan(chunk, 0, base)?;
                self.pending = Pending::Key { start, scan };
                let Some(end) = result else {
                    return Ok(None);
                };
                self.pending = Pending::None;
                self.key_done(chunk, start, end, scan.has_escape);
                Ok(Some(end))
            }
            Pending::Value {
                start,
                slot,
                mut scan,
            } => {
                let result = scan.scan(chunk, 0, base)?;
                self.pending = Pending::Value { start, slot, scan };
                let Some(end) = result else {
                    return Ok(None);
                };
                self.pending = Pending::None;
                let value = Finished {
                    start,
                    end: base + end,
                    slot,
                    string: scan.string(),
                };
                self.value_end(map, chunk, value, out);
                self.pending_value_done(base + end);
                Ok(Some(end))
            }
            Pending::Literal {
                start,
                word,
                matched,
            } => {
                let rest = word.get(matched..).unwrap_or_default();
                let available = rest.len().min(chunk.len());
                if chunk.get(..available) != rest.get(..available) {
                    return Err(invalid_literal(start));
                }
                if available < rest.len() {
                    self.pending = Pending::Literal {
                        start,
                        word,
                        matched: matched + available,
                    };
                    return Ok(None);
                }
                self.pending = Pending::None;
                self.pending_value_done(base + available);
                Ok(Some(available))
            }
        }
    }

    /// Writes the chunk's final bytes and keeps the bytes of a token that goes on.
    fn end_chunk(&mut self, chunk: &[u8], out: &mut impl Output) {
        let end = self.base + chunk.len();
        match self.pending {
            Pending::Value { start, slot, scan } if slot != Slot::Plain => {
                let from = start.saturating_sub(self.base);
                let tail = chunk.get(from..).unwrap_or_default();
                if end - start <= MAX_HELD_VALUE {
                    self.held.extend_from_slice(tail);
                } else {
                    // Too long to hold: it passes unchanged from here on.
                    self.skip_long(start, slot);
                    out.pass(&self.held);
                    out.pass(tail);
                    self.held.clear();
                    self.emitted = end;
                    self.pending = Pending::Value {
                        start,
                        slot: Slot::Plain,
                        scan,
                    };
                }
            }
            _ => {
                if let Pending::Key { start, .. } = self.pending {
                    if end - start <= MAX_HELD_KEY {
                        let from = start.saturating_sub(self.base);
                        self.held
                            .extend_from_slice(chunk.get(from..).unwrap_or_default());
                    } else {
                        self.held.clear();
                    }
                }
                let from = self.emitted.saturating_sub(self.base);
                out.pass(chunk.get(from..).unwrap_or_default());
                self.emitted = end;
            }
        }
        self.base = end;
    }

    /// Scans an object member from `chunk[pos]`, which may be white space before the key:
    /// the key, the colon and, when they are in this chunk, the value.
    #[inline(always)]
    fn member(
        &mut self,
        map: &StoreMap,
        chunk: &[u8],
        pos: usize,
        out: &mut impl Output,
    ) -> Result<Next, MalformedJson> {
        let pos = skip_whitespace(chunk, pos);
        let Some(&byte) = chunk.get(pos) else {
            return Ok(Some((pos, Expect::Key)));
        };
        let Some(key_end) = self.key(chunk, pos, byte)? else {
            self.expect = Expect::Colon;
            return Ok(None);
        };

        let pos = skip_whitespace(chunk, key_end);
        match chunk.get(pos) {
            Some(b':') => {}
            Some(_) => return Err(self.error(pos, "expected ':' after object key")),
            None => return Ok(Some((pos, Expect::Colon))),
        }
        let pos = skip_whitespace(chunk, pos + 1);
        let Some(&byte) = chunk.get(pos) else {
            return Ok(Some((pos, Expect::MemberValue)));
        };
        self.value(map, chunk, pos, byte, Expect::AfterMember, out)
    }

    /// Scans an array element that starts with `byte` at `chunk[pos]`.
    #[inline(always)]
    fn element(
        &mut self,
        map: &StoreMap,
        chunk: &[u8],
        pos: usize,
        byte: u8,
        out: &mut impl Output,
    ) -> Result<Next, MalformedJson> {
        if self.record_depth.is_some() && self.stack.len() == 1 {
            self.element_start = self.base + pos;
        }
        let next = self.value(map, chunk, pos, byte, Expect::AfterElement, out)?;
        // A container element ends at its closing bracket, in `close`.
        if let Some((end, Expect::AfterElement)) = next {
            self.element_done(self.base + end);
        }
        Ok(next)
    }

    /// Scans the value that starts with `byte` at `chunk[pos]`, in the slot its key set.
    /// `after` is the state once it ends.
    #[inline(always)]
    fn value(
        &mut self,
        map: &StoreMap,
        chunk: &[u8],
        pos: usize,
        byte: u8,
        after: Expect,
        out: &mut impl Output,
    ) -> Result<Next, MalformedJson> {
        let slot = std::mem::replace(&mut self.slot, Slot::Plain);
        let end = match byte {
            b'"' => self.string(map, chunk, pos, slot, out)?,
            b'-' | b'0'..=b'9' if slot == Slot::StoreId => {
                let scan = ValueScan::Number(NumberScan::start(byte));
                self.scalar(map, chunk, pos, slot, scan, out)?
            }
            // Only a store ID is read from a number; a URL or message must be a string.
            b'-' | b'0'..=b'9' => self.plain_number(chunk, pos, byte)?,
            b'{' => return self.open(Container::Object, pos).map(Some),
            b'[' => return self.open(Container::Array, pos).map(Some),
            b't' => self.literal(chunk, pos, b"true")?,
            b'f' => self.literal(chunk, pos, b"false")?,
            b'n' => self.literal(chunk, pos, b"null")?,
            _ => return Err(self.error(pos, "expected a JSON value")),
        };
        match end {
            Some(end) => Ok(Some((end, after))),
            None => {
                self.expect = after;
                Ok(None)
            }
        }
    }

    /// Scans the string that starts at `chunk[pos]`. Returns the index after it, or `None`
    /// when it is pending.
    #[inline(always)]
    fn string(
        &mut self,
        map: &StoreMap,
        chunk: &[u8],
        pos: usize,
        slot: Slot,
        out: &mut impl Output,
    ) -> Result<Option<usize>, MalformedJson> {
        if slot == Slot::Plain {
            // Fast path: most strings are plain ASCII and end in the same chunk.
            if let Some(end) = string::plain_ascii_end(chunk, pos + 1) {
                return Ok(Some(end));
            }
        }
        let scan = ValueScan::String(StringScan::default());
        self.scalar(map, chunk, pos, slot, scan, out)
    }

    /// Scans a number that is not a store ID. Returns the index after it, or `None` when
    /// it is pending.
    #[inline(always)]
    fn plain_number(
        &mut self,
        chunk: &[u8],
        pos: usize,
        byte: u8,
    ) -> Result<Option<usize>, MalformedJson> {
        if let Some(end) = number::plain_number_end(chunk, pos) {
            return Ok(Some(end));
        }
        let mut scan = NumberScan::start(byte);
        let end = scan.scan(chunk, pos + 1, self.base)?;
        if end.is_none() {
            self.pending = Pending::Value {
                start: self.base + pos,
                slot: Slot::Plain,
                scan: ValueScan::Number(scan),
            };
        }
        Ok(end)
    }

    /// Scans the string or number that starts at `chunk[pos]`. Returns the index after it,
    /// or `None` when it is pending.
    ///
    /// Kept out of the main loop, because values of interest are rare and plain values take
    /// the fast paths in the callers.
    #[inline(never)]
    fn scalar(
        &mut self,
        map: &StoreMap,
        chunk: &[u8],
        pos: usize,
        slot: Slot,
        mut scan: ValueScan,
        out: &mut impl Output,
    ) -> Result<Option<usize>, MalformedJson> {
        if slot != Slot::Plain {
            self.write_up_to(chunk, pos, out);
        }
        let start = self.base + pos;
        let Some(end) = scan.scan(chunk, pos + 1, self.base)? else {
            self.pending = Pending::Value { start, slot, scan };
            return Ok(None);
        };
        let value = Finished {
            start,
            end: self.base + end,
            slot,
            string: scan.string(),
        };
        self.value_end(map, chunk, value, out);
        Ok(Some(end))
    }

    /// Scans `true`, `false` or `null`. Returns the index after it, or `None` when it is
    /// pending.
    #[inline(always)]
    fn literal(
        &mut self,
        chunk: &[u8],
        pos: usize,
        word: &'static [u8],
    ) -> Result<Option<usize>, MalformedJson> {
        let available = word.len().min(chunk.len() - pos);
        let seen = chunk.get(pos..pos + available).unwrap_or_default();
        // A byte loop: the words are too short to be worth a call to `memcmp`.
        if !seen
            .iter()
            .zip(word)
            .all(|(byte, expected)| byte == expected)
        {
            return Err(invalid_literal(self.base + pos));
        }
        if available < word.len() {
            self.pending = Pending::Literal {
                start: self.base + pos,
                word,
                matched: available,
            };
            return Ok(None);
        }
        Ok(Some(pos + available))
    }

    /// Opens an array or object at its bracket, `chunk[pos]`. Always inlined, because as a
    /// call it returned its result through memory for every container.
    #[inline(always)]
    fn open(&mut self, container: Container, pos: usize) -> Result<(usize, Expect), MalformedJson> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.error(pos, "nesting deeper than 512 arrays and objects"));
        }
        self.stack.push(container);
        let expect = match container {
            Container::Array => Expect::FirstElement,
            Container::Object => Expect::FirstKey,
        };
        Ok((pos + 1, expect))
    }

    /// Closes the innermost container at its bracket, `chunk[pos]`. Always inlined, like
    /// [`Self::open`].
    #[inline(always)]
    fn close(&mut self, pos: usize) -> (usize, Expect) {
        self.stack.pop();
        let expect = match self.stack.last() {
            Some(Container::Object) => Expect::AfterMember,
            Some(Container::Array) => {
                self.element_done(self.base + pos + 1);
                Expect::AfterElement
            }
            None => Expect::AfterDocument,
        };
        (pos + 1, expect)
    }

    /// Records the span of an element of the top-level array that ended at absolute offset
    /// `end`, when spans are recorded. The innermost container must be an array.
    #[inline]
    fn element_done(&mut self, end: usize) {
        if self.record_depth.is_some() && self.stack.len() == 1 {
            self.elements.push((self.element_start, end));
        }
    }

    /// Records the span of a pending value that ended at absolute offset `end`, when it is an
    /// element of the top-level array and spans are recorded.
    fn pending_value_done(&mut self, end: usize) {
        if self.expect == Expect::AfterElement {
            self.element_done(end);
        }
    }

    /// Scans the key that starts with `byte` at `chunk[pos]` and sets the slot of its value.
    /// Returns the index after the key, or `None` when the key is pending.
    #[inline(always)]
    fn key(&mut self, chunk: &[u8], pos: usize, byte: u8) -> Result<Option<usize>, MalformedJson> {
        if byte != b'"' {
            return Err(self.error(pos, "expected a string key"));
        }
        // Fast path: a plain key that ends in this chunk is its own name.
        if let Some(name) = string::plain_ascii_content(chunk, pos + 1) {
            self.slot = self.classify_plain_key(name, self.stack.len());
            return Ok(Some(pos + name.len() + 2));
        }
        self.escaped_key(chunk, pos)
    }

    /// Scans a key that has escapes or non-ASCII bytes, or goes on in the next chunk.
    #[inline(never)]
    fn escaped_key(&mut self, chunk: &[u8], pos: usize) -> Result<Option<usize>, MalformedJson> {
        let start = self.base + pos;
        let mut scan = StringScan::default();
        let Some(end) = scan.scan(chunk, pos + 1, self.base)? else {
            self.pending = Pending::Key { start, scan };
            return Ok(None);
        };
        self.key_done(chunk, start, end, scan.has_escape);
        Ok(Some(end))
    }

    /// Sets the slot from the key that started at absolute offset `start` and ends at
    /// `chunk[end]`.
    #[inline]
    fn key_done(&mut self, chunk: &[u8], start: usize, end: usize, has_escape: bool) {
        let length = self.base + end - start;
        let head = chunk.get(..end).unwrap_or_default();
        self.slot = if length > MAX_HELD_KEY {
            Slot::Plain
        } else if start >= self.base {
            let token = chunk.get(start - self.base..end).unwrap_or_default();
            self.classify_key(token, has_escape)
        } else {
            let mut held = std::mem::take(&mut self.held);
            held.extend_from_slice(head);
            let slot = self.classify_key(&held, has_escape);
            held.clear();
            self.held = held;
            slot
        };
    }

    /// Decides what the value after a key is, from the key token with its quotes.
    #[inline]
    fn classify_key(&self, token: &[u8], has_escape: bool) -> Slot {
        let key = StringToken {
            start: 0,
            end: token.len(),
            has_escape,
        };
        let depth = self.stack.len();
        // Fast path: without escapes the raw bytes are the name, so no decoding is needed.
        if !key.has_escape {
            return self.classify_plain_key(key.content(token), depth);
        }

        if is_store_id_name(key.decoded(token)) {
            Slot::StoreId
        } else if self.options.urls
            && (name_is(key.decoded(token), b"resource_url")
                || name_is(key.decoded(token), b"href"))
        {
            Slot::Url
        } else if self.options.refresh_message
            && depth == 1
            && name_is(key.decoded(token), b"message")
        {
            Slot::Message
        } else {
            Slot::Plain
        }
    }

    /// Classifies a key without escapes by its raw bytes. Most keys are dismissed by length
    /// and first letter alone. Must agree with the decoding path in [`Self::classify_key`].
    #[inline(always)]
    fn classify_plain_key(&self, name: &[u8], depth: usize) -> Slot {
        // The length comes first because it is known without reading the name.
        let starts_with = |letter: u8| name.first().map(u8::to_ascii_lowercase) == Some(letter);
        match name.len() {
            7 if starts_with(b's') && name.eq_ignore_ascii_case(b"storeid") => Slot::StoreId,
            8 if starts_with(b's') && name.eq_ignore_ascii_case(b"store_id") => Slot::StoreId,
            12 if self.options.urls
                && starts_with(b'r')
                && name.eq_ignore_ascii_case(b"resource_url") =>
            {
                Slot::Url
            }
            4 if self.options.urls && starts_with(b'h') && name.eq_ignore_ascii_case(b"href") => {
                Slot::Url
            }
            7 if self.options.refresh_message
                && depth == 1
                && starts_with(b'm')
                && name.eq_ignore_ascii_case(b"message") =>
            {
                Slot::Message
            }
            _ => Slot::Plain,
        }
    }
}

/// Returns the index of the first byte at or after `pos` that is not JSON white space, or
/// the chunk's length.
#[inline(always)]
fn skip_whitespace(chunk: &[u8], mut pos: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = chunk.get(pos) {
        pos += 1;
    }
    pos
}

#[cold]
fn invalid_literal(start: usize) -> MalformedJson {
    MalformedJson::at(start, "invalid literal (expected true, false or null)")
}
