//! Actions per second with one `cordon serve` replica and with three on
//! one PostgreSQL (`[store] replicas = true`, a durable server: fsync on),
//! measured in the same run: signals of one Vault token each, sent by 16
//! clients spread over the replicas, until the simulator has revoked them
//! all.

use anyhow::Result;
use cordon_e2e::cordon::Workspace;
use cordon_e2e::served::{MODEL, Tokens, replicated, signal, tokens};
use cordon_e2e::server::Server;
use cordon_e2e::sims;
use cordon_sim::vault::{TokenSpec, VaultState};
use cordon_store_postgres::testing::TempPostgres;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: usize = 16;
const SIGNALS: usize = 600;

fn workspace(sim: &sims::Sim<VaultState>, url: &str, tokens: &Tokens) -> Workspace {
    let server = "rate_limit = { per_minute = 1000000, burst = 1000000 }";
    replicated(sim, url, 10_000, tokens, MODEL, server, 16)
}

/// Actions per second with `count` replicas on a fresh database.
fn actions_per_second(pg: &TempPostgres, count: usize) -> f64 {
    let (sim, _) = sims::vault();
    let tokens = tokens();
    let ws = workspace(&sim, &pg.fresh_database(), &tokens);
    let replicas: Arc<Vec<Server>> = Arc::new((0..count).map(|_| Server::start(&ws)).collect());
    let accessors: Arc<Vec<String>> = Arc::new(
        (0..SIGNALS)
            .map(|i| sim.state.seed_token(TokenSpec::new(&format!("r-{i}"))))
            .collect(),
    );
    let started = Instant::now();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (replicas, accessors, token) =
                (replicas.clone(), accessors.clone(), tokens.detector.clone());
            std::thread::spawn(move || {
                for i in (c..SIGNALS).step_by(CLIENTS) {
                    let mut body = signal(
                        json!([{ "provider": "vault", "kind": "token", "id": accessors[i] }]),
                    );
                    body["id"] = json!(format!("r-{i}"));
                    replicas[i % replicas.len()].post("/v1/signals", &token, &body);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("client thread");
    }
    replicas[0].wait_until("every token is revoked", Duration::from_secs(600), || {
        accessors
            .iter()
            .all(|a| sim.state.token(a).is_some_and(|t| t.revoked))
    });
    SIGNALS as f64 / started.elapsed().as_secs_f64()
}

pub fn run() -> Result<()> {
    let pg = TempPostgres::start_durable();
    let one = actions_per_second(&pg, 1);
    let three = actions_per_second(&pg, 3);
    println!(
        "    {SIGNALS} one-token signals, {CLIENTS} clients: 1 replica {one:6.0} actions/s, \
         3 replicas {three:6.0} actions/s = {:4.2} x one replica",
        three / one
    );
    Ok(())
}
