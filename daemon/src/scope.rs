//! What a verified client may do: its actions, the tags it may select or
//! read, and whether it may select everything. Pure checks shared by the
//! HTTP API and the rules an event fires; a refusal says which scope is
//! missing (the API answers it as a 403).

use plugin_api::OperationKind;

use crate::config::{Action, Scopes};
use crate::selector::Selector;

/// Why a client may not do something: a machine-readable code
/// (`forbidden_action`, `forbidden_tags`, …) and a message naming the scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

fn refuse(code: &'static str, message: String) -> Refusal {
    Refusal { code, message }
}

/// The action a client needs for a job doing `kind`.
pub fn action_of(kind: OperationKind) -> Action {
    match kind {
        OperationKind::Recall => Action::Recall,
        OperationKind::Cancel => Action::Cancel,
        OperationKind::Update => Action::Update,
    }
}

/// Whether the client may see and select any message: the tag pattern `*`
/// or the `all` scope.
pub fn unrestricted(scopes: &Scopes) -> bool {
    scopes.all || scopes.tags.iter().any(|p| p.as_str() == "*")
}

fn shown_patterns(scopes: &Scopes) -> String {
    let patterns: Vec<&str> = scopes.tags.iter().map(glob::Pattern::as_str).collect();
    if patterns.is_empty() {
        "none".to_owned()
    } else {
        patterns.join(", ")
    }
}

/// Refuses unless `action` is among the client's scopes.
pub fn require_action(client: &str, scopes: &Scopes, action: Action) -> Result<(), Refusal> {
    if scopes.actions.contains(&action) {
        return Ok(());
    }
    let allowed: Vec<&str> = scopes.actions.iter().map(|a| a.as_str()).collect();
    Err(refuse(
        "forbidden_action",
        format!(
            "client {client} may not {} (its scopes allow: {}); add it to clients.{client}.scopes.actions",
            action.as_str(),
            if allowed.is_empty() {
                "nothing".to_owned()
            } else {
                allowed.join(", ")
            }
        ),
    ))
}

/// Refuses unless the client may send the event `name` (no `events` patterns: any).
pub fn require_event(client: &str, scopes: &Scopes, name: &str) -> Result<(), Refusal> {
    if scopes.events.is_empty() || scopes.events.iter().any(|p| p.matches(name)) {
        return Ok(());
    }
    let patterns: Vec<&str> = scopes.events.iter().map(glob::Pattern::as_str).collect();
    Err(refuse(
        "forbidden_event",
        format!(
            "client {client} may not send event {name:?} (patterns: {}); add it to clients.{client}.scopes.events",
            patterns.join(", ")
        ),
    ))
}

/// Refuses unless every one of `tags` matches one of the client's tag
/// patterns (always allowed for an [`unrestricted`] client). `what` says
/// what the tags are for: "select", "track".
pub fn require_tags<'a>(
    client: &str,
    scopes: &Scopes,
    what: &str,
    tags: impl IntoIterator<Item = &'a str>,
) -> Result<(), Refusal> {
    if unrestricted(scopes) {
        return Ok(());
    }
    for tag in tags {
        if !scopes.tags.iter().any(|p| p.matches(tag)) {
            return Err(refuse(
                "forbidden_tags",
                format!(
                    "client {client} may not {what} tag {tag:?} (allowed patterns: {})",
                    shown_patterns(scopes)
                ),
            ));
        }
    }
    Ok(())
}

/// Refuses unless the client may select what `selector` names: `all` needs
/// `scopes.all`; every named tag must match one of the tag patterns; a
/// selector naming no tag (ids or meta only) needs the pattern `*`.
pub fn require_selector(client: &str, scopes: &Scopes, selector: &Selector) -> Result<(), Refusal> {
    if selector.all {
        if scopes.all {
            return Ok(());
        }
        return Err(refuse(
            "forbidden_all",
            format!(
                "client {client} may not select every message (\"all\": true); set clients.{client}.scopes.all"
            ),
        ));
    }
    let mut named = selector.named_tags().peekable();
    if named.peek().is_none() {
        if scopes.tags.iter().any(|p| p.as_str() == "*") {
            return Ok(());
        }
        return Err(refuse(
            "forbidden_tags",
            format!(
                "client {client} may only select by tag (patterns: {}); selecting by ids or meta alone needs the tag pattern \"*\"",
                shown_patterns(scopes)
            ),
        ));
    }
    for tag in named {
        if !scopes.tags.iter().any(|p| p.matches(tag)) {
            return Err(refuse(
                "forbidden_tags",
                format!(
                    "client {client} may not select tag {tag:?} (allowed patterns: {})",
                    shown_patterns(scopes)
                ),
            ));
        }
    }
    Ok(())
}

