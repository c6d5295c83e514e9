//! `inspect`: what PVWA knows about an account, a vault user or a live
//! session. PVWA has no owner field: owners come from the inventory. The
//! issuer of an account or session is `cyberark:<safe>`.

use crate::client::Pvwa;
use cordon_plugin_sdk::prelude::*;

fn pairs(items: &[(&str, String)]) -> Vec<(String, String)> {
    items
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// `inspect` for every supported kind.
pub fn inspect(pvwa: &Pvwa, target: &Identity) -> Result<IdentityFacts, ProviderError> {
    match target.kind {
        IdentityKind::Account => {
            let account = pvwa.account(&target.id)?;
            Ok(IdentityFacts {
                owner: None,
                workload: None,
                issuer: Some(format!("cyberark:{}", account.safe)),
                used_by: None,
                attributes: pairs(&[
                    ("safe", account.safe.clone()),
                    ("platform", account.platform.clone()),
                    ("address", account.address.clone()),
                    ("userName", account.user_name.clone()),
                    ("name", account.name.clone()),
                    (
                        "automatic_management",
                        account.automatic_management.to_string(),
                    ),
                ]),
            })
        }
        IdentityKind::User => {
            let id = target.attribute("user_id").unwrap_or(&target.id);
            let (name, enabled) = pvwa.user(id)?;
            Ok(IdentityFacts {
                owner: None,
                workload: None,
                issuer: Some("cyberark:vault-users".into()),
                used_by: None,
                attributes: pairs(&[
                    ("user_id", id.to_string()),
                    ("username", name),
                    ("enabled", enabled.to_string()),
                ]),
            })
        }
        IdentityKind::Session => {
            let session = pvwa.live_session(&target.id)?.ok_or_else(|| {
                not_found(format!(
                    "PSM session {} is not live (ended, or never existed)",
                    target.id
                ))
            })?;
            Ok(IdentityFacts {
                owner: None,
                workload: None,
                issuer: Some(format!("cyberark:{}", session.safe)),
                used_by: None,
                attributes: pairs(&[
                    ("user", session.user.clone()),
                    ("account_id", session.account_id.clone()),
                    (
                        "account",
                        format!("{}@{}", session.account_username, session.account_address),
                    ),
                    ("safe", session.safe.clone()),
                    ("from_ip", session.from_ip.clone()),
                    ("protocol", session.protocol.clone()),
                ]),
            })
        }
        other => Err(ProviderError::Unsupported(format!(
            "the cyberark plugin cannot inspect a {other:?}"
        ))),
    }
}
