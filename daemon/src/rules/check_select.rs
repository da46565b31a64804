//! Rule selectors: templates allowed only where there is an event, known
//! accounts, times and durations, scalar meta, a positive matcher.

use std::collections::BTreeMap;

use serde_saphyr::{Location, Spanned};

use super::check::Checker;
use super::model::{FireContext, MetaValue, SelectTemplate, TimeValue, time_of};
use super::raw::RawSelect;
use super::template::Template;
use crate::config::parse_duration;
use crate::selector::{Selector, is_plain_key};

impl Checker<'_> {
    pub(super) fn select(
        &mut self,
        name: &str,
        field: &str,
        raw: RawSelect,
        location: Location,
        event: bool,
    ) -> Option<SelectTemplate> {
        let before = self.errors.len();
        let text = |key: &str, value: &Spanned<String>, this: &mut Self| -> Template {
            let parsed = Template::parse(&value.value).and_then(|t| {
                if t.has_refs() && !event {
                    let refs: Vec<String> = t.refs().collect();
                    Err(format!(
                        "{{{{ {} }}}} refers to nothing: only event rules have an event",
                        refs.join(" }}, {{ ")
                    ))
                } else {
                    Ok(t)
                }
            });
            parsed.unwrap_or_else(|e| {
                this.error(value.referenced, format!("rule {name}: {field}.{key}: {e}"));
                Template::literal(&value.value)
            })
        };
        let list = |key: &str, values: &[Spanned<String>], this: &mut Self| -> Vec<Template> {
            values
                .iter()
                .map(|v| {
                    if v.value.is_empty() {
                        this.error(
                            v.referenced,
                            format!("rule {name}: {field}.{key}: empty string"),
                        );
                    }
                    text(key, v, this)
                })
                .collect()
        };
        let tags = list("tags", &raw.tags, self);
        let any_tags = list("any_tags", &raw.any_tags, self);
        let accounts = list("accounts", &raw.accounts, self);
        let ids = list("ids", &raw.ids, self);
        for (account, spanned) in accounts.iter().zip(&raw.accounts) {
            if !account.has_refs() && !self.env.accounts.contains_key(&spanned.value) {
                let known: Vec<&str> = self.env.accounts.keys().map(String::as_str).collect();
                self.error(
                    spanned.referenced,
                    format!(
                        "rule {name}: {field}.accounts: unknown account {:?} (configured: {})",
                        spanned.value,
                        known.join(", ")
                    ),
                );
            }
        }
        let time = |key: &str, value: &Option<Spanned<serde_json::Value>>, this: &mut Self| {
            let value = value.as_ref()?;
            if let serde_json::Value::String(s) = &value.value
                && s.contains("{{")
            {
                let spanned = Spanned {
                    value: s.clone(),
                    referenced: value.referenced,
                    defined: value.defined,
                };
                return Some(TimeValue::Template(text(key, &spanned, this)));
            }
            match time_of(&value.value) {
                Ok(ms) => Some(TimeValue::Fixed(ms)),
                Err(e) => {
                    this.error(value.referenced, format!("rule {name}: {field}.{key}: {e}"));
                    None
                }
            }
        };
        let sent_after = time("sent_after", &raw.sent_after, self);
        let sent_before = time("sent_before", &raw.sent_before, self);
        let duration = |key: &str, value: &Option<Spanned<String>>, this: &mut Self| {
            let value = value.as_ref()?;
            parse_duration(&value.value)
                .map_err(|e| {
                    this.error(value.referenced, format!("rule {name}: {field}.{key}: {e}"))
                })
                .ok()
        };
        let older_than = duration("older_than", &raw.older_than, self);
        let newer_than = duration("newer_than", &raw.newer_than, self);
        // Bounds that leave no time at all: the rule could never select anything.
        if let (Some(TimeValue::Fixed(after)), Some(TimeValue::Fixed(before)), Some(at)) =
            (&sent_after, &sent_before, &raw.sent_after)
            && after >= before
        {
            self.error(
                at.referenced,
                format!("rule {name}: {field}.sent_after must be earlier than sent_before"),
            );
        }
        if let (Some(older), Some(newer), Some(at)) = (older_than, newer_than, &raw.newer_than)
            && newer <= older
        {
            self.error(
                at.referenced,
                format!("rule {name}: {field}.newer_than must be longer than older_than"),
            );
        }
        let mut meta = BTreeMap::new();
        for (key, value) in &raw.meta {
            if !is_plain_key(key) {
                self.error(
                    value.referenced,
                    format!(
                        "rule {name}: {field}.meta: key {key:?} must be letters, digits, '_' or '-'"
                    ),
                );
            }
            let entry = match &value.value {
                serde_json::Value::String(s) if s.contains("{{") => {
                    let spanned = Spanned {
                        value: s.clone(),
                        referenced: value.referenced,
                        defined: value.defined,
                    };
                    MetaValue::Template(text(&format!("meta.{key}"), &spanned, self))
                }
                v if v.is_string() || v.is_number() || v.is_boolean() => {
                    MetaValue::Literal(v.clone())
                }
                _ => {
                    self.error(
                        value.referenced,
                        format!("rule {name}: {field}.meta.{key}: only strings, numbers and booleans can be matched"),
                    );
                    continue;
                }
            };
            meta.insert(key.clone(), entry);
        }
        let select = SelectTemplate {
            tags,
            any_tags,
            accounts,
            ids,
            sent_after,
            sent_before,
            older_than,
            newer_than,
            meta,
            all: raw.all,
        };
        if select.all && select.has_positive_matcher() {
            self.error(
                location,
                format!("rule {name}: {field}: `all: true` selects everything; drop the other matchers or `all`"),
            );
        } else if !select.all && !select.has_positive_matcher() {
            self.error(
                location,
                format!(
                    "rule {name}: {field} has no positive matcher; give tags, any_tags, ids or meta (or an explicit all: true)"
                ),
            );
        }
        (self.errors.len() == before).then_some(select)
    }

    /// An age rule's `on.sent`, which has no templates, as a selector.
    pub(super) fn literal_selector(
        &mut self,
        name: &str,
        template: &SelectTemplate,
        location: Location,
    ) -> Option<Selector> {
        let ctx = FireContext {
            event: None,
            now_ms: 0,
        };
        template
            .render(ctx)
            .map_err(|e| self.error(location, format!("rule {name}: on.sent: {e}")))
            .ok()
    }
}
