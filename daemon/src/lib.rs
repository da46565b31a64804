//! recalld: takes back messages that were already sent, across vendors.
//!
//! The library behind the `recalld` binary. Its layers, top-down:
//! - [`cli`]: the commands of the binary.
//! - [`config`]: `recalld.yaml`, parsed then typed, located errors.
//! - [`auth`]: signature schemes of the webhook API.
//! - [`host`]: the plugin host: loading, ABI checks, containment, conformance.
//!
//! Unsafe code is confined to `host::loader` and `host::dynamic` (the ABI
//! boundary); the rest of the crate may not use it.
#![deny(unsafe_code)]

pub mod accounts;
pub mod api;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dispatch;
#[allow(unsafe_code)]
pub mod host;
pub mod metrics;
pub mod rules;
pub mod scope;
pub mod selector;
pub mod server;
pub mod store;
