//! `revoke-token` at scale: thousands of Vault accessors in one signal,
//! against the Vault simulator, next to a native client doing the same work
//! (the lookup that says what is revoked, then the revocation) with the same
//! concurrency over kept-alive connections, on the same machine in the same
//! run. Per size: the ratio of their speeds, requests per token, connections
//! per request, and what each identity costs Cordon in wall time, CPU,
//! memory and store bytes.

use crate::table::{Row, Table};
use anyhow::{Result, bail};
use bytes::Bytes;
use cordon_e2e::cordon::{PluginEntry, RUN_JSON, Workspace};
use cordon_sim::vault::{TokenSpec, VaultConfig, VaultSim, VaultState};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROOT_TOKEN: &str = "bench-root-token";

/// Seeds `count` tokens and returns their accessors.
fn seed(state: &VaultState, label: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| state.seed_token(TokenSpec::new(&format!("{label}-{i}"))))
        .collect()
}

/// One size's figures.
struct Scale {
    count: usize,
    native: Duration,
    contain: Duration,
    wall: Duration,
    cpu: Duration,
    max_rss_kb: u64,
    store_bytes: u64,
    requests: u64,
    connections: u64,
}

/// Runs each size in `counts` with `concurrency` calls (and native
/// connections) at a time, and adds the figures to `table`.
pub fn run(counts: &[usize], concurrency: usize, table: &mut Table) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut scales = Vec::new();
    for &count in counts {
        // A fresh simulator per size, so none pays for the tokens of another.
        let (sim, state) =
            runtime.block_on(VaultSim::start(VaultConfig::with_root_token(ROOT_TOKEN)))?;
        let scale = one(&runtime, &sim.base_url(), &state, count, concurrency)?;
        runtime.block_on(sim.shutdown());
        println!(
            "    {count:>7} tokens: native {:7.2} s, cordon {:7.2} s to contain ({:.2} x native), \
             {:.2} requests/token, {:.3} connects/request, RSS {:.0} MB, store {:.2} KB/action",
            scale.native.as_secs_f64(),
            scale.contain.as_secs_f64(),
            scale.native.as_secs_f64() / scale.contain.as_secs_f64(),
            scale.requests as f64 / count as f64,
            scale.connections as f64 / scale.requests.max(1) as f64,
            scale.max_rss_kb as f64 / 1024.0,
            scale.store_bytes as f64 / 1024.0 / count as f64,
        );
        scales.push(scale);
    }
    for s in &scales {
        let n = s.count;
        table.push(Row::ratio(
            format!("Vault revoke-token, {n} tokens: speed vs native 16-connection client"),
            s.native.as_secs_f64() / s.contain.as_secs_f64(),
            "x native (higher is better)",
            if n >= 10_000 { Some(">= 0.8") } else { None },
        ));
        table.push(Row::value(
            format!("Vault revoke-token, {n} tokens: requests per token (native: 2)"),
            s.requests as f64 / n as f64,
            "",
        ));
        table.push(Row::value(
            format!("Vault revoke-token, {n} tokens: connects per request"),
            s.connections as f64 / s.requests.max(1) as f64,
            "<= 0.05",
        ));
        table.push(Row::value(
            format!("Vault revoke-token, {n} tokens: peak RSS"),
            s.max_rss_kb as f64 / 1024.0,
            if n == 10_000 {
                "MB (goal <= 100)"
            } else {
                "MB"
            },
        ));
        table.push(Row::value(
            format!("Vault revoke-token, {n} tokens: store bytes per action"),
            s.store_bytes as f64 / n as f64,
            if n == 10_000 { "B (goal <= 2048)" } else { "B" },
        ));
    }
    if let (Some(small), Some(large)) = (scales.first(), scales.last())
        && large.count > small.count
    {
        let per = |d: Duration, n: usize| d.as_secs_f64() / n as f64;
        let growth = [
            (
                "wall time",
                per(large.wall, large.count) / per(small.wall, small.count),
            ),
            (
                "CPU",
                per(large.cpu, large.count) / per(small.cpu, small.count),
            ),
            (
                "store bytes",
                (large.store_bytes as f64 / large.count as f64)
                    / (small.store_bytes as f64 / small.count as f64),
            ),
        ];
        // Peak RSS has a large fixed part (the runtime, the compiled
        // plugins, the pool), so RSS per identity would look flat while the
        // run still grows; the memory each added identity costs says more.
        table.push(Row::value(
            format!(
                "peak RSS added per identity, {} -> {} tokens",
                small.count, large.count
            ),
            (large.max_rss_kb as f64 - small.max_rss_kb as f64)
                / (large.count - small.count) as f64,
            "KB",
        ));
        for (what, ratio) in growth {
            table.push(Row::ratio(
                format!(
                    "per-identity {what}, {} -> {} tokens",
                    small.count, large.count
                ),
                ratio,
                "x (flat = 1.0)",
                Some("<= 1.2"),
            ));
        }
    }
    Ok(())
}

