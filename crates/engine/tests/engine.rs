//! Scheduling tests of the run engine over fake plugins and a memory store:
//! dedupe, `needs` (per identity and as a barrier), abort, retries, rate
//! gates, dry runs and progress events.

mod support;

use cordon_authority::AllowAll;
use cordon_engine::Event;
use cordon_store::MemoryStore;
use cordon_types::{ActionStatus, IdentityKind, RunStatus};
use std::sync::Arc;
use std::time::Duration;
use support::*;
use tokio::sync::mpsc;

/// Deactivate the keys; then, once all are done, revoke the Okta users' sessions.
const BARRIER: &str = r#"
name = "barrier"
owner = "nhi"

[[step]]
id = "deactivate"
plugin = "aws"
action = "deactivate-access-key"
for_each = { provider = "aws", kind = "access-key" }

[[step]]
id = "sessions"
needs = ["deactivate"]
plugin = "okta"
action = "revoke-sessions"
for_each = { provider = "okta", kind = "user" }
"#;

fn okta_user(id: &str) -> serde_json::Value {
    ident("okta", "user", id, &[])
}

#[tokio::test]
async fn identical_targets_of_a_step_run_once_and_list_every_source() {
    let h = Harness::new(FakePlugins::standard(4));
    h.fake
        .script("quarantine-user", "etl", vec![Reply::AlreadyApplied.into()]);
    let signal = signal(
        None,
        vec![
            key("AK1", "ci-bot"),
            key("AK2", "ci-bot"),
            key("AK3", "etl"),
        ],
    );
    let run = h.run(FENCE_USERS, signal, false).await;

    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(h.fake.calls_of("quarantine-user", "ci-bot").len(), 1);
    assert_eq!(h.fake.calls_of("quarantine-user", "etl").len(), 1);
    assert_eq!(h.fake.executes().len(), 2, "{:#?}", h.fake.executes());

    let actions = h.actions(&run);
    assert_eq!(
        actions.len(),
        2,
        "one action per distinct user: {actions:#?}"
    );
    let shared = h.action(&run, "fence", "ci-bot");
    assert_eq!(shared.status, ActionStatus::Applied);
    assert_eq!(shared.target.kind, IdentityKind::User);
    assert_eq!(shared.target.provider, "aws");
    let mut sources = shared.sources.clone();
    sources.sort();
    assert_eq!(sources, vec![0, 1], "both keys of ci-bot led to the fence");
    let alone = h.action(&run, "fence", "etl");
    assert_eq!(alone.status, ActionStatus::AlreadyApplied);
    assert_eq!(alone.sources, vec![2]);
}

#[tokio::test]
async fn needs_on_the_same_identity_advance_identity_by_identity() {
    let h = Harness::new(FakePlugins::standard(4));
    h.fake.script(
        "deactivate-access-key",
        "AK1",
        vec![applied(&[("note", "n1")]).into()],
    );
    // AK2's first step answers only once AK1's second step was called: a
    // barrier over the whole first step would never get there.
    h.fake.script(
        "deactivate-access-key",
        "AK2",
        vec![
            applied(&[("note", "n2")])
                .after(Wait::Called("delete-access-key".into(), "AK1".into())),
        ],
    );
    let run = h.run(PIPELINE, two_keys(), false).await;

    assert_eq!(run.status, RunStatus::Completed);
    for (id, note) in [("AK1", "n1"), ("AK2", "n2")] {
        let first = &h.fake.calls_of("deactivate-access-key", id)[0];
        let second = &h.fake.calls_of("delete-access-key", id)[0];
        let (answered, _, what) = first.answered.clone().expect("answered");
        assert_eq!(what, "applied");
        assert!(
            second.started > answered,
            "delete {id} started before its deactivation was answered"
        );
        assert_eq!(
            second.params["reason"], note,
            "evidence of the same identity"
        );
        assert_eq!(h.action(&run, "delete", id).status, ActionStatus::Applied);
    }
}

