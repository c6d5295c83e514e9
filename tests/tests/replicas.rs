//! Three `cordon serve` replicas on one real PostgreSQL (`[store] replicas
//! = true`), judged by the Vault simulator's own state: a run survives the
//! `kill -9` of the replica executing it, a replica paused past its lease
//! records nothing after it wakes, a signal delivered to two replicas runs
//! once (and not again within the deduplication window), a blast-radius
//! cap holds across replicas, an approval given on one replica wakes the
//! one executing the run, live events reach every replica, and the one
//! audit chain verifies.

use cordon_e2e::cordon::Workspace;
use cordon_e2e::served::{self, Tokens, bulk, revocations, revoked, signal, slow_vault, tokens};
use cordon_e2e::server::Server;
use cordon_e2e::sims;
use cordon_sim::vault::VaultState;
use cordon_store_postgres::testing::TempPostgres;
use serde_json::Value;
use std::time::{Duration, Instant};

/// How long a replica's lease lasts unrenewed in these tests.
const LEASE_MS: u64 = 1500;

/// A replicas' workspace with `model` as the authority model.
fn replicated(sim: &sims::Sim<VaultState>, url: &str, tokens: &Tokens, model: &str) -> Workspace {
    served::replicated(sim, url, LEASE_MS, tokens, model, "", 4)
}

fn three(ws: &Workspace) -> Vec<Server> {
    (0..3).map(|_| Server::start(ws)).collect()
}

fn verify(ws: &Workspace) {
    let verify = ws.cordon(&["audit", "verify"]);
    assert_eq!(verify.code(), 0, "{}{}", verify.stdout(), verify.stderr());
}

fn metric(server: &Server, tokens: &Tokens, name: &str) -> u64 {
    let metrics = server.request("GET", "/metrics", Some(&tokens.nadia), None);
    assert_eq!(metrics.status, 200);
    metrics
        .body
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .map_or(0, |v| v.trim().parse::<f64>().unwrap() as u64)
}

fn run_id(accepted: &Value) -> String {
    accepted["runs"][0]["run_id"].as_str().unwrap().to_string()
}

#[test]
fn a_thousand_identities_are_contained_once_while_the_replica_executing_them_is_killed() {
    const N: usize = 1000;
    let pg = TempPostgres::start();
    let url = pg.fresh_database();
    let sim = slow_vault(2);
    let tokens = tokens();
    let (accessors, identities) = bulk(&sim, N);
    let ws = replicated(&sim, &url, &tokens, cordon_e2e::served::MODEL);
    let mut replicas = three(&ws);
    // Live events on another replica see the run's records as they commit.
    let events = replicas[2].events("", &tokens.nadia);

    let accepted = replicas[0].post("/v1/signals", &tokens.detector, &signal(identities));
    let run_id = run_id(&accepted);
    replicas[0].wait_until("a tenth is revoked", Duration::from_secs(120), || {
        revoked(&sim, &accessors) >= N / 10
    });
    replicas[0].kill9();
    let at_kill = revoked(&sim, &accessors);
    assert!(at_kill < N, "the run finished before the kill");

    let report = replicas[1].settled(&run_id, &tokens.nadia);
    assert_eq!(report["status"], "completed", "{report}");
    assert_eq!(revoked(&sim, &accessors), N, "every token is revoked");
    let actions = report["actions"].as_array().unwrap();
    assert_eq!(actions.len(), N, "one action per token");
    assert!(actions.iter().all(|a| a["status"] == "applied"));
    // Only calls in flight at the kill (at most one per slot) may have
    // been sent again, with the same idempotency key.
    let sent = revocations(&sim);
    assert!(sent <= N + 4, "{sent} revocations for {N} tokens");
    let took_over = metric(&replicas[1], &tokens, "cordon_lease_taken_over_total")
        + metric(&replicas[2], &tokens, "cordon_lease_taken_over_total");
    assert!(took_over >= 1, "no replica took the run over");

    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = 0;
    let finished = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = events.recv_timeout(left).unwrap_or_else(|err| {
            panic!(
                "the run's end did not reach replica 3 ({err}; {seen} events came); it said:\n{}",
                replicas[2].log().join("\n")
            )
        });
        seen += 1;
        if event["kind"] == "run.finished" && event["run_id"] == run_id.as_str() {
            break event;
        }
    };
    assert_eq!(finished["data"]["status"], "completed", "{finished}");
    for mut replica in replicas.into_iter().skip(1) {
        replica.sigterm();
    }
    verify(&ws);
}

