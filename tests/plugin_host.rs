//! The plugin host against real shared libraries: the C example, the Rust
//! template, and a deliberately broken fixture.

use plugin_api::{
    Account, HttpResponse, InterpretInput, Message, Operation, OperationKind, Outcome, PrepareInput,
};
use recalld::host::{HostError, HostGuard, LoadedPlugin, PluginRegistry, run_conformance};
use recalld_tests::{cdylib, compile_c_plugin};
use serde_json::json;

const NOW: i64 = 1_700_000_000_000;

fn account(base_url: Option<&str>) -> Account {
    Account {
        name: "acct".into(),
        base_url: base_url.map(str::to_owned),
        region: None,
        credentials: json!({"api_key": "k-123", "key": "k"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    }
}

fn prepare_input(remote_id: &str, base_url: Option<&str>) -> PrepareInput {
    PrepareInput {
        account: account(base_url),
        operation: Operation {
            kind: OperationKind::Recall,
            message: Message {
                account: "acct".into(),
                remote_id: remote_id.into(),
                sent_at_ms: NOW - 1000,
                tags: vec![],
                meta: json!({}),
            },
            params: json!(null),
        },
        token: None,
        now_ms: NOW,
    }
}

fn interpret(loaded: &LoadedPlugin, status: u16) -> Outcome {
    let input = InterpretInput {
        account: account(None),
        operation: prepare_input("1", None).operation,
        response: HttpResponse {
            status,
            headers: vec![],
            body: "{}".into(),
        },
        now_ms: NOW,
        attempt: None,
    };
    loaded.plugin.interpret(&input).expect("interpret")
}

#[test]
fn the_c_plugin_loads_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = compile_c_plugin(dir.path(), "acme_c", &[]);
    let mut registry = PluginRegistry::new();
    let loaded = registry.load_file(&path).unwrap().clone();
    assert_eq!(loaded.manifest.name, "acme-c");
    assert_eq!(loaded.manifest.recall_window_secs, Some(86_400));

    let request = loaded
        .plugin
        .prepare(&prepare_input("m-42", Some("http://127.0.0.1:8900")))
        .unwrap();
    assert_eq!(request.method, "DELETE");
    assert_eq!(request.url, "http://127.0.0.1:8900/v1/messages/m-42");
    assert_eq!(request.headers[0].value, "Bearer k-123");
    assert_eq!(interpret(&loaded, 200), Outcome::Done);
    assert!(matches!(interpret(&loaded, 503), Outcome::Retry { .. }));
    assert!(matches!(
        interpret(&loaded, 404),
        Outcome::Failed {
            permanent: true,
            ..
        }
    ));

    let report = run_conformance(&loaded, NOW);
    assert!(report.passed(), "{}", report.render());
}

#[test]
fn another_abi_major_is_refused_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = compile_c_plugin(dir.path(), "acme_v2", &["PLUGIN_ABI_MAJOR=2u"]);
    let error = PluginRegistry::new().load_file(&path).unwrap_err();
    assert!(
        matches!(
            error,
            HostError::AbiMismatch {
                plugin_major: 2,
                host_major: 1,
                ..
            }
        ),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("plugin ABI version 2.1") && message.contains("(ABI 1.1)"),
        "{message}"
    );
}

#[test]
fn wrong_magic_and_short_tables_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let magic = compile_c_plugin(dir.path(), "acme_magic", &["PLUGIN_MAGIC=0x1234ULL"]);
    let error = PluginRegistry::new().load_file(&magic).unwrap_err();
    assert!(
        matches!(error, HostError::BadMagic { found: 0x1234, .. }),
        "{error}"
    );
    let short = compile_c_plugin(dir.path(), "acme_short", &["PLUGIN_TABLE_SIZE=24"]);
    let error = PluginRegistry::new().load_file(&short).unwrap_err();
    assert!(
        matches!(error, HostError::TableTooSmall { size: 24, .. }),
        "{error}"
    );
}

