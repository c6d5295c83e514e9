//! Time to contain under a faulty provider: the shipped Vault playbook on
//! 200 leaked tokens (revoke each, fence its entity) against the Vault
//! simulator injecting 10 % 500s, 5 % 429s (`Retry-After: 1`) and 1 % hung
//! requests, as a ratio to the same run without faults, in the same run.

use anyhow::{Result, bail};
use cordon_e2e::cordon::{PluginEntry, RUN_JSON, Workspace};
use cordon_sim::Faults;
use cordon_sim::vault::{VaultConfig, VaultSim, VaultState};
use serde_json::json;

const ROOT_TOKEN: &str = "bench-root-token";
const TOKENS: usize = 200;

/// One run of the shipped playbook on fresh tokens: its time to contain.
fn contain(state: &VaultState, url: &str, label: &str) -> Result<f64> {
    let leaked = cordon_e2e::sims::leaked_tokens(state, label, TOKENS);
    let mut ws = Workspace::new();
    ws.env("BENCH_VAULT_TOKEN", ROOT_TOKEN);
    ws.write_config(&[PluginEntry::new("vault", "vault")
        .allow(url)
        .config("address", url)
        .secret_env("token", "BENCH_VAULT_TOKEN")
        .limit("timeout_ms", 4000)]);
    let root = cordon_e2e::workspace_root();
    ws.write(
        "playbook.toml",
        &std::fs::read_to_string(root.join("playbooks/vault-token-leak.toml"))?,
    );
    ws.write(
        "signal.json",
        &json!({ "id": format!("bench-{label}"), "kind": "credential.exposed", "source": "bench",
                 "severity": "high", "observed_at": "2026-11-28T10:00:00Z",
                 "identities": leaked.identities })
        .to_string(),
    );
    ws.cordon(&["plugins", "list"]).expect_code(0);
    let report = ws.cordon(RUN_JSON).json();
    let contained = leaked
        .accessors
        .iter()
        .zip(&leaked.entities)
        .filter(|(token, entity)| {
            state.token(token).is_some_and(|t| t.revoked)
                && state.entity(entity).is_some_and(|e| e.disabled)
        })
        .count();
    if contained != TOKENS {
        bail!(
            "{label}: only {contained} of {TOKENS} identities contained ({})",
            report["status"]
        );
    }
    Ok(report["time_to_contain_ms"].as_f64().unwrap_or(f64::NAN) / 1000.0)
}

pub fn run() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (sim, state) =
        runtime.block_on(VaultSim::start(VaultConfig::with_root_token(ROOT_TOKEN)))?;
    let url = sim.base_url();
    let clean = contain(&state, &url, "clean")?;
    state.set_faults(Faults {
        error_rate: 0.10,
        throttle_rate: 0.05,
        hang_rate: 0.01,
        ..Faults::none()
    });
    let faulty = contain(&state, &url, "faulty")?;
    state.set_faults(Faults::none());
    println!(
        "    no faults:                        {clean:6.2} s to contain {TOKENS} tokens and their entities (baseline)"
    );
    println!(
        "    10 % 500 + 5 % 429 + 1 % hung:    {faulty:6.2} s = {:.1} x baseline, every identity contained",
        faulty / clean
    );
    runtime.block_on(sim.shutdown());
    Ok(())
}
