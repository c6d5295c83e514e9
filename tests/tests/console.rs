//! The web console in a real headless Chromium (Debian's `chromium` through
//! `chromedriver`), against the real `cordon serve` process, the Vault
//! simulator's own state and a real local OpenID provider: signing in at the
//! provider, the incidents and runs updating live, an approval done by
//! clicking, a commander grant and its revocation, a restore by the owners
//! from the post-incident review, and a refusal for someone not entitled.
//! A screenshot of each screen is saved under `target/screenshots/console/`.

use cordon_e2e::browser::Browser;
use cordon_e2e::oidc::Provider;
use cordon_e2e::served::{agent_containment, agent_identities, audit, served, signal, tokens};
use cordon_e2e::server::Server;
use cordon_e2e::sims;
use serde_json::json;
use std::time::Duration;

/// Fails if a form control has no label, a button no name, or the page no
/// language or main landmark.
const ACCESSIBILITY: &str = r#"
const problems = [];
if (!document.documentElement.lang) problems.push('html has no lang');
if (!document.querySelector('main')) problems.push('no main landmark');
for (const c of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
  if (!(c.labels && c.labels.length) && !c.getAttribute('aria-label')) problems.push(`unlabelled ${c.outerHTML}`);
}
for (const b of document.querySelectorAll('button, a[href]')) {
  if (!(b.getAttribute('aria-label') || b.textContent.trim())) problems.push(`nameless ${b.outerHTML}`);
}
for (const h of document.querySelectorAll('table')) {
  if (!h.querySelector('caption') || !h.querySelector('th[scope=col]')) problems.push('a table without caption or column headers');
}
return problems;
"#;

/// The origins of every resource the page loaded.
const ORIGINS: &str = r#"
return [...new Set([location.href, ...performance.getEntriesByType('resource').map((e) => e.name)]
  .map((u) => new URL(u).origin))];
"#;

fn accessible(browser: &Browser, screen: &str) {
    let problems = browser.script(ACCESSIBILITY, json!([]));
    assert_eq!(problems, json!([]), "accessibility problems on {screen}");
}

