//! Notifications: when an action needs an approval, POST word of it to every
//! configured notifier (`[[server.notifiers]]`), with a link to the console.
//!
//! The notifier follows the durable audit log, as live events do, in a task
//! of its own: containment never waits for it. Each delivery is retried with
//! exponential backoff and its outcome audited (`notification.delivered`,
//! `notification.failed`). On start it reads the log from the beginning, so
//! an approval still waiting whose notification was not recorded as
//! delivered (the service died first) is sent again: delivery is at least
//! once, and the body's `id` lets a receiver drop repeats.

use crate::events::{LiveEvent, read_after};
use crate::state::AppState;
use cordon_config::notify::{NotifierConfig, NotifyFormat, NotifyUrl};
use cordon_store::{Batch, StoreExt};
use cordon_types::audit::{AuditEvent, Notified};
use cordon_types::decision::Decision;
use cordon_types::{ActionRef, ActionStatus, AuditEntry};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries in flight at once, across notifiers.
const IN_FLIGHT: usize = 32;

/// A notifier, its secrets read.
pub struct Notifier {
    name: String,
    format: NotifyFormat,
    url: Zeroizing<String>,
    authorization: Option<Zeroizing<String>>,
    max_attempts: u32,
    backoff: Duration,
}

/// A notifier's secret could not be read.
#[derive(Debug, thiserror::Error)]
#[error("notifier `{name}`: {message}")]
pub struct NotifierError {
    name: String,
    message: String,
}

impl Notifier {
    /// Reads each notifier's URL and authorization now, so a missing secret
    /// stops the service at start rather than at the first approval.
    pub fn open_all(configs: &[NotifierConfig]) -> Result<Vec<Notifier>, NotifierError> {
        configs
            .iter()
            .map(|config| {
                let fail = |message: String| NotifierError {
                    name: config.name.clone(),
                    message,
                };
                let url = match &config.url {
                    NotifyUrl::Plain(url) => Zeroizing::new(url.clone()),
                    NotifyUrl::Secret(secret) => secret
                        .read()
                        .map_err(|e| fail(format!("url ({}): {e}", secret.location)))?,
                };
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(fail("url does not hold an http(s) URL".into()));
                }
                let authorization =
                    match &config.authorization {
                        None => None,
                        Some(secret) => Some(secret.read().map_err(|e| {
                            fail(format!("authorization ({}): {e}", secret.location))
                        })?),
                    };
                Ok(Notifier {
                    name: config.name.clone(),
                    format: config.format,
                    url,
                    authorization,
                    max_attempts: config.max_attempts,
                    backoff: Duration::from_millis(config.backoff_ms),
                })
            })
            .collect()
    }
}

/// A decision record that needs an approval.
#[derive(Debug, Clone, Deserialize)]
struct Needed {
    #[serde(flatten)]
    action: ActionRef,
    decision: Decision,
    #[serde(default)]
    domain: Option<String>,
    #[serde(skip)]
    run_id: String,
    #[serde(skip)]
    incident: Option<String>,
    #[serde(skip)]
    at: i64,
}

impl Needed {
    fn of(event: &LiveEvent) -> Option<Needed> {
        let mut needed: Needed = serde_json::from_value(event.data.clone()).ok()?;
        needed.run_id = event.run_id.clone()?;
        needed.incident = event.incident.clone();
        needed.at = event.at;
        Some(needed)
    }

    fn approvers(&self) -> (Vec<String>, String) {
        match &self.decision {
            Decision::NeedsApproval { approvers, reason } => (approvers.clone(), reason.clone()),
            _ => (Vec::new(), String::new()),
        }
    }
}

/// `&`, `<` and `>` escaped, as Slack's message text wants them.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The body `format` gets for `needed`.
fn body(format: NotifyFormat, needed: &Needed, public_url: &str) -> serde_json::Value {
    let (approvers, reason) = needed.approvers();
    let queue = format!("{public_url}/console/#/approvals");
    let target = needed.action.target.label();
    match format {
        NotifyFormat::Json => serde_json::json!({
            "event": "approval.needed",
            "id": format!("{}/{}", needed.run_id, needed.action.action_key),
            "at": cordon_types::time::rfc3339(needed.at),
            "run_id": needed.run_id,
            "incident": needed.incident,
            "action_id": needed.action.action_key,
            "step": needed.action.step,
            "plugin": needed.action.plugin,
            "action": needed.action.action,
            "effect": needed.action.effect.as_str(),
            "target": target,
            "domain": needed.domain,
            "approvers": approvers,
            "reason": reason,
            "console_url": queue,
            "run_url": format!("{public_url}/console/#/runs/{}", needed.run_id),
        }),
        NotifyFormat::Slack => {
            let incident = needed
                .incident
                .as_deref()
                .map(|i| format!(" for incident {}", slack_escape(i)))
                .unwrap_or_default();
            serde_json::json!({
                "text": format!(
                    "*Cordon: approval needed*{incident}: `{}` ({}) on `{}`, run {}. Approvers: team {}. Why: {}. <{}|Open the approvals queue>",
                    slack_escape(&needed.action.action),
                    needed.action.effect.as_str(),
                    slack_escape(&target),
                    slack_escape(&needed.run_id),
                    slack_escape(&approvers.join(" or ")),
                    slack_escape(&reason),
                    queue,
                ),
            })
        }
    }
}

/// Words for a failed attempt: never the URL, which may carry a secret.
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "the request timed out".into()
    } else if error.is_connect() {
        "cannot connect".into()
    } else {
        "the request failed".into()
    }
}

