//! A plugin library seen through the safe [`Plugin`] trait.

use std::path::{Path, PathBuf};

use plugin_api::{
    Buffer, CallFn, HttpRequest, InterpretInput, Manifest, Outcome, Plugin, PluginError,
    PluginTable, PrepareInput, STATUS_BAD_INPUT, STATUS_ERROR, STATUS_OK, STATUS_PANIC, TokenInput,
    TokenParseInput, TokenReply,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::HostError;

/// Largest output the host accepts from one plugin call. Plugin output is
/// untrusted; a request description has no business being larger.
pub const OUTPUT_CAP: usize = 1 << 20;

/// A loaded plugin library. Cheap to share: the table is `'static`.
#[derive(Debug)]
pub struct DynamicPlugin {
    table: &'static PluginTable,
    manifest: Manifest,
    path: PathBuf,
}

impl DynamicPlugin {
    /// Wraps a checked table and fetches its manifest.
    pub fn new(table: &'static PluginTable, path: &Path) -> Result<Self, HostError> {
        let invalid = |reason: String| HostError::InvalidManifest {
            path: path.to_owned(),
            reason,
        };
        let mut out = Buffer::EMPTY;
        // SAFETY: `describe` is a valid function of a checked table; `out` is
        // a valid, writable Buffer.
        let status = (table.describe)(&mut out);
        let bytes = take_output(table, out).map_err(|e| invalid(e.message))?;
        if status != STATUS_OK {
            return Err(invalid(status_error(status, &bytes).to_string()));
        }
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| invalid(format!("not a manifest: {e}")))?;
        validate_manifest(&manifest).map_err(invalid)?;
        Ok(DynamicPlugin {
            table,
            manifest,
            path: path.to_owned(),
        })
    }

    pub fn manifest_ref(&self) -> &Manifest {
        &self.manifest
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn call<I: Serialize, O: DeserializeOwned>(
        &self,
        f: CallFn,
        input: &I,
    ) -> Result<O, PluginError> {
        // A request's or an answer's JSON is a few hundred bytes: start with
        // room for it rather than growing from nothing.
        let mut bytes = Vec::with_capacity(INPUT_START);
        serde_json::to_writer(&mut bytes, input)
            .map_err(|e| PluginError::new("host_serialize", e.to_string()))?;
        let mut out = Buffer::EMPTY;
        // SAFETY: `f` comes from a checked table; the input buffer is valid
        // for `len` bytes for the duration of the call; `out` is writable.
        let status = unsafe { f(bytes.as_ptr(), bytes.len(), &mut out) };
        // Parsed in place, before the plugin's buffer is freed.
        read_output(self.table, out, |output| {
            if status != STATUS_OK {
                return Err(status_error(status, output));
            }
            serde_json::from_slice(output).map_err(|e| {
                PluginError::new(
                    "plugin_bad_output",
                    format!("plugin {} returned malformed JSON: {e}", self.manifest.name),
                )
            })
        })?
    }
}

/// Room for a plugin call's JSON input before it grows.
const INPUT_START: usize = 1024;

/// Copies the plugin's output and releases it through the plugin's `free`.
fn take_output(table: &PluginTable, out: Buffer) -> Result<Vec<u8>, PluginError> {
    read_output(table, out, <[u8]>::to_vec)
}

/// Gives the plugin's output to `read`, then releases it through the
/// plugin's `free`.
fn read_output<T>(
    table: &PluginTable,
    out: Buffer,
    read: impl FnOnce(&[u8]) -> T,
) -> Result<T, PluginError> {
    if out.ptr.is_null() {
        return Ok(read(&[]));
    }
    let result = if out.len > OUTPUT_CAP {
        Err(PluginError::new(
            "plugin_output_too_large",
            format!(
                "plugin output of {} bytes exceeds the {OUTPUT_CAP}-byte cap",
                out.len
            ),
        ))
    } else {
        // SAFETY: the plugin wrote `(ptr, len)` describing a buffer it owns
        // and keeps alive until we call its `free`, below; the slice does
        // not outlive `read`.
        Ok(read(unsafe {
            std::slice::from_raw_parts(out.ptr, out.len)
        }))
    };
    // SAFETY: the buffer came from this plugin and is freed exactly once.
    unsafe { (table.free)(out.ptr, out.len) };
    result
}

fn status_error(status: i32, output: &[u8]) -> PluginError {
    let reported: Option<PluginError> = serde_json::from_slice(output).ok();
    match (status, reported) {
        (STATUS_PANIC, Some(e)) => {
            PluginError::new("plugin_panic", format!("plugin panicked: {}", e.message))
        }
        (STATUS_PANIC, None) => PluginError::new("plugin_panic", "plugin panicked"),
        (STATUS_ERROR | STATUS_BAD_INPUT, Some(e)) => e,
        (STATUS_ERROR | STATUS_BAD_INPUT, None) => PluginError::new(
            "plugin_error",
            "plugin refused the input without saying why",
        ),
        (other, _) => PluginError::new("plugin_bad_status", format!("unknown status code {other}")),
    }
}

/// What a manifest must satisfy before the host uses it.
pub(super) fn validate_manifest(manifest: &Manifest) -> Result<(), String> {
    let name_ok = !manifest.name.is_empty()
        && manifest
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !name_ok {
        return Err(format!(
            "name {:?} must be non-empty lowercase ASCII letters, digits, '-' or '_'",
            manifest.name
        ));
    }
    if manifest.version.is_empty() {
        return Err("version is empty".to_owned());
    }
    if manifest.operations.is_empty() {
        return Err("declares no operations".to_owned());
    }
    if manifest.regions.is_empty() {
        return Err("declares no regions (vendor hosts)".to_owned());
    }
    for region in &manifest.regions {
        super::guard::UrlParts::parse(&region.base_url)
            .map_err(|e| format!("region {:?}: {e}", region.name))?;
    }
    for key in &manifest.credentials.required {
        if !manifest.credentials.properties.contains_key(key) {
            return Err(format!("credentials: required key {key:?} has no property"));
        }
    }
    for limit in &manifest.rate_limits {
        if limit.requests == 0 || limit.per_ms == 0 {
            return Err(format!(
                "rate limit {:?} must have requests > 0 and per_ms > 0",
                limit.scope
            ));
        }
    }
    if manifest.recall_window_secs == Some(0) {
        return Err("recall_window_secs is 0; omit it when there is no window".to_owned());
    }
    Ok(())
}

impl Plugin for DynamicPlugin {
    fn manifest(&self) -> Manifest {
        self.manifest.clone()
    }

    fn prepare(&self, input: &PrepareInput) -> Result<HttpRequest, PluginError> {
        self.call(self.table.prepare, input)
    }

    fn interpret(&self, input: &InterpretInput) -> Result<Outcome, PluginError> {
        self.call(self.table.interpret, input)
    }

    fn token_request(&self, input: &TokenInput) -> Result<Option<HttpRequest>, PluginError> {
        self.call(self.table.token_request, input)
    }

    fn token_parse(&self, input: &TokenParseInput) -> Result<TokenReply, PluginError> {
        self.call(self.table.token_parse, input)
    }
}
