//! What a verified client may do: its actions, the tags it may select, and
//! whether it may select everything. Pure checks; refusals are 403s whose
//! message says which scope is missing.

use super::errors::ApiError;
use crate::config::{Action, Scopes};
use crate::selector::Selector;

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Recall => "recall",
        Action::Cancel => "cancel",
        Action::Update => "update",
        Action::Track => "track",
        Action::Event => "event",
        Action::Read => "read",
    }
}

/// 403 unless `action` is among the client's scopes.
pub fn require_action(client: &str, scopes: &Scopes, action: Action) -> Result<(), ApiError> {
    if scopes.actions.contains(&action) {
        return Ok(());
    }
    let allowed: Vec<&str> = scopes.actions.iter().map(|a| action_name(*a)).collect();
    Err(ApiError::forbidden(
        "forbidden_action",
        format!(
            "client {client} may not {} (its scopes allow: {}); add it to clients.{client}.scopes.actions",
            action_name(action),
            if allowed.is_empty() {
                "nothing".to_owned()
            } else {
                allowed.join(", ")
            }
        ),
    ))
}

/// 403 unless the client may send the event `name` (no `events` patterns: any).
pub fn require_event(client: &str, scopes: &Scopes, name: &str) -> Result<(), ApiError> {
    if scopes.events.is_empty() || scopes.events.iter().any(|p| p.matches(name)) {
        return Ok(());
    }
    let patterns: Vec<&str> = scopes.events.iter().map(glob::Pattern::as_str).collect();
    Err(ApiError::forbidden(
        "forbidden_event",
        format!(
            "client {client} may not send event {name:?} (patterns: {}); add it to clients.{client}.scopes.events",
            patterns.join(", ")
        ),
    ))
}

/// 403 unless the client may select what `selector` names: `all` needs
/// `scopes.all`; every named tag must match one of the tag patterns; a
/// selector naming no tag (ids or meta only) needs the pattern `*`.
pub fn require_selector(
    client: &str,
    scopes: &Scopes,
    selector: &Selector,
) -> Result<(), ApiError> {
    if selector.all {
        if scopes.all {
            return Ok(());
        }
        return Err(ApiError::forbidden(
            "forbidden_all",
            format!(
                "client {client} may not select every message (\"all\": true); set clients.{client}.scopes.all"
            ),
        ));
    }
    let patterns: Vec<&str> = scopes.tags.iter().map(glob::Pattern::as_str).collect();
    let shown = if patterns.is_empty() {
        "none".to_owned()
    } else {
        patterns.join(", ")
    };
    let mut named = selector.named_tags().peekable();
    if named.peek().is_none() {
        if patterns.contains(&"*") {
            return Ok(());
        }
        return Err(ApiError::forbidden(
            "forbidden_tags",
            format!(
                "client {client} may only select by tag (patterns: {shown}); selecting by ids or meta alone needs the tag pattern \"*\""
            ),
        ));
    }
    for tag in named {
        if !scopes.tags.iter().any(|p| p.matches(tag)) {
            return Err(ApiError::forbidden(
                "forbidden_tags",
                format!("client {client} may not select tag {tag:?} (allowed patterns: {shown})"),
            ));
        }
    }
    Ok(())
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
