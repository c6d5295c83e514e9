//! `cordon serve` under load: signals accepted per second (each one
//! durably recorded with the run it starts), the latency from submitting a
//! signal to the provider's first request, and live-event fan-out — each
//! against a baseline measured in the same run.

use anyhow::Result;
use cordon_e2e::served::{Tokens, served, signal, tokens};
use cordon_e2e::server::{Server, next_event};
use cordon_e2e::sims::{self, Step};
use cordon_sim::vault::TokenSpec;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: usize = 16;

fn unlimited() -> &'static str {
    "rate_limit = { per_minute = 1000000, burst = 1000000 }"
}

/// `n` requests from `CLIENTS` threads; returns requests per second.
fn load(n: usize, request: impl Fn(usize) + Send + Sync + 'static) -> f64 {
    let request = Arc::new(request);
    let started = Instant::now();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let request = request.clone();
            std::thread::spawn(move || {
                for i in (c..n).step_by(CLIENTS) {
                    request(i);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("client thread");
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

pub fn run() -> Result<()> {
    let (sim, _) = sims::vault();
    let tokens: Tokens = tokens();
    let playbook = sims::playbook(
        "bench",
        "nhi",
        &[Step::new("revoke", "vault", "revoke-token", "token")],
    );
    let ws = served(&sim, &playbook, &tokens, unlimited(), 16);
    let server = Arc::new(Server::start(&ws));

    // Throughput: a bare authenticated read, then signals that each start a run.
    const N: usize = 2000;
    let (s, t) = (server.clone(), tokens.nadia.clone());
    let baseline = load(N, move |_| {
        assert_eq!(
            s.request("GET", "/v1/approvals", Some(&t), None).status,
            200
        );
    });
    let accessors: Vec<String> = (0..N)
        .map(|i| sim.state.seed_token(TokenSpec::new(&format!("bench-{i}"))))
        .collect();
    let accessors = Arc::new(accessors);
    let (s, t, a) = (server.clone(), tokens.detector.clone(), accessors.clone());
    let accepted = load(N, move |i| {
        let mut body = signal(json!([{ "provider": "vault", "kind": "token", "id": a[i] }]));
        body["id"] = json!(format!("bench-{i}"));
        let answer = s.request("POST", "/v1/signals", Some(&t), Some(&body.to_string()));
        assert_eq!(answer.status, 202, "{}", answer.body);
    });
    println!(
        "    signals accepted (durably recorded, run started), {CLIENTS} clients: {accepted:7.0}/s \
         = {:4.2} x an authenticated read ({baseline:.0}/s)",
        accepted / baseline
    );
    server.wait_until("every bench run finished", Duration::from_secs(600), || {
        accessors
            .iter()
            .all(|a| sim.state.token(a).is_some_and(|t| t.revoked))
    });

    // Latency: one signal at a time, from the POST to the provider's first request.
    let mut latencies = Vec::new();
    let mut round_trips = Vec::new();
    for i in 0..100 {
        let started = Instant::now();
        server.request("GET", "/healthz", None, None);
        round_trips.push(started.elapsed().as_secs_f64() * 1000.0);
        let accessor = sim
            .state
            .seed_token(TokenSpec::new(&format!("latency-{i}")));
        let seen = sim.state.requests().len();
        let mut body = signal(json!([{ "provider": "vault", "kind": "token", "id": accessor }]));
        body["id"] = json!(format!("latency-{i}"));
        let sent = Instant::now();
        let answer = server.post("/v1/signals", &tokens.detector, &body);
        server.wait_until(
            "the provider's first request",
            Duration::from_secs(60),
            || sim.state.requests().len() > seen,
        );
        latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
        let run_id = answer["runs"][0]["run_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        server.settled(&run_id, &tokens.nadia);
    }
    let rtt = percentile(&mut round_trips, 0.5);
    let (p50, p99) = (
        percentile(&mut latencies, 0.5),
        percentile(&mut latencies, 0.99),
    );
    println!(
        "    signal to first provider request: p50 {p50:6.1} ms, p99 {p99:6.1} ms \
         = {:5.1} x a /healthz round trip ({rtt:.2} ms; the wait polls every 10 ms)",
        p99 / rtt
    );

    // Fan-out: the time until a run's last event reaches 1 client, then 50.
    let mut fan_out = Vec::new();
    for clients in [1usize, 50] {
        let streams: Vec<_> = (0..clients)
            .map(|_| server.events("", &tokens.nadia))
            .collect();
        let accessor = sim
            .state
            .seed_token(TokenSpec::new(&format!("fan-out-{clients}")));
        let mut body = signal(json!([{ "provider": "vault", "kind": "token", "id": accessor }]));
        body["id"] = json!(format!("fan-out-{clients}"));
        let sent = Instant::now();
        server.post("/v1/signals", &tokens.detector, &body);
        for stream in &streams {
            next_event(stream, Duration::from_secs(60), |e| {
                e["kind"] == "run.finished"
            });
        }
        fan_out.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "    live events, signal to run.finished at every client: 1 client {:6.1} ms, 50 clients {:6.1} ms = {:4.2} x",
        fan_out[0],
        fan_out[1],
        fan_out[1] / fan_out[0]
    );
    Ok(())
}
