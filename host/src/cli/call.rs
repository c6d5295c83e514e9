//! `cordon plugins call NAME ACTION --target ID`: one action, in the real
//! sandbox with the config's grants, without writing a playbook or a signal.
//!
//! The call is an ordinary run of a one-step playbook for a one-identity
//! signal, both made here: it is decided by the authority model (when one is
//! configured), durable, audited and restorable like any other run. Nothing
//! is special-cased; only the output is: the outcome, the requests the plugin
//! made and the restore data.

use super::ConfigArg;
use super::run::{RunArgs, Validated, exit_code, start};
use anyhow::bail;
use cordon_config::{Config, Models};
use cordon_input::{Playbook, Signal, SourceFile};
use cordon_report::RunReport;
use cordon_types::{ActionRecord, IdentityKind, rfc3339};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What `cordon plugins call` was asked.
#[derive(clap::Args)]
pub struct CallArgs {
    /// The plugin's name in the config.
    #[arg(value_name = "NAME")]
    pub plugin: String,
    /// The action, e.g. `suspend-user`.
    pub action: String,
    /// The target identity's id.
    #[arg(long)]
    pub target: String,
    /// The target's kind (default: the first kind the action accepts).
    #[arg(long)]
    pub kind: Option<String>,
    /// A target attribute, `KEY=VALUE` (repeatable).
    #[arg(long = "attr", value_name = "KEY=VALUE")]
    pub attributes: Vec<String>,
    /// An action parameter, `KEY=VALUE` (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// The severity the authority model sees.
    #[arg(long, default_value = "high")]
    pub severity: String,
    /// The incident the call belongs to.
    #[arg(long)]
    pub incident: Option<String>,
    /// Plan only: the plugin reads and says what it would do.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub config: ConfigArg,
    /// Who makes the call (default: automation:cli).
    #[arg(long = "as", value_name = "PRINCIPAL")]
    pub principal: Option<String>,
    #[arg(long)]
    pub json: bool,
}

/// The kind of signal a call's synthetic signal has (a playbook trigger
/// never matches it by accident: no shipped playbook answers `cordon.*`).
const CALL_SIGNAL_KIND: &str = "cordon.plugins-call";

