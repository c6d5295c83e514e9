//! Checking a parsed playbook against the plugins it uses.

use super::{Catalogue, Playbook};
use crate::diagnostic::InputErrors;

pub(super) fn check(playbook: &Playbook, catalogue: &dyn Catalogue) -> Result<(), InputErrors> {
    let source = &playbook.source;
    let mut errors = InputErrors::default();
    for step in &playbook.steps {
        let Some(info) = catalogue.plugin(&step.plugin) else {
            errors.push(step.error(
                source,
                "plugin",
                format!(
                    "no plugin `{}` in the config (configured: {})",
                    step.plugin,
                    list(&catalogue.names())
                ),
            ));
            continue;
        };
        let Some(spec) = info.action(&step.action) else {
            let actions: Vec<String> = info.actions.iter().map(|a| a.name.clone()).collect();
            errors.push(step.error(
                source,
                "action",
                format!(
                    "plugin `{}` has no action `{}` (it has: {})",
                    step.plugin,
                    step.action,
                    list(&actions)
                ),
            ));
            continue;
        };
        let accepted: Vec<String> = spec.targets.iter().map(|k| k.to_string()).collect();

        match &step.target {
            Some(target) => {
                if let Some(kind) = target.kind
                    && !spec.targets.contains(&kind)
                {
                    errors.push(step.error(
                        source,
                        "target",
                        format!(
                            "action `{}` does not accept a `{kind}` target (it accepts: {})",
                            spec.name,
                            list(&accepted)
                        ),
                    ));
                }
                if spec.targets.is_empty() {
                    errors.push(step.error(
                        source,
                        "target",
                        format!("action `{}` declares no target kinds", spec.name),
                    ));
                }
            }
            None => {
                if let Some(filter) = &step.for_each {
                    for kind in &filter.kinds {
                        if !spec.targets.contains(kind) {
                            errors.push(step.error(
                                source,
                                "for_each",
                                format!(
                                    "action `{}` does not accept `{kind}` identities (it accepts: {}); \
                                     narrow for_each.kind or set a target",
                                    spec.name,
                                    list(&accepted)
                                ),
                            ));
                        }
                    }
                    if filter.kinds.is_empty() {
                        errors.push(step.error(
                            source,
                            "for_each",
                            format!(
                                "for_each selects identities of every kind, but action `{}` accepts only: {}; \
                                 add for_each.kind",
                                spec.name,
                                list(&accepted)
                            ),
                        ));
                    }
                }
            }
        }

        for param in &spec.params {
            if param.required && !step.params.contains_key(&param.name) {
                errors.push(step.error(
                    source,
                    "params",
                    format!(
                        "action `{}` needs parameter `{}` ({})",
                        spec.name, param.name, param.description
                    ),
                ));
            }
        }
        for name in step.params.keys() {
            if !spec.params.iter().any(|p| &p.name == name) {
                let known: Vec<String> = spec.params.iter().map(|p| p.name.clone()).collect();
                errors.push(step.error(
                    source,
                    &format!("params.{name}"),
                    format!(
                        "action `{}` has no parameter `{name}` (it has: {})",
                        spec.name,
                        list(&known)
                    ),
                ));
            }
        }
    }
    errors.into_result(())
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}
