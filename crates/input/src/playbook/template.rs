//! The small template language of playbook targets and parameters.
//!
//! Text with `{{ expr }}` holes. An expression is a path, optionally followed
//! by fallbacks: `{{ target.attributes.user or steps.deactivate.evidence.user }}`
//! takes the first that has a value; a quoted literal (`or "us-east-1"`)
//! always has one. Paths:
//!
//! - `target.id`, `target.kind`, `target.provider`, `target.attributes.<key>`:
//!   the signal identity the step is working on;
//! - `signal.id`, `signal.kind`, `signal.source`, `signal.severity`,
//!   `signal.incident`, `signal.details.<key>…`;
//! - `steps.<step>.evidence.<key>`: evidence recorded by an earlier step (one
//!   the step `needs`) for the same signal identity.

use crate::signal::Signal;
use cordon_types::Identity;
use std::fmt;

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    text: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Hole(Vec<Choice>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Choice {
    Path(Vec<String>),
    Literal(String),
}

/// A template syntax or reference error, at a byte offset within the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Byte offset of the problem within the template text.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

/// A template hole none of whose choices has a value for the identity worked on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{}` has no value for {target}", paths.join(" or "))]
pub struct MissingValue {
    /// The hole's paths, in the order they were tried.
    pub paths: Vec<String>,
    /// The signal identity the step was working on, as displayed.
    pub target: String,
}

/// Where a template's values come from while a run executes.
pub struct Scope<'a> {
    /// The signal identity the step is working on (`target.*`).
    pub target: &'a Identity,
    /// The signal the run answers (`signal.*`).
    pub signal: &'a Signal,
    /// Evidence recorded by `step` for the current signal identity.
    pub evidence: &'a dyn Fn(&str, &str) -> Option<String>,
}

