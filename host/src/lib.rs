//! Cordon: containment orchestration for identity abuse.
//!
//! Data flows one way: a [`signal`] matches a [`playbook`]'s trigger; the
//! [`engine`] plans its steps, asks the [`authority`] decision point about
//! each action, writes the intent to the [`store`], calls the provider
//! [`plugin`] in its sandbox, writes the outcome, and the [`report`] shows it.

pub mod audit;
pub mod authority;
pub mod cli;
pub mod config;
pub mod diagnostic;
pub mod engine;
pub mod identity;
pub mod inventory;
pub mod playbook;
pub mod plugin;
pub mod report;
pub mod signal;
pub mod store;