/// Runs one action and prints what happened.
pub async fn call(args: CallArgs) -> anyhow::Result<u8> {
    let config = Config::load(&args.config.config)?;
    let models = Models::load(&config)?;
    super::inspect::configured_plugin(&config, &args.config.config, &args.plugin)?;
    let host = cordon_config::load_plugins(&config, std::slice::from_ref(&args.plugin)).await?;
    let info = host.info(&args.plugin).expect("loaded").clone();
    drop(host);
    let Some(spec) = info.action(&args.action) else {
        bail!(
            "plugin `{}` has no action `{}` (it offers: {})",
            args.plugin,
            args.action,
            info.actions
                .iter()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let kind = match &args.kind {
        Some(name) => IdentityKind::parse(name).ok_or_else(|| {
            anyhow::anyhow!(
                "--kind `{name}` is not an identity kind (one of: {})",
                IdentityKind::ALL
                    .iter()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?,
        None => *spec
            .targets
            .first()
            .ok_or_else(|| anyhow::anyhow!("action `{}` accepts no identity kind", args.action))?,
    };
    if !spec.targets.contains(&kind) {
        bail!(
            "action `{}` of plugin `{}` takes {}, not {kind}",
            args.action,
            args.plugin,
            spec.targets
                .iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(" or ")
        );
    }
    let params = pairs("--param", &args.params)?;
    let attributes = pairs("--attr", &args.attributes)?;

    let now = cordon_types::now_ms();
    let signal_id = format!("plugins-call-{now}");
    let playbook = playbook(&args, &params)?;
    let signal_text = serde_json::to_string_pretty(&json!({
        "id": signal_id,
        "kind": CALL_SIGNAL_KIND,
        "source": "cordon-cli",
        "severity": args.severity,
        "observed_at": rfc3339(now),
        "incident": args.incident,
        "identities": [{
            "provider": info.provider,
            "kind": kind.to_string(),
            "id": args.target,
            "attributes": attributes,
        }],
    }))?;
    let signal = Signal::parse(&SourceFile {
        path: PathBuf::from("<plugins call>"),
        text: signal_text.clone(),
    })
    .map_err(|errors| anyhow::anyhow!("{errors}"))?;

    let run_args = RunArgs {
        config: args.config.config.clone(),
        playbook: PathBuf::from("<plugins call>"),
        signal: PathBuf::from("<plugins call>"),
        dry_run: args.dry_run,
        json: args.json,
        principal: args.principal.clone(),
    };
    let inputs = Validated {
        config,
        models,
        playbook,
        signal,
        signal_text,
    };
    let (ctx, run, _plugins) = start(&run_args, inputs).await?;
    let actions = ctx.store.actions(&run.run_id)?;
    if args.json {
        let report = serde_json::to_value(RunReport::new(&run, &actions))?;
        sayln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for action in &actions {
            say!(
                "{}",
                human(action, spec.restore_with.as_deref(), &run.run_id)
            );
        }
        if actions.is_empty() {
            sayln!("run {}: no action ran", run.run_id);
        }
    }
    Ok(exit_code(&run))
}

/// `k=v` pairs of a repeated flag; a pair without `=` or with an empty key
/// is refused, naming the flag.
fn pairs(flag: &str, values: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut pairs = BTreeMap::new();
    for value in values {
        match value.split_once('=') {
            Some((key, v)) if !key.trim().is_empty() => {
                pairs.insert(key.trim().to_string(), v.to_string());
            }
            _ => bail!("{flag} `{value}`: expected KEY=VALUE"),
        }
    }
    Ok(pairs)
}

/// The one-step playbook of a call, as TOML text (so it is stored with the
/// run like any playbook, and resumes like one).
fn playbook(args: &CallArgs, params: &BTreeMap<String, String>) -> anyhow::Result<Playbook> {
    let mut step = toml::Table::new();
    step.insert("id".into(), "call".into());
    step.insert("plugin".into(), args.plugin.clone().into());
    step.insert("action".into(), args.action.clone().into());
    if !params.is_empty() {
        let table: toml::Table = params
            .iter()
            .map(|(k, v)| (k.clone(), toml::Value::from(v.clone())))
            .collect();
        step.insert("params".into(), table.into());
    }
    let mut trigger = toml::Table::new();
    trigger.insert("kinds".into(), vec![CALL_SIGNAL_KIND].into());
    let mut doc = toml::Table::new();
    doc.insert("name".into(), "plugins-call".into());
    doc.insert(
        "description".into(),
        format!("cordon plugins call {} {}", args.plugin, args.action).into(),
    );
    doc.insert("owner".into(), "cli".into());
    doc.insert("trigger".into(), trigger.into());
    doc.insert("step".into(), vec![toml::Value::from(step)].into());
    let source = SourceFile {
        path: PathBuf::from("<plugins call>"),
        text: toml::to_string(&doc)?,
    };
    Playbook::parse(source).map_err(|errors| {
        // A parameter value the playbook language refuses (an unclosed
        // `{{`, say) is the caller's input: name the flag.
        anyhow::anyhow!("--param: {errors}")
    })
}

/// What a person reads: the outcome, the evidence, the restore data and the
/// requests the plugin made.
fn human(action: &ActionRecord, restore_with: Option<&str>, run_id: &str) -> String {
    let mut out = format!(
        "{}.{} on {}:{} (run {run_id})\n  {}: {}\n",
        action.plugin,
        action.action,
        action.target.kind,
        action.target.id,
        action.status.as_str(),
        action.detail
    );
    for (key, value) in &action.evidence {
        out.push_str(&format!("  evidence {key} = {value}\n"));
    }
    match (restore_with, action.restore.is_empty()) {
        (Some(restore), false) => {
            let data: Vec<String> = action
                .restore
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect();
            out.push_str(&format!("  restore with {restore}: {}\n", data.join(", ")));
        }
        (Some(restore), true) => out.push_str(&format!("  restore with {restore}\n")),
        (None, _) => out.push_str("  not reversible\n"),
    }
    out.push_str(&format!("  requests ({}):\n", action.requests.len()));
    for request in &action.requests {
        let answer = match (&request.status, &request.error, request.denied) {
            (_, _, true) => "denied by the host (origin not allowed)".to_string(),
            (Some(status), _, _) => status.to_string(),
            (None, Some(error), _) => format!("failed: {error}"),
            (None, None, _) => "no answer".to_string(),
        };
        out.push_str(&format!(
            "    {} {}{} -> {answer} ({} ms)\n",
            request.method, request.origin, request.path, request.duration_ms
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_need_a_key_and_an_equals_sign() {
        let ok = pairs("--param", &["user=ci-bot".into(), "note=a=b".into()]).unwrap();
        assert_eq!(ok["user"], "ci-bot");
        assert_eq!(ok["note"], "a=b");
        let err = pairs("--param", &["user".into()]).unwrap_err().to_string();
        assert!(err.contains("--param `user`: expected KEY=VALUE"), "{err}");
        assert!(pairs("--attr", &["=x".into()]).is_err());
    }

    #[test]
    fn the_playbook_of_a_call_has_one_step_and_quotes_its_values() {
        let args = CallArgs {
            config: ConfigArg {
                config: PathBuf::from("cordon.toml"),
            },
            plugin: "okta".into(),
            action: "suspend-user".into(),
            target: "x".into(),
            kind: None,
            attributes: Vec::new(),
            params: Vec::new(),
            severity: "high".into(),
            incident: None,
            dry_run: true,
            json: false,
            principal: None,
        };
        let params = BTreeMap::from([("reason".to_string(), "said \"stop\"\nnow".to_string())]);
        let playbook = playbook(&args, &params).unwrap();
        assert_eq!(playbook.steps.len(), 1);
        assert_eq!(playbook.steps[0].plugin, "okta");
        assert_eq!(playbook.steps[0].action, "suspend-user");
        assert!(playbook.steps[0].params.contains_key("reason"));
    }
}
