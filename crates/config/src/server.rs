//! `[server]`: how `cordon serve` listens, what it accepts, and who may call it.

use cordon_input::diagnostic::{InputError, SourceFile};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The address `cordon serve` listens on unless `[server] listen` says otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8440";

/// What an API token lets its principal do. The authority model still
/// decides every approval, grant and restore with the principal itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Submit signals (detectors, `cordon run` against a server).
    Signals,
    /// Read runs, approvals, grants, reports, the audit log and live events.
    Read,
    /// Approve, reject, grant, revoke and restore, as the principal.
    Respond,
}

impl Scope {
    /// Every scope, with the name the config and the API use.
    pub const ALL: [(Scope, &'static str); 3] = [
        (Scope::Signals, "signals"),
        (Scope::Read, "read"),
        (Scope::Respond, "respond"),
    ];

    /// The scope called `name`.
    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.iter().find(|(_, n)| *n == name).map(|(s, _)| *s)
    }

    /// The scope's name.
    pub fn as_str(self) -> &'static str {
        Scope::ALL
            .iter()
            .find(|(s, _)| *s == self)
            .map(|(_, n)| *n)
            .unwrap_or("?")
    }
}

/// One API token: who it authenticates, and the sha256 of its value (the
/// value itself is shown once by `cordon token create` and stored nowhere).
#[derive(Debug, Clone)]
pub struct TokenEntry {
    /// The token's public id (also the token's prefix), for logs and audit.
    pub id: String,
    /// The principal the token authenticates.
    pub principal: String,
    /// Lowercase hex sha256 of the whole token.
    pub sha256: String,
    /// What the token may do.
    pub scopes: Vec<Scope>,
}

/// OIDC bearer tokens accepted besides API tokens.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The issuer (`iss`); its discovery document is at
    /// `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// The audience (`aud`) tokens must be for.
    pub audience: String,
    /// The claim that names the principal (default `sub`; e.g. `email`).
    pub principal_claim: String,
    /// What OIDC principals may do.
    pub scopes: Vec<Scope>,
    /// Signing in to the web console at this issuer, when configured.
    pub console: Option<ConsoleLogin>,
    /// The claim that lists the principal's groups (default `groups`).
    pub groups_claim: String,
    /// Group → the authority model's team its members belong to. Empty:
    /// groups are not used.
    pub group_teams: BTreeMap<String, String>,
}

/// How the web console signs people in at the OIDC issuer: the
/// authorization-code flow with PKCE, as a public client whose redirect URI
/// is `{public_url}/console/callback`.
#[derive(Debug, Clone)]
pub struct ConsoleLogin {
    /// The console's client id at the issuer.
    pub client_id: String,
    /// The scopes it asks for (space-separated).
    pub scope: String,
    /// The RFC 8707 resource indicator to ask for, when the issuer needs one
    /// to issue access tokens for `audience`.
    pub resource: Option<String>,
}

/// TLS for the listener, from PEM files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain (PEM).
    pub cert: PathBuf,
    /// The private key (PEM).
    pub key: PathBuf,
}

