//! Connections, and running database work off the async runtime.
//!
//! The [`cordon_store::Store`] trait is synchronous, and the synchronous
//! `postgres` client drives its own small runtime, which must not run on a
//! thread of the caller's. So every piece of database work runs on a
//! short-lived thread of its own, with a connection borrowed from the pool,
//! while the caller waits (telling a multi-threaded tokio runtime first, so
//! its other tasks move to other threads).

use cordon_store::StoreError;
use postgres::error::SqlState;
use postgres::{Client, NoTls};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Connections one store opens at most for its work (the lock holder comes
/// on top); more callers wait for one to come back. A killed predecessor's
/// connections, or other replicas', count against the server's
/// `max_connections` too.
const MAX_OPEN: usize = 16;

/// How long opening a connection keeps trying while the server refuses for
/// a moment (too many clients, starting up, restarting) before it fails.
const CONNECT_PATIENCE: Duration = Duration::from_secs(5);

/// How long opening waits for another process's hold on the database to
/// end (a killed predecessor's connection takes a moment to close).
const LOCK_WAIT: &str = "5s";

/// The connections of a pool that are not lent out, and how many are open.
#[derive(Default)]
struct Slots {
    /// Idle connections, with when each came back.
    idle: Vec<(Client, Instant)>,
    open: usize,
}

/// A connection idle for longer than this is checked before it is lent: the
/// server may have restarted, or closed it, meanwhile.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Open connections to one database.
pub(crate) struct Pool {
    config: postgres::Config,
    slots: Mutex<Slots>,
    /// Signalled when a connection comes back or one may be opened.
    returned: Condvar,
    /// Set when opening a connection failed for all of
    /// [`CONNECT_PATIENCE`]; while set, each opening tries once, so work
    /// fails at once instead of every caller waiting out the patience.
    unreachable: AtomicBool,
    /// The connection holding the database's advisory lock, if this store
    /// holds it.
    holder: Mutex<Option<Client>>,
}

impl Pool {
    pub(crate) fn new(config: postgres::Config) -> Pool {
        Pool {
            config,
            slots: Mutex::new(Slots::default()),
            returned: Condvar::new(),
            unreachable: AtomicBool::new(false),
            holder: Mutex::new(None),
        }
    }

    /// Takes the session advisory lock `key` on a connection of its own,
    /// kept while the pool lives; `Ok(false)` if another session held it
    /// for longer than [`LOCK_WAIT`].
    pub(crate) fn hold(&self, key: i64) -> Result<bool, StoreError> {
        let held = self.with(|client| {
            let held = client
                .batch_execute(&format!("SET lock_timeout = '{LOCK_WAIT}'"))
                .and_then(|()| client.execute("SELECT pg_advisory_lock($1)", &[&key]));
            match held {
                Ok(_) => Ok(true),
                Err(err) if err.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE) => {
                    Ok(false)
                }
                Err(err) => Err(StoreError::Io(crate::describe(&err))),
            }
        })?;
        if held {
            self.keep_last_returned()?;
        }
        Ok(held)
    }

    /// Takes the session advisory lock `key` if nobody holds it, on a
    /// connection of its own kept while the pool lives (as [`Pool::hold`]);
    /// `Ok(true)` also when this pool holds it already.
    pub(crate) fn try_hold(&self, key: i64) -> Result<bool, StoreError> {
        {
            let holder = self.holder.lock().map_err(|_| poisoned())?;
            if holder.as_ref().is_some_and(|c| !c.is_closed()) {
                return Ok(true);
            }
        }
        let held = self.with(|client| {
            client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
                .map(|row| row.get::<_, bool>(0))
                .map_err(|err| StoreError::Io(crate::describe(&err)))
        })?;
        if held {
            self.keep_last_returned()?;
        }
        Ok(held)
    }

    /// The connection `with` just returned to the pool holds a session
    /// lock: it leaves the pool (and its count) for good.
    fn keep_last_returned(&self) -> Result<(), StoreError> {
        let mut slots = self.slots.lock().map_err(|_| poisoned())?;
        let client = slots.idle.pop().map(|(client, _)| client);
        slots.open -= usize::from(client.is_some());
        drop(slots);
        self.returned.notify_one();
        *self.holder.lock().map_err(|_| poisoned())? = client;
        Ok(())
    }

    /// Fails if this pool held the lock and its connection has closed: the
    /// lock went with it, and another process may hold it now.
    pub(crate) fn still_holding(&self) -> Result<(), StoreError> {
        match &*self.holder.lock().map_err(|_| poisoned())? {
            Some(client) if client.is_closed() => Err(StoreError::Io(
                "the connection holding this process's lock on the database closed; \
                 nothing more is written (restart cordon to take the lock again)"
                    .into(),
            )),
            _ => Ok(()),
        }
    }

    /// Runs `work` with a connection, off the caller's thread; a connection
    /// that failed is closed rather than reused.
    pub(crate) fn with<T: Send>(
        &self,
        work: impl FnOnce(&mut Client) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        let run = || {
            std::thread::scope(|scope| {
                scope
                    .spawn(|| {
                        let mut client = self.checkout()?;
                        let result = work(&mut client);
                        if result.is_ok() {
                            self.checkin(client);
                        } else {
                            // Its session may be in any state: close it. The
                            // server may have gone away under every idle
                            // connection too (the sync client notices a
                            // closed connection only when it next uses it):
                            // close those, rather than fail a caller each.
                            drop(client);
                            self.release();
                            self.close_idle();
                        }
                        result
                    })
                    .join()
                    .unwrap_or_else(|_| Err(StoreError::Io("a database task panicked".into())))
            })
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(run)
            }
            _ => run(),
        }
    }

    /// Lends an idle connection, opens one if fewer than [`MAX_OPEN`] are,
    /// or waits for one to come back.
    fn checkout(&self) -> Result<Client, StoreError> {
        let mut slots = self.slots.lock().map_err(|_| poisoned())?;
        loop {
            if let Some((mut client, since)) = slots.idle.pop() {
                if !client.is_closed() && since.elapsed() < CHECK_AFTER_IDLE {
                    return Ok(client);
                }
                drop(slots);
                if !client.is_closed() && client.is_valid(CHECK_AFTER_IDLE).is_ok() {
                    return Ok(client);
                }
                drop(client);
                slots = self.slots.lock().map_err(|_| poisoned())?;
                slots.open -= 1;
                continue;
            }
            if slots.open < MAX_OPEN {
                slots.open += 1;
                drop(slots);
                return self.connect().inspect_err(|_| self.release());
            }
            slots = self.returned.wait(slots).map_err(|_| poisoned())?;
        }
    }

    /// Gives a lent connection back; one that closed or failed frees its place.
    fn checkin(&self, client: Client) {
        if client.is_closed() {
            return self.release();
        }
        if let Ok(mut slots) = self.slots.lock() {
            slots.idle.push((client, Instant::now()));
        }
        self.returned.notify_one();
    }

    /// Closes every idle connection.
    fn close_idle(&self) {
        let idle = match self.slots.lock() {
            Ok(mut slots) => {
                let idle = std::mem::take(&mut slots.idle);
                slots.open -= idle.len();
                idle
            }
            Err(_) => return,
        };
        drop(idle);
        self.returned.notify_all();
    }

    /// A lent connection is gone: its place may be opened again.
    fn release(&self) {
        if let Ok(mut slots) = self.slots.lock() {
            slots.open -= 1;
        }
        self.returned.notify_one();
    }

    /// Opens a connection, trying again for [`CONNECT_PATIENCE`] while the
    /// server refuses for a moment (once only while it is known to be
    /// unreachable); a refusal that will not pass (a wrong password, a
    /// missing database) fails at once.
    pub(crate) fn connect(&self) -> Result<Client, StoreError> {
        let deadline = Instant::now() + CONNECT_PATIENCE;
        let mut pause = Duration::from_millis(10);
        loop {
            match self.config.connect(NoTls).and_then(watch_the_client) {
                Ok(client) => {
                    if self.unreachable.swap(false, Ordering::Relaxed) {
                        tracing::info!("PostgreSQL is reachable again");
                    }
                    return Ok(client);
                }
                Err(err)
                    if transient(&err)
                        && !self.unreachable.load(Ordering::Relaxed)
                        && Instant::now() + pause < deadline =>
                {
                    tracing::debug!(
                        "PostgreSQL refused a connection for now: {}",
                        crate::describe(&err)
                    );
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
                Err(err) => {
                    if transient(&err) {
                        self.unreachable.store(true, Ordering::Relaxed);
                    }
                    return Err(StoreError::Io(format!(
                        "cannot connect to PostgreSQL: {}",
                        crate::describe(&err)
                    )));
                }
            }
        }
    }
}

