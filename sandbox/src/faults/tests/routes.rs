//! Faults as clients see them: each vendor's envelope and headers, exact
//! counts in the stats, and no change of state.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{only, probe};
use crate::config::{FaultRule, FaultRules, RateLimitedRule, TimeoutRule};
use crate::testkit::{Answer, call, json_request, request, sandbox};
use crate::wire::basic_credentials;
use crate::{InjectedError, Sandbox, SeedRequest, Vendor, VendorStats};

pub(super) fn armed(server_error: u32, timeout: u32, rate_limited: u32) -> FaultRules {
    FaultRules {
        server_error: FaultRule {
            fraction: 0.0,
            next: server_error,
        },
        timeout: TimeoutRule {
            next: timeout,
            hold_ms: 100,
            ..TimeoutRule::default()
        },
        rate_limited: RateLimitedRule {
            next: rate_limited,
            reset_secs: 7,
            ..RateLimitedRule::default()
        },
        ..FaultRules::default()
    }
}

pub(super) fn stats_of(sb: &Sandbox, vendor: Vendor) -> VendorStats {
    let stats = sb.stats();
    match vendor {
        Vendor::Feishu => stats.feishu,
        Vendor::DingTalk => stats.dingtalk,
        Vendor::EngageLab => stats.engagelab,
        Vendor::JPush => stats.jpush,
    }
}

pub(super) fn faults(sb: &Sandbox, vendor: Vendor) -> BTreeMap<String, u64> {
    stats_of(sb, vendor).faults_injected
}

/// `(status, vendor code)` of an answer in any vendor's envelope.
fn code(answer: &Answer) -> (u16, i64) {
    let body = &answer.json;
    let code = body["code"]
        .as_i64()
        .or(body["errcode"].as_i64())
        .or(body["error"]["code"].as_i64())
        .unwrap_or(i64::MIN);
    (answer.status, code)
}

#[tokio::test]
async fn server_errors_are_each_vendors_internal_error() {
    let expected = [
        (Vendor::Feishu, (500, 155000)),
        (Vendor::DingTalk, (200, -1)),
        (Vendor::EngageLab, (400, 21009)),
        (Vendor::JPush, (500, 1000)),
    ];
    for (vendor, answer) in expected {
        let sb = sandbox();
        only(&sb, vendor, 1, armed(1, 0, 0));
        let faulted = call(&sb, probe(vendor)).await;
        assert_eq!(code(&faulted), answer, "{vendor:?}: {}", faulted.text);
        let normal = call(&sb, probe(vendor)).await;
        assert_eq!(
            normal.status, 200,
            "{vendor:?} after the fault: {}",
            normal.text
        );
        assert_eq!(faults(&sb, vendor)["server_error"], 1, "{vendor:?}");
        match vendor {
            Vendor::Feishu => assert!(faulted.header("x-tt-logid").is_some()),
            Vendor::DingTalk => assert!(!faulted.str("request_id").is_empty()),
            _ => {}
        }
    }
}

#[tokio::test]
async fn rate_limit_bursts_carry_each_vendors_code_and_headers() {
    let expected = [
        (Vendor::Feishu, (429, 99991400)),
        (Vendor::DingTalk, (200, 90018)),
        (Vendor::EngageLab, (400, 23008)),
        (Vendor::JPush, (429, 2002)),
    ];
    for (vendor, answer) in expected {
        let sb = sandbox();
        only(&sb, vendor, 1, armed(0, 0, 3));
        for i in 0..3 {
            let refused = call(&sb, probe(vendor)).await;
            assert_eq!(code(&refused), answer, "{vendor:?} #{i}: {}", refused.text);
            match vendor {
                Vendor::Feishu => {
                    assert_eq!(refused.header("x-ogw-ratelimit-reset"), Some("7"));
                }
                Vendor::JPush => {
                    assert_eq!(refused.header("x-rate-limit-reset"), Some("7"));
                    assert_eq!(refused.header("x-rate-limit-remaining"), Some("0"));
                    assert_eq!(refused.header("x-rate-limit-quota"), Some("600"));
                }
                _ => {}
            }
        }
        assert_eq!(call(&sb, probe(vendor)).await.status, 200, "{vendor:?}");
        let stats = faults(&sb, vendor);
        assert_eq!(stats["rate_limited"], 3, "{vendor:?}");
        assert_eq!(stats["server_error"] + stats["timeout"] + stats["error"], 0);
    }
    // Feishu names the endpoint's own limit when it has one.
    let sb = sandbox();
    only(&sb, Vendor::Feishu, 1, armed(0, 0, 1));
    let patch = call(
        &sb,
        json_request(
            "PATCH",
            "/open-apis/helpdesk/v1/notifications/1",
            &json!({}),
        )
        .header("authorization", "Bearer u-sandbox"),
    )
    .await;
    assert_eq!(patch.header("x-ogw-ratelimit-limit"), Some("20"));
    assert_eq!(sb.stats().feishu.rate_limited, 1);
}

#[tokio::test]
async fn a_timeout_holds_the_request_then_answers_late() {
    let sb = sandbox();
    only(&sb, Vendor::JPush, 1, armed(0, 2, 0));
    // A client with a shorter timeout never sees the answer.
    let gave_up =
        tokio::time::timeout(Duration::from_millis(30), call(&sb, probe(Vendor::JPush))).await;
    assert!(gave_up.is_err(), "answered within 30 ms");
    assert_eq!(faults(&sb, Vendor::JPush)["timeout"], 1);
    // One that waits gets JPush's timeout error after the hold.
    let started = Instant::now();
    let late = call(&sb, probe(Vendor::JPush)).await;
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(code(&late), (503, 1030), "{}", late.text);
    assert_eq!(faults(&sb, Vendor::JPush)["timeout"], 2);
    assert_eq!(sb.stats().jpush.requests["validate"], 2);

    let el = sandbox();
    only(&el, Vendor::EngageLab, 1, armed(0, 1, 0));
    assert_eq!(
        code(&call(&el, probe(Vendor::EngageLab)).await),
        (503, 21030)
    );
}

