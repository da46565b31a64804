//! `recalld check`: every problem, each where it is written.

use std::path::Path;

use super::check;
use crate::config::ConfigError;

/// `name:line:col: message` with `dir` stripped from the file.
fn located(dir: &Path, errors: &[ConfigError]) -> Vec<String> {
    errors
        .iter()
        .map(|e| {
            let file = e.file.strip_prefix(dir).unwrap_or(&e.file);
            format!("{}:{}:{}: {}", file.display(), e.line, e.column, e.message)
        })
        .collect()
}

#[test]
fn secrets_plugins_and_globs_are_located_and_config_errors_do_not_hide_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::write(
        dir.path().join("rules/main.yaml"),
        "rules:\n  - name: r\n    on: {event: x}\n    select: {tags: [a]}\n    do: delete\n",
    )
    .unwrap();
    let config = dir.path().join("recalld.yaml");
    std::fs::write(
        &config,
        r#"listen: nowhere
store: "sqlite::memory:"
plugins:
  dir: no-such-dir
  paths: [no-such-lib.so]
accounts: {}
clients:
  bot:
    secrets: ["whsec_dGVzdA==", "${env:RECALLD_TEST_CHECK_UNSET}"]
    scopes: {actions: [recall]}
rules: {files: ["rules/*.yaml", "rules/[.yaml"]}
"#,
    )
    .unwrap();
    let checked = check(&config);
    let errors = located(dir.path(), &checked.errors);
    let expected = [
        ("recalld.yaml:1:9: ", "listen"),
        ("recalld.yaml:4:8: ", "no-such-dir"),
        ("recalld.yaml:5:11: ", "no-such-lib.so"),
        ("recalld.yaml:9:33: ", "RECALLD_TEST_CHECK_UNSET"),
        ("recalld.yaml:11:33: ", "not a glob"),
        ("rules/main.yaml:5:9: ", "not an action"),
    ];
    crate::config::assert_located(&errors, &expected);
}

#[test]
fn a_relative_file_secret_is_read_beside_the_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    std::fs::write(dir.path().join("secrets/bot"), "whsec_dGVzdA==\n").unwrap();
    let config = dir.path().join("recalld.yaml");
    std::fs::write(
        &config,
        "listen: 127.0.0.1:0\nstore: \"sqlite::memory:\"\naccounts: {}\nclients:\n  bot:\n    secrets: [\"${file:secrets/bot}\"]\n    scopes: {actions: [recall]}\n",
    )
    .unwrap();
    // The working directory is the crate's, not the config's folder.
    assert!(!Path::new("secrets/bot").exists());
    let checked = check(&config);
    assert!(checked.errors.is_empty(), "{:#?}", checked.errors);
}

#[test]
fn two_clients_sharing_a_literal_secret_are_located_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("recalld.yaml");
    std::fs::write(
        &config,
        r#"listen: 127.0.0.1:0
store: "sqlite::memory:"
accounts: {}
clients:
  oncall-bot:
    secrets: ["whsec_dGVzdA=="]
    scopes: {actions: [recall]}
  reader:
    secrets: ["whsec_b3duLWtleQ==", "whsec_dGVzdA=="]
    scopes: {actions: [read]}
"#,
    )
    .unwrap();
    let checked = check(&config);
    let errors = located(dir.path(), &checked.errors);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].starts_with(
            "recalld.yaml:9:37: client reader: secrets[1] is the same key as client oncall-bot's secrets[0] (line 6)"
        ),
        "{}",
        errors[0]
    );
    assert!(!errors[0].contains("dGVzdA"), "{}", errors[0]);
}
