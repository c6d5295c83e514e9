//! Parsing a playbook file into a [`Playbook`], with every error located.

use super::{IdentityFilter, OnFailure, Playbook, Step, TargetTemplate, Template, Trigger};
use crate::diagnostic::{self, InputErrors, SourceFile};
use cordon_types::IdentityKind;
use cordon_types::Severity;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use toml::Spanned;

/// The longest step id: ids name steps in reports, templates and keys.
pub(crate) const MAX_STEP_ID: usize = 64;

/// The most retries a step may ask for after transient failures.
pub(crate) const MAX_RETRIES: u32 = 10;

/// How long an action keeps retrying transient failures unless its step
/// says otherwise: retries end at the count or at this, whichever is first.
pub(crate) const DEFAULT_RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(120);

/// The longest `retry_for` a step may ask for.
const MAX_RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(3600);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlaybook {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    owner: Spanned<String>,
    #[serde(default)]
    trigger: RawTrigger,
    #[serde(rename = "step", default)]
    steps: Option<Spanned<Vec<RawStep>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTrigger {
    #[serde(default)]
    kinds: Vec<String>,
    #[serde(default)]
    sources: Vec<String>,
    #[serde(default)]
    providers: Vec<String>,
    #[serde(default)]
    min_severity: Option<Severity>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: Spanned<String>,
    plugin: Spanned<String>,
    action: Spanned<String>,
    #[serde(default)]
    for_each: Option<Spanned<RawFilter>>,
    #[serde(default)]
    target: Option<Spanned<RawTarget>>,
    #[serde(default)]
    params: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    needs: Vec<Spanned<String>>,
    #[serde(default = "default_retries")]
    retries: Spanned<u32>,
    #[serde(default)]
    retry_for: Option<Spanned<String>>,
    #[serde(default)]
    on_failure: OnFailure,
}

fn default_retries() -> Spanned<u32> {
    Spanned::new(0..0, 3)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFilter {
    #[serde(default)]
    provider: Option<String>,
    #[serde(default, deserialize_with = "one_or_many_kinds")]
    kind: Vec<IdentityKind>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
}

/// `kind = "access-key"` or `kind = ["access-key", "token"]`.
fn one_or_many_kinds<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<IdentityKind>, D::Error> {
    struct Kinds;
    impl<'de> serde::de::Visitor<'de> for Kinds {
        type Value = Vec<IdentityKind>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an identity kind or a list of them")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            IdentityKind::deserialize(serde::de::value::StrDeserializer::new(v)).map(|k| vec![k])
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            Vec::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
        }
    }
    deserializer.deserialize_any(Kinds)
}

/// `target = "{{ … }}"` (an id) or `target = { kind = …, id = … }`.
enum RawTarget {
    Id(String),
    Full(RawFullTarget),
}

impl<'de> Deserialize<'de> for RawTarget {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Target;
        impl<'de> serde::de::Visitor<'de> for Target {
            type Value = RawTarget;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a target id (string) or a table with `id` and `kind`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawTarget::Id(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                RawFullTarget::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawTarget::Full)
            }
        }
        deserializer.deserialize_any(Target)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFullTarget {
    id: String,
    #[serde(default)]
    kind: Option<IdentityKind>,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
}

pub(super) fn parse(source: SourceFile) -> Result<Playbook, InputErrors> {
    let raw: RawPlaybook = diagnostic::from_toml(&source)?;
    let Some(raw_steps) = &raw.steps else {
        return Err(source
            .error_at(None, "step", "a playbook needs at least one [[step]]")
            .into());
    };
    let mut errors = InputErrors::default();
    let err = |span: Range<usize>, field: String, message: String| {
        source.error_at(Some(span), field, message)
    };

    for (field, value) in [("name", &raw.name), ("owner", &raw.owner)] {
        if value.get_ref().trim().is_empty() {
            errors.push(err(value.span(), field.into(), "must not be empty".into()));
        }
    }
    if raw_steps.get_ref().is_empty() {
        errors.push(err(
            raw_steps.span(),
            "step".into(),
            "a playbook needs at least one [[step]]".into(),
        ));
    }

    // Step ids: valid, unique.
    let mut index_of: HashMap<String, usize> = HashMap::new();
    for (i, step) in raw_steps.get_ref().iter().enumerate() {
        let id = step.id.get_ref();
        let valid = !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if id.chars().count() > MAX_STEP_ID {
            errors.push(err(
                step.id.span(),
                format!("step[{i}].id"),
                format!(
                    "a step id has at most {MAX_STEP_ID} characters; this one has {}",
                    id.chars().count()
                ),
            ));
        } else if !valid {
            errors.push(err(
                step.id.span(),
                format!("step[{i}].id"),
                format!("`{id}` is not a step id (letters, digits, `-`, `_`)"),
            ));
        } else if index_of.insert(id.clone(), i).is_some() {
            errors.push(err(
                step.id.span(),
                format!("step[{i}].id"),
                format!("step id `{id}` is used twice"),
            ));
        }
    }

    let mut retry_for = Vec::new();
    for (i, step) in raw_steps.get_ref().iter().enumerate() {
        if *step.retries.get_ref() > MAX_RETRIES {
            errors.push(err(
                step.retries.span(),
                format!("step[{i}].retries"),
                format!("at most {MAX_RETRIES} retries, so that a run against a provider that is down still ends"),
            ));
        }
        retry_for.push(match &step.retry_for {
            None => DEFAULT_RETRY_FOR,
            Some(text) => match crate::duration::parse_duration(text.get_ref()) {
                Ok(d) if d <= MAX_RETRY_FOR => d,
                Ok(_) => {
                    errors.push(err(
                        text.span(),
                        format!("step[{i}].retry_for"),
                        "at most 1h, so that a run against a provider that is down still ends"
                            .into(),
                    ));
                    DEFAULT_RETRY_FOR
                }
                Err(e) => {
                    errors.push(err(
                        text.span(),
                        format!("step[{i}].retry_for"),
                        e.to_string(),
                    ));
                    DEFAULT_RETRY_FOR
                }
            },
        });
    }

    let mut steps = Vec::new();
    for (i, step) in raw_steps.get_ref().iter().enumerate() {
        let mut needs = Vec::new();
        for (n, need) in step.needs.iter().enumerate() {
            match index_of.get(need.get_ref()) {
                Some(&j) if j == i => errors.push(err(
                    need.span(),
                    format!("step[{i}].needs[{n}]"),
                    "a step cannot need itself".into(),
                )),
                Some(&j) => needs.push(j),
                None => errors.push(err(
                    need.span(),
                    format!("step[{i}].needs[{n}]"),
                    format!("no step has id `{}`", need.get_ref()),
                )),
            }
        }

        let mut template = |value: &Spanned<String>, field: String| -> Option<Template> {
            match Template::parse(value.get_ref()) {
                Ok(t) => Some(t),
                Err(e) => {
                    // +1 skips the opening quote of the TOML string.
                    let at = value.span().start + 1 + e.offset;
                    errors.push(err(at..at, field, e.message));
                    None
                }
            }
        };

        let mut params = BTreeMap::new();
        for (name, value) in &step.params {
            if let Some(t) = template(value, format!("step[{i}].params.{name}")) {
                params.insert(name.clone(), t);
            }
        }

        let target = step.target.as_ref().and_then(|spanned| {
            let field = format!("step[{i}].target");
            let span = spanned.span();
            let at = |text: &str| Spanned::new(span.clone(), text.to_string());
            match spanned.get_ref() {
                RawTarget::Id(id) => Some(TargetTemplate {
                    kind: None,
                    provider: None,
                    id: template(&at(id), field)?,
                    attributes: BTreeMap::new(),
                }),
                RawTarget::Full(full) => {
                    let id = template(&at(&full.id), format!("{field}.id"))?;
                    let mut attributes = BTreeMap::new();
                    for (k, v) in &full.attributes {
                        attributes.insert(
                            k.clone(),
                            template(&at(v), format!("{field}.attributes.{k}"))?,
                        );
                    }
                    Some(TargetTemplate {
                        kind: full.kind,
                        provider: full.provider.clone(),
                        id,
                        attributes,
                    })
                }
            }
        });

        let for_each = step.for_each.as_ref().map(|f| {
            let f = f.get_ref();
            IdentityFilter {
                provider: f.provider.clone(),
                kinds: f.kind.clone(),
                attributes: f.attributes.clone(),
            }
        });

        let mut locations = BTreeMap::new();
        let mut locate = |field: String, span: Range<usize>| {
            locations.insert(field, source.line_col(span.start));
        };
        locate("id".into(), step.id.span());
        locate("plugin".into(), step.plugin.span());
        locate("action".into(), step.action.span());
        if let Some(t) = &step.target {
            locate("target".into(), t.span());
        }
        if let Some(f) = &step.for_each {
            locate("for_each".into(), f.span());
        }
        for (name, value) in &step.params {
            locate(format!("params.{name}"), value.span());
        }
        steps.push(Step {
            id: step.id.get_ref().clone(),
            plugin: step.plugin.get_ref().clone(),
            action: step.action.get_ref().clone(),
            for_each,
            target,
            params,
            needs,
            retries: *step.retries.get_ref(),
            retry_for: retry_for[i],
            on_failure: step.on_failure,
            index: i,
            locations,
        });
    }

    if errors.is_empty() {
        if let Some(cycle) = find_cycle(&steps) {
            let first = &raw_steps.get_ref()[cycle[0]];
            let names: Vec<&str> = cycle.iter().map(|&i| steps[i].id.as_str()).collect();
            let span = first
                .needs
                .first()
                .map(|n| n.span())
                .unwrap_or(first.id.span());
            errors.push(err(
                span,
                format!("step[{}].needs", cycle[0]),
                format!(
                    "steps depend on each other in a cycle: {}",
                    names.join(" -> ")
                ),
            ));
        } else {
            check_step_references(raw_steps.get_ref(), &steps, &source, &mut errors);
        }
    }

    errors.into_result(())?;
    Ok(Playbook {
        name: raw.name.into_inner(),
        description: raw.description,
        owner: raw.owner.into_inner(),
        trigger: Trigger {
            kinds: raw.trigger.kinds,
            sources: raw.trigger.sources,
            providers: raw.trigger.providers,
            min_severity: raw.trigger.min_severity,
        },
        steps,
        source,
    })
}

/// A cycle in `needs`, as step indices with the first repeated at the end.
fn find_cycle(steps: &[Step]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        i: usize,
        steps: &[Step],
        marks: &mut [Mark],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        marks[i] = Mark::Open;
        path.push(i);
        for &n in &steps[i].needs {
            match marks[n] {
                Mark::Open => {
                    let start = path.iter().position(|&p| p == n).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(n);
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(cycle) = visit(n, steps, marks, path) {
                        return Some(cycle);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks[i] = Mark::Done;
        None
    }
    let mut marks = vec![Mark::New; steps.len()];
    (0..steps.len()).find_map(|i| {
        if marks[i] == Mark::New {
            visit(i, steps, &mut marks, &mut Vec::new())
        } else {
            None
        }
    })
}

/// `steps.<id>.evidence.…` may only name a step this one (transitively) needs.
fn check_step_references(
    raw_steps: &[RawStep],
    steps: &[Step],
    source: &SourceFile,
    errors: &mut InputErrors,
) {
    for (i, step) in steps.iter().enumerate() {
        let upstream = upstream_of(steps, i);
        let raw_step = &raw_steps[i];
        let mut templates: Vec<(String, &Template, Range<usize>)> = step
            .params
            .iter()
            .map(|(k, t)| {
                (
                    format!("step[{i}].params.{k}"),
                    t,
                    raw_step.params[k].span(),
                )
            })
            .collect();
        if let (Some(target), Some(span)) =
            (&step.target, raw_step.target.as_ref().map(|t| t.span()))
        {
            templates.push((format!("step[{i}].target"), &target.id, span.clone()));
            for (k, t) in &target.attributes {
                templates.push((format!("step[{i}].target.attributes.{k}"), t, span.clone()));
            }
        }
        for (field, template, span) in templates {
            for name in template.step_references() {
                let known = steps.iter().position(|s| s.id == name);
                let message = match known {
                    None => Some(format!("`steps.{name}`: no step has id `{name}`")),
                    Some(j) if !upstream.contains(&j) => Some(format!(
                        "`steps.{name}`: step `{}` must list `{name}` in `needs` to use its evidence",
                        step.id
                    )),
                    Some(_) => None,
                };
                if let Some(message) = message {
                    errors.push(source.error_at(Some(span.clone()), field.clone(), message));
                }
            }
        }
    }
}

/// Every step `i` needs, directly or through others.
fn upstream_of(steps: &[Step], i: usize) -> Vec<usize> {
    let mut seen = Vec::new();
    let mut stack = steps[i].needs.clone();
    while let Some(j) = stack.pop() {
        if !seen.contains(&j) {
            seen.push(j);
            stack.extend(&steps[j].needs);
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use crate::{Playbook, SourceFile};

    #[test]
    fn an_overlong_step_id_is_a_located_error() {
        let long = "s".repeat(65_536);
        let text = format!(
            "name = \"p\"\nowner = \"nhi\"\n\n[[step]]\nid = \"{long}\"\nplugin = \"aws\"\naction = \"x\"\n"
        );
        let errors = Playbook::parse(SourceFile::from_text("p.toml", text)).unwrap_err();
        let error = errors
            .0
            .iter()
            .find(|e| e.field == "step[0].id")
            .unwrap_or_else(|| panic!("{errors:?}"));
        assert_eq!((error.line, error.column), (5, 6));
        assert_eq!(
            error.message,
            "a step id has at most 64 characters; this one has 65536"
        );
        let ok = "s".repeat(64);
        let text = format!(
            "name = \"p\"\nowner = \"nhi\"\n\n[[step]]\nid = \"{ok}\"\nplugin = \"aws\"\naction = \"x\"\n"
        );
        assert!(Playbook::parse(SourceFile::from_text("p.toml", text)).is_ok());
    }

    #[test]
    fn retries_are_bounded() {
        let with = |retries: u32| {
            let text = format!(
                "name = \"p\"\nowner = \"nhi\"\n\n[[step]]\nid = \"s\"\nplugin = \"aws\"\naction = \"x\"\nretries = {retries}\n"
            );
            Playbook::parse(SourceFile::from_text("p.toml", text))
        };
        assert_eq!(with(10).unwrap().steps[0].retries, 10);
        let errors = with(4_294_967_295).unwrap_err();
        let error = &errors.0[0];
        assert_eq!((error.field.as_str(), error.line), ("step[0].retries", 8));
        assert!(
            error.message.starts_with("at most 10 retries"),
            "{}",
            error.message
        );

        let within = |retry_for: &str| {
            let text = format!(
                "name = \"p\"\nowner = \"nhi\"\n\n[[step]]\nid = \"s\"\nplugin = \"aws\"\naction = \"x\"\nretry_for = {retry_for:?}\n"
            );
            Playbook::parse(SourceFile::from_text("p.toml", text))
        };
        assert_eq!(within("90s").unwrap().steps[0].retry_for.as_secs(), 90);
        assert_eq!(
            with(3).unwrap().steps[0].retry_for,
            super::DEFAULT_RETRY_FOR
        );
        for (text, message) in [("2h", "at most 1h"), ("soon", "is not a duration")] {
            let errors = within(text).unwrap_err();
            assert_eq!(errors.0[0].field, "step[0].retry_for");
            assert!(
                errors.0[0].message.contains(message),
                "{}",
                errors.0[0].message
            );
        }
    }
}
