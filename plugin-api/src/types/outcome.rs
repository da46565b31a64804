//! What became of an operation, as the plugin reads the vendor's answer.

use serde::{Deserialize, Serialize};

/// What became of one operation, as the plugin reads the vendor's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The vendor did it.
    Done,
    /// The vendor says it was already done (e.g. recalled before): counts as done.
    AlreadyDone,
    /// The vendor says the message is past its recall window.
    Expired {
        #[serde(default)]
        message: String,
    },
    /// Try again, no sooner than `after_ms` from now if given.
    Retry {
        #[serde(default)]
        after_ms: Option<u64>,
        code: String,
        message: String,
    },
    /// The token was refused: obtain a new one, then retry.
    RefreshToken { code: String, message: String },
    /// It did not work. `permanent` failures are not retried.
    Failed {
        code: String,
        message: String,
        permanent: bool,
    },
}
