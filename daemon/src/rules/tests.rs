//! Loading and validating rule files, and the pure decisions on loaded rules.

use std::path::Path;
use std::time::Duration;

use plugin_api::OperationKind;
use serde_json::json;

use super::*;

mod never_fire;

fn env() -> Env {
    let facts = |plugin: &str, ops: &[OperationKind], window: Option<u64>| {
        Some(AccountFacts {
            plugin: plugin.to_owned(),
            operations: ops.to_vec(),
            recall_window_secs: window,
        })
    };
    Env {
        accounts: BTreeMap::from([
            (
                "ding".to_owned(),
                facts("dingtalk", &[OperationKind::Recall], Some(86_400)),
            ),
            (
                "helpdesk".to_owned(),
                facts(
                    "feishu-helpdesk",
                    &[OperationKind::Recall, OperationKind::Cancel],
                    None,
                ),
            ),
        ]),
    }
}

/// Writes `files` (name, text) into a fresh folder; returns it and its glob.
fn folder(files: &[(&str, &str)]) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let glob = dir.path().join("*.yaml").to_string_lossy().into_owned();
    (dir, vec![glob])
}

fn load_ok(files: &[(&str, &str)]) -> Loaded {
    let (_dir, globs) = folder(files);
    load(&globs, &env()).unwrap_or_else(|e| panic!("{e:#?}"))
}

/// Every error as `name:line:col: message` with the folder stripped.
fn load_errors(files: &[(&str, &str)]) -> Vec<String> {
    let (dir, globs) = folder(files);
    let errors = load(&globs, &env()).expect_err("the rules should be refused");
    errors
        .iter()
        .map(|e| {
            let name = e.file.strip_prefix(dir.path()).unwrap_or(Path::new("?"));
            format!("{}:{}:{}: {}", name.display(), e.line, e.column, e.message)
        })
        .collect()
}

const GOOD: &str = r#"
rules:
  - name: incident-cleanup
    description: Recall everything tagged with the incident once it closes.
    on: {event: incident.closed}
    select:
      tags: ["incident-{{ event.incident_id }}"]
    do: recall
    limit: 500
  - name: otp-expiry
    on:
      sent: {tags: [otp]}
      after: 10m
    do: recall
  - name: stale-helpdesk
    on: {schedule: "0 3 * * *"}
    select:
      accounts: [helpdesk]
      meta: {status: scheduled}
      older_than: 24h
    do: cancel
  - name: disabled-one
    enabled: false
    on: {event: incident.closed}
    select: {tags: [never]}
    do: recall
"#;

#[test]
fn a_valid_file_loads_every_kind_of_rule() {
    let loaded = load_ok(&[("main.yaml", GOOD)]);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let set = &loaded.set;
    assert_eq!(set.rules().len(), 4);
    let kinds: Vec<&str> = set.rules().iter().map(|r| r.trigger.kind()).collect();
    assert_eq!(kinds, ["event", "age", "schedule", "event"]);
    let cleanup = set.get("incident-cleanup").unwrap();
    assert_eq!(cleanup.limit, 500);
    assert_eq!((cleanup.line, cleanup.column), (3, 5));
    assert_eq!(set.get("otp-expiry").unwrap().limit, DEFAULT_RULE_LIMIT);
    assert_eq!(
        set.get("stale-helpdesk").unwrap().action,
        OperationKind::Cancel
    );
    // The disabled rule listens to the same event but does not fire.
    let firing: Vec<&str> = set
        .for_event("incident.closed")
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(firing, ["incident-cleanup"]);
    assert_eq!(set.for_event("deploy").count(), 0);
}

#[test]
fn age_rules_plan_a_recall_after_sending_for_matching_messages_only() {
    let set = load_ok(&[("main.yaml", GOOD)]).set;
    let tags = vec!["otp".to_owned()];
    let meta = json!({});
    let message = MessageView {
        account: "ding",
        remote_id: "m1",
        sent_at_ms: 1_000,
        tags: &tags,
        meta: &meta,
    };
    let plans = set.plan_age(message);
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0].rule, "otp-expiry");
    assert_eq!(plans[0].due_at_ms, 1_000 + 600_000);
    let other = vec!["news".to_owned()];
    assert!(
        set.plan_age(MessageView {
            tags: &other,
            ..message
        })
        .is_empty()
    );
    assert!(set.has_age_rules());
    assert_eq!(
        set.age_versions().keys().collect::<Vec<_>>(),
        ["otp-expiry"]
    );
}

