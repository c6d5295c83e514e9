//! Privileged accounts (rotate the credential, disable and enable automatic
//! management) and vault users (disable, enable).

use crate::client::{Account, Pvwa};
use cordon_plugin_sdk::prelude::*;
use cordon_plugin_sdk::serde_json::json;

fn account_evidence(outcome: Outcome, account: &Account) -> Outcome {
    outcome
        .evidence("account_id", &account.id)
        .evidence("safe", &account.safe)
        .evidence(
            "account",
            format!("{}@{}", account.user_name, account.address),
        )
        .evidence("platform", &account.platform)
}

/// A moment given as epoch seconds or RFC 3339.
fn parse_instant(text: &str) -> Option<i64> {
    text.trim()
        .parse::<i64>()
        .ok()
        .or_else(|| cordon_plugin_sdk::time::parse_rfc3339(text))
}

/// `rotate-credential`: asks the CPM to change the account's credential now
/// (`POST /API/Accounts/{id}/Change`). Not reversible.
///
/// Every rotation makes a new secret, so a repeat rotates again and reports
/// `applied`. With the param `changed_after` (epoch seconds or RFC 3339,
/// e.g. when the credential was exposed), a credential already changed since
/// then is `already-applied`.
pub fn rotate_credential(
    pvwa: &Pvwa,
    request: &ActionRequest,
) -> Result<ActionOutcome, ProviderError> {
    let account = pvwa.account(&request.target.id)?;
    let name = format!("{}@{} ({})", account.user_name, account.address, account.id);
    let after = match request.param("changed_after") {
        Some(text) => Some(parse_instant(text).ok_or_else(|| {
            invalid(format!(
                "param `changed_after` is `{text}`: expected epoch seconds or an RFC 3339 time"
            ))
        })?),
        None => None,
    };
    let plan = match (after, account.last_modified) {
        (Some(after), Some(changed)) if changed >= after => Plan::done(format!(
            "the credential of {name} was changed at {changed}, after {after}"
        )),
        _ => Plan::change(format!("have the CPM change the credential of {name} now")),
    };
    let outcome = converge(request, plan, || {
        let path = ApiPath::new("API/Accounts")
            .segment(&account.id)
            .then("Change");
        pvwa.api()
            .post_json(&path, &json!({ "ChangeEntireGroup": false }))?;
        Ok(Outcome::applied(format!(
            "had the CPM change the credential of {name}"
        )))
    })?;
    let mut outcome = account_evidence(outcome, &account);
    if let Some(changed) = account.last_modified {
        outcome = outcome.evidence("previous_change", changed.to_string());
    }
    outcome.done()
}

/// `disable-auto-management` and `enable-auto-management`: whether the CPM
/// manages (rotates, reconciles) the account's credential. Disabling records
/// why (param `reason`); enabling removes that reason.
pub fn set_auto_management(
    pvwa: &Pvwa,
    request: &ActionRequest,
    enabled: bool,
) -> Result<ActionOutcome, ProviderError> {
    let id = request.param_or_target("account_id");
    let account = pvwa.account(id)?;
    let name = format!("{}@{} ({})", account.user_name, account.address, account.id);
    let (state, verb) = if enabled {
        ("enabled", "enable")
    } else {
        ("disabled", "disable")
    };
    let plan = if account.automatic_management == enabled {
        Plan::done(format!("automatic management of {name} is already {state}"))
    } else {
        Plan::change(format!("{verb} automatic management of {name}"))
    };
    let outcome = converge(request, plan, || {
        let mut patch = vec![json!({
            "op": "replace",
            "path": "/secretManagement/automaticManagementEnabled",
            "value": enabled,
        })];
        if !enabled {
            let reason = request.param("reason").unwrap_or("Cordon containment");
            patch.push(json!({
                "op": "add",
                "path": "/secretManagement/manualManagementReason",
                "value": reason,
            }));
        } else if account.manual_management_reason.is_some() {
            patch.push(
                json!({ "op": "remove", "path": "/secretManagement/manualManagementReason" }),
            );
        }
        let path = ApiPath::new("API/Accounts").segment(&account.id);
        pvwa.api().patch_json(&path, &json!(patch))?;
        Ok(Outcome::applied(format!(
            "{verb}d automatic management of {name}"
        )))
    })?;
    let mut outcome = account_evidence(outcome, &account);
    if !enabled {
        outcome = outcome.restore("account_id", &account.id);
    }
    outcome.done()
}

/// The numeric id of the vault user a request names: param `user_id`,
/// attribute `user_id`, or the target's id.
fn user_id(request: &ActionRequest) -> Result<String, ProviderError> {
    let id = request
        .param("user_id")
        .or_else(|| request.target.attribute("user_id"))
        .unwrap_or(&request.target.id);
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(format!(
            "PVWA addresses vault users by numeric id, and `{id}` is not one: give the id, or the identity attribute `user_id`"
        )));
    }
    Ok(id.to_string())
}

/// `disable-user` and `enable-user`: a disabled vault user cannot log on,
/// and its PVWA logon tokens stop working (the PSM sessions it opened stay:
/// terminate them with `terminate-sessions`). Cordon refuses to disable the
/// user it logs on as (that would lock it out).
pub fn set_user_enabled(
    pvwa: &Pvwa,
    request: &ActionRequest,
    enabled: bool,
) -> Result<ActionOutcome, ProviderError> {
    let id = user_id(request)?;
    let (name, now_enabled) = pvwa.user(&id)?;
    if !enabled && pvwa.is_self(&name) {
        return Err(invalid(format!(
            "refusing to disable vault user {id}: it is the user Cordon logs on as"
        )));
    }
    let (state, verb) = if enabled {
        ("enabled", "enable")
    } else {
        ("disabled", "disable")
    };
    let plan = if now_enabled == enabled {
        Plan::done(format!("vault user {name} ({id}) is already {state}"))
    } else {
        Plan::change(format!("{verb} vault user {name} ({id})"))
    };
    let outcome = converge(request, plan, || {
        let path = ApiPath::new("API/Users").segment(&id).then(verb).slash();
        pvwa.api().post_empty(&path)?;
        Ok(Outcome::applied(format!(
            "{verb}d vault user {name} ({id})"
        )))
    })?;
    let mut outcome = outcome.evidence("user_id", &id).evidence("username", &name);
    if !enabled {
        outcome = outcome.restore("user_id", &id);
    }
    outcome.done()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_instants_in_both_forms() {
        assert_eq!(parse_instant("1700000000"), Some(1_700_000_000));
        assert_eq!(parse_instant("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(parse_instant("yesterday"), None);
    }
}
