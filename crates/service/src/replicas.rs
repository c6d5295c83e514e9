//! What a replica does beside serving, when replicas share the store: it
//! listens to the others (a run to wake, the audit head they moved) and
//! takes over the runs whose leases expired (their replica died or stalled).

use crate::state::AppState;
use crate::supervisor::Origin;
use cordon_store::{Notice, StoreError};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// How many expired leases one look takes over at most; it looks again at
/// once when it took that many.
const TAKE_AT_ONCE: usize = 64;

/// Starts listening and looking for expired leases.
pub(crate) fn start(state: &Arc<AppState>) -> Result<(), StoreError> {
    let leasing = state.supervisor.leasing().expect("replicas lease runs");
    let (tx, mut notices) = tokio::sync::mpsc::unbounded_channel();
    leasing.leases.listen(Box::new(move |notice| {
        let _ = tx.send(notice);
    }))?;
    let (look_tx, mut look) = tokio::sync::mpsc::channel::<()>(1);
    let heard = state.clone();
    tokio::spawn(async move {
        while let Some(notice) = notices.recv().await {
            if heard.engine.is_stopping() {
                return;
            }
            match notice {
                Notice::Wake(run_id) => heard.supervisor.execute_from(&run_id, Origin::Elsewhere),
                Notice::Committed(seq) => heard.watch.observe(seq),
                Notice::Reconnected => {
                    // What was said meanwhile is lost: read the head, look.
                    if let Ok(Some(head)) = heard.store.audit_head() {
                        heard.watch.observe(head.seq);
                    }
                    let _ = look_tx.try_send(());
                }
            }
        }
    });
    let looking = state.clone();
    let every = leasing.ttl / 2;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                Some(()) = look.recv() => {}
            }
            if looking.engine.is_stopping() || !looking.ready.load(Ordering::SeqCst) {
                if looking.engine.is_stopping() {
                    return;
                }
                continue;
            }
            take_expired(&looking).await;
        }
    });
    Ok(())
}

/// Runs `work` once this replica leads (at once when replicas do not share
/// the store): what each approval must cause once — a notification — is
/// done by one replica, and by another once it dies.
pub(crate) async fn when_leading(
    state: Arc<AppState>,
    work: impl std::future::Future<Output = ()>,
) {
    if let Some(leasing) = state.supervisor.leasing() {
        let mut tick = tokio::time::interval(leasing.ttl / 2);
        loop {
            tick.tick().await;
            if state.engine.is_stopping() {
                return;
            }
            let leases = leasing.leases.clone();
            match tokio::task::spawn_blocking(move || leases.lead()).await {
                Ok(Ok(true)) => break,
                Ok(Ok(false)) => {}
                Ok(Err(err)) => tracing::warn!("cannot tell whether this replica leads: {err}"),
                Err(err) => tracing::error!("asking for the lead failed: {err}"),
            }
        }
        tracing::info!("this replica leads: it sends the notifications");
    }
    work.await
}

/// Takes over every run whose lease expired.
async fn take_expired(state: &Arc<AppState>) {
    let leasing = state.supervisor.leasing().expect("replicas lease runs");
    loop {
        let (leases, holder, ttl) = (leasing.leases.clone(), leasing.holder.clone(), leasing.ttl);
        let taken =
            tokio::task::spawn_blocking(move || leases.take_expired(&holder, ttl, TAKE_AT_ONCE))
                .await;
        let taken = match taken {
            Ok(Ok(taken)) => taken,
            Ok(Err(err)) => {
                tracing::warn!("cannot look for runs whose lease expired: {err}");
                return;
            }
            Err(err) => {
                tracing::error!("looking for expired leases failed: {err}");
                return;
            }
        };
        let more = taken.len() == TAKE_AT_ONCE;
        for lease in taken {
            tracing::info!(run_id = %lease.run_id, "taking over a run whose lease expired");
            state.metrics.lease_taken_over();
            state.supervisor.take_over(lease);
        }
        if !more {
            return;
        }
    }
}
