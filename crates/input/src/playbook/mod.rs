//! Playbooks: what to do when a signal arrives.
//!
//! A playbook (`playbooks/*.toml`) has a trigger and steps. Each step applies
//! one plugin action to targets drawn from the signal's identities; `needs`
//! orders steps into a DAG. [`Playbook::parse`] checks everything that can be
//! checked from the file alone; [`Playbook::check`] then checks it against
//! the plugins' `describe()` (actions, target kinds, parameters).

mod raw;
pub mod template;
mod validate;

pub use template::{MissingValue, Scope, Template};

use crate::diagnostic::{InputError, InputErrors, SourceFile};
use crate::signal::Signal;
use cordon_types::Severity;
use cordon_types::{ActionSpec, PluginInfo};
use cordon_types::{Identity, IdentityKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// A validated playbook.
#[derive(Debug, Clone)]
pub struct Playbook {
    /// The playbook's name.
    pub name: String,
    /// A human description of what the playbook does (may be empty).
    pub description: String,
    /// The team whose rights the run acts with.
    pub owner: String,
    /// Which signals the playbook answers.
    pub trigger: Trigger,
    /// Steps in file order; `needs` are indices into this list.
    pub steps: Vec<Step>,
    /// The file it came from (kept with each run so a run can resume).
    pub source: SourceFile,
}

/// Which signals a playbook answers.
#[derive(Debug, Clone, Default)]
pub struct Trigger {
    /// Signal kinds; `credential.*` matches every kind under `credential.`.
    pub kinds: Vec<String>,
    /// Accepted signal sources (the signal's `source`); empty: any source.
    pub sources: Vec<String>,
    /// At least one identity must come from one of these providers.
    pub providers: Vec<String>,
    /// The lowest signal severity accepted; `None`: any severity.
    pub min_severity: Option<Severity>,
}

/// One step of a playbook.
#[derive(Debug, Clone)]
pub struct Step {
    /// The step's id, unique in the playbook; named by `needs` and `steps.<id>` templates.
    pub id: String,
    /// The plugin's name in the operator config.
    pub plugin: String,
    /// The name of the plugin action the step calls.
    pub action: String,
    /// Which signal identities the step works on; `None` means "those of the
    /// plugin's provider whose kind the action accepts".
    pub for_each: Option<IdentityFilter>,
    /// What the action is applied to; `None` means the identity itself.
    pub target: Option<TargetTemplate>,
    /// The action's parameters, by name, as templates.
    pub params: BTreeMap<String, Template>,
    /// Indices of the steps this one waits for.
    pub needs: Vec<usize>,
    /// Retries after a transient failure.
    pub retries: u32,
    /// How long after the action's first attempt retries may still start
    /// (`retry_for`, default 2m): retries end at the count or at this.
    pub retry_for: std::time::Duration,
    /// What a failure of this step's action does to the rest of the run.
    pub on_failure: OnFailure,
    /// Position in the file's `[[step]]` list.
    pub index: usize,
    /// Line and column of the step's fields (`id`, `plugin`, `action`,
    /// `target`, `for_each`, `params.<name>`), for error messages.
    locations: BTreeMap<String, (usize, usize)>,
}

/// Selects signal identities.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityFilter {
    /// The provider the identity must come from; `None`: any provider.
    pub provider: Option<String>,
    /// Any of these kinds (empty: any kind).
    pub kinds: Vec<IdentityKind>,
    /// Attributes that must have exactly these values.
    pub attributes: BTreeMap<String, String>,
}

impl IdentityFilter {
    /// Whether `identity` passes the filter.
    pub fn matches(&self, identity: &Identity) -> bool {
        self.provider
            .as_ref()
            .is_none_or(|p| *p == identity.provider)
            && (self.kinds.is_empty() || self.kinds.contains(&identity.kind))
            && self
                .attributes
                .iter()
                .all(|(k, v)| identity.attributes.get(k) == Some(v))
    }
}

/// A step's computed target.
#[derive(Debug, Clone)]
pub struct TargetTemplate {
    /// `None`: the action's first declared target kind.
    pub kind: Option<IdentityKind>,
    /// `None`: the plugin's provider.
    pub provider: Option<String>,
    /// The target's id.
    pub id: Template,
    /// The target's attributes, by key.
    pub attributes: BTreeMap<String, Template>,
}

/// What a failed action does to the rest of the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFailure {
    /// Keep going; only the steps that need the failed action are skipped.
    #[default]
    Continue,
    /// Start no further actions in this run.
    Abort,
}

/// The plugins a playbook is checked against: name → what `describe` said.
pub trait Catalogue {
    /// What the plugin configured as `name` said in `describe`, if there is one.
    fn plugin(&self, name: &str) -> Option<&PluginInfo>;
    /// The names of every plugin in the catalogue.
    fn names(&self) -> Vec<String>;
}

impl Playbook {
    /// Reads a playbook file and checks what the file alone can tell.
    pub fn load(path: &Path) -> Result<Playbook, InputErrors> {
        Playbook::parse(SourceFile::read(path)?)
    }

