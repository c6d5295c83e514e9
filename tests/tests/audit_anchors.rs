//! Tamper evidence beyond the chain: the server appends the chain's head to
//! an anchors file outside the store, and `cordon audit verify --anchors`
//! then reports a store that was deleted or cut short, which the chain
//! alone verifies as intact. `verify` also checks the action and grant
//! records against the chain: a record changed behind its back is named.

use cordon_e2e::cordon::Workspace;
use cordon_e2e::served::{agent_containment, agent_identities, audit, served, signal, tokens};
use cordon_e2e::server::Server;
use cordon_e2e::sims;
use std::time::Duration;

#[test]
fn a_deleted_or_shortened_store_is_caught_by_the_servers_anchors() {
    let (sim, demo) = sims::vault();
    let tokens = tokens();
    let ws = served(
        &sim,
        &agent_containment(),
        &tokens,
        "audit_anchors = \"anchors.jsonl\"\nanchor_every_ms = 100",
        4,
    );
    let mut server = Server::start(&ws);
    let accepted = server.post(
        "/v1/signals",
        &tokens.detector,
        &signal(agent_identities(&demo)),
    );
    let run_id = accepted["runs"][0]["run_id"].as_str().unwrap().to_string();
    server.settled(&run_id, &tokens.nadia);
    let head = audit(&server, &tokens.nadia).last().unwrap()["seq"]
        .as_u64()
        .unwrap();
    let anchors = ws.path().join("anchors.jsonl");
    server.wait_until("the head anchored", Duration::from_secs(60), || {
        std::fs::read_to_string(&anchors)
            .unwrap_or_default()
            .lines()
            .any(|l| l.contains(&format!("\"seq\":{head},")))
    });
    server.sigterm();

    let verify = |ws: &Workspace| ws.cordon(&["audit", "verify", "--anchors", "anchors.jsonl"]);
    let intact = verify(&ws);
    intact.expect_code(0);
    assert!(
        intact.stdout().contains("it holds all"),
        "{}",
        intact.stdout()
    );

    // Without anchors, an empty store verifies as intact; with them it is
    // reported as what it is.
    std::fs::remove_dir_all(ws.store_dir()).unwrap();
    let bare = ws.cordon(&["audit", "verify"]);
    bare.expect_code(0);
    assert!(bare.stdout().contains("0 records"), "{}", bare.stdout());
    let caught = verify(&ws);
    caught.expect_code(1);
    assert!(
        caught.stderr().contains("records were deleted"),
        "{}",
        caught.stderr()
    );
}

#[test]
fn an_anchor_from_audit_head_catches_a_log_rewritten_after_it() {
    let (sim, demo) = sims::vault();
    let ws = sims::workspace(
        &[sims::vault_plugin(&sim.url)],
        &[("VAULT_TOKEN", sims::VAULT_ROOT_TOKEN)],
    );
    let playbook = agent_containment();
    let first = sims::run(&ws, &playbook, &sims::signal(agent_identities(&demo)), &[]);
    assert_ne!(first.code(), 2, "{}", first.stderr());
    let head = ws.cordon(&["audit", "head"]);
    head.expect_code(0);
    let anchor = head.stdout().trim().to_string();
    let (seq, _) = anchor.split_once(':').unwrap();
    ws.cordon(&["audit", "verify", "--anchor", &anchor])
        .expect_code(0);

    // The same history rebuilt from nothing: a chain that verifies, whose
    // record at the anchored seq is another one.
    std::fs::remove_dir_all(ws.store_dir()).unwrap();
    let seq: usize = seq.parse().unwrap();
    for i in 0.. {
        if ws.cordon(&["audit", "export"]).stdout().lines().count() >= seq {
            break;
        }
        assert!(i < 5, "the replay grows");
        let text = sims::signal(agent_identities(&demo))
            .replace("\"sig-e2e\"", &format!("\"sig-replay-{i}\""));
        let replay = sims::run(&ws, &playbook, &text, &[]);
        assert_ne!(replay.code(), 2, "{}", replay.stderr());
    }
    let caught = ws.cordon(&["audit", "verify", "--anchor", &anchor]);
    caught.expect_code(1);
    assert!(
        caught.stderr().contains("is not the one anchored"),
        "{}",
        caught.stderr()
    );
    let bad = ws.cordon(&["audit", "verify", "--anchor", "7:xyz"]);
    bad.expect_code(1);
    assert!(
        bad.stderr().contains("--anchor: `xyz` is not a sha256"),
        "{}",
        bad.stderr()
    );
}
