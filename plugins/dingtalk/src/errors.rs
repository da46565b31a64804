//! DingTalk's `errcode` answers and what each means for the host.

use plugin_api::{HttpResponse, Outcome};
use plugin_common::{ErrorTable, Secrets, VendorError, json_code, retry_after_ms, vendor_outcome};
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
        400002, // invalid agentId or taskId; also a recall after 24 h
        88,     // auth error, detailed in sub_code
        143105, 143205, 143106, 143206, // daily per-user cap, duplicate content
        1430000, 1430002, // no recipients, banned content
    ],
};

/// The per-second limit: waiting one second is enough.
const PER_SECOND_LIMIT: i64 = 90018;

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

/// The outcome of a non-zero errcode. Retries honour `Retry-After`; the
/// per-second limit waits a second when the vendor gives no hint.
pub(crate) fn outcome(
    error: &VendorError,
    response: &HttpResponse,
    now_ms: i64,
    secrets: &Secrets,
) -> Outcome {
    let hint = retry_after_ms(response, now_ms);
    let after_ms = hint.or((error.code == PER_SECOND_LIMIT).then_some(1_000));
    vendor_outcome(
        ERRORS.class(error.code),
        error,
        response.status,
        after_ms,
        secrets,
    )
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
        let per_minute = VendorError {
            code: 90006,
            message: String::new(),
        };
        response.headers.clear();
        assert!(matches!(
            outcome(&per_minute, &response, 0, &none),
            Outcome::Retry { after_ms: None, .. }
        ));
    }
}
