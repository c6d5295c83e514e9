//! Store failures.

use std::path::PathBuf;

/// Why a store operation failed. A write that fails has changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the store.
    #[error(
        "the store at {0} is in use by another cordon process; wait for it to finish (or stop it) and try again"
    )]
    Locked(PathBuf),
    /// The store cannot be opened.
    #[error("cannot open the store at {path}: {message}")]
    Open {
        /// Where it is.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Reading or writing failed.
    #[error("store I/O failed: {0}")]
    Io(String),
    /// A record cannot be decoded.
    #[error("a stored record is unreadable ({key}): {message}")]
    Corrupt {
        /// The record's key.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// No run has this id.
    #[error("no run with id `{0}`")]
    NoSuchRun(String),
    /// The run's lease was taken over (this replica stalled past it): the
    /// batch was not written, and nothing more of the run may be.
    #[error(
        "run {run_id} is executing on another replica now (this one's lease on it expired); nothing was recorded"
    )]
    Fenced {
        /// The run.
        run_id: String,
    },
    /// The signal already has a run of the playbook that answers for it:
    /// unfinished, or finished within the deduplication window.
    #[error("run {run_id} already answers this signal")]
    AlreadyOpen {
        /// That run.
        run_id: String,
    },
    /// The audit log cannot be written: nothing may execute (fail closed).
    #[error("the audit log cannot be written, so nothing was executed: {0}")]
    AuditUnavailable(String),
}

impl StoreError {
    /// Whether the store failed in a way that may pass (it could not be
    /// reached or written just now), so the same work can be tried again
    /// later; the other errors will not change by waiting.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Io(_) | StoreError::AuditUnavailable(_))
    }
}

impl From<sled::Error> for StoreError {
    fn from(err: sled::Error) -> StoreError {
        StoreError::Io(err.to_string())
    }
}
