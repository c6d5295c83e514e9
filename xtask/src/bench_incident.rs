//! Time to contain the cross-provider AI-agent incident (Vault, AWS, Okta,
//! CyberArk) on loopback, and how much running its independent steps at once
//! saves: the ratio of the actions' summed durations to the time to contain,
//! both measured in the same run.

use crate::root;
use anyhow::{Context, Result};
use cordon_e2e::cordon::{PluginEntry, Workspace};
use cordon_e2e::moto::Moto;
use cordon_e2e::sims::{self, CYBERARK_USER, OKTA_API_TOKEN, VAULT_ROOT_TOKEN};

const RUNS: usize = 3;

pub fn run() -> Result<()> {
    let mut rows = Vec::new();
    for _ in 0..RUNS {
        let moto = Moto::start();
        let (operator, _) = moto.seed_demo();
        let (vault, _) = sims::vault();
        let (okta, _) = sims::okta();
        let (cyberark, _) = sims::cyberark();
        let mut ws = Workspace::new();
        for (var, value) in [
            ("AWS_ACCESS_KEY_ID", operator.access_key_id.as_str()),
            ("AWS_SECRET_ACCESS_KEY", operator.secret_access_key.as_str()),
            ("VAULT_TOKEN", VAULT_ROOT_TOKEN),
            ("OKTA_API_TOKEN", OKTA_API_TOKEN),
            ("CYBERARK_USERNAME", CYBERARK_USER.0),
            ("CYBERARK_PASSWORD", CYBERARK_USER.1),
        ] {
            ws.env(var, value);
        }
        ws.write_config(&[
            PluginEntry::new("aws", "aws")
                .allow(&moto.endpoint())
                .config("endpoint", &moto.endpoint())
                .secret_env("access_key_id", "AWS_ACCESS_KEY_ID")
                .secret_env("secret_access_key", "AWS_SECRET_ACCESS_KEY"),
            sims::vault_plugin(&vault.url),
            sims::okta_plugin(&okta.url),
            sims::cyberark_plugin(&cyberark.url),
        ]);
        ws.cordon(&["plugins", "list"]).expect_code(0);
        let playbook = root().join("playbooks/ai-agent-identity-compromise.toml");
        let signal = root().join("playbooks/signals/ai-agent-identity-compromise.json");
        let report = ws
            .cordon(&[
                "run",
                "--playbook",
                playbook.to_str().context("path")?,
                "--signal",
                signal.to_str().context("path")?,
                "--json",
            ])
            .expect_code(0)
            .json();
        let contain = report["time_to_contain_ms"]
            .as_f64()
            .context("time to contain")?;
        let summed: f64 = report["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|a| a["requests"].as_array().cloned().unwrap_or_default())
            .filter_map(|r| r["duration_ms"].as_f64())
            .sum();
        rows.push((contain, summed));
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (contain, summed) = rows[rows.len() / 2];
    println!(
        "    time to contain, 7 actions over 4 providers (median of {RUNS}): {contain:.0} ms; \
         the provider calls themselves add up to {summed:.0} ms = {:.1} x the time to contain \
         (independent steps run at once)",
        summed / contain
    );
    Ok(())
}
