//! CyberArk PVWA simulator: logon/logoff, raw session tokens, case-sensitive paths, live
//! sessions, account change and patch, user disable/enable.

mod common;

use common::{client, header, parts};
use cordon_sim::cyberark::{CyberArkConfig, CyberArkSim, CyberArkState, fixtures};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn start() -> (cordon_sim::Running, CyberArkState, fixtures::CyberArkDemo) {
    let (r, s) = CyberArkSim::start(CyberArkConfig::with_user("cordon", "s3cret!"))
        .await
        .unwrap();
    let demo = fixtures::demo(&s);
    (r, s, demo)
}

async fn logon(base: &str, user: &str, pass: &str, concurrent: bool) -> (StatusCode, Value) {
    let resp = client()
        .post(format!("{base}/PasswordVault/API/auth/CyberArk/Logon"))
        .json(&json!({ "username": user, "password": pass, "concurrentSession": concurrent }))
        .send()
        .await
        .unwrap();
    parts(resp).await
}

async fn token(base: &str) -> String {
    let (st, v) = logon(base, "cordon", "s3cret!", true).await;
    assert_eq!(st, StatusCode::OK);
    v.as_str().expect("token is a JSON string").to_owned()
}

async fn call(method: Method, url: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut rb = client().request(method, url).header("Authorization", token);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    parts(rb.send().await.unwrap()).await
}

