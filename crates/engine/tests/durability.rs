//! What a run keeps across interruptions and decisions: approvals and
//! resume, reuse of recorded outcomes, and failing closed when the
//! authority cannot read what a decision depends on.

mod support;

use cordon_authority::approvals::{self, AnswerRequest};
use cordon_authority::{Authority, AuthorityModel, Inventory};
use cordon_engine::EngineError;
use cordon_input::SourceFile;
use cordon_store::failing::{FailingStore, Op};
use cordon_store::{MemoryStore, Store};
use cordon_types::{ActionStatus, Decision, RunRecord, RunStatus};
use std::collections::BTreeMap;
use std::sync::Arc;
use support::*;

/// Team nhi owns the nhi domain and may only revoke at once.
const MODEL: &str = r#"
[teams.nhi]
members = ["nadia@acme.example"]
domains = ["nhi"]
immediate = ["revoke"]
"#;

fn authority(store: Arc<dyn Store>) -> Arc<Authority> {
    let model = AuthorityModel::parse(&SourceFile::from_text("authority.toml", MODEL))
        .unwrap_or_else(|e| panic!("model: {e:?}"));
    Arc::new(Authority::new(model, Inventory::default(), store))
}

/// Suspend (a quarantine: needs approval under MODEL), then delete (a revoke).
const SUSPEND_THEN_DELETE: &str = r#"
name = "suspend-then-delete"
owner = "nhi"

[[step]]
id = "suspend"
plugin = "aws"
action = "suspend-access-key"

[[step]]
id = "delete"
needs = ["suspend"]
plugin = "aws"
action = "delete-access-key"
"#;

#[tokio::test]
async fn an_action_awaiting_approval_holds_what_needs_it_until_answered() {
    // (approved?, final run status, suspend's status, delete's status)
    let cases = [
        (
            true,
            RunStatus::Completed,
            ActionStatus::Applied,
            ActionStatus::Applied,
        ),
        (
            false,
            RunStatus::Failed,
            ActionStatus::Denied,
            ActionStatus::Skipped,
        ),
    ];
    for (approved, run_status, suspend_status, delete_status) in cases {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let authority = authority(store.clone());
        let h = Harness::with(
            FakePlugins::standard(4),
            store.clone(),
            authority.clone(),
            None,
        );
        let run = h
            .run(
                SUSPEND_THEN_DELETE,
                signal(None, vec![key("AK1", "a")]),
                false,
            )
            .await;

        assert_eq!(run.status, RunStatus::AwaitingApproval);
        assert_eq!(
            store.run(&run.run_id).unwrap().status,
            RunStatus::AwaitingApproval
        );
        let actions = h.actions(&run);
        assert_eq!(
            actions.len(),
            1,
            "the dependent step records nothing: {actions:#?}"
        );
        assert_eq!(actions[0].step, "suspend");
        assert_eq!(actions[0].status, ActionStatus::AwaitingApproval);
        match &actions[0].decision {
            Some(Decision::NeedsApproval { approvers, .. }) => assert_eq!(approvers, &["nhi"]),
            other => panic!("decision: {other:?}"),
        }
        assert!(h.fake.executes().is_empty(), "{:#?}", h.fake.executes());

        let answered = approvals::answer(
            store.as_ref(),
            authority.model(),
            AnswerRequest {
                run: &run,
                action: None,
                principal: "nadia@acme.example",
                approved,
                reason: Some("checked".into()),
            },
        )
        .await
        .expect("nadia may answer");
        assert_eq!(answered.len(), 1);

        let resumed = h.resume(&run.run_id).await;
        assert_eq!(resumed.status, run_status, "approved: {approved}");
        let suspend = h.action(&run, "suspend", "AK1");
        assert_eq!(suspend.status, suspend_status);
        assert_eq!(
            suspend.approval.as_ref().map(|a| a.approved),
            Some(approved)
        );
        assert_eq!(h.action(&run, "delete", "AK1").status, delete_status);
        let called: Vec<_> = h.fake.executes().into_iter().map(|c| c.action).collect();
        if approved {
            assert_eq!(called, ["suspend-access-key", "delete-access-key"]);
        } else {
            assert!(
                called.is_empty(),
                "a rejected action calls nothing: {called:?}"
            );
            assert!(
                suspend.detail.contains("rejected by nadia@acme.example"),
                "{}",
                suspend.detail
            );
        }
    }
}

