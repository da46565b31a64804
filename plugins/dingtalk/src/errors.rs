//! DingTalk's `errcode` answers and what each means for the host.

use plugin_api::{HttpResponse, Outcome};
use plugin_common::{ErrorTable, Secrets, VendorError, body_prefix, json_code, retry_after_ms};
use serde_json::Value;

/// The documented codes (`vendors.md` §2). 1430003 and 1430004 (protection
/// modes) are of unknown class and are left to the default: permanent.
pub(crate) const ERRORS: ErrorTable = ErrorTable {
    retry: &[
        -1, 500,   // busy, system error
        90018, // per-second limit per appkey and API
        90006, 90005, 41047, 41048, // per-minute limits
        143103, 143104, 143203, 143204, // send QPM exceeded
    ],
    refresh_token: &[40014, 42001, 40001, 33001],
    permanent: &[
        400002, // invalid agentId or taskId (see `invalid_task` for recalls)
        88,     // auth error, detailed in sub_code
        143105, 143205, 143106, 143206, // daily per-user cap, duplicate content
        1430000, 1430002, // no recipients, banned content
    ],
    // Without a wait hint, each limit waits its whole window: a second for
    // the per-second limit, a minute for the per-minute ones. Whether
    // DingTalk's minute is a calendar minute or starts at the first call is
    // not documented, so only a full window is sure to have reset.
    rate_limits: &[
        (90018, SECOND_MS),
        (90006, MINUTE_MS),
        (90005, MINUTE_MS),
        (41047, MINUTE_MS),
        (41048, MINUTE_MS),
        (143103, MINUTE_MS),
        (143104, MINUTE_MS),
        (143203, MINUTE_MS),
        (143204, MINUTE_MS),
    ],
};

const SECOND_MS: u64 = 1_000;
const MINUTE_MS: u64 = 60_000;

/// "System busy", to be tried at most [`BUSY_TRIES`] times (`vendors.md` §2).
const BUSY: i64 = -1;
const BUSY_TRIES: u32 = 3;

/// The body's `errcode` and `errmsg` (with `sub_code` / `sub_msg` when the
/// vendor adds them, as it does for 88). `None` when there is no errcode.
pub(crate) fn vendor_error(body: &Value) -> Option<VendorError> {
    let code = json_code(body.get("errcode")?)?;
    let text = |key: &str| match body.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let mut message = text("errmsg").unwrap_or_default();
    if let Some(sub_code) = text("sub_code") {
        let sub_msg = text("sub_msg").unwrap_or_default();
        message = format!("{message} (sub_code {sub_code}: {sub_msg})");
    }
    Some(VendorError { code, message })
}

/// The outcome of a non-zero errcode. Retries honour `Retry-After`; a rate
/// limit without one waits its window (`ERRORS.rate_limits`).
pub(crate) fn outcome(
    error: &VendorError,
    response: &HttpResponse,
    now_ms: i64,
    secrets: &Secrets,
) -> Outcome {
    let hint = retry_after_ms(response, now_ms);
    ERRORS.outcome(error, response.status, hint, secrets)
}