#[tokio::test]
async fn logon_failures_and_session_tokens() {
    let (r, _s, _demo) = start().await;
    let base = r.base_url();
    let (st, v) = logon(&base, "cordon", "wrong", true).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(v["ErrorCode"], "ITATS004E");
    assert_eq!(
        v["ErrorMessage"],
        "Authentication failure for User [cordon]."
    );
    let (st, _) = logon(&base, "nobody", "x", true).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let t = token(&base).await;
    assert!(t.len() > 100);
    let url = format!("{base}/PasswordVault/API/LiveSessions");
    for bad in ["", "garbage", &format!("Bearer {t}")] {
        let (st, v) = call(Method::GET, &url, bad, None).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        assert_eq!(v["ErrorCode"], "PASWS006E");
    }
    assert_eq!(call(Method::GET, &url, &t, None).await.0, StatusCode::OK);
    // Logoff invalidates the token.
    let off = format!("{base}/PasswordVault/API/Auth/Logoff");
    assert_eq!(call(Method::POST, &off, &t, None).await.0, StatusCode::OK);
    assert_eq!(
        call(Method::GET, &url, &t, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Without concurrentSession, a new logon ends the previous session.
    let (_, first) = logon(&base, "cordon", "s3cret!", false).await;
    let (_, second) = logon(&base, "cordon", "s3cret!", false).await;
    let (first, second) = (first.as_str().unwrap(), second.as_str().unwrap());
    assert_eq!(
        call(Method::GET, &url, first, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(Method::GET, &url, second, None).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn paths_are_case_sensitive() {
    let (r, _s, _demo) = start().await;
    let base = r.base_url();
    let t = token(&base).await;
    for path in [
        "/PasswordVault/api/LiveSessions",
        "/PasswordVault/API/livesessions",
        "/passwordvault/API/LiveSessions",
    ] {
        let resp = client()
            .get(format!("{base}{path}"))
            .header("Authorization", &t)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(header(&resp, "content-type").as_deref(), Some("text/html"));
    }
    let resp = client()
        .post(format!("{base}/PasswordVault/API/auth/cyberark/logon"))
        .json(&json!({ "username": "cordon", "password": "s3cret!" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = client()
        .delete(format!("{base}/PasswordVault/API/LiveSessions"))
        .header("Authorization", &t)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn live_sessions_search_terminate_suspend() {
    let (r, s, demo) = start().await;
    let base = r.base_url();
    let t = token(&base).await;
    let list = |q: &str| format!("{base}/PasswordVault/API/LiveSessions?{q}");
    let (st, v) = call(
        Method::GET,
        &list("Search=db01&Safe=Linux-Prod-Root"),
        &t,
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["Total"], 2);
    let first = &v["LiveSessions"][0];
    for k in [
        "SessionID",
        "User",
        "AccountUsername",
        "AccountAddress",
        "SafeName",
        "FromIP",
        "CanTerminate",
        "CanSuspend",
    ] {
        assert!(!first[k].is_null(), "{k}");
    }
    let (_, v) = call(Method::GET, &list("search=svc-agent-7"), &t, None).await;
    assert_eq!(v["Total"], 2, "query keys are case-insensitive");
    let op = |id: &str, what: &str| format!("{base}/PasswordVault/API/LiveSessions/{id}/{what}/");
    // Suspend / resume are not idempotent.
    let id = &demo.agent_session_id;
    assert_eq!(
        call(Method::POST, &op(id, "Suspend"), &t, None).await.0,
        StatusCode::OK
    );
    assert!(s.live_session(id).unwrap().suspended);
    let (st, v) = call(Method::POST, &op(id, "Suspend"), &t, None).await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert!(v["ErrorCode"].is_string() && v["ErrorMessage"].is_string());
    assert_eq!(
        call(Method::POST, &op(id, "Resume"), &t, None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(Method::POST, &op(id, "Resume"), &t, None).await.0,
        StatusCode::CONFLICT
    );
    // Terminate: 200, then 404; no longer listed.
    assert_eq!(
        call(Method::POST, &op(id, "Terminate"), &t, None).await.0,
        StatusCode::OK
    );
    assert!(s.live_session(id).unwrap().terminated);
    assert_eq!(
        call(Method::POST, &op(id, "Terminate"), &t, None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(Method::POST, &op("nope", "Terminate"), &t, None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, v) = call(Method::GET, &list("Safe=Linux-Prod-Root"), &t, None).await;
    assert_eq!(v["Total"], 1);
    assert_eq!(v["LiveSessions"][0]["SessionID"], demo.alice_session_id);
    // Wrong case of the action → HTML 404, session untouched.
    let resp = client()
        .post(op(&demo.alice_session_id, "terminate"))
        .header("Authorization", &t)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(!s.live_session(&demo.alice_session_id).unwrap().terminated);
}

#[tokio::test]
async fn account_change_and_patch() {
    let (r, s, demo) = start().await;
    let base = r.base_url();
    let t = token(&base).await;
    let id = &demo.shared_root_account_id;
    let acc = format!("{base}/PasswordVault/API/Accounts/{id}");
    let (st, v) = call(Method::GET, &acc, &t, None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["userName"], "root");
    assert_eq!(v["safeName"], "Linux-Prod-Root");
    assert_eq!(v["secretManagement"]["automaticManagementEnabled"], true);
    let before = s.account(id).unwrap().secret_version;
    let change = json!({ "ChangeEntireGroup": false });
    let (st, _) = call(Method::POST, &format!("{acc}/Change"), &t, Some(change)).await;
    assert_eq!(st, StatusCode::OK);
    let after = s.account(id).unwrap();
    assert_eq!(after.secret_version, before + 1);
    assert_eq!(after.cpm_status.as_deref(), Some("success"));
    let patch = json!([{ "op": "replace", "path": "/secretManagement/automaticManagementEnabled", "value": false },
                       { "op": "add", "path": "/secretManagement/manualManagementReason", "value": "INC-42 containment" }]);
    let (st, v) = call(Method::PATCH, &acc, &t, Some(patch)).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["secretManagement"]["automaticManagementEnabled"], false);
    assert!(!s.account(id).unwrap().automatic_management_enabled);
    // Invalid patches are rejected whole.
    let bad = json!([{ "op": "replace", "path": "/secretManagement/automaticManagementEnabled", "value": true },
                     { "op": "replace", "path": "/id", "value": "x" }]);
    assert_eq!(
        call(Method::PATCH, &acc, &t, Some(bad)).await.0,
        StatusCode::BAD_REQUEST
    );
    assert!(!s.account(id).unwrap().automatic_management_enabled);
    let missing = format!("{base}/PasswordVault/API/Accounts/99_9");
    assert_eq!(
        call(Method::GET, &missing, &t, None).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn user_disable_enable() {
    let (r, s, demo) = start().await;
    let base = r.base_url();
    let admin = token(&base).await;
    let (_, agent) = logon(&base, "svc-agent-7", "agent7-Sim!pass", true).await;
    let agent = agent.as_str().unwrap().to_owned();
    let uid = demo.agent_user_id;
    let url = |what: &str| format!("{base}/PasswordVault/API/Users/{uid}/{what}/");
    assert_eq!(
        call(Method::POST, &url("disable"), &admin, None).await.0,
        StatusCode::OK
    );
    assert!(s.user(uid).unwrap().disabled);
    let sessions = format!("{base}/PasswordVault/API/LiveSessions");
    assert_eq!(
        call(Method::GET, &sessions, &agent, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (st, _) = logon(&base, "svc-agent-7", "agent7-Sim!pass", true).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, v) = call(
        Method::GET,
        &format!("{base}/PasswordVault/API/Users/{uid}"),
        &admin,
        None,
    )
    .await;
    assert_eq!((st, &v["enableUser"]), (StatusCode::OK, &json!(false)));
    assert_eq!(
        call(Method::POST, &url("enable"), &admin, None).await.0,
        StatusCode::OK
    );
    assert!(!s.user(uid).unwrap().disabled);
    let (st, _) = logon(&base, "svc-agent-7", "agent7-Sim!pass", true).await;
    assert_eq!(st, StatusCode::OK);
    let missing = format!("{base}/PasswordVault/API/Users/9999/disable/");
    assert_eq!(
        call(Method::POST, &missing, &admin, None).await.0,
        StatusCode::NOT_FOUND
    );
}
