//! `{{ event.path }}` templates in rule selectors. Parsing and rendering are
//! pure. A rendered value is always one selector value: the payload can fill
//! a slot, never add matchers or widen the selector.

use serde_json::Value;

use crate::selector::is_plain_key;

/// A string with `{{ event.a.b }}` references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    /// Path below `event`, e.g. `["incident", "id"]`.
    Ref(Vec<String>),
}

/// The only root a template may name.
pub const ROOT: &str = "event";

impl Template {
    /// Parses `text`. Errors name the bad reference: an unclosed `{{`, an
    /// empty one, a root other than `event`, or an empty path segment.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                return Err(format!("{text:?}: `{{{{` is never closed with `}}}}`"));
            };
            parts.push(Part::Ref(parse_ref(after[..close].trim())?));
            rest = &after[close + 2..];
        }
        if rest.contains("}}") {
            return Err(format!("{text:?}: `}}}}` without an opening `{{{{`"));
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    /// A template without references.
    pub fn literal(text: &str) -> Template {
        Template {
            parts: vec![Part::Text(text.to_owned())],
        }
    }

    pub fn has_refs(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Ref(_)))
    }

    /// The references as `event.a.b`, for messages.
    pub fn refs(&self) -> impl Iterator<Item = String> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Ref(path) => Some(format!("{ROOT}.{}", path.join("."))),
            Part::Text(_) => None,
        })
    }

    /// Renders to a string. With no event (age and schedule rules) a
    /// reference is an error.
    pub fn render(&self, event: Option<&Value>) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Ref(path) => out.push_str(&scalar_text(lookup(event, path)?)),
            }
        }
        Ok(out)
    }

    /// Renders keeping the JSON type when the template is exactly one
    /// reference (so `meta: {attempt: "{{ event.n }}"}` matches the number).
    pub fn render_value(&self, event: Option<&Value>) -> Result<Value, String> {
        if let [Part::Ref(path)] = self.parts.as_slice() {
            return Ok(lookup(event, path)?.clone());
        }
        self.render(event).map(Value::String)
    }
}

fn parse_ref(inner: &str) -> Result<Vec<String>, String> {
    if inner.is_empty() {
        return Err("`{{ }}` names nothing; write e.g. {{ event.incident_id }}".into());
    }
    let mut segments = inner.split('.');
    let root = segments.next().unwrap_or_default();
    if root != ROOT {
        return Err(format!(
            "{{{{ {inner} }}}} refers to nothing: references start with `event.` (the JSON payload of POST /v1/events/NAME)"
        ));
    }
    let path: Vec<String> = segments.map(str::to_owned).collect();
    if path.is_empty() {
        return Err(format!(
            "{{{{ {inner} }}}} names the whole payload; name a field, e.g. {{{{ event.id }}}}"
        ));
    }
    if let Some(bad) = path.iter().find(|s| !is_plain_key(s)) {
        return Err(format!(
            "{{{{ {inner} }}}}: path segment {bad:?} must be letters, digits, '_' or '-'"
        ));
    }
    Ok(path)
}

fn lookup<'a>(event: Option<&'a Value>, path: &[String]) -> Result<&'a Value, String> {
    let name = || format!("{ROOT}.{}", path.join("."));
    let Some(mut value) = event else {
        return Err(format!("{} refers to nothing: there is no event", name()));
    };
    for segment in path {
        let next = match value {
            Value::Object(map) => map.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        value = next.ok_or_else(|| format!("{} is missing from the event payload", name()))?;
    }
    match value {
        Value::String(s) if s.is_empty() => Err(format!("{} is an empty string", name())),
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(value),
        Value::Null => Err(format!("{} is null", name())),
        _ => Err(format!(
            "{} is {}, not a string, number or boolean",
            name(),
            if value.is_array() {
                "an array"
            } else {
                "an object"
            }
        )),
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_references_inside_text() {
        let t = Template::parse("incident-{{ event.incident.id }}-x").unwrap();
        let event = json!({"incident": {"id": 42}});
        assert_eq!(t.render(Some(&event)).unwrap(), "incident-42-x");
        assert_eq!(t.refs().collect::<Vec<_>>(), ["event.incident.id"]);
        assert!(t.has_refs());
        assert!(!Template::parse("plain").unwrap().has_refs());
    }

    #[test]
    fn a_lone_reference_keeps_its_json_type() {
        let t = Template::parse("{{event.n}}").unwrap();
        assert_eq!(t.render_value(Some(&json!({"n": 3}))).unwrap(), json!(3));
        let t = Template::parse("n{{event.n}}").unwrap();
        assert_eq!(t.render_value(Some(&json!({"n": 3}))).unwrap(), json!("n3"));
    }

    #[test]
    fn array_indices_are_path_segments() {
        let t = Template::parse("{{ event.tags.1 }}").unwrap();
        assert_eq!(t.render(Some(&json!({"tags": ["a", "b"]}))).unwrap(), "b");
        assert!(t.render(Some(&json!({"tags": ["a"]}))).is_err());
    }

    #[test]
    fn references_to_nothing_are_refused_at_parse_time() {
        for bad in [
            "{{ evnt.id }}",
            "{{ id }}",
            "{{ }}",
            "{{ event }}",
            "{{ event..id }}",
            "{{ event.id",
            "x }}",
            "{{ event.a b }}",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad} parsed");
        }
        let err = Template::parse("{{ evnt.id }}").unwrap_err();
        assert!(err.contains("refers to nothing"), "{err}");
    }

    #[test]
    fn missing_null_empty_and_structured_values_do_not_render() {
        let t = Template::parse("{{ event.id }}").unwrap();
        for (event, expect) in [
            (json!({}), "missing"),
            (json!({"id": null}), "null"),
            (json!({"id": ""}), "empty"),
            (json!({"id": {"a": 1}}), "an object"),
            (json!({"id": [1]}), "an array"),
        ] {
            let err = t.render(Some(&event)).unwrap_err();
            assert!(err.contains(expect), "{event}: {err}");
        }
        let err = t.render(None).unwrap_err();
        assert!(err.contains("no event"), "{err}");
    }
}
