//! Access tokens (DingTalk `gettoken`, ...): obtained through the plugin's
//! token request, cached per account until shortly before they expire,
//! refreshed once at a time, dropped when the vendor refuses them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plugin_api::{Outcome, TokenInput, TokenParseInput, TokenReply};

use super::executor::Executor;
use crate::accounts::AccountRuntime;

#[derive(Debug, Clone)]
struct Entry {
    token: String,
    refresh_at_ms: i64,
}

#[derive(Default)]
pub struct Tokens {
    entries: Mutex<HashMap<String, Entry>>,
    /// One refresh at a time per account.
    refreshing: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// How long before expiry a token is replaced: a tenth of its life, at most 5 min.
pub fn refresh_margin_ms(expires_in_secs: u64) -> i64 {
    (life_ms(expires_in_secs) / 10).min(300_000)
}

/// A token's life in milliseconds, saturated (a plugin may answer anything).
fn life_ms(expires_in_secs: u64) -> i64 {
    i64::try_from(expires_in_secs)
        .unwrap_or(i64::MAX)
        .saturating_mul(1000)
}

/// When a token granted at `now_ms` for `expires_in_secs` is replaced.
fn refresh_at_ms(now_ms: i64, expires_in_secs: u64) -> i64 {
    now_ms
        .saturating_add(life_ms(expires_in_secs))
        .saturating_sub(refresh_margin_ms(expires_in_secs))
}

impl Tokens {
    fn cached(&self, account: &str, now_ms: i64) -> Option<String> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(account)
            .filter(|e| now_ms < e.refresh_at_ms)
            .map(|e| e.token.clone())
    }

    /// Forgets `account`'s token `refused` (the vendor refused it), unless
    /// it was already replaced: a late refusal of the old token must not
    /// drop the new one.
    pub fn invalidate(&self, account: &str, refused: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.get(account).is_some_and(|e| e.token == refused) {
            entries.remove(account);
        }
    }

    /// A valid token, from the cache or freshly obtained. `Err` carries the
    /// outcome to record (retry or failure), already classified by the plugin.
    pub async fn get(
        &self,
        runtime: &AccountRuntime,
        executor: &Executor,
        timeout: Duration,
        now_ms: impl Fn() -> i64,
    ) -> Result<String, Outcome> {
        if let Some(token) = self.cached(&runtime.name, now_ms()) {
            return Ok(token);
        }
        let lock = {
            let mut refreshing = self.refreshing.lock().unwrap_or_else(|e| e.into_inner());
            refreshing.entry(runtime.name.clone()).or_default().clone()
        };
        let _guard = lock.lock().await;
        if let Some(token) = self.cached(&runtime.name, now_ms()) {
            return Ok(token);
        }
        let plugin = &runtime.plugin.plugin;
        let failed = |code: &str, message: String| Outcome::Failed {
            code: code.into(),
            message,
            permanent: true,
        };
        let input = TokenInput {
            account: runtime.account.clone(),
            now_ms: now_ms(),
        };
        let request = match plugin.token_request(&input) {
            Ok(Some(request)) => request,
            Ok(None) => {
                return Err(failed(
                    "token_unsupported",
                    "the plugin says it uses tokens but builds no token request".into(),
                ));
            }
            Err(e) => return Err(failed(&e.code, e.message)),
        };
        let admitted = runtime
            .guard
            .admit(request)
            .map_err(|e| failed("undeclared_host", e))?;
        let response = executor
            .send(admitted, timeout)
            .await
            .map_err(|e| Outcome::Retry {
                after_ms: None,
                code: "token_transport".into(),
                message: e,
            })?;
        let parse = TokenParseInput {
            account: runtime.account.clone(),
            response,
            now_ms: now_ms(),
        };
        match plugin.token_parse(&parse) {
            Ok(TokenReply::Granted {
                token,
                expires_in_secs,
            }) => {
                let now = now_ms();
                let entry = Entry {
                    token: token.clone(),
                    refresh_at_ms: refresh_at_ms(now, expires_in_secs),
                };
                self.entries
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(runtime.name.clone(), entry);
                Ok(token)
            }
            Ok(TokenReply::Rejected { outcome }) => Err(outcome),
            Err(e) => Err(failed(&e.code, e.message)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(tokens: &Tokens, token: &str) {
        tokens.entries.lock().unwrap().insert(
            "a".into(),
            Entry {
                token: token.into(),
                refresh_at_ms: i64::MAX,
            },
        );
    }

    #[test]
    fn a_late_refusal_of_an_old_token_keeps_the_new_one() {
        let tokens = Tokens::default();
        cache(&tokens, "t1");
        tokens.invalidate("a", "t1");
        assert_eq!(tokens.cached("a", 0), None);
        cache(&tokens, "t2");
        tokens.invalidate("a", "t1");
        assert_eq!(tokens.cached("a", 0).as_deref(), Some("t2"));
    }

    #[test]
    fn a_huge_lifetime_does_not_wrap() {
        assert_eq!(refresh_margin_ms(u64::MAX), 300_000);
        assert!(refresh_at_ms(1_000, u64::MAX) > 1_000);
    }

    #[test]
    fn tokens_are_replaced_before_they_expire() {
        assert_eq!(refresh_margin_ms(7200), 300_000);
        assert_eq!(refresh_margin_ms(600), 60_000);
        assert_eq!(refresh_margin_ms(0), 0);
    }
}
