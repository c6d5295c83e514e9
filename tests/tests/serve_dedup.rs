//! The deduplication window of `cordon serve` (`[server] dedup_window_ms`):
//! a detector that delivers a signal again after its run finished gets that
//! run, not a second containment, and the window outlives a `kill -9` of
//! the server. Judged by the Vault simulator's own request log.

use cordon_e2e::served::{
    bulk, bulk_playbook, revocations, revoked, served, signal, slow_vault, tokens,
};
use cordon_e2e::server::Server;
use serde_json::Value;

fn first_run(answer: &Value) -> (String, bool) {
    let run = &answer["runs"][0];
    (
        run["run_id"].as_str().unwrap().to_string(),
        run["existing"].as_bool().unwrap(),
    )
}

#[test]
fn a_signal_delivered_again_within_the_window_answers_with_its_finished_run() {
    const N: usize = 3;
    let sim = slow_vault(0);
    let tokens = tokens();
    let (accessors, identities) = bulk(&sim, N);
    let ws = served(
        &sim,
        &bulk_playbook(),
        &tokens,
        "dedup_window_ms = 3600000",
        4,
    );
    let mut server = Server::start(&ws);
    let body = signal(identities);

    let (run_id, existing) = first_run(&server.post("/v1/signals", &tokens.detector, &body));
    assert!(!existing);
    assert_eq!(
        server.settled(&run_id, &tokens.nadia)["status"],
        "completed"
    );
    assert_eq!(revoked(&sim, &accessors), N);
    assert_eq!(revocations(&sim), N);

    // Delivered again: the finished run answers, nothing is sent.
    let again = server.post("/v1/signals", &tokens.detector, &body);
    assert_eq!(first_run(&again), (run_id.clone(), true), "{again}");
    // Asked for by name, it is refused, saying why and what to do.
    let named = serde_json::json!({ "playbook": "bulk", "signal": body });
    let refused = server.request(
        "POST",
        "/v1/runs",
        Some(&tokens.detector),
        Some(&named.to_string()),
    );
    let problem = refused.problem(409);
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains(&run_id) && detail.contains("dedup_window_ms = 3600000"),
        "{problem}"
    );

    // The window is durable: after a kill -9 it still holds.
    server.kill9();
    let server = Server::start(&ws);
    let after = server.post("/v1/signals", &tokens.detector, &body);
    assert_eq!(first_run(&after), (run_id.clone(), true), "{after}");
    assert_eq!(revocations(&sim), N, "a token was revoked again");

    // Another signal id is another signal.
    let mut renamed = body.clone();
    renamed["id"] = "sig-e2e-2".into();
    let (second, existing) = first_run(&server.post("/v1/signals", &tokens.detector, &renamed));
    assert!(!existing);
    assert_ne!(second, run_id);
    assert_eq!(
        server.settled(&second, &tokens.nadia)["status"],
        "completed"
    );

    let runs = server.get("/v1/runs", &tokens.nadia);
    assert_eq!(runs.as_array().unwrap().len(), 2, "{runs}");
}

#[test]
fn without_a_window_a_signal_delivered_after_its_run_finished_runs_again() {
    let sim = slow_vault(0);
    let tokens = tokens();
    let (_, identities) = bulk(&sim, 1);
    let ws = served(&sim, &bulk_playbook(), &tokens, "", 4);
    let server = Server::start(&ws);
    let body = signal(identities);
    let (first, _) = first_run(&server.post("/v1/signals", &tokens.detector, &body));
    assert_eq!(server.settled(&first, &tokens.nadia)["status"], "completed");
    let (second, existing) = first_run(&server.post("/v1/signals", &tokens.detector, &body));
    assert!(!existing);
    assert_ne!(first, second);
}
