//! Credentials turned into headers.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use plugin_api::Header;

/// `base64("<user>:<password>")`, the shape of HTTP Basic credentials and of
/// Feishu's `X-Lark-Helpdesk-Authorization`.
pub fn base64_pair(user: &str, password: &str) -> String {
    STANDARD.encode(format!("{user}:{password}"))
}

/// `Authorization: Basic base64(user:password)`.
pub fn basic_auth(user: &str, password: &str) -> Header {
    Header::new(
        "Authorization",
        format!("Basic {}", base64_pair(user, password)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_encodes_user_colon_password() {
        // The RFC 7617 example.
        let header = basic_auth("Aladdin", "open sesame");
        assert_eq!(header.name, "Authorization");
        assert_eq!(header.value, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    }
}
