//! The provider simulators of `cordon-sim` (Vault, Okta, CyberArk PVWA) and
//! `cordon-sim-github`,
//! started in-process for one test, with the plugin entries, playbooks and
//! signals the tests of their plugins share, and checks on the simulators'
//! request logs.
//!
//! Tests are plain `#[test]` functions: a [`Sim`] owns the tokio runtime its
//! server runs on and stops both when dropped.

use crate::cordon::{PluginEntry, Run, Workspace};
use cordon_sim::RequestRecord;
use cordon_sim::cyberark::{CyberArkConfig, CyberArkSim, CyberArkState, fixtures::CyberArkDemo};
use cordon_sim::okta::{OktaConfig, OktaSim, OktaState, fixtures::OktaDemo};
use cordon_sim::vault::{VaultConfig, VaultSim, VaultState, fixtures::VaultDemo};
use serde_json::Value;
use std::collections::BTreeMap;

/// The Vault root token of [`vault`] (has `sudo`).
pub const VAULT_ROOT_TOKEN: &str = "hvs.e2e-root-token-4f1c9a";
/// The Okta API token of [`okta`].
pub const OKTA_API_TOKEN: &str = "00e2e-okta-api-token-7d2b5e90c1";
/// The CyberArk API user of [`cyberark`] and its password.
pub const CYBERARK_USER: (&str, &str) = ("cordon-svc", "Cyb3rArk-e2e-pass!");

/// A simulator serving on loopback for as long as this value lives.
pub struct Sim<S> {
    /// The simulator's state handle: seed it, and read it independently of Cordon.
    pub state: S,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    // Dropped before the runtime it runs on.
    running: Option<cordon_sim::Running>,
    runtime: tokio::runtime::Runtime,
}

