//! OIDC bearer tokens: JWTs verified against the issuer's JWKS, found
//! through its discovery document, cached, and fetched again when a token
//! names a key id the cache does not hold (keys rotate).

use crate::auth::{Principal, Refusal};
use cordon_config::server::OidcConfig;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Signature algorithms accepted (never `none`, never HMAC: the issuer's
/// public keys verify, nothing shared does).
const ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Unknown key ids fetch the key set again at most this many times a minute,
/// so tokens naming made-up keys cannot flood the issuer.
const REFRESHES_PER_MINUTE: usize = 6;

/// Verifies the issuer's JWTs.
pub struct OidcVerifier {
    config: OidcConfig,
    client: reqwest::Client,
    keys: Mutex<Option<Keys>>,
}

struct Keys {
    jwks_uri: String,
    set: JwkSet,
    /// When the set was fetched, within the last minute.
    fetches: std::collections::VecDeque<Instant>,
}

impl OidcVerifier {
    /// A verifier for `config`'s issuer; nothing is fetched until a token arrives.
    pub fn new(config: OidcConfig) -> OidcVerifier {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        OidcVerifier {
            config,
            client,
            keys: Mutex::new(None),
        }
    }

    /// The principal a JWT names, once its signature, issuer, audience and
    /// lifetime check out.
    pub async fn verify(&self, token: &str) -> Result<Principal, Refusal> {
        let refuse = |why: &str| Refusal(format!("OIDC token refused: {why}"));
        let header = decode_header(token).map_err(|_| refuse("not a JWT"))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(refuse("its signature algorithm is not accepted"));
        }
        let kid = header
            .kid
            .ok_or_else(|| refuse("its header names no key (kid)"))?;
        let jwk = self.key(&kid).await?;
        let key =
            DecodingKey::from_jwk(&jwk).map_err(|_| refuse("the issuer's key is unusable"))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = 30;
        let claims = decode::<Value>(token, &key, &validation)
            .map_err(|e| refuse(&format!("{:?}", e.kind()).to_lowercase()))?
            .claims;
        let name = claims[&self.config.principal_claim]
            .as_str()
            .filter(|n| !n.is_empty() && n.len() <= 256 && !n.chars().any(char::is_control))
            .ok_or_else(|| {
                refuse(&format!(
                    "it has no `{}` claim",
                    self.config.principal_claim
                ))
            })?;
        let teams = (!self.config.group_teams.is_empty()).then(|| {
            let groups: Vec<&str> = match &claims[&self.config.groups_claim] {
                Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                Value::String(one) => vec![one.as_str()],
                _ => Vec::new(),
            };
            let mut teams: Vec<String> = groups
                .iter()
                .filter_map(|g| self.config.group_teams.get(*g).cloned())
                .collect();
            teams.sort();
            teams.dedup();
            teams
        });
        Ok(Principal {
            name: name.to_string(),
            credential: format!("oidc:{}", self.config.issuer),
            scopes: self.config.scopes.clone(),
            teams,
        })
    }

    /// The key called `kid`, fetching the key set again when it is unknown.
    async fn key(&self, kid: &str) -> Result<jsonwebtoken::jwk::Jwk, Refusal> {
        let mut keys = self.keys.lock().await;
        if let Some(found) = keys.as_ref().and_then(|k| k.set.find(kid)) {
            return Ok(found.clone());
        }
        let mut fetches = keys.as_ref().map(|k| k.fetches.clone()).unwrap_or_default();
        while fetches
            .front()
            .is_some_and(|t| t.elapsed() >= Duration::from_secs(60))
        {
            fetches.pop_front();
        }
        if fetches.len() < REFRESHES_PER_MINUTE {
            let jwks_uri = match keys.as_ref() {
                Some(k) => k.jwks_uri.clone(),
                None => self.discover().await?,
            };
            let set = self.fetch_keys(&jwks_uri).await?;
            fetches.push_back(Instant::now());
            *keys = Some(Keys {
                jwks_uri,
                set,
                fetches,
            });
        }
        keys.as_ref()
            .and_then(|k| k.set.find(kid))
            .cloned()
            .ok_or_else(|| Refusal("OIDC token refused: the issuer publishes no such key".into()))
    }

    async fn discover(&self) -> Result<String, Refusal> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let document: Value = self.get_json(&url).await?;
        if document["issuer"].as_str() != Some(self.config.issuer.as_str()) {
            return Err(unavailable("the discovery document names another issuer"));
        }
        document["jwks_uri"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| unavailable("the discovery document has no jwks_uri"))
    }

    async fn fetch_keys(&self, url: &str) -> Result<JwkSet, Refusal> {
        let value: Value = self.get_json(url).await?;
        serde_json::from_value(value).map_err(|_| unavailable("the issuer's key set is unreadable"))
    }

    async fn get_json(&self, url: &str) -> Result<Value, Refusal> {
        let response = self.client.get(url).send().await.map_err(|e| {
            tracing::warn!("cannot reach the OIDC issuer at {url}: {e}");
            unavailable("the issuer cannot be reached")
        })?;
        if !response.status().is_success() {
            return Err(unavailable(&format!(
                "the issuer answered {}",
                response.status()
            )));
        }
        response
            .json()
            .await
            .map_err(|_| unavailable("the issuer's answer is not JSON"))
    }
}

fn unavailable(why: &str) -> Refusal {
    Refusal(format!("OIDC token not verifiable now: {why}"))
}