#[test]
fn a_replica_paused_past_its_lease_records_nothing_after_it_wakes() {
    const N: usize = 40;
    let pg = TempPostgres::start();
    let url = pg.fresh_database();
    let sim = slow_vault(100);
    let tokens = tokens();
    let (accessors, identities) = bulk(&sim, N);
    let ws = replicated(&sim, &url, &tokens, cordon_e2e::served::MODEL);
    let mut replicas: Vec<Server> = (0..2).map(|_| Server::start(&ws)).collect();

    let accepted = replicas[0].post("/v1/signals", &tokens.detector, &signal(identities));
    let run_id = run_id(&accepted);
    replicas[0].wait_until("some tokens are revoked", Duration::from_secs(60), || {
        revoked(&sim, &accessors) >= 4
    });
    replicas[0].signal("STOP");
    let report = replicas[1].settled(&run_id, &tokens.nadia);
    assert_eq!(report["status"], "completed", "{report}");
    assert_eq!(revoked(&sim, &accessors), N);
    let head = |server: &Server| {
        let verified = server.get("/v1/audit/verify", &tokens.nadia);
        verified["records"]
            .as_u64()
            .unwrap_or_else(|| panic!("{verified}"))
    };
    let before = head(&replicas[1]);
    let sent_before = revocations(&sim);

    replicas[0].signal("CONT");
    let mut log: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !log.iter().any(|l| l.contains("lost the run's lease")) {
        assert!(
            Instant::now() < deadline,
            "the paused replica did not notice; it said:\n{}",
            log.join("\n")
        );
        log.extend(replicas[0].log());
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(metric(&replicas[0], &tokens, "cordon_lease_lost_total"), 1);
    // Nothing it did after waking reached the store; what it had in
    // flight (at most one call per slot) reached the provider only.
    assert_eq!(
        head(&replicas[1]),
        before,
        "the paused replica recorded something"
    );
    assert!(revocations(&sim) <= sent_before + 4);
    let report = replicas[0].get(&format!("/v1/runs/{run_id}"), &tokens.nadia);
    assert_eq!(report["status"], "completed", "{report}");
    for replica in &mut replicas {
        replica.sigterm();
    }
    verify(&ws);
}

#[test]
fn a_signal_delivered_to_two_replicas_at_once_runs_once_and_again_within_the_window_not_at_all() {
    const N: usize = 30;
    let pg = TempPostgres::start();
    let url = pg.fresh_database();
    let sim = slow_vault(20);
    let tokens = tokens();
    let (accessors, identities) = bulk(&sim, N);
    let window = "dedup_window_ms = 3600000";
    let ws = served::replicated(&sim, &url, LEASE_MS, &tokens, served::MODEL, window, 4);
    let replicas = three(&ws);
    let body = signal(identities);

    let barrier = std::sync::Barrier::new(2);
    let answers: Vec<Value> = std::thread::scope(|scope| {
        let sends: Vec<_> = replicas[..2]
            .iter()
            .map(|replica| {
                let (barrier, body, token) = (&barrier, &body, &tokens.detector);
                scope.spawn(move || {
                    barrier.wait();
                    replica.post("/v1/signals", token, body)
                })
            })
            .collect();
        sends.into_iter().map(|s| s.join().unwrap()).collect()
    });
    let ids: Vec<String> = answers.iter().map(run_id).collect();
    assert_eq!(ids[0], ids[1], "two runs for one signal: {answers:?}");
    let existing: Vec<bool> = answers
        .iter()
        .map(|a| a["runs"][0]["existing"].as_bool().unwrap())
        .collect();
    assert_eq!(existing.iter().filter(|e| **e).count(), 1, "{answers:?}");

    let report = replicas[2].settled(&ids[0], &tokens.nadia);
    assert_eq!(report["status"], "completed", "{report}");
    assert_eq!(revoked(&sim, &accessors), N);
    assert_eq!(revocations(&sim), N, "a token was revoked twice");

    // Delivered again after the run finished, to each replica (none of
    // the others has seen it in memory): the window holds across them.
    for replica in &replicas {
        let again = replica.post("/v1/signals", &tokens.detector, &body);
        assert_eq!(run_id(&again), ids[0], "{again}");
        assert_eq!(again["runs"][0]["existing"], true, "{again}");
    }
    assert_eq!(revocations(&sim), N, "a token was revoked again");
    let runs = replicas[2].get("/v1/runs", &tokens.nadia);
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    verify(&ws);
}

#[test]
fn a_cap_of_n_actions_per_minute_lets_exactly_n_through_across_replicas() {
    const CAP: usize = 10;
    const SIGNALS: usize = 30;
    let pg = TempPostgres::start();
    let url = pg.fresh_database();
    let sim = slow_vault(5);
    let tokens = tokens();
    let model = format!(
        "{}[guardrails]\nmax_actions_per_domain_per_minute = {{ nhi = {CAP} }}\n",
        cordon_e2e::served::MODEL
    );
    let ws = replicated(&sim, &url, &tokens, &model);
    let replicas = three(&ws);
    let signals: Vec<(Vec<String>, Value)> = (0..SIGNALS)
        .map(|i| {
            let (accessors, identities) = bulk(&sim, 1);
            let mut body = signal(identities);
            body["id"] = Value::String(format!("sig-cap-{i}"));
            (accessors, body)
        })
        .collect();
    let run_ids: Vec<String> = std::thread::scope(|scope| {
        let sends: Vec<_> = signals
            .iter()
            .enumerate()
            .map(|(i, (_, body))| {
                let (replica, token) = (&replicas[i % 3], &tokens.detector);
                scope.spawn(move || run_id(&replica.post("/v1/signals", token, body)))
            })
            .collect();
        sends.into_iter().map(|s| s.join().unwrap()).collect()
    });
    let statuses: Vec<String> = run_ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let report = replicas[(i + 1) % 3].settled(id, &tokens.nadia);
            report["status"].as_str().unwrap().to_string()
        })
        .collect();
    let all: Vec<String> = signals.iter().flat_map(|(a, _)| a.clone()).collect();
    assert_eq!(
        revoked(&sim, &all),
        CAP,
        "the provider saw more than the cap"
    );
    assert_eq!(statuses.iter().filter(|s| *s == "completed").count(), CAP);
    assert_eq!(
        statuses
            .iter()
            .filter(|s| *s == "awaiting-approval")
            .count(),
        SIGNALS - CAP,
        "{statuses:?}"
    );
    verify(&ws);
}

