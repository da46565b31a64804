//! Requests too large for one query are refused as invalid, not failed.

use super::*;

/// `n` distinct tags of one or two characters, so 600 fit the test body limit.
fn short_tags(n: usize) -> Vec<String> {
    let alphabet: Vec<char> = ('a'..='z').chain('0'..='9').collect();
    let singles = alphabet.iter().map(|c| c.to_string());
    let pairs = alphabet
        .iter()
        .flat_map(|a| alphabet.iter().map(move |b| format!("{a}{b}")));
    singles.chain(pairs).take(n).collect()
}

#[tokio::test]
async fn a_selector_with_600_tags_is_a_422_not_a_500() {
    let h = harness();
    track(&h, &[("ding", "1", &["a"])]).await;
    for dry_run in [false, true] {
        let body = json!({"select": {"tags": short_tags(600)}, "dry_run": dry_run});
        assert!(serde_json::to_vec(&body).unwrap().len() < MAX_BODY);
        let (status, answer) = send(&h, signed("POST", "/v1/recalls", &body, BOT)).await;
        assert_eq!(
            (status, code(&answer)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_selector"),
            "{answer}"
        );
        assert!(message(&answer).starts_with("select.tags:"), "{answer}");
    }
    assert_eq!(job_count(&h).await, 0);
    // Within the limit the same shape is served.
    let body = json!({"select": {"tags": short_tags(64)}});
    let (status, answer) = send(&h, signed("POST", "/v1/recalls", &body, BOT)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
}