fn one(
    runtime: &tokio::runtime::Runtime,
    url: &str,
    state: &VaultState,
    count: usize,
    concurrency: usize,
) -> Result<Scale> {
    // Baseline: a native client looking up and revoking `count` accessors,
    // `concurrency` at a time.
    let accessors = seed(state, "native", count);
    let started = Instant::now();
    runtime.block_on(native_revoke(url, accessors, concurrency))?;
    let native = started.elapsed();

    // Cordon: one signal naming `count` accessors, one revoke-token step.
    let accessors = seed(state, "cordon", count);
    let mut ws = Workspace::new();
    ws.env("BENCH_VAULT_TOKEN", ROOT_TOKEN);
    ws.write_config(&[PluginEntry::new("vault", "vault")
        .allow(url)
        .config("address", url)
        .secret_env("token", "BENCH_VAULT_TOKEN")
        .limit("concurrency", concurrency as u64)]);
    ws.write(
        "playbook.toml",
        "name = \"revoke-tokens\"\nowner = \"nhi\"\n[[step]]\nid = \"revoke\"\nplugin = \"vault\"\naction = \"revoke-token\"\nfor_each = { kind = \"token\" }\n",
    );
    let identities: Vec<_> = accessors
        .iter()
        .map(|a| json!({ "provider": "vault", "kind": "token", "id": a }))
        .collect();
    ws.write(
        "signal.json",
        &json!({ "id": "bench", "kind": "token.leaked", "source": "bench", "severity": "high",
                 "observed_at": "2026-11-28T10:00:00Z", "identities": identities })
        .to_string(),
    );
    ws.cordon(&["plugins", "compile"]).expect_code(0);
    state.reset_requests();
    let mut command = ws.command(RUN_JSON);
    let (output, wall, cpu, max_rss_kb) = crate::table::measured(&mut command)?;
    if !output.status.success() {
        bail!(
            "cordon run failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let revoked = accessors
        .iter()
        .filter(|a| state.token(a).is_some_and(|t| t.revoked))
        .count();
    if revoked != count {
        bail!("only {revoked} of {count} tokens were revoked");
    }
    let stats = state.stats();
    let contain_ms = report["time_to_contain_ms"].as_f64().unwrap_or(f64::NAN);
    Ok(Scale {
        count,
        native,
        contain: Duration::from_secs_f64(contain_ms / 1000.0),
        wall,
        cpu,
        max_rss_kb,
        store_bytes: crate::table::dir_bytes(&ws.store_dir()),
        requests: stats.total,
        connections: stats.connections,
    })
}

async fn native_revoke(url: &str, accessors: Vec<String>, concurrency: usize) -> Result<()> {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let queue = Arc::new(tokio::sync::Mutex::new(accessors));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, queue, url) = (client.clone(), queue.clone(), url.to_string());
        workers.push(tokio::spawn(async move {
            loop {
                let Some(accessor) = queue.lock().await.pop() else {
                    return Ok::<(), anyhow::Error>(());
                };
                let body = json!({ "accessor": accessor }).to_string();
                // What is revoked (its entity, policies), as a careful script
                // records it, then the revocation.
                for (path, want) in [("lookup-accessor", 200), ("revoke-accessor", 204)] {
                    let request = hyper::Request::post(format!("{url}/v1/auth/token/{path}"))
                        .header("x-vault-token", ROOT_TOKEN)
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from(body.clone())))?;
                    let response = client.request(request).await?;
                    let status = response.status();
                    response.into_body().collect().await?;
                    if status.as_u16() != want {
                        anyhow::bail!("{path} answered {status}");
                    }
                }
            }
        }));
    }
    for worker in workers {
        worker.await??;
    }
    Ok(())
}
