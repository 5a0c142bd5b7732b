//! Stripe's webhook signatures: the `Stripe-Signature` header, signed and
//! verified exactly as Stripe's libraries do.
//!
//! The header is `t=TIMESTAMP,v1=SIGNATURE[,v1=…][,v0=…]`; a signature is the
//! hex HMAC-SHA256, keyed by the endpoint's secret, of `TIMESTAMP.BODY` (the
//! raw body bytes). Any `v1` may match (Stripe sends several while a secret
//! rolls); `v0` and unknown schemes are ignored. Verification works on the raw
//! bytes, before any parsing.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Stripe's default tolerance for the age of a signature.
pub const DEFAULT_TOLERANCE_SECONDS: i64 = 300;

/// Why a signature was refused. The text is short and safe to send back.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing")]
    Missing,
    #[error("the Stripe-Signature header is malformed")]
    Malformed,
    #[error("the Stripe-Signature header has no v1 signature")]
    NoSignature,
    #[error("no signature matches the body")]
    Mismatch,
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
}

fn mac(secret: &str, timestamp: i64, payload: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

/// The hex signature of `payload` at `timestamp`.
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    hex::encode(mac(secret, timestamp, payload).finalize().into_bytes())
}

/// A complete `Stripe-Signature` header value.
pub fn header(payload: &[u8], secret: &str, timestamp: i64) -> String {
    format!("t={timestamp},v1={}", sign(payload, secret, timestamp))
}

/// Checks `header` against `payload` for any of `secrets`, at time `now`
/// (Unix seconds), allowing signatures up to `tolerance` seconds old (and as
/// far in the future, for clocks that disagree). Returns the signed timestamp.
pub fn verify(
    payload: &[u8],
    header: Option<&str>,
    secrets: &[&str],
    tolerance: i64,
    now: i64,
) -> Result<i64, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                )
            }
            "v1" => signatures.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::NoSignature);
    }
    let matches = secrets.iter().any(|secret| {
        signatures
            .iter()
            // `verify_slice` compares in constant time.
            .any(|signature| {
                mac(secret, timestamp, payload)
                    .verify_slice(signature)
                    .is_ok()
            })
    });
    if !matches {
        return Err(SignatureError::Mismatch);
    }
    if (now - timestamp).abs() > tolerance {
        return Err(SignatureError::Stale);
    }
    Ok(timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_1","object":"event"}"#;

    #[test]
    fn a_signed_body_verifies() {
        let header = header(BODY, SECRET, 1_700_000_000);
        assert_eq!(
            verify(BODY, Some(&header), &[SECRET], 300, 1_700_000_100),
            Ok(1_700_000_000)
        );
    }

    #[test]
    fn matches_stripes_published_algorithm() {
        // HMAC-SHA256("whsec_test_secret", "1700000000.{body}") computed independently.
        let expected = {
            let mut m = HmacSha256::new_from_slice(SECRET.as_bytes()).unwrap();
            m.update(b"1700000000.");
            m.update(BODY);
            hex::encode(m.finalize().into_bytes())
        };
        assert_eq!(sign(BODY, SECRET, 1_700_000_000), expected);
        assert_eq!(expected.len(), 64);
    }

    #[test]
    fn any_v1_and_any_secret_may_match() {
        let good = sign(BODY, "whsec_new", 10);
        let header = format!("t=10,v1={},v1={good},v0=abc,x=1", "00".repeat(32));
        assert!(verify(BODY, Some(&header), &["whsec_old", "whsec_new"], 300, 10).is_ok());
    }

    #[test]
    fn refusals_say_why() {
        let header = header(BODY, SECRET, 1_000);
        assert_eq!(
            verify(BODY, None, &[SECRET], 300, 1_000),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(BODY, Some("garbage"), &[SECRET], 300, 1_000),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(BODY, Some("t=x,v1=00"), &[SECRET], 300, 1_000),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(BODY, Some("t=1000,v1=zz"), &[SECRET], 300, 1_000),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(BODY, Some("t=1000,v0=00"), &[SECRET], 300, 1_000),
            Err(SignatureError::NoSignature)
        );
        assert_eq!(
            verify(b"{}", Some(&header), &[SECRET], 300, 1_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(BODY, Some(&header), &["whsec_other"], 300, 1_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(BODY, Some(&header), &[SECRET], 300, 1_301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(BODY, Some(&header), &[SECRET], 300, 699),
            Err(SignatureError::Stale)
        );
    }
}
