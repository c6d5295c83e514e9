//! The containment-authority model (`authority.toml`): teams, the domains
//! they own, what they may do at once, incident response, the incident
//! commander rule and the guardrails.

use cordon_input::diagnostic::{self, InputErrors, SourceFile};
use cordon_types::{Effect, Identity, IdentityKind, Severity};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

/// The three containment domains.
pub const DOMAINS: [&str; 3] = ["iam", "pam", "nhi"];

/// The domain an identity kind belongs to unless an action says otherwise:
/// standing human access is `iam`, vaulted privileged accounts and secrets
/// are `pam`, everything non-human is `nhi`.
pub fn default_domain(kind: IdentityKind) -> &'static str {
    match kind {
        IdentityKind::User | IdentityKind::Session => "iam",
        IdentityKind::Account | IdentityKind::Secret => "pam",
        IdentityKind::ServiceAccount
        | IdentityKind::Role
        | IdentityKind::AccessKey
        | IdentityKind::Token
        | IdentityKind::Certificate
        | IdentityKind::Workload
        | IdentityKind::Agent => "nhi",
    }
}

/// A validated authority model.
#[derive(Debug, Clone)]
pub struct AuthorityModel {
    /// The teams, by name.
    pub teams: BTreeMap<String, Team>,
    /// Incident response's rights, if configured.
    pub incident_response: Option<IncidentResponse>,
    /// The incident commander rule, if configured.
    pub commander: Option<CommanderRule>,
    /// Memberships an identity provider vouches for, beside the teams' own
    /// `members` (see [`Directory`]).
    pub directory: Directory,
    /// Limits against over-revocation.
    pub guardrails: Guardrails,
    /// `plugin.action` → domain, overriding the target kind's default.
    pub action_domains: BTreeMap<String, String>,
}

/// Team memberships an identity provider vouches for: `cordon serve` maps
/// the groups of a verified OIDC token to teams and records them here for
/// the token's principal, replacing what the previous token said. The
/// teams' own `members` always count too. Shared by every clone of the model.
#[derive(Clone, Default)]
pub struct Directory(
    std::sync::Arc<std::sync::RwLock<std::collections::HashMap<String, Vec<String>>>>,
);

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Directory")
    }
}

impl Directory {
    /// `principal` belongs to `teams` (and to no other team through the directory).
    pub fn set(&self, principal: &str, teams: Vec<String>) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        if teams.is_empty() {
            map.remove(principal);
        } else {
            map.insert(principal.to_string(), teams);
        }
    }

    /// Whether the directory puts `principal` in `team`.
    pub fn contains(&self, principal: &str, team: &str) -> bool {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(principal)
            .is_some_and(|teams| teams.iter().any(|t| t == team))
    }
}

/// A team: its members, the domains it owns and what it may do there at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    /// The team's name.
    pub name: String,
    /// Principals; `automation:<team>` is always a member too.
    pub members: Vec<String>,
    /// The domains the team owns.
    pub domains: Vec<String>,
    /// Effects the team may execute in its domains without approval.
    pub immediate: Vec<Effect>,
}

impl Team {
    /// Whether `principal` belongs to the team.
    pub fn has_member(&self, principal: &str) -> bool {
        self.members.iter().any(|m| m == principal) || principal == automation_principal(&self.name)
    }
}

/// The principal `cordon run` acts as for a playbook owned by `team`.
pub fn automation_principal(team: &str) -> String {
    format!("automation:{team}")
}

/// Incident response: cross-domain effects once an incident is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentResponse {
    /// The incident response team.
    pub team: String,
    /// A signal at or above this severity with an incident id opens the incident.
    pub min_severity: Severity,
    /// Effects the team may execute in every domain while an incident is open.
    pub effects: Vec<Effect>,
}

/// Who may grant temporary cross-domain authority to an incident commander.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommanderRule {
    /// Teams whose members may grant (and revoke) commander authority.
    pub granted_by: Vec<String>,
    /// The longest a commander grant may last.
    pub max_ttl: Duration,
    /// What a commander may do in every domain; never `restore`.
    pub effects: Vec<Effect>,
}

/// Limits against over-revocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guardrails {
    /// Identities no principal may touch.
    pub protected: Vec<ProtectedIdentity>,
    /// Actions one run may execute before the rest wait for approval.
    pub max_actions_per_run: Option<usize>,
    /// Actions per domain per minute (across runs) before the rest wait for approval.
    pub max_per_domain_per_minute: BTreeMap<String, usize>,
}

