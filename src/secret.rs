//! Values that must never reach a log: tokens, API secrets, signing keys.

use std::fmt;

/// A secret string. `Debug` and `Display` print a mask, so the value cannot leak through a
/// log line or an error message by accident; `expose` is the one way to read it.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares with `candidate` in time independent of where they differ, so response
    /// timing does not reveal how much of a guessed token was right.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        let expected = self.0.as_bytes();
        if expected.len() != candidate.len() {
            return false;
        }
        expected
            .iter()
            .zip(candidate)
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_mask() {
        let secret = Secret::new("whsec_abc");
        assert_eq!(format!("{secret:?}"), "Secret(****)");
        assert_eq!(format!("{secret}"), "****");
        assert_eq!(secret.expose(), "whsec_abc");
    }

    #[test]
    fn matches_only_exact_value() {
        let secret = Secret::new("token-1");
        assert!(secret.matches(b"token-1"));
        assert!(!secret.matches(b"token-2"));
        assert!(!secret.matches(b"token-12"));
        assert!(!secret.matches(b""));
    }
}
