//! Shared knobs: fault injection, deterministic seeds, the admin surface, shutdown.

mod common;

use std::time::Instant;

use common::{client, header, parts};
use cordon_sim::cyberark::{CyberArkConfig, CyberArkSim};
use cordon_sim::okta::{OktaConfig, OktaSim};
use cordon_sim::vault::{VaultConfig, VaultSim};
use cordon_sim::{Faults, RateLimitConfig};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn burst_5xx_then_recovery() {
    let (r, s) = VaultSim::start(VaultConfig::with_root_token("root"))
        .await
        .unwrap();
    s.set_faults(Faults {
        burst_5xx: 2,
        ..Faults::none()
    });
    let url = format!("{}/v1/auth/token/lookup-self", r.base_url());
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let resp = client()
            .get(&url)
            .header("X-Vault-Token", "root")
            .send()
            .await
            .unwrap();
        statuses.push(parts(resp).await);
    }
    let sealed = json!({ "errors": ["Vault is sealed"] });
    assert_eq!(
        statuses[0],
        (StatusCode::SERVICE_UNAVAILABLE, sealed.clone())
    );
    assert_eq!(statuses[1], (StatusCode::SERVICE_UNAVAILABLE, sealed));
    assert_eq!(statuses[2].0, StatusCode::OK);
    let stats = s.stats();
    assert_eq!(
        (stats.total, stats.injected_faults, stats.passed),
        (3, 2, 1)
    );
    assert_eq!(s.faults().burst_5xx, 0);
}

#[tokio::test]
async fn error_rate_over_admin_endpoint_keeps_okta_headers() {
    let (r, s) = OktaSim::start(OktaConfig::with_api_token("t"))
        .await
        .unwrap();
    let admin = format!("{}/__sim/faults", r.base_url());
    let resp = client()
        .post(&admin)
        .json(&json!({ "error_rate": 1.0 }))
        .send()
        .await
        .unwrap();
    let (st, v) = parts(resp).await;
    assert_eq!((st, &v["error_rate"]), (StatusCode::OK, &json!(1.0)));
    let url = format!("{}/api/v1/users/admin@example.com", r.base_url());
    let resp = client()
        .get(&url)
        .header("Authorization", "SSWS t")
        .send()
        .await
        .unwrap();
    assert!(header(&resp, "x-rate-limit-remaining").is_some());
    let (st, v) = parts(resp).await;
    assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(v["errorCode"], "E0000009");
    client()
        .post(&admin)
        .json(&json!({ "error_rate": 0.0 }))
        .send()
        .await
        .unwrap();
    let resp = client()
        .get(&url)
        .header("Authorization", "SSWS t")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // Admin requests are not counted.
    assert_eq!(s.stats().total, 2);
}

