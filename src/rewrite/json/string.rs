//! JSON string tokens: finding the closing quote, validating escapes, control characters and
//! UTF-8, and decoding the few strings (keys, IDs) whose decoded text matters.

use memchr::memchr2;

use super::MalformedJson;

/// A string token: `start` is the opening quote, `end` is one past the closing quote.
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

/// Scans the string whose opening quote is at `start`.
///
/// Plain ASCII runs are skipped eight bytes at a time. At the first non-ASCII byte the scan
/// moves on to [`scan_rest`], which also validates UTF-8.
pub(super) fn scan_string(input: &[u8], start: usize) -> Result<StringToken, MalformedJson> {
    let mut pos = start + 1;
    let mut has_escape = false;
    loop {
        pos = skip_plain_ascii(input, pos);
        match input.get(pos) {
            Some(b'"') => {
                return Ok(StringToken {
                    start,
                    end: pos + 1,
                    has_escape,
                })
            }
            Some(b'\\') => {
                has_escape = true;
                pos = skip_escape(input, pos)?;
            }
            Some(&byte) if byte < 0x20 => {
                return Err(MalformedJson::at(
                    pos,
                    "control character in string (must be escaped)",
                ));
            }
            Some(_) => return scan_rest(input, start, pos, has_escape),
            None => return Err(MalformedJson::at(input.len(), "unterminated string")),
        }
    }
}

/// Returns the offset of the first quote, backslash, control character or non-ASCII byte at
/// or after `pos`, or the input length.
fn skip_plain_ascii(input: &[u8], mut pos: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Sets the high bit of each zero byte. Borrows can also mark bytes above a zero byte,
    // but never below one, so the lowest marked byte is always a real match.
    let zero_bytes = |word: u64| word.wrapping_sub(ONES) & !word & HIGH;

    while let Some(chunk) = input.get(pos..).and_then(|rest| rest.first_chunk::<8>()) {
        let word = u64::from_le_bytes(*chunk);
        let quotes = zero_bytes(word ^ (ONES * u64::from(b'"')));
        let backslashes = zero_bytes(word ^ (ONES * u64::from(b'\\')));
        let controls = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
        let special = quotes | backslashes | controls | (word & HIGH);
        if special != 0 {
            return pos + (special.trailing_zeros() / 8) as usize;
        }
        pos += 8;
    }
    while let Some(&byte) = input.get(pos) {
        if byte == b'"' || byte == b'\\' || !(0x20..0x80).contains(&byte) {
            break;
        }
        pos += 1;
    }
    pos
}

/// Checks the escape whose backslash is at `pos` and returns the offset after it.
fn skip_escape(input: &[u8], pos: usize) -> Result<usize, MalformedJson> {
    match input.get(pos + 1) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(pos + 2),
        Some(b'u') => {
            let hex = input.get(pos + 2..pos + 6);
            if !hex.is_some_and(|digits| digits.iter().all(u8::is_ascii_hexdigit)) {
                return Err(MalformedJson::at(pos, "invalid \\u escape in string"));
            }
            Ok(pos + 6)
        }
        Some(_) => Err(MalformedJson::at(pos, "invalid escape in string")),
        None => Err(MalformedJson::at(input.len(), "unterminated string")),
    }
}

/// Scans the rest of the string opened at `start` from `pos`, validating UTF-8 on the way.
fn scan_rest(
    input: &[u8],
    start: usize,
    mut pos: usize,
    mut has_escape: bool,
) -> Result<StringToken, MalformedJson> {
    loop {
        let rest = input.get(pos..).unwrap_or_default();
        let Some(found) = memchr2(b'"', b'\\', rest) else {
            check_plain(input, pos, input.len())?;
            return Err(MalformedJson::at(input.len(), "unterminated string"));
        };
        check_plain(input, pos, pos + found)?;
        pos += found;

        if input.get(pos) == Some(&b'"') {
            return Ok(StringToken {
                start,
                end: pos + 1,
                has_escape,
            });
        }

        has_escape = true;
        pos = skip_escape(input, pos)?;
    }
}

/// Checks that `input[from..to]`, a run with no quote or backslash, has no control character
/// and is valid UTF-8.
fn check_plain(input: &[u8], from: usize, to: usize) -> Result<(), MalformedJson> {
    let run = input.get(from..to).unwrap_or_default();

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
        return Err(MalformedJson::at(
            from + at,
            "control character in string (must be escaped)",
        ));
    }
    if any_bits >= 0x80 {
        if let Err(error) = std::str::from_utf8(run) {
            return Err(MalformedJson::at(
                from + error.valid_up_to(),
                "invalid UTF-8 in string",
            ));
        }
    }
    Ok(())
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

    fn decode(json: &[u8]) -> Vec<u8> {
        let token = scan_string(json, 0).unwrap();
        token.decoded(json).collect()
    }

    #[test]
    fn scan_finds_end_after_escapes() {
        let json = br#""a\"b\\" tail"#;
        let token = scan_string(json, 0).unwrap();
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
        let cases: [(&[u8], usize); 6] = [
            (b"\"abc", 4),
            (b"\"a\\x\"", 2),
            (b"\"a\\u12G4\"", 2),
            (b"\"a\\u12\"", 2),
            (b"\"a\x01\"", 2),
            (b"\"a\xff\"", 2),
        ];
        for (json, offset) in cases {
            let error = scan_string(json, 0).unwrap_err();
            assert_eq!(error.offset, offset, "{json:?}: {error}");
        }
    }

    #[test]
    fn scan_finds_special_byte_at_every_word_position() {
        for prefix in 0..20 {
            let padding = "a".repeat(prefix);

            let quoted = format!("\"{padding}\"{padding}");
            assert_eq!(scan_string(quoted.as_bytes(), 0).unwrap().end, prefix + 2);

            let escaped = format!("\"{padding}\\n{padding}\"");
            let token = scan_string(escaped.as_bytes(), 0).unwrap();
            assert_eq!(token.end, escaped.len());
            assert!(token.has_escape);

            let control = format!("\"{padding}\u{1f}{padding}\"");
            assert_eq!(
                scan_string(control.as_bytes(), 0).unwrap_err().offset,
                prefix + 1
            );

            let unicode = format!("\"{padding}é{padding}\"");
            assert_eq!(
                scan_string(unicode.as_bytes(), 0).unwrap().end,
                unicode.len()
            );

            let mut invalid = format!("\"{padding}é{padding}\"").into_bytes();
            invalid[prefix + 2] = b'a';
            assert_eq!(scan_string(&invalid, 0).unwrap_err().offset, prefix + 1);
        }
    }

    #[test]
    fn scan_accepts_lone_surrogate_escape() {
        // RFC 8259 grammar allows any \uXXXX, and .NET readers accept lone surrogates too.
        assert!(scan_string(br#""\ud800""#, 0).is_ok());
    }
}
