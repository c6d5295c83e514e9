//! The PostgreSQL backend of Cordon's [`Store`]: state that outlives one
//! machine, shared by every `cordon serve` replica pointed at the database.
//!
//! - Each [`Store::apply`] is one transaction, durable when it commits
//!   (PostgreSQL's own group commit batches concurrent ones), so
//!   [`Store::flush`] has nothing left to do.
//! - The audit chain is one total order across replicas: an append locks the
//!   chain's head row, seals its records after it and moves it, in the same
//!   transaction as the records they describe. If that transaction fails,
//!   none of it happened (fail closed).
//! - [`Store::apply_guarded`] locks the blast-radius ledger rows it reads
//!   until it commits, so two deciders — on one replica or on two — cannot
//!   both pass a cap.
//! - The schema is versioned ([`schema`]) and brought up to date at start.
//!
//! The connection goes without TLS: use a loopback address or a Unix socket
//! (or a TLS-terminating proxy beside cordon). A URL that asks for
//! `sslmode=require` is refused rather than connected in the clear.

#![warn(missing_docs)]

mod leases;
mod pool;
mod schema;
#[cfg(feature = "testing")]
pub mod testing;
mod write;

use cordon_store::audit::Head;
use cordon_store::{Batch, Leases, LedgerCounts, LedgerKey, Store, StoreError, StoreFuture};
use cordon_types::{ActionRecord, FactsRecord, GrantRecord, IncidentRecord, RunRecord};
use pool::Pool;
use postgres::config::{Host, SslMode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use write::Write;

/// The store in a PostgreSQL database.
pub struct PgStore {
    pool: Arc<Pool>,
    location: String,
    /// Whether replicas share it: runs are leased, commits announced.
    shared: bool,
    /// Set when the store is dropped: its listening thread ends.
    closed: Arc<AtomicBool>,
}

/// Whether other processes may use the database while this store is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// One cordon process at a time, as with sled: the store holds a
    /// session advisory lock while it is open, and another process waits a
    /// few seconds for it, then is refused with [`StoreError::Locked`].
    /// This is what `cordon` opens until replicas claim runs with leases:
    /// two processes resuming the same run would both execute it.
    Exclusive,
    /// Any number of stores at once (`cordon serve` replicas). Each commit
    /// is still atomic, the audit chain one order and every cap held; runs
    /// are executed under [`Leases`](cordon_store::Leases), which
    /// [`Store::leases`] offers, and every appending commit is announced to
    /// listening replicas.
    Shared,
}

/// The advisory lock an exclusive store holds (`cordon` + 1 in ASCII).
const EXCLUSIVE_LOCK: i64 = 0x636f_7264_6f6e + 1;

impl PgStore {
    /// Connects to the database at `url` (a `postgres://` URL or a libpq
    /// key=value string) for this process alone ([`Sharing::Exclusive`])
    /// and brings its schema up to date.
    pub fn connect(url: &str) -> Result<PgStore, StoreError> {
        PgStore::connect_with(url, Sharing::Exclusive)
    }

    /// Connects to the database at `url`, shared as `sharing` says, and
    /// brings its schema up to date.
    pub fn connect_with(url: &str, sharing: Sharing) -> Result<PgStore, StoreError> {
        let config: postgres::Config = url.parse().map_err(|err: postgres::Error| {
            StoreError::Io(format!(
                "the PostgreSQL URL is not valid: {}",
                describe(&err)
            ))
        })?;
        let location = location(&config);
        if config.get_ssl_mode() == SslMode::Require {
            return Err(StoreError::Open {
                path: location.into(),
                message: "the URL asks for sslmode=require, and this cordon connects to \
                          PostgreSQL without TLS; use a loopback address or a Unix socket"
                    .into(),
            });
        }
        let store = PgStore {
            pool: Arc::new(Pool::new(config)),
            location,
            shared: sharing == Sharing::Shared,
            closed: Arc::new(AtomicBool::new(false)),
        };
        store
            .pool
            .with(schema::migrate)
            .map_err(|err| StoreError::Open {
                path: store.location.clone().into(),
                message: match err {
                    StoreError::Io(message) => message,
                    other => other.to_string(),
                },
            })?;
        if sharing == Sharing::Exclusive && !store.pool.hold(EXCLUSIVE_LOCK)? {
            return Err(StoreError::Locked(store.location.clone().into()));
        }
        Ok(store)
    }

    /// The schema version this cordon brings databases to.
    pub fn schema_version() -> usize {
        schema::MIGRATIONS.len()
    }

