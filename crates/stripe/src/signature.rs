//! Stripe's webhook signatures: the `Stripe-Signature` header, signed and
//! verified exactly as Stripe's libraries do.
//!
//! The header is `t=TIMESTAMP,v1=SIGNATURE[,v1=…][,v0=…]`; a signature is the
//! hex HMAC-SHA256, keyed by the endpoint's secret, of `TIMESTAMP.BODY` (the
//! raw body bytes). Any `v1` may match (Stripe sends several while a secret
//! rolls); `v0` and unknown schemes are ignored. Verification works on the raw
//! bytes, before any parsing.
//!
//! The endpoint that verifies faces anyone, so refusing must cost no more than
//! accepting: the header is bounded ([`MAX_HEADER_ENTRIES`],
//! [`MAX_HEADER_BYTES`]) and parsed before anything is hashed, the timestamp
//! is checked next, and then the body is hashed once per secret, however many
//! signatures the header carries, each compared in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};

type HmacSha256 = Hmac<Sha256>;

/// An HMAC-SHA256 signature, as bytes.
type Digest = [u8; 32];

/// Stripe's default tolerance for the age of a signature.
pub const DEFAULT_TOLERANCE_SECONDS: i64 = 300;

/// Most comma-separated entries (`t=`, `v1=`, `v0=` or any other scheme) a
/// `Stripe-Signature` header may carry; a header with more is malformed.
/// Stripe sends the timestamp and one `v1` per active secret (two while a
/// secret rolls), so this is generous.
pub const MAX_HEADER_ENTRIES: usize = 16;

/// Longest `Stripe-Signature` header accepted, in bytes: room for
/// [`MAX_HEADER_ENTRIES`] entries of a 64-digit signature each. A longer
/// header is malformed.
pub const MAX_HEADER_BYTES: usize = MAX_HEADER_ENTRIES * 80;

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

fn digest(secret: &str, timestamp: i64, payload: &[u8]) -> Digest {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac.finalize().into_bytes().into()
}

/// The hex signature of `payload` at `timestamp`.
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    hex::encode(digest(secret, timestamp, payload))
}

/// A complete `Stripe-Signature` header value.
pub fn header(payload: &[u8], secret: &str, timestamp: i64) -> String {
    format!("t={timestamp},v1={}", sign(payload, secret, timestamp))
}

/// Checks `header` against `payload` for any of `secrets`, at time `now`
/// (Unix seconds), allowing signatures up to `tolerance` seconds old (and as
/// far in the future, for clocks that disagree). Returns the signed timestamp.
///
/// The checks run cheapest first: the header's shape (missing, malformed, no
/// `v1`), then the timestamp (stale), then the signatures (mismatch), so a
/// header that is both stale and forged is refused as stale without hashing.
pub fn verify(
    payload: &[u8],
    header: Option<&str>,
    secrets: &[&str],
    tolerance: i64,
    now: i64,
) -> Result<i64, SignatureError> {
    verify_with(header, secrets, tolerance, now, |secret, timestamp| {
        digest(secret, timestamp, payload)
    })
}