#[test]
fn a_library_without_the_entry_symbol_is_not_a_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("other.c");
    std::fs::write(&source, "int something_else(void) { return 1; }\n").unwrap();
    let out = dir.path().join("libother.so");
    let status = std::process::Command::new("cc")
        .args(["-shared", "-fPIC"])
        .arg(&source)
        .arg("-o")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let error = PluginRegistry::new().load_file(&out).unwrap_err();
    assert!(matches!(error, HostError::NoEntry { .. }), "{error}");
    // In a plugin directory such a library is skipped, not fatal.
    compile_c_plugin(dir.path(), "acme_c", &[]);
    let mut registry = PluginRegistry::new();
    let skipped = registry.load_dir(dir.path()).unwrap();
    assert_eq!(skipped.len(), 1);
    assert_eq!(registry.names(), vec!["acme-c"]);
}

#[test]
fn the_same_plugin_twice_is_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let a = compile_c_plugin(dir.path(), "acme_a", &[]);
    let b = compile_c_plugin(dir.path(), "acme_b", &[]);
    let mut registry = PluginRegistry::new();
    registry.load_file(&a).unwrap();
    let error = registry.load_file(&b).unwrap_err();
    assert!(
        matches!(&error, HostError::Duplicate { name, .. } if name == "acme-c"),
        "{error}"
    );
}

#[test]
fn a_panicking_plugin_is_contained_and_the_next_call_works() {
    let path = cdylib("fixture-plugin", "fixture_plugin");
    let mut registry = PluginRegistry::new();
    let loaded = registry.load_file(&path).unwrap().clone();
    let error = loaded
        .plugin
        .prepare(&prepare_input("panic", None))
        .unwrap_err();
    assert_eq!(error.code, "plugin_panic");
    assert!(
        error.message.contains("deliberate panic in prepare"),
        "{}",
        error.message
    );
    let request = loaded.plugin.prepare(&prepare_input("m-1", None)).unwrap();
    assert_eq!(request.url, "https://fixture.invalid/recall/m-1");
    // And again, after a panic in another function.
    let input = InterpretInput {
        account: account(None),
        operation: prepare_input("m-1", None).operation,
        response: HttpResponse {
            status: 500,
            headers: vec![],
            body: String::new(),
        },
        now_ms: NOW,
        attempt: None,
    };
    assert_eq!(
        loaded.plugin.interpret(&input).unwrap_err().code,
        "plugin_panic"
    );
    assert_eq!(interpret(&loaded, 200), Outcome::Done);
}

#[test]
fn undeclared_hosts_and_oversized_output_are_refused() {
    let path = cdylib("fixture-plugin", "fixture_plugin");
    let mut registry = PluginRegistry::new();
    let loaded = registry.load_file(&path).unwrap().clone();
    let guard = HostGuard::new(&loaded.manifest, &account(None)).unwrap();
    let evil = loaded
        .plugin
        .prepare(&prepare_input("evil-host", None))
        .unwrap();
    let refusal = guard.check(&evil).unwrap_err();
    assert!(refusal.contains("evil.invalid"), "{refusal}");
    let good = loaded.plugin.prepare(&prepare_input("m-1", None)).unwrap();
    guard.check(&good).unwrap();
    let huge = loaded
        .plugin
        .prepare(&prepare_input("huge", None))
        .unwrap_err();
    assert_eq!(huge.code, "plugin_output_too_large");
}

#[test]
fn conformance_fails_a_broken_plugin_with_reasons() {
    let path = cdylib("fixture-plugin", "fixture_plugin");
    let mut registry = PluginRegistry::new();
    let loaded = registry.load_file(&path).unwrap().clone();
    let report = run_conformance(&loaded, NOW);
    assert!(!report.passed());
    let rendered = report.render();
    let failed: Vec<&str> = rendered.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(
        failed
            .iter()
            .any(|l| l.contains("5xx") && l.contains("panicked")),
        "{rendered}"
    );
    assert!(
        failed
            .iter()
            .any(|l| l.contains("429") && l.contains("not a success")),
        "{rendered}"
    );
    assert!(rendered.contains("fix the FAIL lines"), "{rendered}");
}
