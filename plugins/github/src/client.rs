//! Calling GitHub's REST API: settings in, clients out, and the reads the
//! actions share. github.com and Enterprise Server differ in two places
//! this client knows: the credential revocation API (unauthenticated on
//! github.com, authenticated on Enterprise Server) and user suspension
//! (Enterprise Server only).

use cordon_plugin_sdk::prelude::*;
use cordon_plugin_sdk::serde_json::{Value, json};

/// Where and as whom to call GitHub.
pub struct GitHub {
    base: String,
    /// Acts with the plugin's token.
    api: Api,
    /// Enterprise Server (`…/api/v3`), not github.com.
    pub enterprise: bool,
    /// The OAuth app's client id and secret, when configured.
    oauth: Option<(String, String)>,
}

/// A repository named `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    /// Its owner.
    pub owner: String,
    /// Its name.
    pub name: String,
}

impl Repo {
    /// Parses `owner/name`; anything else names the parameter that is wrong.
    pub fn parse(text: Option<&str>) -> Result<Repo, ProviderError> {
        let text = text.ok_or_else(|| {
            invalid("parameter `repository` (owner/name) is required, or the target's attribute `repository`")
        })?;
        let valid = |part: &str| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        match text.split_once('/') {
            Some((owner, name)) if valid(owner) && valid(name) => Ok(Repo {
                owner: owner.into(),
                name: name.into(),
            }),
            _ => Err(invalid(format!(
                "parameter `repository`: `{text}` is not owner/name"
            ))),
        }
    }

    /// `owner/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    fn path(&self) -> ApiPath {
        ApiPath::new("repos")
            .segment(&self.owner)
            .segment(&self.name)
    }
}

/// A deploy key as the actions need it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployKey {
    /// Its id.
    pub id: u64,
    /// Its title.
    pub title: String,
    /// The public key.
    pub key: String,
    /// Read-only or read-write.
    pub read_only: bool,
}

impl DeployKey {
    fn from_json(value: &Value) -> Result<DeployKey, ProviderError> {
        let key = value["key"]
            .as_str()
            .ok_or_else(|| invalid("GitHub answered a deploy key without its `key`"))?;
        Ok(DeployKey {
            id: value["id"].as_u64().unwrap_or_default(),
            title: value["title"].as_str().unwrap_or_default().to_string(),
            key: key.to_string(),
            read_only: value["read_only"].as_bool().unwrap_or(true),
        })
    }
}

/// `Accept`, API version and `User-Agent`, as GitHub asks every client.
fn github_api(base: &str) -> Result<Api, ProviderError> {
    Ok(Api::new(base)?
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
        .user_agent(concat!("cordon-plugin-github/", env!("CARGO_PKG_VERSION")))
        .track_rate_limit_budget())
}

fn is_404(error: &CallError) -> bool {
    error.status() == Some(404)
}