/// A recall request of `vendor` for `id`, the only endpoint faults hit below.
fn recall(vendor: Vendor, id: &str, token: &str) -> warp::test::RequestBuilder {
    match vendor {
        Vendor::Feishu => json_request(
            "POST",
            &format!("/open-apis/helpdesk/v1/notifications/{id}/cancel_send"),
            &json!({"is_recall": true}),
        )
        .header("authorization", "Bearer u-sandbox")
        .header(
            "x-lark-helpdesk-authorization",
            basic_credentials("hd-sandbox", "hd-token-sandbox"),
        ),
        Vendor::DingTalk => json_request(
            "POST",
            &format!("/topapi/message/corpconversation/recall?access_token={token}"),
            &json!({"agent_id": 1000, "msg_task_id": id.parse::<i64>().unwrap_or(-1)}),
        ),
        Vendor::EngageLab => request("DELETE", &format!("/v4/push/withdraw/{id}")).header(
            "authorization",
            format!("Basic {}", basic_credentials("el-sandbox", "el-secret")),
        ),
        Vendor::JPush => request("DELETE", &format!("/v3/push/{id}")).header(
            "authorization",
            format!("Basic {}", basic_credentials("jp-sandbox", "jp-secret")),
        ),
    }
}

fn recall_endpoint(vendor: Vendor) -> &'static str {
    match vendor {
        Vendor::Feishu => "cancel_send",
        Vendor::DingTalk => "recall",
        Vendor::EngageLab => "withdraw",
        Vendor::JPush => "delete",
    }
}

fn succeeded(answer: &Answer) -> bool {
    answer.status == 200
        && answer.json.get("code").is_none_or(|c| c == 0)
        && answer.json.get("errcode").is_none_or(|c| c == 0)
}

#[tokio::test]
async fn a_faulted_recall_leaves_the_message_to_recall() {
    for vendor in Vendor::ALL {
        let sb = sandbox();
        let ids = sb.seed(&SeedRequest {
            count: 1,
            vendors: vec![vendor],
            sent_ago_secs: 0,
        });
        let id = [ids.feishu, ids.dingtalk, ids.engagelab, ids.jpush]
            .concat()
            .remove(0);
        let token = call(&sb, probe(Vendor::DingTalk)).await.str("access_token");
        let mut rules = armed(1, 1, 1);
        rules.endpoints = Some(vec![recall_endpoint(vendor).to_owned()]);
        rules.error = Some(InjectedError {
            code: match vendor {
                Vendor::Feishu => 154005,
                Vendor::DingTalk => 400002,
                Vendor::EngageLab => 21003,
                Vendor::JPush => 1003,
            },
            fraction: 0.0,
            next: 1,
            http: None,
            message: None,
        });
        only(&sb, vendor, 1, rules);
        for kind in ["server_error", "timeout", "rate_limited", "error"] {
            let faulted = call(&sb, recall(vendor, &id, &token)).await;
            assert!(!succeeded(&faulted), "{vendor:?} {kind}: {}", faulted.text);
        }
        let vs = stats_of(&sb, vendor);
        assert_eq!(vs.recalled, 0, "{vendor:?}: a fault recalled the message");
        assert_eq!(vs.faults_injected.values().sum::<u64>(), 4, "{vendor:?}");
        assert_eq!(vs.requests[recall_endpoint(vendor)], 4, "{vendor:?}");

        let done = call(&sb, recall(vendor, &id, &token)).await;
        assert!(
            succeeded(&done),
            "{vendor:?} after the faults: {}",
            done.text
        );
        let vs = stats_of(&sb, vendor);
        assert_eq!(
            (vs.recalled, vs.duplicate_recalls),
            (1, 0),
            "{vendor:?}: recalled once, no duplicate"
        );
    }
}

/// Status of each of `n` EngageLab withdraws of unknown ids.
async fn statuses(sb: &Sandbox, n: usize) -> Vec<(u16, i64)> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(code(&call(sb, recall(Vendor::EngageLab, "1", "")).await));
    }
    out
}

#[tokio::test]
async fn a_seeded_fraction_repeats_exactly_and_is_counted_exactly() {
    let rules = || FaultRules {
        server_error: FaultRule {
            fraction: 0.25,
            next: 0,
        },
        ..FaultRules::default()
    };
    let a = sandbox();
    only(&a, Vendor::EngageLab, 42, rules());
    let b = sandbox();
    only(&b, Vendor::EngageLab, 42, rules());
    let c = sandbox();
    only(&c, Vendor::EngageLab, 43, rules());
    let (first, again, other) = (
        statuses(&a, 200).await,
        statuses(&b, 200).await,
        statuses(&c, 200).await,
    );
    assert_eq!(first, again);
    assert_ne!(first, other);
    let faulted = first.iter().filter(|s| **s == (400, 21009)).count() as u64;
    let unknown = first.iter().filter(|s| **s == (400, 21003)).count() as u64;
    assert_eq!(
        faulted + unknown,
        200,
        "every answer is a fault or the real one"
    );
    assert!((25..=80).contains(&faulted), "{faulted} of 200 at 0.25");
    assert_eq!(faults(&a, Vendor::EngageLab)["server_error"], faulted);
    assert_eq!(a.stats().engagelab.requests["withdraw"], 200);

    // A reset starts the sequence over.
    a.reset();
    assert_eq!(statuses(&a, 200).await, first);
}