#[tokio::test]
async fn resume_reuses_recorded_outcomes_and_repeats_the_running_action_with_its_key() {
    let h = Harness::new(FakePlugins::standard(4));
    let run = h.run(PIPELINE, two_keys(), false).await;
    assert_eq!(run.status, RunStatus::Completed);
    let first_key = h.fake.calls_of("delete-access-key", "AK2")[0].key.clone();

    // As if the process died while deleting AK2.
    let interrupted = in_flight(h.action(&run, "delete", "AK2"));
    assert_eq!(interrupted.key, first_key);
    h.interrupt(&run, std::slice::from_ref(&interrupted)).await;
    let before: BTreeMap<_, _> = h
        .actions(&run)
        .into_iter()
        .map(|a| (a.key.clone(), a))
        .collect();

    let resumed = h.resume(&run.run_id).await;

    assert_eq!(resumed.status, RunStatus::Completed);
    let calls = h.fake.calls();
    assert_eq!(calls.len(), 1, "only the interrupted action: {calls:#?}");
    assert!(calls[0].is("delete-access-key", "AK2"));
    assert_eq!(calls[0].key, first_key, "the same idempotency key");
    let after = h.actions(&run);
    assert_eq!(after.len(), 4);
    for action in after {
        if action.key == interrupted.key {
            assert_eq!(action.status, ActionStatus::Applied);
            assert_eq!(action.attempts, 2);
        } else {
            assert_eq!(
                action, before[&action.key],
                "a finished action is kept as it was"
            );
        }
    }
}

#[tokio::test]
async fn a_run_dropped_mid_call_resumes_only_what_was_not_finished() {
    let h = Harness::new(FakePlugins::standard(4));
    let (_never_opened, held) = gate();
    h.fake
        .script("delete-access-key", "AK2", vec![applied(&[]).after(held)]);
    let (signal, signal_source) = two_keys();
    let request = cordon_engine::RunRequest {
        playbook: playbook(&h.fake, PIPELINE),
        signal,
        signal_source,
        dry_run: false,
        principal: "automation:nhi".into(),
    };
    tokio::select! {
        _ = h.engine.start(request) => panic!("the run cannot end while AK2's delete is held"),
        _ = bounded(h.fake.wait_for_call(|c| c.is("delete-access-key", "AK2"))) => {}
    }
    let run = h.store.runs().unwrap().pop().expect("the run was recorded");
    assert_eq!(run.status, RunStatus::Running);
    let recorded = h.actions(&run);
    let held = h.action(&run, "delete", "AK2");
    assert_eq!(held.status, ActionStatus::Running);
    assert_eq!(held.attempts, 1);

    h.fake
        .script("delete-access-key", "AK2", vec![applied(&[]).into()]);
    h.fake.clear_calls();
    let resumed = h.resume(&run.run_id).await;

    assert_eq!(resumed.status, RunStatus::Completed);
    let calls = h.fake.executes();
    for action in &recorded {
        let again: Vec<_> = calls
            .iter()
            .filter(|c| c.is(&action.action, &action.target.id))
            .collect();
        if action.status.is_final() {
            assert!(
                again.is_empty(),
                "{} {} ran again",
                action.step,
                action.target.id
            );
        } else {
            assert_eq!(again.len(), 1, "{} {}", action.step, action.target.id);
            assert_eq!(again[0].key, action.key);
        }
    }
    assert_eq!(h.fake.calls_of("delete-access-key", "AK2")[0].key, held.key);
    let after = h.actions(&run);
    assert_eq!(after.len(), 4);
    assert!(
        after.iter().all(|a| a.status == ActionStatus::Applied),
        "{after:#?}"
    );
    assert_eq!(h.action(&run, "delete", "AK2").attempts, 2);
}

