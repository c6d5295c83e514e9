//! Running the `cordon` binary in a scratch folder with a generated config.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The built `cordon` binary.
pub fn binary() -> PathBuf {
    super::required_path("CORDON_BIN", "target/e2e/cordon")
}

/// A built plugin component, e.g. `aws` → `target/plugins/aws.wasm`.
pub fn plugin(name: &str) -> PathBuf {
    super::required_path("CORDON_PLUGINS", "target/plugins").join(format!("{name}.wasm"))
}

/// The sha256 of a file, as the config pins it.
pub fn sha256_of(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).expect("read component")))
}

/// A plugin entry of a generated config.
#[derive(Debug, Clone)]
pub struct PluginEntry {
    pub name: String,
    pub component: PathBuf,
    pub sha256: String,
    pub allowed_hosts: Vec<String>,
    pub secrets: BTreeMap<String, String>,
    pub config: BTreeMap<String, String>,
    pub limits: Vec<(String, u64)>,
}

impl PluginEntry {
    /// The built plugin `component` (e.g. `aws`) under the name `name`.
    pub fn new(name: &str, component: &str) -> PluginEntry {
        let path = plugin(component);
        PluginEntry {
            name: name.into(),
            sha256: sha256_of(&path),
            component: path,
            allowed_hosts: Vec::new(),
            secrets: BTreeMap::new(),
            config: BTreeMap::new(),
            limits: Vec::new(),
        }
    }

    pub fn allow(mut self, origin: &str) -> Self {
        self.allowed_hosts.push(origin.into());
        self
    }

    /// Grants a secret read from environment variable `var`.
    pub fn secret_env(mut self, name: &str, var: &str) -> Self {
        self.secrets.insert(name.into(), format!("env:{var}"));
        self
    }

    pub fn config(mut self, key: &str, value: &str) -> Self {
        self.config.insert(key.into(), value.into());
        self
    }

    pub fn limit(mut self, name: &str, value: u64) -> Self {
        self.limits.push((name.into(), value));
        self
    }

    /// The `[plugins.NAME]` table of this entry.
    pub fn toml(&self) -> String {
        let quote = |s: &str| format!("{s:?}");
        let table = |m: &BTreeMap<String, String>| {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k} = {}", quote(v)))
                .collect();
            format!("{{ {} }}", items.join(", "))
        };
        let hosts: Vec<String> = self.allowed_hosts.iter().map(|h| quote(h)).collect();
        let limits: Vec<String> = self
            .limits
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect();
        format!(
            "[plugins.{}]\ncomponent = {}\nsha256 = {}\nallowed_hosts = [{}]\nsecrets = {}\nconfig = {}\nlimits = {{ {} }}\n",
            self.name,
            quote(&self.component.display().to_string()),
            quote(&self.sha256),
            hosts.join(", "),
            table(&self.secrets),
            table(&self.config),
            limits.join(", ")
        )
    }
}

/// `cordon run` of the workspace's `playbook.toml` on its `signal.json`.
pub const RUN: &[&str] = &[
    "run",
    "--playbook",
    "playbook.toml",
    "--signal",
    "signal.json",
];

/// `cordon run` of the workspace's `playbook.toml` on its `signal.json`, as JSON.
pub const RUN_JSON: &[&str] = &[
    "run",
    "--playbook",
    "playbook.toml",
    "--signal",
    "signal.json",
    "--json",
];

/// A scratch folder with a config, playbooks and signals, where `cordon` runs.
pub struct Workspace {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    cache: PathBuf,
    models: String,
    store: String,
}

impl Default for Workspace {
    fn default() -> Self {
        Self::new()
    }
}

impl Workspace {
    pub fn new() -> Workspace {
        Workspace {
            dir: tempfile::Builder::new()
                .prefix("cordon-e2e-")
                .tempdir()
                .expect("tempdir"),
            env: Vec::new(),
            cache: super::workspace_root().join("target/e2e-component-cache"),
            models: String::new(),
            store: "[store]\npath = \"cordon-data\"\n".into(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Keeps compiled components in this workspace instead of the folder
    /// shared by all tests (call before [`Workspace::write_config`]).
    pub fn private_cache(&mut self) -> PathBuf {
        self.cache = self.dir.path().join("component-cache");
        self.cache.clone()
    }

    /// Uses this authority model (written to `authority.toml`) in configs
    /// written after this call.
    pub fn authority(&mut self, model: &str) {
        self.write("authority.toml", model);
        self.models
            .push_str("[authority]\npath = \"authority.toml\"\n");
    }

    /// Uses this inventory (written to `inventory.toml`) in configs written
    /// after this call.
    pub fn inventory(&mut self, inventory: &str) {
        self.write("inventory.toml", inventory);
        self.models
            .push_str("[inventory]\npath = \"inventory.toml\"\n");
    }

    /// Keeps state in the PostgreSQL database at `url` in configs written
    /// after this call (the URL reaches `cordon` through the environment
    /// variable `CORDON_STORE_URL`, never the config file).
    pub fn postgres(&mut self, url: &str) {
        self.env("CORDON_STORE_URL", url);
        self.store = "[store]\nbackend = \"postgres\"\nurl = \"env:CORDON_STORE_URL\"\n".into();
    }

    /// [`Workspace::postgres`], shared by `cordon serve` replicas whose
    /// run leases last `lease_ms` unrenewed.
    pub fn replicas(&mut self, url: &str, lease_ms: u64) {
        self.postgres(url);
        self.store
            .push_str(&format!("replicas = true\nlease_ms = {lease_ms}\n"));
    }

    /// Keeps state in PostgreSQL at `url` if one is given ([`Workspace::postgres`]),
    /// else in the default sled folder: for tests run on either store.
    pub fn store_in(&mut self, postgres: Option<&str>) {
        if let Some(url) = postgres {
            self.postgres(url);
        }
    }

    /// Adds this TOML (e.g. a `[server]` section) to configs written after
    /// this call.
    pub fn config_extra(&mut self, toml: &str) {
        self.models.push_str(toml);
        self.models.push('\n');
    }

    /// Writes `cordon.toml` with these plugins.
    pub fn write_config(&self, plugins: &[PluginEntry]) -> PathBuf {
        let mut text = format!(
            "{}[cache]\npath = {:?}\n{}\n",
            self.store,
            self.cache.display().to_string(),
            self.models
        );
        for plugin in plugins {
            text.push_str(&plugin.toml());
            text.push('\n');
        }
        self.write("cordon.toml", &text)
    }

    /// Writes a file into the workspace.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write file");
        path
    }

    /// Sets an environment variable for every `cordon` this workspace runs.
    pub fn env(&mut self, key: &str, value: &str) {
        self.env.push((key.into(), value.into()));
    }

    /// A `cordon` command in this workspace.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(binary());
        command
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            command.env(k, v);
        }
        command
    }

    /// Runs `cordon` to completion.
    pub fn cordon(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().expect("run cordon");
        Run { output }
    }

    /// The sled store's folder.
    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("cordon-data")
    }
}

/// A finished `cordon` process.
pub struct Run {
    pub output: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Stdout parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.output.stdout).unwrap_or_else(|err| {
            panic!(
                "stdout is not JSON ({err}):\n{}\nstderr:\n{}",
                self.stdout(),
                self.stderr()
            )
        })
    }

    /// Panics with both streams unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code(),
            code,
            "unexpected exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
}

/// The actions of a run report whose step is `step`.
pub fn actions_of<'a>(report: &'a serde_json::Value, step: &str) -> Vec<&'a serde_json::Value> {
    report["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter(|a| a["step"] == step)
        .collect()
}
