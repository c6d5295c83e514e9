//! Calling CyberArk PVWA: a session per plugin call (logon with the granted
//! secrets, logoff when the session is dropped, whatever happened), and the
//! reads the actions share (live sessions, accounts, vault users).

use cordon_plugin_sdk::prelude::*;
use cordon_plugin_sdk::serde_json::{Value, json};

/// Live sessions fetched per page.
const PAGE: usize = 100;
/// At most this many pages (10 000 live sessions) are read.
const MAX_PAGES: usize = 100;

/// A logged-on PVWA session. Logs off when dropped.
pub struct Pvwa {
    api: Api,
    username: String,
    logged_on: bool,
}

/// A live PSM session, as `GET /API/LiveSessions` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSession {
    pub id: String,
    /// The vault user who opened it.
    pub user: String,
    pub account_username: String,
    pub account_address: String,
    pub account_id: String,
    pub safe: String,
    pub from_ip: String,
    pub protocol: String,
    pub can_terminate: bool,
    pub can_suspend: bool,
}

impl LiveSession {
    /// Reads one entry of `LiveSessions`.
    pub fn from_json(value: &Value) -> LiveSession {
        let text = |key: &str| value[key].as_str().unwrap_or_default().to_string();
        LiveSession {
            id: text("SessionID"),
            user: text("User"),
            account_username: text("AccountUsername"),
            account_address: text("AccountAddress"),
            account_id: text("AccountID"),
            safe: text("SafeName"),
            from_ip: text("FromIP"),
            protocol: text("ProtocolName"),
            can_terminate: value["CanTerminate"].as_bool().unwrap_or(true),
            can_suspend: value["CanSuspend"].as_bool().unwrap_or(true),
        }
    }

    /// `user → account@address`, for details.
    pub fn describe(&self) -> String {
        format!(
            "{} by {} on {}@{}",
            self.id, self.user, self.account_username, self.account_address
        )
    }
}

/// A privileged account, as `GET /API/Accounts/{id}` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub address: String,
    pub user_name: String,
    pub platform: String,
    pub safe: String,
    pub automatic_management: bool,
    pub manual_management_reason: Option<String>,
    /// Last change of the secret, epoch seconds.
    pub last_modified: Option<i64>,
}

impl Account {
    /// Reads an account.
    pub fn from_json(value: &Value) -> Account {
        let text = |key: &str| value[key].as_str().unwrap_or_default().to_string();
        let management = &value["secretManagement"];
        Account {
            id: text("id"),
            name: text("name"),
            address: text("address"),
            user_name: text("userName"),
            platform: text("platformId"),
            safe: text("safeName"),
            automatic_management: management["automaticManagementEnabled"]
                .as_bool()
                .unwrap_or(true),
            manual_management_reason: management["manualManagementReason"]
                .as_str()
                .map(str::to_string),
            last_modified: management["lastModifiedTime"].as_i64(),
        }
    }
}