/// A validated `[server]` section.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// How people reach the server (links in notifications); defaults to `listen`.
    pub public_url: String,
    /// Whether `public_url` was configured (when not, the service uses the
    /// address it actually listens on, which matters for port 0).
    pub public_url_configured: bool,
    /// TLS, when configured.
    pub tls: Option<TlsFiles>,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How long one request may take before it is answered 503.
    pub request_timeout_ms: u64,
    /// On SIGTERM, how long actions in flight may take to finish.
    pub drain_timeout_ms: u64,
    /// Requests per minute per principal.
    pub rate_per_minute: u32,
    /// Requests a principal may make at once above the steady rate.
    pub rate_burst: u32,
    /// The playbooks signals submitted to the server may fire.
    pub playbooks: Vec<PathBuf>,
    /// API tokens.
    pub tokens: Vec<TokenEntry>,
    /// OIDC bearer tokens, when an issuer is configured.
    pub oidc: Option<OidcConfig>,
    /// Where word of actions waiting for approval is posted.
    pub notifiers: Vec<crate::notify::NotifierConfig>,
    /// A file the server appends the audit chain's head to (an anchor per
    /// line), so that `cordon audit verify --anchors FILE` catches a store
    /// cut short or replaced; keep it where the store's writers cannot
    /// rewrite it (another volume, a log shipper, append-only storage).
    pub audit_anchors: Option<PathBuf>,
    /// How often the head is appended there, when it moved.
    pub anchor_every_ms: u64,
    /// How long after its run finished a signal delivered again (same
    /// playbook, same signal id) answers with that run instead of starting
    /// another; 0 (the default): only while the run is unfinished.
    pub dedup_window_ms: u64,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    listen: Option<Spanned<String>>,
    public_url: Option<Spanned<String>>,
    tls: Option<RawTls>,
    max_body_kib: Option<Spanned<u64>>,
    request_timeout_ms: Option<Spanned<u64>>,
    drain_timeout_ms: Option<Spanned<u64>>,
    rate_limit: Option<RawRate>,
    #[serde(default)]
    playbooks: Vec<Spanned<String>>,
    #[serde(default)]
    tokens: Vec<RawToken>,
    oidc: Option<RawOidc>,
    #[serde(default)]
    notifiers: Vec<crate::notify::RawNotifier>,
    audit_anchors: Option<Spanned<String>>,
    anchor_every_ms: Option<Spanned<u64>>,
    dedup_window_ms: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOidc {
    issuer: Spanned<String>,
    audience: Spanned<String>,
    #[serde(default)]
    principal_claim: Option<String>,
    #[serde(default)]
    scopes: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    console_client_id: Option<Spanned<String>>,
    #[serde(default)]
    console_scope: Option<String>,
    #[serde(default)]
    console_resource: Option<Spanned<String>>,
    #[serde(default)]
    groups_claim: Option<String>,
    #[serde(default)]
    teams: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Spanned<String>,
    key: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRate {
    per_minute: Spanned<u32>,
    #[serde(default)]
    burst: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    id: Spanned<String>,
    principal: Spanned<String>,
    sha256: Spanned<String>,
    scopes: Spanned<Vec<String>>,
}

/// Whether `id` can name a token: 1 to 32 of `[a-z0-9-]`.
pub fn valid_token_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl RawServer {
    pub(crate) fn validate(
        self,
        source: &SourceFile,
        base: &Path,
        errors: &mut Vec<InputError>,
    ) -> ServerConfig {
        let mut error = |span: Option<std::ops::Range<usize>>, field: &str, message: &str| {
            errors.push(source.error_at(span, format!("server.{field}"), message))
        };
        let listen = match &self.listen {
            None => DEFAULT_LISTEN.parse().expect("the default address parses"),
            Some(text) => text.get_ref().parse().unwrap_or_else(|_| {
                error(
                    Some(text.span()),
                    "listen",
                    "must be an address and port, e.g. 127.0.0.1:8440 or [::1]:8440",
                );
                DEFAULT_LISTEN.parse().expect("the default address parses")
            }),
        };
        let tls = self.tls.as_ref().and_then(|tls| {
            let cert = file_ref(&tls.cert, base, "tls.cert", &mut error);
            let key = file_ref(&tls.key, base, "tls.key", &mut error);
            Some(TlsFiles {
                cert: cert?,
                key: key?,
            })
        });
        let scheme = if tls.is_some() { "https" } else { "http" };
        let public_url = match &self.public_url {
            Some(url) => {
                let text = url.get_ref().trim_end_matches('/').to_string();
                if !(text.starts_with("http://") || text.starts_with("https://")) {
                    error(
                        Some(url.span()),
                        "public_url",
                        "must start with http:// or https://",
                    );
                }
                text
            }
            None => format!("{scheme}://{listen}"),
        };
        let mut bounded = |value: &Option<Spanned<u64>>,
                           field: &str,
                           default: u64,
                           range: (u64, u64)| {
            match value {
                None => default,
                Some(v) if (range.0..=range.1).contains(v.get_ref()) => *v.get_ref(),
                Some(v) => {
                    error(
                        Some(v.span()),
                        field,
                        &format!("must be between {} and {}", range.0, range.1),
                    );
                    default
                }
            }
        };
        let max_body_kib = bounded(&self.max_body_kib, "max_body_kib", 1024, (1, 65_536));
        let request_timeout_ms = bounded(
            &self.request_timeout_ms,
            "request_timeout_ms",
            30_000,
            (100, 3_600_000),
        );
        let drain_timeout_ms = bounded(
            &self.drain_timeout_ms,
            "drain_timeout_ms",
            30_000,
            (0, 3_600_000),
        );
        let anchor_every_ms = bounded(
            &self.anchor_every_ms,
            "anchor_every_ms",
            60_000,
            (100, 86_400_000),
        );
        let dedup_window_ms = bounded(
            &self.dedup_window_ms,
            "dedup_window_ms",
            0,
            (0, 30 * 86_400_000),
        );
        let audit_anchors = self.audit_anchors.as_ref().map(|p| base.join(p.get_ref()));
        let (rate_per_minute, rate_burst) = match &self.rate_limit {
            None => (600, 100),
            Some(rate) => {
                let per_minute = *rate.per_minute.get_ref();
                if !(1..=1_000_000).contains(&per_minute) {
                    error(
                        Some(rate.per_minute.span()),
                        "rate_limit.per_minute",
                        "must be between 1 and 1000000",
                    );
                }
                let burst = rate
                    .burst
                    .as_ref()
                    .map_or(per_minute.div_ceil(6), |b| *b.get_ref());
                if !(1..=1_000_000).contains(&burst) {
                    let span = rate.burst.as_ref().map(|b| b.span());
                    error(span, "rate_limit.burst", "must be between 1 and 1000000");
                }
                (per_minute.max(1), burst.max(1))
            }
        };
        let playbooks = self
            .playbooks
            .iter()
            .map(|p| base.join(p.get_ref()))
            .collect();
        let mut tokens: Vec<TokenEntry> = Vec::new();
        for (i, raw) in self.tokens.iter().enumerate() {
            let field = |f: &str| format!("tokens[{i}].{f}");
            let id = raw.id.get_ref().clone();
            if !valid_token_id(&id) {
                error(
                    Some(raw.id.span()),
                    &field("id"),
                    "must be 1 to 32 of a-z, 0-9 and -",
                );
            } else if tokens.iter().any(|t| t.id == id) {
                error(
                    Some(raw.id.span()),
                    &field("id"),
                    "is the id of an earlier token",
                );
            }
            let principal = raw.principal.get_ref().trim().to_string();
            if principal.is_empty()
                || principal.len() > 256
                || principal.chars().any(char::is_control)
            {
                error(
                    Some(raw.principal.span()),
                    &field("principal"),
                    "must name a principal: 1 to 256 characters, no control characters",
                );
            }
            let sha256 = raw.sha256.get_ref().trim().to_ascii_lowercase();
            if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                error(
                    Some(raw.sha256.span()),
                    &field("sha256"),
                    "must be the token's sha256 (64 hexadecimal characters) as `cordon token create` prints it, never the token",
                );
            }
            let mut scopes = Vec::new();
            for name in raw.scopes.get_ref() {
                match Scope::parse(name) {
                    Some(scope) => scopes.push(scope),
                    None => error(
                        Some(raw.scopes.span()),
                        &field("scopes"),
                        &format!(
                            "unknown scope `{}`: use signals, read or respond",
                            name.escape_debug()
                        ),
                    ),
                }
            }
            tokens.push(TokenEntry {
                id,
                principal,
                sha256,
                scopes,
            });
        }
        let oidc = self.oidc.as_ref().map(|raw| {
            let issuer = raw.issuer.get_ref().trim_end_matches('/').to_string();
            let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
                .iter()
                .any(|p| {
                    issuer
                        .strip_prefix(p)
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
                });
            if !(issuer.starts_with("https://") || loopback) {
                error(
                    Some(raw.issuer.span()),
                    "oidc.issuer",
                    "must be an https:// URL (plain http only on loopback, for tests)",
                );
            }
            if raw.audience.get_ref().is_empty() {
                error(
                    Some(raw.audience.span()),
                    "oidc.audience",
                    "must name the audience tokens are for",
                );
            }
            let scopes = match &raw.scopes {
                None => vec![Scope::Read, Scope::Respond],
                Some(names) => names
                    .get_ref()
                    .iter()
                    .filter_map(|name| {
                        let scope = Scope::parse(name);
                        if scope.is_none() {
                            error(
                                Some(names.span()),
                                "oidc.scopes",
                                &format!(
                                    "unknown scope `{}`: use signals, read or respond",
                                    name.escape_debug()
                                ),
                            );
                        }
                        scope
                    })
                    .collect(),
            };
            let console = raw.console_client_id.as_ref().map(|id| {
                if id.get_ref().trim().is_empty() {
                    error(
                        Some(id.span()),
                        "oidc.console_client_id",
                        "must name the console's client at the issuer",
                    );
                }
                if let Some(resource) = &raw.console_resource
                    && !resource.get_ref().contains(':')
                {
                    error(
                        Some(resource.span()),
                        "oidc.console_resource",
                        "must be an absolute URI (RFC 8707), e.g. urn:cordon or https://cordon.example",
                    );
                }
                ConsoleLogin {
                    client_id: id.get_ref().trim().to_string(),
                    scope: raw
                        .console_scope
                        .clone()
                        .unwrap_or_else(|| "openid email".into()),
                    resource: raw.console_resource.as_ref().map(|r| r.get_ref().clone()),
                }
            });
            OidcConfig {
                groups_claim: raw.groups_claim.clone().unwrap_or_else(|| "groups".into()),
                group_teams: raw.teams.clone(),
                console,
                issuer,
                audience: raw.audience.get_ref().clone(),
                principal_claim: raw.principal_claim.clone().unwrap_or_else(|| "sub".into()),
                scopes,
            }
        });
        let notifiers = crate::notify::validate(&self.notifiers, source, base, errors);
        ServerConfig {
            public_url_configured: self.public_url.is_some(),
            notifiers,
            oidc,
            listen,
            public_url,
            tls,
            max_body_bytes: (max_body_kib * 1024) as usize,
            request_timeout_ms,
            drain_timeout_ms,
            rate_per_minute,
            rate_burst,
            playbooks,
            tokens,
            audit_anchors,
            anchor_every_ms,
            dedup_window_ms,
        }
    }
}

