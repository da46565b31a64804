//! Raw config to typed config, collecting every error with its location.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_saphyr::Spanned;

use super::raw::{RawAccount, RawClient, RawConfig};
use super::*;

fn resolve_path(base: &Path, text: &str) -> PathBuf {
    let path = Path::new(text);
    if path.is_absolute() {
        path.to_owned()
    } else {
        base.join(path)
    }
}

/// Where a value is written: (line, column).
fn spot<T>(value: &Spanned<T>) -> (u64, u64) {
    (value.referenced.line(), value.referenced.column())
}

/// A duration of at least `min`; `default` when not given.
fn duration_at(
    file: &Path,
    value: &Option<Spanned<String>>,
    (default, min): (Duration, Duration),
    key: &str,
    errors: &mut Vec<ConfigError>,
) -> Duration {
    let Some(spanned) = value else {
        return default;
    };
    let message = match parse_duration(&spanned.value) {
        Ok(d) if d >= min => return d,
        Ok(_) if min == POSITIVE => format!("{key}: must be longer than 0"),
        Ok(_) => format!(
            "{key}: must be at least {}",
            humantime::format_duration(min)
        ),
        Err(e) => format!("{key}: {e}"),
    };
    errors.push(ConfigError::at(file, spanned.referenced, message));
    default
}

/// Any positive duration.
const POSITIVE: Duration = Duration::from_nanos(1);