    fn bodies<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        query: &'static str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<T>, StoreError> {
        let rows = self
            .pool
            .with(|client| client.query(query, params).map_err(io))?;
        rows.iter()
            .enumerate()
            .map(|(n, row)| decode(&format!("{what} {n}"), row.get(0)))
            .collect()
    }
}

impl Store for PgStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn run(&self, run_id: &str) -> Result<RunRecord, StoreError> {
        self.bodies::<RunRecord>(
            "run",
            "SELECT body FROM cordon_runs WHERE run_id = $1",
            &[&run_id],
        )?
        .pop()
        .ok_or_else(|| StoreError::NoSuchRun(run_id.to_string()))
    }

    fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        self.bodies(
            "run",
            "SELECT body FROM cordon_runs ORDER BY started_at, run_id",
            &[],
        )
    }

    fn action(&self, run_id: &str, key: &str) -> Result<Option<ActionRecord>, StoreError> {
        Ok(self
            .bodies(
                "action",
                "SELECT body FROM cordon_actions WHERE run_id = $1 AND key = $2",
                &[&run_id, &key],
            )?
            .pop())
    }

    fn actions(&self, run_id: &str) -> Result<Vec<ActionRecord>, StoreError> {
        self.bodies(
            "action",
            "SELECT body FROM cordon_actions WHERE run_id = $1 ORDER BY seq",
            &[&run_id],
        )
    }

    fn grants(&self) -> Result<Vec<GrantRecord>, StoreError> {
        self.bodies(
            "grant",
            "SELECT body FROM cordon_grants ORDER BY created_at, id",
            &[],
        )
    }

    fn incident(&self, id: &str) -> Result<Option<IncidentRecord>, StoreError> {
        Ok(self
            .bodies(
                "incident",
                "SELECT body FROM cordon_incidents WHERE id = $1",
                &[&id],
            )?
            .pop())
    }

    fn facts(&self, run_id: &str) -> Result<Vec<FactsRecord>, StoreError> {
        self.bodies(
            "facts",
            "SELECT body FROM cordon_facts WHERE run_id = $1 ORDER BY identity",
            &[&run_id],
        )
    }

    fn audit_entries(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.audit_range(1, u64::MAX)
    }

    fn audit_range(&self, from: u64, to: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let (from, to) = (clamp(from), clamp(to));
        let rows = self.pool.with(|client| {
            client
                .query(
                    "SELECT seq, body FROM cordon_audit WHERE seq BETWEEN $1 AND $2 ORDER BY seq",
                    &[&from, &to],
                )
                .map_err(io)
        })?;
        Ok(rows
            .iter()
            .map(|row| (row.get::<_, i64>(0) as u64, row.get(1)))
            .collect())
    }

    fn audit_head(&self) -> Result<Option<Head>, StoreError> {
        let row = self.pool.with(|client| {
            client
                .query_one("SELECT seq, hash FROM cordon_audit_head WHERE id = 1", &[])
                .map_err(io)
        })?;
        let seq = row.get::<_, i64>(0) as u64;
        Ok((seq > 0).then(|| Head {
            seq,
            hash: row.get(1),
        }))
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.pool.still_holding()?;
        self.pool
            .with(|client| write::commit(client, Write::Batch(&batch), self.shared))
    }

    fn apply_guarded(
        &self,
        key: &LedgerKey,
        build: &mut (dyn FnMut(LedgerCounts) -> Batch + Send),
    ) -> Result<(), StoreError> {
        self.pool.still_holding()?;
        self.pool
            .with(|client| write::commit(client, Write::Guarded(key, build), self.shared))
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        // Every apply committed its transaction before returning.
        Box::pin(async { Ok(()) })
    }

    fn leases(&self) -> Option<Arc<dyn Leases>> {
        self.shared.then(|| {
            Arc::new(leases::PgLeases {
                pool: self.pool.clone(),
                closed: self.closed.clone(),
            }) as Arc<dyn Leases>
        })
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Relaxed);
    }
}

/// Where the database is, for messages: never the password.
fn location(config: &postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config
        .get_user()
        .map(|user| format!("{user}@"))
        .unwrap_or_default();
    let db = config.get_dbname().unwrap_or("");
    format!("postgres://{user}{host}:{port}/{db}")
}

fn clamp(seq: u64) -> i64 {
    seq.min(i64::MAX as u64) as i64
}

fn decode<T: serde::de::DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|err| StoreError::Corrupt {
        key: key.to_string(),
        message: err.to_string(),
    })
}

fn io(err: postgres::Error) -> StoreError {
    StoreError::Io(describe(&err))
}

/// A PostgreSQL error in words: the server's message and SQLSTATE, or the
/// client's error (whose text includes its cause). Never the statement's
/// parameters.
pub(crate) fn describe(err: &postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => err.to_string(),
    }
}
