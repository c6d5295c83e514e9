//! The inventory (`inventory.toml`): who owns an identity, which workload
//! uses it, which system issued it, and whether humans, agents or both use
//! it — matched by provider, kind and id pattern, and merged with what each
//! plugin's `inspect` reports (the inventory wins where both speak).

use crate::model::glob;
use cordon_input::diagnostic::{self, InputErrors, SourceFile};
use cordon_types::{Identity, IdentityFacts, IdentityKind, UsedBy};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// A validated inventory.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    entries: Vec<Entry>,
}

/// One inventory entry; the first entry that matches an identity applies.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The provider the identity belongs to.
    pub provider: String,
    /// The identity kind to match; any kind if absent.
    #[serde(default)]
    pub kind: Option<IdentityKind>,
    /// Identifier or pattern (`*` matches any run of characters).
    pub id: String,
    /// Attribute patterns the identity must also have, e.g. `{ user = "svc-agent-7" }`
    /// for the sessions of one account.
    #[serde(default)]
    pub when: BTreeMap<String, String>,
    /// The team that owns the identity.
    #[serde(default)]
    pub owner: Option<String>,
    /// The workload that uses the identity.
    #[serde(default)]
    pub workload: Option<String>,
    /// The system that issued the identity.
    #[serde(default)]
    pub issuer: Option<String>,
    /// The containment domain (`iam`, `pam`, `nhi`) when the identity's kind
    /// says otherwise, e.g. an IAM *user* that is really a machine identity.
    #[serde(default)]
    pub domain: Option<String>,
    /// `human`, `agent` or `both`.
    #[serde(default, deserialize_with = "used_by")]
    pub used_by: Option<UsedBy>,
    /// Extra attributes added to the identity's facts.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

fn used_by<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<UsedBy>, D::Error> {
    let text = String::deserialize(deserializer)?;
    UsedBy::parse(&text).map(Some).ok_or_else(|| {
        serde::de::Error::custom(format!("`{text}` is not one of human, agent, both"))
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInventory {
    #[serde(default, rename = "identity")]
    identities: Vec<Entry>,
}

impl Inventory {
    /// Reads and validates `inventory.toml`.
    pub fn load(path: &Path) -> Result<Inventory, InputErrors> {
        Inventory::parse(&SourceFile::read(path)?)
    }

    /// Parses and validates inventory text.
    pub fn parse(source: &SourceFile) -> Result<Inventory, InputErrors> {
        let raw: RawInventory = diagnostic::from_toml(source)?;
        Ok(Inventory {
            entries: raw.identities,
        })
    }

    /// The entry that applies to `identity`, if any.
    pub fn lookup(&self, identity: &Identity) -> Option<&Entry> {
        self.entries.iter().find(|e| {
            e.provider == identity.provider
                && e.kind.is_none_or(|k| k == identity.kind)
                && glob(&e.id, &identity.id)
                && e.when.iter().all(|(k, pattern)| {
                    identity.attributes.get(k).is_some_and(|v| glob(pattern, v))
                })
        })
    }

    /// The domain the inventory puts `identity` in, if it says.
    pub fn domain(&self, identity: &Identity) -> Option<&str> {
        self.lookup(identity).and_then(|e| e.domain.as_deref())
    }

    /// Who uses `identity`, according to the inventory.
    pub fn used_by(&self, identity: &Identity) -> Option<UsedBy> {
        self.lookup(identity).and_then(|e| e.used_by)
    }

    /// The inventory's facts merged over a plugin's (the inventory wins).
    /// Returns the merged facts and which sources contributed.
    pub fn merge(
        &self,
        identity: &Identity,
        plugin: Option<&IdentityFacts>,
    ) -> (IdentityFacts, Vec<String>) {
        let mut facts = plugin.cloned().unwrap_or_default();
        let mut sources = Vec::new();
        if plugin.is_some() {
            sources.push("plugin".to_string());
        }
        if let Some(entry) = self.lookup(identity) {
            sources.push("inventory".to_string());
            let pick = |mine: &Option<String>, theirs: &mut Option<String>| {
                if mine.is_some() {
                    *theirs = mine.clone();
                }
            };
            pick(&entry.owner, &mut facts.owner);
            pick(&entry.workload, &mut facts.workload);
            pick(&entry.issuer, &mut facts.issuer);
            if let Some(used_by) = entry.used_by {
                facts.used_by = Some(used_by.as_str().to_string());
            }
            for (k, v) in &entry.attributes {
                facts.attributes.insert(k.clone(), v.clone());
            }
        }
        (facts, sources)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inventory() -> Inventory {
        let source = SourceFile::from_text(
            "inventory.toml",
            r#"
[[identity]]
provider = "aws"
kind = "user"
id = "release-agent"
owner = "ml-platform"
used_by = "both"

[[identity]]
provider = "aws"
id = "ci-*"
owner = "platform-team"
workload = "github-actions"
used_by = "agent"
"#,
        );
        Inventory {
            entries: diagnostic::from_toml::<RawInventory>(&source)
                .unwrap()
                .identities,
        }
    }

    fn id(kind: IdentityKind, id: &str) -> Identity {
        Identity {
            provider: "aws".into(),
            kind,
            id: id.into(),
            attributes: BTreeMap::new(),
        }
    }

    #[test]
    fn the_first_matching_entry_applies_and_wins_over_the_plugin() {
        let inv = inventory();
        assert_eq!(
            inv.used_by(&id(IdentityKind::User, "release-agent")),
            Some(UsedBy::Both)
        );
        assert_eq!(inv.used_by(&id(IdentityKind::Role, "release-agent")), None);
        let plugin = IdentityFacts {
            owner: Some("from-tag".into()),
            issuer: Some("aws-iam:123".into()),
            ..Default::default()
        };
        let (facts, sources) = inv.merge(&id(IdentityKind::User, "ci-bot"), Some(&plugin));
        assert_eq!(facts.owner.as_deref(), Some("platform-team"));
        assert_eq!(facts.issuer.as_deref(), Some("aws-iam:123"));
        assert_eq!(facts.used_by.as_deref(), Some("agent"));
        assert_eq!(sources, ["plugin", "inventory"]);
    }

    #[test]
    fn entries_can_require_attributes() {
        let source = SourceFile::from_text(
            "inventory.toml",
            "[[identity]]\nprovider = \"cyberark\"\nkind = \"session\"\nid = \"*\"\nwhen = { user = \"svc-*\" }\nowner = \"ml\"\n",
        );
        let inv = Inventory {
            entries: diagnostic::from_toml::<RawInventory>(&source)
                .unwrap()
                .identities,
        };
        let mut session = Identity {
            provider: "cyberark".into(),
            kind: IdentityKind::Session,
            id: "7a9e".into(),
            attributes: BTreeMap::from([("user".into(), "svc-agent-7".into())]),
        };
        assert_eq!(
            inv.lookup(&session).and_then(|e| e.owner.as_deref()),
            Some("ml")
        );
        session.attributes.insert("user".into(), "alice".into());
        assert!(inv.lookup(&session).is_none());
    }

    #[test]
    fn bad_used_by_is_located() {
        let source = SourceFile::from_text(
            "inventory.toml",
            "[[identity]]\nprovider = \"aws\"\nid = \"x\"\nused_by = \"robots\"\n",
        );
        let err = diagnostic::from_toml::<RawInventory>(&source).unwrap_err();
        assert_eq!(err.0[0].line, 4);
        assert!(err.0[0].message.contains("not one of human, agent, both"));
    }
}
