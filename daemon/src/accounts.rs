//! Accounts as the dispatcher uses them: a config entry joined with its
//! loaded plugin, its credentials checked against the plugin's schema, its
//! allowed hosts and its effective rate limits.

use std::collections::BTreeMap;
use std::sync::Arc;

use plugin_api::{Account, OperationKind, RateLimit};

use crate::config::{AccountConfig, Config, ConfigError, Redacted};
use crate::host::{HostGuard, LoadedPlugin, PluginRegistry};
use crate::selector::Selector;
use crate::store::{Store, StoreError};

/// One account, ready for the dispatcher. `Debug` shows no credential value.
#[derive(Clone)]
pub struct AccountRuntime {
    pub name: String,
    pub plugin: LoadedPlugin,
    /// What the plugin sees: name, base_url, region, resolved credentials.
    pub account: Account,
    pub guard: HostGuard,
    /// The manifest's limits with the config's override applied to `*`.
    pub limits: Vec<RateLimit>,
    /// Vendor calls in flight at once.
    pub concurrency: u32,
    /// Credential values marked secret by the plugin, for redaction.
    pub secrets: Vec<String>,
}

impl std::fmt::Debug for AccountRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRuntime")
            .field("name", &self.name)
            .field("plugin", &self.plugin)
            .field("base_url", &self.account.base_url)
            .field("region", &self.account.region)
            .field("credentials", &Redacted(&self.account.credentials))
            .field("guard", &self.guard)
            .field("limits", &self.limits)
            .field("concurrency", &self.concurrency)
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .finish()
    }
}

pub type Accounts = BTreeMap<String, Arc<AccountRuntime>>;

/// Joins accounts with plugins. Every problem is reported, at the account's
/// location in the config.
pub fn build_accounts(
    config: &Config,
    registry: &PluginRegistry,
) -> Result<Accounts, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut accounts = BTreeMap::new();
    for account in config.accounts.values() {
        match build_one(config, account, registry) {
            Ok(runtime) => {
                accounts.insert(account.name.clone(), Arc::new(runtime));
            }
            Err(messages) => errors.extend(messages.into_iter().map(|message| ConfigError {
                file: config.path.clone(),
                line: account.location.0,
                column: account.location.1,
                message,
            })),
        }
    }
    if errors.is_empty() {
        Ok(accounts)
    } else {
        Err(errors)
    }
}

/// The problems [`build_accounts`] would report, for `recalld check`.
pub fn check_accounts(config: &Config, registry: &PluginRegistry) -> Vec<ConfigError> {
    build_accounts(config, registry).err().unwrap_or_default()
}

fn build_one(
    config: &Config,
    account: &AccountConfig,
    registry: &PluginRegistry,
) -> Result<AccountRuntime, Vec<String>> {
    let name = &account.name;
    let Some(plugin) = registry.get(&account.plugin) else {
        let loaded = registry.names().join(", ");
        return Err(vec![format!(
            "account {name}: plugin {:?} is not loaded (loaded: {}); check `plugins` in {}",
            account.plugin,
            if loaded.is_empty() { "none" } else { &loaded },
            config.path.display()
        )]);
    };
    let manifest = &plugin.manifest;
    let mut problems: Vec<String> = manifest
        .credentials
        .problems(&account.credentials)
        .into_iter()
        .map(|(key, problem)| match problem.as_str() {
            "missing" => format!("account {name}: missing credentials.{key}"),
            _ => format!("account {name}: credentials.{key}: {problem}"),
        })
        .collect();
    if let Some(region) = &account.region
        && !manifest.regions.iter().any(|r| &r.name == region)
    {
        let known: Vec<&str> = manifest.regions.iter().map(|r| r.name.as_str()).collect();
        problems.push(format!(
            "account {name}: region {region:?} is not one of {}",
            known.join(", ")
        ));
    }
    let plugin_account = Account {
        name: name.clone(),
        base_url: account.base_url.clone(),
        region: account.region.clone(),
        credentials: account.credentials.clone(),
    };
    let guard =
        HostGuard::new(manifest, &plugin_account).map_err(|e| vec![format!("account {name}: {e}")]);
    if !problems.is_empty() {
        return Err(problems);
    }
    let guard = guard?;
    let mut limits: Vec<RateLimit> = manifest.rate_limits.clone();
    if let Some(limit) = &account.rate_limit {
        limits.retain(|l| l.scope != "*");
        limits.push(RateLimit {
            scope: "*".into(),
            requests: limit.requests,
            per_ms: u64::try_from(limit.per.as_millis()).unwrap_or(u64::MAX),
        });
    }
    let secrets = manifest
        .credentials
        .secret_keys()
        .filter_map(|key| {
            account
                .credentials
                .get(key)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        })
        .filter(|v| !v.is_empty())
        .collect();
    Ok(AccountRuntime {
        name: name.clone(),
        plugin: plugin.clone(),
        account: plugin_account,
        guard,
        limits,
        concurrency: account.concurrency.unwrap_or(config.dispatch.concurrency),
        secrets,
    })
}

/// The accounts among `names` whose plugin cannot do `action`, with the plugin name.
pub fn unsupported<'a>(
    accounts: &'a Accounts,
    names: impl Iterator<Item = &'a str>,
    action: OperationKind,
) -> Vec<String> {
    names
        .filter_map(|name| accounts.get(name))
        .filter(|account| !account.plugin.manifest.operations.contains(&action))
        .map(|account| format!("{} (plugin {})", account.name, account.plugin.manifest.name))
        .collect()
}

/// The accounts `selector` reaches whose plugin cannot do `action` (see
/// [`unsupported`]): the named ones, or, when it names none, those whose
/// messages it matches. Looks at the ledger only when some configured
/// account lacks the action.
pub async fn unsupported_reached(
    store: &dyn Store,
    accounts: &Accounts,
    selector: &Selector,
    action: OperationKind,
) -> Result<Vec<String>, StoreError> {
    if !selector.accounts.is_empty() {
        let named = selector.accounts.iter().map(String::as_str);
        return Ok(unsupported(accounts, named, action));
    }
    if unsupported(accounts, accounts.keys().map(String::as_str), action).is_empty() {
        return Ok(Vec::new());
    }
    let preview = store.preview(selector.clone(), 0).await?;
    let matched = preview.per_account.keys().map(String::as_str);
    Ok(unsupported(accounts, matched, action))
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_output_shows_no_credential_value() {
        // The API test kit's accounts have tokens t-ding and t-feishu.
        let h = crate::api::tests::harness();
        let shown = format!("{:?}", h.state.accounts());
        assert!(shown.contains("\"token\": ***"), "{shown}");
        assert!(
            !shown.contains("t-ding") && !shown.contains("t-feishu"),
            "{shown}"
        );
        let config = format!("{:?}", h.state.config());
        assert!(!config.contains("t-ding"), "{config}");
    }
}