#[test]
fn schedules_are_due_at_their_next_cron_time_in_utc() {
    let set = load_ok(&[("main.yaml", GOOD)]).set;
    let rule = set.get("stale-helpdesk").unwrap();
    // 2026-11-21T10:00:00Z -> next 03:00 is 2026-11-22T03:00:00Z.
    let at = crate::selector::parse_time("2026-11-21T10:00:00Z").unwrap();
    let next = next_occurrence(rule, at).unwrap();
    assert_eq!(
        next,
        crate::selector::parse_time("2026-11-22T03:00:00Z").unwrap()
    );
    // Strictly after: at 03:00 exactly the next one is a day later.
    assert_eq!(next_occurrence(rule, next).unwrap(), next + 86_400_000);
    assert!(next_occurrence(set.get("otp-expiry").unwrap(), at).is_none());
}

#[test]
fn the_version_follows_what_a_rule_does_not_how_it_is_described() {
    let base = load_ok(&[("main.yaml", GOOD)]).set;
    let described = GOOD.replace(
        "Recall everything tagged with the incident once it closes.",
        "Reworded.",
    );
    let moved = load_ok(&[("other.yaml", &format!("\n\n{described}"))]).set;
    let longer = load_ok(&[("main.yaml", &GOOD.replace("after: 10m", "after: 15m"))]).set;
    let version = |set: &RuleSet, name: &str| set.get(name).unwrap().version.clone();
    assert_eq!(
        version(&base, "incident-cleanup"),
        version(&moved, "incident-cleanup")
    );
    assert_eq!(version(&base, "otp-expiry"), version(&moved, "otp-expiry"));
    assert_ne!(version(&base, "otp-expiry"), version(&longer, "otp-expiry"));
}

#[test]
fn every_error_in_every_file_is_reported_with_its_location() {
    let broken = r#"rules:
  - name: typo-key
    on: {event: deploy}
    selct: {tags: [x]}
    do: recall
  - name: bad-duration
    on:
      sent: {tags: [otp]}
      after: ten minutes
    do: recall
  - name: bad-cron
    on: {schedule: "61 * * * *"}
    select: {tags: [x]}
    do: recall
  - name: unknown-root
    on: {event: deploy}
    select: {tags: ["{{ evnt.id }}"]}
    do: recall
  - name: no-event-here
    on: {schedule: "@daily"}
    select: {tags: ["{{ event.id }}"]}
    do: recall
  - name: no-positive
    on: {event: deploy}
    select: {accounts: [ding]}
    do: recall
  - name: another-typo
    on: {event: deploy}
    select: {tags: [x]}
    do: recall
    limt: 3
"#;
    let duplicate = "rules:\n  - name: no-positive\n    on: {event: x}\n    select: {tags: [y]}\n    do: recall\n";
    let errors = load_errors(&[("a.yaml", broken), ("b.yaml", duplicate)]);
    let expected: [(&str, &str); 8] = [
        ("a.yaml:4:5:", "selct"),
        ("a.yaml:9:14:", "not a duration"),
        ("a.yaml:12:20:", "not a cron expression"),
        ("a.yaml:17:21:", "refers to nothing"),
        ("a.yaml:21:21:", "refers to nothing"),
        ("a.yaml:25:13:", "no positive matcher"),
        ("a.yaml:31:5:", "limt"),
        ("b.yaml:2:11:", "already used at"),
    ];
    crate::config::assert_located(&errors, &expected);
}

