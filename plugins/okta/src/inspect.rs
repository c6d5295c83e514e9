//! `inspect`: what Okta knows about a user, an app or an API token.
//!
//! A user's owner is its manager (`profile.manager`), or the user itself
//! (its login) when it has none; its workload is the custom profile
//! attribute `workload` when the org defines one; `userType` `Service` (or a
//! title naming an agent) makes it `agent`, any other type `human`. The apps
//! it has granted access to are listed in the attribute `apps`. Apps are
//! agents or services: their workload is their label. An API token belongs to
//! its user: owner facts are that user's.

use crate::client::{Okta, User};
use cordon_plugin_sdk::prelude::*;

/// `agent` for service users, `human` for other typed users.
pub fn used_by(user: &User) -> Option<UsedBy> {
    let kind = user.profile_text("userType")?;
    let title = user.profile_text("title").unwrap_or_default();
    let machine = ["service", "agent", "bot", "machine"]
        .iter()
        .any(|m| kind.eq_ignore_ascii_case(m) || title.to_ascii_lowercase().contains(m));
    Some(if machine {
        UsedBy::Agent
    } else {
        UsedBy::Human
    })
}

/// Owner, workload and attributes of a user.
pub fn user_facts(okta: &Okta, user: &User) -> Result<IdentityFacts, ProviderError> {
    let mut attributes = vec![
        ("user_id".to_string(), user.id.clone()),
        ("login".to_string(), user.login.clone()),
        ("status".to_string(), user.status.clone()),
    ];
    for key in [
        "department",
        "title",
        "userType",
        "manager",
        "managerId",
        "email",
    ] {
        if let Some(value) = user.profile_text(key) {
            attributes.push((key.to_string(), value));
        }
    }
    // The OAuth clients the user has granted access to, by name.
    let clients = okta
        .api()
        .get(&Okta::user_path(&user.id).then("clients"))?
        .json()?;
    let apps: Vec<String> = clients
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|c| {
                    c["client_name"]
                        .as_str()
                        .filter(|n| !n.is_empty())
                        .or(c["client_id"].as_str())
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    if !apps.is_empty() {
        attributes.push(("apps".into(), apps.join(",")));
    }
    Ok(IdentityFacts {
        owner: user
            .profile_text("manager")
            .or_else(|| Some(user.login.clone()).filter(|l| !l.is_empty())),
        workload: user.profile_text("workload"),
        issuer: Some(okta.issuer()),
        used_by: used_by(user),
        attributes,
    })
}

/// `inspect` for every supported kind.
pub fn inspect(okta: &Okta, target: &Identity) -> Result<IdentityFacts, ProviderError> {
    match target.kind {
        IdentityKind::User => user_facts(okta, &okta.user(&target.id)?),
        IdentityKind::Session => {
            let user = target.attribute("user").ok_or_else(|| {
                ProviderError::Unsupported(
                    "Okta cannot look a session up; give it the attribute `user`".into(),
                )
            })?;
            user_facts(okta, &okta.user(user)?)
        }
        IdentityKind::Agent | IdentityKind::ServiceAccount | IdentityKind::Workload => {
            let app = okta.app(&target.id)?;
            let mut attributes = vec![
                ("app_id".to_string(), app.id.clone()),
                ("label".to_string(), app.label.clone()),
                ("status".to_string(), app.status.clone()),
            ];
            if let Some(client_id) = &app.client_id {
                attributes.push(("client_id".into(), client_id.clone()));
            }
            if let Some(mode) = &app.sign_on_mode {
                attributes.push(("sign_on_mode".into(), mode.clone()));
            }
            Ok(IdentityFacts {
                owner: None,
                workload: Some(app.label),
                issuer: Some(okta.issuer()),
                used_by: Some(UsedBy::Agent),
                attributes,
            })
        }
        IdentityKind::Token => {
            let token = okta.api_token(&target.id)?.ok_or_else(|| {
                not_found(format!(
                    "Okta does not know API token {} (revoked or never existed)",
                    target.id
                ))
            })?;
            let owner_id = token["userId"].as_str().unwrap_or_default();
            let mut facts = user_facts(okta, &okta.user(owner_id)?)?;
            for key in ["name", "expiresAt", "clientName"] {
                if let Some(value) = token[key].as_str() {
                    facts
                        .attributes
                        .push((format!("token.{key}"), value.to_string()));
                }
            }
            Ok(facts)
        }
        other => Err(ProviderError::Unsupported(format!(
            "the okta plugin cannot inspect a {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cordon_plugin_sdk::serde_json::json;

    #[test]
    fn service_users_are_agents() {
        let user = |profile| User::from_json(&json!({ "id": "x", "profile": profile }));
        assert_eq!(
            used_by(&user(json!({ "userType": "Service" }))),
            Some(UsedBy::Agent)
        );
        assert_eq!(
            used_by(&user(
                json!({ "userType": "Employee", "title": "AI agent" })
            )),
            Some(UsedBy::Agent)
        );
        assert_eq!(
            used_by(&user(json!({ "userType": "Contractor" }))),
            Some(UsedBy::Human)
        );
        assert_eq!(used_by(&user(json!({}))), None);
    }
}
