//! Helpers shared by recalld's first-party vendor plugins.
//!
//! Every first-party plugin is a sans-IO translator (see `plugin-api`), and
//! they meet the same chores: HTTP Basic auth (EngageLab, JPush), the
//! `{"error": {"code", "message"}}` envelope (EngageLab, JPush), a vendor
//! error-code table mapped to an [`Outcome`](plugin_api::Outcome), wait hints
//! from `Retry-After` and vendor headers, answers that fit no table, and
//! keeping credentials out of every message, and the answers of the
//! `DELETE …/{msg_id}` recall that EngageLab and JPush share
//! ([`WithdrawAnswers`]). Those live here, once.
//!
//! The crate does no IO and reads no clock: `now_ms` is always passed in.
//!
//! [`samples`] holds awkward vendor answers for the plugins' tests, and
//! [`abi_check`] drives a plugin through its C function table, the way the
//! host does; plugins use it in their ABI round-trip tests. It holds the only
//! `unsafe` code of this crate.

#![deny(unsafe_code)]

pub mod abi_check;
mod answer;
mod auth;
mod errors;
mod id;
mod retry;
pub mod samples;
mod secrets;
mod withdraw;

pub use answer::{BODY_PREFIX_CHARS, body_prefix, unexpected, unexpected_after};
pub use auth::{base64_pair, basic_auth};
pub use errors::{Class, ErrorTable, VendorError, error_envelope, json_code, vendor_outcome};
pub use id::remote_id;
pub use retry::{MAX_WAIT_MS, http_date_ms, retry_after_ms, seconds_ms, wait_hint_ms};
pub use secrets::Secrets;
pub use withdraw::WithdrawAnswers;
