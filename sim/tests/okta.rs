//! Okta simulator: auth, rate-limit headers and 429s, non-idempotent lifecycle, sessions,
//! grants, apps, API tokens.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{client, header, parts};
use cordon_sim::RateLimitConfig;
use cordon_sim::okta::{OktaConfig, OktaSim, OktaState, fixtures};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "00test-okta-token";

async fn start(limit: RateLimitConfig) -> (cordon_sim::Running, OktaState, fixtures::OktaDemo) {
    let cfg = OktaConfig {
        rate_limit: limit,
        ..OktaConfig::with_api_token(TOKEN)
    };
    let (r, s) = OktaSim::start(cfg).await.unwrap();
    let demo = fixtures::demo(&s);
    (r, s, demo)
}

async fn call(method: Method, url: &str) -> (StatusCode, Value) {
    let resp = client()
        .request(method, url)
        .header("Authorization", format!("SSWS {TOKEN}"))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert!(
        header(&resp, "x-rate-limit-limit").is_some(),
        "headers on {url}"
    );
    parts(resp).await
}

fn assert_error(v: &Value, code: &str) {
    assert_eq!(v["errorCode"], code, "{v}");
    assert_eq!(v["errorLink"], code);
    assert!(v["errorId"].as_str().unwrap().starts_with("oae"));
    assert!(v["errorCauses"].is_array());
    assert!(v["errorSummary"].is_string());
}

