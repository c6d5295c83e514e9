//! Prometheus metrics (`/metrics`, text format).
//!
//! Counters and histograms follow the durable audit log, read from its
//! start when the service starts, so they count everything the store
//! recorded — across restarts — and never something that was not recorded.
//! Signals' verdicts are counted where they are decided; runs by status are
//! read from the store when scraped.

use cordon_store::{AuditRecord, Store, StoreError, audit};
use cordon_types::RunStatus;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SignalLabels {
    source: String,
    verdict: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    plugin: String,
    action: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    plugin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    plugin: String,
    action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FromLabels {
    from: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotifierLabels {
    notifier: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: String,
}

fn seconds_histogram() -> Histogram {
    // 1 ms to ~9 min.
    Histogram::new(exponential_buckets(0.001, 2.0, 20))
}

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    signals: Family<SignalLabels, Counter>,
    actions: Family<ActionLabels, Counter>,
    decisions: Family<OutcomeLabels, Counter>,
    finished: Family<StatusLabels, Counter>,
    runs: Family<StatusLabels, Gauge>,
    denied: Family<CodeLabels, Counter>,
    notifications: Family<NotifierLabels, Counter>,
    requests: Family<PluginLabels, Histogram, fn() -> Histogram>,
    calls: Family<CallLabels, Histogram, fn() -> Histogram>,
    rate_limit_waits: Family<PluginLabels, Histogram, fn() -> Histogram>,
    connections: Family<PluginLabels, Counter>,
    approval_wait: Histogram,
    contain: Family<FromLabels, Histogram, fn() -> Histogram>,
    leases_lost: Counter,
    leases_taken_over: Counter,
    /// When each action's first attempt was recorded (audit `at`, ms).
    called_at: Mutex<HashMap<String, i64>>,
    /// When each action started waiting for an approval (audit `at`, ms).
    waiting_since: Mutex<HashMap<String, i64>>,
    /// The last audit seq observed.
    seen: Mutex<u64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Empty metrics, registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("cordon");
        let signals = Family::<SignalLabels, Counter>::default();
        let actions = Family::<ActionLabels, Counter>::default();
        let decisions = Family::<OutcomeLabels, Counter>::default();
        let finished = Family::<StatusLabels, Counter>::default();
        let runs = Family::<StatusLabels, Gauge>::default();
        let denied = Family::<CodeLabels, Counter>::default();
        let notifications = Family::<NotifierLabels, Counter>::default();
        let requests = Family::<PluginLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            seconds_histogram,
        );
        let calls = Family::<CallLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            seconds_histogram,
        );
        let rate_limit_waits =
            Family::<PluginLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                seconds_histogram,
            );
        let connections = Family::<PluginLabels, Counter>::default();
        let approval_wait = seconds_histogram();
        let contain = Family::<FromLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            seconds_histogram,
        );
        registry.register(
            "signals",
            "Signals received, by source and verdict",
            signals.clone(),
        );
        registry.register(
            "actions",
            "Actions that reached a final state, by plugin, action and status",
            actions.clone(),
        );
        registry.register(
            "decisions",
            "Authority decisions, by outcome",
            decisions.clone(),
        );
        registry.register(
            "runs_finished",
            "Runs that finished, by status",
            finished.clone(),
        );
        registry.register("runs", "Runs in the store now, by status", runs.clone());
        registry.register(
            "access_denied",
            "Refused API calls, by HTTP status",
            denied.clone(),
        );
        registry.register(
            "notifications",
            "Notifications of actions waiting for approval, by notifier and outcome (delivered, failed)",
            notifications.clone(),
        );
        registry.register(
            "provider_request_seconds",
            "Duration of plugins' provider requests, by plugin",
            requests.clone(),
        );
        registry.register(
            "plugin_call_seconds",
            "From an action's first attempt to its outcome (retries and waits included), by plugin and action",
            calls.clone(),
        );
        registry.register(
            "rate_limit_wait_seconds",
            "Waits a provider's 429 imposed on every call to its plugin, by plugin (since this start)",
            rate_limit_waits.clone(),
        );
        registry.register(
            "provider_connections",
            "Connections plugins opened to providers, by plugin (since this start; kept-alive connections are reused)",
            connections.clone(),
        );
        registry.register(
            "approval_wait_seconds",
            "From an action needing approval to its answer",
            approval_wait.clone(),
        );
        registry.register(
            "time_to_contain_seconds",
            "From the signal (observed_at, or receipt) to the run's last containment action",
            contain.clone(),
        );
        let leases_lost = Counter::default();
        let leases_taken_over = Counter::default();
        registry.register(
            "lease_lost",
            "Runs this replica stopped executing because its lease on them expired and another replica took them over",
            leases_lost.clone(),
        );
        registry.register(
            "lease_taken_over",
            "Runs this replica took over from a replica whose lease on them expired",
            leases_taken_over.clone(),
        );
        Metrics {
            registry,
            leases_lost,
            leases_taken_over,
            signals,
            actions,
            decisions,
            finished,
            runs,
            denied,
            notifications,
            requests,
            calls,
            rate_limit_waits,
            connections,
            approval_wait,
            contain,
            waiting_since: Mutex::new(HashMap::new()),
            called_at: Mutex::new(HashMap::new()),
            seen: Mutex::new(0),
        }
    }

    /// Counts a signal's verdict (`fired`, `not-fired`, `invalid`, `unauthenticated`).
    pub fn signal(&self, source: &str, verdict: &str) {
        let source: String = source.chars().take(64).collect();
        self.signals
            .get_or_create(&SignalLabels {
                source,
                verdict: verdict.into(),
            })
            .inc();
    }

    /// Counts a run whose lease this replica lost.
    pub fn lease_lost(&self) {
        self.leases_lost.inc();
    }

    /// Counts a run this replica took over.
    pub fn lease_taken_over(&self) {
        self.leases_taken_over.inc();
    }

    /// Observes every durable audit record not seen yet.
    pub fn catch_up(&self, store: &dyn Store, durable: u64) -> Result<(), StoreError> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        while *seen < durable {
            let page: Vec<AuditRecord> = store
                .audit_range(*seen + 1, durable.min(*seen + 1024))?
                .into_iter()
                .map(|(seq, bytes)| audit::decode(seq, &bytes))
                .collect::<Result<_, _>>()?;
            let Some(last) = page.last().map(|r| r.seq) else {
                break;
            };
            for record in &page {
                self.observe(store, record);
            }
            *seen = last;
        }
        Ok(())
    }

    fn observe(&self, store: &dyn Store, record: &AuditRecord) {
        let data = &record.data;
        let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
        match record.kind.as_str() {
            "decision" => {
                let outcome = text(&data["decision"]["decision"]);
                if outcome == "needs-approval" {
                    self.waiting_since
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(text(&data["action_key"]), record.at);
                }
                self.decisions
                    .get_or_create(&OutcomeLabels { outcome })
                    .inc();
            }
            "approval.granted" | "approval.rejected" => {
                let since = self
                    .waiting_since
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&text(&data["action_key"]));
                if let Some(since) = since {
                    self.approval_wait
                        .observe((record.at - since).max(0) as f64 / 1000.0);
                }
            }
            "notification.delivered" | "notification.failed" => {
                let outcome = record.kind.trim_start_matches("notification.").to_string();
                self.notifications
                    .get_or_create(&NotifierLabels {
                        notifier: text(&data["notifier"]),
                        outcome,
                    })
                    .inc();
            }
            "access.denied" => {
                let code = data["status"].as_u64().unwrap_or(0).to_string();
                self.denied.get_or_create(&CodeLabels { code }).inc();
            }
            "action.intent" => {
                self.called_at
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(text(&data["action_key"]))
                    .or_insert(record.at);
            }
            "action.outcome" => {
                let plugin = text(&data["plugin"]);
                let called = self
                    .called_at
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&text(&data["action_key"]));
                if let Some(called) = called {
                    self.calls
                        .get_or_create(&CallLabels {
                            plugin: plugin.clone(),
                            action: text(&data["action"]),
                        })
                        .observe((record.at - called).max(0) as f64 / 1000.0);
                }
                self.actions
                    .get_or_create(&ActionLabels {
                        plugin: plugin.clone(),
                        action: text(&data["action"]),
                        status: text(&data["status"]),
                    })
                    .inc();
                if let Some(run_id) = &record.run_id
                    && let Ok(Some(action)) = store.action(run_id, &text(&data["action_key"]))
                {
                    let histogram = self.requests.get_or_create(&PluginLabels { plugin });
                    for request in &action.requests {
                        histogram.observe(request.duration_ms as f64 / 1000.0);
                    }
                }
            }
            "run.finished" => {
                self.finished
                    .get_or_create(&StatusLabels {
                        status: text(&data["status"]),
                    })
                    .inc();
                if let Some(run_id) = &record.run_id {
                    self.observe_containment(store, run_id);
                }
            }
            _ => {}
        }
    }

    fn observe_containment(&self, store: &dyn Store, run_id: &str) {
        let (Ok(run), Ok(actions)) = (store.run(run_id), store.actions(run_id)) else {
            return;
        };
        let Some(ttc) = cordon_report::time_to_contain(&run, &actions) else {
            return;
        };
        self.contain
            .get_or_create(&FromLabels {
                from: "receipt".into(),
            })
            .observe(ttc as f64 / 1000.0);
        if let Ok((_, signal)) = cordon_engine::stored_inputs(&run) {
            let observed_ms = signal.observed_at.unix_timestamp() * 1000;
            let from_observed = (run.started_at - observed_ms).max(0) + ttc;
            self.contain
                .get_or_create(&FromLabels {
                    from: "observed".into(),
                })
                .observe(from_observed as f64 / 1000.0);
        }
    }

    /// The text exposition, with runs by status read from `store` now.
    pub fn render(
        &self,
        store: &dyn Store,
        plugins: &cordon_plugin_host::PluginHost,
    ) -> Result<String, StoreError> {
        for (plugin, opened) in plugins.connections_opened() {
            let counter = self.connections.get_or_create(&PluginLabels { plugin });
            counter.inc_by(opened.saturating_sub(counter.get()));
        }
        let mut counts: HashMap<&'static str, i64> = HashMap::new();
        for status in [
            RunStatus::Running,
            RunStatus::AwaitingApproval,
            RunStatus::Completed,
            RunStatus::Partial,
            RunStatus::Failed,
        ] {
            counts.insert(status.as_str(), 0);
        }
        for run in store.runs()? {
            *counts.entry(run.status.as_str()).or_insert(0) += 1;
        }
        for (status, count) in counts {
            self.runs
                .get_or_create(&StatusLabels {
                    status: status.into(),
                })
                .set(count);
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .map_err(|e| StoreError::Io(format!("encoding metrics: {e}")))?;
        Ok(text)
    }
}

impl cordon_engine::gate::RateLimitObserver for Metrics {
    fn rate_limited(&self, plugin: &str, wait: std::time::Duration) {
        self.rate_limit_waits
            .get_or_create(&PluginLabels {
                plugin: plugin.to_string(),
            })
            .observe(wait.as_secs_f64());
    }
}
