//! Byte-range replacements and the single copy that applies them.
//!
//! Every rewriter first collects edits and copies the input once at the end, so that an
//! unchanged input costs no allocation and a changed one costs exactly one.

/// Maximum replacement length: a `u64` has at most 20 decimal digits, plus two quotes.
const MAX_TEXT: usize = 22;

/// Replaces `input[start..end]` with a short text kept inline, so that an edit never allocates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Edit {
    pub start: usize,
    pub end: usize,
    text: [u8; MAX_TEXT],
    len: u8,
}

impl Edit {
    /// Builds an edit that writes the decimal digits of `id`, inside quotes when `quoted`.
    pub fn id(start: usize, end: usize, id: u64, quoted: bool) -> Self {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut rest = id;
        loop {
            at -= 1;
            digits[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }

        let mut text = [0u8; MAX_TEXT];
        let mut len = 0;
        if quoted {
            text[len] = b'"';
            len += 1;
        }
        for &digit in &digits[at..] {
            text[len] = digit;
            len += 1;
        }
        if quoted {
            text[len] = b'"';
            len += 1;
        }
        Self {
            start,
            end,
            text,
            len: len as u8,
        }
    }

    /// Builds an edit that removes `input[start..end]`.
    pub fn delete(start: usize, end: usize) -> Self {
        Self {
            start,
            end,
            text: [0; MAX_TEXT],
            len: 0,
        }
    }

    /// Returns the replacement text.
    pub fn text(&self) -> &[u8] {
        self.text.get(..usize::from(self.len)).unwrap_or_default()
    }
}

/// Copies `input` with `edits` applied.
///
/// The edits must be sorted by `start` and must not overlap. Every rewriter produces them in
/// that order because it scans the input once from left to right.
pub(crate) fn apply_edits(input: &[u8], edits: &[Edit]) -> Vec<u8> {
    let added: usize = edits.iter().map(|edit| edit.text().len()).sum();
    let mut output = Vec::with_capacity(input.len() + added);
    let mut copied = 0;
    for edit in edits {
        debug_assert!(copied <= edit.start && edit.start <= edit.end);
        output.extend_from_slice(input.get(copied..edit.start).unwrap_or_default());
        output.extend_from_slice(edit.text());
        copied = edit.end;
    }
    output.extend_from_slice(input.get(copied..).unwrap_or_default());
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_text_plain_and_quoted() {
        assert_eq!(Edit::id(0, 0, 7654321, false).text(), b"7654321");
        assert_eq!(Edit::id(0, 0, 7654321, true).text(), b"\"7654321\"");
        assert_eq!(
            Edit::id(0, 0, u64::MAX, true).text(),
            b"\"18446744073709551615\""
        );
        assert_eq!(Edit::id(0, 0, 0, false).text(), b"0");
    }

    #[test]
    fn apply_replaces_and_deletes() {
        let input = b"[12345, 9, 12345]";
        let edits = [
            Edit::id(1, 6, 7654321, false),
            Edit::delete(6, 9),
            Edit::id(11, 16, 1, true),
        ];
        assert_eq!(apply_edits(input, &edits), b"[7654321, \"1\"]");
    }

    #[test]
    fn apply_without_edits_copies() {
        assert_eq!(apply_edits(b"{}", &[]), b"{}");
    }
}
