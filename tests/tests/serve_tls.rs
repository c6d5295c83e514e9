//! `cordon serve` over TLS (`[server] tls`, PEM files): the API and the
//! CLI as its client (trusting the CA through `CORDON_CACERT`) contain a
//! signal over https; clear text and an untrusted certificate are refused;
//! an unusable key stops the server at start without showing the key.

use cordon_e2e::cordon::Workspace;
use cordon_e2e::served::{served, signal, tokens};
use cordon_e2e::server::Server;
use cordon_e2e::sims::{self, Step};
use serde_json::json;

#[test]
fn the_service_serves_tls_and_the_cli_trusts_the_configured_ca() {
    let (sim, demo) = sims::vault();
    let tokens = tokens();
    let playbook = sims::playbook(
        "revoke-leaked-token",
        "nhi",
        &[Step::new("revoke", "vault", "revoke-token", "token")],
    );
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])
        .expect("a self-signed certificate");
    let cert = certified.cert.pem();
    let key = certified.key_pair.serialize_pem();
    let tls = "tls = { cert = \"file:cert.pem\", key = \"file:key.pem\" }";
    let ws = served(&sim, &playbook, &tokens, "", 4);
    // `tls` belongs to `[server]`, which `served` opens first.
    let config = std::fs::read_to_string(ws.path().join("cordon.toml")).unwrap();
    let config = config.replacen("[server]\n", &format!("[server]\n{tls}\n"), 1);
    ws.write("cordon.toml", &config);
    ws.write("cert.pem", &cert);
    ws.write("key.pem", &key);

    let server = Server::spawn_trusting(
        ws.command(&["serve", "--config", "cordon.toml"]),
        Some(cert.as_bytes()),
    );
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );

    // Containment over https.
    let identities =
        json!([{ "provider": "vault", "kind": "token", "id": demo.agent_token_accessor }]);
    let accepted = server.post("/v1/signals", &tokens.detector, &signal(identities));
    let run_id = accepted["runs"][0]["run_id"].as_str().unwrap().to_string();
    assert_eq!(
        server.settled(&run_id, &tokens.nadia)["status"],
        "completed"
    );
    assert!(sim.state.token(&demo.agent_token_accessor).unwrap().revoked);

    // Clear text to the TLS port gets no HTTP answer.
    let plain = server.url.replace("https://", "http://");
    let answer = reqwest::blocking::Client::new()
        .get(format!("{plain}/healthz"))
        .send();
    assert!(answer.is_err(), "clear text was answered: {answer:?}");

    // The CLI trusts the server's CA through CORDON_CACERT, and only then.
    let mut cli = Workspace::new();
    cli.env("CORDON_ADDR", &server.url);
    cli.env("CORDON_TOKEN", &tokens.nadia);
    cli.write("ca.pem", &cert);
    let untrusted = cli.cordon(&["runs", "list"]);
    assert_ne!(untrusted.code(), 0, "an untrusted certificate was accepted");
    cli.env(
        "CORDON_CACERT",
        &cli.path().join("ca.pem").display().to_string(),
    );
    let listed = cli.cordon(&["runs", "list"]);
    listed.expect_code(0);
    assert!(listed.stdout().contains(&run_id), "{}", listed.stdout());

    // A key that is not one stops the server at start; the error names the
    // file and never shows what is in it.
    ws.write(
        "key.pem",
        "-----BEGIN PRIVATE KEY-----\nbm90LWEta2V5LXNla3JpdA==\n-----END PRIVATE KEY-----\n",
    );
    drop(server);
    let refused = ws.cordon(&["serve", "--config", "cordon.toml"]);
    refused.expect_code(2);
    let said = refused.stderr();
    assert!(said.contains("key.pem"), "{said}");
    assert!(!said.contains("bm90LWEta2V5LXNla3JpdA"), "{said}");
}
