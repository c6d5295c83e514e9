//! What people hand to Cordon, parsed and validated before anything runs:
//! [`signal`]s (what a detector saw) and [`playbook`]s (what to do about
//! it). Every problem is an [`InputError`] naming the file, line, column
//! and field at fault ([`diagnostic`]).

#![warn(missing_docs)]

pub mod diagnostic;
pub mod duration;
pub mod playbook;
pub mod signal;

pub use diagnostic::{InputError, InputErrors, SourceFile};
pub use playbook::{Catalogue, Playbook};
pub use signal::Signal;
