//! Notifications from the real `cordon serve` process: an action needing
//! approval is posted to a JSON webhook (with its authorization header) and
//! to a Slack-compatible one, retried with backoff, audited; a notifier that
//! is down never holds containment up; after `kill -9`, a notification not
//! recorded as delivered is sent again, and delivered ones are not.

use cordon_e2e::hook::{Delivery, Hook};
use cordon_e2e::served::{agent_containment, agent_identities, audit, served, signal, tokens};
use cordon_e2e::server::Server;
use cordon_e2e::sims;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

fn outcomes(server: &Server, token: &str, kind: &str) -> Vec<Value> {
    audit(server, token)
        .into_iter()
        .filter(|r| r["kind"] == kind)
        .collect()
}

fn delivered_to(hook: &Hook, path: &str, run_id: &str) -> Vec<Delivery> {
    hook.deliveries()
        .into_iter()
        .filter(|d| d.path == path && d.status == 200)
        .filter(|d| {
            d.body["run_id"] == run_id
                || d.body["text"].as_str().is_some_and(|t| t.contains(run_id))
        })
        .collect()
}

#[test]
fn approvals_are_notified_with_retries_never_block_containment_and_survive_kill_9() {
    let hook = Hook::start();
    let (sim, demo) = sims::vault();
    let tokens = tokens();
    let playbook = agent_containment();
    let notifiers = format!(
        "[[server.notifiers]]\nname = \"hook\"\nformat = \"json\"\nurl = \"{0}/json\"\n\
         authorization = \"env:HOOK_AUTH\"\nbackoff_ms = 20\n\
         [[server.notifiers]]\nname = \"slack\"\nformat = \"slack\"\nurl = \"env:SLACK_URL\"\nbackoff_ms = 20\n\
         [[server.notifiers]]\nname = \"down\"\nformat = \"json\"\nurl = \"http://127.0.0.1:1/nothing\"\n\
         max_attempts = 2\nbackoff_ms = 10\n",
        hook.url
    );
    let mut ws = served(&sim, &playbook, &tokens, &notifiers, 4);
    let slack_path = "/slack/T0001/B0001/sekrit-webhook-path";
    ws.env("HOOK_AUTH", "Bearer hook-sekrit-123");
    ws.env("SLACK_URL", &format!("{}{slack_path}", hook.url));
    hook.fail_next("/json", 2);
    let mut server = Server::start(&ws);

    let identities = agent_identities(&demo);
    let accepted = server.post("/v1/signals", &tokens.detector, &signal(identities));
    let first = accepted["runs"][0]["run_id"].as_str().unwrap().to_string();
    // Containment went on while every notifier was failing or retrying.
    let report = server.settled(&first, &tokens.nadia);
    assert_eq!(report["status"], "awaiting-approval");
    let revoke = report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["step"] == "revoke")
        .unwrap();
    assert_eq!(revoke["status"], "applied", "{report}");

    server.wait_until("three notifications are settled", WAIT, || {
        outcomes(&server, &tokens.nadia, "notification.delivered").len() == 2
            && outcomes(&server, &tokens.nadia, "notification.failed").len() == 1
    });
    // The JSON webhook: refused twice (503), then delivered, with its header.
    let attempts: Vec<u16> = hook
        .deliveries()
        .iter()
        .filter(|d| d.path == "/json")
        .map(|d| d.status)
        .collect();
    assert_eq!(attempts, [503, 503, 200]);
    let json = &delivered_to(&hook, "/json", &first)[0];
    assert_eq!(
        json.authorization.as_deref(),
        Some("Bearer hook-sekrit-123")
    );
    let body = &json.body;
    assert_eq!(body["event"], "approval.needed");
    assert_eq!(body["incident"], "INC-E2E");
    assert_eq!(body["step"], "disable");
    assert_eq!(body["effect"], "quarantine");
    assert_eq!(
        body["target"],
        format!("vault:agent:{}", demo.agent_entity_id)
    );
    assert_eq!(body["approvers"], json!(["nhi"]));
    assert_eq!(
        body["console_url"],
        format!("{}/console/#/approvals", server.url)
    );
    assert_eq!(
        body["id"],
        format!("{first}/{}", body["action_id"].as_str().unwrap())
    );
    // The Slack-compatible webhook gets text with a link to the queue.
    let slack = &delivered_to(&hook, slack_path, &first)[0];
    let text = slack.body["text"].as_str().unwrap();
    assert!(
        text.contains(&format!(
            "<{}/console/#/approvals|Open the approvals queue>",
            server.url
        )),
        "{text}"
    );
    assert!(text.contains("disable-entity"), "{text}");

    let delivered = outcomes(&server, &tokens.nadia, "notification.delivered");
    let hook_record = delivered
        .iter()
        .find(|r| r["data"]["notifier"] == "hook")
        .unwrap();
    assert_eq!(hook_record["data"]["attempts"], 3);
    assert_eq!(hook_record["run_id"], first.as_str());
    let failed = &outcomes(&server, &tokens.nadia, "notification.failed")[0];
    assert_eq!(failed["data"]["notifier"], "down");
    assert_eq!(failed["data"]["attempts"], 2);
    assert_eq!(failed["data"]["error"], "cannot connect");
    let metrics = server
        .request("GET", "/metrics", Some(&tokens.nadia), None)
        .body;
    assert!(
        metrics.contains(r#"cordon_notifications_total{notifier="hook",outcome="delivered"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"cordon_notifications_total{notifier="down",outcome="failed"} 1"#),
        "{metrics}"
    );

    // A second approval: the JSON webhook is down when the server dies.
    hook.fail_next("/json", 1_000);
    let mut second = signal(json!([
        { "provider": "vault", "kind": "agent", "id": demo.agent_entity_id },
    ]));
    second["id"] = json!("sig-e2e-2");
    let accepted = server.post("/v1/signals", &tokens.detector, &second);
    let second_run = accepted["runs"][0]["run_id"].as_str().unwrap().to_string();
    server.wait_until("the JSON webhook was tried and Slack told", WAIT, || {
        hook.deliveries()
            .iter()
            .any(|d| d.path == "/json" && d.body["run_id"] == second_run.as_str())
            && !delivered_to(&hook, slack_path, &second_run).is_empty()
            && outcomes(&server, &tokens.nadia, "notification.delivered").len() == 3
    });
    let log = server.log().join("\n");
    server.kill9();

    hook.fail_next("/json", 0);
    let server = Server::start(&ws);
    server.wait_until("the undelivered notification is sent again", WAIT, || {
        !delivered_to(&hook, "/json", &second_run).is_empty()
    });
    server.wait_until("its delivery is audited", WAIT, || {
        outcomes(&server, &tokens.nadia, "notification.delivered")
            .iter()
            .any(|r| r["data"]["notifier"] == "hook" && r["run_id"] == second_run.as_str())
    });
    // What was delivered before is not sent again.
    assert_eq!(delivered_to(&hook, "/json", &first).len(), 1);
    assert_eq!(delivered_to(&hook, slack_path, &first).len(), 1);
    assert_eq!(delivered_to(&hook, slack_path, &second_run).len(), 1);

    // Neither the authorization nor the Slack URL's secret is ever shown.
    let export = server
        .request("GET", "/v1/audit/export", Some(&tokens.nadia), None)
        .body;
    for secret in ["hook-sekrit-123", "sekrit-webhook-path"] {
        assert!(!export.contains(secret), "the audit log shows {secret}");
        assert!(!log.contains(secret), "the log shows {secret}");
        assert!(!server.log().join("\n").contains(secret));
    }
}