impl<S> Drop for Sim<S> {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            self.runtime.block_on(running.shutdown());
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn start<S, F>(start: F) -> Sim<S>
where
    F: std::future::Future<Output = std::io::Result<(cordon_sim::Running, S)>>,
{
    let runtime = runtime();
    let (running, state) = runtime.block_on(start).expect("start simulator");
    Sim {
        url: running.base_url(),
        state,
        running: Some(running),
        runtime,
    }
}

/// A Vault simulator seeded with the demo org, root token [`VAULT_ROOT_TOKEN`].
pub fn vault() -> (Sim<VaultState>, VaultDemo) {
    vault_with(VaultConfig::with_root_token(VAULT_ROOT_TOKEN))
}

/// A Vault simulator with this config, seeded with the demo org.
pub fn vault_with(config: VaultConfig) -> (Sim<VaultState>, VaultDemo) {
    let sim = start(VaultSim::start(config));
    let demo = cordon_sim::vault::fixtures::demo(&sim.state);
    (sim, demo)
}

/// An Okta simulator seeded with the demo org, API token [`OKTA_API_TOKEN`].
pub fn okta() -> (Sim<OktaState>, OktaDemo) {
    okta_with(OktaConfig::with_api_token(OKTA_API_TOKEN))
}

/// An Okta simulator with this config, seeded with the demo org.
pub fn okta_with(config: OktaConfig) -> (Sim<OktaState>, OktaDemo) {
    let sim = start(OktaSim::start(config));
    let demo = cordon_sim::okta::fixtures::demo(&sim.state);
    (sim, demo)
}

/// A CyberArk PVWA simulator seeded with the demo vault; its only API user
/// is [`CYBERARK_USER`].
pub fn cyberark() -> (Sim<CyberArkState>, CyberArkDemo) {
    let (user, password) = CYBERARK_USER;
    let sim = start(CyberArkSim::start(CyberArkConfig::with_user(
        user, password,
    )));
    let demo = cordon_sim::cyberark::fixtures::demo(&sim.state);
    (sim, demo)
}

/// A simulated GitHub (github.com or Enterprise Server) seeded with the demo
/// organisation.
pub fn github(
    mode: cordon_sim_github::Mode,
) -> (
    Sim<cordon_sim_github::GitHubState>,
    cordon_sim_github::fixtures::GitHubDemo,
) {
    let sim = start(cordon_sim_github::GitHubSim::start(
        cordon_sim_github::GitHubConfig::new(mode),
    ));
    let demo = cordon_sim_github::fixtures::demo(&sim.state);
    (sim, demo)
}

/// The API base URL of a simulated GitHub: the server's root on github.com,
/// `/api/v3` under it on Enterprise Server.
pub fn github_api(sim: &Sim<cordon_sim_github::GitHubState>) -> String {
    match sim.state.mode() {
        cordon_sim_github::Mode::DotCom => sim.url.clone(),
        cordon_sim_github::Mode::EnterpriseServer => format!("{}/api/v3", sim.url),
    }
}

/// The GitHub plugin in the real plugin host, calling the simulated GitHub's
/// API at `api` with `token` and, for OAuth grants, the app's id and secret.
pub fn github_plugin(
    api: &str,
    token: &str,
    oauth: Option<(&str, &str)>,
) -> cordon_plugin_harness::Loaded {
    let mut harness =
        cordon_plugin_harness::Harness::new("github", crate::cordon::plugin("github"))
            .allow(api.trim_end_matches("/api/v3"))
            .config("api_url", api)
            .secret("token", token);
    if let Some((id, secret)) = oauth {
        harness = harness
            .config("oauth_client_id", id)
            .secret("oauth_client_secret", secret);
    }
    harness.load().expect("load the github plugin")
}

/// What the CyberArk plugin may change — live sessions, accounts, users'
/// enabled flags — without what every logon changes (logon tokens, last
/// logon times): equal before and after a run that changed nothing.
pub fn cyberark_state(state: &CyberArkState) -> Value {
    let mut dump = state.dump();
    dump["logons"] = Value::Null;
    for user in dump["users"].as_array_mut().expect("users") {
        user["last_logon_ms"] = Value::Null;
    }
    dump
}

/// The `vault` plugin calling `url` with the token in `$VAULT_TOKEN`.
pub fn vault_plugin(url: &str) -> PluginEntry {
    PluginEntry::new("vault", "vault")
        .allow(url)
        .config("address", url)
        .secret_env("token", "VAULT_TOKEN")
}

/// The `okta` plugin calling `url` with the API token in `$OKTA_API_TOKEN`.
pub fn okta_plugin(url: &str) -> PluginEntry {
    PluginEntry::new("okta", "okta")
        .allow(url)
        .config("org_url", url)
        .secret_env("api_token", "OKTA_API_TOKEN")
}

/// The `cyberark` plugin calling `url` as `$CYBERARK_USERNAME`/`$CYBERARK_PASSWORD`.
pub fn cyberark_plugin(url: &str) -> PluginEntry {
    PluginEntry::new("cyberark", "cyberark")
        .allow(url)
        .config("base_url", &format!("{url}/PasswordVault"))
        .secret_env("username", "CYBERARK_USERNAME")
        .secret_env("password", "CYBERARK_PASSWORD")
}

/// A workspace with these plugins and secrets (`(variable, value)`).
pub fn workspace(plugins: &[PluginEntry], secrets: &[(&str, &str)]) -> Workspace {
    let mut ws = Workspace::new();
    for (var, value) in secrets {
        ws.env(var, value);
    }
    ws.write_config(plugins);
    ws
}

/// One playbook step.
#[derive(Debug, Clone, Default)]
pub struct Step {
    pub id: String,
    pub plugin: String,
    pub action: String,
    /// The signal identities it works on: `(provider, kind)`.
    pub for_each: Option<(String, String)>,
    /// Attributes those identities must have.
    pub attributes: Vec<(String, String)>,
    pub target: Option<String>,
    pub needs: Vec<String>,
    pub params: Vec<(String, String)>,
}

impl Step {
    /// `action` of `plugin` on the signal's identities of this provider and kind.
    pub fn new(id: &str, plugin: &str, action: &str, kind: &str) -> Step {
        Step {
            id: id.into(),
            plugin: plugin.into(),
            action: action.into(),
            for_each: Some((plugin.into(), kind.into())),
            ..Step::default()
        }
    }

    /// Works only on identities with this attribute.
    pub fn with_attribute(mut self, name: &str, value: &str) -> Step {
        self.attributes.push((name.into(), value.into()));
        self
    }

    /// Adds a parameter (a template).
    pub fn param(mut self, name: &str, value: &str) -> Step {
        self.params.push((name.into(), value.into()));
        self
    }

    /// Sets the `target` (a TOML value: a quoted template or an inline table).
    pub fn target(mut self, toml: &str) -> Step {
        self.target = Some(toml.into());
        self
    }

