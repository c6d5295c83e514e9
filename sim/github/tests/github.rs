//! The simulator answers like GitHub's REST API: status codes, error bodies,
//! headers and quirks, in both modes.

use cordon_sim::RateLimitConfig;
use cordon_sim_github::fixtures::{self, GitHubDemo};
use cordon_sim_github::{GitHubConfig, GitHubSim, GitHubState, Mode};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

struct Gh {
    _running: cordon_sim::Running,
    state: GitHubState,
    demo: GitHubDemo,
    api: String,
    http: Client,
}

async fn start(mode: Mode, rate_limit: Option<RateLimitConfig>) -> Gh {
    let mut config = GitHubConfig::new(mode);
    config.rate_limit = rate_limit;
    let (running, state) = GitHubSim::start(config).await.unwrap();
    let demo = fixtures::demo(&state);
    let api = match mode {
        Mode::DotCom => running.base_url(),
        Mode::EnterpriseServer => format!("{}/api/v3", running.base_url()),
    };
    Gh {
        _running: running,
        state,
        demo,
        api,
        http: Client::new(),
    }
}

impl Gh {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.api))
            .header("user-agent", "sim-test");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let text = response.text().await.unwrap();
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn basic(&self, method: Method, path: &str, secret: &str, token: &str) -> StatusCode {
        self.http
            .request(method, format!("{}{path}", self.api))
            .header("user-agent", "sim-test")
            .basic_auth(&self.demo.oauth_client_id, Some(secret))
            .json(&json!({ "access_token": token }))
            .send()
            .await
            .unwrap()
            .status()
    }
}

