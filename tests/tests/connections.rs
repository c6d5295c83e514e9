//! The host's outbound HTTP keeps connections alive and sends no request a
//! run does not need: a run's requests to one provider share a few
//! connections instead of opening one each, as the provider's own count of
//! accepted connections shows.

use cordon_e2e::cordon::RUN_JSON;
use cordon_e2e::sims::{self, VAULT_ROOT_TOKEN, leaked_tokens};

/// The plugin's concurrency in the test's config.
const CONCURRENCY: u64 = 8;

#[test]
fn a_runs_requests_reuse_kept_alive_connections() {
    let (sim, _) = sims::vault();
    let tokens = leaked_tokens(&sim.state, "leaked", 150);
    let ws = sims::workspace(
        &[sims::vault_plugin(&sim.url).limit("concurrency", CONCURRENCY)],
        &[("VAULT_TOKEN", VAULT_ROOT_TOKEN)],
    );
    ws.write(
        "playbook.toml",
        include_str!("../../playbooks/vault-token-leak.toml"),
    );
    ws.write("signal.json", &sims::signal(tokens.identities));
    sim.state.reset_requests();
    ws.cordon(RUN_JSON).expect_code(0);

    for (accessor, entity) in tokens.accessors.iter().zip(&tokens.entities) {
        assert!(sim.state.token(accessor).unwrap().revoked);
        assert!(sim.state.entity(entity).unwrap().disabled);
    }
    let stats = sim.state.stats();
    // Per token: look it up (evidence, idempotency), revoke it, read its
    // entity (evidence, idempotency), disable it. No inspect afterwards:
    // Vault forgets a revoked token, and the lookup said all it knew.
    assert_eq!(stats.total, 4 * 150, "{stats:?}");
    assert_eq!(stats.by_status.get(&400), None, "{stats:?}");
    // Each call makes its requests one after another, so at most one
    // connection per call in flight, plus the few the pool opens while a
    // connection is on its way back (and the load-time describe).
    assert!(
        stats.connections <= 2 * CONCURRENCY,
        "{} connections for {} requests",
        stats.connections,
        stats.total
    );
    assert!(
        (stats.connections as f64) / (stats.total as f64) <= 0.05,
        "{stats:?}"
    );
}
