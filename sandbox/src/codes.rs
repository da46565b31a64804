//! Every error code `shared/vendors.md` documents, per vendor, with the HTTP
//! status and message the sandbox answers it with when a fault injects it
//! (`faults.<vendor>.error`). Codes the sandbox also produces on its own
//! (bad body, unknown id, …) are listed too, so any of them can be forced.
//!
//! HTTP statuses come from vendors.md where it gives them. It gives none for
//! Feishu's generic 9999xxxx codes; the sandbox answers token codes with 401,
//! scope codes with 403, app codes with 400 (as its other app-credential
//! errors) or 403 (app disabled / unavailable). DingTalk answers every error
//! with `dingtalk.error_http_status`, so its `http` here is unused.

use crate::Vendor;

/// One documented code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Documented {
    pub(crate) code: i64,
    pub(crate) http: u16,
    pub(crate) message: &'static str,
}

const fn doc(code: i64, http: u16, message: &'static str) -> Documented {
    Documented {
        code,
        http,
        message,
    }
}

/// `{"code","msg"}`, helpdesk then generic codes.
const FEISHU: &[Documented] = &[
    doc(154000, 400, "invalid param"),
    doc(154001, 401, "authorization failed"),
    doc(154003, 403, "access denied: missing scope"),
    doc(154004, 404, "notification not found"),
    doc(154005, 405, "Method Forbidden"),
    doc(155000, 500, "internal error"),
    doc(99991400, 429, "request trigger frequency limit"),
    doc(99991663, 401, "access token invalid"),
    doc(99991668, 401, "user access token invalid"),
    doc(99991677, 401, "user access token expired"),
    doc(
        99991661,
        401,
        "missing access token in the Authorization header",
    ),
    doc(99991671, 401, "invalid access token format"),
    doc(99991672, 403, "access denied: the app lacks the scope"),
    doc(99991676, 403, "access denied: the token lacks the scope"),
    doc(
        99991679,
        403,
        "access denied: the user has not granted the scope",
    ),
    doc(99991543, 400, "app_id or app_secret is invalid"),
    doc(10014, 400, "app secret invalid"),
    doc(99991662, 403, "app is disabled"),
    doc(99991673, 403, "app is unavailable"),
];

/// `{"errcode","errmsg","request_id"}`; 40035 and 40089 are the sandbox's
/// own answers (bad body, bad app credentials).
const DINGTALK: &[Documented] = &[
    doc(-1, 200, "system busy"),
    doc(500, 200, "system error"),
    doc(90018, 200, "api call frequency exceeded"),
    doc(90005, 200, "api calls per minute exceeded"),
    doc(90006, 200, "api calls per minute exceeded"),
    doc(41047, 200, "messages per minute exceeded"),
    doc(41048, 200, "messages per minute exceeded"),
    doc(143103, 200, "send QPM exceeded"),
    doc(143104, 200, "send QPM exceeded"),
    doc(143203, 200, "send QPM exceeded"),
    doc(143204, 200, "send QPM exceeded"),
    doc(40014, 200, "invalid access_token"),
    doc(42001, 200, "access_token expired"),
    doc(40001, 200, "invalid credential"),
    doc(33001, 200, "invalid corp"),
    doc(400002, 200, "invalid taskId"),
    doc(88, 200, "auth error"),
    doc(143105, 200, "daily message limit per user reached"),
    doc(143205, 200, "daily message limit per user reached"),
    doc(143106, 200, "same content already sent to this user today"),
    doc(143206, 200, "same content already sent to this user today"),
    doc(1430000, 200, "no recipients"),
    doc(1430002, 200, "content contains banned words"),
    doc(1430003, 200, "protection mode"),
    doc(1430004, 200, "protection mode"),
    doc(40035, 200, "invalid parameter"),
    doc(40089, 200, "invalid appkey or appsecret"),
];

/// `{"error":{"code","message"}}`.
const ENGAGELAB: &[Documented] = &[
    doc(21009, 400, "internal error"),
    doc(21030, 503, "timeout"),
    doc(23008, 400, "request rate exceeds the limit"),
    doc(27000, 500, "server error"),
    doc(21001, 405, "Method not allowed"),
    doc(21002, 400, "Missing parameter"),
    doc(21003, 400, "Parameter value is invalid"),
    doc(21005, 400, "Message body is too long"),
    doc(21004, 401, "Authentication failed"),
    doc(21008, 400, "app_key is invalid"),
    doc(21038, 401, "VIP or permission required"),
    doc(21011, 400, "No target"),
    doc(21015, 400, "validation failed"),
    doc(21016, 400, "validation failed"),
    doc(23006, 400, "parameter error"),
    doc(23009, 400, "IP not in the whitelist"),
    doc(27001, 401, "parameter error"),
    doc(27008, 401, "parameter error"),
    doc(27009, 401, "parameter error"),
];

/// `{"error":{"code","message"}}`.
const JPUSH: &[Documented] = &[
    doc(1000, 500, "Server error"),
    doc(1030, 503, "timeout"),
    doc(2002, 429, "rate limit exceeded"),
    doc(1001, 405, "Method not allowed"),
    doc(1002, 400, "Missing parameter"),
    doc(1003, 400, "Parameter value is invalid"),
    doc(1005, 400, "Msg content too long"),
    doc(1009, 400, "unsupported key"),
    doc(1020, 404, "HTTPS only"),
    doc(1004, 401, "Authen failed"),
    doc(1008, 400, "app_key is invalid"),
    doc(2003, 403, "appkey restricted"),
    doc(2004, 403, "IP not in the whitelist"),
    doc(2006, 403, "VIP only"),
    doc(2007, 403, "no permission"),
    doc(1011, 400, "Cannot find user by this audience"),
    doc(1012, 400, "push quota exceeded"),
    doc(2005, 403, "volume too high"),
];

/// Every documented code of `vendor`.
pub(crate) fn of(vendor: Vendor) -> &'static [Documented] {
    match vendor {
        Vendor::Feishu => FEISHU,
        Vendor::DingTalk => DINGTALK,
        Vendor::EngageLab => ENGAGELAB,
        Vendor::JPush => JPUSH,
    }
}

/// `code` of `vendor`, if documented.
pub(crate) fn find(vendor: Vendor, code: i64) -> Option<Documented> {
    of(vendor).iter().copied().find(|d| d.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_per_vendor() {
        for vendor in Vendor::ALL {
            let codes = of(vendor);
            for (i, d) in codes.iter().enumerate() {
                assert!(
                    codes[..i].iter().all(|e| e.code != d.code),
                    "{} lists {} twice",
                    vendor.name(),
                    d.code
                );
                assert!((100..=599).contains(&d.http), "{}", d.code);
            }
        }
    }
}
