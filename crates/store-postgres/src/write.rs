//! One batch, one transaction.
//!
//! Locks are taken in one order — ledger rows (sorted by key), then the
//! audit head — so writers wait for each other instead of deadlocking; if
//! PostgreSQL still reports a deadlock or a serialization failure, the whole
//! transaction is retried, building the batch again from what it reads.

use cordon_store::audit::AuditRecord;
use cordon_store::{Batch, Charge, Fence, LedgerCounts, LedgerKey, StoreError};
use cordon_types::now_ms;
use postgres::error::SqlState;
use postgres::{Client, Transaction};
use std::collections::BTreeMap;

/// How often a transaction PostgreSQL aborted to break a deadlock is retried.
const RETRIES: usize = 8;

/// What one write commits: a batch as given, or one built from the ledger's
/// counts read in the same transaction.
pub(crate) enum Write<'a> {
    Batch(&'a Batch),
    Guarded(
        &'a LedgerKey,
        &'a mut (dyn FnMut(LedgerCounts) -> Batch + Send),
    ),
}

/// Why a transaction did not commit: the database failed (with whether
/// the batch carried audit events), or the store refused the batch by what
/// it holds (a fence that no longer holds, a signal already open).
enum Failure {
    Db(bool, postgres::Error),
    Refused(StoreError),
}

impl Failure {
    fn db(audited: bool) -> impl FnOnce(postgres::Error) -> Failure {
        move |err| Failure::Db(audited, err)
    }
}

/// Commits `write` in one transaction, retrying when PostgreSQL aborted it
/// to break a deadlock. A shared store (`announce`) tells listening
/// replicas the audit head each appending commit moved to.
pub(crate) fn commit(
    client: &mut Client,
    mut write: Write<'_>,
    announce: bool,
) -> Result<(), StoreError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut tx = client.transaction().map_err(io)?;
        match transact(&mut tx, &mut write, announce).and_then(|audited| {
            tx.commit().map_err(Failure::db(audited))?;
            Ok(())
        }) {
            Ok(()) => return Ok(()),
            Err(Failure::Refused(err)) => return Err(err),
            Err(Failure::Db(_, err)) if attempt < RETRIES && retryable(&err) => {
                tracing::debug!("retrying a store transaction: {}", crate::describe(&err));
            }
            Err(Failure::Db(true, err)) => {
                return Err(StoreError::AuditUnavailable(crate::describe(&err)));
            }
            Err(Failure::Db(false, err)) => return Err(io(err)),
        }
    }
}

fn retryable(err: &postgres::Error) -> bool {
    matches!(
        err.code(),
        Some(&SqlState::T_R_DEADLOCK_DETECTED) | Some(&SqlState::T_R_SERIALIZATION_FAILURE)
    )
}

/// Writes the batch; on failure says whether it carried audit events.
fn transact(
    tx: &mut Transaction<'_>,
    write: &mut Write<'_>,
    announce: bool,
) -> Result<bool, Failure> {
    let built;
    let batch = match write {
        Write::Batch(batch) => *batch,
        Write::Guarded(key, build) => {
            let run_key = cordon_store::ledger::run_key(&key.run_id);
            let domain_key = cordon_store::ledger::domain_key(&key.domain);
            let held = lock_ledger(tx, [run_key.clone(), domain_key.clone()])
                .map_err(Failure::db(false))?;
            let counts = cordon_store::ledger::counts(
                key,
                held.get(&run_key).map(Vec::as_slice),
                held.get(&domain_key).map(Vec::as_slice),
            );
            built = build(counts);
            &built
        }
    };
    let audited = !batch.audit.is_empty();
    if let Some(fence) = &batch.fence {
        // After the ledger rows of a guarded batch: renewals and takeovers
        // lock lease rows alone, so this order cannot deadlock with them.
        check_fence(tx, fence)?;
    }
    open_signal(tx, batch)?;
    write_batch(tx, batch, announce).map_err(Failure::db(audited))?;
    Ok(audited)
}

