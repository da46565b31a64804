//! Typed rules, and turning a rule's selector into a concrete [`Selector`]
//! at firing time. Pure: no clock, no store.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use plugin_api::OperationKind;
use serde_json::Value;

use super::template::Template;
use crate::selector::{Millis, Selector, parse_time};

/// What makes a rule fire.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// `POST /v1/events/{name}`.
    Event { name: String },
    /// Every tracked message matching `sent`, `after` its sending.
    Age { sent: Selector, after: Duration },
    /// A cron expression, evaluated in UTC.
    Schedule {
        expression: String,
        cron: Box<croner::Cron>,
    },
}

impl Trigger {
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Event { .. } => "event",
            Trigger::Age { .. } => "age",
            Trigger::Schedule { .. } => "schedule",
        }
    }
}

/// A selector whose strings may hold `{{ event.* }}` references, plus
/// times relative to the firing (`older_than`, `newer_than`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SelectTemplate {
    pub tags: Vec<Template>,
    pub any_tags: Vec<Template>,
    pub accounts: Vec<Template>,
    pub ids: Vec<Template>,
    pub sent_after: Option<TimeValue>,
    pub sent_before: Option<TimeValue>,
    pub older_than: Option<Duration>,
    pub newer_than: Option<Duration>,
    pub meta: BTreeMap<String, MetaValue>,
    pub all: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TimeValue {
    Fixed(i64),
    Template(Template),
}

#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    Literal(Value),
    Template(Template),
}

/// One rule, validated.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub trigger: Trigger,
    /// Empty for age rules: they act on the message that matched.
    pub select: SelectTemplate,
    pub action: OperationKind,
    /// Messages one firing may touch at most.
    pub limit: u64,
    /// Changes whenever what the rule does changes (not its description).
    pub version: String,
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
}

impl Rule {
    /// `requested_by` of the jobs this rule creates.
    pub fn actor(&self) -> String {
        format!("rule:{}", self.name)
    }
}

/// The firing's context: the event payload (event rules) and the time.
#[derive(Debug, Clone, Copy)]
pub struct FireContext<'a> {
    pub event: Option<&'a Value>,
    pub now_ms: i64,
}

impl SelectTemplate {
    pub fn has_positive_matcher(&self) -> bool {
        !self.tags.is_empty()
            || !self.any_tags.is_empty()
            || !self.ids.is_empty()
            || !self.meta.is_empty()
    }

    /// Every template in the selector with the field it sits in.
    pub fn templates(&self) -> impl Iterator<Item = (&'static str, &Template)> {
        let lists = [
            ("tags", &self.tags),
            ("any_tags", &self.any_tags),
            ("accounts", &self.accounts),
            ("ids", &self.ids),
        ];
        let lists = lists
            .into_iter()
            .flat_map(|(field, list)| list.iter().map(move |t| (field, t)));
        let times = [
            ("sent_after", &self.sent_after),
            ("sent_before", &self.sent_before),
        ]
        .into_iter()
        .filter_map(|(field, time)| match time {
            Some(TimeValue::Template(t)) => Some((field, t)),
            _ => None,
        });
        let meta = self.meta.values().filter_map(|m| match m {
            MetaValue::Template(t) => Some(("meta", t)),
            MetaValue::Literal(_) => None,
        });
        lists.chain(times).chain(meta)
    }

