//! Each first-party plugin through the real host and dispatcher against the
//! vendor sandbox (issue 4): the daemon and the sandbox run in the test's
//! process, on loopback ports, and talk HTTP to each other.
//!
//! One file per vendor; `setup` starts the two and drives them.

mod dingtalk;
mod engagelab;
mod feishu;
mod jpush;
mod setup;
