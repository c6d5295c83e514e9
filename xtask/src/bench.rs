//! `cargo xtask bench`: the host's start-up time and per-action overhead,
//! each as a ratio against a baseline measured in the same run on the same
//! machine (the machines are shared and noisy; absolute numbers drift).

use crate::table::{Row, Table};
use anyhow::{Context, Result, bail};
use cordon_e2e::cordon::{PluginEntry, Workspace};
use serde_json::{Value, json};
use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

/// The sections, in the order they run.
pub const SECTIONS: &[&str] = &[
    "startup",
    "per-action",
    "incident",
    "vault",
    "faults",
    "serve",
    "replicas",
];

/// Runs every section, or only those named in `only`.
pub fn run(only: &[String]) -> Result<()> {
    if let Some(unknown) = only.iter().find(|s| !SECTIONS.contains(&s.as_str())) {
        bail!(
            "unknown bench section `{unknown}`: use {}",
            SECTIONS.join(", ")
        );
    }
    let wanted = |section: &str| only.is_empty() || only.iter().any(|s| s == section);
    crate::build()?;
    let mut table = Table::default();
    if wanted("startup") {
        println!(
            "==> start-up (cordon plugins list: load, verify, compile or load from cache, describe)"
        );
        startup(&mut table)?;
    }
    if wanted("per-action") {
        println!(
            "\n==> per-action overhead (noop plugin action: decision, durable intent, instantiate, call, durable outcome)"
        );
        per_action()?;
    }
    if wanted("incident") {
        println!(
            "\n==> the cross-provider AI-agent incident (moto + Vault, Okta, CyberArk simulators)"
        );
        crate::bench_incident::run()?;
    }
    if wanted("vault") {
        let sizes = sizes()?;
        println!(
            "\n==> revoke-token at scale: {sizes:?} Vault accessors in one signal (Vault simulator; CORDON_BENCH_SIZES=1000,10000,100000 sets the sizes)"
        );
        crate::bench_vault::run(&sizes, 16, &mut table)?;
    }
    if wanted("faults") {
        println!(
            "\n==> time to contain under faults: the shipped Vault playbook, 200 tokens (Vault simulator)"
        );
        crate::bench_faults::run()?;
    }
    if wanted("serve") {
        println!(
            "\n==> cordon serve: signal intake, latency to the provider, live-event fan-out (Vault simulator)"
        );
        crate::bench_serve::run()?;
    }
    if wanted("replicas") {
        println!(
            "\n==> cordon serve replicas on one PostgreSQL: actions per second, 1 replica and 3 (Vault simulator)"
        );
        crate::bench_replicas::run()?;
    }
    let mut command = String::from("cargo xtask bench");
    for section in only {
        command.push(' ');
        command.push_str(section);
    }
    table.finish(&command)
}