/// [`outcome`] for the answer to the `attempt`th try of a call (`None`:
/// the host does not say). DingTalk asks for at most three tries when busy,
/// so from the third on, "busy" is a permanent failure; a 429 is still
/// retried, as always.
pub(crate) fn outcome_of_attempt(
    error: &VendorError,
    response: &HttpResponse,
    now_ms: i64,
    attempt: Option<u32>,
    secrets: &Secrets,
) -> Outcome {
    match attempt {
        Some(tries) if error.code == BUSY && tries >= BUSY_TRIES && response.status != 429 => {
            Outcome::Failed {
                code: BUSY.to_string(),
                message: format!(
                    "{} (tried {tries} times; DingTalk asks for at most {BUSY_TRIES} when busy)",
                    body_prefix(&error.message, secrets)
                ),
                permanent: true,
            }
        }
        _ => outcome(error, response, now_ms, secrets),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errcode_and_errmsg_are_read_with_sub_codes() {
        let body = json!({"errcode": 88, "errmsg": "auth error", "sub_code": "60011", "sub_msg": "no permission"});
        assert_eq!(
            vendor_error(&body),
            Some(VendorError {
                code: 88,
                message: "auth error (sub_code 60011: no permission)".into()
            })
        );
        assert_eq!(
            vendor_error(&json!({"errcode": "0"})),
            Some(VendorError {
                code: 0,
                message: String::new()
            })
        );
        assert_eq!(vendor_error(&json!({"errmsg": "ok"})), None);
        assert_eq!(vendor_error(&json!({"errcode": null})), None);
    }

    #[test]
    fn per_second_limit_waits_a_second_unless_told_otherwise() {
        let error = VendorError {
            code: 90018,
            message: "api call frequency exceeded".into(),
        };
        let mut response = HttpResponse {
            status: 200,
            headers: vec![],
            body: String::new(),
        };
        let none = Secrets::default();
        assert!(matches!(
            outcome(&error, &response, 0, &none),
            Outcome::Retry {
                after_ms: Some(1_000),
                ..
            }
        ));
        response
            .headers
            .push(plugin_api::Header::new("Retry-After", "3"));
        assert!(matches!(
            outcome(&error, &response, 0, &none),
            Outcome::Retry {
                after_ms: Some(3_000),
                ..
            }
        ));
    }

    #[test]
    fn busy_is_tried_at_most_three_times_when_the_host_counts() {
        let busy = VendorError {
            code: -1,
            message: "system busy".into(),
        };
        let answer = |status| HttpResponse {
            status,
            headers: vec![],
            body: String::new(),
        };
        let none = Secrets::default();
        for attempt in [None, Some(1), Some(2)] {
            assert!(
                matches!(
                    outcome_of_attempt(&busy, &answer(200), 0, attempt, &none),
                    Outcome::Retry { .. }
                ),
                "{attempt:?}"
            );
        }
        for attempt in [3, 8] {
            assert_eq!(
                outcome_of_attempt(&busy, &answer(200), 0, Some(attempt), &none),
                Outcome::Failed {
                    code: "-1".into(),
                    message: format!(
                        "system busy (tried {attempt} times; DingTalk asks for at most 3 when busy)"
                    ),
                    permanent: true
                }
            );
        }
        assert!(matches!(
            outcome_of_attempt(&busy, &answer(429), 0, Some(3), &none),
            Outcome::Retry { .. }
        ));
        // Only busy is capped: a system error or a rate limit is retried on.
        for code in [500, 90018] {
            let error = VendorError {
                code,
                message: String::new(),
            };
            assert!(matches!(
                outcome_of_attempt(&error, &answer(200), 0, Some(5), &none),
                Outcome::Retry { .. }
            ));
        }
    }

    #[test]
    fn every_rate_limit_code_slows_the_account_without_a_hint() {
        // The host pauses an account only for a retry that says how long.
        let response = HttpResponse {
            status: 200,
            headers: vec![],
            body: String::new(),
        };
        let none = Secrets::default();
        let per_minute = [90006, 90005, 41047, 41048, 143103, 143104, 143203, 143204];
        for (code, wait) in per_minute
            .into_iter()
            .map(|code| (code, 60_000))
            .chain([(90018, 1_000)])
        {
            let error = VendorError {
                code,
                message: "limited".into(),
            };
            assert_eq!(
                outcome(&error, &response, 0, &none),
                Outcome::Retry {
                    after_ms: Some(wait),
                    code: code.to_string(),
                    message: "limited".into()
                },
                "errcode {code}"
            );
        }
        // Busy and system error are not rate limits: the host's backoff.
        for code in [-1, 500] {
            let error = VendorError {
                code,
                message: String::new(),
            };
            assert!(matches!(
                outcome(&error, &response, 0, &none),
                Outcome::Retry { after_ms: None, .. }
            ));
        }
    }
}