#[test]
fn triggers_selects_and_actions_are_checked() {
    let cases = [
        (
            "on: {event: x, schedule: '@daily'}\n    select: {tags: [a]}\n    do: recall",
            "exactly one of",
        ),
        ("on: {event: x}\n    do: recall", "needs a select"),
        ("on: {sent: {tags: [a]}}\n    do: recall", "needs on.after"),
        (
            "on: {sent: {tags: [a]}, after: 5m}\n    select: {tags: [a]}\n    do: recall",
            "remove select",
        ),
        (
            "on: {event: x}\n    select: {tags: [a]}\n    do: delete",
            "not an action",
        ),
        (
            "on: {event: x}\n    select: {tags: [a]}\n    do: recall\n    limit: 0",
            "at least 1",
        ),
        (
            "on: {event: x}\n    select: {tags: [a], accounts: [nope]}\n    do: recall",
            "unknown account \"nope\"",
        ),
        (
            "on: {event: x}\n    select: {tags: [a], accounts: [ding]}\n    do: cancel",
            "cannot cancel",
        ),
        (
            "on: {event: 'a/b'}\n    select: {tags: [a]}\n    do: recall",
            "URL path segment",
        ),
        (
            "on: {event: x}\n    select: {tags: [a], all: true}\n    do: recall",
            "selects everything",
        ),
        (
            "on: {event: x}\n    select: {meta: {k: [1]}}\n    do: recall",
            "only strings, numbers and booleans",
        ),
        (
            "on: {event: x}\n    select: {tags: [a], sent_after: yesterday}\n    do: recall",
            "RFC 3339",
        ),
    ];
    for (body, words) in cases {
        let text = format!("rules:\n  - name: r\n    {body}\n");
        let errors = load_errors(&[("r.yaml", &text)]);
        assert!(
            errors.iter().any(|e| e.contains(words)),
            "{body}: expected {words:?} in {errors:#?}"
        );
    }
}

#[test]
fn check_warns_about_windows_and_accounts_that_cannot_act() {
    let text = r#"rules:
  - name: late-otp
    on:
      sent: {tags: [otp]}
      after: 25h
    do: recall
  - name: cancel-all-stale
    on: {event: cleanup}
    select: {tags: [stale]}
    do: cancel
"#;
    let loaded = load_ok(&[("w.yaml", text)]);
    let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.message.clone()).collect();
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    assert!(
        warnings[0].contains("late-otp")
            && warnings[0].contains("ding")
            && warnings[0].contains("recorded as expired"),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[1].contains("ding") && warnings[1].contains("cannot cancel"),
        "{}",
        warnings[1]
    );
}

#[test]
fn a_glob_that_matches_nothing_is_a_warning_and_an_empty_file_no_rules() {
    let dir = tempfile::tempdir().unwrap();
    let glob = dir.path().join("*.yaml").to_string_lossy().into_owned();
    let loaded = load(&[glob], &env()).unwrap();
    assert!(loaded.set.rules().is_empty());
    assert!(loaded.warnings[0].message.contains("matches no rule file"));
    let loaded = load_ok(&[("empty.yaml", "rules: []\n")]);
    assert!(loaded.set.rules().is_empty() && loaded.warnings.is_empty());
}

#[test]
fn broken_yaml_is_one_located_error() {
    let errors = load_errors(&[("bad.yaml", "rules:\n  - name: x\n   on: [\n")]);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].starts_with("bad.yaml:"), "{}", errors[0]);
}

#[test]
fn age_rule_after_is_kept_exactly() {
    let set = load_ok(&[("main.yaml", GOOD)]).set;
    match &set.get("otp-expiry").unwrap().trigger {
        Trigger::Age { after, sent } => {
            assert_eq!(*after, Duration::from_secs(600));
            assert_eq!(sent.tags, ["otp"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_database_error_refusing_a_rule_is_not_shown_to_the_client() {
    let loaded = load_ok(&[("main.yaml", GOOD)]);
    let rule = loaded.set.get("incident-cleanup").unwrap();
    let shown = runner::refusal(
        rule,
        crate::store::StoreError::Database("no such table: /var/lib/recalld/x.db".into()),
    );
    assert_eq!(shown, "internal error; see the daemon log");
    let shown = runner::refusal(
        rule,
        crate::store::StoreError::TooManyMessages { matched: 3, cap: 2 },
    );
    assert!(shown.contains("matches 3 messages"), "{shown}");
}