/// The Vault section's sizes: `CORDON_BENCH_SIZES` (comma-separated), by
/// default 1,000 and 10,000.
fn sizes() -> Result<Vec<usize>> {
    match std::env::var("CORDON_BENCH_SIZES") {
        Err(_) => Ok(vec![1000, 10_000]),
        Ok(text) => text
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .with_context(|| format!("CORDON_BENCH_SIZES: `{n}` is not a number"))
            })
            .collect(),
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time(command: &mut Command) -> Result<Duration> {
    let started = Instant::now();
    let output = command.output()?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        bail!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(elapsed)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn startup(table: &mut Table) -> Result<()> {
    let mut ws = Workspace::new();
    let cache = ws.private_cache();
    ws.env("BENCH_UNUSED_SECRET", "not-a-real-secret");
    let aws = PluginEntry::new("aws", "aws")
        .secret_env("access_key_id", "BENCH_UNUSED_SECRET")
        .secret_env("secret_access_key", "BENCH_UNUSED_SECRET");
    ws.write_config(&[aws, PluginEntry::new("test", "misbehave")]);
    let baseline = median(
        (0..15)
            .map(|_| time(&mut ws.command(&["--version"])))
            .collect::<Result<_>>()?,
    );
    let mut cold = Vec::new();
    for _ in 0..5 {
        let _ = std::fs::remove_dir_all(&cache);
        cold.push(time(&mut ws.command(&["plugins", "list"]))?);
    }
    let cold = median(cold);
    // What a deployment sees: the optimised code compiled into the cache
    // (`cordon plugins compile`, or the end of the first run).
    let compile = time(&mut ws.command(&["plugins", "compile"]))?;
    let warm = median(
        (0..15)
            .map(|_| time(&mut ws.command(&["plugins", "list"])))
            .collect::<Result<_>>()?,
    );
    println!(
        "    baseline `cordon --version`:          {:8.1} ms",
        ms(baseline)
    );
    println!(
        "    cold start (compile 2 plugins, Winch):{:8.1} ms  = {:6.1} x baseline",
        ms(cold),
        ms(cold) / ms(baseline)
    );
    println!(
        "    `cordon plugins compile` (optimise):  {:8.1} ms  = {:6.1} x baseline",
        ms(compile),
        ms(compile) / ms(baseline)
    );
    println!(
        "    warm start (optimised code cached):   {:8.1} ms  = {:6.1} x baseline  (cold/warm = {:.1})",
        ms(warm),
        ms(warm) / ms(baseline),
        ms(cold) / ms(warm)
    );
    table.push(Row::value(
        "cold start, 2 plugins to compile (`cordon plugins list`)".into(),
        ms(cold),
        "ms (goal <= 300)",
    ));
    table.push(Row::value(
        "warm start, optimised code cached".into(),
        ms(warm),
        "ms (goal <= 15)",
    ));
    table.push(Row::ratio(
        "warm start vs `cordon --version`".into(),
        ms(warm) / ms(baseline),
        "x baseline",
        None,
    ));
    Ok(())
}

/// The durability primitive every action pays twice: a small write made durable.
fn fsync_baseline(dir: &std::path::Path) -> Result<Duration> {
    let path = dir.join("fsync-baseline");
    let mut file = std::fs::File::create(&path)?;
    let rounds = 200;
    let started = Instant::now();
    for i in 0..rounds {
        file.write_all(format!("{i:0200}").as_bytes())?;
        file.sync_data()?;
    }
    Ok(started.elapsed() / rounds)
}

fn per_action() -> Result<()> {
    const ACTIONS: usize = 1000;
    let identities: Vec<Value> = (0..ACTIONS)
        .map(|i| json!({ "provider": "test", "kind": "token", "id": format!("T{i:05}") }))
        .collect();
    let signal = json!({
        "id": "bench", "kind": "bench", "source": "bench", "severity": "high",
        "observed_at": "2026-11-28T10:00:00Z", "identities": identities,
    });
    // PostgreSQL as shipped: every commit's WAL flushed to disk.
    let pg = cordon_store_postgres::testing::TempPostgres::start_durable();
    let run_noop = |concurrency: u64, sync: &str| -> Result<(f64, f64)> {
        let mut ws = Workspace::new();
        if sync == "postgres" {
            ws.postgres(&pg.fresh_database());
        }
        let config = ws.write_config(&[
            PluginEntry::new("test", "misbehave").limit("concurrency", concurrency)
        ]);
        let text = std::fs::read_to_string(&config)?;
        let text = text.replacen(
            "[store]\npath = \"cordon-data\"\n",
            &format!("[store]\npath = \"cordon-data\"\nsync = \"{sync}\"\n"),
            1,
        );
        ws.write("cordon.toml", &text);
        ws.write(
            "playbook.toml",
            "name = \"bench\"\nowner = \"nhi\"\n[[step]]\nid = \"noop\"\nplugin = \"test\"\naction = \"noop\"\nfor_each = { kind = \"token\" }\n",
        );
        ws.write("signal.json", &signal.to_string());
        let baseline = fsync_baseline(ws.path())?;
        // Warm the component cache so the run measures actions, not compilation.
        ws.cordon(&["plugins", "list"]).expect_code(0);
        let run = ws.cordon(&[
            "run",
            "--playbook",
            "playbook.toml",
            "--signal",
            "signal.json",
            "--json",
        ]);
        run.expect_code(0);
        let report = run.json();
        // Up to the last action's outcome (the run then gathers facts for reports).
        let elapsed = report["time_to_contain_ms"]
            .as_f64()
            .context("time to contain")?;
        Ok((elapsed / ACTIONS as f64, ms(baseline)))
    };
    let mut rows = Vec::new();
    for concurrency in [1u64, 16] {
        let (full, baseline) = run_noop(concurrency, "full")?;
        let (range, _) = run_noop(concurrency, "range")?;
        let (postgres, _) = run_noop(concurrency, "postgres")?;
        rows.push((concurrency, full, range, postgres, baseline));
    }
    for (concurrency, per_action, range, postgres, baseline) in rows {
        println!(
            "    concurrency {concurrency:>2}: {ACTIONS} actions, {:7.3} ms per action ({:7.0} actions/s) \
             = {:5.2} x one fsync'd write ({:.3} ms)",
            per_action,
            1000.0 / per_action,
            per_action / baseline,
            baseline
        );
        println!(
            "                    fdatasync after each flush (sync = \"full\") costs {:5.2} x sled's \
             sync_file_range alone (sync = \"range\", {:.3} ms per action)",
            per_action / range,
            range
        );
        println!(
            "                    PostgreSQL (one local server, fsync on, one transaction per commit) \
             costs {:5.2} x sled ({:.3} ms per action)",
            postgres / per_action,
            postgres
        );
    }
    Ok(())
}
