//! JSON string tokens: finding the closing quote, validating escapes, control characters and
//! UTF-8 across chunk boundaries, and decoding the few strings (keys, IDs) whose decoded text
//! matters.

use memchr::memchr2;

use super::MalformedJson;

/// A complete string token: `start` is the opening quote, `end` is one past the closing quote.
#[derive(Clone, Copy, Debug)]
pub(super) struct StringToken {
    pub start: usize,
    pub end: usize,
    /// Whether the raw text contains a backslash escape, so it differs from the decoded text.
    pub has_escape: bool,
}

impl StringToken {
    /// Returns the raw bytes between the quotes.
    pub fn content<'a>(&self, input: &'a [u8]) -> &'a [u8] {
        input
            .get(self.start + 1..self.end.saturating_sub(1))
            .unwrap_or_default()
    }

    /// Returns the decoded characters, with every non-ASCII character reduced to one byte
    /// of 0x80 or more. Names and IDs are ASCII, so nothing more is needed to compare them.
    pub fn decoded<'a>(&self, input: &'a [u8]) -> DecodedAscii<'a> {
        DecodedAscii {
            raw: self.content(input),
            pos: 0,
        }
    }
}

/// The escape being read when a chunk ended inside it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Escape {
    #[default]
    None,
    /// The backslash at this absolute offset was the last byte seen.
    Backslash(usize),
    /// A `\u` escape whose backslash is at `at`, with `digits` hex digits seen so far.
    Unicode { at: usize, digits: u8 },
}

/// Scanning state of a string whose closing quote has not been found yet.
///
/// A string is read as runs of bytes between quotes and backslashes. In a run, a control
/// character is reported in preference to invalid UTF-8 anywhere in the same run, so an
/// invalid UTF-8 offset waits in `bad_utf8` until the run ends. This gives the same error
/// for every split of the input into chunks.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct StringScan {
    pub has_escape: bool,
    escape: Escape,
    /// Absolute offset of the first invalid UTF-8 sequence in the current run.
    bad_utf8: Option<usize>,
    /// An incomplete UTF-8 sequence at the end of the previous chunk.
    partial: [u8; 4],
    partial_len: u8,
    /// Absolute offset of `partial[0]`.
    partial_at: usize,
}

impl StringScan {
    /// Scans `chunk` from `pos`, which is inside a string after its opening quote. `base`
    /// is the absolute offset of `chunk[0]`, used in errors.
    ///
    /// Returns the index one past the closing quote, or `None` when the chunk ends first
    /// and the state is kept for the next chunk.
    pub fn scan(
        &mut self,
        chunk: &[u8],
        mut pos: usize,
        base: usize,
    ) -> Result<Option<usize>, MalformedJson> {
        if self.escape != Escape::None {
            match self.continue_escape(chunk, pos)? {
                Some(next) => pos = next,
                None => return Ok(None),
            }
        }
        if self.partial_len > 0 {
            match self.continue_partial(chunk, pos) {
                Some(next) => pos = next,
                None => return Ok(None),
            }
        }

        loop {
            pos = skip_plain_ascii(chunk, pos);
            let Some(&byte) = chunk.get(pos) else {
                return Ok(None);
            };
            match byte {
                b'"' => {
                    self.end_run()?;
                    return Ok(Some(pos + 1));
                }
                b'\\' => {
                    self.end_run()?;
                    self.has_escape = true;
                    self.escape = Escape::Backslash(base + pos);
                    match self.continue_escape(chunk, pos + 1)? {
                        Some(next) => pos = next,
                        None => return Ok(None),
                    }
                }
                byte if byte < 0x20 => return Err(control_character(base + pos)),
                _ => pos = self.scan_run(chunk, pos, base)?,
            }
        }
    }

    /// Returns the error for an input that ends inside this string, `total` bytes long.
    pub fn end_of_input(&self, total: usize) -> MalformedJson {
        match self.escape {
            Escape::Unicode { at, .. } => MalformedJson::at(at, "invalid \\u escape in string"),
            Escape::Backslash(_) => MalformedJson::at(total, "unterminated string"),
            Escape::None => {
                let partial = (self.partial_len > 0).then_some(self.partial_at);
                match self.bad_utf8.or(partial) {
                    Some(at) => MalformedJson::at(at, "invalid UTF-8 in string"),
                    None => MalformedJson::at(total, "unterminated string"),
                }
            }
        }
    }