#[tokio::test]
async fn a_failed_need_skips_the_step_for_that_identity_only() {
    let h = Harness::new(FakePlugins::standard(4));
    h.fake
        .script("deactivate-access-key", "AK1", vec![Reply::NotFound.into()]);
    let run = h.run(PIPELINE, two_keys(), false).await;

    assert_eq!(run.status, RunStatus::Partial);
    assert_eq!(
        h.action(&run, "deactivate", "AK1").status,
        ActionStatus::Failed
    );
    let skipped = h.expect(
        &run,
        "delete",
        "AK1",
        ActionStatus::Skipped,
        "`deactivate` did not succeed",
    );
    assert_eq!(skipped.attempts, 0);
    assert!(h.fake.calls_of("delete-access-key", "AK1").is_empty());

    assert_eq!(
        h.action(&run, "delete", "AK2").status,
        ActionStatus::Applied
    );
    assert_eq!(h.fake.calls_of("delete-access-key", "AK2").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn needs_on_other_identities_wait_for_the_whole_step() {
    let h = Harness::new(FakePlugins::standard(4));
    let t0 = tokio::time::Instant::now();
    h.fake.script(
        "deactivate-access-key",
        "AK2",
        vec![applied(&[]).after(Wait::Sleep(Duration::from_secs(5)))],
    );
    let signal = signal(
        None,
        vec![key("AK1", "a"), key("AK2", "b"), okta_user("alice")],
    );
    let run = h.run(BARRIER, signal, false).await;

    assert_eq!(run.status, RunStatus::Completed);
    let sessions = &h.fake.calls_of("revoke-sessions", "alice")[0];
    for id in ["AK1", "AK2"] {
        let (answered, _, _) = h.fake.calls_of("deactivate-access-key", id)[0]
            .answered
            .clone()
            .expect("answered");
        assert!(
            sessions.started > answered,
            "sessions started before {id} was done"
        );
    }
    assert!(sessions.at >= t0 + Duration::from_secs(5));
    assert_eq!(h.action(&run, "sessions", "alice").sources, vec![2]);
}

#[tokio::test]
async fn a_barrier_is_skipped_when_any_node_of_the_needed_step_failed() {
    let h = Harness::new(FakePlugins::standard(4));
    h.fake
        .script("deactivate-access-key", "AK1", vec![Reply::Invalid.into()]);
    let signal = signal(
        None,
        vec![key("AK1", "a"), key("AK2", "b"), okta_user("alice")],
    );
    let run = h.run(BARRIER, signal, false).await;

    assert_eq!(run.status, RunStatus::Partial);
    assert_eq!(
        h.action(&run, "deactivate", "AK2").status,
        ActionStatus::Applied
    );
    h.expect(
        &run,
        "sessions",
        "alice",
        ActionStatus::Skipped,
        "`deactivate`",
    );
    assert!(
        h.fake.executes().iter().all(|c| c.plugin != "okta"),
        "okta was called: {:#?}",
        h.fake.executes()
    );
}

#[tokio::test]
async fn a_failure_in_an_aborting_step_starts_no_further_action() {
    // `disable` (AK1, abort) fails while `hold` (AK2) is in flight; `hold`
    // finishes only after the failure is reported, so `after` (which needs
    // `hold`) becomes ready after the abort.
    let playbook = r#"
name = "abort"
owner = "nhi"

[[step]]
id = "disable"
plugin = "aws"
action = "deactivate-access-key"
for_each = { provider = "aws", kind = "access-key", attributes = { user = "ci-bot" } }
on_failure = "abort"

[[step]]
id = "hold"
plugin = "aws"
action = "suspend-access-key"
for_each = { provider = "aws", kind = "access-key", attributes = { user = "etl" } }

[[step]]
id = "after"
needs = ["hold"]
plugin = "aws"
action = "delete-access-key"
for_each = { provider = "aws", kind = "access-key", attributes = { user = "etl" } }

[[step]]
id = "fence"
needs = ["hold"]
plugin = "okta"
action = "suspend-user"
for_each = { provider = "okta", kind = "user" }
"#;
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let h = Harness::with(
        FakePlugins::standard(4),
        Arc::new(MemoryStore::new()),
        Arc::new(AllowAll),
        Some(events_tx),
    );
    let (open, held) = gate();
    h.fake.script(
        "deactivate-access-key",
        "AK1",
        vec![Reply::Invalid.after(Wait::Called("suspend-access-key".into(), "AK2".into()))],
    );
    h.fake
        .script("suspend-access-key", "AK2", vec![applied(&[]).after(held)]);
    let opener = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let Event::NodeFinished { step, status, .. } = event
                && step == "disable"
            {
                assert_eq!(status, ActionStatus::Failed);
                open.send_replace(true);
            }
        }
    });
    let signal = signal(
        None,
        vec![key("AK1", "ci-bot"), key("AK2", "etl"), okta_user("bob")],
    );
    let run = h.run(playbook, signal, false).await;
    opener.abort();

    assert_eq!(run.status, RunStatus::Partial);
    assert_eq!(
        h.action(&run, "disable", "AK1").status,
        ActionStatus::Failed
    );
    assert_eq!(
        h.action(&run, "hold", "AK2").status,
        ActionStatus::Applied,
        "an action in flight finishes"
    );
    for (step, target) in [("after", "AK2"), ("fence", "bob")] {
        h.expect(&run, step, target, ActionStatus::Skipped, "aborted");
    }
    assert!(h.fake.calls_of("delete-access-key", "AK2").is_empty());
    assert!(h.fake.executes().iter().all(|c| c.plugin != "okta"));
}

