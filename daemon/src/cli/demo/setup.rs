//! What the demo sets up for its daemon: the bot's secret, the four first-party
//! plugins (found beside the binary) and their sandbox accounts, and the
//! OTP age rule, written as a `recalld.yaml` in a temporary directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use super::DemoArgs;
use crate::host::library_file_name;

pub(super) const BOT_SECRET: &str = "whsec_ZGVtby1ib3Qtc2VjcmV0LW5vdC1mb3ItcHJvZHVjdGlvbg==";
pub(super) const TAG: &str = "incident-42";
/// The demo's age rule. The example rule waits 10 minutes; the tour cannot.
pub(super) const OTP_RULE: &str =
    "# Recall one-time passwords shortly after sending (examples/rules/otp-expiry.yaml waits 10m).
rules:
  - name: otp-expiry
    on:
      sent: {tags: [otp]}
      after: 2s
    do: recall
";
pub(super) const OTP_AFTER_MS: i64 = 2_000;
/// Each first-party plugin and the demo's account of it.
const PLUGINS: [(&str, &str); 4] = [
    ("feishu-helpdesk", "feishu"),
    ("dingtalk", "dingtalk-main"),
    ("engagelab", "engagelab-sgp"),
    ("jpush", "jpush-main"),
];

pub(super) fn plugin_dir(args: &DemoArgs) -> anyhow::Result<PathBuf> {
    let dir = match &args.plugins {
        // Absolute: the demo's config lives in a temporary directory.
        Some(dir) => std::path::absolute(dir)?,
        None => std::env::current_exe()?
            .parent()
            .context("the binary has no directory")?
            .to_owned(),
    };
    for (plugin, _) in PLUGINS {
        let file = dir.join(library_file_name(plugin));
        if !file.is_file() {
            bail!(
                "{} is missing; build the plugins first: `cargo build --release --workspace` (or pass --plugins DIR)",
                file.display()
            );
        }
    }
    Ok(dir)
}

pub(super) fn demo_config(dir: &Path, plugins: &Path, vendor: SocketAddr) -> String {
    format!(
        r#"listen: 127.0.0.1:0
store: sqlite://{store}
plugins:
  paths: [{paths}]
accounts:
  feishu:
    plugin: feishu-helpdesk
    base_url: http://{vendor}
    credentials: {{user_access_token: u-sandbox, helpdesk_id: hd-sandbox, helpdesk_token: hd-token-sandbox}}
  dingtalk-main:
    plugin: dingtalk
    base_url: http://{vendor}
    credentials: {{appkey: ding-sandbox, appsecret: ding-secret, agent_id: 1000}}
  engagelab-sgp: {{plugin: engagelab, base_url: "http://{vendor}", credentials: {{app_key: el-sandbox, master_secret: el-secret}}}}
  jpush-main: {{plugin: jpush, base_url: "http://{vendor}", credentials: {{app_key: jp-sandbox, master_secret: jp-secret}}}}
clients:
  oncall-bot:
    secrets: ["{BOT_SECRET}"]
    scopes: {{actions: [recall, cancel, track, read], tags: ["incident-*", "otp"], max_messages: 5000}}
rules:
  files: ["{rules}/*.yaml"]
"#,
        store = dir.join("recalld.db").display(),
        rules = dir.join("rules").display(),
        paths = PLUGINS
            .iter()
            .map(|(p, _)| format!("\"{}\"", plugins.join(library_file_name(p)).display()))
            .collect::<Vec<_>>()
            .join(", "),
    )
}
