//! The GitHub webhook scheme: `X-Hub-Signature-256: sha256=<hex>` over the
//! raw body. It has no timestamp, and `X-GitHub-Delivery` is not signed (a
//! captured request replays under a fresh one), so the replay key is the
//! signature itself: `sha256:<hex>`, normalised to lower case. A replay,
//! whatever its delivery id or path, repeats that key; a new key needs the
//! secret. `X-GitHub-Delivery` is still required (GitHub always sends it).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{AuthFailure, HmacKey, Verified, header};

pub const GITHUB_SIGNATURE: &str = "x-hub-signature-256";
pub const GITHUB_DELIVERY: &str = "x-github-delivery";

fn mac(key: &HmacKey, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = key.mac();
    mac.update(body);
    mac
}

/// The `X-Hub-Signature-256` value: `sha256=<hex>`.
pub fn sign_github(key: &[u8], body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(mac(&HmacKey::new(key), body).finalize().into_bytes())
    )
}

pub fn verify_github(
    headers: &http::HeaderMap,
    body: &[u8],
    keys: &[HmacKey],
) -> Result<Verified, AuthFailure> {
    let signature = header(headers, GITHUB_SIGNATURE)?;
    let delivery = header(headers, GITHUB_DELIVERY)?;
    if delivery.is_empty() || delivery.len() > 256 {
        return Err(AuthFailure::MalformedHeader(GITHUB_DELIVERY));
    }
    // A SHA-256 digest is 64 hex digits; anything else is refused before
    // it is decoded, once per client.
    let digest = signature
        .strip_prefix("sha256=")
        .filter(|h| h.len() == 64)
        .and_then(|h| hex::decode(h).ok())
        .ok_or(AuthFailure::MalformedHeader(GITHUB_SIGNATURE))?;
    for key in keys {
        if mac(key, body).verify_slice(&digest).is_ok() {
            return Ok(Verified {
                delivery_id: format!("sha256:{}", hex::encode(&digest)),
            });
        }
    }
    Err(AuthFailure::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

    // GitHub's documented example ("Validating webhook deliveries").
    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    const SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn headers(sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(GITHUB_SIGNATURE, HeaderValue::from_str(sig).unwrap());
        h.insert(
            GITHUB_DELIVERY,
            HeaderValue::from_static("72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        );
        h
    }

    #[test]
    fn documented_example_verifies() {
        assert_eq!(sign_github(SECRET, BODY), SIGNATURE);
        let v = verify_github(&headers(SIGNATURE), BODY, &[HmacKey::new(SECRET)]).unwrap();
        assert_eq!(v.delivery_id, SIGNATURE.replace('=', ":"));
    }

    #[test]
    fn the_replay_key_is_the_signature_whatever_the_delivery_id_or_hex_case() {
        let key = [HmacKey::new(SECRET)];
        let first = verify_github(&headers(SIGNATURE), BODY, &key).unwrap();
        let mut h = headers(&SIGNATURE.to_uppercase().replace("SHA256=", "sha256="));
        h.insert(
            GITHUB_DELIVERY,
            HeaderValue::from_static("a-fresh-delivery-id"),
        );
        let replayed = verify_github(&h, BODY, &key).unwrap();
        assert_eq!(replayed.delivery_id, first.delivery_id);
    }

    #[test]
    fn tampering_and_bad_headers_fail() {
        assert_eq!(
            verify_github(
                &headers(SIGNATURE),
                b"Hello, World?",
                &[HmacKey::new(SECRET)]
            ),
            Err(AuthFailure::BadSignature)
        );
        for malformed in [
            "sha1=abc",
            &format!("{SIGNATURE}00"),
            &"sha256=ab".repeat(1000),
        ] {
            assert_eq!(
                verify_github(&headers(malformed), BODY, &[HmacKey::new(SECRET)]),
                Err(AuthFailure::MalformedHeader(GITHUB_SIGNATURE))
            );
        }
        let mut h = headers(SIGNATURE);
        h.remove(GITHUB_DELIVERY);
        assert_eq!(
            verify_github(&h, BODY, &[HmacKey::new(SECRET)]),
            Err(AuthFailure::MissingHeader(GITHUB_DELIVERY))
        );
    }
}