/// Asks the server to notice within a second when this process is gone.
///
/// A session waiting for a row lock does not read from its socket, so
/// without this a killed process's sessions wait on in the lock queue —
/// each holding a connection and, once it gets the lock, the lock — until
/// the queue reaches them; after a few kills in a row the server runs out of
/// connections. Servers before PostgreSQL 14 lack the setting and keep the
/// old behaviour.
///
/// A process that stops mid-transaction without dying (SIGSTOP, a frozen
/// VM) keeps its socket open; its session is ended after
/// [`IDLE_IN_TRANSACTION`], so the rows it locked (the audit head among
/// them) do not hold every other replica up for longer.
fn watch_the_client(mut client: Client) -> Result<Client, postgres::Error> {
    client.batch_execute(&format!(
        "SET idle_in_transaction_session_timeout = '{IDLE_IN_TRANSACTION}'"
    ))?;
    match client.batch_execute("SET client_connection_check_interval = '1s'") {
        Err(err) if err.code() == Some(&SqlState::UNDEFINED_OBJECT) => Ok(client),
        done => done.map(|()| client),
    }
}

/// How long a session may sit in a transaction without a statement.
/// Cordon's transactions send their statements back to back.
const IDLE_IN_TRANSACTION: &str = "3s";

/// Whether a failed connect may succeed if tried again soon.
fn transient(err: &postgres::Error) -> bool {
    match err.code() {
        Some(code) => [
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
        ]
        .contains(code),
        // No answer from the server at all: refused, reset or timed out.
        None => std::error::Error::source(err).is_some_and(|source| source.is::<std::io::Error>()),
    }
}

impl Drop for Pool {
    /// Closes the idle connections off the caller's thread: closing one
    /// drives the client's runtime, which must not run on a runtime's thread.
    fn drop(&mut self) {
        let slots = self.slots.get_mut().unwrap_or_else(|p| p.into_inner());
        let mut idle: Vec<Client> = std::mem::take(&mut slots.idle)
            .into_iter()
            .map(|(client, _)| client)
            .collect();
        idle.extend(
            self.holder
                .get_mut()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
        if !idle.is_empty() {
            std::thread::scope(|scope| {
                scope.spawn(move || drop(idle));
            });
        }
    }
}

fn poisoned() -> StoreError {
    StoreError::Io("a database task panicked while holding the pool".into())
}
