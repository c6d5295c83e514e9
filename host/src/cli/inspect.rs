//! Read-only commands: `runs list|show`, `plugins list|inspect`, `playbook check`.

use super::EXIT_OK;
use super::run::exit_code;
use anyhow::bail;
use cordon_config::Config;
use cordon_input::Playbook;
use cordon_plugin_host::CacheUse;
use cordon_report::{RunReport, RunSummary};
use serde_json::json;
use std::path::Path;

pub fn runs_list(config_path: &Path, json: bool) -> anyhow::Result<u8> {
    let config = Config::load(config_path)?;
    let store = config.store.open()?;
    let summaries = RunSummary::all(store.as_ref())?;
    if json {
        sayln!("{}", serde_json::to_string_pretty(&summaries)?);
    } else {
        say!("{}", RunSummary::human(&summaries));
    }
    Ok(EXIT_OK)
}

pub fn runs_show(config_path: &Path, run_id: &str, json: bool) -> anyhow::Result<u8> {
    let config = Config::load(config_path)?;
    let store = config.store.open()?;
    let run = store.run(run_id)?;
    let actions = store.actions(run_id)?;
    let report = RunReport::new(&run, &actions).with_facts(&store.facts(run_id)?);
    if json {
        sayln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        say!("{}", report.human());
    }
    Ok(if run.status.is_finished() {
        exit_code(&run)
    } else {
        EXIT_OK
    })
}

/// `plugins list`, or with `compile`, `plugins compile`: the same list once
/// every plugin's optimised code is in the cache.
pub async fn plugins_list(config_path: &Path, json: bool, compile: bool) -> anyhow::Result<u8> {
    let config = Config::load(config_path)?;
    let host = cordon_config::load_all_plugins(&config).await?;
    if compile {
        host.finish_optimizing();
    }
    let mut rows = Vec::new();
    for (name, plugin) in &config.plugins {
        let info = host.info(name).expect("loaded");
        rows.push(json!({
            "name": name,
            "provider": info.provider,
            "version": info.version,
            "sha256": plugin.sha256,
            "actions": info.actions.iter().map(|a| a.name.clone()).collect::<Vec<_>>(),
            "compiled": match host.cache_use(name) { Some(CacheUse::Compiled) => "now", _ => "cached" },
            "compiler": host.compiler().as_str(),
        }));
    }
    if json {
        sayln!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for row in &rows {
            sayln!(
                "{} (provider {}, version {}, sha256 {}…, compiled {}, {} code)\n  actions: {}",
                row["name"].as_str().unwrap_or_default(),
                row["provider"].as_str().unwrap_or_default(),
                row["version"].as_str().unwrap_or_default(),
                &row["sha256"].as_str().unwrap_or_default()[..12],
                row["compiled"].as_str().unwrap_or_default(),
                row["compiler"].as_str().unwrap_or_default(),
                row["actions"]
                    .as_array()
                    .map(|a| a
                        .iter()
                        .filter_map(|v| v.as_str())
                        .collect::<Vec<_>>()
                        .join(", "))
                    .unwrap_or_default()
            );
        }
    }
    Ok(EXIT_OK)
}

/// The plugin called `name` in the config, or an error naming those it has.
pub fn configured_plugin<'a>(
    config: &'a Config,
    config_path: &Path,
    name: &str,
) -> anyhow::Result<&'a cordon_plugin_host::PluginConfig> {
    let Some(plugin) = config.plugin(name) else {
        bail!(
            "no plugin `{name}` in {} (configured: {})",
            config_path.display(),
            config
                .plugins
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    Ok(plugin)
}

pub async fn plugins_inspect(config_path: &Path, name: &str, json: bool) -> anyhow::Result<u8> {
    let config = Config::load(config_path)?;
    let plugin = configured_plugin(&config, config_path, name)?;
    let host = cordon_config::load_plugins(&config, &[name.to_string()]).await?;
    let info = host.info(name).expect("loaded");
    if json {
        let value = json!({
            "name": name,
            "info": info,
            "sha256": plugin.sha256,
            "component": plugin.component,
            "allowed_hosts": plugin.allowed_hosts.iter().map(|o| o.to_string()).collect::<Vec<_>>(),
            "secrets_granted": plugin.secrets.keys().collect::<Vec<_>>(),
            "config": plugin.config,
            "limits": {
                "timeout_ms": plugin.limits.timeout_ms,
                "cpu_ms": plugin.limits.cpu_ms,
                "memory_mb": plugin.limits.memory_mb,
                "concurrency": plugin.limits.concurrency,
            },
        });
        sayln!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(EXIT_OK);
    }
    sayln!(
        "{name}: provider {} version {}",
        info.provider,
        info.version
    );
    sayln!(
        "  component {} (sha256 {})",
        plugin.component.display(),
        plugin.sha256
    );
    let hosts: Vec<String> = plugin.allowed_hosts.iter().map(|o| o.to_string()).collect();
    sayln!(
        "  may reach: {}",
        if hosts.is_empty() {
            "nothing".into()
        } else {
            hosts.join(", ")
        }
    );
    let limits = plugin.limits;
    sayln!(
        "  limits: {} ms per call, {} ms CPU, {} MiB memory, {} calls at once",
        limits.timeout_ms,
        limits.cpu_ms,
        limits.memory_mb,
        limits.concurrency
    );
    for secret in &info.secrets {
        let granted = if plugin.secrets.contains_key(&secret.name) {
            "granted"
        } else {
            "not granted"
        };
        let required = if secret.required {
            "required"
        } else {
            "optional"
        };
        sayln!(
            "  secret {} ({required}, {granted}): {}",
            secret.name,
            secret.description
        );
    }
    for key in &info.config {
        let value = plugin
            .config
            .get(&key.name)
            .map(String::as_str)
            .unwrap_or("(unset)");
        sayln!("  config {} = {value}: {}", key.name, key.description);
    }
    sayln!("  actions:");
    for action in &info.actions {
        let kinds: Vec<String> = action.targets.iter().map(|k| k.to_string()).collect();
        let undo = match &action.restore_with {
            Some(restore) => format!("restore with {restore}"),
            None => "not reversible".into(),
        };
        sayln!(
            "    {} [{}] on {}: {} ({undo})",
            action.name,
            action.effect,
            kinds.join("|"),
            action.description
        );
        for param in &action.params {
            let required = if param.required {
                "required"
            } else {
                "optional"
            };
            sayln!(
                "      param {} ({required}): {}",
                param.name,
                param.description
            );
        }
    }
    Ok(EXIT_OK)
}

pub async fn playbook_check(config_path: &Path, file: &Path) -> anyhow::Result<u8> {
    let config = Config::load(config_path)?;
    let playbook = Playbook::load(file)?;
    let names = super::plugins_used(&config, config_path, &playbook)?;
    let host = cordon_config::load_plugins(&config, &names).await?;
    playbook.check(&host)?;
    sayln!(
        "{}: playbook `{}` is valid ({} steps, owner {})",
        file.display(),
        playbook.name,
        playbook.steps.len(),
        playbook.owner
    );
    Ok(EXIT_OK)
}