/// Refuses the transaction unless the run's lease still carries the
/// fence's token and has not expired; the row stays locked (shared) until
/// the transaction ends, so no takeover slips between check and commit.
fn check_fence(tx: &mut Transaction<'_>, fence: &Fence) -> Result<(), Failure> {
    let held = tx
        .query_opt(
            "SELECT 1 FROM cordon_leases
             WHERE run_id = $1 AND token = $2 AND expires_at > clock_timestamp()
             FOR SHARE",
            &[&fence.run_id, &fence.token],
        )
        .map_err(Failure::db(false))?;
    match held {
        Some(_) => Ok(()),
        None => Err(Failure::Refused(StoreError::Fenced {
            run_id: fence.run_id.clone(),
        })),
    }
}

/// Records the signal a new run answers (refused while another run answers
/// it: unfinished, or finished within the deduplication window) and the
/// lease the run starts with.
fn open_signal(tx: &mut Transaction<'_>, batch: &Batch) -> Result<(), Failure> {
    let Some(run) = batch.runs.first() else {
        return Ok(());
    };
    if let Some(open) = &batch.opens {
        // Rows whose window passed no longer answer for their signal.
        tx.execute(
            "DELETE FROM cordon_open_signals
             WHERE finished_at <= clock_timestamp() - $1::bigint * interval '1 millisecond'",
            &[&crate::leases::millis(open.window)],
        )
        .map_err(Failure::db(false))?;
        let inserted = tx
            .execute(
                "INSERT INTO cordon_open_signals (playbook, signal_id, run_id) VALUES ($1, $2, $3)
                 ON CONFLICT (playbook, signal_id) DO NOTHING",
                &[&open.playbook, &open.signal_id, &run.run_id],
            )
            .map_err(Failure::db(false))?;
        if inserted == 0 {
            let row = tx
                .query_one(
                    "SELECT run_id FROM cordon_open_signals WHERE playbook = $1 AND signal_id = $2",
                    &[&open.playbook, &open.signal_id],
                )
                .map_err(Failure::db(false))?;
            return Err(Failure::Refused(StoreError::AlreadyOpen {
                run_id: row.get(0),
            }));
        }
    }
    if let Some(lease) = &batch.new_lease {
        tx.execute(
            "INSERT INTO cordon_leases (run_id, holder, token, expires_at)
             VALUES ($1, $2, nextval('cordon_lease_tokens'), clock_timestamp() + $3::bigint * interval '1 millisecond')",
            &[&run.run_id, &lease.holder, &crate::leases::millis(lease.ttl)],
        )
        .map_err(Failure::db(false))?;
    }
    Ok(())
}

fn write_batch(
    tx: &mut Transaction<'_>,
    batch: &Batch,
    announce: bool,
) -> Result<(), postgres::Error> {
    for run in &batch.runs {
        tx.execute(
            "INSERT INTO cordon_runs (run_id, started_at, body) VALUES ($1, $2, $3)
             ON CONFLICT (run_id) DO UPDATE SET started_at = excluded.started_at, body = excluded.body",
            &[&run.run_id, &run.started_at, &json(run)],
        )?;
        if run.status.is_finished() {
            // Its signal may start a run again once the deduplication
            // window since now passed.
            tx.execute(
                "UPDATE cordon_open_signals SET finished_at = clock_timestamp()
                 WHERE run_id = $1 AND finished_at IS NULL",
                &[&run.run_id],
            )?;
        }
    }
    for action in &batch.actions {
        tx.execute(
            "INSERT INTO cordon_actions (run_id, key, seq, body) VALUES ($1, $2, $3, $4)
             ON CONFLICT (run_id, key) DO UPDATE SET seq = excluded.seq, body = excluded.body",
            &[
                &action.run_id,
                &action.key,
                &(action.seq as i64),
                &json(action),
            ],
        )?;
    }
    for grant in &batch.grants {
        tx.execute(
            "INSERT INTO cordon_grants (id, created_at, body) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET created_at = excluded.created_at, body = excluded.body",
            &[&grant.id, &grant.created_at, &json(grant)],
        )?;
    }
    for incident in &batch.incidents {
        tx.execute(
            "INSERT INTO cordon_incidents (id, body) VALUES ($1, $2)
             ON CONFLICT (id) DO UPDATE SET body = excluded.body",
            &[&incident.id, &json(incident)],
        )?;
    }
    for facts in &batch.facts {
        tx.execute(
            "INSERT INTO cordon_facts (run_id, identity, body) VALUES ($1, $2, $3)
             ON CONFLICT (run_id, identity) DO UPDATE SET body = excluded.body",
            &[&facts.run_id, &(facts.identity as i64), &json(facts)],
        )?;
    }
    charge(tx, &batch.charges)?;
    append_audit(tx, batch, announce)
}

