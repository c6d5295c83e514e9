//! Vault simulator: auth, accessor revocation quirks, leases, sudo, AppRole, entities, sealed
//! mode and the rate-limit quota.

mod common;

use common::{client, header, parts};
use cordon_sim::RateLimitConfig;
use cordon_sim::vault::{VaultConfig, VaultSim, fixtures};
use reqwest::StatusCode;
use serde_json::{Value, json};

const ROOT: &str = "hvs.test-root";

async fn start() -> (
    cordon_sim::Running,
    cordon_sim::vault::VaultState,
    fixtures::VaultDemo,
) {
    let (r, s) = VaultSim::start(VaultConfig::with_root_token(ROOT))
        .await
        .unwrap();
    let demo = fixtures::demo(&s);
    (r, s, demo)
}

async fn post(url: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
    let mut rb = client().post(url).json(&body);
    if let Some(t) = token {
        rb = rb.header("X-Vault-Token", t);
    }
    parts(rb.send().await.unwrap()).await
}

#[tokio::test]
async fn auth_is_x_vault_token_only() {
    let (r, _s, demo) = start().await;
    let url = format!("{}/v1/auth/token/lookup-accessor", r.base_url());
    let body = json!({ "accessor": demo.agent_token_accessor });
    assert_eq!(
        post(&url, None, body.clone()).await,
        (
            StatusCode::FORBIDDEN,
            json!({ "errors": ["permission denied"] })
        )
    );
    assert_eq!(
        post(&url, Some("hvs.nope"), body.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    // A bearer header is not accepted by the simulator.
    let resp = client()
        .post(&url)
        .bearer_auth(ROOT)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let (st, v) = post(&url, Some(ROOT), body).await;
    assert_eq!(st, StatusCode::OK);
    let d = &v["data"];
    assert_eq!(d["display_name"], "approle-agent-7");
    assert_eq!(d["entity_id"], demo.agent_entity_id);
    assert_eq!(d["path"], "auth/approle/login");
    assert_eq!(d["meta"]["role_name"], "agent-7");
    assert_eq!(d["id"], "");
    assert!(d["expire_time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        post(&url, Some(ROOT), json!({ "accessor": "nope" })).await,
        (
            StatusCode::BAD_REQUEST,
            json!({ "errors": ["1 error occurred:\n\t* invalid accessor\n\n"] })
        )
    );
}

#[tokio::test]
async fn revoke_accessor_revokes_children_and_leases_and_is_not_idempotent() {
    let (r, s, demo) = start().await;
    let url = format!("{}/v1/auth/token/revoke-accessor", r.base_url());
    let body = json!({ "accessor": demo.agent_token_accessor });
    let (st, _) = post(&url, Some(ROOT), body.clone()).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert!(s.token(&demo.agent_token_accessor).unwrap().revoked);
    assert!(s.token(&demo.agent_child_accessor).unwrap().revoked);
    assert!(s.lease(&demo.agent_db_lease).unwrap().revoked);
    assert!(s.lease(&demo.agent_aws_lease).unwrap().revoked);
    assert!(!s.token(&demo.alice_token_accessor).unwrap().revoked);
    assert!(!s.lease(&demo.alice_lease).unwrap().revoked);
    // Second revoke: 200 with a warning, as OpenBao answers.
    let (st, v) = post(&url, Some(ROOT), body).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["warnings"], json!(["No token found with this accessor"]));
    assert_eq!(v["data"], Value::Null);
    // The revoked token no longer authenticates.
    let lookup = format!("{}/v1/auth/token/lookup-self", r.base_url());
    let resp = client()
        .get(&lookup)
        .header("X-Vault-Token", &demo.agent_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn leases_and_sudo() {
    let (r, s, demo) = start().await;
    let base = r.base_url();
    let revoke = format!("{base}/v1/sys/leases/revoke");
    let (st, _) = post(
        &revoke,
        Some(ROOT),
        json!({ "lease_id": demo.alice_lease, "sync": true }),
    )
    .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert!(s.lease(&demo.alice_lease).unwrap().revoked);
    // Unknown / already revoked lease: 204 as well; async revocation: 202.
    let (st, _) = post(&revoke, Some(ROOT), json!({ "lease_id": demo.alice_lease })).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = post(
        &revoke,
        Some(ROOT),
        json!({ "lease_id": "x/y/z", "sync": false }),
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    // revoke-prefix needs sudo: the responder token gets 403 there but not on revoke.
    let prefix = format!("{base}/v1/sys/leases/revoke-prefix/database/creds/agent-7-readonly");
    let (st, v) = post(&prefix, Some(&demo.responder_token), json!({})).await;
    assert_eq!(
        (st, v),
        (
            StatusCode::FORBIDDEN,
            json!({ "errors": ["permission denied"] })
        )
    );
    assert!(!s.lease(&demo.agent_db_lease).unwrap().revoked);
    let (st, _) = post(&prefix, Some(ROOT), json!({})).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert!(s.lease(&demo.agent_db_lease).unwrap().revoked);
    assert!(!s.lease(&demo.agent_aws_lease).unwrap().revoked);
    // A prefix written as the docs write it, with a trailing slash, is
    // refused before anything else, as OpenBao does.
    let (st, v) = post(
        &format!("{base}/v1/sys/leases/revoke-prefix/auth/approle/"),
        Some(ROOT),
        json!({}),
    )
    .await;
    assert_eq!(
        (st, v),
        (
            StatusCode::BAD_REQUEST,
            json!({ "errors": ["cannot write to a path ending in '/'"] })
        )
    );
    assert!(!s.token(&demo.agent_token_accessor).unwrap().revoked);
    // A prefix covers whole segments only: `auth/approle/log` is not `auth/approle/login`.
    let (st, _) = post(
        &format!("{base}/v1/sys/leases/revoke-prefix/auth/approle/log"),
        Some(ROOT),
        json!({}),
    )
    .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert!(!s.token(&demo.agent_token_accessor).unwrap().revoked);
    // Revoking by an auth prefix revokes the tokens issued there.
    let (st, _) = post(
        &format!("{base}/v1/sys/leases/revoke-prefix/auth/approle"),
        Some(ROOT),
        json!({}),
    )
    .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert!(s.token(&demo.agent_token_accessor).unwrap().revoked);
    assert!(s.token(&demo.agent_child_accessor).unwrap().revoked);
    assert!(!s.token(&demo.alice_token_accessor).unwrap().revoked);
}

#[tokio::test]
async fn approle_secret_id_destroy() {
    let (r, s, demo) = start().await;
    let base = r.base_url();
    let url = |role: &str| {
        format!(
            "{base}/v1/auth/{}/role/{role}/secret-id-accessor/destroy",
            demo.approle_mount
        )
    };
    let body = json!({ "secret_id_accessor": demo.agent_secret_id_accessor });
    // Through another role of the same mount: 403, and its lookup 204.
    let (st, v) = post(&url("ci-deployer"), Some(ROOT), body.clone()).await;
    assert_eq!(
        (st, v),
        (
            StatusCode::FORBIDDEN,
            json!({ "errors": ["invalid secret id accessor"] })
        )
    );
    let lookup = url("ci-deployer").replace("/destroy", "/lookup");
    let (st, v) = post(&lookup, Some(ROOT), body.clone()).await;
    assert_eq!((st, v), (StatusCode::NO_CONTENT, Value::Null));
    assert!(!s.secret_id_destroyed("approle", "agent-7", &demo.agent_secret_id_accessor));
    let (st, _) = post(&url("agent-7"), Some(&demo.responder_token), body.clone()).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert!(s.secret_id_destroyed("approle", "agent-7", &demo.agent_secret_id_accessor));
    // Again: Vault's plain backend error, 500.
    let (st, v) = post(&url("agent-7"), Some(ROOT), body.clone()).await;
    assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        v["errors"][0]
            .as_str()
            .unwrap()
            .contains("failed to find accessor entry")
    );
    let (st, v) = post(&url("no-such-role"), Some(ROOT), body).await;
    assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(v["errors"][0].as_str().unwrap().contains("does not exist"));
}

#[tokio::test]
async fn entity_disable_blocks_tokens_without_revoking() {
    let (r, s, demo) = start().await;
    let url = format!(
        "{}/v1/identity/entity/id/{}",
        r.base_url(),
        demo.agent_entity_id
    );
    let (st, _) = post(&url, Some(ROOT), json!({ "disabled": true })).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert!(s.entity(&demo.agent_entity_id).unwrap().disabled);
    let resp = client()
        .get(&url)
        .header("X-Vault-Token", ROOT)
        .send()
        .await
        .unwrap();
    let (st, v) = parts(resp).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["data"]["disabled"], true);
    assert_eq!(v["data"]["name"], "agent-7");
    // The agent's token is refused but not revoked.
    let self_url = format!("{}/v1/auth/token/lookup-self", r.base_url());
    let resp = client()
        .get(&self_url)
        .header("X-Vault-Token", &demo.agent_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(!s.token(&demo.agent_token_accessor).unwrap().revoked);
    let (st, _) = post(&url, Some(ROOT), json!({ "disabled": false })).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let resp = client()
        .get(&self_url)
        .header("X-Vault-Token", &demo.agent_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // Unknown entity: 404 with an empty error list on read.
    let missing = format!("{}/v1/identity/entity/id/nope", r.base_url());
    let resp = client()
        .get(&missing)
        .header("X-Vault-Token", ROOT)
        .send()
        .await
        .unwrap();
    assert_eq!(
        parts(resp).await,
        (StatusCode::NOT_FOUND, json!({ "errors": [] }))
    );
}

#[tokio::test]
async fn sealed_mode() {
    let (r, s, demo) = start().await;
    let url = format!("{}/v1/auth/token/lookup-accessor", r.base_url());
    let resp = client()
        .post(format!("{}/__sim/seal", r.base_url()))
        .json(&json!({ "sealed": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(s.sealed());
    let (st, v) = post(
        &url,
        Some(ROOT),
        json!({ "accessor": demo.agent_token_accessor }),
    )
    .await;
    assert_eq!(
        (st, v),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "errors": ["Vault is sealed"] })
        )
    );
    s.set_sealed(false);
    let (st, _) = post(
        &url,
        Some(ROOT),
        json!({ "accessor": demo.agent_token_accessor }),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test]
async fn rate_limit_quota_answers_429_with_retry_after() {
    let cfg = VaultConfig {
        rate_limit: Some(RateLimitConfig::new(3, 60)),
        ..VaultConfig::with_root_token(ROOT)
    };
    let (r, s) = VaultSim::start(cfg).await.unwrap();
    let url = format!("{}/v1/auth/token/lookup-self", r.base_url());
    let mut limited = None;
    for _ in 0..10 {
        let resp = client()
            .get(&url)
            .header("X-Vault-Token", ROOT)
            .send()
            .await
            .unwrap();
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = header(&resp, "retry-after").unwrap().parse().unwrap();
            limited = Some((retry, parts(resp).await.1));
            break;
        }
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let (retry, body) = limited.expect("a 429 within 10 requests");
    assert!((1..=60).contains(&retry));
    assert_eq!(
        body,
        json!({ "errors": ["request path \"auth/token/lookup-self\": rate limit quota exceeded"] })
    );
    // Exactly `limit` requests passed in the window of the 429.
    let log = s.requests();
    let last = log.last().unwrap();
    assert_eq!(last.status, 429);
    let passed = log
        .iter()
        .filter(|x| x.window_reset_secs == last.window_reset_secs && x.status != 429)
        .count();
    assert_eq!(passed, 3);
    assert_eq!(s.stats().rate_limited, 1);
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let (r, _s, demo) = start().await;
    let url = format!("{}/v1/secret/data/foo", r.base_url());
    let resp = client()
        .get(&url)
        .header("X-Vault-Token", ROOT)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = client()
        .get(&url)
        .header("X-Vault-Token", &demo.responder_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = client()
        .delete(format!("{}/v1/auth/token/lookup-accessor", r.base_url()))
        .header("X-Vault-Token", ROOT)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    let resp = client()
        .post(format!("{}/v1/auth/token/revoke-accessor", r.base_url()))
        .header("X-Vault-Token", ROOT)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        parts(resp).await,
        (
            StatusCode::BAD_REQUEST,
            json!({ "errors": ["error parsing JSON"] })
        )
    );
}
