//! Request and response bodies of the HTTP API. Requests refuse unknown
//! fields; `openapi.json` documents the same shapes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::selector::{Millis, Selector};
use crate::store::MessageRow;

/// `POST /v1/messages`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackRequest {
    pub messages: Vec<TrackedMessage>,
}

/// One sent message, as the sender knows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackedMessage {
    /// A configured account name.
    pub account: String,
    /// The vendor's id of the message (what the recall call names).
    pub remote_id: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// When it was sent; the time of this request when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<Millis>,
    /// A JSON object; its top-level fields can be matched by `select.meta`.
    #[serde(default = "empty_object")]
    pub meta: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// The actions `POST /v1/recalls` accepts (updates have their own route).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecallAction {
    #[default]
    Recall,
    Cancel,
}

/// `POST /v1/recalls`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecallRequest {
    pub select: Selector,
    #[serde(default)]
    pub action: RecallAction,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub reason: String,
}

/// `POST /v1/updates`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    pub account: String,
    pub remote_id: String,
    /// The new content, passed to the plugin as the task's `params`.
    pub content: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub reason: String,
}

/// `202` answer of `POST /v1/recalls` and `POST /v1/updates`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobAccepted {
    pub job_id: i64,
    pub matched: u64,
    pub per_account: BTreeMap<String, u64>,
}

/// `200` answer of a dry run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DryRun {
    pub dry_run: bool,
    pub matched: u64,
    pub per_account: BTreeMap<String, u64>,
    /// Up to `DRY_RUN_SAMPLE` of the matched messages.
    pub sample: Vec<serde_json::Value>,
}

/// How many matched messages a dry run shows.
pub const DRY_RUN_SAMPLE: u32 = 20;

/// `GET /v1/messages` answer.
#[derive(Debug, Clone, Serialize)]
pub struct Ledger {
    pub messages: Vec<MessageRow>,
    /// Pass as `after` for the next page; `null` on the last page.
    pub next_after: Option<i64>,
}

/// `GET /v1/messages` query, parsed by hand from the query pairs so that an
/// unknown or malformed parameter is named in the error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerQuery {
    pub tag: Option<String>,
    pub account: Option<String>,
    pub after: i64,
    pub limit: u32,
}

pub const LEDGER_DEFAULT_LIMIT: u32 = 100;
pub const LEDGER_MAX_LIMIT: u32 = 1000;

impl LedgerQuery {
    /// Parses `tag`, `account`, `after`, `limit`; the error names the parameter.
    pub fn parse(pairs: &[(String, String)]) -> Result<LedgerQuery, (String, String)> {
        let mut query = LedgerQuery {
            tag: None,
            account: None,
            after: 0,
            limit: LEDGER_DEFAULT_LIMIT,
        };
        for (key, value) in pairs {
            match key.as_str() {
                "tag" => query.tag = Some(value.clone()).filter(|v| !v.is_empty()),
                "account" => query.account = Some(value.clone()).filter(|v| !v.is_empty()),
                "after" => {
                    query.after = value.parse().map_err(|_| {
                        (
                            key.clone(),
                            format!("{value:?} is not a message id (an integer)"),
                        )
                    })?;
                }
                "limit" => {
                    query.limit = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=LEDGER_MAX_LIMIT).contains(n))
                        .ok_or_else(|| {
                            (
                                key.clone(),
                                format!("{value:?} is not between 1 and {LEDGER_MAX_LIMIT}"),
                            )
                        })?;
                }
                other => {
                    return Err((
                        other.to_owned(),
                        "unknown parameter; use tag, account, after, limit".to_owned(),
                    ));
                }
            }
        }
        Ok(query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn ledger_query_defaults_and_named_errors() {
        assert_eq!(
            LedgerQuery::parse(&[]).unwrap(),
            LedgerQuery {
                tag: None,
                account: None,
                after: 0,
                limit: LEDGER_DEFAULT_LIMIT
            }
        );
        let q =
            LedgerQuery::parse(&pairs(&[("tag", "x"), ("after", "7"), ("limit", "1000")])).unwrap();
        assert_eq!((q.tag.as_deref(), q.after, q.limit), (Some("x"), 7, 1000));
        assert_eq!(
            LedgerQuery::parse(&pairs(&[("limit", "1001")]))
                .unwrap_err()
                .0,
            "limit"
        );
        assert_eq!(
            LedgerQuery::parse(&pairs(&[("limit", "0")])).unwrap_err().0,
            "limit"
        );
        assert_eq!(
            LedgerQuery::parse(&pairs(&[("after", "x")])).unwrap_err().0,
            "after"
        );
        assert_eq!(
            LedgerQuery::parse(&pairs(&[("tags", "x")])).unwrap_err().0,
            "tags"
        );
    }

    #[test]
    fn recall_defaults_to_recall_and_refuses_update() {
        let r: RecallRequest = serde_json::from_str(r#"{"select": {"tags": ["x"]}}"#).unwrap();
        assert_eq!((r.action, r.dry_run), (RecallAction::Recall, false));
        assert!(
            serde_json::from_str::<RecallRequest>(
                r#"{"select": {"tags": ["x"]}, "action": "update"}"#
            )
            .is_err()
        );
    }
}