#[test]
fn an_approval_answered_on_another_replica_wakes_the_one_executing_the_run() {
    // Revoking 60 slow tokens keeps the first replica executing the run
    // while the entity's disable waits for nadia's approval, which she
    // gives on the second replica: it cannot claim the run, so it wakes
    // the holder, which executes the approved action next.
    const N: usize = 60;
    let pg = TempPostgres::start();
    let url = pg.fresh_database();
    let mut config = cordon_sim::vault::VaultConfig::with_root_token(sims::VAULT_ROOT_TOKEN);
    config.faults.latency_ms = 150;
    let (sim, demo) = sims::vault_with(config);
    let tokens = tokens();
    let (accessors, identities) = bulk(&sim, N);
    let mut identities = identities.as_array().unwrap().clone();
    identities.push(serde_json::json!(
        { "provider": "vault", "kind": "agent", "id": demo.agent_entity_id }
    ));
    let playbook = served::agent_containment();
    let ws = served::served_with(&sim, &playbook, &tokens, "", 4, |ws| {
        ws.replicas(&url, LEASE_MS)
    });
    let mut replicas: Vec<Server> = (0..2).map(|_| Server::start(&ws)).collect();
    let events = replicas[1].events("", &tokens.nadia);

    let accepted = replicas[0].post("/v1/signals", &tokens.detector, &signal(identities.into()));
    let run_id = run_id(&accepted);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let event = events
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("approval.needed reaches the second replica");
        if event["sse_event"] == "approval.needed" && event["run_id"] == run_id.as_str() {
            break;
        }
    }
    let approved = replicas[1].request(
        "POST",
        &format!("/v1/runs/{run_id}/approve"),
        Some(&tokens.nadia),
        Some("{}"),
    );
    assert_eq!(approved.status, 202, "{}", approved.body);
    let at_approval = revoked(&sim, &accessors);
    assert!(
        at_approval < N,
        "the run was done revoking before the approval"
    );

    // The pass that was under way ends waiting (it decided the disable
    // before the approval); the wake makes its replica go on at once. Were
    // nobody woken, the run would stay waiting: a waiting run has no lease
    // to expire and be taken over.
    // `settled` waits server-side while the run runs; between its passes
    // it looks again after a pause that keeps nadia under her rate limit.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let report = replicas[0].settled(&run_id, &tokens.nadia);
        if report["status"] == "completed" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the run did not complete: {report}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(sim.state.entity(&demo.agent_entity_id).unwrap().disabled);
    assert_eq!(revoked(&sim, &accessors), N);
    for replica in &mut replicas {
        replica.sigterm();
    }
    verify(&ws);
}
