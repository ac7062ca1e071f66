//! JSON number tokens: strict RFC 8259 syntax, and the integer a number stands for when a
//! store ID reader would accept it.

use super::MalformedJson;

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

/// Scans the number that starts at `start` (a minus sign or a digit).
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

    #[test]
    fn number_ends_before_other_bytes() {
        let token = scan_number(b"99.990,", 0).unwrap();
        assert_eq!(token.end, 6);
    }
}
