//! Secret values: `${env:NAME}` and `${file:PATH}` references, resolved once,
//! and a wrapper whose `Debug` and `Display` never show the value.

use std::fmt;

/// A resolved secret. Printing it prints `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself: only for computing signatures and building requests.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Credentials as `Debug` shows them: the keys, each value `***`.
pub struct Redacted<'a>(pub &'a serde_json::Map<String, serde_json::Value>);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, format_args!("***"))))
            .finish()
    }
}

/// Expands `${env:NAME}` and `${file:PATH}` anywhere in `value`. A file's
/// trailing newline is dropped. Errors name the reference (the variable or
/// the file) or the position of a malformed one, never the text around it:
/// the value may be the secret itself, pasted where a reference belongs.
pub fn expand(value: &str) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        // 1-based, in characters, as an editor shows it.
        let position = value[..value.len() - rest.len() + start].chars().count() + 1;
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| {
            format!(
                "the reference at character {position} is never closed with `}}`; write ${{env:NAME}} or ${{file:PATH}}"
            )
        })?;
        let reference = &after[..end];
        let resolved = match reference.split_once(':') {
            Some(("env", name)) => std::env::var(name).map_err(|_| {
                format!("environment variable {name} (from ${{env:{name}}}) is not set")
            })?,
            Some(("file", path)) => std::fs::read_to_string(path)
                .map_err(|e| {
                    format!("cannot read secret file {path} (from ${{file:{path}}}): {e}")
                })?
                .trim_end_matches(['\n', '\r'])
                .to_owned(),
            _ => {
                return Err(format!(
                    "the reference at character {position} is neither ${{env:NAME}} nor ${{file:PATH}}"
                ));
            }
        };
        out.push_str(&resolved);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn expands_env_and_file_references() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "from-file\n").unwrap();
        let name = "RECALLD_TEST_SECRET_EXPAND";
        let value = format!("a-${{file:{}}}-b", file.display());
        assert_eq!(expand(&value).unwrap(), "a-from-file-b");
        assert_eq!(expand("plain").unwrap(), "plain");
        let err = expand(&format!("${{env:{name}}}")).unwrap_err();
        assert!(err.contains(name) && err.contains("not set"), "{err}");
        let err = expand("${vault:x}").unwrap_err();
        assert!(err.contains("at character 1 is neither"), "{err}");
        assert!(expand("${env:X").unwrap_err().contains("never closed"));
    }

    #[test]
    fn a_malformed_reference_is_named_by_position_never_by_the_text_around_it() {
        let err = expand("hunter2${oops").unwrap_err();
        assert!(err.contains("character 8"), "{err}");
        for (value, secret) in [
            ("hunter2${oops", "hunter2"),
            ("${hunter2}", "hunter2"),
            ("pre-${sk_live_abc:def}", "sk_live_abc"),
        ] {
            let err = expand(value).unwrap_err();
            assert!(!err.contains(secret), "{value}: {err}");
        }
    }

    #[test]
    fn credentials_debug_shows_keys_only() {
        let map = serde_json::json!({"appsecret": "hunter2", "agent_id": 7});
        let shown = format!("{:?}", Redacted(map.as_object().unwrap()));
        assert_eq!(shown, r#"{"agent_id": ***, "appsecret": ***}"#);
    }
}
