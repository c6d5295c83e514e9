//! `cordon serve` with OIDC bearer tokens from a real OpenID provider run
//! locally (npm `oidc-provider`, real authorization-code + PKCE flow): the
//! principal is the token's `email`, its groups map to the model's teams,
//! the authority model decides for it, forged tokens are refused, and
//! rotated keys are fetched again.

use cordon_e2e::cordon::Workspace;
use cordon_e2e::oidc::{Provider, kid};
use cordon_e2e::served::{agent_containment, agent_identities, audit, served, signal, tokens};
use cordon_e2e::server::Server;
use cordon_e2e::sims::{self, Step};

#[test]
fn oidc_principals_act_as_themselves_and_forged_tokens_are_refused() {
    let provider = Provider::start();
    let (sim, demo) = sims::vault();
    let tokens = tokens();
    let playbook = agent_containment();
    let oidc = format!(
        "[server.oidc]\nissuer = \"{}\"\naudience = \"cordon\"\nprincipal_claim = \"email\"\n\
         [server.oidc.teams]\n\"nhi-governance\" = \"nhi\"",
        provider.issuer
    );
    let ws = served(&sim, &playbook, &tokens, &oidc, 4);
    let server = Server::start(&ws);

    let identities = agent_identities(&demo);
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

    // Olga is in no team of the model by name; her identity provider puts
    // her in group nhi-governance, which the config maps to team nhi.
    let olga = provider.access_token("olga@acme.example");
    let me = server.get("/v1/whoami", &olga);
    assert_eq!(me["principal"], "olga@acme.example");
    assert_eq!(me["teams"], serde_json::json!(["nhi"]));
    // Mallory's provider lists no group: she keeps only the model's own team.
    assert_eq!(
        server.get("/v1/whoami", &mallory)["teams"],
        serde_json::json!(["iam"])
    );

    // Olga approves through the CLI with her OIDC token.
    let mut cli = Workspace::new();
    cli.env("CORDON_ADDR", &server.url);
    cli.env("CORDON_TOKEN", &olga);
    let approved = cli.cordon(&["approve", &run_id, "--json"]);
    approved.expect_code(0);
    assert_eq!(approved.json()["status"], "completed");
    assert!(sim.state.entity(&demo.agent_entity_id).unwrap().disabled);

    let records = audit(&server, &nadia);
    let granted = records
        .iter()
        .find(|r| r["kind"] == "approval.granted")
        .unwrap();
    assert_eq!(granted["principal"], "olga@acme.example");
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
    for secret in [&nadia, &mallory, &olga, &rotated] {
        let signature = secret.rsplit('.').next().unwrap();
        assert!(!log.contains(signature));
    }
}

#[test]
fn a_group_mapped_to_a_team_the_model_lacks_stops_the_server_at_start() {
    let (sim, _) = sims::vault();
    let tokens = tokens();
    let playbook = sims::playbook(
        "revoke-leaked-token",
        "nhi",
        &[Step::new("revoke", "vault", "revoke-token", "token")],
    );
    let oidc = "[server.oidc]\nissuer = \"http://127.0.0.1:9\"\naudience = \"cordon\"\n\
                [server.oidc.teams]\n\"nhi-governance\" = \"nhi-typo\"";
    let ws = served(&sim, &playbook, &tokens, oidc, 4);
    let refused = ws.cordon(&["serve", "--config", "cordon.toml"]);
    refused.expect_code(2);
    assert!(
        refused.stderr().contains("server.oidc.teams") && refused.stderr().contains("`nhi-typo`"),
        "{}",
        refused.stderr()
    );
}
