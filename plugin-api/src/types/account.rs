//! A configured vendor account as a plugin sees it, and how a plugin reads
//! its base URL and credentials.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{PluginError, Region};

/// One account of a vendor, as configured, with secrets already resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// The account's name in the config, e.g. `dingtalk-main`.
    pub name: String,
    /// Overrides the manifest's regions; the host then allows this host too.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Picks one of the manifest's regions by name.
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub credentials: Map<String, Value>,
}

impl Account {
    /// The configured `base_url`, else the named region's, else the first
    /// region's, without a trailing slash.
    pub fn base_url(&self, regions: &[Region]) -> Result<String, PluginError> {
        let url = if let Some(url) = &self.base_url {
            url.as_str()
        } else if let Some(name) = &self.region {
            let region = regions.iter().find(|r| &r.name == name).ok_or_else(|| {
                let known: Vec<&str> = regions.iter().map(|r| r.name.as_str()).collect();
                PluginError::new(
                    "unknown_region",
                    format!("region {name:?} is not one of {known:?}"),
                )
            })?;
            region.base_url.as_str()
        } else {
            let region = regions
                .first()
                .ok_or_else(|| PluginError::new("no_region", "the plugin declares no region"))?;
            region.base_url.as_str()
        };
        Ok(url.trim_end_matches('/').to_owned())
    }

    /// A required string credential.
    pub fn credential_str(&self, key: &str) -> Result<&str, PluginError> {
        match self.credentials.get(key) {
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(PluginError::new(
                "bad_credentials",
                format!("credentials.{key} must be a string"),
            )),
            None => Err(PluginError::missing_credential(key)),
        }
    }

    /// A required integer credential (a JSON number or a string of digits).
    pub fn credential_i64(&self, key: &str) -> Result<i64, PluginError> {
        let bad = || {
            PluginError::new(
                "bad_credentials",
                format!("credentials.{key} must be an integer"),
            )
        };
        match self.credentials.get(key) {
            Some(Value::Number(n)) => n.as_i64().ok_or_else(bad),
            Some(Value::String(s)) => s.trim().parse().map_err(|_| bad()),
            Some(_) => Err(bad()),
            None => Err(PluginError::missing_credential(key)),
        }
    }
}
