//! Cordon: containment orchestration for identity abuse — the operator
//! [`config`], run and incident [`report`]s, and the [`cli`].
//!
//! The work is done by the crates below this one, and data flows one way
//! through them: `cordon-types` (the vocabulary) ← `cordon-input`
//! (signals, playbooks) ← `cordon-store` (durable state, one commit path)
//! ← `cordon-authority` (who may do what) ← `cordon-plugin-host` (sandboxed
//! provider plugins) ← `cordon-engine` (runs) ← `cordon`.

#![warn(missing_docs)]

pub mod cli;
pub mod config;
pub mod report;
