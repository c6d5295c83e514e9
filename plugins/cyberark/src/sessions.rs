//! Live PSM sessions: terminate every session of a user, an account or one
//! session; suspend and resume one session.
//!
//! PVWA lists only live sessions and forgets terminated ones (terminating
//! one again is a 404): a session that is no longer listed has ended, and
//! the plugin cannot tell whether it ever existed. Terminating when nothing
//! is live is `already-applied`.

use crate::client::{LiveSession, Pvwa};
use cordon_plugin_sdk::prelude::*;

/// The vault user name a user target names: attribute `username`, the id
/// itself, or — for a numeric id — the name PVWA gives that user.
fn username_of(pvwa: &Pvwa, target: &Identity) -> Result<String, ProviderError> {
    if let Some(name) = target.attribute("username") {
        return Ok(name.to_string());
    }
    if target.id.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(pvwa.user(&target.id)?.0);
    }
    Ok(target.id.clone())
}

/// The live sessions a target names, and how to name them in details.
fn sessions_of(
    pvwa: &Pvwa,
    target: &Identity,
) -> Result<(Vec<LiveSession>, String), ProviderError> {
    match target.kind {
        IdentityKind::User => {
            let user = username_of(pvwa, target)?;
            // `Search` matches any text field: keep the user's own sessions.
            let sessions = pvwa
                .live_sessions(Some(&user), None)?
                .into_iter()
                .filter(|s| s.user.eq_ignore_ascii_case(&user))
                .collect();
            Ok((sessions, format!("vault user {user}")))
        }
        IdentityKind::Account => {
            let account = pvwa.account(&target.id)?;
            let sessions = pvwa
                .live_sessions(Some(&account.address), Some(&account.safe))?
                .into_iter()
                .filter(|s| {
                    s.account_id == account.id
                        || (s.account_id.is_empty()
                            && s.account_username.eq_ignore_ascii_case(&account.user_name)
                            && s.account_address.eq_ignore_ascii_case(&account.address))
                })
                .collect();
            Ok((
                sessions,
                format!(
                    "account {}@{} ({}, safe {})",
                    account.user_name, account.address, account.id, account.safe
                ),
            ))
        }
        IdentityKind::Session => {
            let session = pvwa.live_session(&target.id)?;
            Ok((
                session.into_iter().collect(),
                format!("session {}", target.id),
            ))
        }
        other => Err(invalid(format!(
            "terminate-sessions works on a user, an account or a session, not a {other:?}"
        ))),
    }
}

fn session_path(id: &str, operation: &str) -> ApiPath {
    ApiPath::new("API/LiveSessions")
        .segment(id)
        .then(operation)
        .slash()
}

/// `terminate-sessions`: terminates every live PSM session of a vault user,
/// of a privileged account, or one session. Sessions PVWA refuses to
/// terminate (`CanTerminate` false) fail the action once the others are
/// terminated.
pub fn terminate_sessions(
    pvwa: &Pvwa,
    request: &ActionRequest,
) -> Result<ActionOutcome, ProviderError> {
    let (sessions, whose) = sessions_of(pvwa, &request.target)?;
    let described: Vec<String> = sessions.iter().map(LiveSession::describe).collect();
    let plan = if sessions.is_empty() {
        Plan::done(format!("no live PSM session of {whose}"))
    } else {
        Plan::change(format!(
            "terminate {} live PSM session(s) of {whose}: {}",
            sessions.len(),
            described.join("; ")
        ))
    };
    // The sessions the evidence lists: the live ones, or, once `apply` has
    // run, those it terminated (with their users).
    let mut reported: Vec<&str> = sessions.iter().map(|s| s.id.as_str()).collect();
    let mut users = None;
    let outcome = converge(request, plan, || {
        let terminated = terminate_each(pvwa, &sessions, &whose)?;
        let outcome = if terminated.is_empty() {
            Outcome::already_applied(format!(
                "the live PSM sessions of {whose} had already ended"
            ))
        } else {
            Outcome::applied(format!(
                "terminated {} live PSM session(s) of {whose}: {}",
                terminated.len(),
                described.join("; ")
            ))
        };
        let names: std::collections::BTreeSet<&str> =
            sessions.iter().map(|s| s.user.as_str()).collect();
        users = Some(names.into_iter().collect::<Vec<_>>().join(","));
        reported = terminated;
        Ok(outcome)
    })?;
    let outcome = outcome
        .evidence("sessions", reported.join(","))
        .evidence("count", reported.len().to_string());
    match users {
        Some(users) => outcome.evidence("users", users),
        None => outcome,
    }
    .done()
}