/// Refuses a ledger page (`GET /v1/messages`) unless the client is
/// [`unrestricted`] or asks for one `tag` its patterns allow: the ledger
/// holds every client's messages and their `meta`.
pub fn require_ledger_tag(client: &str, scopes: &Scopes, tag: Option<&str>) -> Result<(), Refusal> {
    if unrestricted(scopes) {
        return Ok(());
    }
    match tag {
        Some(tag) => require_tags(client, scopes, "read", [tag]),
        None => Err(refuse(
            "forbidden_tags",
            format!(
                "client {client} may only read the ledger by tag; add ?tag= with a tag matching {}",
                shown_patterns(scopes)
            ),
        )),
    }
}

/// Whether the client may see a job (`GET /v1/jobs/{id}`): its own, any
/// job for an [`unrestricted`] client, or one whose selector is made of tags
/// only (no ids, meta or `all`), every one of them matching its patterns.
/// `selector` is the job's stored snapshot; one that does not parse is not
/// shown.
pub fn may_read_job(
    client: &str,
    scopes: &Scopes,
    requested_by: &str,
    selector: &serde_json::Value,
) -> bool {
    if requested_by == client || unrestricted(scopes) {
        return true;
    }
    let Ok(selector) = serde_json::from_value::<Selector>(selector.clone()) else {
        return false;
    };
    let tags_only = !selector.all && selector.ids.is_empty() && selector.meta.is_empty();
    let mut named = selector.named_tags().peekable();
    tags_only
        && named.peek().is_some()
        && named.all(|tag| scopes.tags.iter().any(|p| p.matches(tag)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scopes(tags: &[&str], all: bool) -> Scopes {
        Scopes {
            events: Vec::new(),
            actions: vec![Action::Recall],
            tags: tags
                .iter()
                .map(|t| glob::Pattern::new(t).unwrap())
                .collect(),
            max_messages: 10,
            all,
        }
    }

    fn selector(v: serde_json::Value) -> Selector {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn actions_outside_the_scope_are_refused_naming_what_is_allowed() {
        let s = scopes(&[], false);
        require_action("bot", &s, Action::Recall).unwrap();
        let err = require_action("bot", &s, Action::Cancel)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("may not cancel") && err.contains("allow: recall"),
            "{err}"
        );
    }

    #[test]
    fn every_named_tag_must_match_a_pattern() {
        let s = scopes(&["incident-*", "otp"], false);
        require_selector(
            "bot",
            &s,
            &selector(json!({"tags": ["incident-42"], "any_tags": ["otp"]})),
        )
        .unwrap();
        let err = require_selector(
            "bot",
            &s,
            &selector(json!({"tags": ["incident-42", "billing"]})),
        )
        .unwrap_err();
        assert!(err.to_string().contains("\"billing\""), "{err}");
        assert!(
            require_selector(
                "bot",
                &s,
                &selector(json!({"any_tags": ["incident-1", "marketing"]}))
            )
            .is_err()
        );
    }

    #[test]
    fn ids_or_meta_alone_need_the_star_pattern_and_all_needs_the_all_scope() {
        let by_id = selector(json!({"ids": ["m1"]}));
        assert!(require_selector("bot", &scopes(&["incident-*"], false), &by_id).is_err());
        require_selector("bot", &scopes(&["*"], false), &by_id).unwrap();
        let all = selector(json!({"all": true}));
        assert!(require_selector("bot", &scopes(&["*"], false), &all).is_err());
        require_selector("bot", &scopes(&[], true), &all).unwrap();
    }
}
