//! Planning a run: which (step, identity) pairs exist and what each waits for.
//!
//! A *node* is one step working on one signal identity. A node waits for the
//! nodes of the steps it `needs`: the node of the same identity when that step
//! works on it too (so a pipeline advances per identity), otherwise every
//! node of that step (a barrier).

use crate::StepSpec;
use cordon_input::{Playbook, Signal};
use std::collections::HashMap;

/// One step applied to one signal identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    /// Index of the step in the playbook.
    pub step: usize,
    /// Index into the signal's identities.
    pub identity: usize,
}

/// What a node waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    /// The node at this index (same identity, earlier step).
    Node(usize),
    /// Every node of this step.
    Step(usize),
}

/// The nodes of a run and their dependencies.
#[derive(Debug, Default)]
pub struct Plan {
    /// Every node, steps in topological order.
    pub nodes: Vec<Node>,
    /// Node indices of each step.
    pub by_step: Vec<Vec<usize>>,
    index: HashMap<(usize, usize), usize>,
}

impl Plan {
    /// Plans `playbook` for `signal`; `specs` holds each step's plugin info
    /// and action, in step order.
    pub fn new(playbook: &Playbook, signal: &Signal, specs: &[StepSpec]) -> Plan {
        let mut plan = Plan {
            by_step: vec![Vec::new(); playbook.steps.len()],
            ..Plan::default()
        };
        for step_index in playbook.topological_order() {
            let step = &playbook.steps[step_index];
            let StepSpec { info, spec } = &specs[step_index];
            for identity in step.select(signal, info, spec) {
                let node = plan.nodes.len();
                plan.nodes.push(Node {
                    step: step_index,
                    identity,
                });
                plan.by_step[step_index].push(node);
                plan.index.insert((step_index, identity), node);
            }
        }
        plan
    }

    /// The node of `step` for `identity`, if the step works on it.
    pub fn node_of(&self, step: usize, identity: usize) -> Option<usize> {
        self.index.get(&(step, identity)).copied()
    }

    /// What node `node` waits for.
    pub fn dependencies(&self, playbook: &Playbook, node: usize) -> Vec<Dependency> {
        let Node { step, identity } = self.nodes[node];
        playbook.steps[step]
            .needs
            .iter()
            .map(|&need| match self.node_of(need, identity) {
                Some(n) => Dependency::Node(n),
                None => Dependency::Step(need),
            })
            .collect()
    }
}
