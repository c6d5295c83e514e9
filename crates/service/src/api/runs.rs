//! Signals in, runs out: submitting signals, reading runs, answering
//! approvals and restoring.

use super::body::{Json, Text};
use crate::auth::Caller;
use crate::problem::Problem;
use crate::state::{AppState, ServedPlaybook};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use cordon_authority::approvals::{self, AnswerRequest, ApprovalError};
use cordon_authority::automation_principal;
use cordon_config::Scope;
use cordon_engine::{RunRequest, plan_restore};
use cordon_input::{Signal, SourceFile};
use cordon_report::{PendingApproval, RunReport, RunSummary};
use cordon_store::{Batch, StoreExt};
use cordon_types::audit::AuditEvent;
use cordon_types::{AuditEntry, RunKind};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};

/// A run a signal started (or the one it joined).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StartedRun {
    /// The run.
    pub run_id: String,
    /// Its playbook.
    pub playbook: String,
    /// True when a run of this playbook for this signal existed already
    /// (unfinished, or finished within the deduplication window), and no
    /// second one was started.
    pub existing: bool,
}

/// A playbook a signal did not fire, and why.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NotFired {
    /// The playbook.
    pub playbook: String,
    /// Why its trigger did not accept the signal.
    pub reason: String,
}

/// What a submitted signal started.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SignalAccepted {
    /// The signal's id.
    pub signal: String,
    /// The runs it started.
    pub runs: Vec<StartedRun>,
    /// The playbooks it did not fire.
    pub not_fired: Vec<NotFired>,
}

