//! Throughput of `revoke-token` for thousands of Vault accessors in one
//! signal, against the Vault simulator, as a ratio to a native client doing
//! the same revocations with the same concurrency on the same machine.

use anyhow::{Result, bail};
use bytes::Bytes;
use cordon_e2e::cordon::{PluginEntry, Workspace};
use cordon_sim::vault::{TokenSpec, VaultConfig, VaultSim, VaultState};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

const ROOT_TOKEN: &str = "bench-root-token";

/// Seeds `count` tokens and returns their accessors.
fn seed(state: &VaultState, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| state.seed_token(TokenSpec::new(&format!("ci-runner-{i}"))))
        .collect()
}

pub fn run(count: usize, concurrency: usize) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (sim, state) =
        runtime.block_on(VaultSim::start(VaultConfig::with_root_token(ROOT_TOKEN)))?;
    let url = sim.base_url();

    // Baseline: a native HTTP client revoking `count` accessors, `concurrency` at a time.
    let accessors = seed(&state, count);
    let started = Instant::now();
    runtime.block_on(native_revoke(&url, accessors, concurrency))?;
    let native = count as f64 / started.elapsed().as_secs_f64();

    // Cordon: one signal naming `count` accessors, one revoke-token step.
    let accessors = seed(&state, count);
    let mut ws = Workspace::new();
    ws.env("BENCH_VAULT_TOKEN", ROOT_TOKEN);
    ws.write_config(&[PluginEntry::new("vault", "vault")
        .allow(&url)
        .config("address", &url)
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
    ws.cordon(&["plugins", "list"]).expect_code(0);
    let report = ws
        .cordon(&[
            "run",
            "--playbook",
            "playbook.toml",
            "--signal",
            "signal.json",
            "--json",
        ])
        .expect_code(0)
        .json();
    let revoked = accessors
        .iter()
        .filter(|a| state.token(a).is_some_and(|t| t.revoked))
        .count();
    if revoked != count {
        bail!("only {revoked} of {count} tokens were revoked");
    }
    let contain_ms = report["time_to_contain_ms"].as_f64().unwrap_or(f64::NAN);
    let cordon = count as f64 / (contain_ms / 1000.0);
    println!("    native client ({concurrency} at a time): {native:8.0} revocations/s (baseline)");
    println!(
        "    cordon run, {count} accessors:      {cordon:8.0} actions/s = {:.2} x baseline \
         (time to contain {:.2} s; each action: decision, audited durable intent, sandboxed call, \
         audited durable outcome)",
        cordon / native,
        contain_ms / 1000.0
    );
    runtime.block_on(sim.shutdown());
    Ok(())
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
                let request = hyper::Request::post(format!("{url}/v1/auth/token/revoke-accessor"))
                    .header("x-vault-token", ROOT_TOKEN)
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(
                        json!({ "accessor": accessor }).to_string(),
                    )))?;
                let response = client.request(request).await?;
                let status = response.status();
                response.into_body().collect().await?;
                if status.as_u16() != 204 {
                    anyhow::bail!("revoke-accessor answered {status}");
                }
            }
        }));
    }
    for worker in workers {
        worker.await??;
    }
    Ok(())
}