    /// Parses playbook text and checks what the file alone can tell.
    pub fn parse(source: SourceFile) -> Result<Playbook, InputErrors> {
        raw::parse(source)
    }

    /// Checks steps against the plugins: known plugin and action, target
    /// kinds the action accepts, required and unknown parameters.
    pub fn check(&self, catalogue: &dyn Catalogue) -> Result<(), InputErrors> {
        validate::check(self, catalogue)
    }

    /// The step called `id`.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// Steps in an order where every step comes after those it needs.
    pub fn topological_order(&self) -> Vec<usize> {
        let mut order = Vec::with_capacity(self.steps.len());
        let mut placed = vec![false; self.steps.len()];
        while order.len() < self.steps.len() {
            let before = order.len();
            for (i, step) in self.steps.iter().enumerate() {
                if !placed[i] && step.needs.iter().all(|&n| placed[n]) {
                    placed[i] = true;
                    order.push(i);
                }
            }
            assert!(order.len() > before, "parse() rejects cycles");
        }
        order
    }
}

/// Why a signal does not fire a playbook's trigger.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TriggerMismatch {
    /// The signal's kind matches none of the trigger's kind patterns.
    #[error("signal kind `{kind}` is not one of the trigger's kinds {expected:?}")]
    Kind {
        /// The signal's kind.
        kind: String,
        /// The trigger's kind patterns.
        expected: Vec<String>,
    },
    /// The signal comes from a source the trigger does not list.
    #[error("signal source `{found}` is not one of the trigger's sources {expected:?}")]
    Source {
        /// The signal's source.
        found: String,
        /// The trigger's sources.
        expected: Vec<String>,
    },
    /// No identity in the signal comes from one of the trigger's providers.
    #[error("no identity in the signal comes from the trigger's providers {expected:?}")]
    Provider {
        /// The trigger's providers.
        expected: Vec<String>,
    },
    /// The signal's severity is below the trigger's minimum.
    #[error("signal severity `{severity}` is below the trigger's minimum `{minimum}`")]
    Severity {
        /// The signal's severity.
        severity: Severity,
        /// The trigger's minimum.
        minimum: Severity,
    },
}

impl Trigger {
    /// `Ok` when the signal is one this playbook answers, else why not.
    pub fn accepts(&self, signal: &Signal) -> Result<(), TriggerMismatch> {
        if !self.kinds.is_empty() && !self.kinds.iter().any(|k| kind_matches(k, &signal.kind)) {
            return Err(TriggerMismatch::Kind {
                kind: signal.kind.clone(),
                expected: self.kinds.clone(),
            });
        }
        if !self.sources.is_empty() && !self.sources.contains(&signal.source) {
            return Err(TriggerMismatch::Source {
                found: signal.source.clone(),
                expected: self.sources.clone(),
            });
        }
        if !self.providers.is_empty()
            && !signal
                .identities
                .iter()
                .any(|i| self.providers.contains(&i.provider))
        {
            return Err(TriggerMismatch::Provider {
                expected: self.providers.clone(),
            });
        }
        if let Some(minimum) = self.min_severity
            && signal.severity < minimum
        {
            return Err(TriggerMismatch::Severity {
                severity: signal.severity,
                minimum,
            });
        }
        Ok(())
    }
}

fn kind_matches(pattern: &str, kind: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => kind.starts_with(prefix),
        None => pattern == kind,
    }
}

impl Step {
    /// An error about `field` of this step (falls back to the step's `id` line).
    pub fn error(
        &self,
        source: &SourceFile,
        field: &str,
        message: impl Into<String>,
    ) -> InputError {
        let (line, column) = self
            .locations
            .get(field)
            .or_else(|| self.locations.get("id"))
            .copied()
            .unwrap_or((1, 1));
        InputError {
            path: source.path.clone(),
            line,
            column,
            field: format!("step[{}].{field}", self.index),
            message: message.into(),
        }
    }

    /// The identities of `signal` this step works on, by index, given what the
    /// step's plugin and action declare.
    pub fn select(&self, signal: &Signal, info: &PluginInfo, spec: &ActionSpec) -> Vec<usize> {
        let filter = self.effective_filter(info, spec);
        signal
            .identities
            .iter()
            .enumerate()
            .filter(|(_, identity)| filter.matches(identity))
            .map(|(i, _)| i)
            .collect()
    }

    /// `for_each`, or its default: the plugin's provider and — when the step
    /// has no explicit target — the kinds the action accepts.
    pub fn effective_filter(&self, info: &PluginInfo, spec: &ActionSpec) -> IdentityFilter {
        match &self.for_each {
            Some(filter) => filter.clone(),
            None => IdentityFilter {
                provider: Some(info.provider.clone()),
                kinds: if self.target.is_none() {
                    spec.targets.clone()
                } else {
                    Vec::new()
                },
                attributes: BTreeMap::new(),
            },
        }
    }
}
