//! Live events: the audit log as it grows, over Server-Sent Events.
//!
//! Every event a responder watches — a run started, a decision, an action
//! applied or failed, an approval needed or answered — is an audit record,
//! so `/v1/events` streams audit records, each with its seq as the SSE id:
//! a client that reconnects with `Last-Event-ID` misses nothing. Only
//! durable records are streamed: [`CommitWatch`] publishes a seq only once
//! the flush that made it durable has returned.

use cordon_store::audit;
use cordon_store::{AuditRecord, Batch, LedgerCounts, LedgerKey, Store, StoreError, StoreFuture};
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::watch;
use utoipa::ToSchema;

/// A store that tells watchers the highest audit seq known durable.
pub struct CommitWatch {
    inner: Arc<dyn Store>,
    /// The highest seq applied so far (durable after the next flush).
    applied: AtomicU64,
    durable: watch::Sender<u64>,
}

impl CommitWatch {
    /// Wraps `inner`; everything already in it counts as durable.
    pub fn new(inner: Arc<dyn Store>) -> Result<Arc<CommitWatch>, StoreError> {
        let head = inner.audit_head()?.map_or(0, |h| h.seq);
        Ok(Arc::new(CommitWatch {
            inner,
            applied: AtomicU64::new(head),
            durable: watch::channel(head).0,
        }))
    }

    /// Receives the highest durable audit seq each time it grows.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.durable.subscribe()
    }

    /// The highest durable audit seq now.
    pub fn durable(&self) -> u64 {
        *self.durable.borrow()
    }

    /// Another replica's commit moved the audit head to `seq`: in a shared
    /// store each commit is durable when it returns, so it counts at once.
    pub fn observe(&self, seq: u64) {
        self.applied.fetch_max(seq, Ordering::SeqCst);
        self.durable.send_if_modified(|durable| {
            let grew = seq > *durable;
            *durable = (*durable).max(seq);
            grew
        });
    }

    fn note_applied(&self) {
        if let Ok(Some(head)) = self.inner.audit_head() {
            self.applied.fetch_max(head.seq, Ordering::SeqCst);
        }
    }
}

impl Store for CommitWatch {
    cordon_store::forward_reads!(inner);

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        self.inner.apply(batch)?;
        self.note_applied();
        Ok(())
    }
    fn apply_guarded(
        &self,
        key: &LedgerKey,
        build: &mut (dyn FnMut(LedgerCounts) -> Batch + Send),
    ) -> Result<(), StoreError> {
        self.inner.apply_guarded(key, build)?;
        self.note_applied();
        Ok(())
    }
    fn flush(&self) -> StoreFuture<'_, ()> {
        // Everything applied before the flush starts is durable when it returns.
        let upto = self.applied.load(Ordering::SeqCst);
        Box::pin(async move {
            self.inner.flush().await?;
            self.durable.send_if_modified(|seq| {
                let grew = upto > *seq;
                *seq = (*seq).max(upto);
                grew
            });
            Ok(())
        })
    }
    fn leases(&self) -> Option<Arc<dyn cordon_store::Leases>> {
        self.inner.leases()
    }
}

/// One live event: an audit record as `/v1/events` sends it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LiveEvent {
    /// The audit record's seq (also the SSE id).
    pub seq: u64,
    /// The SSE event name: the audit kind (`run.started`, `decision`,
    /// `action.outcome`, `approval.granted`, …), except that a decision
    /// needing an approval is `approval.needed`.
    pub event: String,
    /// The audit kind.
    pub kind: String,
    /// When it was recorded (ms since the epoch).
    pub at: i64,
    /// The run it concerns.
    pub run_id: Option<String>,
    /// The incident it concerns.
    pub incident: Option<String>,
    /// Who acted.
    pub principal: Option<String>,
    /// The event's data, as the audit log keeps it.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl LiveEvent {
    /// The live event of an audit record.
    pub fn of(record: AuditRecord) -> LiveEvent {
        let needs_approval = record.kind == "decision"
            && record.data["decision"]["decision"].as_str() == Some("needs-approval");
        LiveEvent {
            seq: record.seq,
            event: if needs_approval {
                "approval.needed".into()
            } else {
                record.kind.clone()
            },
            kind: record.kind,
            at: record.at,
            run_id: record.run_id,
            incident: record.incident,
            principal: record.principal,
            data: record.data,
        }
    }
}

/// Reads the durable audit records after `after`, at most `limit` of them.
pub fn read_after(
    store: &dyn Store,
    after: u64,
    durable: u64,
    limit: u64,
) -> Result<Vec<LiveEvent>, StoreError> {
    if durable <= after {
        return Ok(Vec::new());
    }
    let to = durable.min(after.saturating_add(limit));
    store
        .audit_range(after + 1, to)?
        .into_iter()
        .map(|(seq, bytes)| audit::decode(seq, &bytes).map(LiveEvent::of))
        .collect()
}