fn file_ref(
    reference: &Spanned<String>,
    base: &Path,
    field: &str,
    error: &mut impl FnMut(Option<std::ops::Range<usize>>, &str, &str),
) -> Option<PathBuf> {
    match reference.get_ref().split_once(':') {
        Some(("file", path)) if !path.is_empty() => Some(base.join(path)),
        _ => {
            error(
                Some(reference.span()),
                field,
                "must be a reference `file:PATH` to a PEM file",
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;
    use cordon_input::SourceFile;

    fn parse(text: &str) -> Result<Config, cordon_input::InputErrors> {
        Config::parse(&SourceFile::from_text("/etc/cordon/cordon.toml", text))
    }

    #[test]
    fn server_defaults_and_tokens_parse() {
        let config = parse(&format!(
            "[server]\nplaybooks = [\"p.toml\"]\n[[server.tokens]]\nid = \"nadia\"\nprincipal = \"nadia@acme.example\"\nscopes = [\"read\"]\nsha256 = \"{}\"\n",
            "ab".repeat(32)
        ))
        .unwrap();
        let server = &config.server;
        assert_eq!(server.listen.to_string(), "127.0.0.1:8440");
        assert_eq!(server.public_url, "http://127.0.0.1:8440");
        assert_eq!(server.max_body_bytes, 1024 * 1024);
        assert_eq!(server.dedup_window_ms, 0, "off unless configured");
        assert_eq!(
            server.playbooks[0].display().to_string(),
            "/etc/cordon/p.toml"
        );
        assert_eq!(server.tokens[0].scopes, [crate::Scope::Read]);
    }

    #[test]
    fn bad_server_fields_are_located() {
        let err = parse(
            "[server]\nlisten = \"nowhere\"\nmax_body_kib = 0\ndedup_window_ms = 2592000001\ntls = { cert = \"file:c.pem\", key = \"k.pem\" }\n[[server.tokens]]\nid = \"Bad Id\"\nprincipal = \"p\"\nscopes = [\"admin\"]\nsha256 = \"cdn_secret_value\"\n",
        )
        .unwrap_err();
        let fields: Vec<(&str, usize)> = err.0.iter().map(|e| (e.field.as_str(), e.line)).collect();
        assert_eq!(
            fields,
            [
                ("server.listen", 2),
                ("server.tls.key", 5),
                ("server.max_body_kib", 3),
                ("server.dedup_window_ms", 4),
                ("server.tokens[0].id", 7),
                ("server.tokens[0].sha256", 10),
                ("server.tokens[0].scopes", 9),
            ]
        );
        assert!(!err.to_string().contains("cdn_secret_value"));
    }

    #[test]
    fn the_console_signs_in_at_the_issuer_when_its_client_is_named() {
        let base = "[server.oidc]\nissuer = \"https://idp.example\"\naudience = \"cordon\"\n";
        let config = parse(&format!("{base}console_client_id = \"cordon-console\"\n")).unwrap();
        let console = config.server.oidc.unwrap().console.unwrap();
        assert_eq!(console.client_id, "cordon-console");
        assert_eq!(console.scope, "openid email");
        assert_eq!(
            parse(base)
                .unwrap()
                .server
                .oidc
                .unwrap()
                .console
                .map(|c| c.client_id),
            None
        );
        let err = parse(&format!(
            "{base}console_client_id = \" \"\nconsole_resource = \"cordon\"\n"
        ))
        .unwrap_err();
        let fields: Vec<(&str, usize)> = err.0.iter().map(|e| (e.field.as_str(), e.line)).collect();
        assert_eq!(
            fields,
            [
                ("server.oidc.console_client_id", 4),
                ("server.oidc.console_resource", 5)
            ]
        );
    }
}
