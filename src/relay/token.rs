//! Ingress tokens: the unguessable path segment that tells storebridge which subscription a
//! webhook from ShipStation belongs to. Only their SHA-256 is stored.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

/// Random bytes in a token: 256 bits, beyond any guessing.
const TOKEN_BYTES: usize = 32;

/// An ingress token. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct IngressToken(String);

impl IngressToken {
    /// Generates a new random token.
    pub fn generate() -> Self {
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Wraps a token taken from a request path.
    pub fn from_path(segment: &str) -> Self {
        Self(segment.to_owned())
    }

    /// Returns the token itself, to build the ingress URL given to ShipStation.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Returns the hex SHA-256 under which the token is stored.
    pub fn hash(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, self.0.as_bytes());
        digest
            .as_ref()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

impl fmt::Debug for IngressToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IngressToken(****)")
    }
}

/// Returns the ingress URL for `token` under `public_url`.
pub fn ingress_url(public_url: &str, token: &IngressToken) -> String {
    format!(
        "{}/hooks/{}",
        public_url.trim_end_matches('/'),
        token.expose()
    )
}

/// Returns the token of an ingress URL under `public_url`, if `url` is one.
pub fn token_of_url(public_url: &str, url: &str) -> Option<IngressToken> {
    let prefix = format!("{}/hooks/", public_url.trim_end_matches('/'));
    let token = url.strip_prefix(&prefix)?;
    let valid = !token.is_empty()
        && token
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    valid.then(|| IngressToken::from_path(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ_and_hide() {
        let first = IngressToken::generate();
        let second = IngressToken::generate();
        assert_ne!(first, second);
        assert_eq!(first.expose().len(), 43);
        assert!(!format!("{first:?}").contains(first.expose()));
        assert_eq!(first.hash().len(), 64);
        assert_ne!(first.hash(), second.hash());
    }

    #[test]
    fn url_round_trip() {
        let token = IngressToken::generate();
        let url = ingress_url("https://hooks.example.com/", &token);
        assert!(url.starts_with("https://hooks.example.com/hooks/"));
        let parsed = token_of_url("https://hooks.example.com", &url).expect("token");
        assert_eq!(parsed, token);
        assert!(token_of_url("https://other.example.com", &url).is_none());
        assert!(token_of_url(
            "https://hooks.example.com",
            "https://hooks.example.com/hooks/a/b"
        )
        .is_none());
    }
}
