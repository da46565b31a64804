//! A plugin's refusal of its input.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::OperationKind;

/// A plugin's refusal, carried across the ABI as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginError {
    /// Machine-readable, e.g. `missing_credential`, `invalid_field`.
    pub code: String,
    /// For people: names the field or value at fault.
    pub message: String,
}

impl PluginError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        PluginError {
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn missing_credential(key: &str) -> Self {
        PluginError::new("missing_credential", format!("missing credentials.{key}"))
    }

    pub fn unsupported(kind: OperationKind) -> Self {
        PluginError::new(
            "unsupported_operation",
            format!("this plugin cannot {kind}"),
        )
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for PluginError {}
