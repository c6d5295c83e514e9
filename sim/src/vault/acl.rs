//! A reduced model of Vault ACL policies: path rules with capabilities.
//!
//! Matching follows Vault's glob rules: an exact path, a trailing `*` (prefix match), and `+`
//! matching exactly one path segment. Simplification: the capabilities of all matching rules
//! are united instead of taking only the most specific rule; `deny` in any matching rule wins.

use serde::{Deserialize, Serialize};

/// One `path "…" { capabilities = [...] }` stanza.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathRule {
    /// Path glob, relative to `/v1/` (e.g. `sys/leases/revoke-prefix/*`).
    pub path: String,
    /// Capabilities: `read`, `create`, `update`, `delete`, `list`, `sudo`, `deny`.
    pub capabilities: Vec<String>,
}

impl PathRule {
    /// A rule granting `caps` on `path`.
    pub fn new(path: &str, caps: &[&str]) -> Self {
        Self {
            path: path.to_owned(),
            capabilities: caps.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    /// Whether the rule's glob matches `path`.
    pub fn matches(&self, path: &str) -> bool {
        glob_match(&self.path, path)
    }
}

/// The capability an endpoint needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cap {
    /// `read` (GET).
    Read,
    /// `update` (POST/PUT on an existing resource).
    Update,
    /// `update` plus `sudo` (root-protected endpoints).
    SudoUpdate,
}

/// Whether `rules` (of all the token's policies) allow `cap` on `path`.
pub fn allows<'a>(rules: impl Iterator<Item = &'a PathRule>, path: &str, cap: Cap) -> bool {
    let mut caps: Vec<&str> = Vec::new();
    for rule in rules.filter(|r| r.matches(path)) {
        caps.extend(rule.capabilities.iter().map(String::as_str));
    }
    if caps.contains(&"deny") {
        return false;
    }
    let has = |c: &str| caps.contains(&c);
    match cap {
        Cap::Read => has("read"),
        Cap::Update => has("update"),
        Cap::SudoUpdate => has("update") && has("sudo"),
    }
}

fn glob_match(pattern: &str, path: &str) -> bool {
    let (pattern, prefix) = match pattern.strip_suffix('*') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let pat: Vec<&str> = pattern.split('/').collect();
    let segs: Vec<&str> = path.split('/').collect();
    if (!prefix && pat.len() != segs.len()) || pat.len() > segs.len() {
        return false;
    }
    for (i, p) in pat.iter().enumerate() {
        let s = segs[i];
        let last = i + 1 == pat.len();
        let ok = if *p == "+" {
            true
        } else if last && prefix {
            s.starts_with(p)
        } else {
            *p == s
        };
        if !ok {
            return false;
        }
    }
    true
}

/// The built-in policies of the simulator, besides `root` (which allows everything):
/// `default` (nothing relevant), `cordon-responder` (every containment endpoint except the
/// sudo-protected `sys/leases/revoke-prefix`) and `cordon-responder-sudo` (that too).
pub fn builtin_policies() -> Vec<(String, Vec<PathRule>)> {
    let responder = vec![
        PathRule::new("auth/token/lookup-accessor", &["update"]),
        PathRule::new("auth/token/revoke-accessor", &["update"]),
        PathRule::new("auth/token/lookup-self", &["read"]),
        PathRule::new("sys/leases/lookup", &["update"]),
        PathRule::new("sys/leases/revoke", &["update"]),
        PathRule::new("auth/+/role/+/secret-id-accessor/*", &["update"]),
        PathRule::new("identity/entity/id/*", &["read", "update"]),
    ];
    let mut sudo = responder.clone();
    sudo.push(PathRule::new(
        "sys/leases/revoke-prefix/*",
        &["update", "sudo"],
    ));
    vec![
        (
            "default".into(),
            vec![PathRule::new("auth/token/lookup-self", &["read"])],
        ),
        ("cordon-responder".into(), responder),
        ("cordon-responder-sudo".into(), sudo),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match(
            "sys/leases/revoke-prefix/*",
            "sys/leases/revoke-prefix/aws/"
        ));
        assert!(glob_match("identity/entity/id/*", "identity/entity/id/abc"));
        assert!(!glob_match(
            "identity/entity/id/*",
            "identity/entity/name/abc"
        ));
        assert!(glob_match(
            "auth/+/role/+/secret-id-accessor/*",
            "auth/approle/role/r1/secret-id-accessor/destroy"
        ));
        assert!(glob_match("a/b", "a/b"));
        assert!(!glob_match("a/b", "a/b/c"));
        assert!(glob_match("a/b*", "a/bc/d"));
    }

    #[test]
    fn deny_wins_and_sudo_is_separate() {
        let rules = [
            PathRule::new("sys/*", &["update"]),
            PathRule::new("sys/leases/revoke-prefix/*", &["update"]),
        ];
        assert!(allows(rules.iter(), "sys/leases/revoke", Cap::Update));
        assert!(!allows(
            rules.iter(),
            "sys/leases/revoke-prefix/x",
            Cap::SudoUpdate
        ));
        let deny = [
            PathRule::new("sys/*", &["update"]),
            PathRule::new("sys/leases/*", &["deny"]),
        ];
        assert!(!allows(deny.iter(), "sys/leases/revoke", Cap::Update));
    }
}
