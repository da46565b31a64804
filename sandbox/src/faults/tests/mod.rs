//! The injector's decisions (pure, no HTTP) here; the answers each vendor
//! gives in `routes` and, for every documented code, in `codes`.

mod codes;
mod controls;
mod routes;

use serde_json::json;
use warp::test::RequestBuilder;

use super::{Injector, Kind};
use crate::config::{FaultConfig, FaultRule, FaultRules, RateLimitedRule};
use crate::testkit::{json_request, request};
use crate::wire::basic_credentials;
use crate::{Sandbox, Vendor};

fn seeded(seed: u64) -> FaultConfig {
    FaultConfig {
        seed: Some(seed),
        ..FaultConfig::default()
    }
}

fn server_errors(fraction: f64) -> FaultRules {
    FaultRules {
        server_error: FaultRule { fraction, next: 0 },
        ..FaultRules::default()
    }
}

fn draws(
    injector: &mut Injector,
    rules: &FaultRules,
    vendor: Vendor,
    n: usize,
) -> Vec<Option<Kind>> {
    (0..n)
        .map(|_| injector.draw(rules, vendor, "recall"))
        .collect()
}

/// A request to `vendor` that succeeds with HTTP 200 when no fault hits it.
pub(super) fn probe(vendor: Vendor) -> RequestBuilder {
    match vendor {
        Vendor::Feishu => json_request(
            "POST",
            "/open-apis/auth/v3/tenant_access_token/internal",
            &json!({"app_id": "cli_sandbox", "app_secret": "sandbox-secret"}),
        ),
        Vendor::DingTalk => request("GET", "/gettoken?appkey=ding-sandbox&appsecret=ding-secret"),
        Vendor::EngageLab => json_request(
            "POST",
            "/v4/push/validate",
            &json!({"to": "all", "body": {"platform": "all", "notification": {"alert": "hi"}}}),
        )
        .header(
            "authorization",
            format!("Basic {}", basic_credentials("el-sandbox", "el-secret")),
        ),
        Vendor::JPush => json_request(
            "POST",
            "/v3/push/validate",
            &json!({"platform": "all", "audience": "all", "notification": {"alert": "hi"}}),
        )
        .header(
            "authorization",
            format!("Basic {}", basic_credentials("jp-sandbox", "jp-secret")),
        ),
    }
}

/// Sets `rules` for `vendor` alone, with `seed`.
pub(super) fn only(sb: &Sandbox, vendor: Vendor, seed: u64, rules: FaultRules) {
    let mut faults = seeded(seed);
    match vendor {
        Vendor::Feishu => faults.feishu = Some(rules),
        Vendor::DingTalk => faults.dingtalk = Some(rules),
        Vendor::EngageLab => faults.engagelab = Some(rules),
        Vendor::JPush => faults.jpush = Some(rules),
    }
    if let Err(e) = sb.set_faults(faults) {
        panic!("fault settings refused: {e}");
    }
}

#[test]
fn the_same_seed_repeats_the_same_faults() {
    let rules = server_errors(0.3);
    let first = draws(&mut Injector::new(&seeded(7)), &rules, Vendor::JPush, 1000);
    let again = draws(&mut Injector::new(&seeded(7)), &rules, Vendor::JPush, 1000);
    let other = draws(&mut Injector::new(&seeded(8)), &rules, Vendor::JPush, 1000);
    assert_eq!(first, again);
    assert_ne!(first, other);
    let hits = first
        .iter()
        .filter(|k| **k == Some(Kind::ServerError))
        .count();
    assert!((200..=400).contains(&hits), "{hits} of 1000 at 0.3");
    assert_eq!(first.iter().filter(|k| k.is_none()).count(), 1000 - hits);
}

