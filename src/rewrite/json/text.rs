//! Store IDs inside JSON string text: URL query strings and the refresh message.
//!
//! Both functions take the raw bytes between the quotes and the offset of the first one, and
//! push edits in input coordinates.

use memchr::{memchr, memchr2};

use crate::rewrite::edit::Edit;
use crate::rewrite::ids::parse_digits;
use crate::rewrite::query::query_edits;
use crate::stores::{Direction, StoreMap};

/// Pushes edits for the store ID parameters in the query of `url`.
pub(super) fn url_edits(
    url: &[u8],
    offset: usize,
    map: &StoreMap,
    direction: Direction,
    edits: &mut Vec<Edit>,
) {
    let Some(question) = memchr(b'?', url) else {
        return;
    };
    let query_start = question + 1;
    let rest = url.get(query_start..).unwrap_or_default();
    let query_len = memchr(b'#', rest).unwrap_or(rest.len());
    let query = rest.get(..query_len).unwrap_or_default();
    query_edits(query, offset + query_start, map, direction, edits);
}

/// Pushes edits for each `Store ID <digits>` in `message`.
///
/// "store id" matches in any ASCII case, must not follow a letter or digit, and is followed by
/// one or more spaces and a run of digits that ends the number.
pub(super) fn message_edits(
    message: &[u8],
    offset: usize,
    map: &StoreMap,
    direction: Direction,
    edits: &mut Vec<Edit>,
) {
    const PHRASE: &[u8] = b"store id";
    let mut from = 0;

    while let Some(found) = memchr2(b's', b'S', message.get(from..).unwrap_or_default()) {
        let start = from + found;
        from = start + 1;

        let phrase_end = start + PHRASE.len();
        let is_phrase = message
            .get(start..phrase_end)
            .is_some_and(|candidate| candidate.eq_ignore_ascii_case(PHRASE));
        let after_word = start == 0
            || !message
                .get(start - 1)
                .is_some_and(u8::is_ascii_alphanumeric);
        if !is_phrase || !after_word {
            continue;
        }

        let digits_start = phrase_end + count_while(message, phrase_end, |byte| byte == b' ');
        if digits_start == phrase_end {
            continue;
        }
        let digits_end = digits_start + count_while(message, digits_start, |b| b.is_ascii_digit());

        // A backslash here may start an escaped digit such as `\u0035`, so the number
        // could go on after decoding: leave such text alone.
        if matches!(message.get(digits_end), Some(b'\\')) {
            continue;
        }
        let digits = message.get(digits_start..digits_end).unwrap_or_default();
        let new_id = parse_digits(digits).and_then(|id| map.translate(direction, id));
        if let Some(new_id) = new_id {
            edits.push(Edit::id(
                offset + digits_start,
                offset + digits_end,
                new_id,
                false,
            ));
        }
        from = digits_end.max(from);
    }
}

fn count_while(bytes: &[u8], from: usize, keep: impl Fn(u8) -> bool) -> usize {
    bytes
        .get(from..)
        .unwrap_or_default()
        .iter()
        .take_while(|&&byte| keep(byte))
        .count()
}
