//! Delivery signatures in the Standard Webhooks format: the secret is `whsec_` followed by
//! the base64 key, and `webhook-signature` is `v1,` followed by the base64 HMAC-SHA256 of
//! `{webhook-id}.{webhook-timestamp}.{body}`. The tests check them against the Python
//! `standardwebhooks` package.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::hmac;

/// Prefix of a Standard Webhooks secret.
const PREFIX: &str = "whsec_";

/// Minimum key length in bytes: 128 random bits are beyond guessing.
const MIN_KEY_BYTES: usize = 16;

/// The signing key. It has no `Display`, and `Debug` masks it.
#[derive(Clone)]
pub struct SigningSecret {
    key: hmac::Key,
}

/// Reasons a signing secret is rejected. The messages never contain the secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("the signing secret must start with \"whsec_\"")]
    MissingPrefix,
    #[error("the signing secret is not valid base64 after \"whsec_\"")]
    NotBase64,
    #[error("the signing secret key is shorter than {MIN_KEY_BYTES} bytes")]
    TooShort,
}

impl FromStr for SigningSecret {
    type Err = SecretError;

    fn from_str(text: &str) -> Result<Self, SecretError> {
        let encoded = text
            .trim()
            .strip_prefix(PREFIX)
            .ok_or(SecretError::MissingPrefix)?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::NotBase64)?;
        if key.len() < MIN_KEY_BYTES {
            return Err(SecretError::TooShort);
        }
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
        })
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(****)")
    }
}

impl SigningSecret {
    /// Returns the `webhook-signature` value for one attempt.
    pub fn sign(&self, webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(webhook_id.as_bytes());
        context.update(b".");
        context.update(timestamp.to_string().as_bytes());
        context.update(b".");
        context.update(body);
        format!("v1,{}", STANDARD.encode(context.sign().as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The signature of this id, timestamp and body under this secret, as the Python
    // `standardwebhooks` package 1.3.0 computes it.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn signature_matches_known_value() {
        let secret: SigningSecret = SECRET.parse().expect("secret");
        let signature = secret.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn bad_secrets_rejected() {
        assert_eq!(
            "MfKQ9r8GKYqrTwjU".parse::<SigningSecret>().err(),
            Some(SecretError::MissingPrefix)
        );
        assert_eq!(
            "whsec_not base64!".parse::<SigningSecret>().err(),
            Some(SecretError::NotBase64)
        );
        assert_eq!(
            "whsec_c2hvcnQ=".parse::<SigningSecret>().err(),
            Some(SecretError::TooShort)
        );
    }

    #[test]
    fn debug_hides_key() {
        let secret: SigningSecret = SECRET.parse().expect("secret");
        let shown = format!("{secret:?}");
        assert!(!shown.contains("MfKQ"), "{shown}");
    }
}
