//! Run leases of a shared PostgreSQL store, against a real server: claims
//! exclude each other, an expired lease is taken over with a larger token,
//! a commit under a lease that was taken over changes nothing, and one
//! signal opens one unfinished run.

use cordon_store::conformance::{sample_action, sample_run};
use cordon_store::{Batch, Leases, NewLease, Notice, OpenSignal, Store, StoreError, StoreExt};
use cordon_store_postgres::testing::TempPostgres;
use cordon_store_postgres::{PgStore, Sharing};
use cordon_types::RunStatus;
use std::sync::Arc;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

fn shared(url: &str) -> (PgStore, Arc<dyn Leases>) {
    let store = PgStore::connect_with(url, Sharing::Shared).unwrap();
    let leases = store.leases().expect("a shared store has leases");
    (store, leases)
}

#[test]
fn an_exclusive_store_has_no_leases() {
    let pg = TempPostgres::start();
    let store = PgStore::connect(&pg.fresh_database()).unwrap();
    assert!(store.leases().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_taken_over_fences_the_replica_that_held_it() {
    let pg = TempPostgres::start();
    let url = pg.fresh_database();
    let (a, a_leases) = shared(&url);
    let (b, b_leases) = shared(&url);
    let run = sample_run("run-1", 1);
    let mut start = Batch::new().run(&run);
    start.new_lease = Some(NewLease {
        holder: "a".into(),
        ttl: LONG,
    });
    a.commit(start).await.unwrap();

    // The creator holds it: another replica cannot claim it.
    assert_eq!(b_leases.claim("run-1", "b", LONG).unwrap(), None);
    let first = a_leases.claim("run-1", "a", LONG).unwrap().unwrap();
    assert!(a_leases.renew(&first, LONG).unwrap());
    a.commit(
        Batch::new()
            .action(&sample_action("run-1", "k1", 0))
            .fenced(Some(first.fence())),
    )
    .await
    .unwrap();
    assert!(b_leases.take_expired("b", LONG, 10).unwrap().is_empty());

    // a stalls: its lease runs out and b takes the run over.
    assert!(a_leases.renew(&first, Duration::ZERO).unwrap());
    let taken = b_leases.take_expired("b", LONG, 10).unwrap();
    assert_eq!(taken.len(), 1);
    let second = taken[0].clone();
    assert!(second.token > first.token, "{second:?} after {first:?}");
    assert_eq!(second.holder, "b");

    // a wakes: nothing it writes under the old lease lands.
    let late = Batch::new()
        .action(&sample_action("run-1", "k2", 1))
        .fenced(Some(first.fence()));
    let refused = a.commit(late).await.unwrap_err();
    assert!(matches!(refused, StoreError::Fenced { .. }), "{refused}");
    assert!(!refused.is_transient());
    assert!(b.action("run-1", "k2").unwrap().is_none());
    assert!(
        !a_leases.renew(&first, LONG).unwrap(),
        "renewed a lease taken over"
    );
    a_leases.release(&first, false).unwrap();
    // b's lease stands, and b writes under it.
    assert_eq!(a_leases.claim("run-1", "a", LONG).unwrap(), None);
    b.commit(
        Batch::new()
            .action(&sample_action("run-1", "k2", 1))
            .fenced(Some(second.fence())),
    )
    .await
    .unwrap();

    // Given back resumable, it is taken over at once; dropped, it is gone.
    b_leases.release(&second, true).unwrap();
    let third = a_leases.take_expired("a", LONG, 10).unwrap();
    assert_eq!(third.len(), 1);
    a_leases.release(&third[0], false).unwrap();
    assert!(b_leases.take_expired("b", LONG, 10).unwrap().is_empty());
    assert!(b_leases.claim("run-1", "b", LONG).unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_signal_opens_one_unfinished_run_across_stores() {
    let pg = TempPostgres::start();
    let url = pg.fresh_database();
    let (a, _) = shared(&url);
    let (b, _) = shared(&url);
    let opens = || opens("sig-1", Duration::ZERO);
    let mut first = Batch::new().run(&sample_run("run-a", 1));
    first.opens = opens();
    a.commit(first).await.unwrap();
    let mut second = Batch::new().run(&sample_run("run-b", 2));
    second.opens = opens();
    match b.commit(second).await {
        Err(StoreError::AlreadyOpen { run_id }) => assert_eq!(run_id, "run-a"),
        other => panic!("a second open run: {other:?}"),
    }
    assert!(matches!(b.run("run-b"), Err(StoreError::NoSuchRun(_))));

    // Once it finished, the signal may start a run again.
    let mut done = sample_run("run-a", 1);
    done.status = RunStatus::Completed;
    a.commit(Batch::new().run(&done)).await.unwrap();
    let mut again = Batch::new().run(&sample_run("run-c", 3));
    again.opens = opens();
    b.commit(again).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_hear_each_others_commits_and_wakes() {
    let pg = TempPostgres::start();
    let url = pg.fresh_database();
    let (a, a_leases) = shared(&url);
    let (_b, b_leases) = shared(&url);
    let (tx, rx) = std::sync::mpsc::channel();
    b_leases
        .listen(Box::new(move |notice| {
            let _ = tx.send(notice);
        }))
        .unwrap();
    // Listening starts on its own thread: wake until it hears.
    let heard = loop {
        a_leases.wake("run-1").unwrap();
        if let Ok(notice) = rx.recv_timeout(Duration::from_millis(200)) {
            break notice;
        }
    };
    assert_eq!(heard, Notice::Wake("run-1".into()));
    let entry = cordon_types::AuditEntry::new(cordon_types::audit::AuditEvent::RunInterrupted(
        cordon_types::audit::RunEnd {
            status: RunStatus::Running,
            actions: Default::default(),
        },
    ));
    a.commit(Batch::new().audit(entry)).await.unwrap();
    let seq = a.audit_head().unwrap().unwrap().seq;
    let committed = loop {
        match rx.recv_timeout(Duration::from_secs(10)).expect("a notice") {
            Notice::Committed(seq) => break seq,
            Notice::Wake(_) => continue,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(committed, seq);

    // Quiet for longer than the listener waits at a time (the retried
    // wakes above drain first): one wake after the quiet is still heard.
    while rx.recv_timeout(Duration::from_millis(1500)).is_ok() {}
    a_leases.wake("run-2").unwrap();
    let heard = rx.recv_timeout(Duration::from_secs(10));
    assert_eq!(
        heard,
        Ok(Notice::Wake("run-2".into())),
        "a listener that was quiet went deaf"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_run_answers_for_its_signal_within_the_window_on_every_store() {
    let pg = TempPostgres::start();
    let url = pg.fresh_database();
    let (a, _) = shared(&url);
    let (b, _) = shared(&url);
    let hour = Duration::from_secs(3600);
    let mut first = Batch::new().run(&sample_run("run-a", 1));
    first.opens = opens("sig-1", hour);
    a.commit(first).await.unwrap();
    let mut done = sample_run("run-a", 1);
    done.status = RunStatus::Completed;
    a.commit(Batch::new().run(&done)).await.unwrap();

    // Delivered again to the other store within the hour: refused, naming
    // the finished run, and nothing of the new run is recorded.
    let mut again = Batch::new().run(&sample_run("run-b", 2));
    again.opens = opens("sig-1", hour);
    match b.commit(again).await {
        Err(StoreError::AlreadyOpen { run_id }) => assert_eq!(run_id, "run-a"),
        other => panic!("a run within the window: {other:?}"),
    }
    assert!(matches!(b.run("run-b"), Err(StoreError::NoSuchRun(_))));

    // Another signal is not held back by it.
    let mut other = Batch::new().run(&sample_run("run-c", 3));
    other.opens = opens("sig-2", hour);
    b.commit(other).await.unwrap();

    // Once the window since it finished passed, the signal runs again; the
    // window is measured on the database's clock, from the finish: wait
    // for it to pass a 200 ms window there, then try.
    let window = Duration::from_millis(200);
    until_true(
        &url,
        "SELECT finished_at <= clock_timestamp() - interval '200 milliseconds'
         FROM cordon_open_signals WHERE run_id = 'run-a'",
    );
    let mut later = Batch::new().run(&sample_run("run-d", 4));
    later.opens = opens("sig-1", window);
    b.commit(later).await.unwrap();
    assert_eq!(b.run("run-d").unwrap().run_id, "run-d");
}

/// The signal of playbook `p` a new run answers, deduplicated for `window`
/// after it finished.
fn opens(signal_id: &str, window: Duration) -> Option<OpenSignal> {
    Some(OpenSignal {
        playbook: "p".into(),
        signal_id: signal_id.into(),
        window,
    })
}

/// Waits until `query` (one boolean) holds in the database at `url`.
fn until_true(url: &str, query: &str) {
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut client = postgres::Client::connect(url, postgres::NoTls).expect("connect");
            while !client
                .query_one(query, &[])
                .expect("query")
                .get::<_, bool>(0)
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        });
    });
}
