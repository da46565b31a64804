//! The JSON payloads that cross the ABI, as serde types, one file per
//! concern. Every type is re-exported here and from the crate root, so its
//! public path (`plugin_api::Manifest`, ...) does not depend on this layout.
//!
//! Times are Unix epoch milliseconds (`*_ms`) or whole seconds (`*_secs`).

mod account;
mod calls;
mod credentials;
mod error;
mod http;
mod manifest;
mod operation;
mod outcome;

pub use account::Account;
pub use calls::{InterpretInput, PrepareInput, TokenInput, TokenParseInput, TokenReply};
pub use credentials::{CredentialProperty, CredentialSchema, CredentialType};
pub use error::PluginError;
pub use http::{Header, HttpRequest, HttpResponse};
pub use manifest::{Manifest, RateLimit, Region};
pub use operation::{Message, Operation, OperationKind};
pub use outcome::Outcome;

#[cfg(test)]
mod tests;