/// Terminates each session; the ids of those it terminated (the others had
/// ended meanwhile). Sessions CyberArk refuses to terminate fail it once the
/// others are terminated.
fn terminate_each<'s>(
    pvwa: &Pvwa,
    sessions: &'s [LiveSession],
    whose: &str,
) -> Result<Vec<&'s str>, ProviderError> {
    let (mut terminated, mut refused) = (Vec::new(), Vec::new());
    for session in sessions {
        match pvwa
            .api()
            .post_empty(&session_path(&session.id, "Terminate"))
        {
            Ok(_) => terminated.push(session.id.as_str()),
            // It ended between the listing and now.
            Err(CallError::Api(e)) if e.status == 404 => {}
            Err(CallError::Api(e)) if e.status == 403 => {
                refused.push(format!("{} ({})", session.id, e.message))
            }
            Err(e) => return Err(e.into()),
        }
    }
    if !refused.is_empty() {
        return Err(ProviderError::Unauthorized(format!(
            "terminated {} of {} live PSM session(s) of {whose}; CyberArk refused to terminate {}",
            terminated.len(),
            sessions.len(),
            refused.join(", ")
        )));
    }
    Ok(terminated)
}

/// `suspend-session`: suspends one live PSM session (the user's screen
/// freezes; `resume-session` thaws it). A session that is no longer live
/// has ended: `already-applied`, with nothing to resume.
pub fn suspend_session(
    pvwa: &Pvwa,
    request: &ActionRequest,
) -> Result<ActionOutcome, ProviderError> {
    let id = &request.target.id;
    let Some(session) = pvwa.live_session(id)? else {
        return Outcome::already_applied(format!(
            "PSM session {id} is no longer live (it ended, or never existed): nothing to suspend"
        ))
        .evidence("session_id", id)
        .evidence("live", "false")
        .done();
    };
    if !session.can_suspend {
        return Err(ProviderError::Unauthorized(format!(
            "CyberArk does not let Cordon suspend session {} (CanSuspend is false)",
            session.describe()
        )));
    }
    let plan = Plan::change(format!("suspend PSM session {}", session.describe()));
    let mut ended = false;
    let outcome = converge(request, plan, || {
        match pvwa.api().post_empty(&session_path(id, "Suspend")) {
            Ok(_) => Ok(Outcome::applied(format!(
                "suspended PSM session {}",
                session.describe()
            ))),
            Err(CallError::Api(e)) if e.status == 409 => Ok(Outcome::already_applied(format!(
                "PSM session {} is already suspended",
                session.describe()
            ))),
            Err(CallError::Api(e)) if e.status == 404 => {
                ended = true;
                Ok(Outcome::already_applied(format!(
                    "PSM session {id} ended meanwhile: nothing to suspend"
                )))
            }
            Err(e) => Err(e.into()),
        }
    })?;
    if ended {
        // Like a session found ended: nothing to resume.
        return outcome
            .evidence("session_id", id)
            .evidence("live", "false")
            .done();
    }
    outcome
        .evidence("session_id", id)
        .evidence("user", &session.user)
        .evidence(
            "account",
            format!("{}@{}", session.account_username, session.account_address),
        )
        .evidence("from_ip", &session.from_ip)
        .restore("session_id", id)
        .done()
}

/// `resume-session`: resumes a suspended PSM session. PVWA does not show
/// whether a session is suspended: its answer to the resume says it (409:
/// it was not suspended, `already-applied`). So there is no state to read
/// first (and no `Plan` to make): a real run just tries, and a dry run only
/// checks that the session is live.
pub fn resume_session(
    pvwa: &Pvwa,
    request: &ActionRequest,
) -> Result<ActionOutcome, ProviderError> {
    let id = request.param_or_target("session_id").to_string();
    let gone = || {
        not_found(format!(
            "PSM session {id} is no longer live (it ended, or never existed): nothing to resume"
        ))
    };
    let outcome = if request.dry_run {
        let session = pvwa.live_session(&id)?.ok_or_else(gone)?;
        Outcome::planned(format!(
            "would resume PSM session {} if it is suspended",
            session.describe()
        ))
    } else {
        match pvwa.api().post_empty(&session_path(&id, "Resume")) {
            Ok(_) => Outcome::applied(format!("resumed PSM session {id}")),
            Err(CallError::Api(e)) if e.status == 409 => {
                Outcome::already_applied(format!("PSM session {id} is not suspended"))
            }
            Err(CallError::Api(e)) if e.status == 404 => return Err(gone()),
            Err(e) => return Err(e.into()),
        }
    };
    outcome.evidence("session_id", &id).done()
}