/// Submit a signal: every configured playbook whose trigger accepts it runs.
#[utoipa::path(post, path = "/v1/signals", tag = "signals",
    request_body(content = String, description = "A signal (Cordon's signal JSON)", content_type = "application/json"),
    responses((status = 202, body = SignalAccepted), (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn submit_signal(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Text(body): Text,
) -> Result<impl IntoResponse, Problem> {
    caller.require(&state, Scope::Signals).await?;
    let signal = parse_signal(&body).inspect_err(|_| state.metrics.signal("unknown", "invalid"))?;
    let mut accepted = SignalAccepted {
        signal: signal.id.clone(),
        runs: Vec::new(),
        not_fired: Vec::new(),
    };
    let mut firing = Vec::new();
    for served in state.playbooks.values() {
        match served.playbook.trigger.accepts(&signal) {
            Err(reason) => accepted.not_fired.push(NotFired {
                playbook: served.playbook.name.clone(),
                reason: reason.to_string(),
            }),
            Ok(()) => firing.push(served),
        }
    }
    // The last run begun records the submission in its own commit.
    let mut audited = false;
    let count = firing.len();
    for (i, served) in firing.into_iter().enumerate() {
        let submission = (i + 1 == count).then(|| Submission {
            caller: &caller,
            signal: &signal,
            earlier: accepted.runs.clone(),
        });
        let (run, recorded) = start(&state, served, &signal, &body, false, submission).await?;
        audited |= recorded;
        accepted.runs.push(run);
    }
    if !audited {
        audit_submission(&state, &caller, &signal, &accepted.runs).await?;
    }
    let verdict = if accepted.runs.is_empty() {
        "not-fired"
    } else {
        "fired"
    };
    state.metrics.signal(&signal.source, verdict);
    Ok((StatusCode::ACCEPTED, axum::Json(accepted)))
}

/// A run of one named playbook, as `cordon run --playbook P --signal S` asks.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunSubmission {
    /// The playbook's name; the server runs its own configured copy.
    pub playbook: String,
    /// The sha256 of the caller's copy of the playbook: a different copy is
    /// refused (409) rather than run in its place.
    #[serde(default)]
    pub playbook_sha256: Option<String>,
    /// The signal (Cordon's signal JSON).
    #[schema(value_type = Object)]
    pub signal: serde_json::Value,
    /// Ask plugins for a plan; change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Run one configured playbook for a signal.
#[utoipa::path(post, path = "/v1/runs", tag = "runs", request_body = RunSubmission,
    responses((status = 202, body = StartedRun), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn submit_run(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(submission): Json<RunSubmission>,
) -> Result<impl IntoResponse, Problem> {
    caller.require(&state, Scope::Signals).await?;
    let Some(served) = state.playbooks.get(&submission.playbook) else {
        return Err(Problem::not_found(format!(
            "the server has no playbook `{}` (it serves: {})",
            submission.playbook.escape_debug(),
            state
                .playbooks
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    if let Some(theirs) = &submission.playbook_sha256
        && !theirs.eq_ignore_ascii_case(&served.sha256)
    {
        return Err(Problem::conflict(format!(
            "the server's playbook `{}` is not the caller's copy (sha256 {} on the server): \
             deploy the playbook to the server, or run against a local store",
            served.playbook.name, served.sha256
        )));
    }
    let text = submission.signal.to_string();
    let signal = parse_signal(&text)?;
    if let Err(reason) = served.playbook.trigger.accepts(&signal) {
        return Err(Problem::invalid(
            format!(
                "the signal does not match the trigger of playbook `{}`: {reason}",
                served.playbook.name
            ),
            Vec::new(),
        ));
    }
    let submitted = Submission {
        caller: &caller,
        signal: &signal,
        earlier: Vec::new(),
    };
    let (run, audited) = start(
        &state,
        served,
        &signal,
        &text,
        submission.dry_run,
        Some(submitted),
    )
    .await?;
    if run.existing {
        let open = state.store.run(&run.run_id)?;
        let advice = if open.status.is_finished() {
            format!(
                "it finished within the deduplication window ([server] dedup_window_ms = {}): give the signal a new id to run it again",
                state.config.server.dedup_window_ms
            )
        } else {
            "approve what it waits for instead of starting a second run".to_string()
        };
        return Err(Problem::conflict(format!(
            "run {} of playbook `{}` for signal `{}` answers for it ({}): {advice}",
            open.run_id,
            served.playbook.name,
            signal.id.escape_debug(),
            open.status.as_str()
        )));
    }
    if !audited {
        audit_submission(&state, &caller, &signal, std::slice::from_ref(&run)).await?;
    }
    Ok((StatusCode::ACCEPTED, axum::Json(run)))
}

fn parse_signal(text: &str) -> Result<Signal, Problem> {
    Signal::parse(&SourceFile::from_text("request body", text)).map_err(|e| Problem::from_input(&e))
}

/// Who submitted a signal, and the runs it started before this one: the
/// `signal.submitted` record a new run commits with its start.
struct Submission<'a> {
    caller: &'a Caller,
    signal: &'a Signal,
    earlier: Vec<StartedRun>,
}

impl Submission<'_> {
    fn entry(&self, runs: &[StartedRun]) -> AuditEntry {
        let event = AuditEvent::SignalSubmitted {
            signal: self.signal.id.clone(),
            runs: runs.iter().map(|r| r.run_id.clone()).collect(),
            from: self.caller.from.clone(),
        };
        AuditEntry::new(event)
            .incident(self.signal.incident.clone())
            .by(self.caller.name())
    }
}

/// Starts a run of `served` for `signal` unless one answers for it already;
/// whether it recorded `submission` with the new run.
async fn start(
    state: &Arc<AppState>,
    served: &ServedPlaybook,
    signal: &Signal,
    signal_source: &str,
    dry_run: bool,
    submission: Option<Submission<'_>>,
) -> Result<(StartedRun, bool), Problem> {
    let playbook = &served.playbook;
    // One real run per playbook and signal at a time. Dry runs never wait
    // for approvals and never block (or take the place of) a real run.
    let slot = state.open_runs.slot(&playbook.name, &signal.id);
    let mut open = slot.lock().await;
    if !dry_run
        && let Some(run_id) = open.as_ref()
        && state.open_runs.answers(&state.store.run(run_id)?)
    {
        let existing = StartedRun {
            run_id: run_id.clone(),
            playbook: playbook.name.clone(),
            existing: true,
        };
        return Ok((existing, false));
    }
    let audited = submission.is_some();
    let request = RunRequest {
        playbook: playbook.clone(),
        signal: signal.clone(),
        signal_source: signal_source.to_string(),
        dry_run,
        principal: automation_principal(&playbook.owner),
    };
    let run = state
        .engine
        .begin_with(request, |run| {
            submission
                .map(|s| {
                    let mut runs = s.earlier.clone();
                    runs.push(StartedRun {
                        run_id: run.run_id.clone(),
                        playbook: playbook.name.clone(),
                        existing: false,
                    });
                    s.entry(&runs)
                })
                .into_iter()
                .collect()
        })
        .await;
    let run = match run {
        // Another replica started a run for this signal first.
        Err(cordon_engine::EngineError::Store(cordon_store::StoreError::AlreadyOpen {
            run_id,
        })) => {
            let existing = StartedRun {
                run_id,
                playbook: playbook.name.clone(),
                existing: true,
            };
            return Ok((existing, false));
        }
        other => other.map_err(Problem::from)?,
    };
    if !dry_run {
        *open = Some(run.run_id.clone());
    }
    drop(open);
    state.supervisor.execute(&run.run_id);
    let started = StartedRun {
        run_id: run.run_id,
        playbook: playbook.name.clone(),
        existing: false,
    };
    Ok((started, audited))
}

async fn audit_submission(
    state: &AppState,
    caller: &Caller,
    signal: &Signal,
    runs: &[StartedRun],
) -> Result<(), Problem> {
    let submission = Submission {
        caller,
        signal,
        earlier: Vec::new(),
    };
    state
        .store
        .commit(Batch::new().audit(submission.entry(runs)))
        .await?;
    Ok(())
}

/// Every run, oldest first.
#[utoipa::path(get, path = "/v1/runs", tag = "runs", responses((status = 200, body = Vec<Object>)))]
pub async fn list_runs(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<axum::Json<Vec<RunSummary>>, Problem> {
    caller.require(&state, Scope::Read).await?;
    Ok(axum::Json(RunSummary::all(state.store.as_ref())?))
}

/// How long to wait for a run.
#[derive(Debug, Deserialize, IntoParams)]
pub struct WaitQuery {
    /// Wait up to this many milliseconds (at most 60,000) for the run to stop
    /// executing (finished, or waiting for approvals).
    pub wait_ms: Option<u64>,
}

/// One run and its actions (the report `cordon runs show --json` prints).
#[utoipa::path(get, path = "/v1/runs/{run_id}", tag = "runs", params(("run_id" = String, Path), WaitQuery),
    responses((status = 200, body = Object), (status = 404, body = Problem)))]
pub async fn show_run(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(run_id): Path<String>,
    Query(wait): Query<WaitQuery>,
) -> Result<axum::Json<RunReport>, Problem> {
    caller.require(&state, Scope::Read).await?;
    state.store.run(&run_id)?;
    if let Some(ms) = wait.wait_ms {
        // A long poll ends before the request's own time limit.
        let limit = state.config.server.request_timeout_ms.saturating_sub(500);
        let timeout = Duration::from_millis(ms.min(60_000).min(limit));
        wait_stopped(&state, &run_id, timeout).await;
    }
    let run = state.store.run(&run_id)?;
    let actions = state.store.actions(&run_id)?;
    let facts = state.store.facts(&run_id)?;
    Ok(axum::Json(
        RunReport::new(&run, &actions).with_facts(&facts),
    ))
}

/// Waits until `run_id` is not executing (here, or on another replica), or
/// `timeout` passed.
async fn wait_stopped(state: &AppState, run_id: &str, timeout: Duration) {
    if state.supervisor.leasing().is_none() {
        return state.supervisor.wait_settled(run_id, timeout).await;
    }
    // Another replica may execute it: its commits reach the watch.
    let mut commits = state.watch.subscribe();
    let _ = tokio::time::timeout(timeout, async {
        loop {
            let executing = state.supervisor.is_active(run_id)
                || state
                    .store
                    .run(run_id)
                    .is_ok_and(|run| run.status == cordon_types::RunStatus::Running);
            if !executing || commits.changed().await.is_err() {
                return;
            }
        }
    })
    .await;
}

/// Every action waiting for an approval.
#[utoipa::path(get, path = "/v1/approvals", tag = "approvals", responses((status = 200, body = Vec<Object>)))]
pub async fn list_approvals(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<axum::Json<Vec<PendingApproval>>, Problem> {
    caller.require(&state, Scope::Read).await?;
    Ok(axum::Json(PendingApproval::all(state.store.as_ref())?))
}

/// An answer to a run's waiting actions.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    /// One action (its id or a unique prefix); default every waiting action.
    #[serde(default)]
    pub action: Option<String>,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// What an answer recorded.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Answered {
    /// The run, which now continues.
    pub run_id: String,
    /// The actions answered.
    pub actions: Vec<String>,
}

/// Approve a run's waiting actions as the caller; the run continues.
#[utoipa::path(post, path = "/v1/runs/{run_id}/approve", tag = "approvals", params(("run_id" = String, Path)), request_body = AnswerBody,
    responses((status = 202, body = Answered), (status = 403, body = Problem), (status = 409, body = Problem)))]
pub async fn approve(
    state: State<Arc<AppState>>,
    caller: Caller,
    run_id: Path<String>,
    body: Json<AnswerBody>,
) -> Result<impl IntoResponse, Problem> {
    answer(state, caller, run_id, body, true).await
}

/// Reject a run's waiting actions as the caller; the run continues.
#[utoipa::path(post, path = "/v1/runs/{run_id}/reject", tag = "approvals", params(("run_id" = String, Path)), request_body = AnswerBody,
    responses((status = 202, body = Answered), (status = 403, body = Problem), (status = 409, body = Problem)))]
