//! `cargo xtask demo`: two incidents contained live, under the demo
//! organisation's authority model, against moto (AWS IAM, SigV4 on) and the
//! Vault, Okta and CyberArk simulators; every effect checked independently.
//!
//! 1. A leaked AWS key (`aws-leaked-access-key`): keys deactivated, users
//!    fenced — and the break-glass account's key, leaked with them, left
//!    alone (a protected identity: *denied*).
//! 2. A compromised AI agent across four systems
//!    (`ai-agent-identity-compromise`): incident response contains it
//!    everywhere at once (*allowed*), except the key it shares with a human,
//!    which waits for its owners (*needs approval*) until they approve.
//! 3. The post-incident review and the audit chain.
//!
//! All of it through the service: `cordon serve` owns the store, the signals
//! are POSTed to `/v1/signals` with a detector's API token, the owner of the
//! shared key approves through the API with her own token, and the console
//! stays up at the printed address until Enter is pressed.

use crate::root;
use anyhow::{Context, Result, bail};
use cordon_e2e::cordon::PluginEntry;
use cordon_e2e::moto::{Moto, Operator};
use cordon_e2e::served::token;
use cordon_e2e::server::Server;
use cordon_e2e::sims::{self, CYBERARK_USER, OKTA_API_TOKEN, VAULT_ROOT_TOKEN};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const AWS_PLAYBOOK: &str = "playbooks/aws-leaked-access-key.toml";
const AWS_SIGNAL: &str = "playbooks/signals/aws-leaked-access-key.json";
const AGENT_PLAYBOOK: &str = "playbooks/ai-agent-identity-compromise.toml";
const AGENT_SIGNAL: &str = "playbooks/signals/ai-agent-identity-compromise.json";
const OWNER_OF_SHARED_KEY: &str = "nadia@acme.example";

/// Runs `cordon` with the demo's config and secrets, inheriting the terminal.
struct Cordon {
    config: PathBuf,
    env: Vec<(&'static str, String)>,
}

impl Cordon {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(crate::bin_dir().join("cordon"));
        command
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .current_dir(root());
        for (k, v) in &self.env {
            command.env(k, v);
        }
        command
    }
}

/// Collects the outcome of every independent check.
#[derive(Default)]
struct Checks(Vec<String>);

impl Checks {
    fn check(&mut self, ok: bool, what: impl Into<String>) {
        let what = what.into();
        println!("    [{}] {what}", if ok { "ok" } else { "FAIL" });
        if !ok {
            self.0.push(what);
        }
    }
}

fn expect(code: i32, want: i32, what: &str) -> Result<()> {
    if code != want {
        bail!("{what} exited with {code}, expected {want}");
    }
    Ok(())
}

