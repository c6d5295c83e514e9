//! `cordon serve` with OIDC bearer tokens from a real OpenID provider run
//! locally (npm `oidc-provider`, real authorization-code + PKCE flow): the
//! principal is the token's `email`, the authority model decides for it,
//! forged tokens are refused, and rotated keys are fetched again.

use cordon_e2e::cordon::Workspace;
use cordon_e2e::oidc::{Provider, kid};
use cordon_e2e::served::{audit, served, signal, tokens};
use cordon_e2e::server::Server;
use cordon_e2e::sims::{self, Step};
use serde_json::json;

#[test]
fn oidc_principals_act_as_themselves_and_forged_tokens_are_refused() {
    let provider = Provider::start();
    let (sim, demo) = sims::vault();
    let tokens = tokens();
    let playbook = sims::playbook(
        "agent-containment",
        "nhi",
        &[
            Step::new("revoke", "vault", "revoke-token", "token"),
            Step::new("disable", "vault", "disable-entity", "agent"),
        ],
    );
    let oidc = format!(
        "[server.oidc]\nissuer = \"{}\"\naudience = \"cordon\"\nprincipal_claim = \"email\"",
        provider.issuer
    );
    let ws = served(&sim, &playbook, &tokens, &oidc, 4);
    let server = Server::start(&ws);

    let identities = json!([
        { "provider": "vault", "kind": "token", "id": demo.agent_token_accessor },
        { "provider": "vault", "kind": "agent", "id": demo.agent_entity_id },
    ]);
    let accepted = server.post("/v1/signals", &tokens.detector, &signal(identities));
    let run_id = accepted["runs"][0]["run_id"].as_str().unwrap().to_string();
    assert_eq!(
        server.settled(&run_id, &tokens.nadia)["status"],
        "awaiting-approval"
    );

    let nadia = provider.access_token("nadia@acme.example");
    let mallory = provider.access_token("mallory@acme.example");
    let queue = server.get("/v1/approvals", &nadia);
    assert_eq!(queue[0]["run_id"], run_id.as_str());

    // A token whose signature was tampered with is refused and audited.
    let mut forged = nadia.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let refused = server
        .request("GET", "/v1/approvals", Some(&forged), None)
        .problem(401);
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("OIDC token refused"),
        "{refused}"
    );

    // Mallory is authenticated by the provider but in no approving team.
    let approve = format!("/v1/runs/{run_id}/approve");
    server
        .request("POST", &approve, Some(&mallory), Some("{}"))
        .problem(403);
    assert!(!sim.state.entity(&demo.agent_entity_id).unwrap().disabled);

    // Nadia approves through the CLI with her OIDC token.
    let mut cli = Workspace::new();
    cli.env("CORDON_ADDR", &server.url);
    cli.env("CORDON_TOKEN", &nadia);
    let approved = cli.cordon(&["approve", &run_id, "--json"]);
    approved.expect_code(0);
    assert_eq!(approved.json()["status"], "completed");
    assert!(sim.state.entity(&demo.agent_entity_id).unwrap().disabled);

    let records = audit(&server, &nadia);
    let granted = records
        .iter()
        .find(|r| r["kind"] == "approval.granted")
        .unwrap();
    assert_eq!(granted["principal"], "nadia@acme.example");
    assert!(
        records
            .iter()
            .any(|r| r["kind"] == "approval.refused" && r["principal"] == "mallory@acme.example")
    );
    let denied = records
        .iter()
        .find(|r| r["kind"] == "access.denied")
        .unwrap();
    assert_eq!(denied["data"]["status"], 401);

    // Keys rotate: a token signed with a key the server has not seen makes
    // it fetch the issuer's key set again.
    provider.rotate();
    let rotated = provider.access_token("nadia@acme.example");
    assert_ne!(kid(&rotated), kid(&nadia));
    assert_eq!(
        server
            .request("GET", "/v1/runs", Some(&rotated), None)
            .status,
        200
    );

    let log = server.log().join("\n");
    for secret in [&nadia, &mallory, &rotated] {
        let signature = secret.rsplit('.').next().unwrap();
        assert!(!log.contains(signature));
    }
}
