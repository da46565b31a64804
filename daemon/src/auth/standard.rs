//! Standard Webhooks (<https://www.standardwebhooks.com>): `webhook-id`,
//! `webhook-timestamp`, `webhook-signature: v1,<base64>` (space-separated
//! list, any match suffices), HMAC-SHA256 over `id.timestamp.body` with the
//! base64-decoded part of a `whsec_` secret.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD as B64};

/// Secrets decode with or without padding, as in the reference libraries.
const SECRET_B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{AuthFailure, HmacKey, Verified, header};

pub const WEBHOOK_ID: &str = "webhook-id";
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";

/// The key bytes of a `whsec_<base64>` secret.
pub fn decode_whsec(secret: &str) -> Result<Vec<u8>, String> {
    let encoded = secret
        .strip_prefix("whsec_")
        .ok_or("a Standard Webhooks secret starts with whsec_")?;
    let key = SECRET_B64
        .decode(encoded)
        // Not base64's own message: it names the offending byte and offset,
        // i.e. part of the secret.
        .map_err(|_| "the part after whsec_ is not base64".to_owned())?;
    if key.is_empty() {
        return Err("whsec_ secret is empty".into());
    }
    Ok(key)
}

fn mac(key: &HmacKey, id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = key.mac();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `webhook-signature` value for one key: `v1,<base64>`.
pub fn sign_standard(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = mac(&HmacKey::new(key), id, &timestamp.to_string(), body)
        .finalize()
        .into_bytes();
    format!("v1,{}", B64.encode(tag))
}

/// At most this many entries in `webhook-signature` (one per key being
/// rotated; the reference libraries send one or two).
pub const MAX_SIGNATURES: usize = 8;
/// The longest signature value after its `vN,` prefix: 88 base64
/// characters (64 bytes, an Ed25519 `v1a` signature; a `v1` one has 44).
const MAX_SIGNATURE_CHARS: usize = 88;
/// The longest version prefix (`v1`, `v1a`).
const MAX_VERSION_CHARS: usize = 8;

/// A Standard Webhooks request's headers, checked and decoded once and
/// then verified against each client's keys: a request costs one MAC per
/// key and candidate, at most [`MAX_SIGNATURES`] candidates.
pub struct StandardHeaders<'a> {
    id: &'a str,
    timestamp_text: &'a str,
    /// `webhook-timestamp`, seconds since the epoch.
    pub timestamp: i64,
    /// The decoded `v1,` entries, in order; the first `count` are used.
    candidates: [Candidate; MAX_SIGNATURES],
    count: usize,
}

impl<'a> StandardHeaders<'a> {
    /// Order of checks: headers present, timestamp in window, then the
    /// signature list's shape (so a stale request is reported as stale
    /// even when signed correctly). None of this depends on a key.
    pub fn parse(
        headers: &'a http::HeaderMap,
        now_secs: i64,
        tolerance: Duration,
    ) -> Result<StandardHeaders<'a>, AuthFailure> {
        let id = header(headers, WEBHOOK_ID)?;
        let timestamp_text = header(headers, WEBHOOK_TIMESTAMP)?;
        let signatures = header(headers, WEBHOOK_SIGNATURE)?;
        if id.is_empty() || id.len() > 256 {
            return Err(AuthFailure::MalformedHeader(WEBHOOK_ID));
        }
        let timestamp: i64 = timestamp_text
            .trim()
            .parse()
            .map_err(|_| AuthFailure::MalformedHeader(WEBHOOK_TIMESTAMP))?;
        let tolerance_secs = tolerance.as_secs();
        if now_secs.abs_diff(timestamp) > tolerance_secs {
            return Err(AuthFailure::StaleTimestamp { tolerance_secs });
        }
        let malformed = AuthFailure::MalformedHeader(WEBHOOK_SIGNATURE);
        let mut parsed = StandardHeaders {
            id,
            timestamp_text,
            timestamp,
            candidates: [Candidate::EMPTY; MAX_SIGNATURES],
            count: 0,
        };
        // Every entry counts towards the cap and the length limit; only
        // `v1,` entries that are base64 are candidates (others are ignored).
        for (n, entry) in signatures.split(' ').filter(|e| !e.is_empty()).enumerate() {
            let (version, value) = entry.split_once(',').unwrap_or((entry, ""));
            if n >= MAX_SIGNATURES
                || version.len() > MAX_VERSION_CHARS
                || value.len() > MAX_SIGNATURE_CHARS
            {
                return Err(malformed);
            }
            if version == "v1"
                && let Some(candidate) = Candidate::decode(value)
            {
                parsed.candidates[parsed.count] = candidate;
                parsed.count += 1;
            }
        }
        if parsed.count == 0 {
            return Err(malformed);
        }
        Ok(parsed)
    }

    /// Whether any candidate is the signature of `body` by any of `keys`;
    /// [`AuthFailure::BadSignature`] otherwise.
    pub fn verify(&self, body: &[u8], keys: &[HmacKey]) -> Result<Verified, AuthFailure> {
        for key in keys {
            let expected = mac(key, self.id, self.timestamp_text, body);
            for candidate in &self.candidates[..self.count] {
                if expected.clone().verify_slice(candidate.bytes()).is_ok() {
                    return Ok(Verified {
                        delivery_id: self.id.to_owned(),
                    });
                }
            }
        }
        Err(AuthFailure::BadSignature)
    }
}

