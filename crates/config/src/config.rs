//! The operator's configuration (`cordon.toml`): where state lives and which
//! plugins may run, pinned by digest, with their allow-lists, secrets and limits.
//!
//! Relative paths are resolved against the folder that holds the config file.

use crate::server::{RawServer, ServerConfig};
use cordon_input::diagnostic::{self, InputErrors, SourceFile};
pub use cordon_plugin_host::settings::{Limits, Origin, PluginConfig, SecretRef, SecretSource};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A validated operator configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file itself.
    pub path: PathBuf,
    /// The sled store's folder.
    pub store_path: PathBuf,
    /// How far the store's flushes go before a commit counts as durable.
    pub store_sync: cordon_store::SyncMode,
    /// Where compiled components are cached.
    pub cache_path: PathBuf,
    /// The containment-authority model, if one is configured.
    pub authority_path: Option<PathBuf>,
    /// The identity inventory, if one is configured.
    pub inventory_path: Option<PathBuf>,
    /// Plugins by the name playbooks use.
    pub plugins: BTreeMap<String, PluginConfig>,
    /// How `cordon serve` listens and whom it accepts.
    pub server: ServerConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    cache: RawCache,
    #[serde(default)]
    authority: Option<RawFileRef>,
    #[serde(default)]
    inventory: Option<RawFileRef>,
    #[serde(default)]
    plugins: BTreeMap<String, RawPlugin>,
    #[serde(default)]
    server: RawServer,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFileRef {
    path: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    path: String,
    #[serde(default)]
    sync: cordon_store::SyncMode,
}