#[tokio::test]
async fn latency_is_added() {
    let cfg = CyberArkConfig {
        faults: Faults {
            latency_ms: 150,
            ..Faults::none()
        },
        ..CyberArkConfig::default()
    };
    let (r, _s) = CyberArkSim::start(cfg).await.unwrap();
    let t0 = Instant::now();
    let resp = client()
        .get(format!("{}/PasswordVault/API/LiveSessions", r.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(t0.elapsed().as_millis() >= 150);
}

async fn statuses_with_seed(seed: u64) -> Vec<u16> {
    let cfg = OktaConfig {
        faults: Faults {
            error_rate: 0.5,
            seed: Some(seed),
            ..Faults::none()
        },
        ..OktaConfig::with_api_token("t")
    };
    let (r, _s) = OktaSim::start(cfg).await.unwrap();
    let url = format!("{}/api/v1/users/admin@example.com", r.base_url());
    let mut out = Vec::new();
    for _ in 0..30 {
        let resp = client()
            .get(&url)
            .header("Authorization", "SSWS t")
            .send()
            .await
            .unwrap();
        out.push(resp.status().as_u16());
    }
    out
}

#[tokio::test]
async fn seeded_faults_are_reproducible() {
    let a = statuses_with_seed(42).await;
    let b = statuses_with_seed(42).await;
    assert_eq!(a, b);
    assert!(a.contains(&500) && a.contains(&200), "{a:?}");
}

#[tokio::test]
async fn admin_surface_needs_no_auth() {
    let (r, s) = CyberArkSim::start(CyberArkConfig::default()).await.unwrap();
    let base = r.base_url();
    let resp = client()
        .post(format!("{base}/__sim/seed"))
        .json(&json!({ "demo": true, "accounts": [{ "address": "h1", "user_name": "u", "platform_id": "UnixSSH", "safe_name": "S" }] }))
        .send()
        .await
        .unwrap();
    let (st, v) = parts(resp).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["demo"]["shared_root_account_id"], "12_34");
    let new_id = v["accounts"][0].as_str().unwrap();
    assert!(s.account(new_id).is_some());
    // A provider request, then the dump and the log.
    client()
        .get(format!("{base}/PasswordVault/API/LiveSessions"))
        .send()
        .await
        .unwrap();
    let (st, v) = parts(
        client()
            .get(format!("{base}/__sim/state"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["provider"]["live_sessions"].as_array().unwrap().len(), 4);
    assert_eq!(v["stats"]["total"], 1);
    let (_, log) = parts(
        client()
            .get(format!("{base}/__sim/requests"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(log[0]["path"], "/PasswordVault/API/LiveSessions");
    assert_eq!(log[0]["status"], 401);
    let resp = client()
        .post(format!("{base}/__sim/rate-limit"))
        .json(&json!({ "limit": 1, "window_secs": 60 }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(s.sim().rate_limit(), Some(RateLimitConfig::new(1, 60)));
    let resp = client()
        .post(format!("{base}/__sim/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(s.requests().is_empty());
}

#[tokio::test]
async fn shutdown_releases_the_port() {
    let (r, _s) = VaultSim::start(VaultConfig::default()).await.unwrap();
    let addr = r.addr;
    assert!(r.base_url().starts_with("http://127.0.0.1:"));
    r.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// A lost answer applies the request and never answers it; a hung request
/// does neither. Both leave the client to give up on its own.
#[tokio::test]
async fn lost_answers_apply_and_hung_requests_do_not() {
    let (r, s) = VaultSim::start(VaultConfig::with_root_token("root"))
        .await
        .unwrap();
    let first = s.seed_token(cordon_sim::vault::TokenSpec::new("first"));
    let second = s.seed_token(cordon_sim::vault::TokenSpec::new("second"));
    let revoke = |accessor: String| {
        let url = format!("{}/v1/auth/token/revoke-accessor", r.base_url());
        async move {
            client()
                .post(&url)
                .header("X-Vault-Token", "root")
                .timeout(std::time::Duration::from_millis(300))
                .json(&json!({ "accessor": accessor }))
                .send()
                .await
        }
    };
    s.set_faults(Faults::lose_answers(1, "revoke-accessor"));
    // A lookup is not counted; the revocation is applied and unanswered.
    let lookup = client()
        .get(format!("{}/v1/auth/token/lookup-self", r.base_url()))
        .header("X-Vault-Token", "root")
        .send()
        .await
        .unwrap();
    assert_eq!(lookup.status(), StatusCode::OK);
    let lost = revoke(first.clone()).await;
    assert!(lost.unwrap_err().is_timeout());
    assert!(s.token(&first).unwrap().revoked, "applied, answer lost");
    assert_eq!(s.faults().lose_answers, 0);

    s.set_faults(Faults {
        hang_rate: 1.0,
        ..Faults::none()
    });
    let hung = revoke(second.clone()).await;
    assert!(hung.unwrap_err().is_timeout());
    assert!(!s.token(&second).unwrap().revoked, "never handled");
}
