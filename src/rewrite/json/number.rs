//! JSON number tokens: strict RFC 8259 syntax checked a byte at a time across chunk
//! boundaries, and the integer a number stands for when a store ID reader would accept it.

use super::MalformedJson;

/// The state of a number's scan after its last byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NumberScan {
    Minus,
    /// A leading zero: no digit may follow.
    Zero,
    Integer,
    Dot,
    Fraction,
    /// After `e` or `E`.
    Exponent,
    ExponentSign,
    ExponentDigits,
}

impl NumberScan {
    /// Starts a number at its first byte, a minus sign or a digit.
    pub fn start(first: u8) -> Self {
        match first {
            b'-' => NumberScan::Minus,
            b'0' => NumberScan::Zero,
            _ => NumberScan::Integer,
        }
    }

    /// Scans `chunk` from `pos`, inside a number. `base` is the absolute offset of
    /// `chunk[0]`. Returns the index of the first byte after the number, or `None` when the
    /// chunk ends first, because the next chunk may still continue the number.
    #[inline]
    pub fn scan(
        &mut self,
        chunk: &[u8],
        mut pos: usize,
        base: usize,
    ) -> Result<Option<usize>, MalformedJson> {
        loop {
            // Fast path: a run of digits where digits may follow.
            if matches!(
                self,
                NumberScan::Integer | NumberScan::Fraction | NumberScan::ExponentDigits
            ) {
                while chunk.get(pos).is_some_and(u8::is_ascii_digit) {
                    pos += 1;
                }
            }
            let Some(&byte) = chunk.get(pos) else {
                return Ok(None);
            };
            let digit = byte.is_ascii_digit();
            *self = match (*self, byte) {
                (NumberScan::Minus, b'0') => NumberScan::Zero,
                (NumberScan::Minus, _) if digit => NumberScan::Integer,
                (NumberScan::Minus, _) => {
                    return Err(MalformedJson::at(base + pos, "expected digit in number"))
                }
                (NumberScan::Zero, _) if digit => {
                    // The error points at the zero, one byte back.
                    return Err(MalformedJson::at(
                        (base + pos).saturating_sub(1),
                        "leading zero in number",
                    ));
                }
                (NumberScan::Zero | NumberScan::Integer, b'.') => NumberScan::Dot,
                (NumberScan::Dot, _) if digit => NumberScan::Fraction,
                (NumberScan::Dot, _) => {
                    return Err(MalformedJson::at(
                        base + pos,
                        "expected digit after decimal point",
                    ))
                }
                (NumberScan::Zero | NumberScan::Integer | NumberScan::Fraction, b'e' | b'E') => {
                    NumberScan::Exponent
                }
                (NumberScan::Exponent, b'+' | b'-') => NumberScan::ExponentSign,
                (NumberScan::Exponent | NumberScan::ExponentSign, _) if digit => {
                    NumberScan::ExponentDigits
                }
                (NumberScan::Exponent | NumberScan::ExponentSign, _) => {
                    return Err(MalformedJson::at(base + pos, "expected digit in exponent"))
                }
                (NumberScan::Integer | NumberScan::Fraction | NumberScan::ExponentDigits, _)
                    if digit =>
                {
                    *self
                }
                (NumberScan::Zero, _)
                | (NumberScan::Integer, _)
                | (NumberScan::Fraction, _)
                | (NumberScan::ExponentDigits, _) => return Ok(Some(pos)),
            };
            pos += 1;
        }
    }

    /// Returns the error for an input that ends here, `total` bytes long, or `None` when
    /// the number is complete.
    pub fn end_of_input(self, total: usize) -> Option<MalformedJson> {
        let reason = match self {
            NumberScan::Minus => "expected digit in number",
            NumberScan::Dot => "expected digit after decimal point",
            NumberScan::Exponent | NumberScan::ExponentSign => "expected digit in exponent",
            NumberScan::Zero
            | NumberScan::Integer
            | NumberScan::Fraction
            | NumberScan::ExponentDigits => return None,
        };
        Some(MalformedJson::at(total, reason))
    }
}

