//! What most commands load: the config, the store, the decision point and
//! the plugins.

use crate::config::{Config, StoreConfig};
use cordon_authority::{AllowAll, Authority, AuthorityModel, DecisionPoint, Inventory};
use cordon_engine::Engine;
use cordon_input::InputErrors;
use cordon_plugin_host::{LoadError, PluginConfig, PluginHost};
use cordon_store::{SledStore, Store, StoreError};
use cordon_store_postgres::{PgStore, Sharing};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a [`Context`] could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// The config, model or inventory is invalid.
    #[error(transparent)]
    Input(#[from] InputErrors),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A plugin could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The command needs an authority model and the config names none.
    #[error(
        "`cordon {command}` needs an authority model: add `[authority] path = \"authority.toml\"` to {}",
        config.display()
    )]
    NoAuthority {
        /// The command (e.g. `approve`).
        command: String,
        /// The config file.
        config: PathBuf,
    },
}

/// The config, the open store, and the authority model if one is configured.
pub struct Context {
    /// The operator config.
    pub config: Config,
    /// The open store.
    pub store: Arc<dyn Store>,
    /// The authority, when the config names a model.
    pub authority: Option<Arc<Authority>>,
    /// The inventory (empty when none is configured).
    pub inventory: Arc<Inventory>,
}

/// The model and inventory a config names, read before anything is opened.
pub struct Models {
    /// The authority model, if configured.
    pub authority: Option<AuthorityModel>,
    /// The inventory.
    pub inventory: Inventory,
}

impl Models {
    /// Reads (and validates) the authority model and inventory of `config`.
    pub fn load(config: &Config) -> Result<Models, InputErrors> {
        Ok(Models {
            authority: match &config.authority_path {
                Some(path) => Some(AuthorityModel::load(path)?),
                None => None,
            },
            inventory: match &config.inventory_path {
                Some(path) => Inventory::load(path)?,
                None => Inventory::default(),
            },
        })
    }
}

impl StoreConfig {
    /// Opens the configured store: the sled folder, or the PostgreSQL
    /// database (reading its URL now; an error names where it was looked
    /// for, never the URL).
    pub fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        Ok(match self {
            StoreConfig::Sled { path, sync } => Arc::new(SledStore::open_with(path, *sync)?),
            StoreConfig::Postgres { url, replicas } => {
                let value = url.read().map_err(|message| StoreError::Open {
                    path: url.location.clone().into(),
                    message: format!("the store's database URL (store.url): {message}"),
                })?;
                let sharing = match replicas {
                    Some(_) => Sharing::Shared,
                    None => Sharing::Exclusive,
                };
                Arc::new(PgStore::connect_with(&value, sharing)?)
            }
        })
    }
}

impl Context {
    /// Loads the config and its models, then opens the store.
    pub fn open(config_path: &Path) -> Result<Context, ContextError> {
        let config = Config::load(config_path)?;
        let models = Models::load(&config)?;
        Context::with(config, models)
    }

    /// Opens the store for an already loaded config and models.
    pub fn with(config: Config, models: Models) -> Result<Context, ContextError> {
        let store = config.store.open()?;
        Ok(Context::over(config, models, store))
    }

    /// A context over an already open `store` (e.g. one a service wraps to
    /// watch its commits).
    pub fn over(config: Config, models: Models, store: Arc<dyn Store>) -> Context {
        let inventory = Arc::new(models.inventory);
        let authority = models
            .authority
            .map(|model| Arc::new(Authority::new(model, (*inventory).clone(), store.clone())));
        Context {
            config,
            store,
            authority,
            inventory,
        }
    }

    /// The authority model, or an error saying the command needs one.
    pub fn require_authority(&self, command: &str) -> Result<&Authority, ContextError> {
        match &self.authority {
            Some(authority) => Ok(authority),
            None => Err(ContextError::NoAuthority {
                command: command.to_string(),
                config: self.config.path.clone(),
            }),
        }
    }

    /// The decision point runs go through.
    pub fn decision_point(&self) -> Arc<dyn DecisionPoint> {
        match &self.authority {
            Some(authority) => authority.clone(),
            None => Arc::new(AllowAll),
        }
    }

    /// An engine over `plugins`.
    pub fn engine(&self, plugins: Arc<PluginHost>) -> Engine {
        Engine::new(plugins, self.store.clone(), self.decision_point())
            .with_inventory(self.inventory.clone())
    }

    /// Loads the named plugins.
    pub async fn plugins(&self, names: &[String]) -> Result<Arc<PluginHost>, LoadError> {
        Ok(Arc::new(load_plugins(&self.config, names).await?))
    }
}

/// Loads the plugins of `config` called `names`.
pub async fn load_plugins(config: &Config, names: &[String]) -> Result<PluginHost, LoadError> {
    let selected: Vec<&PluginConfig> = config
        .plugins
        .values()
        .filter(|p| names.contains(&p.name))
        .collect();
    PluginHost::load(&selected, &config.cache_path).await
}

/// Loads every plugin of `config`.
pub async fn load_all_plugins(config: &Config) -> Result<PluginHost, LoadError> {
    let selected: Vec<&PluginConfig> = config.plugins.values().collect();
    PluginHost::load(&selected, &config.cache_path).await
}
