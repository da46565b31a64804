//! Checking the vendor's message id before it goes into a URL.

use plugin_api::{Message, PluginError};

/// Longest id accepted; every vendor's ids are far shorter.
const MAX_ID_LEN: usize = 512;

/// The message's `remote_id`, refused when it cannot be a vendor id: empty,
/// too long, holding control characters, or `.` / `..` (which URL parsers
/// treat as path navigation, even percent-encoded). The plugin still
/// percent-encodes it as a path segment.
pub fn remote_id(message: &Message) -> Result<&str, PluginError> {
    let id = message.remote_id.as_str();
    let problem = if id.is_empty() {
        Some("is empty")
    } else if id.len() > MAX_ID_LEN {
        Some("is too long")
    } else if id.chars().any(char::is_control) {
        Some("contains control characters")
    } else if id == "." || id == ".." {
        Some("is not an id")
    } else {
        None
    };
    match problem {
        None => Ok(id),
        Some(problem) => Err(PluginError::new(
            "invalid_remote_id",
            format!("message.remote_id {problem}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(remote_id: &str) -> Message {
        Message {
            account: "a".into(),
            remote_id: remote_id.into(),
            sent_at_ms: 0,
            tags: vec![],
            meta: serde_json::Value::Null,
        }
    }

    #[test]
    fn plausible_ids_pass() {
        for id in [
            "1828256757",
            "7123456789012345678",
            "a/b c?d",
            "ünïcode",
            "...",
        ] {
            assert_eq!(remote_id(&message(id)).unwrap(), id);
        }
    }

    #[test]
    fn impossible_ids_are_refused_naming_the_field() {
        for id in [
            String::new(),
            ".".into(),
            "..".into(),
            "a\nb".into(),
            "9".repeat(513),
        ] {
            let error = remote_id(&message(&id)).unwrap_err();
            assert_eq!(error.code, "invalid_remote_id");
            assert!(
                error.message.starts_with("message.remote_id "),
                "{}",
                error.message
            );
        }
    }
}
