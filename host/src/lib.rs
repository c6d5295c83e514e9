//! Cordon: containment orchestration for identity abuse — the `cordon`
//! command line ([`cli`]), on a local store or as the client of a server.
//!
//! The work is done by the crates below this one, and data flows one way
//! through them: `cordon-types` (the vocabulary) ← `cordon-input`
//! (signals, playbooks) ← `cordon-store` (durable state, one commit path)
//! ← `cordon-authority` (who may do what) ← `cordon-plugin-host` (sandboxed
//! provider plugins) ← `cordon-engine` (runs) ← `cordon-report`, `cordon-config` ← `cordon-service`
//! (`cordon serve`) ← `cordon`.

#![warn(missing_docs)]

pub mod cli;