#[tokio::test]
async fn a_decision_whose_records_are_unreadable_denies_without_calling() {
    // `None`: the control case, nothing fails and the action runs.
    for op in [None, Some(Op::Grants), Some(Op::Incidents)] {
        let failing = Arc::new(FailingStore::new(Arc::new(MemoryStore::new())));
        let store: Arc<dyn Store> = failing.clone();
        let h = Harness::with(
            FakePlugins::standard(4),
            store.clone(),
            authority(store.clone()),
            None,
        );
        if let Some(op) = op {
            failing.corrupt(op);
        }
        let run = h
            .run(
                DEACTIVATE,
                signal(Some("INC-7"), vec![key("AK1", "a")]),
                false,
            )
            .await;
        let action = h.action(&run, "deactivate", "AK1");
        let Some(op) = op else {
            assert_eq!(action.status, ActionStatus::Applied, "{}", action.detail);
            assert_eq!(h.fake.executes().len(), 1);
            continue;
        };
        assert_eq!(run.status, RunStatus::Failed, "{op:?}");
        assert_eq!(action.status, ActionStatus::Denied, "{op:?}");
        let failure = format!("injected failure ({op:?})");
        for needle in ["could not read", failure.as_str(), "denied because"] {
            assert!(action.detail.contains(needle), "{op:?}: {}", action.detail);
        }
        assert!(
            matches!(&action.decision, Some(Decision::Denied { reason }) if reason.contains(&failure)),
            "{op:?}: {:?}",
            action.decision
        );
        assert_eq!(action.attempts, 0);
        assert!(
            h.fake.executes().is_empty(),
            "{op:?}: {:#?}",
            h.fake.executes()
        );
    }
}

/// A store that cannot be reached while a decision is read for (the ledger,
/// the grants, the incidents) decides nothing and calls nothing: the run
/// stops with the error, and continues once the store is back.
#[tokio::test]
async fn an_unreachable_store_stops_the_run_resumably_and_calls_nothing() {
    for op in [Op::Ledger, Op::Grants, Op::Incidents] {
        let failing = Arc::new(FailingStore::new(Arc::new(MemoryStore::new())));
        let store: Arc<dyn Store> = failing.clone();
        let h = Harness::with(
            FakePlugins::standard(4),
            store.clone(),
            authority(store.clone()),
            None,
        );
        failing.fail(op);
        let result = h
            .try_run(
                DEACTIVATE,
                signal(Some("INC-7"), vec![key("AK1", "a")]),
                false,
                "automation:nhi",
            )
            .await;
        assert!(
            matches!(&result, Err(EngineError::Store(err)) if err.is_transient()),
            "{op:?}: {result:?}"
        );
        assert!(h.fake.executes().is_empty(), "{op:?}");
        let run = store.runs().unwrap().pop().expect("the run was recorded");
        assert_eq!(run.status, RunStatus::Running, "{op:?}");
        assert!(
            store
                .actions(&run.run_id)
                .unwrap()
                .iter()
                .all(|a| a.decision.is_none()),
            "{op:?}: nothing was decided"
        );

        failing.heal(op);
        let resumed = h.resume(&run.run_id).await;
        assert_eq!(resumed.status, RunStatus::Completed, "{op:?}");
        assert_eq!(
            h.fake.calls_of("deactivate-access-key", "AK1").len(),
            1,
            "{op:?}"
        );
    }
}

/// Runs ABORTING to completion, then rewrites the store as if the process
/// died after `a` failed and `b` was applied, while `c` was decided and —
/// if `c_called` — its call in flight.
async fn interrupted_after_an_abort(c_called: bool) -> (Harness, RunRecord) {
    let h = Harness::new(FakePlugins::standard(4));
    let signal = signal(
        None,
        vec![key("AK1", "ci-bot"), key("AK2", "etl"), key("AK3", "ops")],
    );
    let run = h.run(ABORTING, signal, false).await;
    assert_eq!(run.status, RunStatus::Completed);
    let mut failed = h.action(&run, "a", "AK1");
    failed.status = ActionStatus::Failed;
    failed.detail = "invalid request: fake 400".into();
    let mut c = in_flight(h.action(&run, "c", "AK3"));
    if !c_called {
        c.attempts = 0;
        c.evidence.clear();
        c.restore.clear();
    }
    h.interrupt(&run, &[failed, c]).await;
    (h, run)
}

