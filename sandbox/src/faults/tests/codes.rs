//! Every documented code of every vendor can be forced with
//! `faults.<vendor>.error`, in that vendor's envelope.

use super::{only, probe};
use crate::codes;
use crate::config::FaultRules;
use crate::testkit::{call, sandbox};
use crate::{InjectedError, Vendor};

fn error(code: i64) -> FaultRules {
    FaultRules {
        error: Some(InjectedError {
            code,
            fraction: 0.0,
            next: 1,
            http: None,
            message: None,
        }),
        ..FaultRules::default()
    }
}

#[tokio::test]
async fn every_documented_code_answers_in_the_vendors_envelope() {
    for vendor in Vendor::ALL {
        let sb = sandbox();
        for (i, doc) in codes::of(vendor).iter().enumerate() {
            only(&sb, vendor, 1, error(doc.code));
            let answer = call(&sb, probe(vendor)).await;
            let context = format!("{} {}: {}", vendor.name(), doc.code, answer.text);
            let (code, message) = match vendor {
                Vendor::Feishu => (&answer.json["code"], &answer.json["msg"]),
                Vendor::DingTalk => (&answer.json["errcode"], &answer.json["errmsg"]),
                _ => (
                    &answer.json["error"]["code"],
                    &answer.json["error"]["message"],
                ),
            };
            assert_eq!(code, doc.code, "{context}");
            assert_eq!(message, doc.message, "{context}");
            let http = if vendor == Vendor::DingTalk {
                200
            } else {
                doc.http
            };
            assert_eq!(answer.status, http, "{context}");
            if vendor == Vendor::DingTalk {
                assert!(answer.json["request_id"].is_string(), "{context}");
                assert_eq!(
                    answer.json["sub_code"].is_string(),
                    doc.code == 88,
                    "{context}"
                );
            }
            let injected = super::routes::stats_of(&sb, vendor).faults_injected["error"];
            assert_eq!(injected, i as u64 + 1, "{context}");
            // Only the armed one: the next request is handled.
            assert_eq!(call(&sb, probe(vendor)).await.status, 200, "{context}");
        }
    }
}

#[tokio::test]
async fn status_and_message_can_be_overridden_and_any_code_given_with_a_status() {
    let sb = sandbox();
    let mut rules = error(2003);
    if let Some(e) = rules.error.as_mut() {
        e.http = Some(451);
        e.message = Some("blocked here".into());
    }
    only(&sb, Vendor::JPush, 1, rules);
    let answer = call(&sb, probe(Vendor::JPush)).await;
    assert_eq!(answer.status, 451);
    assert_eq!(answer.json["error"]["message"], "blocked here");

    let mut undocumented = error(777_777);
    if let Some(e) = undocumented.error.as_mut() {
        e.http = Some(502);
    }
    only(&sb, Vendor::EngageLab, 1, undocumented);
    let answer = call(&sb, probe(Vendor::EngageLab)).await;
    assert_eq!(
        (answer.status, &answer.json["error"]["code"]),
        (502, &777_777.into())
    );

    // DingTalk keeps its configured status unless told otherwise.
    let dt = crate::testkit::sandbox_with(|c| c.dingtalk.error_http_status = 400);
    only(&dt, Vendor::DingTalk, 1, error(-1));
    assert_eq!(call(&dt, probe(Vendor::DingTalk)).await.status, 400);
}