    /// The concrete selector for one firing. Errors name the field.
    pub fn render(&self, ctx: FireContext<'_>) -> Result<Selector, String> {
        let list = |field: &str, list: &[Template]| -> Result<Vec<String>, String> {
            list.iter()
                .map(|t| {
                    let value = t
                        .render(ctx.event)
                        .map_err(|e| format!("select.{field}: {e}"))?;
                    if value.is_empty() {
                        return Err(format!("select.{field}: renders to an empty string"));
                    }
                    Ok(value)
                })
                .collect()
        };
        let time = |field: &str, value: &Option<TimeValue>| -> Result<Option<i64>, String> {
            match value {
                None => Ok(None),
                Some(TimeValue::Fixed(ms)) => Ok(Some(*ms)),
                Some(TimeValue::Template(t)) => {
                    let value = t
                        .render_value(ctx.event)
                        .map_err(|e| format!("select.{field}: {e}"))?;
                    time_of(&value)
                        .map(Some)
                        .map_err(|e| format!("select.{field}: {e}"))
                }
            }
        };
        let relative = |d: Option<Duration>| {
            d.map(|d| ctx.now_ms - i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2))
        };
        let mut sent_before = time("sent_before", &self.sent_before)?;
        if let Some(bound) = relative(self.older_than) {
            sent_before = Some(sent_before.map_or(bound, |b| b.min(bound)));
        }
        let mut sent_after = time("sent_after", &self.sent_after)?;
        if let Some(bound) = relative(self.newer_than) {
            sent_after = Some(sent_after.map_or(bound, |a| a.max(bound)));
        }
        let mut meta = BTreeMap::new();
        for (key, value) in &self.meta {
            let value = match value {
                MetaValue::Literal(v) => v.clone(),
                MetaValue::Template(t) => t
                    .render_value(ctx.event)
                    .map_err(|e| format!("select.meta.{key}: {e}"))?,
            };
            meta.insert(key.clone(), value);
        }
        Ok(Selector {
            tags: list("tags", &self.tags)?,
            any_tags: list("any_tags", &self.any_tags)?,
            accounts: list("accounts", &self.accounts)?,
            ids: list("ids", &self.ids)?,
            sent_after: sent_after.map(Millis),
            sent_before: sent_before.map(Millis),
            meta,
            all: self.all,
        })
    }
}

/// Epoch milliseconds or RFC 3339, from a rendered or literal value.
pub fn time_of(value: &Value) -> Result<i64, String> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| format!("{n} is not whole epoch milliseconds")),
        Value::String(s) => parse_time(s),
        other => Err(format!(
            "{other} is not a time (RFC 3339 or epoch milliseconds)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(text: &str) -> Template {
        Template::parse(text).unwrap()
    }

    #[test]
    fn renders_every_field_from_the_event() {
        let select = SelectTemplate {
            tags: vec![t("incident-{{ event.id }}")],
            accounts: vec![t("{{ event.account }}")],
            sent_after: Some(TimeValue::Template(t("{{ event.opened_at }}"))),
            meta: BTreeMap::from([
                ("n".to_owned(), MetaValue::Template(t("{{ event.n }}"))),
                ("kind".to_owned(), MetaValue::Literal(json!("otp"))),
            ]),
            ..SelectTemplate::default()
        };
        let event =
            json!({"id": 42, "account": "ding", "opened_at": "1970-01-01T00:00:01Z", "n": 2});
        let s = select
            .render(FireContext {
                event: Some(&event),
                now_ms: 0,
            })
            .unwrap();
        assert_eq!(s.tags, ["incident-42"]);
        assert_eq!(s.accounts, ["ding"]);
        assert_eq!(s.sent_after, Some(Millis(1000)));
        assert_eq!(s.meta["n"], json!(2));
        assert_eq!(s.meta["kind"], json!("otp"));
    }

    #[test]
    fn relative_times_resolve_against_the_firing_and_only_narrow() {
        let select = SelectTemplate {
            tags: vec![t("x")],
            older_than: Some(Duration::from_secs(60)),
            newer_than: Some(Duration::from_secs(3600)),
            sent_before: Some(TimeValue::Fixed(1_000)),
            ..SelectTemplate::default()
        };
        let s = select
            .render(FireContext {
                event: None,
                now_ms: 10_000_000,
            })
            .unwrap();
        // The fixed bound is tighter than now - 60 s: it stays.
        assert_eq!(s.sent_before, Some(Millis(1_000)));
        assert_eq!(s.sent_after, Some(Millis(10_000_000 - 3_600_000)));
    }

    #[test]
    fn a_missing_field_names_the_selector_field() {
        let select = SelectTemplate {
            tags: vec![t("{{ event.id }}")],
            ..SelectTemplate::default()
        };
        let err = select
            .render(FireContext {
                event: Some(&json!({})),
                now_ms: 0,
            })
            .unwrap_err();
        assert!(err.starts_with("select.tags: event.id is missing"), "{err}");
        let bad_time = SelectTemplate {
            tags: vec![t("x")],
            sent_after: Some(TimeValue::Template(t("{{ event.at }}"))),
            ..SelectTemplate::default()
        };
        let err = bad_time
            .render(FireContext {
                event: Some(&json!({"at": "yesterday"})),
                now_ms: 0,
            })
            .unwrap_err();
        assert!(err.starts_with("select.sent_after:"), "{err}");
    }
}
