//! Anchoring the audit chain outside the store: every `anchor_every_ms`,
//! when the chain's head moved, the server appends it (`{"seq", "hash",
//! "at"}`, one JSON object per line, synced) to the file `[server]
//! audit_anchors` names. `cordon audit verify --anchors FILE` then catches a
//! store cut short, deleted or rewritten behind the server's back, which the
//! chain alone cannot (a store rebuilt from nothing verifies as intact).

use crate::state::AppState;
use cordon_store::Anchor;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Appends the head whenever it moved, until the process ends.
pub(crate) async fn run(state: Arc<AppState>, path: PathBuf, every: Duration) {
    let mut last = last_anchored(&path);
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let head = match state.store.audit_head() {
            Ok(Some(head)) => head,
            Ok(None) => continue,
            Err(err) => {
                tracing::error!("cannot read the audit head to anchor it: {err}");
                continue;
            }
        };
        if last == Some(head.seq) {
            continue;
        }
        let anchor = Anchor {
            seq: head.seq,
            hash: head.hash,
            at: Some(cordon_types::rfc3339(cordon_types::now_ms())),
        };
        let file = path.clone();
        let written = tokio::task::spawn_blocking(move || append(&file, &anchor)).await;
        match written {
            Ok(Ok(())) => last = Some(head.seq),
            Ok(Err(err)) => tracing::error!(
                "cannot append the audit anchor to {}: {err}",
                path.display()
            ),
            Err(err) => tracing::error!("the audit anchor task failed: {err}"),
        }
    }
}

/// The seq of the file's last anchor, so a restart does not repeat it.
fn last_anchored(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    serde_json::from_str::<Anchor>(line).ok().map(|a| a.seq)
}

fn append(path: &Path, anchor: &Anchor) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(anchor).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(&line)?;
    file.sync_data()
}
