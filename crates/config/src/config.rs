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
    /// Where durable state lives.
    pub store: StoreConfig,
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

/// Where durable state lives (`[store]`).
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// `backend = "sled"` (the default): the embedded store in a folder.
    Sled {
        /// The store's folder (`path`, default `cordon-data`).
        path: PathBuf,
        /// How far flushes go before a commit counts as durable (`sync`).
        sync: cordon_store::SyncMode,
    },
    /// `backend = "postgres"`: a PostgreSQL database that replicas share.
    Postgres {
        /// Where the database URL is read from (`url`, `env:` or `file:`).
        url: SecretRef,
        /// Run leases, when several `cordon serve` replicas share the
        /// database (`replicas = true`): how long one lasts unrenewed
        /// (`lease_ms`, default 10 s). `None`: one process at a time.
        replicas: Option<std::time::Duration>,
    },
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStore {
    #[serde(default)]
    backend: Option<Spanned<String>>,
    #[serde(default)]
    path: Option<Spanned<String>>,
    #[serde(default)]
    sync: Option<Spanned<cordon_store::SyncMode>>,
    #[serde(default)]
    url: Option<Spanned<String>>,
    #[serde(default)]
    replicas: Option<Spanned<bool>>,
    #[serde(default)]
    lease_ms: Option<Spanned<u64>>,
}

/// How long a run lease lasts unrenewed, unless `lease_ms` says.
const DEFAULT_LEASE_MS: u64 = 10_000;

impl StoreConfig {
    /// How long run leases last, when replicas share the store.
    pub fn lease(&self) -> Option<std::time::Duration> {
        match self {
            StoreConfig::Postgres { replicas, .. } => *replicas,
            StoreConfig::Sled { .. } => None,
        }
    }
}

