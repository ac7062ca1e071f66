//! Values of interest (store IDs, URLs and the refresh message) once their last byte has
//! been scanned: their edits, and their bytes written with the replacements.

use super::{Finished, RecordedId, Scanner, Slot, MAX_HELD_VALUE};
use crate::rewrite::edit::Edit;
use crate::rewrite::ids::parse_id_text;
use crate::rewrite::json::number;
use crate::rewrite::json::output::Output;
use crate::rewrite::json::string::StringToken;
use crate::rewrite::json::text;
use crate::stores::StoreMap;

impl Scanner {
    /// Writes the bytes before `chunk[pos]`, where a value of interest starts.
    pub(super) fn write_up_to(&mut self, chunk: &[u8], pos: usize, out: &mut impl Output) {
        let from = self.emitted.saturating_sub(self.base);
        out.pass(chunk.get(from..pos).unwrap_or_default());
        self.emitted = self.base + pos;
    }

    /// Finishes a scalar value that ends at `chunk[value.end - base]`, writing it when it is
    /// a value of interest.
    #[inline]
    pub(super) fn value_end(
        &mut self,
        map: &StoreMap,
        chunk: &[u8],
        value: Finished,
        out: &mut impl Output,
    ) {
        if value.slot != Slot::Plain {
            let end = value.end - self.base;
            self.write_value(map, chunk.get(..end).unwrap_or_default(), value, out);
        }
    }

    /// Writes a value of interest with its edits. `head` is the part of it in the current
    /// chunk, from the chunk's start, when the value began in an earlier chunk.
    pub(super) fn write_value(
        &mut self,
        map: &StoreMap,
        head: &[u8],
        value: Finished,
        out: &mut impl Output,
    ) {
        let mut held = std::mem::take(&mut self.held);
        let bytes: &[u8] = if value.start >= self.base {
            let from = value.start - self.base;
            head.get(from..).unwrap_or_default()
        } else {
            held.extend_from_slice(head);
            &held
        };

        if value.end - value.start > MAX_HELD_VALUE {
            self.skip_long(value.start, value.slot);
            out.pass(bytes);
        } else {
            self.value_edits(map, bytes, value);
            let mut copied = 0;
            for edit in self.edits.drain(..) {
                let edit_start = edit.start - value.start;
                out.pass(bytes.get(copied..edit_start).unwrap_or_default());
                out.replace(edit);
                copied = edit.end - value.start;
                self.count += 1;
            }
            out.pass(bytes.get(copied..).unwrap_or_default());
        }

        held.clear();
        self.held = held;
        self.emitted = value.end;
    }

    /// Collects the edits of a value of interest, `bytes`, into `self.edits`.
    fn value_edits(&mut self, map: &StoreMap, bytes: &[u8], value: Finished) {
        let Some(has_escape) = value.string else {
            let id = number::scan_number(bytes, 0)
                .ok()
                .filter(|token| token.end == bytes.len())
                .and_then(|token| token.integral_value(bytes));
            self.store_id(map, value, id, false);
            return;
        };
        let token = StringToken {
            start: 0,
            end: bytes.len(),
            has_escape,
        };
        match value.slot {
            Slot::Plain => {}
            Slot::StoreId => {
                let id = parse_id_text(token.decoded(bytes));
                self.store_id(map, value, id, true);
            }
            Slot::Url if has_escape => {
                // NOTE: a URL with JSON escapes (such as `\/` from PHP encoders) is left
                // unchanged and counted, because re-escaping it exactly is not worth the risk.
                self.skipped_urls += 1;
            }
            Slot::Url => text::url_edits(
                token.content(bytes),
                value.start + 1,
                map,
                self.direction,
                &mut self.edits,
            ),
            Slot::Message => text::message_edits(
                token.content(bytes),
                value.start + 1,
                map,
                self.direction,
                &mut self.edits,
            ),
        }
    }

    /// Records a store ID value and replaces it when it is mapped.
    fn store_id(&mut self, map: &StoreMap, value: Finished, id: Option<u64>, quoted: bool) {
        if self.record_depth == Some(self.stack.len()) {
            self.recorded.push(RecordedId {
                offset: value.start,
                id,
            });
        }
        if let Some(new_id) = id.and_then(|id| map.translate(self.direction, id)) {
            self.edits
                .push(Edit::id(value.start, value.end, new_id, quoted));
        }
    }

    /// Counts a value of interest too long to hold, which passes unchanged.
    pub(super) fn skip_long(&mut self, start: usize, slot: Slot) {
        self.skipped_long += 1;
        if slot == Slot::StoreId && self.record_depth == Some(self.stack.len()) {
            self.recorded.push(RecordedId {
                offset: start,
                id: None,
            });
        }
    }
}
