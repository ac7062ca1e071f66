//! Destinations of the scanner's output: a list of edits for the one-shot rewrite, or bytes
//! for the streaming one.

use crate::rewrite::edit::Edit;

/// Receives the document in order: unchanged runs and replacements.
pub(crate) trait Output {
    /// Takes input bytes that stay as they are.
    fn pass(&mut self, bytes: &[u8]);
    /// Takes a replacement for the input bytes `edit.start..edit.end`, in place of them.
    fn replace(&mut self, edit: Edit);
}

/// Keeps only the edits, so that an unchanged document costs no copy and a changed one is
/// copied once, by [`apply_edits`](crate::rewrite::edit::apply_edits), at the end.
impl Output for Vec<Edit> {
    fn pass(&mut self, _bytes: &[u8]) {}

    fn replace(&mut self, edit: Edit) {
        self.push(edit);
    }
}

/// Writes the rewritten bytes.
impl Output for Vec<u8> {
    fn pass(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    fn replace(&mut self, edit: Edit) {
        self.extend_from_slice(edit.text());
    }
}
