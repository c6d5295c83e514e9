//! The checks every [`Store`] backend must pass, whatever it is built on.
//! A backend's tests call [`run_all`] with a function that opens a fresh,
//! empty store.

use crate::{Batch, Charge, LedgerKey, Store, StoreError, StoreExt};
use cordon_types::{
    ActionRecord, ActionStatus, AuditEntry, AuditEvent, Effect, FactsRecord, GrantRecord, Identity,
    IdentityFacts, IdentityKind, IncidentRecord, RunKind, RunRecord, RunStatus, Severity,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Runs every check, each on a fresh store.
pub async fn run_all(fresh: impl Fn() -> Arc<dyn Store>) {
    runs_round_trip_and_list_in_start_order(fresh().as_ref()).await;
    actions_belong_to_their_run_and_keep_creation_order(fresh().as_ref()).await;
    grants_incidents_and_facts_round_trip(fresh().as_ref()).await;
    audit_events_form_one_verifiable_chain(fresh().as_ref()).await;
    a_batch_is_visible_whole(fresh().as_ref()).await;
    the_ledger_counts_per_run_and_per_domain_window(fresh().as_ref()).await;
    concurrent_guarded_commits_never_pass_a_cap(fresh()).await;
    concurrent_commits_keep_one_gapless_chain(fresh()).await;
}

/// A run record for checks.
pub fn sample_run(id: &str, started_at: i64) -> RunRecord {
    RunRecord {
        run_id: id.into(),
        kind: RunKind::Containment,
        playbook: "p".into(),
        playbook_path: "p.toml".into(),
        playbook_source: String::new(),
        signal_source: "{}".into(),
        signal_id: "s".into(),
        incident: Some("INC-1".into()),
        principal: "automation:nhi".into(),
        dry_run: false,
        status: RunStatus::Running,
        started_at,
        finished_at: None,
    }
}

/// An action record for checks.
pub fn sample_action(run_id: &str, key: &str, seq: u64) -> ActionRecord {
    ActionRecord {
        run_id: run_id.into(),
        key: key.into(),
        seq,
        step: "revoke".into(),
        plugin: "vault".into(),
        action: "revoke-token".into(),
        effect: Effect::Revoke,
        target: Identity {
            provider: "vault".into(),
            kind: IdentityKind::Token,
            id: format!("acc-{key}"),
            attributes: BTreeMap::new(),
        },
        params: BTreeMap::new(),
        sources: vec![0],
        decision: None,
        domain: Some("nhi".into()),
        approval: None,
        status: ActionStatus::Running,
        attempts: 0,
        detail: String::new(),
        evidence: BTreeMap::new(),
        restore: BTreeMap::new(),
        requests: Vec::new(),
        created_at: 1,
        finished_at: None,
    }
}

fn event(n: usize) -> AuditEntry {
    AuditEntry::new(AuditEvent::GrantRevoked {
        grant: format!("grant-{n}"),
        from: "someone".into(),
    })
}

/// Runs come back as written, oldest first; an unknown id is `NoSuchRun`.
pub async fn runs_round_trip_and_list_in_start_order(store: &dyn Store) {
    store
        .commit(
            Batch::new()
                .run(&sample_run("b", 2))
                .run(&sample_run("a", 1)),
        )
        .await
        .unwrap();
    let ids: Vec<_> = store
        .runs()
        .unwrap()
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(store.run("a").unwrap(), sample_run("a", 1));
    let mut finished = sample_run("a", 1);
    finished.status = RunStatus::Completed;
    store.commit(Batch::new().run(&finished)).await.unwrap();
    assert_eq!(store.run("a").unwrap().status, RunStatus::Completed);
    assert!(matches!(store.run("zzz"), Err(StoreError::NoSuchRun(_))));
}

/// A run's actions are its own (even when another run's id extends its
/// id), ordered by `seq`, and an upsert replaces the record.
pub async fn actions_belong_to_their_run_and_keep_creation_order(store: &dyn Store) {
    let batch = Batch::new()
        .action(&sample_action("run-1", "k2", 1))
        .action(&sample_action("run-1", "k1", 0))
        .action(&sample_action("run-10", "k3", 0));
    store.commit(batch).await.unwrap();
    let keys: Vec<_> = store
        .actions("run-1")
        .unwrap()
        .into_iter()
        .map(|a| a.key)
        .collect();
    assert_eq!(keys, ["k1", "k2"]);
    let mut done = sample_action("run-1", "k1", 0);
    done.status = ActionStatus::Applied;
    store.commit(Batch::new().action(&done)).await.unwrap();
    assert_eq!(store.action("run-1", "k1").unwrap(), Some(done));
    assert_eq!(store.action("run-1", "k3").unwrap(), None);
    assert_eq!(store.actions("run-10").unwrap().len(), 1);
}

/// Grants (oldest first), incidents and facts come back as written.
pub async fn grants_incidents_and_facts_round_trip(store: &dyn Store) {
    let grant = |id: &str, at: i64| GrantRecord {
        id: id.into(),
        incident: "INC-1".into(),
        principal: "ic".into(),
        granted_by: "ciso".into(),
        created_at: at,
        expires_at: at + 10,
        revoked_at: None,
        revoked_by: None,
    };
    let incident = IncidentRecord {
        id: "INC-1".into(),
        opened_at: 5,
        opened_by: "sig".into(),
        severity: Severity::High,
    };
    let facts = FactsRecord {
        run_id: "run-1".into(),
        identity: 3,
        target: sample_action("run-1", "k", 0).target,
        facts: IdentityFacts {
            owner: Some("team".into()),
            ..IdentityFacts::default()
        },
        sources: vec!["plugin".into()],
        error: None,
        requests: Vec::new(),
    };
    let batch = Batch::new()
        .grant(&grant("g2", 2))
        .grant(&grant("g1", 1))
        .incident(&incident)
        .facts(facts.clone());
    store.commit(batch).await.unwrap();
    let ids: Vec<_> = store.grants().unwrap().into_iter().map(|g| g.id).collect();
    assert_eq!(ids, ["g1", "g2"]);
    assert_eq!(store.incident("INC-1").unwrap(), Some(incident));
    assert_eq!(store.incident("INC-2").unwrap(), None);
    assert_eq!(store.facts("run-1").unwrap(), vec![facts]);
    assert!(store.facts("run-10").unwrap().is_empty());
}

/// Audit events get consecutive seqs from 1, link to each other, decode to
/// the events written, and verify.
pub async fn audit_events_form_one_verifiable_chain(store: &dyn Store) {
    assert_eq!(store.verify_audit().unwrap().records, 0);
    store
        .commit(Batch::new().audit(event(1)).audit(event(2)))
        .await
        .unwrap();
    store.commit(Batch::new().audit(event(3))).await.unwrap();
    let records = store.audit_records().unwrap();
    let seqs: Vec<_> = records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(records[1].prev_hash, records[0].hash);
    assert_eq!(records[2].event().unwrap(), event(3).event);
    let head = store.audit_head().unwrap().unwrap();
    assert_eq!((head.seq, head.hash), (3, records[2].hash.clone()));
    let verification = store.verify_audit().unwrap();
    assert_eq!((verification.records, verification.first_break), (3, None));
    let range: Vec<_> = store
        .audit_range(2, 3)
        .unwrap()
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(range, [2, 3]);
    assert!(store.audit_range(4, 10).unwrap().is_empty());
    assert_eq!(
        store.audit_range(1, 1).unwrap()[0].1,
        store.audit_entries().unwrap()[0].1
    );
}

/// A batch's audit events and records are visible together.
pub async fn a_batch_is_visible_whole(store: &dyn Store) {
    let action = sample_action("run-1", "k", 0);
    store
        .commit(
            Batch::new()
                .run(&sample_run("run-1", 1))
                .action(&action)
                .audit(event(1)),
        )
        .await
        .unwrap();
    assert_eq!(store.actions("run-1").unwrap(), vec![action]);
    assert_eq!(store.audit_records().unwrap().len(), 1);
    assert!(store.run("run-1").is_ok());
}

/// Charges count per run, and per domain from `since` on.
pub async fn the_ledger_counts_per_run_and_per_domain_window(store: &dyn Store) {
    let charge = |run: &str, domain: &str, at: i64| Charge {
        run_id: run.into(),
        domain: domain.into(),
        at,
        forget_before: at - 60_000,
    };
    store
        .commit(
            Batch::new()
                .charge(charge("r1", "nhi", 1_000))
                .charge(charge("r1", "nhi", 30_000))
                .charge(charge("r2", "nhi", 61_000))
                .charge(charge("r2", "iam", 61_000)),
        )
        .await
        .unwrap();
    let mut seen = None;
    let key = LedgerKey {
        run_id: "r1".into(),
        domain: "nhi".into(),
        since: 5_000,
    };
    store
        .apply_guarded(&key, &mut |counts| {
            seen = Some(counts);
            Batch::new()
        })
        .unwrap();
    let counts = seen.unwrap();
    assert_eq!(counts.run_allowed, 2);
    assert_eq!(
        counts.domain_since, 2,
        "the charge at 1s is outside the window"
    );
}

/// Many deciders racing for a cap of 5: exactly 5 pass.
pub async fn concurrent_guarded_commits_never_pass_a_cap(store: Arc<dyn Store>) {
    const CAP: usize = 5;
    let mut tasks = Vec::new();
    for n in 0..32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let key = LedgerKey {
                run_id: format!("run-{}", n % 4),
                domain: "nhi".into(),
                since: 0,
            };
            let mut passed = false;
            store
                .apply_guarded(&key, &mut |counts| {
                    passed = counts.domain_since < CAP;
                    if passed {
                        Batch::new().audit(event(n)).charge(Charge {
                            run_id: key.run_id.clone(),
                            domain: "nhi".into(),
                            at: 10,
                            forget_before: 0,
                        })
                    } else {
                        Batch::new()
                    }
                })
                .unwrap();
            store.flush().await.unwrap();
            passed
        }));
    }
    let mut passed = 0;
    for task in tasks {
        passed += usize::from(task.await.unwrap());
    }
    assert_eq!(passed, CAP);
    assert_eq!(store.audit_records().unwrap().len(), CAP);
}

/// Concurrent commits from many tasks: every event lands once, in one
/// gapless, verifiable chain.
pub async fn concurrent_commits_keep_one_gapless_chain(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for n in 0..64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let action = sample_action("run-1", &format!("k{n:02}"), n as u64);
            store
                .commit(Batch::new().audit(event(n)).action(&action))
                .await
                .unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let records = store.audit_records().unwrap();
    assert_eq!(records.len(), 64);
    assert!(
        records
            .iter()
            .enumerate()
            .all(|(i, r)| r.seq == i as u64 + 1)
    );
    assert_eq!(store.actions("run-1").unwrap().len(), 64);
    assert_eq!(store.verify_audit().unwrap().first_break, None);
}