impl Pvwa {
    /// Logs on with the granted secrets `username` and `password`, through
    /// config `auth_method` (default `CyberArk`; also `LDAP`, `RADIUS`,
    /// `Windows`) at config `base_url` (e.g. `https://pvwa.example.com/PasswordVault`).
    /// `concurrentSession` keeps parallel calls from ending each other's sessions.
    pub fn logon() -> Result<Pvwa, ProviderError> {
        let base = config("base_url").ok_or_else(|| {
            invalid("config `base_url` is required, e.g. https://pvwa.example.com/PasswordVault")
        })?;
        let mut api = Api::new(&base)?;
        let method = config_or("auth_method", "CyberArk");
        let username = secret("username")?;
        let body = json!({
            "username": username,
            "password": secret("password")?,
            "concurrentSession": true,
        });
        let path = ApiPath::new("API/auth").segment(&method).then("Logon");
        let response = match api.post_json(&path, &body) {
            Ok(response) => response,
            Err(CallError::Api(e)) if matches!(e.status, 401 | 403) => {
                return Err(ProviderError::Unauthorized(format!(
                    "CyberArk refused to log Cordon on ({} {}): {}",
                    e.status,
                    e.code.as_deref().unwrap_or(""),
                    e.message
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let token = response
            .json()?
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .ok_or_else(|| transient("CyberArk answered the logon without a session token"))?;
        // The session token is a secret the host did not grant: have it
        // scrubbed from whatever this call returns or logs.
        redact(&token);
        api.set_header("authorization", &token);
        Ok(Pvwa {
            api,
            username,
            logged_on: true,
        })
    }

    /// The underlying API client (authenticated).
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// Whether `name` is the vault user Cordon logs on as.
    pub fn is_self(&self, name: &str) -> bool {
        name.eq_ignore_ascii_case(&self.username)
    }

    /// Ends the session; failures are logged, not returned (the token
    /// expires on its own).
    pub fn logoff(&mut self) {
        if !std::mem::take(&mut self.logged_on) {
            return;
        }
        if let Err(e) = self.api.post_empty(&ApiPath::new("API/Auth/Logoff")) {
            let err = ProviderError::from(e);
            log::warn(&format!(
                "CyberArk logoff failed: {}",
                cordon_plugin_sdk::errors::message(&err)
            ));
        }
    }

    /// Every live session matching `search` (PVWA matches any text field)
    /// in `safe`, all pages.
    pub fn live_sessions(
        &self,
        search: Option<&str>,
        safe: Option<&str>,
    ) -> Result<Vec<LiveSession>, ProviderError> {
        let mut sessions = Vec::new();
        for page in 0..MAX_PAGES {
            let mut path = ApiPath::new("API/LiveSessions")
                .query("Limit", &PAGE.to_string())
                .query("Offset", &(page * PAGE).to_string());
            if let Some(search) = search {
                path = path.query("Search", search);
            }
            if let Some(safe) = safe {
                path = path.query("Safe", safe);
            }
            let body = self.api.get(&path)?.json()?;
            let listed = body["LiveSessions"].as_array().cloned().unwrap_or_default();
            let total = body["Total"].as_u64().unwrap_or(0) as usize;
            let count = listed.len();
            sessions.extend(listed.iter().map(LiveSession::from_json));
            if count < PAGE || sessions.len() >= total {
                break;
            }
        }
        Ok(sessions)
    }

    /// The live session `id`, if it is still live.
    pub fn live_session(&self, id: &str) -> Result<Option<LiveSession>, ProviderError> {
        Ok(self
            .live_sessions(None, None)?
            .into_iter()
            .find(|s| s.id.eq_ignore_ascii_case(id)))
    }

    /// The account `id`; unknown accounts are `not-found`.
    pub fn account(&self, id: &str) -> Result<Account, ProviderError> {
        match self.api.get(&ApiPath::new("API/Accounts").segment(id)) {
            Ok(response) => Ok(Account::from_json(&response.json()?)),
            Err(CallError::Api(e)) if e.status == 404 => Err(not_found(format!(
                "CyberArk has no account {id} ({})",
                e.message
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// The vault user `id` (numeric): `(username, enabled)`.
    pub fn user(&self, id: &str) -> Result<(String, bool), ProviderError> {
        match self.api.get(&ApiPath::new("API/Users").segment(id)) {
            Ok(response) => {
                let user = response.json()?;
                Ok((
                    user["username"].as_str().unwrap_or_default().to_string(),
                    user["enableUser"].as_bool().unwrap_or(true),
                ))
            }
            Err(CallError::Api(e)) if e.status == 404 => Err(not_found(format!(
                "CyberArk has no vault user with id {id} ({})",
                e.message
            ))),
            Err(e) => Err(e.into()),
        }
    }
}

impl Drop for Pvwa {
    fn drop(&mut self) {
        self.logoff();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sessions_and_accounts() {
        let session = LiveSession::from_json(&json!({
            "SessionID": "s1", "User": "svc-agent-7", "AccountUsername": "root",
            "AccountAddress": "db01", "AccountID": "12_34", "SafeName": "Linux-Prod-Root",
            "FromIP": "10.30.1.7", "ProtocolName": "SSH", "CanTerminate": false
        }));
        assert_eq!(session.describe(), "s1 by svc-agent-7 on root@db01");
        assert!(!session.can_terminate && session.can_suspend);

        let account = Account::from_json(&json!({
            "id": "12_34", "name": "n", "address": "db01", "userName": "root",
            "platformId": "UnixSSH", "safeName": "Linux-Prod-Root",
            "secretManagement": { "automaticManagementEnabled": false,
                                  "manualManagementReason": "Cordon", "lastModifiedTime": 1700000000 }
        }));
        assert!(!account.automatic_management);
        assert_eq!(account.manual_management_reason.as_deref(), Some("Cordon"));
        assert_eq!(account.last_modified, Some(1_700_000_000));
        assert!(Account::from_json(&json!({ "id": "x" })).automatic_management);
    }
}