#[test]
fn each_vendor_draws_its_own_sequence() {
    let rules = server_errors(0.5);
    let alone = draws(&mut Injector::new(&seeded(3)), &rules, Vendor::Feishu, 200);
    let mut mixed = Injector::new(&seeded(3));
    let interleaved: Vec<_> = (0..200)
        .map(|_| {
            mixed.draw(&rules, Vendor::DingTalk, "recall");
            mixed.draw(&rules, Vendor::Feishu, "recall")
        })
        .collect();
    assert_eq!(alone, interleaved);
}

#[test]
fn next_arms_exactly_that_many_in_kind_order() {
    let mut rules = FaultRules::default();
    rules.server_error.next = 2;
    rules.timeout.next = 1;
    rules.rate_limited.next = 1;
    let config = FaultConfig {
        all: rules.clone(),
        ..seeded(1)
    };
    let mut injector = Injector::new(&config);
    let got = draws(&mut injector, &rules, Vendor::EngageLab, 6);
    use Kind::*;
    assert_eq!(
        got,
        [
            Some(ServerError),
            Some(ServerError),
            Some(Timeout),
            Some(RateLimited),
            None,
            None
        ]
    );
    // Armed per vendor: another vendor still has its own four.
    assert_eq!(
        draws(&mut injector, &rules, Vendor::JPush, 5)
            .iter()
            .flatten()
            .count(),
        4
    );
}

#[test]
fn a_drawn_rate_limit_refuses_a_whole_burst() {
    let rules = FaultRules {
        rate_limited: RateLimitedRule {
            fraction: 0.05,
            burst: 4,
            ..RateLimitedRule::default()
        },
        ..FaultRules::default()
    };
    let got = draws(&mut Injector::new(&seeded(11)), &rules, Vendor::JPush, 2000);
    let mut runs = Vec::new();
    let mut run = 0;
    // A run still going at the last draw may be cut short: left out.
    for kind in &got {
        if *kind == Some(Kind::RateLimited) {
            run += 1;
        } else if run > 0 {
            runs.push(run);
            run = 0;
        }
    }
    assert!(!runs.is_empty(), "no burst in 2000 draws at 0.05");
    // A burst is 4 refusals; one drawn right after another makes 8.
    assert!(runs.iter().all(|r| r % 4 == 0), "runs {runs:?}");
}

#[test]
fn only_the_named_endpoints_get_faults_or_use_up_next() {
    let mut rules = server_errors(0.0);
    rules.endpoints = Some(vec!["recall".into()]);
    rules.server_error.next = 1;
    let config = FaultConfig {
        dingtalk: Some(rules.clone()),
        ..seeded(5)
    };
    let mut injector = Injector::new(&config);
    for _ in 0..3 {
        assert_eq!(injector.draw(&rules, Vendor::DingTalk, "gettoken"), None);
    }
    assert_eq!(
        injector.draw(&rules, Vendor::DingTalk, "recall"),
        Some(Kind::ServerError)
    );
    assert_eq!(injector.draw(&rules, Vendor::DingTalk, "recall"), None);
}

#[test]
fn fraction_one_always_and_zero_never() {
    let mut injector = Injector::new(&seeded(2));
    let always = draws(&mut injector, &server_errors(1.0), Vendor::Feishu, 500);
    assert!(always.iter().all(|k| *k == Some(Kind::ServerError)));
    let never = draws(&mut injector, &server_errors(0.0), Vendor::Feishu, 500);
    assert!(never.iter().all(Option::is_none));
}

#[test]
fn jitter_stays_in_bounds_and_repeats_with_the_seed() {
    let mut a = Injector::new(&seeded(9));
    let mut b = Injector::new(&seeded(9));
    let first: Vec<u64> = (0..500).map(|_| a.jitter_ms(20)).collect();
    let again: Vec<u64> = (0..500).map(|_| b.jitter_ms(20)).collect();
    assert_eq!(first, again);
    assert!(first.iter().all(|ms| *ms <= 20));
    assert!(
        first.contains(&0) && first.contains(&20),
        "both ends reachable"
    );
    assert_eq!(a.jitter_ms(0), 0);
}