/// A pattern of identities that are never touched (e.g. break-glass accounts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedIdentity {
    /// The provider to match; any provider if absent.
    pub provider: Option<String>,
    /// The identity kind to match; any kind if absent.
    pub kind: Option<IdentityKind>,
    /// `*` matches any run of characters.
    pub id: String,
    /// Attribute patterns that must all match (e.g. an access key whose
    /// `user` is a break-glass account).
    pub attributes: BTreeMap<String, String>,
    /// Why the identities are protected, quoted in denials.
    pub reason: String,
}

impl ProtectedIdentity {
    /// Whether `identity` matches the pattern.
    pub fn matches(&self, identity: &Identity) -> bool {
        self.provider
            .as_ref()
            .is_none_or(|p| *p == identity.provider)
            && self.kind.is_none_or(|k| k == identity.kind)
            && glob(&self.id, &identity.id)
            && self
                .attributes
                .iter()
                .all(|(k, pattern)| identity.attributes.get(k).is_some_and(|v| glob(pattern, v)))
    }
}

/// `*`-only glob matching.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first)
        || !text[first.len()..].ends_with(last)
        || text.len() < first.len() + last.len()
    {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

impl AuthorityModel {
    /// Reads and validates `authority.toml`.
    pub fn load(path: &Path) -> Result<AuthorityModel, InputErrors> {
        AuthorityModel::parse(&SourceFile::read(path)?)
    }

    /// Parses and validates authority text.
    pub fn parse(source: &SourceFile) -> Result<AuthorityModel, InputErrors> {
        let raw: RawModel = diagnostic::from_toml(source)?;
        let mut errors = InputErrors::default();
        let err = |span: std::ops::Range<usize>, field: String, message: String| {
            source.error_at(Some(span), field, message)
        };
        let mut teams = BTreeMap::new();
        for (name, team) in raw.teams {
            for domain in &team.domains {
                if !DOMAINS.contains(&domain.get_ref().as_str()) {
                    errors.push(err(
                        domain.span(),
                        format!("teams.{name}.domains"),
                        format!(
                            "unknown domain `{}` (domains: iam, pam, nhi)",
                            domain.get_ref()
                        ),
                    ));
                }
            }
            teams.insert(
                name.clone(),
                Team {
                    name,
                    members: team.members,
                    domains: team.domains.into_iter().map(Spanned::into_inner).collect(),
                    immediate: team.immediate,
                },
            );
        }
        let mut team_ref = |team: &Spanned<String>, field: &str| {
            if !teams.contains_key(team.get_ref()) {
                errors.push(err(
                    team.span(),
                    field.to_string(),
                    format!("no team `{}` is defined", team.get_ref()),
                ));
            }
        };
        if let Some(ir) = &raw.incident_response {
            team_ref(&ir.team, "incident_response.team");
        }
        if let Some(commander) = &raw.commander {
            for team in &commander.granted_by {
                team_ref(team, "commander.granted_by");
            }
        }
        let commander = raw.commander.map(|c| {
            if c.effects.get_ref().contains(&Effect::Restore) {
                errors.push(err(
                    c.effects.span(),
                    "commander.effects".into(),
                    "a commander never restores: restoration stays with the owning team".into(),
                ));
            }
            let max_ttl = match parse_duration(c.max_ttl.get_ref()) {
                Ok(ttl) => ttl,
                Err(error) => {
                    errors.push(err(
                        c.max_ttl.span(),
                        "commander.max_ttl".into(),
                        error.to_string(),
                    ));
                    Duration::ZERO
                }
            };
            CommanderRule {
                granted_by: c.granted_by.into_iter().map(Spanned::into_inner).collect(),
                max_ttl,
                effects: c.effects.into_inner(),
            }
        });
        for (key, domain) in &raw.action_domains {
            if !DOMAINS.contains(&domain.get_ref().as_str()) {
                errors.push(err(
                    domain.span(),
                    format!("action_domains.\"{key}\""),
                    format!(
                        "unknown domain `{}` (domains: iam, pam, nhi)",
                        domain.get_ref()
                    ),
                ));
            }
        }
        let guardrails = raw.guardrails.unwrap_or_default();
        for domain in guardrails.max_actions_per_domain_per_minute.keys() {
            if !DOMAINS.contains(&domain.as_str()) {
                errors.push(source.error_at(
                    None,
                    format!("guardrails.max_actions_per_domain_per_minute.{domain}"),
                    format!("unknown domain `{domain}` (domains: iam, pam, nhi)"),
                ));
            }
        }
        errors.into_result(AuthorityModel {
            teams,
            incident_response: raw.incident_response.map(|ir| IncidentResponse {
                team: ir.team.into_inner(),
                min_severity: ir.min_severity,
                effects: ir.effects,
            }),
            commander,
            directory: Directory::default(),
            guardrails: Guardrails {
                protected: guardrails
                    .protected
                    .into_iter()
                    .map(|p| ProtectedIdentity {
                        provider: p.provider,
                        kind: p.kind,
                        id: p.id.unwrap_or_else(|| "*".into()),
                        attributes: p.attributes,
                        reason: p.reason.unwrap_or_else(|| "protected identity".into()),
                    })
                    .collect(),
                max_actions_per_run: guardrails.max_actions_per_run,
                max_per_domain_per_minute: guardrails.max_actions_per_domain_per_minute,
            },
            action_domains: raw
                .action_domains
                .into_iter()
                .map(|(k, v)| (k, v.into_inner()))
                .collect(),
        })
    }

    /// The domain of `plugin`'s `action` on `target`.
    pub fn domain_of(&self, plugin: &str, action: &str, target: &Identity) -> String {
        self.action_domains
            .get(&format!("{plugin}.{action}"))
            .cloned()
            .unwrap_or_else(|| default_domain(target.kind).to_string())
    }

    /// The teams that own `domain`.
    pub fn owners_of(&self, domain: &str) -> Vec<&Team> {
        self.teams
            .values()
            .filter(|t| t.domains.iter().any(|d| d == domain))
            .collect()
    }

    /// The teams `principal` belongs to.
    pub fn teams_of(&self, principal: &str) -> Vec<&Team> {
        self.teams
            .values()
            .filter(|t| self.member(t, principal))
            .collect()
    }

    /// Whether `principal` belongs to the team called `team`.
    pub fn is_member(&self, principal: &str, team: &str) -> bool {
        self.teams
            .get(team)
            .is_some_and(|t| self.member(t, principal))
    }

    /// Whether `principal` belongs to `team`: listed in its `members`, or
    /// put there by the [`Directory`].
    pub fn member(&self, team: &Team, principal: &str) -> bool {
        team.has_member(principal) || self.directory.contains(principal, &team.name)
    }
}

pub use cordon_input::duration::{DurationError, parse_duration};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    #[serde(default)]
    teams: BTreeMap<String, RawTeam>,
    #[serde(default)]
    incident_response: Option<RawIncidentResponse>,
    #[serde(default)]
    commander: Option<RawCommander>,
    #[serde(default)]
    guardrails: Option<RawGuardrails>,
    #[serde(default)]
    action_domains: BTreeMap<String, Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTeam {
    #[serde(default)]
    members: Vec<String>,
    #[serde(default)]
    domains: Vec<Spanned<String>>,
    #[serde(default)]
    immediate: Vec<Effect>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIncidentResponse {
    team: Spanned<String>,
    min_severity: Severity,
    effects: Vec<Effect>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommander {
    granted_by: Vec<Spanned<String>>,
    max_ttl: Spanned<String>,
    effects: Spanned<Vec<Effect>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGuardrails {
    #[serde(default)]
    protected: Vec<RawProtected>,
    #[serde(default)]
    max_actions_per_run: Option<usize>,
    #[serde(default)]
    max_actions_per_domain_per_minute: BTreeMap<String, usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProtected {
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    kind: Option<IdentityKind>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    #[serde(default)]
    reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_shells_do() {
        assert!(glob("break-glass-*", "break-glass-1"));
        assert!(glob("*admin*", "root-admin-2"));
        assert!(!glob("break-glass-*", "ci-bot"));
        assert!(glob("exact", "exact") && !glob("exact", "exactly"));
        assert!(!glob("a*a", "a"));
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert!(
            parse_duration("soon").is_err()
                && parse_duration("5").is_err()
                && parse_duration("0m").is_err()
        );
    }

    #[test]
    fn bad_models_are_located() {
        let source = SourceFile::from_text(
            "authority.toml",
            "[teams.iam]\ndomains = [\"iam\", \"crm\"]\n[commander]\ngranted_by = [\"ir\"]\nmax_ttl = \"forever\"\neffects = [\"revoke\", \"restore\"]\n",
        );
        let errors = AuthorityModel::parse(&source).unwrap_err();
        let fields: Vec<(&str, usize)> = errors
            .0
            .iter()
            .map(|e| (e.field.as_str(), e.line))
            .collect();
        assert!(fields.contains(&("teams.iam.domains", 2)), "{errors}");
        assert!(fields.contains(&("commander.granted_by", 4)), "{errors}");
        assert!(fields.contains(&("commander.max_ttl", 5)), "{errors}");
        assert!(fields.contains(&("commander.effects", 6)), "{errors}");
    }
}