#[test]
fn the_console_signs_in_acts_as_the_signed_in_principal_and_updates_live() {
    let provider = Provider::start();
    let (sim, demo) = sims::vault();
    let tokens = tokens();
    let playbook = agent_containment();
    let oidc = format!(
        "[server.oidc]\nissuer = \"{}\"\naudience = \"cordon\"\nprincipal_claim = \"email\"\n\
         console_client_id = \"cordon-console\"\nconsole_scope = \"openid email groups\"",
        provider.issuer
    );
    let ws = served(&sim, &playbook, &tokens, &oidc, 4);
    let server = Server::start(&ws);
    provider.allow_console(&server.url);

    let identities = agent_identities(&demo);
    let accepted = server.post("/v1/signals", &tokens.detector, &signal(identities));
    let run_id = accepted["runs"][0]["run_id"].as_str().unwrap().to_string();
    assert_eq!(
        server.settled(&run_id, &tokens.nadia)["status"],
        "awaiting-approval"
    );
    let entity = || sim.state.entity(&demo.agent_entity_id).unwrap();

    // The page itself: a strict policy, nothing from elsewhere.
    let page = server.request("GET", "/console/", None, None);
    assert_eq!(page.status, 200);
    let policy = page.headers["content-security-policy"].clone();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");

    let browser = Browser::start("console");
    browser.open(&format!("{}/console/", server.url));
    browser.wait_for("#oidc-sign-in");
    accessible(&browser, "sign-in");
    browser.screenshot("01-sign-in");

    // Sign in at the identity provider, as nadia.
    browser.click("#oidc-sign-in");
    browser
        .wait_for("input[name=email]")
        .type_text("nadia@acme.example");
    browser.click("#login button");
    browser.wait("nadia to be signed in", |b| {
        b.find("#me").filter(|me| me.text() == "nadia@acme.example")
    });
    assert!(
        browser
            .url()
            .starts_with(&format!("{}/console/", server.url)),
        "{}",
        browser.url()
    );

    // Incidents, then the run, waiting for its approval.
    browser.wait_text("INC-E2E");
    browser.wait_for("#live.on");
    accessible(&browser, "incidents");
    browser.screenshot("02-incidents");
    browser.click(&format!("a[href='#/runs/{run_id}']"));
    browser.wait_text("awaiting-approval");
    accessible(&browser, "run");
    browser.screenshot("03-run");

    // The approvals queue: approve by clicking, as nadia.
    browser.click("a[data-view=approvals]");
    browser.wait_for("button[id^=approve-]");
    browser.wait("the approvals badge to count 1", |b| {
        b.find("#approval-count")
            .filter(|count| count.text() == "1")
    });
    accessible(&browser, "approvals");
    browser.screenshot("04-approvals");
    browser.click("button[id^=approve-]");
    browser.wait_text("Approved disable");
    server.wait_until("the entity to be disabled", Duration::from_secs(30), || {
        entity().disabled
    });
    browser.wait_text("Nothing waits for an approval.");
    let records = audit(&server, &tokens.nadia);
    let granted = records
        .iter()
        .find(|r| r["kind"] == "approval.granted")
        .expect("the approval is audited");
    assert_eq!(granted["principal"], "nadia@acme.example");

    // Live: the incidents screen shows a new run without being reloaded.
    browser.click("a[data-view=incidents]");
    browser.wait_text(&run_id);
    browser.script("window.cordonMarker = 'not reloaded';", json!([]));
    let mut second = signal(json!([
        { "provider": "vault", "kind": "agent", "id": demo.agent_entity_id },
    ]));
    second["id"] = json!("sig-e2e-2");
    let accepted = server.post("/v1/signals", &tokens.detector, &second);
    let second_run = accepted["runs"][0]["run_id"].as_str().unwrap().to_string();
    browser.wait_text(&second_run);
    assert_eq!(
        browser.script("return window.cordonMarker;", json!([])),
        "not reloaded"
    );

    // A commander grant, and its revocation.
    browser.click("a[data-view=grants]");
    browser.wait_for("#grant-incident").type_text("INC-E2E");
    browser
        .find("#grant-principal")
        .unwrap()
        .type_text("ivan@acme.example");
    browser.click("#grant-submit");
    browser.wait_text("Granted ivan@acme.example command of INC-E2E");
    browser.wait_text("active until");
    accessible(&browser, "grants");
    browser.screenshot("05-grants");
    browser.click("button[id^=revoke-]");
    browser.wait_text("revoked by nadia@acme.example");

    // The post-incident review; restore the disabled entity as its owner.
    browser.open(&format!("{}/console/#/review/INC-E2E", server.url));
    browser.wait_for("button[aria-label^='Restore disable']");
    accessible(&browser, "review");
    browser.screenshot("06-review");
    browser.click("button[aria-label^='Restore disable']");
    browser.wait_text("Restoring disable");
    server.wait_until(
        "the entity to be enabled again",
        Duration::from_secs(30),
        || !entity().disabled,
    );
    browser.wait_text("Nothing left to restore.");

    // Nothing came from anywhere but the console and the identity provider.
    let origins = browser.script(ORIGINS, json!([]));
    for origin in origins.as_array().unwrap() {
        let origin = origin.as_str().unwrap();
        assert!(
            origin == server.url || origin == provider.issuer,
            "the console loaded from {origin}"
        );
    }

    // Nadia rejects the second run's action, giving a reason in the dialog.
    browser.open(&format!("{}/console/#/approvals", server.url));
    browser.click("button[id^=reject-]");
    browser
        .wait_for("#reject-reason")
        .type_text("a false positive");
    browser.screenshot("07-reject");
    browser.click("#reject-confirm");
    browser.wait_text("Rejected disable");
    server.wait_until("the second run to end", Duration::from_secs(30), || {
        let status = server.get(&format!("/v1/runs/{second_run}"), &tokens.nadia)["status"].clone();
        status != "awaiting-approval" && status != "running"
    });
    let rejected = audit(&server, &tokens.nadia)
        .into_iter()
        .find(|r| r["kind"] == "approval.rejected")
        .expect("the rejection is audited");
    assert_eq!(rejected["principal"], "nadia@acme.example");
    assert_eq!(rejected["run_id"], second_run.as_str());

    // A third signal waits for an approval. Sign out; mallory signs in with
    // an API token. The authority model refuses her approval, and the page
    // shows why.
    let mut third = second.clone();
    third["id"] = json!("sig-e2e-3");
    server.post("/v1/signals", &tokens.detector, &third);
    browser.click("#sign-out");
    browser.wait_for("#token").type_text(&tokens.mallory);
    browser.click("#token-form button");
    browser.wait("mallory to be signed in", |b| {
        b.find("#me")
            .filter(|me| me.text() == "mallory@acme.example")
    });
    browser.open(&format!("{}/console/#/approvals", server.url));
    browser.click("button[id^=approve-]");
    browser.wait_text("HTTP 403");
    browser.screenshot("08-refused");
    assert!(!entity().disabled, "mallory's click changed nothing");
    let html = browser
        .script("return document.documentElement.outerHTML;", json!([]))
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !html.contains(&tokens.mallory),
        "the token is not in the page"
    );
    let refused = audit(&server, &tokens.nadia)
        .into_iter()
        .any(|r| r["kind"] == "approval.refused" && r["principal"] == "mallory@acme.example");
    assert!(refused, "mallory's refused approval is audited");
}
