//! What the host asks of a plugin: an operation kind on one sent message.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the daemon can ask a plugin to do to a sent message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    /// Take the message back from its recipients.
    Recall,
    /// Stop a message that is scheduled but not yet (fully) sent.
    Cancel,
    /// Correct the message's content where the vendor allows it.
    Update,
}

impl OperationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::Recall => "recall",
            OperationKind::Cancel => "cancel",
            OperationKind::Update => "update",
        }
    }
}

impl fmt::Display for OperationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A sent message, as recorded in the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub account: String,
    /// The vendor's id for the message (`notification_id`, `task_id`, `msg_id`).
    pub remote_id: String,
    pub sent_at_ms: i64,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub meta: Value,
}

/// One operation on one message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    pub kind: OperationKind,
    pub message: Message,
    /// Operation-specific parameters, e.g. the new content for `update`.
    #[serde(default)]
    pub params: Value,
}
