//! Run leases in the database ([`Leases`] for a shared [`crate::PgStore`]).
//!
//! One row per leased run in `cordon_leases`: holder, fencing token (from
//! the sequence `cordon_lease_tokens`, so every claim gets a larger one)
//! and expiry, always computed by the database's clock. Replicas wake each
//! other with `NOTIFY cordon_wake`; each appending commit announces the
//! audit head on `cordon_commit`.

use crate::pool::Pool;
use cordon_store::{Lease, Leases, Notice, StoreError};
use postgres::fallible_iterator::FallibleIterator;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often the listening thread looks whether its store was dropped.
const LISTEN_TICK: Duration = Duration::from_millis(500);

/// The advisory lock the leading replica holds (`cordon` + 2 in ASCII).
const LEADER_LOCK: i64 = 0x636f_7264_6f6e + 2;

/// The leases of a shared PostgreSQL store.
pub(crate) struct PgLeases {
    pub(crate) pool: Arc<Pool>,
    /// Set when the store is dropped: listening threads end.
    pub(crate) closed: Arc<AtomicBool>,
}

/// `ttl` in whole milliseconds, as the lease queries take it.
pub(crate) fn millis(ttl: Duration) -> i64 {
    ttl.as_millis().min(i64::MAX as u128) as i64
}

fn io(err: postgres::Error) -> StoreError {
    StoreError::Io(crate::describe(&err))
}

impl Leases for PgLeases {
    fn claim(
        &self,
        run_id: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let row = self.pool.with(|client| {
            client
                .query_opt(
                    "INSERT INTO cordon_leases AS l (run_id, holder, token, expires_at)
                     VALUES ($1, $2, nextval('cordon_lease_tokens'),
                             clock_timestamp() + $3::bigint * interval '1 millisecond')
                     ON CONFLICT (run_id) DO UPDATE
                        SET holder = excluded.holder, token = excluded.token,
                            expires_at = excluded.expires_at
                        WHERE l.holder = excluded.holder OR l.expires_at <= clock_timestamp()
                     RETURNING token",
                    &[&run_id, &holder, &millis(ttl)],
                )
                .map_err(io)
        })?;
        Ok(row.map(|row| Lease {
            run_id: run_id.to_string(),
            holder: holder.to_string(),
            token: row.get(0),
        }))
    }

    fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        // An expired lease nobody took over still carries its token, and no
        // commit slipped in while it was expired (each checks the expiry):
        // renewing it is safe.
        let renewed = self.pool.with(|client| {
            client
                .execute(
                    "UPDATE cordon_leases
                     SET expires_at = clock_timestamp() + $3::bigint * interval '1 millisecond'
                     WHERE run_id = $1 AND token = $2",
                    &[&lease.run_id, &lease.token, &millis(ttl)],
                )
                .map_err(io)
        })?;
        Ok(renewed == 1)
    }

    fn release(&self, lease: &Lease, resumable: bool) -> Result<(), StoreError> {
        let query = if resumable {
            "UPDATE cordon_leases SET expires_at = '-infinity' WHERE run_id = $1 AND token = $2"
        } else {
            "DELETE FROM cordon_leases WHERE run_id = $1 AND token = $2"
        };
        self.pool.with(|client| {
            client
                .execute(query, &[&lease.run_id, &lease.token])
                .map_err(io)
        })?;
        Ok(())
    }

    fn take_expired(
        &self,
        holder: &str,
        ttl: Duration,
        limit: usize,
    ) -> Result<Vec<Lease>, StoreError> {
        let limit = limit.min(i64::MAX as usize) as i64;
        let rows = self.pool.with(|client| {
            client
                .query(
                    "WITH expired AS (
                        SELECT run_id FROM cordon_leases
                        WHERE expires_at <= clock_timestamp()
                        ORDER BY expires_at, run_id
                        LIMIT $3
                        FOR UPDATE SKIP LOCKED
                     )
                     UPDATE cordon_leases l
                     SET holder = $1, token = nextval('cordon_lease_tokens'),
                         expires_at = clock_timestamp() + $2::bigint * interval '1 millisecond'
                     FROM expired WHERE l.run_id = expired.run_id
                     RETURNING l.run_id, l.token",
                    &[&holder, &millis(ttl), &limit],
                )
                .map_err(io)
        })?;
        Ok(rows
            .iter()
            .map(|row| Lease {
                run_id: row.get(0),
                holder: holder.to_string(),
                token: row.get(1),
            })
            .collect())
    }

    fn lead(&self) -> Result<bool, StoreError> {
        self.pool.try_hold(LEADER_LOCK)
    }

    fn wake(&self, run_id: &str) -> Result<(), StoreError> {
        self.pool.with(|client| {
            client
                .execute("SELECT pg_notify('cordon_wake', $1)", &[&run_id])
                .map_err(io)
        })?;
        Ok(())
    }

    fn listen(&self, on: Box<dyn Fn(Notice) + Send>) -> Result<(), StoreError> {
        let pool = self.pool.clone();
        let closed = self.closed.clone();
        std::thread::Builder::new()
            .name("cordon-pg-listen".into())
            .spawn(move || listen(&pool, &closed, on.as_ref()))
            .map_err(|err| StoreError::Io(format!("cannot start listening: {err}")))?;
        Ok(())
    }
}

/// Listens on a connection of its own, outside the pool, connecting again
/// (and saying so with [`Notice::Reconnected`]) whenever it is lost.
fn listen(pool: &Pool, closed: &AtomicBool, on: &(dyn Fn(Notice) + Send)) {
    let mut pause = Duration::from_millis(100);
    let mut first = true;
    while !closed.load(Ordering::Relaxed) {
        let mut client = match pool.connect().and_then(|mut c| {
            c.batch_execute("LISTEN cordon_wake; LISTEN cordon_commit")
                .map(|()| c)
                .map_err(io)
        }) {
            Ok(client) => client,
            Err(err) => {
                tracing::warn!("cannot listen for other replicas: {err}");
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        pause = Duration::from_millis(100);
        if !first {
            on(Notice::Reconnected);
        }
        first = false;
        loop {
            // A fresh iterator each time: one that timed out once answers
            // `None` at once from then on.
            let heard = client.notifications().timeout_iter(LISTEN_TICK).next();
            match heard {
                Ok(Some(n)) => match n.channel() {
                    "cordon_wake" => on(Notice::Wake(n.payload().to_string())),
                    "cordon_commit" => {
                        if let Ok(seq) = n.payload().parse() {
                            on(Notice::Committed(seq));
                        }
                    }
                    _ => {}
                },
                Ok(None) if closed.load(Ordering::Relaxed) => return,
                // A closed connection answers `None`, not an error.
                Ok(None) if client.is_closed() => {
                    tracing::warn!("lost the connection listening for other replicas");
                    break;
                }
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(
                        "lost the connection listening for other replicas: {}",
                        crate::describe(&err)
                    );
                    break;
                }
            }
        }
    }
}