#[tokio::test]
async fn resuming_an_aborted_run_keeps_what_finished_and_finishes_the_call_in_flight() {
    let (h, run) = interrupted_after_an_abort(true).await;
    let resumed = h.resume(&run.run_id).await;

    assert_eq!(resumed.status, RunStatus::Partial);
    assert_eq!(h.actions(&run).len(), 3, "{:#?}", h.actions(&run));
    assert_eq!(h.action(&run, "a", "AK1").status, ActionStatus::Failed);
    assert_eq!(h.action(&run, "b", "AK2").status, ActionStatus::Applied);
    let c = h.action(&run, "c", "AK3");
    assert_eq!(c.status, ActionStatus::Applied, "{}", c.detail);
    assert_eq!(c.attempts, 2);
    let calls = h.fake.executes();
    assert_eq!(calls.len(), 1, "only the call in flight: {calls:#?}");
    assert!(calls[0].is("deactivate-access-key", "AK3"));
    assert_eq!(calls[0].key, c.key, "with its idempotency key");
}

#[tokio::test]
async fn resuming_an_aborted_run_starts_no_call_that_had_not_gone_out() {
    let (h, run) = interrupted_after_an_abort(false).await;
    let resumed = h.resume(&run.run_id).await;

    assert_eq!(resumed.status, RunStatus::Partial);
    assert_eq!(h.actions(&run).len(), 3, "{:#?}", h.actions(&run));
    assert_eq!(h.action(&run, "b", "AK2").status, ActionStatus::Applied);
    h.expect(&run, "c", "AK3", ActionStatus::Skipped, "aborted");
    assert!(h.fake.executes().is_empty(), "{:#?}", h.fake.executes());
}

#[tokio::test]
async fn a_stopping_engine_finishes_calls_in_flight_starts_nothing_and_resumes_later() {
    let h = Harness::new(FakePlugins::standard(4));
    let (open, held) = gate();
    h.fake.script(
        "deactivate-access-key",
        "AK1",
        vec![applied(&[]).after(held)],
    );
    let (signal, signal_source) = two_keys();
    let request = cordon_engine::RunRequest {
        playbook: playbook(&h.fake, PIPELINE),
        signal,
        signal_source,
        dry_run: false,
        principal: "automation:nhi".into(),
    };
    let run = h.engine.begin(request).await.expect("the run is recorded");
    assert_eq!(h.store.run(&run.run_id).unwrap().status, RunStatus::Running);
    assert!(h.actions(&run).is_empty(), "begin executes nothing");

    let stop_while_held = async {
        h.fake
            .wait_for_call(|c| c.is("deactivate-access-key", "AK1"))
            .await;
        h.engine.stop_starting();
        open.send(true).expect("the held call waits");
    };
    let (stopped, ()) = tokio::join!(bounded(h.engine.resume(&run.run_id)), stop_while_held);
    let stopped = stopped.expect("a stopped run is no error");

    assert_eq!(
        stopped.status,
        RunStatus::Running,
        "the run stays resumable"
    );
    assert_eq!(
        h.action(&run, "deactivate", "AK1").status,
        ActionStatus::Applied,
        "the call in flight finished and was recorded"
    );
    assert!(
        !h.actions(&run)
            .iter()
            .any(|a| a.step == "delete" && a.target.id == "AK1"),
        "AK1's delete was not started once the engine stopped: {:#?}",
        h.actions(&run)
    );
    let last = cordon_store::StoreExt::audit_records(h.store.as_ref()).unwrap();
    assert_eq!(last.last().unwrap().kind, "run.interrupted");

    h.fake.clear_calls();
    let plugins: Arc<dyn cordon_engine::Plugins> = h.fake.clone();
    let next = cordon_engine::Engine::new(
        plugins,
        h.store.clone(),
        Arc::new(cordon_authority::AllowAll),
    );
    let resumed = bounded(next.resume(&run.run_id)).await.unwrap();
    assert_eq!(resumed.status, RunStatus::Completed);
    let calls: Vec<_> = h
        .fake
        .executes()
        .iter()
        .map(|c| (c.action.clone(), c.target.id.clone()))
        .collect();
    assert_eq!(
        calls,
        [("delete-access-key".to_string(), "AK1".to_string())],
        "only what had not started runs after the restart"
    );
}
