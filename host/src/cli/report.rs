//! `cordon report INCIDENT --format md|json|html`.

use super::EXIT_OK;
use anyhow::bail;
use cordon_config::Context;
use cordon_report::{IncidentReport, html, markdown, plugins_of_incident, restore_table};
use std::collections::BTreeMap;
use std::path::Path;

pub async fn report(
    config_path: &Path,
    incident: &str,
    format: &str,
    output: Option<&Path>,
) -> anyhow::Result<u8> {
    if !["md", "json", "html"].contains(&format) {
        bail!("unknown format `{format}`: use md, json or html");
    }
    let ctx = Context::open(config_path)?;
    // Which actions are reversible comes from the plugins; load those the
    // incident's runs used (best effort: a report must not need the network).
    let names = plugins_of_incident(ctx.store.as_ref(), incident)?;
    let restore_with = match ctx.plugins(&names).await {
        Ok(plugins) => restore_table(plugins.as_ref()),
        Err(err) => {
            tracing::warn!(
                "cannot load plugins, the report will not say what can be restored: {err:#}"
            );
            BTreeMap::new()
        }
    };
    let model = ctx.authority.as_ref().map(|a| a.model());
    let Some(report) = IncidentReport::build(ctx.store.as_ref(), incident, model, &restore_with)?
    else {
        bail!("nothing is recorded for incident `{incident}`");
    };
    let text = match format {
        "json" => serde_json::to_string_pretty(&report)? + "\n",
        "html" => html(&report),
        _ => markdown(&report),
    };
    write_output(&text, output)
}

/// Writes a report to `output`, or to stdout.
pub fn write_output(text: &str, output: Option<&Path>) -> anyhow::Result<u8> {
    match output {
        Some(path) => {
            std::fs::write(path, text)?;
            warnln!("wrote {}", path.display());
        }
        None => say!("{text}"),
    }
    Ok(EXIT_OK)
}