pub fn run() -> Result<()> {
    crate::build()?;
    let root = root();
    let demo = root.join("target/demo");
    let _ = std::fs::remove_dir_all(&demo);
    std::fs::create_dir_all(&demo)?;

    println!(
        "==> starting moto (AWS IAM, SigV4 verification on) and the Vault, Okta and CyberArk simulators"
    );
    let moto = Moto::start();
    let (operator, _) = moto.seed_demo();
    let (vault, vault_demo) = sims::vault();
    let (okta, okta_demo) = sims::okta();
    let (cyberark, cyberark_demo) = sims::cyberark();
    let env = vec![
        ("AWS_ACCESS_KEY_ID", operator.access_key_id.clone()),
        ("AWS_SECRET_ACCESS_KEY", operator.secret_access_key.clone()),
        ("VAULT_TOKEN", VAULT_ROOT_TOKEN.into()),
        ("OKTA_API_TOKEN", OKTA_API_TOKEN.into()),
        ("CYBERARK_USERNAME", CYBERARK_USER.0.into()),
        ("CYBERARK_PASSWORD", CYBERARK_USER.1.into()),
    ];
    let mut cordon = Cordon {
        config: demo.join("cordon.toml"),
        env,
    };
    // The detector may only submit signals; nadia (team nhi, the owner of
    // the key the agent shares with a human) reads and answers.
    let (detector_entry, detector) = token("detector", "detector@acme.example", &["signals"]);
    let (nadia_entry, nadia) = token("nadia", OWNER_OF_SHARED_KEY, &["read", "respond"]);
    let tokens = demo.join("tokens.txt");
    std::fs::write(
        &tokens,
        format!("detector (signals): {detector}\n{OWNER_OF_SHARED_KEY} (read, respond): {nadia}\n"),
    )?;
    restrict(&tokens)?;
    let server_section = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nplaybooks = [{:?}, {:?}]\n{detector_entry}\n{nadia_entry}\n",
        root.join(AWS_PLAYBOOK).display().to_string(),
        root.join(AGENT_PLAYBOOK).display().to_string(),
    );
    cordon.config = write_config(
        &demo,
        &moto,
        &vault.url,
        &okta.url,
        &cyberark.url,
        &server_section,
    )?;
    println!(
        "    authority model: authority.toml · inventory: inventory.toml · config: target/demo/cordon.toml"
    );
    println!("\n$ cordon serve --config target/demo/cordon.toml");
    let mut server = Server::spawn(cordon.command(&["serve"]));
    println!(
        "    listening on {} (API tokens in target/demo/tokens.txt)",
        server.url
    );
    let client = Client {
        bin: crate::bin_dir().join("cordon"),
        addr: server.url.clone(),
        token: nadia.clone(),
    };
    let mut checks = Checks::default();

    println!(
        "\n==> 1. A leaked AWS access key (GitHub secret scanning found four keys in two repositories)"
    );
    let aws_run = submit(&server, &detector, AWS_SIGNAL)?;
    let report = server.settled(&aws_run, &nadia);
    println!(
        "    run {aws_run}: {} (the break-glass key is protected: denied)",
        report["status"].as_str().unwrap_or_default()
    );
    check_aws_incident(&mut checks, &moto, &operator);

    println!("\n==> 2. A compromised AI agent (agent-7) across Vault, AWS, Okta and CyberArk");
    let agent_run = submit(&server, &detector, AGENT_SIGNAL)?;
    let report = server.settled(&agent_run, &nadia);
    println!(
        "    run {agent_run}: {} (the key the agent shares with a human waits for its owners)",
        report["status"].as_str().unwrap_or_default()
    );
    client.show(&["approvals", "list"])?;
    println!(
        "\n$ curl -X POST {}/v1/runs/{agent_run}/approve -H \"Authorization: Bearer $NADIA_TOKEN\" -d '{{}}'",
        server.url
    );
    let approved = server.request(
        "POST",
        &format!("/v1/runs/{agent_run}/approve"),
        Some(&nadia),
        Some("{}"),
    );
    println!("    {} {}", approved.status, approved.body.trim());
    if approved.status != 202 {
        bail!("the approval was refused ({})", approved.status);
    }
    let report = server.settled(&agent_run, &nadia);
    per_provider(&report);
    let export = server.request("GET", "/v1/audit/export", Some(&nadia), None);
    decisions(&export.body)?;
    check_agent_incident(
        &mut checks,
        &moto,
        &operator,
        &vault,
        &vault_demo,
        &okta,
        &okta_demo,
        &cyberark,
        &cyberark_demo,
    );

    println!("\n==> 3. The post-incident review and the audit chain");
    let html = demo.join("INC-70.html");
    let review = server.request(
        "GET",
        "/v1/incidents/INC-70/report?format=html",
        Some(&nadia),
        None,
    );
    std::fs::write(&html, &review.body)?;
    println!("\n$ cordon report INC-70 --format md   (first lines)");
    let md = server.request(
        "GET",
        "/v1/incidents/INC-70/report?format=md",
        Some(&nadia),
        None,
    );
    for line in md.body.lines().take(16) {
        println!("    {line}");
    }
    expect(client.show(&["audit", "verify"])?, 0, "audit verify")?;

    if !checks.0.is_empty() {
        server.sigterm();
        bail!("{} check(s) failed: {:?}", checks.0.len(), checks.0);
    }
    println!(
        "\nDone. The console is at {}/console/ — sign in with nadia's token from \
         target/demo/tokens.txt. The review is also in {}.",
        server.url,
        html.strip_prefix(&root).unwrap_or(&html).display()
    );
    println!("Press Enter to stop the server (it stops at once when stdin is not a terminal).");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    let status = server.sigterm();
    println!("cordon serve stopped ({status}); the runs stay in target/demo/cordon-data.");
    drop((vault, okta, cyberark, moto));
    Ok(())
}