impl Template {
    /// Parses template text. Paths are checked for shape here; which steps
    /// they may name is checked by [`Template::step_references`] callers.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut offset = 0;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after_open = &rest[open + 2..];
            let close = after_open.find("}}").ok_or(TemplateError {
                offset: offset + open,
                message: "`{{` is never closed with `}}`".into(),
            })?;
            let expr_offset = offset + open + 2;
            parts.push(Part::Hole(parse_expr(&after_open[..close], expr_offset)?));
            let consumed = open + 2 + close + 2;
            rest = &rest[consumed..];
            offset += consumed;
        }
        if let Some(stray) = rest.find("}}") {
            return Err(TemplateError {
                offset: offset + stray,
                message: "`}}` without a matching `{{`".into(),
            });
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template {
            text: text.to_string(),
            parts,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the template has no holes (its value is its text).
    pub fn is_constant(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// Whether the value depends on the identity being worked on.
    pub fn uses_target(&self) -> bool {
        self.paths()
            .any(|p| p.first().is_some_and(|r| r == "target" || r == "steps"))
    }

    /// The steps named by `steps.<step>.…` paths.
    pub fn step_references(&self) -> impl Iterator<Item = &str> {
        self.paths()
            .filter(|p| p.first().is_some_and(|r| r == "steps"))
            .filter_map(|p| p.get(1).map(String::as_str))
    }

    fn paths(&self) -> impl Iterator<Item = &Vec<String>> {
        self.parts.iter().flat_map(|part| match part {
            Part::Hole(choices) => choices
                .iter()
                .filter_map(|c| match c {
                    Choice::Path(p) => Some(p),
                    Choice::Literal(_) => None,
                })
                .collect::<Vec<_>>(),
            Part::Text(_) => Vec::new(),
        })
    }

    /// Renders the template, or names the first hole that has no value.
    pub fn render(&self, scope: &Scope<'_>) -> Result<String, MissingValue> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Hole(choices) => {
                    let value = choices.iter().find_map(|choice| match choice {
                        Choice::Literal(text) => Some(text.clone()),
                        Choice::Path(path) => lookup(path, scope),
                    });
                    match value {
                        Some(value) => out.push_str(&value),
                        None => {
                            let paths = choices
                                .iter()
                                .filter_map(|c| match c {
                                    Choice::Path(p) => Some(p.join(".")),
                                    Choice::Literal(_) => None,
                                })
                                .collect();
                            return Err(MissingValue {
                                paths,
                                target: scope.target.to_string(),
                            });
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn parse_expr(expr: &str, base: usize) -> Result<Vec<Choice>, TemplateError> {
    let mut choices = Vec::new();
    let mut offset = base;
    for raw in split_or(expr) {
        let leading = raw.len() - raw.trim_start().len();
        let trimmed = raw.trim();
        let at = offset + leading;
        if trimmed.is_empty() {
            return Err(TemplateError {
                offset: at,
                message: "empty expression in `{{ }}`".into(),
            });
        }
        let choice = if let Some(inner) = trimmed.strip_prefix('"') {
            let literal = inner.strip_suffix('"').ok_or(TemplateError {
                offset: at,
                message: "unterminated string literal".into(),
            })?;
            Choice::Literal(literal.to_string())
        } else {
            let path: Vec<String> = trimmed.split('.').map(str::to_string).collect();
            check_path(&path).map_err(|message| TemplateError {
                offset: at,
                message,
            })?;
            Choice::Path(path)
        };
        choices.push(choice);
        offset += raw.len() + " or ".len();
    }
    Ok(choices)
}

/// Splits an expression on ` or ` outside string literals.
fn split_or(expr: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut in_string = false;
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'"' {
            in_string = !in_string;
        } else if !in_string && bytes[i..].starts_with(b" or ") {
            // Compared as bytes: `i` may sit inside a multi-byte character,
            // where slicing the string would panic (found by the fuzzer).
            pieces.push(&expr[start..i]);
            i += 4;
            start = i;
            continue;
        }
        i += 1;
    }
    pieces.push(&expr[start..]);
    pieces
}

fn check_path(path: &[String]) -> Result<(), String> {
    let valid_segment = |s: &String| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if !path.iter().all(valid_segment) {
        return Err(format!(
            "`{}` is not a path like `target.attributes.user`",
            path.join(".")
        ));
    }
    let joined = path.join(".");
    let ok = match path[0].as_str() {
        "target" => match path.get(1).map(String::as_str) {
            Some("id" | "kind" | "provider") => path.len() == 2,
            Some("attributes") => path.len() == 3,
            _ => false,
        },
        "signal" => match path.get(1).map(String::as_str) {
            Some("id" | "kind" | "source" | "severity" | "incident") => path.len() == 2,
            Some("details") => path.len() >= 3,
            _ => false,
        },
        "steps" => path.len() == 4 && path[2] == "evidence",
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "unknown value `{joined}`: use target.id|kind|provider, target.attributes.<key>, \
             signal.id|kind|source|severity|incident, signal.details.<key> or \
             steps.<step>.evidence.<key>"
        ))
    }
}

fn lookup(path: &[String], scope: &Scope<'_>) -> Option<String> {
    let target = scope.target;
    let signal = scope.signal;
    match (path[0].as_str(), path[1].as_str()) {
        ("target", "id") => Some(target.id.clone()),
        ("target", "kind") => Some(target.kind.to_string()),
        ("target", "provider") => Some(target.provider.clone()),
        ("target", "attributes") => target.attributes.get(&path[2]).cloned(),
        ("signal", "id") => Some(signal.id.clone()),
        ("signal", "kind") => Some(signal.kind.clone()),
        ("signal", "source") => Some(signal.source.clone()),
        ("signal", "severity") => Some(signal.severity.to_string()),
        ("signal", "incident") => signal.incident.clone(),
        ("signal", "details") => {
            let mut value = &signal.details;
            for key in &path[2..] {
                value = value.get(key)?;
            }
            match value {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                serde_json::Value::Bool(b) => Some(b.to_string()),
                _ => None,
            }
        }
        ("steps", step) => (scope.evidence)(step, &path[3]),
        _ => None,
    }
    .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cordon_types::IdentityKind;
    use cordon_types::Severity;
    use std::collections::BTreeMap;

    fn signal() -> Signal {
        Signal {
            id: "sig-1".into(),
            kind: "credential.exposed".into(),
            source: "test".into(),
            severity: Severity::High,
            observed_at: time::OffsetDateTime::UNIX_EPOCH,
            incident: Some("INC-1".into()),
            identities: vec![],
            details: serde_json::json!({"repo": {"name": "infra"}}),
        }
    }

    fn key() -> Identity {
        Identity {
            provider: "aws".into(),
            kind: IdentityKind::AccessKey,
            id: "AKIA1".into(),
            attributes: BTreeMap::from([("user".into(), "ci-bot".into())]),
        }
    }

    fn render(
        text: &str,
        evidence: &dyn Fn(&str, &str) -> Option<String>,
    ) -> Result<String, MissingValue> {
        let signal = signal();
        let target = key();
        Template::parse(text).unwrap().render(&Scope {
            target: &target,
            signal: &signal,
            evidence,
        })
    }

    #[test]
    fn renders_paths_fallbacks_and_literals() {
        let none = |_: &str, _: &str| None;
        assert_eq!(
            render("{{ target.attributes.user }}", &none).unwrap(),
            "ci-bot"
        );
        assert_eq!(
            render("{{signal.incident}}/{{ signal.details.repo.name }}", &none).unwrap(),
            "INC-1/infra"
        );
        assert_eq!(
            render("{{ target.attributes.region or \"us-east-1\" }}", &none).unwrap(),
            "us-east-1"
        );
        let evidence = |step: &str, key: &str| {
            (step == "deactivate" && key == "user").then(|| "bob".to_string())
        };
        assert_eq!(
            render(
                "{{ target.attributes.owner or steps.deactivate.evidence.user }}",
                &evidence
            )
            .unwrap(),
            "bob"
        );
    }

    #[test]
    fn missing_values_are_named() {
        let err = render(
            "{{ target.attributes.role or target.attributes.team }}",
            &|_, _| None,
        )
        .unwrap_err();
        assert_eq!(
            err.paths,
            ["target.attributes.role", "target.attributes.team"]
        );
        assert!(
            err.to_string().starts_with(
                "`target.attributes.role or target.attributes.team` has no value for "
            ),
            "{err}"
        );
    }

    #[test]
    fn syntax_errors_point_into_the_template() {
        let err = Template::parse("x {{ target.nope }}").unwrap_err();
        assert_eq!(err.offset, 5);
        assert!(err.message.contains("unknown value `target.nope`"));
        assert_eq!(Template::parse("{{ target.id").unwrap_err().offset, 0);
        assert!(Template::parse("{{ }}").is_err());
        assert!(Template::parse("{{ \"open }}").is_err());
        // Multi-byte characters before ` or ` (a panic the fuzzer found).
        assert!(Template::parse("{{ é or target.id }}").is_err());
        assert!(Template::parse("{{ \"€\" or target.id }}").is_ok());
    }

    #[test]
    fn reports_step_references_and_constancy() {
        let t = Template::parse("{{ steps.a.evidence.user or target.id }}").unwrap();
        assert_eq!(t.step_references().collect::<Vec<_>>(), ["a"]);
        assert!(t.uses_target());
        assert!(Template::parse("ci-bot").unwrap().is_constant());
    }
}
