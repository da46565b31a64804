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

/// Expands `${env:NAME}` and `${file:PATH}` anywhere in `value`. A file's
/// trailing newline is dropped. Errors name the reference, never a value.
pub fn expand(value: &str) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| {
            format!("unterminated reference in {value:?}; write ${{env:NAME}} or ${{file:PATH}}")
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
                    "unknown reference ${{{reference}}}; write ${{env:NAME}} or ${{file:PATH}}"
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
        assert!(
            expand("${vault:x}")
                .unwrap_err()
                .contains("unknown reference")
        );
        assert!(expand("${env:X").unwrap_err().contains("unterminated"));
    }
}
