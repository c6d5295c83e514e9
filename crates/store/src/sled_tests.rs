//! Tests of the sled backend.

use super::*;
use crate::StoreExt;
use crate::conformance::sample_run as run;

#[tokio::test]
async fn commits_survive_reopening() {
    let dir = tempdir();
    {
        let store = SledStore::open(&dir).unwrap();
        store
            .commit(Batch::new().run(&run("b", 2)).run(&run("a", 1)))
            .await
            .unwrap();
    }
    let store = SledStore::open(&dir).unwrap();
    let ids: Vec<_> = store
        .runs()
        .unwrap()
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    assert_eq!(ids, ["a", "b"]);
}

#[tokio::test]
async fn the_sled_store_passes_the_conformance_suite() {
    crate::conformance::run_all(|| {
        std::sync::Arc::new(SledStore::open(&tempdir()).unwrap()) as std::sync::Arc<dyn Store>
    })
    .await;
}

#[tokio::test]
async fn a_batch_cut_short_after_its_journal_entry_is_completed_on_reopen() {
    use crate::conformance::sample_action;
    use cordon_types::{AuditEntry, AuditEvent};
    let event = |n: u32| {
        AuditEntry::new(AuditEvent::GrantRevoked {
            grant: format!("grant-{n}"),
            from: "someone".into(),
        })
    };
    let dir = tempdir();
    {
        let store = SledStore::open(&dir).unwrap();
        store
            .commit(Batch::new().run(&run("a", 1)).audit(event(1)))
            .await
            .unwrap();
        // As if the process died while applying the next batch: its
        // journal entry and only its first write reached the disk.
        let batch = Batch::new()
            .action(&sample_action("a", "k", 0))
            .audit(event(2))
            .audit(event(3));
        let tail = store.tail.lock().unwrap();
        let (writes, _, _) = store.writes(&tail, &batch).unwrap();
        store
            .trees
            .journal
            .insert(0u64.to_be_bytes(), writes.encode())
            .unwrap();
        let (tree, key, value) = writes.iter().next().unwrap();
        store.trees.tree(tree).insert(key, value).unwrap();
        drop(tail);
        store.flush_blocking().unwrap();
    }
    let store = SledStore::open(&dir).unwrap();
    assert!(
        store.trees.journal.is_empty(),
        "the entry is applied and removed"
    );
    assert_eq!(
        store.action("a", "k").unwrap(),
        Some(sample_action("a", "k", 0))
    );
    assert_eq!(store.audit_head().unwrap().map(|h| h.seq), Some(3));
    let verified = store.verify_audit().unwrap();
    assert_eq!((verified.records, verified.first_break), (3, None));
    // Writing goes on from the recovered chain.
    store.commit(Batch::new().audit(event(4))).await.unwrap();
    assert_eq!(store.audit_head().unwrap().map(|h| h.seq), Some(4));
    assert_eq!(store.verify_audit().unwrap().first_break, None);
}

#[tokio::test]
async fn a_new_store_is_compressed_and_one_created_without_compression_still_opens() {
    let dir = tempdir();
    SledStore::open(&dir).unwrap();
    assert!(compresses(&dir), "sled recorded compression");

    // A store created before compression: sled refuses another setting
    // than its own, so it is opened as it was made.
    let old = tempdir();
    drop(sled::Config::new().path(&old).open().unwrap());
    {
        let store = SledStore::open(&old).unwrap();
        store.commit(Batch::new().run(&run("a", 1))).await.unwrap();
    }
    let store = SledStore::open(&old).unwrap();
    assert_eq!(store.runs().unwrap().len(), 1);
    assert!(!compresses(&old), "it stays uncompressed");
}

#[test]
fn a_second_opener_gets_a_clear_error() {
    let dir = tempdir();
    let _first = SledStore::open(&dir).unwrap();
    // sled's lock is per process and file; a second open in the same
    // process also fails, as a second process would.
    match SledStore::open(&dir) {
        Err(StoreError::Locked(path)) => assert_eq!(path, dir),
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("second open succeeded"),
    }
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cordon-store-test-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