/// Verifies a request against any of `keys` (see [`StandardHeaders`]).
pub fn verify_standard(
    headers: &http::HeaderMap,
    body: &[u8],
    keys: &[HmacKey],
    now_secs: i64,
    tolerance: Duration,
) -> Result<Verified, AuthFailure> {
    StandardHeaders::parse(headers, now_secs, tolerance)?.verify(body, keys)
}

/// A decoded signature, on the stack. A tag is 32 bytes; a longer entry is
/// still a candidate (valid base64) but can match no key.
#[derive(Clone, Copy)]
struct Candidate {
    buf: [u8; Candidate::MAX],
    len: usize,
}

impl Candidate {
    /// Room for the longest value allowed, [`MAX_SIGNATURE_CHARS`] of base64.
    const MAX: usize = MAX_SIGNATURE_CHARS / 4 * 3;

    const EMPTY: Candidate = Candidate {
        buf: [0; Candidate::MAX],
        len: 0,
    };

    /// `None` when `b64` is not base64 (as `B64.decode` would say).
    fn decode(b64: &str) -> Option<Candidate> {
        let mut candidate = Candidate::EMPTY;
        // Invariant: b64 is at most MAX_SIGNATURE_CHARS long, so it fits.
        candidate.len = B64.decode_slice(b64, &mut candidate.buf).ok()?;
        Some(candidate)
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

    // The test vector used by the Standard Webhooks reference libraries.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    const TOLERANCE: Duration = Duration::from_secs(300);

    fn headers(id: &str, ts: i64, sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(WEBHOOK_ID, HeaderValue::from_str(id).unwrap());
        h.insert(
            WEBHOOK_TIMESTAMP,
            HeaderValue::from_str(&ts.to_string()).unwrap(),
        );
        h.insert(WEBHOOK_SIGNATURE, HeaderValue::from_str(sig).unwrap());
        h
    }

    fn key() -> HmacKey {
        HmacKey::new(&decode_whsec(SECRET).unwrap())
    }

    fn key_of(secret: &str) -> HmacKey {
        HmacKey::new(&decode_whsec(secret).unwrap())
    }

    #[test]
    fn spec_vector_signs_and_verifies() {
        assert_eq!(
            sign_standard(&decode_whsec(SECRET).unwrap(), ID, TS, BODY),
            SIGNATURE
        );
        let verified =
            verify_standard(&headers(ID, TS, SIGNATURE), BODY, &[key()], TS, TOLERANCE).unwrap();
        assert_eq!(verified.delivery_id, ID);
    }

    #[test]
    fn any_signature_in_the_list_and_any_key_may_match() {
        let list = format!("v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v1a,xyz {SIGNATURE}");
        let other = key_of("whsec_c2VjcmV0LXJvdGF0ZWQ=");
        verify_standard(
            &headers(ID, TS, &list),
            BODY,
            &[other, key()],
            TS,
            TOLERANCE,
        )
        .unwrap();
    }

    #[test]
    fn tampered_body_wrong_secret_old_and_future_timestamps_fail() {
        let h = headers(ID, TS, SIGNATURE);
        assert_eq!(
            verify_standard(&h, br#"{"test": 2432232315}"#, &[key()], TS, TOLERANCE),
            Err(AuthFailure::BadSignature)
        );
        let wrong = key_of("whsec_d3Jvbmctc2VjcmV0");
        assert_eq!(
            verify_standard(&h, BODY, &[wrong], TS, TOLERANCE),
            Err(AuthFailure::BadSignature)
        );
        let stale = Err(AuthFailure::StaleTimestamp {
            tolerance_secs: 300,
        });
        assert_eq!(
            verify_standard(&h, BODY, &[key()], TS + 301, TOLERANCE),
            stale
        );
        assert_eq!(
            verify_standard(&h, BODY, &[key()], TS - 301, TOLERANCE),
            stale
        );
        verify_standard(&h, BODY, &[key()], TS + 300, TOLERANCE).unwrap();
    }

    #[test]
    fn missing_and_malformed_headers_are_named() {
        let mut h = headers(ID, TS, SIGNATURE);
        h.remove(WEBHOOK_TIMESTAMP);
        assert_eq!(
            verify_standard(&h, BODY, &[key()], TS, TOLERANCE),
            Err(AuthFailure::MissingHeader(WEBHOOK_TIMESTAMP))
        );
        let h = headers(ID, TS, "v2,abc");
        assert_eq!(
            verify_standard(&h, BODY, &[key()], TS, TOLERANCE),
            Err(AuthFailure::MalformedHeader(WEBHOOK_SIGNATURE))
        );
        let mut h = headers(ID, TS, SIGNATURE);
        h.insert(WEBHOOK_TIMESTAMP, HeaderValue::from_static("yesterday"));
        assert_eq!(
            verify_standard(&h, BODY, &[key()], TS, TOLERANCE),
            Err(AuthFailure::MalformedHeader(WEBHOOK_TIMESTAMP))
        );
    }

    #[test]
    fn a_long_base64_signature_is_a_bad_signature_and_garbage_is_malformed() {
        // As long as allowed (88 characters): a candidate, matching nothing.
        let long = format!("v1,{}", B64.encode([7u8; 66]));
        assert_eq!(
            verify_standard(&headers(ID, TS, &long), BODY, &[key()], TS, TOLERANCE),
            Err(AuthFailure::BadSignature)
        );
        let garbage = format!("v1,{}", "*".repeat(40));
        assert_eq!(
            verify_standard(&headers(ID, TS, &garbage), BODY, &[key()], TS, TOLERANCE),
            Err(AuthFailure::MalformedHeader(WEBHOOK_SIGNATURE))
        );
        // Still found after a long one.
        let both = format!("{long} {SIGNATURE}");
        verify_standard(&headers(ID, TS, &both), BODY, &[key()], TS, TOLERANCE).unwrap();
    }

    #[test]
    fn more_than_eight_entries_or_an_overlong_one_is_malformed_before_any_mac() {
        let malformed = Err(AuthFailure::MalformedHeader(WEBHOOK_SIGNATURE));
        let filler = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
        let eight = format!("{} {SIGNATURE}", [filler; 7].join(" "));
        verify_standard(&headers(ID, TS, &eight), BODY, &[key()], TS, TOLERANCE).unwrap();
        let nine = format!("{filler} {eight}");
        assert_eq!(
            verify_standard(&headers(ID, TS, &nine), BODY, &[key()], TS, TOLERANCE),
            malformed
        );
        for overlong in [
            format!("v1,{}", B64.encode([7u8; 67])),
            format!("v1a,{}", "A".repeat(89)),
            "v".repeat(200),
        ] {
            let list = format!("{overlong} {SIGNATURE}");
            assert_eq!(
                verify_standard(&headers(ID, TS, &list), BODY, &[key()], TS, TOLERANCE),
                malformed,
                "{overlong}"
            );
        }
        // An Ed25519 (`v1a`) entry of the allowed length is ignored, not refused.
        let v1a = format!("v1a,{} {SIGNATURE}", B64.encode([1u8; 64]));
        verify_standard(&headers(ID, TS, &v1a), BODY, &[key()], TS, TOLERANCE).unwrap();
    }

    #[test]
    fn unpadded_secrets_decode_like_padded_ones() {
        let padded = decode_whsec("whsec_c2VjcmV0LXJvdGF0ZWQ=").unwrap();
        assert_eq!(decode_whsec("whsec_c2VjcmV0LXJvdGF0ZWQ").unwrap(), padded);
    }

    #[test]
    fn secrets_must_be_whsec_base64() {
        assert!(decode_whsec("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(decode_whsec("whsec_***").is_err());
        assert!(decode_whsec("whsec_").is_err());
    }

    #[test]
    fn a_bad_secret_error_says_nothing_of_the_secret() {
        let err = decode_whsec("whsec_hunter2!").unwrap_err();
        assert_eq!(err, "the part after whsec_ is not base64");
    }
}