/// Counts the charges; the rows they touch are locked (again, for those a
/// guard already holds) in key order.
fn charge(tx: &mut Transaction<'_>, charges: &[Charge]) -> Result<(), postgres::Error> {
    if charges.is_empty() {
        return Ok(());
    }
    let keys = charges.iter().flat_map(|c| {
        [
            cordon_store::ledger::run_key(&c.run_id),
            cordon_store::ledger::domain_key(&c.domain),
        ]
    });
    let mut held = lock_ledger(tx, keys)?;
    for charge in charges {
        let writes = cordon_store::ledger::charge(charge, |key| {
            Ok::<_, std::convert::Infallible>(held.get(key).cloned())
        });
        let Ok(writes) = writes;
        held.extend(writes);
    }
    for (key, value) in &held {
        tx.execute(
            "UPDATE cordon_ledger SET value = $2 WHERE key = $1",
            &[key, value],
        )?;
    }
    Ok(())
}

/// Locks the ledger rows of `keys` (creating empty ones), in key order, and
/// returns what they hold (an empty value for a new row).
fn lock_ledger(
    tx: &mut Transaction<'_>,
    keys: impl IntoIterator<Item = Vec<u8>>,
) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, postgres::Error> {
    let mut keys: Vec<Vec<u8>> = keys.into_iter().collect();
    keys.sort();
    keys.dedup();
    let mut held = BTreeMap::new();
    for key in keys {
        tx.execute(
            "INSERT INTO cordon_ledger (key, value) VALUES ($1, '') ON CONFLICT (key) DO NOTHING",
            &[&key],
        )?;
        let row = tx.query_one(
            "SELECT value FROM cordon_ledger WHERE key = $1 FOR UPDATE",
            &[&key],
        )?;
        held.insert(key, row.get::<_, Vec<u8>>(0));
    }
    Ok(held)
}

/// Appends the batch's audit events after the chain's head, which it locks
/// until the transaction ends.
fn append_audit(
    tx: &mut Transaction<'_>,
    batch: &Batch,
    announce: bool,
) -> Result<(), postgres::Error> {
    if batch.audit.is_empty() {
        return Ok(());
    }
    let head = tx.query_one(
        "SELECT seq, hash FROM cordon_audit_head WHERE id = 1 FOR UPDATE",
        &[],
    )?;
    let mut seq = head.get::<_, i64>(0) as u64 + 1;
    let mut prev: String = head.get(1);
    let at = now_ms();
    for entry in &batch.audit {
        let record = AuditRecord::seal(seq, at, entry, &prev);
        tx.execute(
            "INSERT INTO cordon_audit (seq, body) VALUES ($1, $2)",
            &[&(seq as i64), &record.encode()],
        )?;
        prev = record.hash;
        seq += 1;
    }
    tx.execute(
        "UPDATE cordon_audit_head SET seq = $1, hash = $2 WHERE id = 1",
        &[&((seq - 1) as i64), &prev],
    )?;
    if announce {
        // Delivered when (and only if) the transaction commits.
        tx.execute(
            "SELECT pg_notify('cordon_commit', $1)",
            &[&(seq - 1).to_string()],
        )?;
    }
    Ok(())
}

fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records serialize")
}

fn io(err: postgres::Error) -> StoreError {
    StoreError::Io(crate::describe(&err))
}