#[tokio::test]
async fn auth_rejection_carries_rate_limit_headers() {
    let (r, _s, demo) = start(RateLimitConfig::okta_default()).await;
    let url = format!("{}/api/v1/users/{}", r.base_url(), demo.alice_id);
    for auth in [None, Some("SSWS wrong"), Some(TOKEN)] {
        let mut rb = client().get(&url);
        if let Some(a) = auth {
            rb = rb.header("Authorization", a);
        }
        let resp = rb.send().await.unwrap();
        assert_eq!(header(&resp, "x-rate-limit-limit").as_deref(), Some("600"));
        assert!(header(&resp, "x-rate-limit-remaining").is_some());
        assert!(header(&resp, "x-rate-limit-reset").is_some());
        let (st, v) = parts(resp).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        assert_error(&v, "E0000011");
        assert_eq!(v["errorSummary"], "Invalid token provided");
    }
    // Bearer works like SSWS.
    let resp = client().get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn get_user_by_id_and_login() {
    let (r, _s, demo) = start(RateLimitConfig::okta_default()).await;
    for key in [demo.alice_id.as_str(), &demo.alice_login, "alice.nguyen"] {
        let (st, v) = call(Method::GET, &format!("{}/api/v1/users/{key}", r.base_url())).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(v["id"], demo.alice_id);
        assert_eq!(v["status"], "ACTIVE");
        assert_eq!(v["profile"]["manager"], "bob.martinez@example.com");
        assert_eq!(v["profile"]["managerId"], demo.bob_id);
        assert_eq!(v["profile"]["department"], "Platform Engineering");
        assert!(v["created"].as_str().unwrap().ends_with('Z'));
    }
    let (st, v) = call(
        Method::GET,
        &format!("{}/api/v1/users/00unope", r.base_url()),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_error(&v, "E0000007");
    assert_eq!(
        v["errorSummary"],
        "Not found: Resource not found: 00unope (User)"
    );
}

#[tokio::test]
async fn suspend_is_not_idempotent() {
    let (r, s, demo) = start(RateLimitConfig::okta_default()).await;
    let base = format!("{}/api/v1/users/{}/lifecycle", r.base_url(), demo.alice_id);
    let (st, v) = call(Method::POST, &format!("{base}/suspend")).await;
    assert_eq!((st, v), (StatusCode::OK, json!({})));
    assert_eq!(s.user(&demo.alice_id).unwrap().status, "SUSPENDED");
    let (st, v) = call(Method::POST, &format!("{base}/suspend")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_error(&v, "E0000001");
    assert_eq!(
        v["errorSummary"],
        "Api validation failed: Cannot suspend a user that is not active"
    );
    let (st, _) = call(Method::POST, &format!("{base}/unsuspend")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(s.user(&demo.alice_id).unwrap().status, "ACTIVE");
    let (st, v) = call(Method::POST, &format!("{base}/unsuspend")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_error(&v, "E0000001");
    // Carol starts SUSPENDED.
    let url = format!(
        "{}/api/v1/users/{}/lifecycle/suspend",
        r.base_url(),
        demo.carol_id
    );
    assert_eq!(call(Method::POST, &url).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn sessions_grants_and_client_tokens() {
    let (r, s, demo) = start(RateLimitConfig::okta_default()).await;
    let user = format!("{}/api/v1/users/{}", r.base_url(), demo.alice_id);
    assert_eq!(s.sessions_of(&demo.alice_id).len(), 2);
    // Tokens for one client only.
    let url = format!("{user}/clients/{}/tokens", demo.ide_client_id);
    assert_eq!(call(Method::DELETE, &url).await.0, StatusCode::NO_CONTENT);
    let left = s.tokens_of(&demo.alice_id);
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|t| t.client_id == demo.agent_client_id));
    let url = format!("{user}/clients/0oanope/tokens");
    assert_eq!(call(Method::DELETE, &url).await.0, StatusCode::NOT_FOUND);
    // Sessions without oauthTokens keep the tokens; with it, clears them.
    let (st, _) = call(Method::DELETE, &format!("{user}/sessions")).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert!(s.sessions_of(&demo.alice_id).is_empty());
    assert_eq!(s.tokens_of(&demo.alice_id).len(), 2);
    let (st, _) = call(Method::DELETE, &format!("{user}/sessions?oauthTokens=true")).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert!(s.tokens_of(&demo.alice_id).is_empty());
    assert_eq!(s.sessions_of(&demo.bob_id).len(), 1);
    // Grants.
    let (st, v) = call(Method::GET, &format!("{user}/grants")).await;
    assert_eq!((st, v.as_array().unwrap().len()), (StatusCode::OK, 2));
    let (st, _) = call(Method::DELETE, &format!("{user}/grants")).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert!(s.grants_of(&demo.alice_id).is_empty());
}

#[tokio::test]
async fn apps_and_api_tokens() {
    let (r, s, demo) = start(RateLimitConfig::okta_default()).await;
    let app = format!("{}/api/v1/apps/{}", r.base_url(), demo.agent_app_id);
    for _ in 0..2 {
        let (st, v) = call(Method::POST, &format!("{app}/lifecycle/deactivate")).await;
        assert_eq!((st, v), (StatusCode::OK, json!({})));
        assert_eq!(s.app(&demo.agent_app_id).unwrap().status, "INACTIVE");
    }
    let (st, v) = call(Method::GET, &app).await;
    assert_eq!((st, &v["status"]), (StatusCode::OK, &json!("INACTIVE")));
    let (st, _) = call(Method::POST, &format!("{app}/lifecycle/activate")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(s.app(&demo.agent_app_id).unwrap().status, "ACTIVE");
    let missing = format!("{}/api/v1/apps/0oanope/lifecycle/deactivate", r.base_url());
    let (st, v) = call(Method::POST, &missing).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_error(&v, "E0000007");
    // API tokens.
    let tok = format!(
        "{}/api/v1/api-tokens/{}",
        r.base_url(),
        demo.agent_api_token_id
    );
    assert_eq!(call(Method::DELETE, &tok).await.0, StatusCode::NO_CONTENT);
    assert!(!s.api_token_exists(&demo.agent_api_token_id));
    let (st, v) = call(Method::DELETE, &tok).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_error(&v, "E0000007");
    // Revoking the caller's own token locks it out.
    let own = format!(
        "{}/api/v1/api-tokens/{}",
        r.base_url(),
        cordon_sim::okta::ADMIN_API_TOKEN_ID
    );
    assert_eq!(call(Method::DELETE, &own).await.0, StatusCode::NO_CONTENT);
    assert_eq!(call(Method::GET, &app).await.0, StatusCode::UNAUTHORIZED);
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test]
async fn rate_limit_headers_and_429_without_retry_after() {
    let (r, s, demo) = start(RateLimitConfig::new(5, 2)).await;
    let url = format!("{}/api/v1/users/{}", r.base_url(), demo.alice_id);
    let mut first_429 = None;
    for _ in 0..20 {
        let resp = client()
            .get(&url)
            .header("Authorization", format!("SSWS {TOKEN}"))
            .send()
            .await
            .unwrap();
        let limit = header(&resp, "x-rate-limit-limit").unwrap();
        let remaining: u32 = header(&resp, "x-rate-limit-remaining")
            .unwrap()
            .parse()
            .unwrap();
        let reset: u64 = header(&resp, "x-rate-limit-reset")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(limit, "5");
        assert!(remaining < 5);
        assert_eq!(reset % 2, 0, "windows are aligned on the epoch");
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(header(&resp, "retry-after").is_none());
            assert_eq!(remaining, 0);
            let (_, v) = parts(resp).await;
            assert_error(&v, "E0000047");
            assert_eq!(
                v["errorSummary"],
                "API call exceeded rate limit due to too many requests."
            );
            first_429 = Some(reset);
            break;
        }
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let reset = first_429.expect("a 429 within 20 requests");
    // Wait for the announced reset (at most the 2 s window), then the next request passes.
    let wait = (reset * 1000).saturating_sub(now_ms());
    tokio::time::sleep(Duration::from_millis(wait)).await;
    assert_eq!(call(Method::GET, &url).await.0, StatusCode::OK);
    // Never more than `limit` non-429 responses per window.
    let log = s.requests();
    let mut windows = BTreeMap::<u64, usize>::new();
    for rec in log.iter().filter(|x| x.status != 429) {
        *windows.entry(rec.window_reset_secs.unwrap()).or_default() += 1;
    }
    assert!(windows.values().all(|n| *n <= 5), "{windows:?}");
    assert_eq!(s.stats().rate_limited, 1);
    // No request was sent between the 429 and its window's reset.
    let idx = log.iter().position(|x| x.status == 429).unwrap();
    assert!(log[idx + 1..].iter().all(|x| x.at_ms >= reset * 1000));
}

#[tokio::test]
async fn concurrent_burst_never_exceeds_limit() {
    let (r, s, demo) = start(RateLimitConfig::new(10, 60)).await;
    let url = format!("{}/api/v1/users/{}", r.base_url(), demo.alice_id);
    let c = client();
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let (c, url) = (c.clone(), url.clone());
            tokio::spawn(async move {
                c.get(&url)
                    .header("Authorization", format!("SSWS {TOKEN}"))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        let st = t.await.unwrap();
        assert!(st == StatusCode::OK || st == StatusCode::TOO_MANY_REQUESTS);
        ok += usize::from(st == StatusCode::OK);
    }
    let stats = s.stats();
    assert_eq!(stats.total, 40);
    assert_eq!(stats.passed as usize, ok);
    // A 60 s window is crossed at most once during the burst.
    assert!((10..=20).contains(&ok), "{ok}");
    let mut windows = BTreeMap::<u64, usize>::new();
    for rec in s.requests().iter().filter(|x| x.status == 200) {
        *windows.entry(rec.window_reset_secs.unwrap()).or_default() += 1;
    }
    assert!(windows.values().all(|n| *n <= 10), "{windows:?}");
}