impl Default for RawStore {
    fn default() -> Self {
        RawStore {
            path: "cordon-data".into(),
            sync: cordon_store::SyncMode::default(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCache {
    path: String,
}

impl Default for RawCache {
    fn default() -> Self {
        RawCache {
            path: ".cordon-cache".into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlugin {
    component: Spanned<String>,
    sha256: Spanned<String>,
    #[serde(default)]
    allowed_hosts: Vec<Spanned<String>>,
    #[serde(default)]
    secrets: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    config: BTreeMap<String, String>,
    #[serde(default)]
    limits: Option<Spanned<Limits>>,
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, InputErrors> {
        Config::parse(&SourceFile::read(path)?)
    }

    /// Parses and validates config text; relative paths resolve against the
    /// folder of `source.path`.
    pub fn parse(source: &SourceFile) -> Result<Config, InputErrors> {
        let raw: RawConfig = diagnostic::from_toml(source)?;
        let base = source
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut errors = InputErrors::default();
        let mut plugins = BTreeMap::new();
        for (name, raw) in raw.plugins {
            if let Some(plugin) = validate_plugin(source, &base, &name, raw, &mut errors) {
                plugins.insert(name, plugin);
            }
        }
        let server = raw.server.validate(source, &base, &mut errors.0);
        errors.into_result(Config {
            path: source.path.clone(),
            store_path: base.join(raw.store.path),
            store_sync: raw.store.sync,
            cache_path: base.join(raw.cache.path),
            authority_path: raw.authority.map(|a| base.join(a.path)),
            inventory_path: raw.inventory.map(|i| base.join(i.path)),
            plugins,
            server,
        })
    }

    /// The plugin called `name`.
    pub fn plugin(&self, name: &str) -> Option<&PluginConfig> {
        self.plugins.get(name)
    }
}

fn validate_plugin(
    source: &SourceFile,
    base: &Path,
    name: &str,
    raw: RawPlugin,
    errors: &mut InputErrors,
) -> Option<PluginConfig> {
    let field = |f: &str| format!("plugins.{name}.{f}");
    let before = errors.0.len();

    let sha256 = raw.sha256.get_ref().trim().to_ascii_lowercase();
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        errors.push(source.error_at(
            Some(raw.sha256.span()),
            field("sha256"),
            "must be the component's sha256 digest: 64 hexadecimal characters",
        ));
    }
    if raw.component.get_ref().trim().is_empty() {
        errors.push(source.error_at(
            Some(raw.component.span()),
            field("component"),
            "must name the plugin's .wasm component file",
        ));
    }

    let mut allowed_hosts = Vec::new();
    for (i, host) in raw.allowed_hosts.iter().enumerate() {
        match Origin::parse(host.get_ref()) {
            Ok(origin) => allowed_hosts.push(origin),
            Err(error) => errors.push(source.error_at(
                Some(host.span()),
                format!("plugins.{name}.allowed_hosts[{i}]"),
                error.to_string(),
            )),
        }
    }

    let mut secrets = BTreeMap::new();
    for (secret, reference) in &raw.secrets {
        match secret_ref(reference, source, base) {
            Some(found) => {
                secrets.insert(secret.clone(), found);
            }
            None => errors.push(source.error_at(
                Some(reference.span()),
                format!("plugins.{name}.secrets.{secret}"),
                SECRET_REF_HINT,
            )),
        }
    }

    let limits_span = raw.limits.as_ref().map(|l| l.span());
    let limits = raw
        .limits
        .as_ref()
        .map(|l| *l.get_ref())
        .unwrap_or_default();
    let limit_checks: [(&str, bool, &str); 5] = [
        ("timeout_ms", limits.timeout_ms > 0, "must be at least 1"),
        (
            "request_timeout_ms",
            limits.request_timeout_ms < limits.timeout_ms,
            "must be below timeout_ms, so a hung request fails while the call can still answer (0: half of timeout_ms)",
        ),
        ("cpu_ms", limits.cpu_ms > 0, "must be at least 1"),
        (
            "memory_mb",
            (1..=4096).contains(&limits.memory_mb),
            "must be between 1 and 4096",
        ),
        (
            "concurrency",
            (1..=256).contains(&limits.concurrency),
            "must be between 1 and 256",
        ),
    ];
    for (name_of_limit, ok, message) in limit_checks {
        if !ok {
            errors.push(source.error_at(
                limits_span.clone(),
                format!("plugins.{name}.limits.{name_of_limit}"),
                message,
            ));
        }
    }

    let (line, column) = source.line_col(raw.component.span().start);
    (errors.0.len() == before).then(|| PluginConfig {
        name: name.to_string(),
        location: format!("{}:{line}:{column}", source.path.display()),
        component: base.join(raw.component.get_ref()),
        sha256,
        allowed_hosts,
        secrets,
        config: raw.config,
        limits,
    })
}

/// What a secret reference must look like.
pub(crate) const SECRET_REF_HINT: &str =
    "must be a reference `env:NAME` or `file:PATH`, never the secret itself";

/// The secret `reference` names (`env:NAME`, or `file:PATH` relative to
/// `base`), located in `source` for later errors; `None` if it is not one.
pub(crate) fn secret_ref(
    reference: &Spanned<String>,
    source: &SourceFile,
    base: &Path,
) -> Option<SecretRef> {
    let (line, column) = source.line_col(reference.span().start);
    let location = format!("{}:{line}:{column}", source.path.display());
    let source = match reference.get_ref().split_once(':') {
        Some(("env", var)) if !var.is_empty() => SecretSource::Env(var.to_string()),
        Some(("file", path)) if !path.is_empty() => SecretSource::File(base.join(path)),
        _ => return None,
    };
    Some(SecretRef { source, location })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn parse(text: &str) -> Result<Config, InputErrors> {
        Config::parse(&SourceFile::from_text("/etc/cordon/cordon.toml", text))
    }

    #[test]
    fn parses_a_plugin_with_defaults_and_relative_paths() {
        let config = parse(&format!(
            r#"
[plugins.aws]
component = "plugins/aws.wasm"
sha256 = "{DIGEST}"
allowed_hosts = ["https://iam.amazonaws.com", "http://127.0.0.1:5000/"]
secrets = {{ access_key_id = "env:AWS_ACCESS_KEY_ID", secret_access_key = "file:aws.secret" }}
config = {{ region = "us-east-1" }}
limits = {{ timeout_ms = 5000 }}
"#
        ))
        .unwrap();
        let aws = config.plugin("aws").unwrap();
        assert_eq!(aws.component, PathBuf::from("/etc/cordon/plugins/aws.wasm"));
        assert_eq!(config.store_path, PathBuf::from("/etc/cordon/cordon-data"));
        assert_eq!(
            aws.allowed_hosts[0].to_string(),
            "https://iam.amazonaws.com:443"
        );
        assert_eq!(aws.allowed_hosts[1].to_string(), "http://127.0.0.1:5000");
        assert_eq!(
            aws.secrets["secret_access_key"].source,
            SecretSource::File("/etc/cordon/aws.secret".into())
        );
        assert_eq!(aws.limits.timeout_ms, 5000);
        assert_eq!(aws.limits.concurrency, 16);
    }

    #[test]
    fn reports_every_bad_field_with_its_location() {
        let err = parse(
            "[plugins.aws]\ncomponent = \"aws.wasm\"\nsha256 = \"abc\"\nallowed_hosts = [\"https://x.com/path\"]\nsecrets = { key = \"AKIAEXAMPLE\" }\n",
        )
        .unwrap_err();
        let fields: Vec<_> = err.0.iter().map(|e| (e.field.as_str(), e.line)).collect();
        assert_eq!(
            fields,
            [
                ("plugins.aws.sha256", 3),
                ("plugins.aws.allowed_hosts[0]", 4),
                ("plugins.aws.secrets.key", 5)
            ]
        );
        // The rejected secret reference is not echoed back.
        assert!(!err.to_string().contains("AKIAEXAMPLE"));
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = parse("[plugins.aws]\ncomponent = \"a\"\nsha = \"b\"\n").unwrap_err();
        assert!(err.0[0].message.contains("unknown field `sha`"), "{err}");
        assert_eq!(err.0[0].line, 3);
    }

    #[test]
    fn origins_default_their_ports() {
        assert_eq!(Origin::parse("HTTP://Example.com").unwrap().port, 80);
        assert!(Origin::parse("ftp://x").is_err());
        assert!(Origin::parse("https://x.com:99999").is_err());
    }

    #[test]
    fn origins_take_bracketed_ipv6_and_refuse_broken_hosts() {
        let v6 = Origin::parse("http://[::1]:8200").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("[::1]", 8200));
        assert_eq!(Origin::parse("https://[::1]/").unwrap().port, 443);
        assert_eq!(Origin::parse("http://127.0.0.1:5000").unwrap().port, 5000);
        for broken in [
            "http://[::1",
            "http://[::1]x",
            "http://[zz]:80",
            "http://a b.example",
            "http://::1",
            "http://:80",
        ] {
            assert!(Origin::parse(broken).is_err(), "{broken} was accepted");
        }
    }
}
