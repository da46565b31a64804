//! Who is calling: signature checks for the two supported schemes.
//!
//! Both are pure functions over the raw body bytes and the headers; the
//! caller supplies `now` and keeps the replay window (ids seen) in the store.
//! Comparisons are constant-time (`Mac::verify_slice`).

mod github;
mod standard;

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use github::{GITHUB_DELIVERY, GITHUB_SIGNATURE, sign_github, verify_github};
pub use standard::{
    MAX_SIGNATURES, StandardHeaders, WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP,
    decode_whsec, sign_standard, verify_standard,
};

/// Why a request was not authenticated. Each maps to a 401 with its own code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("malformed header {0}")]
    MalformedHeader(&'static str),
    #[error("no signature matches any configured client secret")]
    BadSignature,
    #[error("timestamp is outside the allowed window of ±{tolerance_secs}s")]
    StaleTimestamp { tolerance_secs: u64 },
    #[error("this webhook id was already used (replay)")]
    Replay,
}

impl AuthFailure {
    /// The machine-readable code in the 401 body and the metrics label.
    pub fn code(&self) -> &'static str {
        match self {
            AuthFailure::MissingHeader(_) => "missing_header",
            AuthFailure::MalformedHeader(_) => "malformed_header",
            AuthFailure::BadSignature => "bad_signature",
            AuthFailure::StaleTimestamp { .. } => "stale_timestamp",
            AuthFailure::Replay => "replay",
        }
    }
}

/// What a verified request proved: its delivery id (for replay protection)
/// and which secret index matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub delivery_id: String,
}

/// One secret, ready to sign with: the HMAC-SHA256 state after the key
/// (its inner and outer pads hashed), computed once at config load instead
/// of once per request.
#[derive(Clone)]
pub struct HmacKey(Hmac<Sha256>);

impl HmacKey {
    pub fn new(key: &[u8]) -> HmacKey {
        // Invariant: HMAC accepts keys of any length, so new_from_slice cannot fail.
        HmacKey(Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length"))
    }

    /// A fresh MAC keyed with this secret, nothing hashed yet.
    pub(crate) fn mac(&self) -> Hmac<Sha256> {
        self.0.clone()
    }
}

/// Never prints the key material.
impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacKey(..)")
    }
}

pub(crate) fn header<'a>(
    headers: &'a http::HeaderMap,
    name: &'static str,
) -> Result<&'a str, AuthFailure> {
    let value = headers.get(name).ok_or(AuthFailure::MissingHeader(name))?;
    value
        .to_str()
        .map_err(|_| AuthFailure::MalformedHeader(name))
}