impl GitHub {
    /// A client from the settings: config `api_url` (default
    /// `https://api.github.com`; Enterprise Server `https://HOST/api/v3`),
    /// `enterprise_server` (default: whether `api_url` ends in `/api/v3`),
    /// `oauth_client_id`; secrets `token`, `oauth_client_secret`.
    pub fn from_settings() -> Result<GitHub, ProviderError> {
        let base = config_or("api_url", "https://api.github.com");
        let base = base.trim_end_matches('/').to_string();
        let enterprise = match config("enterprise_server").as_deref() {
            Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(invalid(format!(
                    "config `enterprise_server` is `{other}`: use true or false"
                )));
            }
            None => base.ends_with("/api/v3"),
        };
        let api = github_api(&base)?.bearer(&secret("token")?);
        let oauth = match config("oauth_client_id") {
            Some(id) => Some((id, secret("oauth_client_secret")?)),
            None => None,
        };
        Ok(GitHub {
            base,
            api,
            enterprise,
            oauth,
        })
    }

    /// The login a token authenticates as, or none when GitHub refuses it
    /// (revoked, expired or never valid: GitHub does not say which).
    pub fn token_owner(&self, token: &str) -> Result<Option<String>, ProviderError> {
        let probe = github_api(&self.base)?.bearer(token);
        match probe.get(&ApiPath::new("user")) {
            Ok(response) => Ok(response.json()?["login"].as_str().map(str::to_string)),
            Err(e) if e.status() == Some(401) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// `POST /credentials/revoke` for one credential: without
    /// authentication on github.com (GitHub refuses authenticated calls
    /// there), with the plugin's token on Enterprise Server. GitHub allows
    /// 60 calls an hour and answers 422 past them: a rate limit.
    pub fn revoke_credential(&self, token: &str) -> Result<(), ProviderError> {
        let body = json!({ "credentials": [token] });
        let path = ApiPath::new("credentials/revoke");
        let sent = if self.enterprise {
            self.api.post_json(&path, &body)
        } else {
            github_api(&self.base)?.post_json(&path, &body)
        };
        match sent {
            Ok(_) => Ok(()),
            Err(CallError::Api(e)) if e.status == 422 => {
                Err(ProviderError::RateLimited(cordon_plugin_sdk::RateLimit {
                    retry_after_ms: Some(60_000),
                    detail: format!(
                        "GitHub's credential revocation API refused the call ({}): it allows 60 an hour",
                        e.message
                    ),
                }))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A deploy key, or none when the repository no longer has it.
    ///
    /// GitHub answers 404 alike for a key that is gone and for a repository
    /// the token cannot administer (it hides what a caller may not see): on
    /// a 404 the key list is read, and only a list without the key means
    /// "gone" — a refused list is an error, never `already-applied`.
    pub fn deploy_key(&self, repo: &Repo, id: &str) -> Result<Option<DeployKey>, ProviderError> {
        match self.api.get(&repo.path().then("keys").segment(id)) {
            Ok(response) => Ok(Some(DeployKey::from_json(&response.json()?)?)),
            Err(e) if is_404(&e) => {
                let keys = self.deploy_keys(repo)?;
                Ok(keys.into_iter().find(|k| k.id.to_string() == id))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Every deploy key of a repository (the first 100, GitHub's largest
    /// page; a repository rarely has more).
    pub fn deploy_keys(&self, repo: &Repo) -> Result<Vec<DeployKey>, ProviderError> {
        let path = repo.path().then("keys").query("per_page", "100");
        let body = match self.api.get(&path) {
            Ok(response) => response.json()?,
            Err(e) if is_404(&e) => {
                return Err(not_found(format!(
                    "GitHub answers 404 for the deploy keys of {}: the repository does not exist, \
                     or the plugin's token does not administer it (GitHub hides repositories a \
                     token may not manage)",
                    repo.full_name()
                )));
            }
            Err(e) => return Err(e.into()),
        };
        body.as_array()
            .map(|keys| keys.iter().map(DeployKey::from_json).collect())
            .unwrap_or_else(|| Err(invalid("GitHub answered the key list with something else")))
    }

    /// Deletes a deploy key; false when it was already gone.
    pub fn delete_deploy_key(&self, repo: &Repo, id: &str) -> Result<bool, ProviderError> {
        match self.api.delete(&repo.path().then("keys").segment(id)) {
            Ok(_) => Ok(true),
            Err(e) if is_404(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Adds a deploy key; its new id, or none when the key is already there.
    pub fn add_deploy_key(
        &self,
        repo: &Repo,
        key: &DeployKey,
    ) -> Result<Option<u64>, ProviderError> {
        let body = json!({ "title": key.title, "key": key.key, "read_only": key.read_only });
        match self.api.post_json(&repo.path().then("keys"), &body) {
            Ok(response) => Ok(response.json()?["id"].as_u64()),
            Err(CallError::Api(e)) if e.status == 422 && e.mentions("already in use") => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A user's login and, on Enterprise Server, when it was suspended.
    pub fn user(&self, login: &str) -> Result<(String, Option<String>, bool), ProviderError> {
        let body = match self.api.get(&ApiPath::new("users").segment(login)) {
            Ok(response) => response.json()?,
            Err(e) if is_404(&e) => {
                return Err(not_found(format!("GitHub has no user `{login}`")));
            }
            Err(e) => return Err(e.into()),
        };
        let login = body["login"].as_str().unwrap_or(login).to_string();
        let suspended_at = body["suspended_at"].as_str().map(str::to_string);
        Ok((
            login,
            suspended_at,
            body["site_admin"].as_bool().unwrap_or(false),
        ))
    }

    /// Suspends or unsuspends a user (Enterprise Server).
    pub fn set_suspended(&self, login: &str, suspend: bool) -> Result<(), ProviderError> {
        let path = ApiPath::new("users").segment(login).then("suspended");
        if suspend {
            let reason = json!({ "reason": "Suspended by Cordon: identity containment" });
            self.api.put_json(&path, &reason)?;
        } else {
            self.api.delete(&path)?;
        }
        Ok(())
    }

    fn oauth_app(&self) -> Result<(&str, Api), ProviderError> {
        let (id, secret) = self.oauth.as_ref().ok_or_else(|| {
            invalid("revoking an OAuth grant needs config `oauth_client_id` and secret `oauth_client_secret`")
        })?;
        Ok((id.as_str(), github_api(&self.base)?.basic(id, secret)))
    }

    /// The user an OAuth token of the configured app belongs to, or none
    /// when it is not (or no longer) the app's.
    pub fn oauth_token_user(&self, token: &str) -> Result<Option<String>, ProviderError> {
        let (id, app) = self.oauth_app()?;
        let path = ApiPath::new("applications").segment(id).then("token");
        match app.post_json(&path, &json!({ "access_token": token })) {
            Ok(response) => Ok(response.json()?["user"]["login"]
                .as_str()
                .map(str::to_string)),
            Err(e) if is_404(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the user's grant of the app: every token of theirs for it.
    /// False when the token was no longer the app's.
    pub fn delete_oauth_grant(&self, token: &str) -> Result<bool, ProviderError> {
        let (id, app) = self.oauth_app()?;
        let path = ApiPath::new("applications").segment(id).then("grant");
        match app.delete_json(&path, &json!({ "access_token": token })) {
            Ok(_) => Ok(true),
            Err(e) if is_404(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_are_owner_slash_name() {
        let repo = Repo::parse(Some("acme/deploy-target")).unwrap();
        assert_eq!(repo.full_name(), "acme/deploy-target");
        for bad in ["acme", "acme/", "/x", "a/b/c", "acme/..", "ac me/x"] {
            let err = Repo::parse(Some(bad)).unwrap_err();
            assert!(
                format!("{err:?}").contains("parameter `repository`"),
                "{bad}"
            );
        }
        assert!(format!("{:?}", Repo::parse(None).unwrap_err()).contains("is required"));
    }
}
