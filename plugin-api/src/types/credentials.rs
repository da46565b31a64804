//! The credentials an account of a plugin needs, as a JSON Schema subset,
//! and the check of a configured `credentials` object against it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A JSON Schema (subset) of the `credentials` object an account needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CredentialSchema {
    #[serde(rename = "type", default = "object_type")]
    pub schema_type: String,
    #[serde(default)]
    pub properties: BTreeMap<String, CredentialProperty>,
    #[serde(default)]
    pub required: Vec<String>,
}

fn object_type() -> String {
    "object".to_owned()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredentialProperty {
    #[serde(rename = "type")]
    pub value_type: CredentialType,
    #[serde(default)]
    pub description: String,
    /// JSON Schema's `writeOnly`: a secret, never echoed back or logged.
    #[serde(rename = "writeOnly", default)]
    pub secret: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialType {
    String,
    Integer,
}

impl CredentialSchema {
    pub fn new() -> Self {
        CredentialSchema {
            schema_type: object_type(),
            ..Default::default()
        }
    }

    /// Builder: add a property. `required` lists it in `required`.
    pub fn field(
        mut self,
        name: &str,
        value_type: CredentialType,
        required: bool,
        secret: bool,
        description: &str,
    ) -> Self {
        self.properties.insert(
            name.to_owned(),
            CredentialProperty {
                value_type,
                description: description.to_owned(),
                secret,
            },
        );
        if required {
            self.required.push(name.to_owned());
        }
        self
    }

    /// Every problem with `credentials`, as `(key, problem)` pairs: missing
    /// required keys, values of the wrong type, and keys the schema does not
    /// know. An integer field also accepts a string of digits, because
    /// `${env:...}` substitutions are strings.
    pub fn problems(&self, credentials: &Map<String, Value>) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        for key in &self.required {
            if !credentials.contains_key(key) {
                problems.push((key.clone(), "missing".to_owned()));
            }
        }
        for (key, value) in credentials {
            let Some(property) = self.properties.get(key) else {
                problems.push((key.clone(), "unknown key".to_owned()));
                continue;
            };
            let ok = match property.value_type {
                CredentialType::String => value.is_string(),
                CredentialType::Integer => {
                    value.is_i64() || value.as_str().is_some_and(|s| s.parse::<i64>().is_ok())
                }
            };
            if !ok {
                let expected = match property.value_type {
                    CredentialType::String => "a string",
                    CredentialType::Integer => "an integer",
                };
                problems.push((key.clone(), format!("must be {expected}")));
            }
        }
        problems
    }

    /// Names of the secret properties, which hosts redact everywhere.
    pub fn secret_keys(&self) -> impl Iterator<Item = &str> {
        self.properties
            .iter()
            .filter(|(_, p)| p.secret)
            .map(|(k, _)| k.as_str())
    }
}
