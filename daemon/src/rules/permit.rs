//! Whether the client that sent an event may have a rule fire for it. The
//! rule is the admin's: its static selector parts are allowed whenever the
//! event is. What the payload chose is the client's, and is held to the
//! client's scopes as if it had sent `POST /v1/recalls` itself. Pure.

use super::model::{MetaValue, Rule};
use crate::config::Scopes;
use crate::scope::{Refusal, action_of, require_action, require_tags, unrestricted};
use crate::selector::Selector;

/// Refuses unless `client` may: do the rule's action; select every tag the
/// payload filled into `tags` or `any_tags` (`selector` is the rule's
/// selector rendered for this firing); and, when the payload chose ids or
/// meta values with nothing of the admin's or a checked tag to bound them,
/// select by ids or meta alone (the tag pattern `*`).
pub fn permit(
    client: &str,
    scopes: &Scopes,
    rule: &Rule,
    selector: &Selector,
) -> Result<(), Refusal> {
    require_action(client, scopes, action_of(rule.action))?;
    let select = &rule.select;
    // `render` keeps each list's order and length: the n-th value came from
    // the n-th template.
    let chosen_tags: Vec<&str> = select
        .tags
        .iter()
        .zip(&selector.tags)
        .chain(select.any_tags.iter().zip(&selector.any_tags))
        .filter(|(template, _)| template.has_refs())
        .map(|(_, value)| value.as_str())
        .collect();
    require_tags(client, scopes, "select", chosen_tags.iter().copied())?;
    let admin_bound = select.all
        || select
            .tags
            .iter()
            .chain(&select.any_tags)
            .chain(&select.ids)
            .any(|t| !t.has_refs())
        || select
            .meta
            .values()
            .any(|m| matches!(m, MetaValue::Literal(_)));
    if admin_bound || !chosen_tags.is_empty() || unrestricted(scopes) {
        return Ok(());
    }
    Err(Refusal {
        code: "forbidden_tags",
        message: format!(
            "client {client} may not choose the ids or meta rule {} selects by (its event payload fills them and nothing else bounds them); that needs the tag pattern \"*\" in clients.{client}.scopes.tags",
            rule.name
        ),
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use plugin_api::OperationKind;
    use serde_json::json;

    use super::*;
    use crate::config::Action;
    use crate::rules::Template;
    use crate::rules::model::{FireContext, SelectTemplate, Trigger};

    fn scopes(actions: Vec<Action>, tags: &[&str]) -> Scopes {
        Scopes {
            actions,
            tags: tags
                .iter()
                .map(|t| glob::Pattern::new(t).unwrap())
                .collect(),
            max_messages: 10,
            all: false,
            events: Vec::new(),
        }
    }

    fn rule(action: OperationKind, select: SelectTemplate) -> Rule {
        Rule {
            name: "r".into(),
            description: String::new(),
            enabled: true,
            trigger: Trigger::Event { name: "e".into() },
            select,
            action,
            limit: 10,
            version: String::new(),
            file: PathBuf::new(),
            line: 1,
            column: 1,
        }
    }

    fn t(text: &str) -> Template {
        Template::parse(text).unwrap()
    }

    fn check(scopes: &Scopes, rule: &Rule, payload: serde_json::Value) -> Result<(), Refusal> {
        let ctx = FireContext {
            event: Some(&payload),
            now_ms: 0,
        };
        let selector = rule.select.render(ctx).unwrap();
        permit("bot", scopes, rule, &selector)
    }

    #[test]
    fn the_rules_action_must_be_the_clients() {
        let narrow = scopes(vec![Action::Event, Action::Recall], &["*"]);
        let cancel = rule(
            OperationKind::Cancel,
            SelectTemplate {
                tags: vec![t("news")],
                ..SelectTemplate::default()
            },
        );
        let refusal = check(&narrow, &cancel, json!({})).unwrap_err();
        assert_eq!(refusal.code, "forbidden_action");
        assert!(refusal.message.contains("may not cancel"), "{refusal}");
        let recall = rule(OperationKind::Recall, cancel.select.clone());
        check(&narrow, &recall, json!({})).unwrap();
    }

    #[test]
    fn tags_the_payload_fills_must_match_and_static_ones_need_not() {
        let narrow = scopes(vec![Action::Recall], &["incident-*"]);
        let r = rule(
            OperationKind::Recall,
            SelectTemplate {
                tags: vec![t("news")],
                any_tags: vec![t("{{ event.tag }}")],
                ..SelectTemplate::default()
            },
        );
        check(&narrow, &r, json!({"tag": "incident-4"})).unwrap();
        let refusal = check(&narrow, &r, json!({"tag": "billing"})).unwrap_err();
        assert_eq!(refusal.code, "forbidden_tags");
        assert!(refusal.message.contains("\"billing\""), "{refusal}");
        let mixed = rule(
            OperationKind::Recall,
            SelectTemplate {
                tags: vec![t("incident-{{ event.id }}")],
                ..SelectTemplate::default()
            },
        );
        check(&narrow, &mixed, json!({"id": 7})).unwrap();
        assert!(check(&narrow, &mixed, json!({"id": "7x"})).is_ok());
        check(
            &scopes(vec![Action::Recall], &["*"]),
            &r,
            json!({"tag": "billing"}),
        )
        .unwrap();
    }

    #[test]
    fn ids_or_meta_only_the_payload_chose_need_the_star_pattern() {
        let narrow = scopes(vec![Action::Recall], &["incident-*"]);
        let by_id = rule(
            OperationKind::Recall,
            SelectTemplate {
                ids: vec![t("{{ event.id }}")],
                ..SelectTemplate::default()
            },
        );
        let refusal = check(&narrow, &by_id, json!({"id": "m1"})).unwrap_err();
        assert!(refusal.message.contains("\"*\""), "{refusal}");
        check(
            &scopes(vec![Action::Recall], &["*"]),
            &by_id,
            json!({"id": "m1"}),
        )
        .unwrap();
        // Bounded by the admin's tag, or by a tag the client may select.
        for bound in [t("otp"), t("incident-{{ event.n }}")] {
            let bounded = rule(
                OperationKind::Recall,
                SelectTemplate {
                    tags: vec![bound],
                    ids: vec![t("{{ event.id }}")],
                    ..SelectTemplate::default()
                },
            );
            check(&narrow, &bounded, json!({"id": "m1", "n": 1})).unwrap();
        }
        let by_meta = rule(
            OperationKind::Recall,
            SelectTemplate {
                meta: [("user".to_owned(), MetaValue::Template(t("{{ event.u }}")))].into(),
                ..SelectTemplate::default()
            },
        );
        assert!(check(&narrow, &by_meta, json!({"u": "x"})).is_err());
    }
}
