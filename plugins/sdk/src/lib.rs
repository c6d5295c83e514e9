//! The guest SDK for Cordon provider plugins.
//!
//! A plugin is a `cdylib` crate built for `wasm32-wasip2` that implements
//! [`Provider`] and registers it with [`export_provider!`]. This crate holds
//! everything plugins share, so a plugin is mostly provider logic:
//!
//! - [`http`]: blocking HTTP over `wasi:http`, errors mapped to [`ProviderError`];
//! - [`path`]: URL paths with encoded values (ids from signals);
//! - [`rest`]: a JSON REST client (base URL, encoded paths, auth headers,
//!   error bodies, rate-limit budget) for Vault, Okta, CyberArk and the like;
//! - [`errors`]: HTTP status → provider error, `Retry-After` parsing, JSON
//!   error bodies of the usual shapes;
//! - [`ratelimit`]: rate-limit headers (`Retry-After`, `X-Rate-Limit-*`);
//! - [`sigv4`]: AWS Signature Version 4;
//! - [`encoding`]: percent and form encoding;
//! - [`table`]: one [`table::ActionTable`] that produces both `describe` and
//!   the dispatch of `execute`;
//! - [`converge`]: read, then plan, then apply, with the dry-run and
//!   `already-applied` rules kept by construction;
//! - [`spec`] and [`outcome`]: builders for `describe` and `execute` results;
//! - [`settings`]: secrets, config and logging from the host.
//!
//! ```ignore
//! use cordon_plugin_sdk::prelude::*;
//!
//! struct Example;
//!
//! impl Provider for Example {
//!     fn describe() -> PluginInfo { /* … */ }
//!     fn execute(request: ActionRequest) -> Result<ActionOutcome, ProviderError> { /* … */ }
//!     fn inspect(target: Identity) -> Result<IdentityFacts, ProviderError> { /* … */ }
//! }
//!
//! cordon_plugin_sdk::export_provider!(Example);
//! ```

pub mod converge;
pub mod encoding;
pub mod errors;
pub mod http;
pub mod outcome;
pub mod path;
pub mod ratelimit;
pub mod rest;
pub mod settings;
pub mod sigv4;
pub mod spec;
pub mod table;
pub mod time;

/// Bindings generated from `wit/provider.wit`.
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "plugin",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "export_provider",
        default_bindings_module: "cordon_plugin_sdk::bindings",
        runtime_path: "cordon_plugin_sdk::wit_bindgen::rt",
    });
}

// Lets the generated code name this crate the way plugins do.
extern crate self as cordon_plugin_sdk;

#[doc(hidden)]
pub use wit_bindgen;

pub use bindings::cordon::provider::types::{
    ActionOutcome, ActionRequest, ActionSpec, Effect, Identity, IdentityFacts, IdentityKind,
    OutcomeStatus, ParamSpec, PluginInfo, ProviderError, RateLimit, SettingKind, SettingSpec,
    UsedBy,
};
pub use bindings::export_provider;
pub use bindings::exports::cordon::provider::provider::Guest as Provider;
pub use serde_json;
pub use wstd;

/// What plugins usually import.
pub mod prelude {
    pub use crate::converge::{Plan, converge};
    pub use crate::errors::{invalid, not_found, transient};
    pub use crate::http::{Method, Request, Response};
    pub use crate::outcome::{Outcome, RequestExt};
    pub use crate::rest::{Api, ApiError, ApiPath, CallError};
    pub use crate::settings::{config, config_or, log, redact, secret};
    pub use crate::spec::{Action, PluginSpec};
    pub use crate::table::ActionTable;
    pub use crate::{
        ActionOutcome, ActionRequest, Effect, Identity, IdentityFacts, IdentityKind, PluginInfo,
        Provider, ProviderError, UsedBy,
    };
}