impl RawStore {
    fn validate(
        self,
        source: &SourceFile,
        base: &Path,
        errors: &mut InputErrors,
    ) -> Option<StoreConfig> {
        let backend = self.backend.as_ref().map(|b| b.get_ref().as_str());
        match backend {
            None | Some("sled") => {
                if let Some(url) = &self.url {
                    errors.push(source.error_at(
                        Some(url.span()),
                        "store.url",
                        "only the postgres backend has a URL; add `backend = \"postgres\"` or remove it",
                    ));
                }
                for (field, span) in [
                    ("replicas", self.replicas.as_ref().map(Spanned::span)),
                    ("lease_ms", self.lease_ms.as_ref().map(Spanned::span)),
                ] {
                    if let Some(span) = span {
                        errors.push(source.error_at(
                            Some(span),
                            format!("store.{field}"),
                            "only the postgres backend is shared by replicas (a sled folder belongs to one process); add `backend = \"postgres\"` or remove it",
                        ));
                    }
                }
                let path = self.path.map(Spanned::into_inner);
                Some(StoreConfig::Sled {
                    path: base.join(path.as_deref().unwrap_or("cordon-data")),
                    sync: self.sync.map(Spanned::into_inner).unwrap_or_default(),
                })
            }
            Some("postgres") => {
                for (field, span) in [
                    ("path", self.path.as_ref().map(Spanned::span)),
                    ("sync", self.sync.as_ref().map(Spanned::span)),
                ] {
                    if let Some(span) = span {
                        errors.push(source.error_at(
                            Some(span),
                            format!("store.{field}"),
                            "the postgres backend keeps no files (PostgreSQL makes each commit durable); remove it",
                        ));
                    }
                }
                let Some(url) = self.url else {
                    errors.push(source.error_at(
                        self.backend.as_ref().map(Spanned::span),
                        "store.url",
                        "`backend = \"postgres\"` needs `url`, a reference `env:NAME` or `file:PATH` to the database URL",
                    ));
                    return None;
                };
                let lease_ms = self
                    .lease_ms
                    .as_ref()
                    .map_or(DEFAULT_LEASE_MS, |l| *l.get_ref());
                if let Some(lease) = &self.lease_ms
                    && !(300..=600_000).contains(lease.get_ref())
                {
                    errors.push(source.error_at(
                        Some(lease.span()),
                        "store.lease_ms",
                        "must be between 300 and 600000 (milliseconds a replica's claim on a run lasts unrenewed)",
                    ));
                }
                let shared = self.replicas.as_ref().is_some_and(|r| *r.get_ref());
                if self.lease_ms.is_some() && !shared {
                    errors.push(source.error_at(
                        self.lease_ms.as_ref().map(Spanned::span),
                        "store.lease_ms",
                        "leases are for replicas: add `replicas = true` or remove it",
                    ));
                }
                let replicas = shared.then(|| std::time::Duration::from_millis(lease_ms));
                match secret_ref(&url, source, base) {
                    Some(url) => Some(StoreConfig::Postgres { url, replicas }),
                    None => {
                        errors.push(source.error_at(
                            Some(url.span()),
                            "store.url",
                            "must be a reference `env:NAME` or `file:PATH`, never the URL itself (it holds the password)",
                        ));
                        None
                    }
                }
            }
            Some(other) => {
                errors.push(source.error_at(
                    self.backend.as_ref().map(Spanned::span),
                    "store.backend",
                    format!("unknown backend `{other}`: must be `sled` or `postgres`"),
                ));
                None
            }
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
        let store = raw.store.validate(source, &base, &mut errors);
        let Some(store) = store else {
            return Err(errors);
        };
        errors.into_result(Config {
            path: source.path.clone(),
            store,
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
        assert!(matches!(
            &config.store,
            StoreConfig::Sled { path, .. } if path == Path::new("/etc/cordon/cordon-data")
        ));
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
    fn the_postgres_backend_takes_its_url_by_reference() {
        let config = parse("[store]\nbackend = \"postgres\"\nurl = \"file:db.url\"\n").unwrap();
        let StoreConfig::Postgres { url, .. } = &config.store else {
            panic!("not postgres: {:?}", config.store);
        };
        assert_eq!(url.source, SecretSource::File("/etc/cordon/db.url".into()));
        assert_eq!(url.location, "/etc/cordon/cordon.toml:3:7");
        assert_eq!(config.store.lease(), None);
        let shared = parse(
            "[store]\nbackend = \"postgres\"\nurl = \"env:DB\"\nreplicas = true\nlease_ms = 2000\n",
        )
        .unwrap();
        assert_eq!(
            shared.store.lease(),
            Some(std::time::Duration::from_secs(2))
        );
    }

    #[test]
    fn bad_store_settings_name_their_field_and_line() {
        let cases = [
            (
                "[store]\nbackend = \"postgres\"\nurl = \"postgres://u:pw@db/cordon\"\n",
                ("store.url", 3),
            ),
            ("[store]\nbackend = \"postgres\"\n", ("store.url", 2)),
            (
                "[store]\nbackend = \"postgres\"\nurl = \"env:DB\"\npath = \"x\"\n",
                ("store.path", 4),
            ),
            ("[store]\nurl = \"env:DB\"\n", ("store.url", 2)),
            ("[store]\nbackend = \"mysql\"\n", ("store.backend", 2)),
            ("[store]\nreplicas = true\n", ("store.replicas", 2)),
            (
                "[store]\nbackend = \"postgres\"\nurl = \"env:DB\"\nreplicas = true\nlease_ms = 50\n",
                ("store.lease_ms", 5),
            ),
            (
                "[store]\nbackend = \"postgres\"\nurl = \"env:DB\"\nlease_ms = 5000\n",
                ("store.lease_ms", 4),
            ),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err();
            let fields: Vec<_> = err.0.iter().map(|e| (e.field.as_str(), e.line)).collect();
            assert_eq!(fields, [expected], "{text}");
            assert!(!err.to_string().contains("pw@"), "{err}");
        }
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