/// Posts `needed` to `notifier` until it is accepted or the attempts run
/// out, then audits how it went.
async fn deliver(
    state: Arc<AppState>,
    client: reqwest::Client,
    notifier: Arc<Notifier>,
    needed: Needed,
) {
    let body = body(notifier.format, &needed, state.public_url());
    let mut outcome = Notified {
        notifier: notifier.name.clone(),
        action_key: needed.action.action_key.clone(),
        attempts: 0,
        status: None,
        error: None,
    };
    let mut wait = notifier.backoff;
    let delivered = loop {
        outcome.attempts += 1;
        let mut request = client.post(notifier.url.as_str()).json(&body);
        if let Some(authorization) = &notifier.authorization {
            request = request.header(reqwest::header::AUTHORIZATION, authorization.as_str());
        }
        let retry = match request.send().await {
            Ok(response) => {
                let status = response.status();
                outcome.status = Some(status.as_u16());
                if status.is_success() {
                    outcome.error = None;
                    break true;
                }
                outcome.error = Some(format!("answered {status}"));
                status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408
            }
            Err(error) => {
                outcome.status = None;
                outcome.error = Some(describe(&error));
                true
            }
        };
        if !retry || outcome.attempts >= notifier.max_attempts {
            break false;
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MAX_BACKOFF);
    };
    if !delivered {
        tracing::warn!(
            notifier = %notifier.name,
            action = %needed.action.action_key,
            "notification failed after {} attempts: {}",
            outcome.attempts,
            outcome.error.as_deref().unwrap_or("")
        );
    }
    let event = if delivered {
        AuditEvent::NotificationDelivered(outcome)
    } else {
        AuditEvent::NotificationFailed(outcome)
    };
    let entry = AuditEntry::new(event)
        .run(needed.run_id.clone())
        .incident(needed.incident.clone());
    if let Err(err) = state.store.commit(Batch::new().audit(entry)).await {
        tracing::error!("cannot audit a notification: {err}");
    }
}

/// Follows the durable audit log and notifies; returns when the service stops.
pub async fn run(state: Arc<AppState>, notifiers: Vec<Notifier>) {
    if notifiers.is_empty() {
        return;
    }
    let notifiers: Vec<Arc<Notifier>> = notifiers.into_iter().map(Arc::new).collect();
    let client = match reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(err) => {
            tracing::error!("notifications are off: no HTTP client: {err}");
            return;
        }
    };
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let send = |needed: &Needed, to: &Arc<Notifier>| {
        let (state, client, to, needed) =
            (state.clone(), client.clone(), to.clone(), needed.clone());
        let permits = permits.clone();
        tokio::spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return;
            };
            deliver(state, client, to, needed).await;
        });
    };
    // Approvals recorded before this start, and what was already told of them.
    let started_at = state.watch.durable();
    let mut backlog: HashMap<String, Needed> = HashMap::new();
    let mut told: HashSet<(String, String)> = HashSet::new();
    let mut caught_up = false;
    let mut durable = state.watch.subscribe();
    let mut stopping = state.stopping.subscribe();
    let mut after = 0;
    loop {
        let upto = *durable.borrow_and_update();
        while after < upto {
            let events = match read_after(state.store.as_ref(), after, upto, 512) {
                Ok(events) if !events.is_empty() => events,
                Ok(_) => break,
                Err(err) => {
                    tracing::error!("notifications cannot read the audit log: {err}");
                    break;
                }
            };
            for event in events {
                after = event.seq;
                let key = || event.data["action_key"].as_str().unwrap_or("").to_string();
                match event.event.as_str() {
                    "approval.needed" => {
                        let Some(needed) = Needed::of(&event) else {
                            continue;
                        };
                        if event.seq <= started_at {
                            backlog.insert(needed.action.action_key.clone(), needed);
                        } else {
                            notifiers.iter().for_each(|n| send(&needed, n));
                        }
                    }
                    "notification.delivered" | "notification.failed" if !caught_up => {
                        let notifier = event.data["notifier"].as_str().unwrap_or("");
                        told.insert((notifier.to_string(), key()));
                    }
                    "approval.granted" | "approval.rejected" if !caught_up => {
                        backlog.remove(&key());
                    }
                    _ => {}
                }
                if !caught_up && after >= started_at {
                    caught_up = true;
                    resend(&state, &mut backlog, &told, &notifiers, &send);
                }
            }
        }
        if !caught_up && after >= started_at {
            caught_up = true;
            resend(&state, &mut backlog, &told, &notifiers, &send);
        }
        tokio::select! {
            changed = durable.changed() => if changed.is_err() { return },
            _ = stopping.wait_for(|s| *s) => return,
        }
    }
}

/// Sends what was recorded before this start, still waits for an answer,
/// and was never told to a notifier.
fn resend(
    state: &AppState,
    backlog: &mut HashMap<String, Needed>,
    told: &HashSet<(String, String)>,
    notifiers: &[Arc<Notifier>],
    send: &impl Fn(&Needed, &Arc<Notifier>),
) {
    for (key, needed) in backlog.drain() {
        let waiting = matches!(
            state.store.action(&needed.run_id, &key),
            Ok(Some(action)) if action.status == ActionStatus::AwaitingApproval
        );
        if !waiting {
            continue;
        }
        for notifier in notifiers {
            if !told.contains(&(notifier.name.clone(), key.clone())) {
                send(&needed, notifier);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::slack_escape;

    #[test]
    fn slack_text_cannot_be_turned_into_links() {
        assert_eq!(
            slack_escape("<https://evil.example|click> & co"),
            "&lt;https://evil.example|click&gt; &amp; co"
        );
    }
}
