//! Loopback HTTP simulators of the provider APIs Cordon's plugins call: HashiCorp Vault, Okta
//! and CyberArk PVWA. They behave like the documented APIs — status codes, error bodies,
//! rate-limit headers, non-idempotent lifecycle operations — not like a friendly mock.
//!
//! Each simulator is started with `XxxSim::start(config)`, which returns a [`Running`] server
//! (stopped on drop) and a cheap, cloneable state handle used to seed fixtures and to read the
//! provider's state independently of any client (tokens revoked, users suspended, sessions
//! terminated…), plus request counters and a request log. Every simulator also offers an
//! unauthenticated admin surface under `/__sim/…` for other processes; see [`server`].
//!
//! The crate is also the framework for a new provider's simulator, written outside it: implement
//! [`Simulator`] on a state handle holding a [`SimCore`] (its error bodies for injected faults
//! and 429s, rate-limit headers, a state dump and a seed), add [`sim_handle!`] for the usual
//! observation methods, and [`serve`] the provider's routes. `sim/github` is built this way.

// Handlers return `Result<Response, Response>` (axum's idiom: the error is the provider's
// error response); boxing it would only add noise.
#![allow(clippy::result_large_err)]
#![warn(missing_docs)]

pub mod core;
pub mod cyberark;
pub mod faults;
pub mod okta;
pub mod ratelimit;
pub mod server;
pub mod util;
pub mod vault;

pub use crate::core::{RequestRecord, RequestStats, SimCore};
pub use faults::{Faults, FaultsUpdate};
pub use ratelimit::Decision;
pub use ratelimit::RateLimitConfig;
pub use server::{Running, Simulator, loopback_any_port, serve};