/// Returns the index one past a number that starts at `chunk[pos]`, when it has no minus
/// sign and no exponent and its end is in `chunk`: the common case, which needs no
/// [`NumberScan`] state.
///
/// Returns `None` for any other number, including invalid ones, so that [`NumberScan`]
/// scans it and reports its error.
///
/// Kept out of line, because inlined into the scanner's main loop it added more
/// instructions there than the call costs.
#[inline(never)]
pub(super) fn plain_number_end(chunk: &[u8], pos: usize) -> Option<usize> {
    let digits_end = |from: usize| {
        let digits = chunk.get(from..).unwrap_or_default();
        from + digits
            .iter()
            .take_while(|byte| byte.is_ascii_digit())
            .count()
    };

    let mut end = match chunk.get(pos) {
        Some(b'0') => pos + 1,
        Some(b'1'..=b'9') => digits_end(pos + 1),
        _ => return None,
    };
    if chunk.get(end) == Some(&b'.') {
        let fraction_end = digits_end(end + 1);
        if fraction_end == end + 1 {
            return None;
        }
        end = fraction_end;
    }
    // A digit can only follow a leading zero here, which is an error. At the end of the
    // chunk, the number may go on in the next one.
    match chunk.get(end) {
        Some(b'0'..=b'9' | b'.' | b'e' | b'E') | None => None,
        Some(_) => Some(end),
    }
}

/// A number token spanning `input[start..end]`.
#[derive(Clone, Copy, Debug)]
pub(super) struct NumberToken {
    pub start: usize,
    pub end: usize,
    negative: bool,
    /// End of the integer digits, which start after the optional minus sign.
    int_end: usize,
    /// The fraction digits, empty when there is no decimal point.
    fraction: (usize, usize),
    /// The exponent, saturated far beyond any value that can still be a `u64`.
    exponent: i64,
}

/// Scans the number that starts at `start` (a minus sign or a digit) for its parts. The
/// rewriter calls it on complete store ID numbers that [`NumberScan`] has already checked.
pub(super) fn scan_number(input: &[u8], start: usize) -> Result<NumberToken, MalformedJson> {
    let digit_at = |pos: usize| input.get(pos).is_some_and(u8::is_ascii_digit);
    let skip_digits = |mut pos: usize| {
        while digit_at(pos) {
            pos += 1;
        }
        pos
    };

    let negative = input.get(start) == Some(&b'-');
    let int_start = start + usize::from(negative);
    let int_end = match input.get(int_start) {
        Some(b'0') if digit_at(int_start + 1) => {
            return Err(MalformedJson::at(int_start, "leading zero in number"));
        }
        Some(b'0') => int_start + 1,
        Some(b'1'..=b'9') => skip_digits(int_start + 1),
        _ => return Err(MalformedJson::at(int_start, "expected digit in number")),
    };

    let mut pos = int_end;
    let mut fraction = (pos, pos);
    if input.get(pos) == Some(&b'.') {
        if !digit_at(pos + 1) {
            return Err(MalformedJson::at(
                pos + 1,
                "expected digit after decimal point",
            ));
        }
        let end = skip_digits(pos + 1);
        fraction = (pos + 1, end);
        pos = end;
    }

    let mut exponent: i64 = 0;
    if matches!(input.get(pos), Some(b'e' | b'E')) {
        pos += 1;
        let exponent_negative = input.get(pos) == Some(&b'-');
        if matches!(input.get(pos), Some(b'+' | b'-')) {
            pos += 1;
        }
        if !digit_at(pos) {
            return Err(MalformedJson::at(pos, "expected digit in exponent"));
        }
        while let Some(&digit) = input.get(pos).filter(|byte| byte.is_ascii_digit()) {
            exponent = (exponent * 10 + i64::from(digit - b'0')).min(1_000_000);
            pos += 1;
        }
        if exponent_negative {
            exponent = -exponent;
        }
    }

    Ok(NumberToken {
        start,
        end: pos,
        negative,
        int_end,
        fraction,
        exponent,
    })
}