/// One table row: a script of transient errors for a step with `retries`.
struct RetryCase {
    retries: u32,
    answers: Vec<Reply>,
    status: ActionStatus,
    attempts: u32,
    detail: &'static str,
}

#[tokio::test(start_paused = true)]
async fn transient_errors_are_retried_up_to_the_step_retries() {
    use Reply::*;
    let cases = [
        RetryCase {
            retries: 3,
            answers: vec![Transient, Transient, Transient, applied(&[])],
            status: ActionStatus::Applied,
            attempts: 4,
            detail: "fake deactivate-access-key",
        },
        RetryCase {
            retries: 5,
            answers: vec![Transient, applied(&[])],
            status: ActionStatus::Applied,
            attempts: 2,
            detail: "fake deactivate-access-key",
        },
        RetryCase {
            retries: 2,
            answers: vec![Transient, Transient, Transient, applied(&[])],
            status: ActionStatus::Failed,
            attempts: 3,
            detail: "gave up after 3 attempts",
        },
        RetryCase {
            retries: 0,
            answers: vec![Transient, applied(&[])],
            status: ActionStatus::Failed,
            attempts: 1,
            detail: "transient error",
        },
        RetryCase {
            retries: 3,
            answers: vec![NotFound, applied(&[])],
            status: ActionStatus::Failed,
            attempts: 1,
            detail: "not found",
        },
    ];
    for (i, case) in cases.into_iter().enumerate() {
        let h = Harness::new(FakePlugins::standard(4));
        h.fake.script(
            "deactivate-access-key",
            "AK1",
            case.answers.into_iter().map(Answer::from).collect(),
        );
        let playbook = format!(
            "name = \"retries\"\nowner = \"nhi\"\n[[step]]\nid = \"deactivate\"\nplugin = \"aws\"\n\
             action = \"deactivate-access-key\"\nretries = {}\n",
            case.retries
        );
        let run = h
            .run(&playbook, signal(None, vec![key("AK1", "a")]), false)
            .await;
        let action = h.action(&run, "deactivate", "AK1");
        assert_eq!(action.status, case.status, "case {i}: {}", action.detail);
        assert_eq!(action.attempts, case.attempts, "case {i}");
        assert!(
            action.detail.contains(case.detail),
            "case {i}: {}",
            action.detail
        );
        let calls = h.fake.calls_of("deactivate-access-key", "AK1");
        assert_eq!(calls.len() as u32, case.attempts, "case {i}");
        assert!(
            calls.iter().all(|c| c.key == action.key),
            "case {i}: every attempt carries the action's idempotency key"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_holds_every_call_to_that_plugin_until_the_reset() {
    // AK1's first call is answered 429 with a 5 s reset. Okta's second step
    // starts right after that answer: Okta has no gate of its own.
    let playbook = r#"
name = "rate"
owner = "nhi"

[[step]]
id = "deactivate"
plugin = "aws"
action = "deactivate-access-key"

[[step]]
id = "sessions"
plugin = "okta"
action = "revoke-sessions"

[[step]]
id = "suspend"
needs = ["sessions"]
plugin = "okta"
action = "suspend-user"
"#;
    let h = Harness::new(FakePlugins::standard(1));
    h.fake.script(
        "deactivate-access-key",
        "AK1",
        vec![Reply::RateLimited(Some(5_000)).into(), applied(&[]).into()],
    );
    h.fake.script(
        "revoke-sessions",
        "alice",
        vec![applied(&[]).after(Wait::Answered("deactivate-access-key".into(), "AK1".into()))],
    );
    let signal = signal(
        None,
        vec![
            key("AK1", "a"),
            key("AK2", "b"),
            key("AK3", "c"),
            okta_user("alice"),
        ],
    );
    let run = h.run(playbook, signal, false).await;

    assert_eq!(run.status, RunStatus::Completed);
    let deactivated = h.action(&run, "deactivate", "AK1");
    assert_eq!(deactivated.attempts, 2);
    let calls = h.fake.calls();
    let limited = calls
        .iter()
        .find(|c| c.answered.as_ref().is_some_and(|a| a.2 == "rate-limited"))
        .expect("a 429 was answered");
    let (limited_at, limited_time, _) = limited.answered.clone().unwrap();
    let reset = limited_time + Duration::from_millis(5_000);
    let after: Vec<_> = calls
        .iter()
        .filter(|c| c.plugin == "aws" && c.started > limited_at)
        .collect();
    assert!(
        after.iter().any(|c| c.is("deactivate-access-key", "AK1")),
        "AK1 was retried after the 429"
    );
    for call in &after {
        assert!(
            call.at >= reset,
            "{} {} started {:?} before the reset",
            call.kind,
            call.target.id,
            reset - call.at
        );
    }
    let suspend = &h.fake.calls_of("suspend-user", "alice")[0];
    assert!(suspend.started > limited_at);
    assert!(suspend.at < reset, "okta calls are not held by aws's gate");
}

#[tokio::test]
async fn a_dry_run_plans_every_action_and_tells_the_plugins() {
    let h = Harness::new(FakePlugins::standard(4));
    h.fake.script(
        "deactivate-access-key",
        "AK1",
        vec![applied(&[("note", "would")]).into()],
    );
    let run = h.run(PIPELINE, two_keys(), true).await;

    assert!(run.dry_run);
    assert_eq!(run.status, RunStatus::Completed);
    let actions = h.actions(&run);
    assert_eq!(actions.len(), 4);
    for action in &actions {
        assert_eq!(action.status, ActionStatus::Planned, "{action:#?}");
    }
    let executes = h.fake.executes();
    assert_eq!(executes.len(), 4);
    assert!(executes.iter().all(|c| c.dry_run), "{executes:#?}");
    assert_eq!(
        h.fake.calls_of("delete-access-key", "AK1")[0].params["reason"],
        "would",
        "planned evidence feeds later steps"
    );
}

#[tokio::test]
async fn every_planned_node_reports_that_it_finished() {
    let (tx, mut events) = mpsc::unbounded_channel();
    let h = Harness::with(
        FakePlugins::standard(4),
        Arc::new(MemoryStore::new()),
        Arc::new(AllowAll),
        Some(tx),
    );
    let signal = signal(
        None,
        vec![
            key("AK1", "ci-bot"),
            key("AK2", "ci-bot"),
            key("AK3", "etl"),
        ],
    );
    h.run(FENCE_USERS, signal, false).await;
    drop(h);
    let (mut planned, mut finished) = (None, 0);
    while let Some(event) = events.recv().await {
        match event {
            Event::Planned { nodes, .. } => planned = Some(nodes),
            Event::NodeFinished { .. } => finished += 1,
        }
    }
    assert_eq!(planned, Some(3));
    assert_eq!(
        finished, 3,
        "Event::NodeFinished: `or it shares another node's action`"
    );
}

/// Scripts a 429 (reset in 5 s) as the first answer for each of
/// [`two_keys`], then success.
fn limit_each_key_once(fake: &FakePlugins) {
    for id in ["AK1", "AK2"] {
        fake.script(
            "deactivate-access-key",
            id,
            vec![Reply::RateLimited(Some(5_000)).into(), applied(&[]).into()],
        );
    }
}

#[tokio::test(start_paused = true)]
async fn no_call_passes_a_closed_rate_gate_while_its_intent_is_written() {
    let h = Harness::with(
        FakePlugins::standard(2),
        Arc::new(YieldingStore(MemoryStore::new())),
        Arc::new(AllowAll),
        None,
    );
    // Whichever key is called first gets the 429.
    limit_each_key_once(&h.fake);
    let run = h.run(DEACTIVATE, two_keys(), false).await;
    assert_eq!(run.status, RunStatus::Completed);
    let calls = h.fake.calls();
    let first_429 = calls
        .iter()
        .filter_map(|c| c.answered.clone().filter(|a| a.2 == "rate-limited"))
        .min_by_key(|a| a.0)
        .expect("a 429");
    let reset = first_429.1 + Duration::from_millis(5_000);
    for call in calls.iter().filter(|c| c.started > first_429.0) {
        assert!(
            call.at >= reset,
            "{} {} went out {:?} before the provider's reset",
            call.kind,
            call.target.id,
            reset - call.at
        );
    }
}

/// Records, on the fake's clock, when the engine closed a rate gate.
struct GateClosings(Arc<FakePlugins>, std::sync::Mutex<Vec<usize>>);

impl cordon_engine::gate::RateLimitObserver for GateClosings {
    fn rate_limited(&self, _plugin: &str, _wait: Duration) {
        self.1.lock().unwrap().push(self.0.tick());
    }
}

#[tokio::test(start_paused = true)]
async fn a_429_closes_the_gate_before_its_slot_is_given_back() {
    // One slot: a call waiting for it must find the gate closed, or it
    // would send into the window the provider just said is spent.
    let Harness {
        fake,
        store,
        engine,
    } = Harness::new(FakePlugins::standard(1));
    let closings = Arc::new(GateClosings(fake.clone(), Default::default()));
    let h = Harness {
        fake: fake.clone(),
        store,
        engine: engine.observe_rate_limits(closings.clone()),
    };
    limit_each_key_once(&h.fake);
    let run = h.run(DEACTIVATE, two_keys(), false).await;
    assert_eq!(run.status, RunStatus::Completed);
    let closed = closings.1.lock().unwrap().clone();
    let released = h.fake.released();
    let limited: Vec<usize> = h
        .fake
        .calls()
        .iter()
        .filter_map(|c| c.answered.as_ref().filter(|a| a.2 == "rate-limited"))
        .map(|a| a.0)
        .collect();
    assert_eq!(limited.len(), 2, "both keys were limited once");
    for answered in limited {
        let next = |times: &[usize]| times.iter().copied().find(|t| *t > answered);
        let (closed_at, released_at) = (next(&closed), next(&released));
        assert!(
            closed_at.is_some() && closed_at < released_at,
            "the 429 answered at {answered} closed the gate at {closed_at:?}, \
             after its slot was given back at {released_at:?}"
        );
    }
}
