//! The store conformance suite, unchanged, against a real PostgreSQL: one
//! store, and two stores on one database taking turns (as two replicas
//! would); and the migrations.

use cordon_store::audit::Head;
use cordon_store::{Batch, LedgerCounts, LedgerKey, Store, StoreError, StoreFuture};
use cordon_store_postgres::testing::TempPostgres;
use cordon_store_postgres::{PgStore, Sharing};
use cordon_types::{ActionRecord, FactsRecord, GrantRecord, IncidentRecord, RunRecord};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_postgres_store_passes_the_conformance_suite() {
    let pg = TempPostgres::start();
    cordon_store::conformance::run_all(|| {
        Arc::new(PgStore::connect(&pg.fresh_database()).unwrap()) as Arc<dyn Store>
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_database_pass_it_as_one_store() {
    let pg = TempPostgres::start();
    cordon_store::conformance::run_all(|| {
        let url = pg.fresh_database();
        Arc::new(TakingTurns {
            stores: [
                Arc::new(PgStore::connect_with(&url, Sharing::Shared).unwrap()),
                Arc::new(PgStore::connect_with(&url, Sharing::Shared).unwrap()),
            ],
            next: AtomicUsize::new(0),
        }) as Arc<dyn Store>
    })
    .await;
}

#[test]
fn migrations_apply_once_and_a_newer_schema_is_refused() {
    let pg = TempPostgres::start();
    let url = pg.fresh_database();
    let store = PgStore::connect(&url).unwrap();
    assert!(store.location().contains("127.0.0.1"));
    assert!(!store.location().contains(pg.password()));
    drop(store);
    // Connecting again applies nothing and keeps what is there.
    pg.sql(
        &url,
        "INSERT INTO cordon_grants (id, created_at, body) VALUES ('g', 1, 'x')",
    );
    let err = PgStore::connect(&url)
        .and_then(|store| store.grants())
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { message, .. } if !message.is_empty()),
        "the row written before the second start is still there (and is not a grant): {err}"
    );
    pg.sql(&url, "INSERT INTO cordon_schema (version) VALUES (99)");
    let err = PgStore::connect(&url)
        .err()
        .expect("a newer schema is refused");
    let text = err.to_string();
    assert!(text.contains("version 99"), "{text}");
    assert!(!text.contains(pg.password()), "{text}");
}

#[test]
fn an_exclusive_store_keeps_other_processes_out_until_it_closes() {
    let pg = TempPostgres::start();
    let url = pg.fresh_database();
    let first = PgStore::connect(&url).unwrap();
    let refused = PgStore::connect(&url)
        .err()
        .expect("a second exclusive store is refused");
    assert!(matches!(refused, StoreError::Locked(_)), "{refused}");
    assert!(
        refused
            .to_string()
            .contains("in use by another cordon process")
    );
    assert!(!refused.to_string().contains(pg.password()));
    drop(first);
    let second = PgStore::connect(&url).expect("the lock went with the first store");
    assert_eq!(second.runs().unwrap().len(), 0);
}

#[test]
fn connection_failures_and_tls_requests_are_refused_without_the_password() {
    let pg = TempPostgres::start();
    let wrong = pg
        .url("postgres")
        .replace(pg.password(), "not-the-password");
    let text = PgStore::connect(&wrong).err().expect("refused").to_string();
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(!text.contains("not-the-password"), "{text}");
    let tls = format!("{}?sslmode=require", pg.url("postgres"));
    let text = PgStore::connect(&tls).err().expect("refused").to_string();
    assert!(text.contains("sslmode=require"), "{text}");
    assert!(!text.contains(pg.password()), "{text}");
}

/// Two stores on one database; each call goes to the next one.
struct TakingTurns {
    stores: [Arc<PgStore>; 2],
    next: AtomicUsize,
}

impl TakingTurns {
    fn one(&self) -> &PgStore {
        &self.stores[self.next.fetch_add(1, Ordering::Relaxed) % 2]
    }
}

impl Store for TakingTurns {
    fn location(&self) -> String {
        self.one().location()
    }
    fn run(&self, run_id: &str) -> Result<RunRecord, StoreError> {
        self.one().run(run_id)
    }
    fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        self.one().runs()
    }
    fn action(&self, run_id: &str, key: &str) -> Result<Option<ActionRecord>, StoreError> {
        self.one().action(run_id, key)
    }
    fn actions(&self, run_id: &str) -> Result<Vec<ActionRecord>, StoreError> {
        self.one().actions(run_id)
    }
    fn grants(&self) -> Result<Vec<GrantRecord>, StoreError> {
        self.one().grants()
    }
    fn incident(&self, id: &str) -> Result<Option<IncidentRecord>, StoreError> {
        self.one().incident(id)
    }
    fn facts(&self, run_id: &str) -> Result<Vec<FactsRecord>, StoreError> {
        self.one().facts(run_id)
    }
    fn audit_entries(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.one().audit_entries()
    }
    fn audit_head(&self) -> Result<Option<Head>, StoreError> {
        self.one().audit_head()
    }
    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        self.one().apply(batch)
    }
    fn apply_guarded(
        &self,
        key: &LedgerKey,
        build: &mut (dyn FnMut(LedgerCounts) -> Batch + Send),
    ) -> Result<(), StoreError> {
        self.one().apply_guarded(key, build)
    }
    fn flush(&self) -> StoreFuture<'_, ()> {
        self.one().flush()
    }
}

/// Many callers at once share a bounded number of connections: the rest
/// wait for one to come back instead of exhausting the server's
/// `max_connections` (which other replicas, and a killed predecessor's
/// lingering sessions, count against too).
#[test]
fn many_callers_share_a_bounded_number_of_connections() {
    let pg = TempPostgres::start();
    let url = pg.fresh_database();
    let store = PgStore::connect(&url).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    let most = std::thread::scope(|scope| {
        let monitor = scope.spawn(|| {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            let mut most = 0;
            while !done.load(Ordering::Relaxed) {
                let open: i64 = client
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity \
                         WHERE datname = current_database() AND pid <> pg_backend_pid()",
                        &[],
                    )
                    .unwrap()
                    .get(0);
                most = most.max(open);
            }
            most
        });
        let callers: Vec<_> = (0..48)
            .map(|_| {
                scope.spawn(|| {
                    for _ in 0..40 {
                        store.grants().unwrap();
                    }
                })
            })
            .collect();
        for caller in callers {
            caller.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
        monitor.join().unwrap()
    });
    // Sixteen for work and one holding the database's lock.
    assert!(most <= 17, "{most} connections were open at once");
    assert!(most >= 2, "the callers did overlap ({most} connections)");
}