impl NumberToken {
    /// Returns the value when it is a non-negative integer that fits a `u64`, so `12345`,
    /// `12345.0` and `1.2345e4` all give 12345. `-0` gives `None`, which is harmless
    /// because 0 is never a mapped store ID.
    ///
    /// NOTE: a fraction such as `12345.5` is never matched, although a .NET reader that
    /// converts floats to integers by rounding could bind it to store 12346.
    pub fn integral_value(&self, input: &[u8]) -> Option<u64> {
        if self.negative {
            return None;
        }
        let integer = input.get(self.start..self.int_end)?;
        let fraction = input.get(self.fraction.0..self.fraction.1)?;
        let digits = || integer.iter().chain(fraction).copied();

        // Scale so that the value is `significant digits * 10^scale`, with trailing zeros
        // moved into the scale.
        let total = integer.len() + fraction.len();
        let leading_zeros = digits().take_while(|&digit| digit == b'0').count();
        if leading_zeros == total {
            return Some(0);
        }
        let trailing_zeros = digits().rev().take_while(|&digit| digit == b'0').count();
        let significant = total - leading_zeros - trailing_zeros;
        let scale = self.exponent - fraction.len() as i64 + trailing_zeros as i64;
        if scale < 0 || significant as i64 + scale > 20 {
            return None;
        }

        let mut value: u64 = 0;
        for digit in digits().skip(leading_zeros).take(significant) {
            value = value
                .checked_mul(10)?
                .checked_add(u64::from(digit - b'0'))?;
        }
        for _ in 0..scale {
            value = value.checked_mul(10)?;
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> Option<u64> {
        let token = scan_number(text.as_bytes(), 0).unwrap();
        assert_eq!(token.end, text.len(), "{text}");
        token.integral_value(text.as_bytes())
    }

    #[test]
    fn integral_forms() {
        assert_eq!(value("12345"), Some(12345));
        assert_eq!(value("12345.0"), Some(12345));
        assert_eq!(value("12345.000"), Some(12345));
        assert_eq!(value("1.2345e4"), Some(12345));
        assert_eq!(value("1.2345E+4"), Some(12345));
        assert_eq!(value("123450e-1"), Some(12345));
        assert_eq!(value("0.12345e5"), Some(12345));
        assert_eq!(value("12345000e-3"), Some(12345));
        assert_eq!(value("0"), Some(0));
        assert_eq!(value("0.0e5"), Some(0));
        assert_eq!(value("18446744073709551615"), Some(u64::MAX));
    }

    #[test]
    fn non_integral_or_out_of_range() {
        assert_eq!(value("-12345"), None);
        assert_eq!(value("-0"), None);
        assert_eq!(value("12345.5"), None);
        assert_eq!(value("1.2345e3"), None);
        assert_eq!(value("18446744073709551616"), None);
        assert_eq!(value("1e20"), None);
        assert_eq!(value("1e999999999999999999999"), None);
        assert_eq!(value("1e-999999999999999999999"), None);
    }

    #[test]
    fn syntax_errors_with_offsets() {
        let cases = [
            ("01", 0),
            ("-01", 1),
            ("-", 1),
            ("-a", 1),
            ("1.", 2),
            ("1.e5", 2),
            ("1e", 2),
            ("1e+", 3),
        ];
        for (text, offset) in cases {
            let error = scan_number(text.as_bytes(), 0).unwrap_err();
            assert_eq!(error.offset, offset, "{text}: {error}");
        }
    }

    /// Scans `text` with [`NumberScan`] in two chunks split at `split`, as the scanner does
    /// after it has read the first byte.
    fn scan_split(text: &[u8], split: usize) -> Result<Option<usize>, MalformedJson> {
        let mut scan = NumberScan::start(text[0]);
        let (first, second) = text.split_at(split.max(1));
        if let Some(end) = scan.scan(first, 1, 0)? {
            return Ok(Some(end));
        }
        match scan.scan(second, 0, first.len())? {
            Some(end) => Ok(Some(first.len() + end)),
            None => match scan.end_of_input(text.len()) {
                Some(error) => Err(error),
                None => Ok(None),
            },
        }
    }

    #[test]
    fn byte_scan_agrees_with_whole_scan() {
        let cases = [
            "12345", "0", "-0", "12.5e-3,", "1E+9]", "01", "-01", "-", "-a", "1.", "1.e5", "1e",
            "1e+", "1ex", "0.0 ", "99.990,",
        ];
        for text in cases {
            let whole = scan_number(text.as_bytes(), 0).map(|token| token.end);
            for split in 1..=text.len() {
                let split_result =
                    scan_split(text.as_bytes(), split).map(|end| end.unwrap_or(text.len()));
                assert_eq!(split_result, whole, "{text} split at {split}");
            }
        }
    }

    #[test]
    fn plain_end_agrees_with_whole_scan() {
        let plain = ["12345,", "0}", "218.73,", "0.5]", "7 ", "99.990,"];
        for text in plain {
            let whole = scan_number(text.as_bytes(), 0).unwrap().end;
            assert_eq!(plain_number_end(text.as_bytes(), 0), Some(whole), "{text}");
        }
    }

    #[test]
    fn plain_end_leaves_other_forms() {
        // Signs, exponents, errors and numbers that reach the chunk's end need `NumberScan`.
        let others = [
            "-1,", "1e5,", "1.5E2,", "01,", "1.,", "1.e5", "1.5.3", "123", "0", "2.50", "-", "x",
        ];
        for text in others {
            assert_eq!(plain_number_end(text.as_bytes(), 0), None, "{text}");
        }
    }

    #[test]
    fn number_ends_before_other_bytes() {
        let token = scan_number(b"99.990,", 0).unwrap();
        assert_eq!(token.end, 6);
    }
}
