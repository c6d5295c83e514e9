//! Helpers for tests of the AWS plugin against moto.

use crate::cordon::{PluginEntry, Workspace};
use crate::moto::Operator;

/// The shipped playbook.
pub const PLAYBOOK: &str = include_str!("../../playbooks/aws-leaked-access-key.toml");

/// A workspace whose `aws` plugin calls `endpoint` as `operator`, with the
/// shipped playbook as `playbook.toml`.
pub fn workspace(endpoint: &str, operator: &Operator, limits: &[(&str, u64)]) -> Workspace {
    workspace_in(Workspace::new(), endpoint, operator, limits)
}

/// As [`workspace`], in a prepared workspace (e.g. one with an authority model).
pub fn workspace_in(
    mut ws: Workspace,
    endpoint: &str,
    operator: &Operator,
    limits: &[(&str, u64)],
) -> Workspace {
    ws.env("AWS_ACCESS_KEY_ID", &operator.access_key_id);
    ws.env("AWS_SECRET_ACCESS_KEY", &operator.secret_access_key);
    let mut plugin = PluginEntry::new("aws", "aws")
        .allow(endpoint)
        .config("endpoint", endpoint)
        .secret_env("access_key_id", "AWS_ACCESS_KEY_ID")
        .secret_env("secret_access_key", "AWS_SECRET_ACCESS_KEY");
    for (name, value) in limits {
        plugin = plugin.limit(name, *value);
    }
    ws.write_config(&[plugin]);
    ws.write("playbook.toml", PLAYBOOK);
    ws
}

/// A `credential.exposed` signal for these access keys; `with_user` keeps
/// the `user` attribute (otherwise the plugin must look the user up).
pub fn signal(keys: &[(String, String)], with_user: impl Fn(usize) -> bool) -> String {
    let identities: Vec<serde_json::Value> = keys
        .iter()
        .enumerate()
        .map(|(i, (user, key))| {
            let mut identity =
                serde_json::json!({ "provider": "aws", "kind": "access-key", "id": key });
            if with_user(i) {
                identity["attributes"] = serde_json::json!({ "user": user });
            }
            identity
        })
        .collect();
    serde_json::json!({
        "id": "sig-aws-1", "kind": "credential.exposed", "source": "test", "severity": "high",
        "observed_at": "2026-11-28T10:00:00Z", "incident": "INC-42", "identities": identities,
    })
    .to_string()
}

/// The status of every key in a moto state dump, by key id.
pub fn key_statuses(state: &serde_json::Value) -> std::collections::BTreeMap<String, String> {
    state["users"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|u| u["keys"].as_object().unwrap().iter())
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

/// The inline policies of a user in a moto state dump.
pub fn user_policies(state: &serde_json::Value, user: &str) -> Vec<String> {
    state["users"][user]["policies"]
        .as_array()
        .map(|p| p.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}
