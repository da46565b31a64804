//! `recalld recall` against a real server on 127.0.0.1:0, with the test
//! harness of the API and the test playing the dispatcher.

use super::*;
use crate::api::tests::{BOT, Harness, NARROW, harness, track};
use crate::store::{Store as _, TaskResult, TaskState};

/// Serves the API of `h` on 127.0.0.1:0; returns its base URL.
async fn serve(h: &Harness) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        warp::serve(crate::api::routes(h.state.clone()))
            .incoming(listener)
            .run(),
    );
    format!("http://{addr}/")
}

fn args(server: &str, secret: &str, tag: &str) -> RecallArgs {
    RecallArgs {
        server: server.to_owned(),
        secret: secret.to_owned(),
        scheme: "standard-webhooks".into(),
        tags: vec![tag.to_owned()],
        job: None,
        accounts: vec![],
        action: ActionArg::Recall,
        reason: "test".into(),
        dry_run: false,
        follow: false,
        interval: Duration::from_millis(10),
        timeout: Duration::from_secs(20),
    }
}

/// Plays the dispatcher: `ding` tasks succeed, `feishu` tasks fail.
async fn finish_tasks(h: &Harness) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if h.store
            .job(1)
            .await
            .unwrap()
            .is_some_and(|job| job.state == "done")
        {
            return;
        }
        for account in ["ding", "feishu"] {
            let claimed = h.store.claim(account.into(), i64::MAX, 100).await.unwrap();
            let results = claimed
                .iter()
                .map(|task| TaskResult {
                    task_id: task.task_id,
                    job_id: task.job_id,
                    message_id: task.message_id,
                    action: task.action,
                    account: account.into(),
                    state: if account == "ding" {
                        TaskState::Done
                    } else {
                        TaskState::Failed
                    },
                    attempts: 1,
                    next_at_ms: 0,
                    error: (account == "feishu").then(|| "9499: vendor says no".to_owned()),
                    at_ms: crate::clock::now_ms(),
                })
                .collect();
            h.store.finish(results).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("job 1 did not finish");
}

#[tokio::test(flavor = "multi_thread")]
async fn follow_polls_until_done_and_prints_a_per_account_summary() {
    let h = harness();
    track(
        &h,
        &[
            ("ding", "1", &["incident-9"]),
            ("ding", "2", &["incident-9"]),
            ("feishu", "3", &["incident-9"]),
        ],
    )
    .await;
    let server = serve(&h).await;
    let mut out = Vec::new();
    let follow = RecallArgs {
        follow: true,
        ..args(&server, BOT, "incident-9")
    };
    let (code, ()) = tokio::join!(recall(follow, &mut out), finish_tasks(&h));
    let text = String::from_utf8(out).unwrap();
    assert_eq!(code.unwrap(), ExitCode::from(EXIT_SOME_FAILED), "{text}");
    assert!(text.starts_with("job 1: 3 message(s) matched\n"), "{text}");
    let ding = text
        .lines()
        .find(|l| l.starts_with("ding "))
        .unwrap_or_default();
    assert_eq!(
        ding.split_whitespace().collect::<Vec<_>>(),
        ["ding", "2", "0", "0", "0"],
        "{text}"
    );
    let feishu = text
        .lines()
        .find(|l| l.starts_with("feishu "))
        .unwrap_or_default();
    assert_eq!(
        feishu.split_whitespace().collect::<Vec<_>>(),
        ["feishu", "0", "0", "0", "1"],
        "{text}"
    );
    assert!(text.contains("1 x 9499: vendor says no"), "{text}");
}

/// Without `--follow`, the hint names the job to follow (`--follow` again
/// would start a second one), and following it by id works.
#[tokio::test(flavor = "multi_thread")]
async fn the_hint_follows_the_job_just_started_not_a_new_one() {
    let h = harness();
    track(&h, &[("ding", "1", &["incident-8"])]).await;
    let server = serve(&h).await;
    let mut out = Vec::new();
    let code = recall(args(&server, BOT, "incident-8"), &mut out).await;
    let text = String::from_utf8(out).unwrap();
    assert_eq!(code.unwrap(), ExitCode::SUCCESS, "{text}");
    let hint = format!("recalld recall --server {server} --job 1,");
    assert!(text.contains(&hint) && !text.contains("--follow"), "{text}");
    let again = RecallArgs {
        tags: vec![],
        job: Some(1),
        ..args(&server, BOT, "")
    };
    let mut out = Vec::new();
    let (code, ()) = tokio::join!(recall(again, &mut out), finish_tasks(&h));
    let text = String::from_utf8(out).unwrap();
    assert_eq!(code.unwrap(), ExitCode::SUCCESS, "{text}");
    assert!(text.contains("total "), "{text}");
    let jobs = h.store.job(2).await.unwrap();
    assert!(jobs.is_none(), "following by id started another job");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_prints_the_matches_and_creates_no_job() {
    let h = harness();
    track(
        &h,
        &[
            ("ding", "1", &["incident-9"]),
            ("feishu", "3", &["incident-9"]),
        ],
    )
    .await;
    let server = serve(&h).await;
    let mut out = Vec::new();
    let dry = RecallArgs {
        dry_run: true,
        ..args(&server, BOT, "incident-9")
    };
    assert_eq!(recall(dry, &mut out).await.unwrap(), ExitCode::SUCCESS);
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with("dry run: 2 message(s) would be selected"),
        "{text}"
    );
    assert!(text.contains("ding") && text.contains("feishu"), "{text}");
    assert!(h.store.job(1).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_shows_the_server_error_and_never_the_secret() {
    let h = harness();
    let server = serve(&h).await;
    let err = recall(args(&server, NARROW, "billing"), &mut Vec::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("403") && err.contains("forbidden_tags"),
        "{err}"
    );
    assert!(!err.contains(NARROW), "{err}");
    let err = recall(args(&server, "not-a-whsec", "x"), &mut Vec::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("whsec_") && !err.contains("not-a-whsec"),
        "{err}"
    );
    let err = recall(args("http://127.0.0.1:1", BOT, "x"), &mut Vec::new())
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("cannot reach"), "{err:#}");
}
