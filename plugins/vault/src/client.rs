//! Calling Vault: the address and token from the host, and the reads the
//! actions share (a token by accessor, a lease, an entity).

use cordon_plugin_sdk::prelude::*;
use cordon_plugin_sdk::serde_json::{Value, json};
use std::collections::BTreeMap;

/// Where and as whom to call Vault.
pub struct Vault {
    api: Api,
    /// The AppRole mount used when a request names none.
    pub approle_mount: String,
}

/// What `auth/token/lookup-accessor` tells about a live token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenInfo {
    pub display_name: String,
    pub entity_id: String,
    pub policies: Vec<String>,
    /// The auth path that created it, e.g. `auth/approle/login`.
    pub path: String,
    pub meta: BTreeMap<String, String>,
    pub expire_time: Option<String>,
}

/// An identity entity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntityInfo {
    pub id: String,
    pub name: String,
    pub disabled: bool,
    pub policies: Vec<String>,
    pub metadata: BTreeMap<String, String>,
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn string_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_string()
}

impl TokenInfo {
    /// Reads the `data` of a lookup answer.
    pub fn from_data(data: &Value) -> TokenInfo {
        TokenInfo {
            display_name: text(data, "display_name"),
            entity_id: text(data, "entity_id"),
            policies: strings(&data["policies"]),
            path: text(data, "path"),
            meta: string_map(&data["meta"]),
            expire_time: data["expire_time"].as_str().map(str::to_string),
        }
    }
}

impl EntityInfo {
    /// Reads the `data` of an entity read.
    pub fn from_data(data: &Value) -> EntityInfo {
        EntityInfo {
            id: text(data, "id"),
            name: text(data, "name"),
            disabled: data["disabled"].as_bool().unwrap_or(false),
            policies: strings(&data["policies"]),
            metadata: string_map(&data["metadata"]),
        }
    }
}

impl Vault {
    /// A client from the plugin's settings: config `address` (required),
    /// `namespace` and `approle_mount` (default `approle`); secret `token`.
    pub fn from_settings() -> Result<Vault, ProviderError> {
        let address = config("address").ok_or_else(|| {
            invalid("config `address` is required, e.g. https://vault.example.com:8200")
        })?;
        let mut api = Api::new(&format!("{}/v1", address.trim().trim_end_matches('/')))?
            .header("X-Vault-Token", &secret("token")?);
        if let Some(namespace) = config("namespace") {
            api = api.header("X-Vault-Namespace", &namespace);
        }
        Ok(Vault {
            api,
            approle_mount: config_or("approle_mount", "approle"),
        })
    }

    /// The underlying API client.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// `POST` a JSON body to a literal path.
    pub fn post(&self, path: &ApiPath, body: Value) -> Result<Response, CallError> {
        self.api.post_json(path, &body)
    }

    /// The `data` of a successful answer.
    pub fn data(response: &Response) -> Result<Value, ProviderError> {
        Ok(response.json()?["data"].take())
    }

    /// Whether a successful answer carries a warning containing `text`
    /// (case-insensitive): Vault reports some no-ops as 200 with a warning.
    pub fn warns(response: &Response, text: &str) -> bool {
        let Ok(body) = response.json() else {
            return false;
        };
        body["warnings"].as_array().is_some_and(|warnings| {
            warnings
                .iter()
                .filter_map(Value::as_str)
                .any(|w| w.to_ascii_lowercase().contains(&text.to_ascii_lowercase()))
        })
    }

    /// The live token behind `accessor`, or `None` when Vault answers
    /// `invalid accessor` (revoked, expired, or never existed: Vault does not
    /// tell these apart).
    pub fn lookup_accessor(&self, accessor: &str) -> Result<Option<TokenInfo>, ProviderError> {
        match self.post(
            &ApiPath::new("auth/token/lookup-accessor"),
            json!({ "accessor": accessor }),
        ) {
            Ok(response) => Ok(Some(TokenInfo::from_data(&Vault::data(&response)?))),
            Err(CallError::Api(e)) if e.status == 400 && e.mentions("invalid accessor") => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The live lease `lease_id` (its lookup `data`), or `None` when Vault
    /// answers `invalid lease` (revoked, expired, or never existed).
    pub fn lookup_lease(&self, lease_id: &str) -> Result<Option<Value>, ProviderError> {
        match self.post(
            &ApiPath::new("sys/leases/lookup"),
            json!({ "lease_id": lease_id }),
        ) {
            Ok(response) => Ok(Some(Vault::data(&response)?)),
            Err(CallError::Api(e)) if e.status == 400 && e.mentions("invalid lease") => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The identity entity `id`; unknown ids are `not-found`.
    pub fn entity(&self, id: &str) -> Result<EntityInfo, ProviderError> {
        match self
            .api
            .get(&ApiPath::new("identity/entity/id").segment(id))
        {
            Ok(response) => Ok(EntityInfo::from_data(&Vault::data(&response)?)),
            Err(CallError::Api(e)) if e.status == 404 => Err(not_found(format!(
                "Vault has no identity entity with id {id}"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Sets an entity's `disabled` flag.
    pub fn set_entity_disabled(&self, id: &str, disabled: bool) -> Result<(), ProviderError> {
        match self.post(
            &ApiPath::new("identity/entity/id").segment(id),
            json!({ "disabled": disabled }),
        ) {
            Ok(_) => Ok(()),
            // 400 `entity not found from id`; older servers answered a
            // plain 500 `invalid entity id`.
            Err(CallError::Api(e))
                if e.mentions("entity not found") || e.mentions("invalid entity id") =>
            {
                Err(not_found(format!(
                    "Vault has no identity entity with id {id}"
                )))
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_token_and_entity_data() {
        let token = TokenInfo::from_data(&json!({
            "accessor": "acc", "display_name": "approle-agent-7", "entity_id": "e1",
            "policies": ["default", "agent-7-db"], "path": "auth/approle/login",
            "meta": { "role_name": "agent-7", "owner": "ml-platform" },
            "expire_time": "2026-11-29T07:00:00.000000000Z", "id": ""
        }));
        assert_eq!(token.display_name, "approle-agent-7");
        assert_eq!(token.policies, ["default", "agent-7-db"]);
        assert_eq!(token.meta["owner"], "ml-platform");
        assert_eq!(
            token.expire_time.as_deref(),
            Some("2026-11-29T07:00:00.000000000Z")
        );
        let orphan = TokenInfo::from_data(&json!({ "meta": null, "expire_time": null }));
        assert!(orphan.meta.is_empty() && orphan.expire_time.is_none());

        let entity = EntityInfo::from_data(&json!({
            "id": "e1", "name": "agent-7", "disabled": true, "policies": ["p"],
            "metadata": { "owner": "ml-platform", "kind": "ai-agent" }
        }));
        assert!(entity.disabled);
        assert_eq!(entity.metadata["kind"], "ai-agent");
    }
}