/// Only the owner may read the file of tokens.
fn restrict(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

/// POSTs a signal file as the detector, showing the request; the run it started.
fn submit(server: &Server, detector: &str, signal: &str) -> Result<String> {
    println!(
        "\n$ curl -X POST {}/v1/signals -H \"Authorization: Bearer $DETECTOR_TOKEN\" --data @{signal}",
        server.url
    );
    let body: Value = serde_json::from_str(&std::fs::read_to_string(root().join(signal))?)?;
    let accepted = server.post("/v1/signals", detector, &body);
    println!("    {accepted}");
    accepted["runs"][0]["run_id"]
        .as_str()
        .map(str::to_string)
        .context("the signal started a run")
}

/// The CLI as the server's client (`CORDON_ADDR`, `CORDON_TOKEN`).
struct Client {
    bin: PathBuf,
    addr: String,
    token: String,
}

impl Client {
    fn show(&self, args: &[&str]) -> Result<i32> {
        println!("\n$ CORDON_ADDR={} cordon {}", self.addr, args.join(" "));
        let status = Command::new(&self.bin)
            .args(args)
            .env("CORDON_ADDR", &self.addr)
            .env("CORDON_TOKEN", &self.token)
            .current_dir(root())
            .status()
            .context("running cordon")?;
        Ok(status.code().unwrap_or(-1))
    }
}

fn write_config(
    demo: &Path,
    moto: &Moto,
    vault: &str,
    okta: &str,
    cyberark: &str,
    server: &str,
) -> Result<PathBuf> {
    let aws = PluginEntry::new("aws", "aws")
        .allow(&moto.endpoint())
        .config("endpoint", &moto.endpoint())
        .secret_env("access_key_id", "AWS_ACCESS_KEY_ID")
        .secret_env("secret_access_key", "AWS_SECRET_ACCESS_KEY");
    let plugins = [
        aws,
        sims::vault_plugin(vault),
        sims::okta_plugin(okta),
        sims::cyberark_plugin(cyberark),
    ];
    let root = root();
    let mut text = format!(
        "# Generated by `cargo xtask demo`: four plugins pinned by digest, pointed at loopback emulators.\n\
         [store]\npath = \"cordon-data\"\n[cache]\npath = {:?}\n\
         [authority]\npath = {:?}\n[inventory]\npath = {:?}\n\n",
        root.join("target/component-cache").display().to_string(),
        root.join("authority.toml").display().to_string(),
        root.join("inventory.toml").display().to_string(),
    );
    for plugin in plugins {
        text.push_str(&plugin.toml());
        text.push('\n');
    }
    text.push_str(server);
    let path = demo.join("cordon.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// What was contained per provider, and how long after the run started.
fn per_provider(report: &Value) {
    println!("\n    Contained, per provider (time from the start of the run):");
    let started = report["started_at"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut providers: Vec<&str> = report["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["plugin"].as_str())
        .collect();
    providers.sort();
    providers.dedup();
    for provider in providers {
        let actions: Vec<&Value> = report["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["plugin"] == provider)
            .collect();
        let names: Vec<String> = actions
            .iter()
            .map(|a| {
                format!(
                    "{} {}",
                    a["action"].as_str().unwrap_or_default(),
                    a["status"].as_str().unwrap_or_default()
                )
            })
            .collect();
        let last = actions
            .iter()
            .filter_map(|a| a["finished_at"].as_str())
            .max()
            .unwrap_or_default();
        println!(
            "      {provider:9} {:>9}  {}",
            elapsed(&started, last),
            names.join(", ")
        );
    }
    if let Some(ms) = report["time_to_contain_ms"].as_i64() {
        println!(
            "      overall   {:>7.3} s  (including the wait for the owners' approval)",
            ms as f64 / 1000.0
        );
    }
}

fn elapsed(from: &str, to: &str) -> String {
    let seconds = |t: &str| -> Option<f64> {
        let time = t.split('T').nth(1)?.trim_end_matches('Z');
        let mut parts = time.split(':');
        let (h, m, s): (f64, f64, f64) = (
            parts.next()?.parse().ok()?,
            parts.next()?.parse().ok()?,
            parts.next()?.parse().ok()?,
        );
        Some((h * 60.0 + m) * 60.0 + s)
    };
    match (seconds(from), seconds(to)) {
        (Some(a), Some(b)) => format!("{:.3} s", b - a),
        _ => "—".into(),
    }
}

/// One line per kind of decision the demo produced, with an example.
fn decisions(export: &str) -> Result<()> {
    println!("\n    Decisions made before anything ran (from the audit log):");
    let mut seen = std::collections::BTreeMap::new();
    for line in export.lines() {
        let record: Value = serde_json::from_str(line)?;
        if record["kind"] != "decision" {
            continue;
        }
        let decision = &record["data"]["decision"];
        let kind = decision["decision"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let why = decision["rule"]
            .as_str()
            .or(decision["reason"].as_str())
            .unwrap_or_default();
        let target = &record["data"]["target"];
        let example = format!(
            "{} on {}:{}:{} — {why}",
            record["data"]["action"].as_str().unwrap_or_default(),
            target["provider"].as_str().unwrap_or_default(),
            target["kind"].as_str().unwrap_or_default(),
            target["id"].as_str().unwrap_or_default()
        );
        seen.entry(kind).or_insert((0, example)).0 += 1;
    }
    for (kind, (count, example)) in &seen {
        println!("      {kind:15} x{count:<3} e.g. {example}");
    }
    Ok(())
}

fn check_aws_incident(checks: &mut Checks, moto: &Moto, operator: &Operator) {
    println!("\n    Checking AWS through an independent client (boto3):");
    let state = moto.state(operator);
    let key = |user: &str, i: usize| {
        state["users"][user]["keys"]
            .as_object()
            .and_then(|k| k.keys().nth(i).cloned())
            .unwrap_or_default()
    };
    let status = |user: &str, key: &str| {
        state["users"][user]["keys"][key]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let fenced = |user: &str| {
        state["users"][user]["policies"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p == "CordonQuarantine"))
    };
    for (user, leaked) in [
        (
            "ci-bot",
            vec!["AKIARZPUZDIKDPDA4B6J", "AKIARZPUZDIKHAT3EO7W"],
        ),
        ("data-pipeline", vec!["AKIARZPUZDIKPZV4I7QK"]),
    ] {
        for k in leaked {
            checks.check(
                status(user, k) == "Inactive",
                format!("{user}'s leaked key {k} is Inactive"),
            );
        }
        checks.check(
            fenced(user),
            format!("{user} is fenced by the CordonQuarantine deny-all policy"),
        );
    }
    checks.check(
        status("data-pipeline", "AKIARZPUZDIKE56U2GIR") == "Active",
        "data-pipeline's other key (not leaked) is Active",
    );
    let glass = key("break-glass-admin", 0);
    checks.check(
        status("break-glass-admin", &glass) == "Active",
        format!("break-glass-admin's key {glass} is untouched (protected)"),
    );
    checks.check(
        !fenced("break-glass-admin"),
        "break-glass-admin is not fenced",
    );
}

#[allow(clippy::too_many_arguments)]
fn check_agent_incident(
    checks: &mut Checks,
    moto: &Moto,
    operator: &Operator,
    vault: &sims::Sim<cordon_sim::vault::VaultState>,
    vault_demo: &cordon_sim::vault::fixtures::VaultDemo,
    okta: &sims::Sim<cordon_sim::okta::OktaState>,
    okta_demo: &cordon_sim::okta::fixtures::OktaDemo,
    cyberark: &sims::Sim<cordon_sim::cyberark::CyberArkState>,
    cyberark_demo: &cordon_sim::cyberark::fixtures::CyberArkDemo,
) {
    println!("\n    Checking every system through its own state (simulators) and boto3 (AWS):");
    let token = vault.state.token(&vault_demo.agent_token_accessor);
    checks.check(
        token.is_some_and(|t| t.revoked),
        "Vault: agent-7's token is revoked",
    );
    let entity = vault.state.entity(&vault_demo.agent_entity_id);
    checks.check(
        entity.is_some_and(|e| e.disabled),
        "Vault: agent-7's identity entity is disabled",
    );
    let state = moto.state(operator);
    checks.check(
        state["users"]["release-agent"]["keys"]["AKIARZPUZDIKGPSCFH3X"] == "Inactive",
        "AWS: the key shared by release-agent and agent-7 is Inactive (after its owners approved)",
    );
    checks.check(
        state["roles"]["deploy-role"]["policies"]["AWSRevokeOlderSessions"].is_object(),
        "AWS: deploy-role's earlier sessions are revoked",
    );
    let app = okta.state.app(&okta_demo.agent_app_id);
    checks.check(
        app.is_some_and(|a| a.status == "INACTIVE"),
        "Okta: agent-7's service app is deactivated",
    );
    checks.check(
        !okta.state.api_token_exists(&okta_demo.agent_api_token_id),
        "Okta: agent-7's API token is revoked",
    );
    let live: Vec<_> = [
        &cyberark_demo.agent_session_id,
        &cyberark_demo.agent_rdp_session_id,
    ]
    .into_iter()
    .filter(|id| {
        cyberark
            .state
            .live_session(id)
            .is_some_and(|s| !s.terminated)
    })
    .collect();
    checks.check(
        live.is_empty(),
        "CyberArk: every PSM session of agent-7, the shared root account's included, is terminated",
    );
}
