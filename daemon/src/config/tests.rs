use super::*;

/// The example from the issue, verbatim: it must parse.
const EXAMPLE: &str = r#"listen: 127.0.0.1:8787
store: sqlite://recalld.db
plugins:
  dir: target/release
accounts:
  feishu-helpdesk:
    plugin: feishu-helpdesk
    base_url: http://127.0.0.1:8900
    credentials: {user_access_token: "${env:FEISHU_USER_TOKEN}", helpdesk_id: hd-sandbox, helpdesk_token: "${file:/run/secrets/hd}"}
  dingtalk-main:
    plugin: dingtalk
    base_url: http://127.0.0.1:8900
    credentials: {appkey: ding-sandbox, appsecret: ding-secret, agent_id: 1000}
    rate_limit: {requests: 40, per: 1s}
  engagelab-sgp: {plugin: engagelab, base_url: http://127.0.0.1:8900, credentials: {app_key: el-sandbox, master_secret: el-secret}}
  jpush-main: {plugin: jpush, base_url: http://127.0.0.1:8900, credentials: {app_key: jp-sandbox, master_secret: jp-secret}}
clients:
  oncall-bot:
    secrets: ["${env:ONCALL_BOT_SECRET}"]
    scheme: standard-webhooks        # or: github
    scopes: {actions: [recall, cancel], tags: ["incident-*"], max_messages: 5000}
rules:
  files: ["rules/*.yaml"]
"#;

#[test]
fn the_documented_example_parses() {
    let config = Config::parse(Path::new("/etc/recalld/recalld.yaml"), EXAMPLE).unwrap();
    assert_eq!(config.listen, "127.0.0.1:8787".parse().unwrap());
    assert!(
        matches!(&config.store, StoreUrl::Sqlite(p) if p == Path::new("/etc/recalld/recalld.db"))
    );
    assert_eq!(
        config.plugins.dir.as_deref(),
        Some(Path::new("/etc/recalld/target/release"))
    );
    assert_eq!(config.accounts.len(), 4);
    let ding = &config.accounts["dingtalk-main"];
    assert_eq!(ding.plugin, "dingtalk");
    assert_eq!(ding.credentials["agent_id"], serde_json::json!(1000));
    assert_eq!(
        ding.rate_limit,
        Some(RateLimitOverride {
            requests: 40,
            per: Duration::from_secs(1)
        })
    );
    let bot = &config.clients["oncall-bot"];
    assert_eq!(bot.scheme, Scheme::StandardWebhooks);
    assert_eq!(bot.scopes.actions, vec![Action::Recall, Action::Cancel]);
    assert_eq!(bot.scopes.max_messages, 5000);
    assert!(bot.scopes.tags[0].matches("incident-42"));
    assert_eq!(
        config.rules.files,
        vec!["/etc/recalld/rules/*.yaml".to_owned()]
    );
}

#[test]
fn unknown_key_is_reported_with_line_and_column() {
    let text = "listen: 127.0.0.1:1\nstore: \"sqlite::memory:\"\nlisten_port: 9\n";
    let errors = Config::parse(Path::new("c.yaml"), text).unwrap_err();
    let first = &errors.0[0];
    assert_eq!((first.line, first.file.as_path()), (3, Path::new("c.yaml")));
    assert!(first.message.contains("listen_port"), "{first}");
    assert!(first.to_string().starts_with("c.yaml:3:"), "{first}");
}

#[test]
fn all_semantic_errors_are_reported_at_once_in_file_order() {
    let text = r#"listen: nowhere
store: mysql://x
accounts:
  a:
    plugin: dingtalk
    base_url: ftp://x
    rate_limit: {requests: 40, per: soon}
clients:
  bot:
    secrets: ["not-whsec"]
    scheme: carrier-pigeon
    scopes: {actions: [recall, obliterate]}
"#;
    let errors = Config::parse(Path::new("c.yaml"), text).unwrap_err().0;
    let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
    assert_eq!(
        lines,
        vec![1, 2, 6, 7, 10, 11, 12],
        "{}",
        ConfigErrors(errors.clone())
    );
    let text = ConfigErrors(errors).to_string();
    for needle in [
        "listen",
        "store",
        "base_url",
        "rate_limit.per",
        "whsec_",
        "carrier-pigeon",
        "obliterate",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}

#[test]
fn a_github_scheme_client_may_not_read() {
    let text = r#"listen: 127.0.0.1:1
store: "sqlite::memory:"
clients:
  hub:
    secrets: ["s"]
    scheme: github
    scopes: {actions: [recall,
                       read]}
"#;
    let errors = Config::parse(Path::new("c.yaml"), text).unwrap_err().0;
    assert_eq!(errors.len(), 1, "{}", ConfigErrors(errors.clone()));
    let error = errors[0].to_string();
    assert!(error.starts_with("c.yaml:8:24: client hub:"), "{error}");
    assert!(
        error.contains("read") && error.contains("standard-webhooks"),
        "{error}"
    );
    let writer = text.replace(",\n                       read]", "]");
    Config::parse(Path::new("c.yaml"), &writer).unwrap();
}

#[test]
fn secrets_resolve_from_env_and_file_and_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("hd");
    std::fs::write(&secret_file, "hd-token\n").unwrap();
    let text = format!(
        "listen: 127.0.0.1:1\nstore: \"sqlite::memory:\"\naccounts:\n  f:\n    plugin: feishu-helpdesk\n    credentials: {{helpdesk_token: \"${{file:{}}}\", user_access_token: \"${{env:RECALLD_TEST_UNSET_VAR}}\"}}\n",
        secret_file.display()
    );
    let mut config = Config::parse(Path::new("c.yaml"), &text).unwrap();
    let errors = config.resolve_secrets().unwrap_err().0;
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].message.contains("credentials.user_access_token"),
        "{}",
        errors[0]
    );
    assert!(errors[0].message.contains("RECALLD_TEST_UNSET_VAR"));
    assert_eq!(
        config.accounts["f"].credentials["helpdesk_token"],
        "hd-token"
    );
}