pub(super) fn typed(
    file: &Path,
    base: &Path,
    raw: RawConfig,
    errors: &mut Vec<ConfigError>,
) -> Config {
    let listen = raw.listen.value.parse().unwrap_or_else(|_| {
        errors.push(ConfigError::at(
            file,
            raw.listen.referenced,
            format!(
                "listen: {:?} is not an address; write e.g. 127.0.0.1:8787",
                raw.listen.value
            ),
        ));
        SocketAddr::from(([127, 0, 0, 1], 8787))
    });
    let store = match raw.store.value.as_str() {
        "sqlite::memory:" => StoreUrl::SqliteMemory,
        s => match s.strip_prefix("sqlite://") {
            Some(p) if !p.is_empty() => StoreUrl::Sqlite(resolve_path(base, p)),
            _ => {
                errors.push(ConfigError::at(
                    file,
                    raw.store.referenced,
                    format!("store: {s:?} is not supported; write sqlite://PATH or sqlite::memory: (postgres:// is planned)"),
                ));
                StoreUrl::SqliteMemory
            }
        },
    };
    let plugins = raw
        .plugins
        .map_or_else(PluginSources::default, |p| PluginSources {
            dir_location: p.dir.as_ref().map_or((0, 0), spot),
            dir: p.dir.map(|d| resolve_path(base, &d.value)),
            paths: p
                .paths
                .iter()
                .map(|s| resolve_path(base, &s.value))
                .collect(),
            path_locations: p.paths.iter().map(spot).collect(),
        });
    let accounts = raw
        .accounts
        .into_iter()
        .map(|(name, spanned)| {
            let account = account(file, &name, spanned, errors);
            (name, account)
        })
        .collect();
    let clients = raw
        .clients
        .into_iter()
        .map(|(name, spanned)| {
            let client = client(file, &name, spanned, errors);
            (name, client)
        })
        .collect();
    let rules = RulesConfig {
        files: raw.rules.as_ref().map_or_else(Vec::new, |r| {
            r.files
                .iter()
                .map(|f| {
                    let glob = resolve_path(base, &f.value).to_string_lossy().into_owned();
                    if let Err(e) = glob::Pattern::new(&glob) {
                        let message = format!("rules.files: {:?} is not a glob: {e}", f.value);
                        errors.push(ConfigError::at(file, f.referenced, message));
                    }
                    glob
                })
                .collect()
        }),
        watch_interval: duration_at(
            file,
            &raw.rules.as_ref().and_then(|r| r.watch_interval.clone()),
            // Polling faster only burns CPU reading the rule files.
            (Duration::from_secs(1), Duration::from_millis(100)),
            "rules.watch_interval",
            errors,
        ),
    };
    let api = raw.api.map_or(
        ApiConfig {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            timestamp_tolerance: Duration::from_secs(300),
        },
        |api| ApiConfig {
            max_body_bytes: api.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
            timestamp_tolerance: duration_at(
                file,
                &api.timestamp_tolerance,
                (Duration::from_secs(300), POSITIVE),
                "api.timestamp_tolerance",
                errors,
            ),
        },
    );
    let dispatch = match raw.dispatch {
        None => DispatchConfig::default(),
        Some(d) => DispatchConfig {
            max_attempts: d.max_attempts.unwrap_or(8).max(1),
            request_timeout: duration_at(
                file,
                &d.request_timeout,
                (Duration::from_secs(10), POSITIVE),
                "dispatch.request_timeout",
                errors,
            ),
            concurrency: d.concurrency.unwrap_or(64).max(1),
            shutdown_grace: duration_at(
                file,
                &d.shutdown_grace,
                (Duration::from_secs(10), Duration::ZERO),
                "dispatch.shutdown_grace",
                errors,
            ),
        },
    };
    Config {
        path: file.to_owned(),
        listen,
        store,
        plugins,
        accounts,
        clients,
        rules,
        api,
        dispatch,
    }
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            max_attempts: 8,
            request_timeout: Duration::from_secs(10),
            concurrency: 64,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

fn account(
    file: &Path,
    name: &str,
    spanned: Spanned<RawAccount>,
    errors: &mut Vec<ConfigError>,
) -> AccountConfig {
    let location = (spanned.referenced.line(), spanned.referenced.column());
    let raw = spanned.value;
    if let Some(url) = &raw.base_url
        && let Err(e) = crate::host::UrlParts::parse(&url.value)
    {
        errors.push(ConfigError::at(
            file,
            url.referenced,
            format!("account {name}: base_url: {e}"),
        ));
    }
    let rate_limit = raw.rate_limit.map(|r| {
        let per = parse_duration(&r.value.per.value).unwrap_or_else(|e| {
            errors.push(ConfigError::at(
                file,
                r.value.per.referenced,
                format!("account {name}: rate_limit.per: {e}"),
            ));
            Duration::from_secs(1)
        });
        if r.value.requests == 0 || per.is_zero() {
            errors.push(ConfigError::at(
                file,
                r.referenced,
                format!(
                    "account {name}: rate_limit must allow at least 1 request per non-zero period"
                ),
            ));
        }
        RateLimitOverride {
            requests: r.value.requests.max(1),
            per: per.max(Duration::from_millis(1)),
        }
    });
    let concurrency = raw.concurrency.map(|c| {
        if c.value == 0 {
            errors.push(ConfigError::at(
                file,
                c.referenced,
                format!("account {name}: concurrency must be at least 1"),
            ));
        }
        c.value.max(1)
    });
    AccountConfig {
        name: name.to_owned(),
        plugin: raw.plugin.value,
        base_url: raw.base_url.map(|u| u.value),
        region: raw.region.map(|r| r.value),
        credentials: raw
            .credentials
            .into_iter()
            .map(|(k, v)| (k, v.value))
            .collect(),
        rate_limit,
        concurrency,
        location,
    }
}

fn client(
    file: &Path,
    name: &str,
    spanned: Spanned<RawClient>,
    errors: &mut Vec<ConfigError>,
) -> ClientConfig {
    let raw: RawClient = spanned.value;
    let scheme = match raw.scheme.as_ref().map(|s| s.value.as_str()) {
        None | Some("standard-webhooks") => Scheme::StandardWebhooks,
        Some("github") => Scheme::Github,
        Some(other) => {
            let at = raw
                .scheme
                .as_ref()
                .map_or(spanned.referenced, |s| s.referenced);
            errors.push(ConfigError::at(
                file,
                at,
                format!(
                    "client {name}: scheme {other:?} is unknown; write standard-webhooks or github"
                ),
            ));
            Scheme::StandardWebhooks
        }
    };
    if raw.secrets.is_empty() {
        errors.push(ConfigError::at(
            file,
            spanned.referenced,
            format!("client {name}: needs at least one secret"),
        ));
    }
    for secret in &raw.secrets {
        let literal = !secret.value.contains("${");
        if scheme == Scheme::StandardWebhooks
            && literal
            && crate::auth::decode_whsec(&secret.value).is_err()
        {
            errors.push(ConfigError::at(
                file,
                secret.referenced,
                format!("client {name}: a standard-webhooks secret must be whsec_<base64>"),
            ));
        }
    }
    let actions = raw
        .scopes
        .actions
        .iter()
        .filter_map(|a| {
            let action = Action::parse(&a.value);
            if action.is_none() {
                errors.push(ConfigError::at(file, a.referenced, format!("client {name}: unknown action {:?}; one of recall, cancel, update, track, event, read", a.value)));
            }
            if action == Some(Action::Read) && scheme == Scheme::Github {
                errors.push(ConfigError::at(
                    file,
                    a.referenced,
                    format!("client {name}: a github-scheme client may not have the read action: its signature covers the body only, so a signed GET (empty body) would stay valid forever; use scheme standard-webhooks for reads"),
                ));
            }
            action
        })
        .collect();
    let events = patterns(file, name, "event pattern", &raw.scopes.events, errors);
    let tags = patterns(file, name, "tag pattern", &raw.scopes.tags, errors);
    ClientConfig {
        name: name.to_owned(),
        secret_locations: raw.secrets.iter().map(spot).collect(),
        secrets: raw
            .secrets
            .into_iter()
            .map(|s| Secret::new(s.value))
            .collect(),
        scheme,
        scopes: Scopes {
            actions,
            tags,
            max_messages: raw.scopes.max_messages.unwrap_or(DEFAULT_MAX_MESSAGES),
            all: raw.scopes.all,
            events,
        },
    }
}

fn patterns(
    file: &Path,
    name: &str,
    what: &str,
    values: &[Spanned<String>],
    errors: &mut Vec<ConfigError>,
) -> Vec<glob::Pattern> {
    values
        .iter()
        .filter_map(|t| {
            glob::Pattern::new(&t.value)
                .map_err(|e| {
                    errors.push(ConfigError::at(
                        file,
                        t.referenced,
                        format!("client {name}: {what} {:?}: {e}", t.value),
                    ))
                })
                .ok()
        })
        .collect()
}
