//! Calling the Okta Management API: the org URL and API token from the host,
//! SSWS authentication, the rate-limit budget, and the reads the actions
//! share (a user, an app, an API token).

use cordon_plugin_sdk::prelude::*;
use cordon_plugin_sdk::serde_json::Value;

/// Where and as whom to call Okta.
pub struct Okta {
    api: Api,
}

/// A user as the actions need it.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: String,
    /// `ACTIVE`, `SUSPENDED`, `DEPROVISIONED`, `STAGED`, `PROVISIONED`,
    /// `LOCKED_OUT`, `PASSWORD_EXPIRED` or `RECOVERY`.
    pub status: String,
    pub login: String,
    pub profile: Value,
}

impl User {
    /// Reads `GET /api/v1/users/{id}`.
    pub fn from_json(value: &Value) -> User {
        User {
            id: value["id"].as_str().unwrap_or_default().to_string(),
            status: value["status"].as_str().unwrap_or_default().to_string(),
            login: value["profile"]["login"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            profile: value["profile"].clone(),
        }
    }

    /// A profile attribute as text, if set.
    pub fn profile_text(&self, key: &str) -> Option<String> {
        self.profile[key]
            .as_str()
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }
}

/// An app (OIDC service apps stand for agents and other non-human identities).
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    pub id: String,
    pub label: String,
    /// `ACTIVE` or `INACTIVE`.
    pub status: String,
    pub client_id: Option<String>,
    pub sign_on_mode: Option<String>,
}

impl App {
    /// Reads `GET /api/v1/apps/{id}`.
    pub fn from_json(value: &Value) -> App {
        let text = |v: &Value| v.as_str().map(str::to_string);
        App {
            id: text(&value["id"]).unwrap_or_default(),
            label: text(&value["label"]).unwrap_or_default(),
            status: text(&value["status"]).unwrap_or_default(),
            client_id: text(&value["credentials"]["oauthClient"]["client_id"]),
            sign_on_mode: text(&value["signOnMode"]),
        }
    }
}

impl Okta {
    /// A client from the plugin's settings: config `org_url` (required) and
    /// `auth_scheme` (`SSWS`, the default, for API tokens; `Bearer` for an
    /// OAuth access token), secret `api_token`.
    pub fn from_settings() -> Result<Okta, ProviderError> {
        let org_url = config("org_url").ok_or_else(|| {
            invalid("config `org_url` is required, e.g. https://example.okta.com")
        })?;
        let scheme = config_or("auth_scheme", "SSWS");
        if scheme != "SSWS" && scheme != "Bearer" {
            return Err(invalid(format!(
                "config `auth_scheme` is `{scheme}`: expected SSWS (API token) or Bearer (OAuth access token)"
            )));
        }
        let api = Api::new(&org_url)?
            .authorization(&scheme, &secret("api_token")?)
            .track_rate_limit_budget();
        Ok(Okta { api })
    }

    /// The underlying API client.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// `okta:<org host>`, the issuer of every Okta identity.
    pub fn issuer(&self) -> String {
        format!("okta:{}", self.api.host())
    }

    /// `api/v1/users/{id}`.
    pub fn user_path(id: &str) -> ApiPath {
        ApiPath::new("api/v1/users").segment(id)
    }

    /// A user by id or login; unknown users are `not-found`.
    pub fn user(&self, key: &str) -> Result<User, ProviderError> {
        match self.api.get(&Okta::user_path(key)) {
            Ok(response) => Ok(User::from_json(&response.json()?)),
            Err(CallError::Api(e)) if e.status == 404 => {
                Err(not_found(format!("Okta has no user {key} ({})", e.message)))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// An app by id; unknown apps are `not-found`.
    pub fn app(&self, id: &str) -> Result<App, ProviderError> {
        match self.api.get(&ApiPath::new("api/v1/apps").segment(id)) {
            Ok(response) => Ok(App::from_json(&response.json()?)),
            Err(CallError::Api(e)) if e.status == 404 => {
                Err(not_found(format!("Okta has no app {id} ({})", e.message)))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// An API token's metadata, or `None` when Okta does not know it (it was
    /// revoked, or never existed: Okta forgets revoked tokens).
    pub fn api_token(&self, id: &str) -> Result<Option<Value>, ProviderError> {
        match self.api.get(&ApiPath::new("api/v1/api-tokens").segment(id)) {
            Ok(response) => Ok(Some(response.json()?)),
            Err(CallError::Api(e)) if e.status == 404 => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cordon_plugin_sdk::serde_json::json;

    #[test]
    fn reads_users_and_apps() {
        let user = User::from_json(&json!({
            "id": "00u1", "status": "ACTIVE",
            "profile": { "login": "alice@example.com", "manager": "bob@example.com", "department": "" }
        }));
        assert_eq!((user.id.as_str(), user.status.as_str()), ("00u1", "ACTIVE"));
        assert_eq!(user.login, "alice@example.com");
        assert_eq!(
            user.profile_text("manager").as_deref(),
            Some("bob@example.com")
        );
        assert_eq!(user.profile_text("department"), None, "empty is unset");
        assert_eq!(user.profile_text("title"), None);

        let app = App::from_json(&json!({
            "id": "0oa1", "label": "agent-7", "status": "INACTIVE", "signOnMode": "OPENID_CONNECT",
            "credentials": { "oauthClient": { "client_id": "0oaclient" } }
        }));
        assert_eq!(app.client_id.as_deref(), Some("0oaclient"));
        assert_eq!(app.status, "INACTIVE");
        assert_eq!(App::from_json(&json!({ "id": "0oa2" })).client_id, None);
    }
}