    /// Reports the invalid UTF-8 of the run that just ended at a quote or backslash.
    fn end_run(&mut self) -> Result<(), MalformedJson> {
        if self.partial_len > 0 {
            self.bad_utf8.get_or_insert(self.partial_at);
            self.partial_len = 0;
        }
        match self.bad_utf8 {
            Some(at) => Err(MalformedJson::at(at, "invalid UTF-8 in string")),
            None => Ok(()),
        }
    }

    /// Reads the rest of the escape whose backslash came before `pos`. Returns the index
    /// after the escape, or `None` when the chunk ends first.
    fn continue_escape(
        &mut self,
        chunk: &[u8],
        mut pos: usize,
    ) -> Result<Option<usize>, MalformedJson> {
        if let Escape::Backslash(at) = self.escape {
            match chunk.get(pos) {
                None => return Ok(None),
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                    self.escape = Escape::None;
                    return Ok(Some(pos + 1));
                }
                Some(b'u') => {
                    self.escape = Escape::Unicode { at, digits: 0 };
                    pos += 1;
                }
                Some(_) => return Err(MalformedJson::at(at, "invalid escape in string")),
            }
        }
        if let Escape::Unicode { at, mut digits } = self.escape {
            while digits < 4 {
                match chunk.get(pos) {
                    None => {
                        self.escape = Escape::Unicode { at, digits };
                        return Ok(None);
                    }
                    Some(byte) if byte.is_ascii_hexdigit() => {
                        digits += 1;
                        pos += 1;
                    }
                    Some(_) => return Err(MalformedJson::at(at, "invalid \\u escape in string")),
                }
            }
            self.escape = Escape::None;
        }
        Ok(Some(pos))
    }

    /// Completes the UTF-8 sequence left incomplete by the previous chunk. Returns the index
    /// after what it consumed, or `None` when this chunk ends first too.
    fn continue_partial(&mut self, chunk: &[u8], mut pos: usize) -> Option<usize> {
        while let Some(&byte) = chunk.get(pos) {
            let len = usize::from(self.partial_len);
            let Some(slot) = self.partial.get_mut(len) else {
                break;
            };
            *slot = byte;
            match std::str::from_utf8(self.partial.get(..=len).unwrap_or_default()) {
                Ok(_) => {
                    self.partial_len = 0;
                    return Some(pos + 1);
                }
                Err(error) if error.error_len().is_none() => {
                    self.partial_len += 1;
                    pos += 1;
                }
                Err(_) => break,
            }
        }
        if pos >= chunk.len() {
            return None;
        }
        // `chunk[pos]` does not continue the sequence. It is scanned again as part of the
        // run, where it may be a quote or a control character.
        self.bad_utf8.get_or_insert(self.partial_at);
        self.partial_len = 0;
        Some(pos)
    }

    /// Checks the run that starts at the non-ASCII byte `chunk[pos]` and goes to the next
    /// quote or backslash or to the end of the chunk. Returns the index where it ends.
    fn scan_run(&mut self, chunk: &[u8], pos: usize, base: usize) -> Result<usize, MalformedJson> {
        let rest = chunk.get(pos..).unwrap_or_default();
        let run_len = memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
        let run = rest.get(..run_len).unwrap_or_default();

        // Two reductions without early exit, because the compiler vectorizes them and strings
        // are almost always clean.
        let mut lowest = u8::MAX;
        let mut any_bits = 0u8;
        for &byte in run {
            lowest = lowest.min(byte);
            any_bits |= byte;
        }
        if lowest < 0x20 {
            let at = run.iter().position(|&byte| byte < 0x20).unwrap_or(0);
            return Err(control_character(base + pos + at));
        }

        if self.bad_utf8.is_none() && any_bits >= 0x80 {
            if let Err(error) = std::str::from_utf8(run) {
                let valid = error.valid_up_to();
                let tail = run.get(valid..).unwrap_or_default();
                let at_chunk_end = run_len == rest.len();
                if error.error_len().is_none() && at_chunk_end {
                    // The sequence may go on in the next chunk. It is at most three bytes.
                    for (slot, &byte) in self.partial.iter_mut().zip(tail) {
                        *slot = byte;
                    }
                    self.partial_len = tail.len().min(self.partial.len()) as u8;
                    self.partial_at = base + pos + valid;
                } else {
                    self.bad_utf8 = Some(base + pos + valid);
                }
            }
        }
        Ok(pos + run_len)
    }
}

fn control_character(at: usize) -> MalformedJson {
    MalformedJson::at(at, "control character in string (must be escaped)")
}

