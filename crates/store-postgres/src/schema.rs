//! The database schema, as numbered migrations applied at start.
//!
//! Each migration runs once, in order, in one transaction with its entry in
//! `cordon_schema`; replicas starting together take an advisory lock first,
//! so exactly one applies what is missing. A database migrated by a newer
//! Cordon is refused rather than written with an older idea of its tables.
//!
//! Records are stored as the same JSON the other backends write, in `bytea`
//! (a `jsonb` column would refuse strings holding NUL, which a signal may
//! carry); the columns beside them are what queries sort and filter by.
//! Audit records are kept byte for byte, since their hashes cover the bytes.

use cordon_store::StoreError;
use postgres::Client;

/// The migrations, in order; a migration's version is its index plus one.
/// Never edit one that has shipped: add another.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: the records, the audit chain and its head, and the ledger.
    "CREATE TABLE cordon_runs (
        run_id text PRIMARY KEY,
        started_at bigint NOT NULL,
        body bytea NOT NULL
     );
     CREATE INDEX cordon_runs_by_start ON cordon_runs (started_at, run_id);
     CREATE TABLE cordon_actions (
        run_id text NOT NULL,
        key text NOT NULL,
        seq bigint NOT NULL,
        body bytea NOT NULL,
        PRIMARY KEY (run_id, key)
     );
     CREATE INDEX cordon_actions_by_seq ON cordon_actions (run_id, seq);
     CREATE TABLE cordon_grants (
        id text PRIMARY KEY,
        created_at bigint NOT NULL,
        body bytea NOT NULL
     );
     CREATE TABLE cordon_incidents (
        id text PRIMARY KEY,
        body bytea NOT NULL
     );
     CREATE TABLE cordon_facts (
        run_id text NOT NULL,
        identity bigint NOT NULL,
        body bytea NOT NULL,
        PRIMARY KEY (run_id, identity)
     );
     CREATE TABLE cordon_audit (
        seq bigint PRIMARY KEY,
        body bytea NOT NULL
     );
     -- One row: the chain's last seq (0 before the first record) and hash.
     -- Every append locks it, so appends form one total order.
     CREATE TABLE cordon_audit_head (
        id smallint PRIMARY KEY CHECK (id = 1),
        seq bigint NOT NULL,
        hash text NOT NULL
     );
     INSERT INTO cordon_audit_head (id, seq, hash)
        VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
     CREATE TABLE cordon_ledger (
        key bytea PRIMARY KEY,
        value bytea NOT NULL
     );",
    // 2: replicas: run leases with fencing tokens, and the signal each
    // unfinished run answers.
    "CREATE SEQUENCE cordon_lease_tokens;
     CREATE TABLE cordon_leases (
        run_id text PRIMARY KEY,
        holder text NOT NULL,
        token bigint NOT NULL,
        expires_at timestamptz NOT NULL
     );
     CREATE INDEX cordon_leases_by_expiry ON cordon_leases (expires_at);
     CREATE TABLE cordon_open_signals (
        playbook text NOT NULL,
        signal_id text NOT NULL,
        run_id text NOT NULL,
        PRIMARY KEY (playbook, signal_id)
     );
     CREATE INDEX cordon_open_signals_by_run ON cordon_open_signals (run_id);",
    // 3: the deduplication window: a signal's row stays after its run
    // finished, until the window since then passed (rows kept by version 2
    // are all of unfinished runs).
    "ALTER TABLE cordon_open_signals ADD COLUMN finished_at timestamptz;
     CREATE INDEX cordon_open_signals_by_finish ON cordon_open_signals (finished_at);",
];

/// The advisory lock key that serialises migrations (`cordon` in ASCII).
const MIGRATION_LOCK: i64 = 0x636f_7264_6f6e;

/// Brings the schema up to date; returns the version it is at.
pub(crate) fn migrate(client: &mut Client) -> Result<usize, StoreError> {
    let mut tx = client.transaction().map_err(failed)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(failed)?;
    // Looked up first, so a role that may not create tables starts against
    // a database its owner already migrated.
    let known: bool = tx
        .query_one("SELECT to_regclass('cordon_schema') IS NOT NULL", &[])
        .map_err(failed)?
        .get(0);
    if !known {
        tx.batch_execute(
            "CREATE TABLE cordon_schema (
                version integer PRIMARY KEY,
                applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .map_err(failed)?;
    }
    let at: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM cordon_schema", &[])
        .map_err(failed)?
        .get(0);
    let at = at as usize;
    if at > MIGRATIONS.len() {
        return Err(StoreError::Io(format!(
            "the database's schema is at version {at}, newer than this cordon knows \
             (up to {}); upgrade cordon on this machine, or point it at another database",
            MIGRATIONS.len()
        )));
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(at) {
        let version = index as i32 + 1;
        tx.batch_execute(migration).map_err(|err| {
            StoreError::Io(format!(
                "migration {version} failed: {}",
                crate::describe(&err)
            ))
        })?;
        tx.execute(
            "INSERT INTO cordon_schema (version) VALUES ($1)",
            &[&version],
        )
        .map_err(failed)?;
        tracing::info!(version, "applied a store migration");
    }
    tx.commit().map_err(failed)?;
    Ok(MIGRATIONS.len())
}

fn failed(err: postgres::Error) -> StoreError {
    StoreError::Io(format!(
        "cannot migrate the schema: {}",
        crate::describe(&err)
    ))
}