pub async fn reject(
    state: State<Arc<AppState>>,
    caller: Caller,
    run_id: Path<String>,
    body: Json<AnswerBody>,
) -> Result<impl IntoResponse, Problem> {
    answer(state, caller, run_id, body, false).await
}

async fn answer(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(run_id): Path<String>,
    Json(body): Json<AnswerBody>,
    approved: bool,
) -> Result<impl IntoResponse, Problem> {
    caller.require(&state, Scope::Respond).await?;
    let Some(authority) = &state.authority else {
        return Err(Problem::conflict(
            "the server has no authority model: nothing waits for approval",
        ));
    };
    let run = state.store.run(&run_id)?;
    let answered = approvals::answer(
        state.store.as_ref(),
        authority.model(),
        AnswerRequest {
            run: &run,
            action: body.action.as_deref(),
            principal: caller.name(),
            approved,
            reason: body.reason,
        },
    )
    .await
    .map_err(|err| match err {
        ApprovalError::NotEntitled { .. } => Problem::forbidden(err.to_string()),
        ApprovalError::NothingWaiting { .. }
        | ApprovalError::Ambiguous { .. }
        | ApprovalError::DryRun { .. } => Problem::conflict(err.to_string()),
        ApprovalError::Store(err) => err.into(),
    })?;
    state.supervisor.execute(&run_id);
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Answered {
            run_id,
            actions: answered.into_iter().map(|a| a.key).collect(),
        }),
    ))
}