/// Returns the index one past the closing quote of a string whose content starts at `pos`,
/// when that content is plain ASCII without escapes and ends in `chunk`: the common case,
/// which needs no [`StringScan`] state.
#[inline(always)]
pub(super) fn plain_ascii_end(chunk: &[u8], pos: usize) -> Option<usize> {
    plain_ascii_content(chunk, pos).map(|content| pos + content.len() + 1)
}

/// Returns the bytes between the quotes of a string whose content starts at `pos`, when they
/// are plain ASCII without escapes and the closing quote is in `chunk`.
///
/// Always inlined into the scanner's loop, because as a call it cost about as much as
/// scanning a typical key.
#[inline(always)]
pub(super) fn plain_ascii_content(chunk: &[u8], pos: usize) -> Option<&[u8]> {
    let rest = chunk.get(pos..)?;
    let (content, after) = rest.split_at_checked(skip_plain_ascii(rest, 0))?;
    (after.first() == Some(&b'"')).then_some(content)
}

/// Returns the offset of the first quote, backslash, control character or non-ASCII byte at
/// or after `pos`, or the input length.
#[inline(always)]
fn skip_plain_ascii(input: &[u8], pos: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Sets the high bit of each zero byte. Borrows can also mark bytes above a zero byte,
    // but never below one, so the lowest marked byte is always a real match.
    let zero_bytes = |word: u64| word.wrapping_sub(ONES) & !word & HIGH;

    let start = input.get(pos..).unwrap_or_default();
    let mut rest = start;
    while let Some((bytes, tail)) = rest.split_first_chunk::<8>() {
        let word = u64::from_le_bytes(*bytes);
        let quotes = zero_bytes(word ^ (ONES * u64::from(b'"')));
        let backslashes = zero_bytes(word ^ (ONES * u64::from(b'\\')));
        let controls = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
        let special = quotes | backslashes | controls | (word & HIGH);
        if special != 0 {
            let scanned = start.len() - rest.len();
            return pos + scanned + (special.trailing_zeros() / 8) as usize;
        }
        rest = tail;
    }
    let plain_tail = rest
        .iter()
        .take_while(|&&byte| byte != b'"' && byte != b'\\' && (0x20..0x80).contains(&byte))
        .count();
    pos + start.len() - rest.len() + plain_tail
}

/// Iterator over the decoded characters of an already validated string body.
pub(super) struct DecodedAscii<'a> {
    raw: &'a [u8],
    pos: usize,
}

impl Iterator for DecodedAscii<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let byte = *self.raw.get(self.pos)?;
        if byte != b'\\' {
            self.pos += 1;
            return Some(byte);
        }

        let kind = *self.raw.get(self.pos + 1)?;
        self.pos += 2;
        let decoded = match kind {
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let hex = self.raw.get(self.pos..self.pos + 4)?;
                self.pos += 4;
                let code = hex
                    .iter()
                    .try_fold(0u32, |acc, &digit| Some(acc * 16 + hex_value(digit)?))?;
                // A surrogate pair decodes to two bytes here, which is fine: both are
                // non-ASCII, so the text cannot equal an ASCII name or digits.
                u8::try_from(code).ok().filter(u8::is_ascii).unwrap_or(0x80)
            }
            other => other,
        };
        Some(decoded)
    }
}

