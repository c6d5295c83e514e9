//! Who is calling: every request carries a credential the server verifies,
//! and handlers act as the [`Caller`] it names — never as a name the caller
//! typed.
//!
//! API tokens look like `cdn_<id>_<secret>`; the config keeps only their
//! sha256 ([`hash_token`]), under their id. Refusals are audited
//! (`access.denied`) with who (when known) and from where.

use crate::oidc::OidcVerifier;
use crate::problem::Problem;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Method, header};
use cordon_config::server::OidcConfig;
use cordon_config::{Scope, TokenEntry};
use cordon_store::{Batch, StoreExt};
use cordon_types::AuditEntry;
use cordon_types::audit::{AccessDenied, AuditEvent};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The prefix of every API token.
pub const TOKEN_PREFIX: &str = "cdn_";

/// A new API token for the token id `id`: the value to hand out once, and
/// the sha256 the config keeps.
pub fn new_token(id: &str) -> (String, String) {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let token = format!("{TOKEN_PREFIX}{id}_{}", hex::encode(secret));
    let hash = hash_token(&token);
    (token, hash)
}

/// The sha256 (lowercase hex) the config keeps for `token`.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The token id a presented token claims, if it has the token's shape.
fn claimed_id(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.rsplit_once('_')?;
    (cordon_config::server::valid_token_id(id) && secret.len() == 64).then_some(id)
}

/// A verified caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The principal the authority model decides for.
    pub name: String,
    /// How it authenticated, for the audit log: `token:ID` or `oidc:ISSUER`.
    pub credential: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// The teams its identity provider's groups put it in (OIDC with
    /// `[server.oidc.teams]`); `None` for API tokens.
    pub teams: Option<Vec<String>>,
}

/// Verifies credentials.
pub struct Authenticator {
    tokens: HashMap<String, TokenEntry>,
    oidc: Option<OidcVerifier>,
}

/// Why a credential was refused (the words never include the credential).
#[derive(Debug)]
pub struct Refusal(pub String);

impl Authenticator {
    /// Accepts the API tokens of the config, and the OIDC issuer's tokens
    /// when one is configured.
    pub fn new(tokens: &[TokenEntry], oidc: Option<OidcConfig>) -> Authenticator {
        Authenticator {
            tokens: tokens.iter().map(|t| (t.id.clone(), t.clone())).collect(),
            oidc: oidc.map(OidcVerifier::new),
        }
    }

    /// The principal `authorization` (the header's value) authenticates.
    pub async fn verify(&self, authorization: Option<&str>) -> Result<Principal, Refusal> {
        let Some(value) = authorization else {
            return Err(Refusal(
                "no credential: send `Authorization: Bearer TOKEN`".into(),
            ));
        };
        let Some(token) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
        else {
            return Err(Refusal(
                "the Authorization header is not a Bearer credential".into(),
            ));
        };
        if !token.starts_with(TOKEN_PREFIX)
            && let Some(oidc) = &self.oidc
            && token.split('.').count() == 3
        {
            return oidc.verify(token).await;
        }
        let Some(entry) = claimed_id(token).and_then(|id| self.tokens.get(id)) else {
            return Err(Refusal("unknown or malformed API token".into()));
        };
        let presented = hash_token(token);
        if bool::from(presented.as_bytes().ct_eq(entry.sha256.as_bytes())) {
            Ok(Principal {
                name: entry.principal.clone(),
                credential: format!("token:{}", entry.id),
                scopes: entry.scopes.clone(),
                teams: None,
            })
        } else {
            Err(Refusal("unknown or malformed API token".into()))
        }
    }
}

/// The authenticated caller of a request, with where it called from.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who.
    pub principal: Principal,
    /// The peer address.
    pub from: String,
    method: Method,
    path: String,
}

impl Caller {
    /// The principal's name.
    pub fn name(&self) -> &str {
        &self.principal.name
    }

