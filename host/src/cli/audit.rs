//! `cordon audit verify` and `cordon audit export`.

use super::{EXIT_ERROR, EXIT_OK};
use cordon_config::Context;
use cordon_store::StoreExt;
use std::io::Write;
use std::path::Path;

/// Recomputes the hash chain; names the first broken record.
pub fn verify(config_path: &Path) -> anyhow::Result<u8> {
    let ctx = Context::open(config_path)?;
    let verification = ctx.store.verify_audit()?;
    match verification.first_break {
        None => {
            println!(
                "audit log intact: {} records, hash chain verified",
                verification.records
            );
            Ok(EXIT_OK)
        }
        Some((seq, reason)) => {
            eprintln!("error: audit log broken at record {seq}: {reason}");
            Ok(EXIT_ERROR)
        }
    }
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