/// [`verify`], with the signature of the body for a secret and a timestamp
/// computed by `sign_body`: the one place that hashes, so that tests can count
/// how often it does.
fn verify_with(
    header: Option<&str>,
    secrets: &[&str],
    tolerance: i64,
    now: i64,
    mut sign_body: impl FnMut(&str, i64) -> Digest,
) -> Result<i64, SignatureError> {
    let header = parse(header.ok_or(SignatureError::Missing)?)?;
    // A negative tolerance is taken as none; `abs_diff` cannot overflow
    // whatever timestamp the header claims.
    if now.abs_diff(header.timestamp) > tolerance.max(0).unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    // Every candidate is compared with every secret's signature, with no early
    // exit, so that the time taken says nothing about which (if any) matched.
    let mut matched = Choice::from(0);
    for secret in secrets {
        let expected = sign_body(secret, header.timestamp);
        for candidate in &header.signatures {
            matched |= expected[..].ct_eq(&candidate[..]);
        }
    }
    if bool::from(matched) {
        Ok(header.timestamp)
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// A `Stripe-Signature` header's timestamp and `v1` signatures.
#[derive(Debug, PartialEq, Eq)]
struct SignedHeader {
    timestamp: i64,
    signatures: Vec<Digest>,
}

/// Reads a header, refusing one longer than [`MAX_HEADER_BYTES`] or with more
/// than [`MAX_HEADER_ENTRIES`] entries before looking at its entries. A `v1`
/// that is not 64 hex digits is malformed, since no signature can match it;
/// when `t` is repeated, the last one counts, as in Stripe's libraries.
fn parse(header: &str) -> Result<SignedHeader, SignatureError> {
    if header.len() > MAX_HEADER_BYTES || header.split(',').count() > MAX_HEADER_ENTRIES {
        return Err(SignatureError::Malformed);
    }
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
            "v1" => {
                let mut signature = Digest::default();
                hex::decode_to_slice(value, &mut signature)
                    .map_err(|_| SignatureError::Malformed)?;
                signatures.push(signature);
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::NoSignature);
    }
    Ok(SignedHeader {
        timestamp,
        signatures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
        for malformed in [
            "garbage",
            "t=x,v1=00",
            "t=1000,v1=zz",
            // A v1 that is not 32 bytes can match nothing.
            "t=1000,v1=00",
            "v1=0000",
        ] {
            assert_eq!(
                verify(BODY, Some(malformed), &[SECRET], 300, 1_000),
                Err(SignatureError::Malformed),
                "{malformed}"
            );
        }
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
        // The timestamp is checked before any signature: stale and forged is stale.
        assert_eq!(
            verify(BODY, Some(&header), &["whsec_other"], 300, 1_301),
            Err(SignatureError::Stale)
        );
    }

    /// A header with `t` and `count` forged `v1` entries.
    fn forged_header(timestamp: i64, count: usize) -> String {
        let mut header = format!("t={timestamp}");
        for n in 0..count {
            header.push_str(&format!(",v1={:064x}", n));
        }
        header
    }

    /// What [`verify_with`] answers for `header`, and how many times it hashed
    /// the body.
    fn hashes_for(
        header: &str,
        secrets: &[&str],
        now: i64,
    ) -> (Result<i64, SignatureError>, usize) {
        let mut hashed = 0;
        let verdict = verify_with(Some(header), secrets, 300, now, |secret, timestamp| {
            hashed += 1;
            digest(secret, timestamp, BODY)
        });
        (verdict, hashed)
    }

    #[test]
    fn the_work_of_a_refusal_is_bounded_by_the_secrets_not_the_header() {
        let secrets = ["whsec_old", "whsec_new"];
        // At the cap (the timestamp and fifteen signatures), each secret's
        // signature is computed once, not once per entry.
        let at_cap = forged_header(1_000, MAX_HEADER_ENTRIES - 1);
        assert_eq!(
            hashes_for(&at_cap, &secrets, 1_000),
            (Err(SignatureError::Mismatch), secrets.len())
        );
        // One entry more, or the issue's 5,000, is malformed before any hashing.
        for count in [MAX_HEADER_ENTRIES, 5_000] {
            let header = forged_header(1_000, count);
            assert_eq!(
                hashes_for(&header, &secrets, 1_000),
                (Err(SignatureError::Malformed), 0),
                "{count} signatures"
            );
        }
        // The issue's header, `t=1,` then the signatures, is long before it has
        // too many entries.
        let long = format!("t=1,{}", "v1=".repeat(MAX_HEADER_BYTES / 3));
        assert_eq!(
            hashes_for(&long, &secrets, 1_000),
            (Err(SignatureError::Malformed), 0)
        );
        // A stale header is refused without hashing.
        assert_eq!(
            hashes_for(&forged_header(1, 3), &secrets, 1_000),
            (Err(SignatureError::Stale), 0)
        );
        // A good header costs the same: one signature per secret.
        let good = format!(
            "{},v1={}",
            forged_header(1_000, 3),
            sign(BODY, "whsec_new", 1_000)
        );
        assert_eq!(
            hashes_for(&good, &secrets, 1_000),
            (Ok(1_000), secrets.len())
        );
    }

    #[test]
    fn extreme_timestamps_are_stale_not_an_overflow() {
        for timestamp in [i64::MIN, i64::MAX] {
            let header = header(BODY, SECRET, timestamp);
            assert_eq!(
                verify(BODY, Some(&header), &[SECRET], 300, 1_000),
                Err(SignatureError::Stale)
            );
        }
        let far = header(BODY, SECRET, i64::MAX);
        assert_eq!(
            verify(BODY, Some(&far), &[SECRET], i64::MAX, 1_000),
            Ok(i64::MAX)
        );
        assert_eq!(
            verify(
                BODY,
                Some(&header(BODY, SECRET, 1_000)),
                &[SECRET],
                -5,
                1_000
            ),
            Ok(1_000)
        );
    }

    /// Entries a header may carry besides its timestamp and good signature.
    fn extra_entry() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<[u8; 32]>().prop_map(|bytes| format!("v1={}", hex::encode(bytes))),
            "[0-9a-f]{0,64}".prop_map(|value| format!("v0={value}")),
            "[a-z][a-z0-9]{0,3}=[ -+\\--~]{0,20}"
                .prop_filter("not t or v1", |e| !e.starts_with("t=")
                    && !e.starts_with("v1=")),
        ]
    }

    /// Headers that look almost like Stripe's: the right keys with any values.
    fn header_like() -> impl Strategy<Value = String> {
        let entry = prop_oneof![
            any::<i64>().prop_map(|t| format!("t={t}")),
            "t=[-+0-9a-z ]{0,22}",
            "v1=[0-9a-fA-FxX]{0,70}",
            "v[0-9]=[ -~]{0,10}",
            "[ -~]{0,12}",
        ];
        proptest::collection::vec(entry, 0..24).prop_map(|entries| entries.join(","))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn no_header_makes_verify_panic(
            text in any::<String>(),
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
            stripe_like in header_like(),
            now in any::<i64>(),
            tolerance in any::<i64>(),
        ) {
            let lossy = String::from_utf8_lossy(&bytes);
            for header in [text.as_str(), &lossy, &stripe_like] {
                let _ = verify(BODY, Some(header), &[SECRET], tolerance, now);
                let _ = verify(BODY, Some(header), &[SECRET], DEFAULT_TOLERANCE_SECONDS, 0);
            }
        }

        #[test]
        fn a_good_signature_verifies_among_any_extra_entries(
            timestamp in 0..4_000_000_000i64,
            skew in -300..=300i64,
            extras in proptest::collection::vec(extra_entry(), 0..MAX_HEADER_ENTRIES - 2),
            signature_at in any::<proptest::sample::Index>(),
            timestamp_at in any::<proptest::sample::Index>(),
            body in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            // The extra entries come in any order, and the good signature and
            // the timestamp go anywhere among them.
            let mut entries = extras;
            let at = signature_at.index(entries.len() + 1);
            entries.insert(at, format!("v1={}", sign(&body, SECRET, timestamp)));
            let at = timestamp_at.index(entries.len() + 1);
            entries.insert(at, format!("t={timestamp}"));
            let header = entries.join(",");
            prop_assert_eq!(
                verify(&body, Some(&header), &["whsec_other", SECRET], 300, timestamp + skew),
                Ok(timestamp),
                "{}", header
            );
        }

        #[test]
        fn a_mutated_signature_never_verifies(
            timestamp in 0..4_000_000_000i64,
            body in proptest::collection::vec(any::<u8>(), 1..256),
            at in any::<proptest::sample::Index>(),
            replacement in any::<u8>(),
            what in 0..4u8,
        ) {
            let good = header(&body, SECRET, timestamp);
            let (mut header, mut body) = (good.clone().into_bytes(), body);
            match what {
                // A character of the header, anywhere.
                0 => {
                    let i = at.index(header.len());
                    // Hex digits are read in either case, so a change of case
                    // is no change.
                    prop_assume!(!header[i].eq_ignore_ascii_case(&replacement));
                    header[i] = replacement;
                }
                // A digit of the signature, to another hex digit.
                1 => {
                    let digits = header.len() - 64;
                    let i = digits + at.index(64);
                    header[i] = if header[i] == b'0' { b'1' } else { b'0' };
                }
                // A byte of the body.
                2 => {
                    let i = at.index(body.len());
                    body[i] ^= replacement | 1;
                }
                // The signature cut short.
                _ => header.truncate(header.len() - 1 - at.index(63)),
            }
            let header = String::from_utf8_lossy(&header).into_owned();
            prop_assume!(header != good || what == 2);
            prop_assert!(
                verify(&body, Some(&header), &[SECRET], i64::MAX, timestamp).is_err(),
                "{} verified", header
            );
        }
    }
}