/// Which actions of a run to restore.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreBody {
    /// Only the actions of this step.
    #[serde(default)]
    pub step: Option<String>,
    /// Only the actions on this target (id or provider:kind:id).
    #[serde(default)]
    pub target: Option<String>,
}

/// What a restore request started.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RestoreStarted {
    /// The restore run, or none when nothing matched is reversible.
    pub restore_run_id: Option<String>,
    /// Applied actions that cannot be undone, with why.
    pub irreversible: Vec<String>,
}

/// Undo the reversible actions of a run, as the caller (the authority model
/// lets only the owners of each identity's domain restore).
#[utoipa::path(post, path = "/v1/runs/{run_id}/restore", tag = "runs", params(("run_id" = String, Path)), request_body = RestoreBody,
    responses((status = 202, body = RestoreStarted), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn restore(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(run_id): Path<String>,
    Json(body): Json<RestoreBody>,
) -> Result<impl IntoResponse, Problem> {
    caller.require(&state, Scope::Respond).await?;
    let run = state.store.run(&run_id)?;
    if run.kind != RunKind::Containment {
        return Err(Problem::conflict(format!(
            "run {run_id} is itself a restore run; restore the containment run it undid"
        )));
    }
    let actions: Vec<_> = state
        .store
        .actions(&run_id)?
        .into_iter()
        .filter(|a| body.step.as_deref().is_none_or(|s| a.step == s))
        .filter(|a| {
            body.target
                .as_deref()
                .is_none_or(|t| a.target.id == t || a.target.label() == t)
        })
        .collect();
    if actions.is_empty() {
        return Err(Problem::not_found(format!(
            "run {run_id} has no action matching the given step/target"
        )));
    }
    let plan = plan_restore(&run, &actions, state.plugins.as_ref());
    let irreversible = plan
        .irreversible
        .iter()
        .map(|(a, why)| format!("{} {} on {}: {why}", a.step, a.action, a.target))
        .collect();
    if plan.items.is_empty() {
        return Ok((
            StatusCode::OK,
            axum::Json(RestoreStarted {
                restore_run_id: None,
                irreversible,
            }),
        ));
    }
    let restore_run = state
        .engine
        .begin_restore(plan, caller.name().to_string())
        .await
        .map_err(Problem::from)?;
    state.supervisor.execute(&restore_run.run_id);
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(RestoreStarted {
            restore_run_id: Some(restore_run.run_id),
            irreversible,
        }),
    ))
}