    /// Adds a step this one needs.
    pub fn needs(mut self, step: &str) -> Step {
        self.needs.push(step.into());
        self
    }

    fn toml(&self) -> String {
        let mut text = format!(
            "[[step]]\nid = {:?}\nplugin = {:?}\naction = {:?}\n",
            self.id, self.plugin, self.action
        );
        if let Some((provider, kind)) = &self.for_each {
            let attributes: Vec<String> = self
                .attributes
                .iter()
                .map(|(k, v)| format!("{k} = {v:?}"))
                .collect();
            let attributes = if attributes.is_empty() {
                String::new()
            } else {
                format!(", attributes = {{ {} }}", attributes.join(", "))
            };
            text.push_str(&format!(
                "for_each = {{ provider = {provider:?}, kind = {kind:?}{attributes} }}\n"
            ));
        }
        if let Some(target) = &self.target {
            text.push_str(&format!("target = {target}\n"));
        }
        if !self.needs.is_empty() {
            text.push_str(&format!("needs = {:?}\n", self.needs));
        }
        if !self.params.is_empty() {
            let params: Vec<String> = self
                .params
                .iter()
                .map(|(k, v)| format!("{k} = {v:?}"))
                .collect();
            text.push_str(&format!("params = {{ {} }}\n", params.join(", ")));
        }
        text
    }
}

/// A playbook of these steps, owned by `owner`.
pub fn playbook(name: &str, owner: &str, steps: &[Step]) -> String {
    let mut text = format!("name = {name:?}\nowner = {owner:?}\n\n");
    for step in steps {
        text.push_str(&step.toml());
        text.push('\n');
    }
    text
}

/// Leaked Vault tokens, each of its own identity entity, seeded into a
/// Vault simulator.
pub struct LeakedTokens {
    /// The tokens' accessors.
    pub accessors: Vec<String>,
    /// Their entities, in the same order.
    pub entities: Vec<String>,
    /// The tokens as signal identities (no `entity_id`: later steps read it
    /// from the revocation's evidence).
    pub identities: Value,
}

/// Seeds `n` tokens named `{label}-{i}`, each with an entity of its own.
pub fn leaked_tokens(state: &VaultState, label: &str, n: usize) -> LeakedTokens {
    use cordon_sim::vault::{EntitySpec, TokenSpec};
    let entities: Vec<String> = (0..n)
        .map(|i| {
            state.seed_entity(EntitySpec {
                name: format!("{label}-agent-{i}"),
                ..EntitySpec::default()
            })
        })
        .collect();
    let accessors: Vec<String> = entities
        .iter()
        .enumerate()
        .map(|(i, e)| state.seed_token(TokenSpec::new(&format!("{label}-{i}")).entity(e)))
        .collect();
    let identities = accessors
        .iter()
        .map(|a| serde_json::json!({ "provider": "vault", "kind": "token", "id": a }))
        .collect();
    LeakedTokens {
        accessors,
        entities,
        identities: Value::Array(identities),
    }
}

/// A workspace running `playbook` on the signal naming `tokens`, with
/// `plugin` (a `vault_plugin`, given the simulator's root token) and, if
/// given, `model` as the authority model.
pub fn leaked_tokens_workspace(
    plugin: PluginEntry,
    model: Option<&str>,
    playbook: &str,
    tokens: &LeakedTokens,
) -> Workspace {
    leaked_tokens_workspace_with(plugin, model, playbook, tokens, |_| {})
}

/// [`leaked_tokens_workspace`], with `setup` applied before the config is
/// written (e.g. [`Workspace::postgres`]).
pub fn leaked_tokens_workspace_with(
    plugin: PluginEntry,
    model: Option<&str>,
    playbook: &str,
    tokens: &LeakedTokens,
    setup: impl FnOnce(&mut Workspace),
) -> Workspace {
    let mut ws = workspace(&[], &[("VAULT_TOKEN", VAULT_ROOT_TOKEN)]);
    setup(&mut ws);
    if let Some(model) = model {
        ws.authority(model);
    }
    ws.write_config(&[plugin]);
    ws.write("playbook.toml", playbook);
    ws.write("signal.json", &signal(tokens.identities.clone()));
    ws
}

/// Asserts that `step` has one action per id of `ids`, and each is `ok`.
pub fn assert_one_action_per_target(
    report: &Value,
    step: &str,
    ids: &[String],
    ok: impl Fn(&Value) -> bool,
) {
    let mut targets: Vec<&str> = crate::cordon::actions_of(report, step)
        .iter()
        .map(|a| {
            assert!(ok(a), "{a}");
            a["target"]["id"].as_str().unwrap()
        })
        .collect();
    targets.sort();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(targets, expected, "one {step} action per identity");
}

/// A signal naming these identities (`{provider, kind, id, attributes?}`).
pub fn signal(identities: Value) -> String {
    serde_json::json!({
        "id": "sig-e2e", "kind": "credential.abused", "source": "e2e", "severity": "high",
        "observed_at": "2026-11-28T10:00:00Z", "incident": "INC-E2E",
        "identities": identities,
    })
    .to_string()
}

/// Writes `playbook.toml` and `signal.json`, runs them (with `extra` args
/// such as `--dry-run`) and returns the finished process.
pub fn run(ws: &Workspace, playbook_text: &str, signal_text: &str, extra: &[&str]) -> Run {
    ws.write("playbook.toml", playbook_text);
    ws.write("signal.json", signal_text);
    let mut args = vec![
        "run",
        "--playbook",
        "playbook.toml",
        "--signal",
        "signal.json",
        "--json",
    ];
    args.extend_from_slice(extra);
    ws.cordon(&args)
}

/// Every action's status, in report order.
pub fn statuses(report: &Value) -> Vec<String> {
    report["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| a["status"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// The actions of a report, by `step/target id`.
pub fn by_target(report: &Value) -> BTreeMap<String, Value> {
    report["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| {
            let target = a["target"]["id"]
                .as_str()
                .or_else(|| a["target"].as_str())
                .unwrap_or("?");
            (
                format!("{}/{target}", a["step"].as_str().unwrap_or("?")),
                a.clone(),
            )
        })
        .collect()
}

/// Asserts that the run failed and that every action failed on its first
/// attempt (a refusal is never retried); returns each action's detail.
pub fn failed_at_once(report: &Value) -> Vec<String> {
    assert_eq!(report["status"], "failed", "{report}");
    report["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|action| {
            assert_eq!(action["status"], "failed", "{action}");
            assert_eq!(action["attempts"], 1, "{action}");
            action["detail"].as_str().expect("detail").to_string()
        })
        .collect()
}

/// Checks a simulator's request log after a rate-limited run: after every
/// 429, no request arrived before the instant `reset_ms` says that 429
/// announced, and no window admitted more than `limit` requests. Returns how
/// many 429s there were.
pub fn assert_waited_out(
    requests: &[RequestRecord],
    limit: u32,
    reset_ms: impl Fn(&RequestRecord) -> u64,
) -> usize {
    let mut limited = 0;
    for (i, r) in requests.iter().enumerate() {
        if r.status != 429 {
            continue;
        }
        limited += 1;
        let until = reset_ms(r);
        for later in &requests[i + 1..] {
            assert!(
                later.at_ms >= until,
                "request #{} ({} {}) arrived at {} ms, {} ms before the reset announced by the 429 #{} at {} ms\nlog: {requests:#?}",
                later.seq,
                later.method,
                later.path,
                later.at_ms,
                until - later.at_ms,
                r.seq,
                until
            );
        }
    }
    let mut admitted: BTreeMap<u64, u32> = BTreeMap::new();
    for r in requests.iter().filter(|r| r.status != 429) {
        *admitted
            .entry(r.window_reset_secs.expect("a rate limit is configured"))
            .or_default() += 1;
    }
    for (window, count) in admitted {
        assert!(
            count <= limit,
            "{count} requests admitted in the window ending at {window}, limit {limit}"
        );
    }
    limited
}

/// The reset an Okta 429 announced: `X-Rate-Limit-Reset` (the window's end).
pub fn okta_reset_ms(r: &RequestRecord) -> u64 {
    r.window_reset_secs.expect("rate limited") * 1000
}

/// The instant a Vault 429 asked to wait for: its arrival plus `Retry-After`
/// (whole seconds to the window's end, rounded up).
pub fn vault_retry_at_ms(r: &RequestRecord) -> u64 {
    let end_ms = r.window_reset_secs.expect("rate limited") * 1000;
    let retry_after_secs = (end_ms - r.at_ms).div_ceil(1000).max(1);
    r.at_ms + retry_after_secs * 1000
}