    /// Passes if the caller holds `scope`; otherwise audits the refusal and
    /// answers 403.
    pub async fn require(&self, state: &AppState, scope: Scope) -> Result<(), Problem> {
        if self.principal.scopes.contains(&scope) {
            return Ok(());
        }
        let reason = format!("the credential lacks the `{}` scope", scope.as_str());
        self.refused(state, 403, &reason).await;
        Err(Problem::forbidden(format!(
            "{} may not do this: {reason}",
            self.name()
        )))
    }

    /// Audits a 403 decided elsewhere (e.g. by the authority model, when it
    /// does not audit the refusal itself).
    pub async fn refused(&self, state: &AppState, status: u16, reason: &str) {
        let denied = AccessDenied {
            status,
            from: self.from.clone(),
            method: self.method.to_string(),
            path: self.path.clone(),
            reason: reason.to_string(),
            credential: Some(self.principal.credential.clone()),
        };
        audit_denial(state, Some(self.name()), denied).await;
    }
}

/// Records an `access.denied` entry; a store failure is logged, since the
/// request is refused either way.
pub async fn audit_denial(state: &AppState, principal: Option<&str>, denied: AccessDenied) {
    let mut entry = AuditEntry::new(AuditEvent::AccessDenied(denied));
    if let Some(principal) = principal {
        entry = entry.by(principal);
    }
    if let Err(err) = state.store.commit(Batch::new().audit(entry)).await {
        tracing::error!("cannot audit a refused request: {err}");
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Caller, Problem> {
        let from = parts
            .extensions
            .get::<ConnectInfo<crate::tls::Peer>>()
            .map(|c| c.0.0.to_string())
            .unwrap_or_else(|| "unknown".into());
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match state.auth.verify(authorization).await {
            Ok(principal) => {
                // What the identity provider says now replaces what it said before.
                if let (Some(teams), Some(authority)) = (&principal.teams, &state.authority) {
                    authority
                        .model()
                        .directory
                        .set(&principal.name, teams.clone());
                }
                state
                    .limiter
                    .check(&format!("principal:{}", principal.name))?;
                Ok(Caller {
                    principal,
                    from,
                    method: parts.method.clone(),
                    path: parts.uri.path().to_string(),
                })
            }
            Err(Refusal(reason)) => {
                let ip = from.rsplit_once(':').map_or(from.as_str(), |(ip, _)| ip);
                if parts.uri.path().starts_with("/v1/signals") {
                    state.metrics.signal("unknown", "unauthenticated");
                }
                state.limiter.check(&format!("address:{ip}"))?;
                let denied = AccessDenied {
                    status: 401,
                    from: from.clone(),
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_string(),
                    reason: reason.clone(),
                    credential: None,
                };
                audit_denial(state, None, denied).await;
                Err(Problem::unauthorized(reason))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authenticator(token: &str) -> Authenticator {
        Authenticator::new(
            &[TokenEntry {
                id: "nadia".into(),
                principal: "nadia@acme.example".into(),
                sha256: hash_token(token),
                scopes: vec![Scope::Read],
            }],
            None,
        )
    }

    #[tokio::test]
    async fn a_token_authenticates_its_principal_and_nothing_else_does() {
        let (token, hash) = new_token("nadia");
        assert_eq!(hash, hash_token(&token));
        assert!(token.starts_with("cdn_nadia_"));
        let auth = authenticator(&token);
        let principal = auth.verify(Some(&format!("Bearer {token}"))).await.unwrap();
        assert_eq!(principal.name, "nadia@acme.example");
        assert_eq!(principal.credential, "token:nadia");

        let mut forged = token.clone();
        forged.pop();
        forged.push(if token.ends_with('0') { '1' } else { '0' });
        let (other, _) = new_token("ivan");
        for bad in [
            None,
            Some(token.clone()),
            Some(format!("Basic {token}")),
            Some(format!("Bearer {forged}")),
            Some(format!("Bearer {other}")),
            Some("Bearer cdn_nadia_".to_string()),
            Some("Bearer ".to_string()),
        ] {
            let refusal = auth.verify(bad.as_deref()).await.unwrap_err();
            assert!(!refusal.0.contains(&token[10..]), "{refusal:?}");
        }
    }
}