fn hex_value(digit: u8) -> Option<u32> {
    char::from(digit).to_digit(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scans the string at the start of `json` in one piece.
    fn scan_string(json: &[u8]) -> Result<StringToken, MalformedJson> {
        let mut scan = StringScan::default();
        match scan.scan(json, 1, 0)? {
            Some(end) => Ok(StringToken {
                start: 0,
                end,
                has_escape: scan.has_escape,
            }),
            None => Err(scan.end_of_input(json.len())),
        }
    }

    /// Scans the string at the start of `json` fed in two chunks split at `split`.
    fn scan_split(json: &[u8], split: usize) -> Result<usize, MalformedJson> {
        let (first, second) = json.split_at(split);
        let mut scan = StringScan::default();
        if let Some(end) = scan.scan(first, 1.min(first.len()), 0)? {
            return Ok(end);
        }
        let skip = 1usize.saturating_sub(first.len());
        match scan.scan(second, skip, split)? {
            Some(end) => Ok(split + end),
            None => Err(scan.end_of_input(json.len())),
        }
    }

    fn decode(json: &[u8]) -> Vec<u8> {
        let token = scan_string(json).unwrap();
        token.decoded(json).collect()
    }

    #[test]
    fn scan_finds_end_after_escapes() {
        let json = br#""a\"b\\" tail"#;
        let token = scan_string(json).unwrap();
        assert_eq!(token.end, 8);
        assert!(token.has_escape);
    }

    #[test]
    fn decode_escapes() {
        assert_eq!(decode(br#""store\u0049d""#), b"storeId");
        assert_eq!(decode(br#""\t1\/2\"""#), b"\t1/2\"");
        assert_eq!(decode("\"\\u00e9é\"".as_bytes()), b"\x80\xc3\xa9");
    }

    #[test]
    fn scan_rejects_bad_strings() {
        let cases: [(&[u8], usize); 9] = [
            (b"\"abc", 4),
            (b"\"a\\x\"", 2),
            (b"\"a\\u12G4\"", 2),
            (b"\"a\\u12\"", 2),
            (b"\"a\\u12", 2),
            (b"\"a\x01\"", 2),
            (b"\"a\xff\"", 2),
            (b"\"a\xc3", 2),
            (b"\"a\xff\x01\"", 3),
        ];
        for (json, offset) in cases {
            let error = scan_string(json).unwrap_err();
            assert_eq!(error.offset, offset, "{json:?}: {error}");
        }
    }

    #[test]
    fn every_split_gives_same_result() {
        let cases: [&[u8]; 12] = [
            b"\"plain ascii text\" tail",
            "\"caf\u{e9} \u{1f600} end\"".as_bytes(),
            br#""a\"b\\c\u00e9d\/" x"#,
            b"\"a\\u12G4\"",
            b"\"a\\u12",
            b"\"a\\",
            b"\"ab\xc3\"",
            b"\"ab\xe2\x82\"",
            b"\"ab\xff cd \x01\"",
            b"\"ab\xe2\x82\x01\"",
            b"\"ab\xf0\x9f\x98",
            b"\"\xc3\xa9\xc3\xa9\xc3\xa9\\n\xff\"",
        ];
        for json in cases {
            let whole = scan_string(json).map(|token| token.end);
            for split in 0..=json.len() {
                assert_eq!(scan_split(json, split), whole, "{json:?} split at {split}");
            }
        }
    }

    #[test]
    fn scan_finds_special_byte_at_every_word_position() {
        for prefix in 0..20 {
            let padding = "a".repeat(prefix);

            let quoted = format!("\"{padding}\"{padding}");
            assert_eq!(scan_string(quoted.as_bytes()).unwrap().end, prefix + 2);

            let escaped = format!("\"{padding}\\n{padding}\"");
            let token = scan_string(escaped.as_bytes()).unwrap();
            assert_eq!(token.end, escaped.len());
            assert!(token.has_escape);

            let control = format!("\"{padding}\u{1f}{padding}\"");
            assert_eq!(
                scan_string(control.as_bytes()).unwrap_err().offset,
                prefix + 1
            );

            let unicode = format!("\"{padding}é{padding}\"");
            assert_eq!(scan_string(unicode.as_bytes()).unwrap().end, unicode.len());

            let mut invalid = format!("\"{padding}é{padding}\"").into_bytes();
            invalid[prefix + 2] = b'a';
            assert_eq!(scan_string(&invalid).unwrap_err().offset, prefix + 1);
        }
    }

    #[test]
    fn plain_content_at_every_length() {
        for length in 0..20 {
            let name = "k".repeat(length);

            let key = format!("\"{name}\":1");
            let content = plain_ascii_content(key.as_bytes(), 1);
            assert_eq!(content, Some(name.as_bytes()), "{key}");
            assert_eq!(
                plain_ascii_end(key.as_bytes(), 1),
                Some(length + 2),
                "{key}"
            );

            // The closing quote is missing from this chunk.
            let cut = format!("\"{name}");
            assert_eq!(plain_ascii_content(cut.as_bytes(), 1), None, "{cut}");
        }
    }

    #[test]
    fn plain_content_leaves_other_strings() {
        for json in [
            &b"\"a\\nb\""[..],
            b"\"caf\xc3\xa9\"",
            b"\"tab\there\"",
            b"\"",
        ] {
            assert_eq!(plain_ascii_content(json, 1), None, "{json:?}");
        }
    }

    #[test]
    fn scan_accepts_lone_surrogate_escape() {
        // RFC 8259 grammar allows any \uXXXX, and .NET readers accept lone surrogates too.
        assert!(scan_string(br#""\ud800""#).is_ok());
    }
}