#[test]
fn a_zero_watch_interval_or_timeout_is_refused_where_it_is_written() {
    let text = "listen: 127.0.0.1:1\nstore: \"sqlite::memory:\"\nrules: {files: [r.yaml], watch_interval: 0s}\napi: {timestamp_tolerance: 0s}\ndispatch:\n  request_timeout: 0s\n  shutdown_grace: 0s\n";
    let errors = Config::parse(Path::new("c.yaml"), text).unwrap_err().0;
    let found: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        found,
        [
            "c.yaml:3:42: rules.watch_interval: must be at least 100ms",
            "c.yaml:4:28: api.timestamp_tolerance: must be longer than 0",
            "c.yaml:6:20: dispatch.request_timeout: must be longer than 0",
        ],
    );
    // A grace of 0 stops at once; a poll every 100 ms is allowed.
    let text = "listen: 127.0.0.1:1\nstore: \"sqlite::memory:\"\nrules: {files: [r.yaml], watch_interval: 100ms}\ndispatch: {shutdown_grace: 0s}\n";
    let config = Config::parse(Path::new("c.yaml"), text).unwrap();
    assert_eq!(config.rules.watch_interval, Duration::from_millis(100));
    assert_eq!(config.dispatch.shutdown_grace, Duration::ZERO);
}

#[test]
fn the_example_config_loads_the_first_party_plugins_only() {
    let text = include_str!("../../../examples/recalld.yaml");
    let config = Config::parse(Path::new("/repo/examples/recalld.yaml"), text).unwrap();
    // A `dir` of target/release would load the test fixtures built there too.
    assert_eq!(config.plugins.dir, None);
    let names: Vec<String> = (config.plugins.paths.iter())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "libfeishu_helpdesk.so",
            "libdingtalk.so",
            "libengagelab.so",
            "libjpush.so"
        ]
    );
    assert!(config.plugins.paths[0].starts_with("/repo/examples/../target/release"));
}

/// Two clients with one key: `authenticate` would credit a request signed
/// with it to whichever client it tries first, with that client's scopes.
#[test]
fn two_clients_sharing_a_key_are_refused_naming_both_and_not_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    // The same key as bot's first secret, written without base64 padding.
    std::fs::write(dir.path().join("ops-secret"), "whsec_c2hhcmVkLWtleQ\n").unwrap();
    // hub's GitHub secret is bot's key as bytes ("shared-key"), but the
    // schemes differ, and so do the headers that pick a scheme: no clash.
    let text = r#"listen: 127.0.0.1:1
store: "sqlite::memory:"
clients:
  bot:
    secrets: ["whsec_c2hhcmVkLWtleQ==", "whsec_Ym90LW9ubHk=", "whsec_Ym90LW9ubHk="]
    scopes: {actions: [read]}
  hub:
    secrets: ["shared-key"]
    scheme: github
    scopes: {actions: [recall]}
  ops:
    secrets: ["${file:ops-secret}"]
    scopes: {actions: [recall], all: true}
  relay:
    secrets: ["shared-key"]
    scheme: github
    scopes: {actions: [recall]}
"#;
    let path = dir.path().join("recalld.yaml");
    let mut config = Config::parse(&path, text).unwrap();
    let errors = config.resolve_secrets().unwrap_err().0;
    let found: Vec<String> = errors
        .iter()
        .map(|e| format!("{}:{}: {}", e.line, e.column, e.message))
        .collect();
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found[0].starts_with(
            "12:15: client ops: secrets[0] is the same key as client bot's secrets[0] (line 5)"
        ),
        "{}",
        found[0]
    );
    assert!(
        found[1].starts_with(
            "15:15: client relay: secrets[0] is the same key as client hub's secrets[0] (line 8)"
        ),
        "{}",
        found[1]
    );
    for error in &found {
        assert!(error.contains("give each client its own secret"), "{error}");
        for secret in ["c2hhcmVk", "shared-key"] {
            assert!(!error.contains(secret), "{error} shows {secret}");
        }
    }
}

#[test]
fn clients_with_keys_of_their_own_resolve() {
    let text = r#"listen: 127.0.0.1:1
store: "sqlite::memory:"
clients:
  bot: {secrets: ["whsec_c2hhcmVkLWtleQ==", "whsec_c2hhcmVkLWtleQ=="], scopes: {actions: [read]}}
  ops: {secrets: ["whsec_Ym90LW9ubHk="], scopes: {actions: [recall]}}
  hub: {secrets: ["shared-key"], scheme: github, scopes: {actions: [recall]}}
"#;
    let mut config = Config::parse(Path::new("c.yaml"), text).unwrap();
    config.resolve_secrets().unwrap();
}