#[tokio::test]
async fn requests_need_a_user_agent_and_good_credentials() {
    let gh = start(Mode::DotCom, None).await;
    let no_agent = gh
        .http
        .get(format!("{}/user", gh.api))
        .send()
        .await
        .unwrap();
    assert_eq!(no_agent.status(), StatusCode::FORBIDDEN);
    assert!(no_agent.text().await.unwrap().contains("User-Agent header"));

    let (status, headers, body) = gh.call(Method::GET, "/user", Some("ghp_nope"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["message"], "Bad credentials");
    assert_eq!(body["status"], "401");
    assert!(body["documentation_url"].is_string());
    assert_eq!(headers["x-ratelimit-resource"], "core");

    let (status, headers, body) = gh
        .call(Method::GET, "/user", Some(&gh.demo.leaked_token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["login"], "octocat");
    assert!(
        body.get("suspended_at").is_none(),
        "github.com has no suspension"
    );
    for name in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-ratelimit-used",
    ] {
        assert!(headers.contains_key(name), "{name}");
    }
    let (status, _, _) = gh
        .call(Method::GET, "/nowhere", Some(&gh.demo.admin_token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn credentials_are_revoked_unauthenticated_on_github_com_and_authenticated_on_ghes() {
    let gh = start(Mode::DotCom, None).await;
    let body = json!({ "credentials": [gh.demo.leaked_token, "ghp_unknownvalue"] });
    let (status, _, refused) = gh
        .call(
            Method::POST,
            "/credentials/revoke",
            Some(&gh.demo.admin_token),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(gh.state.token_alive(&gh.demo.leaked_token));
    let (status, _, _) = gh
        .call(Method::POST, "/credentials/revoke", None, Some(body))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(!gh.state.token_alive(&gh.demo.leaked_token));
    assert!(gh.state.token_alive(&gh.demo.fine_grained_token));
    let (status, _, body) = gh
        .call(
            Method::POST,
            "/credentials/revoke",
            None,
            Some(json!({ "credentials": [] })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["message"],
        "Validation failed, or the endpoint has been spammed."
    );

    let ghes = start(Mode::EnterpriseServer, None).await;
    let body = json!({ "credentials": [ghes.demo.leaked_token] });
    let (status, _, _) = ghes
        .call(
            Method::POST,
            "/credentials/revoke",
            None,
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = ghes
        .call(
            Method::POST,
            "/credentials/revoke",
            Some(&ghes.demo.admin_token),
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(!ghes.state.token_alive(&ghes.demo.leaked_token));
}

#[tokio::test]
async fn the_revocation_api_takes_sixty_requests_an_hour() {
    let gh = start(Mode::DotCom, None).await;
    let body = json!({ "credentials": ["ghp_someone_elses"] });
    for _ in 0..60 {
        let (status, _, _) = gh
            .call(
                Method::POST,
                "/credentials/revoke",
                None,
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let (status, _, _) = gh
        .call(Method::POST, "/credentials/revoke", None, Some(body))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn deploy_keys_are_deleted_and_added_back_with_a_new_id() {
    let gh = start(Mode::DotCom, None).await;
    let admin = Some(gh.demo.admin_token.as_str());
    let key_path = format!("/repos/{}/keys/{}", gh.demo.repo, gh.demo.deploy_key_id);
    let (status, _, key) = gh.call(Method::GET, &key_path, admin, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(key["key"], fixtures::DEPLOY_KEY);
    // Someone who does not administer the repository does not see it.
    let (status, _, _) = gh
        .call(Method::GET, &key_path, Some(&gh.demo.leaked_token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let add = json!({ "title": "ci deploy", "key": fixtures::DEPLOY_KEY, "read_only": true });
    let keys_path = format!("/repos/{}/keys", gh.demo.repo);
    let (status, _, body) = gh
        .call(Method::POST, &keys_path, admin, Some(add.clone()))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["message"], "Validation Failed");
    assert_eq!(body["errors"][0]["message"], "key is already in use");

    let (status, _, _) = gh.call(Method::DELETE, &key_path, admin, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = gh.call(Method::DELETE, &key_path, admin, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(gh.state.deploy_keys(&gh.demo.repo).is_empty());

    let (status, _, added) = gh.call(Method::POST, &keys_path, admin, Some(add)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(added["id"], json!(gh.demo.deploy_key_id));
    let (status, _, _) = gh
        .call(
            Method::POST,
            &keys_path,
            admin,
            Some(json!({ "title": "no key" })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let broken = gh
        .http
        .post(format!("{}{keys_path}", gh.api))
        .header("user-agent", "t")
        .bearer_auth(&gh.demo.admin_token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn site_administrators_suspend_users_on_enterprise_server_only() {
    let ghes = start(Mode::EnterpriseServer, None).await;
    let path = "/users/octocat/suspended";
    let (status, _, body) = ghes
        .call(Method::PUT, path, Some(&ghes.demo.leaked_token), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _, _) = ghes
        .call(Method::PUT, path, Some(&ghes.demo.admin_token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, _, user) = ghes
        .call(
            Method::GET,
            "/users/octocat",
            Some(&ghes.demo.admin_token),
            None,
        )
        .await;
    assert!(user["suspended_at"].is_string());
    let (status, _, _) = ghes
        .call(Method::DELETE, path, Some(&ghes.demo.admin_token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(ghes.state.user("octocat").unwrap().suspended_at, None);

    let gh = start(Mode::DotCom, None).await;
    let (status, _, _) = gh
        .call(Method::PUT, path, Some(&gh.demo.admin_token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_oauth_grant_is_checked_and_deleted_with_the_apps_credentials() {
    let gh = start(Mode::DotCom, None).await;
    let path = format!("/applications/{}/token", gh.demo.oauth_client_id);
    let secret = gh.demo.oauth_client_secret.clone();
    let [first, second] = gh.demo.oauth_tokens.clone();
    assert_eq!(
        gh.basic(Method::POST, &path, "wrong-secret", &first).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        gh.basic(Method::POST, &path, &secret, &first).await,
        StatusCode::OK
    );
    assert_eq!(
        gh.basic(Method::POST, &path, &secret, "gho_notatoken")
            .await,
        StatusCode::NOT_FOUND
    );
    let grant = format!("/applications/{}/grant", gh.demo.oauth_client_id);
    assert_eq!(
        gh.basic(Method::DELETE, &grant, &secret, &first).await,
        StatusCode::NO_CONTENT
    );
    assert!(!gh.state.oauth_token_alive(&first));
    assert!(
        !gh.state.oauth_token_alive(&second),
        "the grant covers every token"
    );
    assert_eq!(
        gh.basic(Method::POST, &path, &secret, &second).await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn rate_limits_answer_403_with_githubs_headers() {
    let gh = start(Mode::DotCom, Some(RateLimitConfig::new(2, 3600))).await;
    let token = Some(gh.demo.admin_token.as_str());
    for _ in 0..2 {
        assert_eq!(
            gh.call(Method::GET, "/user", token, None).await.0,
            StatusCode::OK
        );
    }
    let (status, headers, body) = gh.call(Method::GET, "/user", token, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("API rate limit exceeded")
    );

    let gh = start(Mode::DotCom, None).await;
    gh.state.trip_secondary_limit(2);
    let (status, headers, body) = gh
        .call(Method::GET, "/user", Some(&gh.demo.admin_token), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(headers["retry-after"], "2");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("secondary rate limit")
    );
    assert_eq!(
        gh.call(Method::GET, "/user", Some(&gh.demo.admin_token), None)
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_state_dump_holds_no_token_or_secret() {
    let gh = start(Mode::EnterpriseServer, None).await;
    let dump = gh.state.dump().to_string();
    for secret in [
        &gh.demo.admin_token,
        &gh.demo.leaked_token,
        &gh.demo.fine_grained_token,
        &gh.demo.oauth_client_secret,
        &gh.demo.oauth_tokens[0],
    ] {
        assert!(!dump.contains(secret.as_str()));
    }
    assert!(dump.contains("octocat"));
}
