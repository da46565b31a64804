//! `recalld.yaml` for a test daemon: a store, plugins by path, accounts
//! against a sandbox, and one bot client allowed everything.

use std::path::{Path, PathBuf};

use crate::api::BOT_SECRET;
use crate::cdylib;

/// The library of a first-party plugin (`engagelab`, `feishu-helpdesk`, ...), built if needed.
pub fn plugin_library(plugin: &str) -> PathBuf {
    cdylib(plugin, &plugin.replace('-', "_"))
}

/// One account of the config.
pub struct Account {
    pub name: String,
    pub plugin: String,
    pub base_url: String,
    /// A YAML flow mapping, e.g. `{app_key: el-sandbox, master_secret: el-secret}`.
    pub credentials: String,
    /// More keys of the account as YAML flow-mapping entries, e.g.
    /// `concurrency: 8, rate_limit: {requests: 200, per: 1s}`; may be empty.
    pub extra: String,
}

impl Account {
    /// An account of `plugin` against the sandbox at `vendor` (`127.0.0.1:PORT`)
    /// with the sandbox's default credentials for that vendor.
    pub fn sandbox(name: &str, plugin: &str, vendor: &str) -> Account {
        let credentials = match plugin {
            "feishu-helpdesk" => {
                "{user_access_token: u-sandbox, helpdesk_id: hd-sandbox, helpdesk_token: hd-token-sandbox}"
            }
            "dingtalk" => "{appkey: ding-sandbox, appsecret: ding-secret, agent_id: 1000}",
            "engagelab" => "{app_key: el-sandbox, master_secret: el-secret}",
            "jpush" => "{app_key: jp-sandbox, master_secret: jp-secret}",
            other => panic!("no sandbox credentials for plugin {other}"),
        };
        Account {
            name: name.to_owned(),
            plugin: plugin.to_owned(),
            base_url: format!("http://{vendor}"),
            credentials: credentials.to_owned(),
            extra: String::new(),
        }
    }

    /// The same account with more keys (`concurrency: 8, ...`).
    pub fn with(mut self, extra: &str) -> Account {
        self.extra = extra.to_owned();
        self
    }

    /// The same account with other credentials.
    pub fn credentials(mut self, credentials: &str) -> Account {
        self.credentials = credentials.to_owned();
        self
    }
}

/// The config text: API on a free loopback port, `store` (`sqlite://PATH` or
/// `sqlite::memory:`), each account's plugin loaded by path, and a client
/// `e2e-bot` signing with [`BOT_SECRET`], allowed every action and tag.
pub fn config_yaml(store: &str, accounts: &[Account]) -> String {
    let mut plugins: Vec<String> = accounts.iter().map(|a| a.plugin.clone()).collect();
    plugins.sort();
    plugins.dedup();
    let paths: Vec<String> = plugins
        .iter()
        .map(|p| format!("\"{}\"", plugin_library(p).display()))
        .collect();
    let mut text = format!(
        "listen: 127.0.0.1:0\nstore: \"{store}\"\nplugins:\n  paths: [{}]\naccounts:\n",
        paths.join(", ")
    );
    for a in accounts {
        let extra = if a.extra.is_empty() {
            String::new()
        } else {
            format!(", {}", a.extra)
        };
        text.push_str(&format!(
            "  {}: {{plugin: {}, base_url: \"{}\", credentials: {}{extra}}}\n",
            a.name, a.plugin, a.base_url, a.credentials
        ));
    }
    text.push_str(&format!(
        "clients:\n  e2e-bot:\n    secrets: [\"{BOT_SECRET}\"]\n    scopes: {{actions: [recall, cancel, track, read, event], tags: [\"*\"], max_messages: 100000}}\n"
    ));
    text
}

/// A file store in `dir`.
pub fn file_store(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("recalld.db").display())
}
