//! `cordon audit verify`, `cordon audit head` and `cordon audit export`.

use super::{EXIT_ERROR, EXIT_OK};
use anyhow::Context as _;
use cordon_config::Context;
use cordon_store::{Anchor, StoreExt, crosscheck};
use std::io::Write;
use std::path::Path;

/// Recomputes the hash chain (naming the first broken record), checks the
/// records against it and checks every anchor.
pub fn verify(config_path: &Path, given: &[String], file: Option<&Path>) -> anyhow::Result<u8> {
    let mut anchors = Vec::new();
    for text in given {
        anchors.push(Anchor::parse(text).map_err(|e| anyhow::anyhow!("--anchor: {e}"))?);
    }
    if let Some(file) = file {
        anchors.extend(read_anchors(file)?);
    }
    let ctx = Context::open(config_path)?;
    let verification = ctx.store.verify_audit()?;
    if let Some((seq, reason)) = verification.first_break {
        warnln!("error: audit log broken at record {seq}: {reason}");
        return Ok(EXIT_ERROR);
    }
    let records = ctx.store.audit_records()?;
    let mut broken = false;
    for anchor in &anchors {
        if let Err(why) = anchor.check(&records) {
            warnln!("error: {why}");
            broken = true;
        }
    }
    let checked = crosscheck::check(ctx.store.as_ref(), &records)?;
    for problem in checked.problems.iter().take(20) {
        warnln!("error: {problem}");
    }
    if checked.problems.len() > 20 {
        warnln!("error: … and {} more", checked.problems.len() - 20);
    }
    if broken || !checked.problems.is_empty() {
        return Ok(EXIT_ERROR);
    }
    sayln!(
        "audit log intact: {} records, hash chain verified; {} action and grant records match it{}",
        verification.records,
        checked.compared,
        match anchors.len() {
            0 => "; no anchor given, so records cut from the end together with the head go unseen"
                .to_string(),
            n => format!("; it holds all {n} anchors"),
        }
    );
    Ok(EXIT_OK)
}

/// The anchors of `file`, one JSON object per line; every line must parse.
fn read_anchors(file: &Path) -> anyhow::Result<Vec<Anchor>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the anchors in {}", file.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).with_context(|| {
                format!(
                    "{}:{}: not an anchor (a JSON object with `seq` and `hash`)",
                    file.display(),
                    i + 1
                )
            })
        })
        .collect()
}

/// Prints the chain's head as an anchor.
pub fn head(config_path: &Path, json: bool) -> anyhow::Result<u8> {
    let ctx = Context::open(config_path)?;
    let Some(head) = ctx.store.audit_head()? else {
        anyhow::bail!("the audit log is empty: there is no head to anchor yet");
    };
    let anchor = Anchor {
        seq: head.seq,
        hash: head.hash,
        at: Some(cordon_types::rfc3339(cordon_types::now_ms())),
    };
    if json {
        sayln!("{}", serde_json::to_string(&anchor)?);
    } else {
        sayln!("{}:{}", anchor.seq, anchor.hash);
    }
    Ok(EXIT_OK)
}

/// Streams every record as JSON lines.
pub fn export(config_path: &Path, format: &str) -> anyhow::Result<u8> {
    if format != "jsonl" {
        anyhow::bail!("unknown format `{format}`: the audit log exports as jsonl");
    }
    let ctx = Context::open(config_path)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for record in ctx.store.audit_records()? {
        serde_json::to_writer(&mut out, &record)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(EXIT_OK)
}
