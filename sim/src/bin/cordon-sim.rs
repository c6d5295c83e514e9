//! `cordon-sim`: runs any subset of the provider simulators on loopback.
//!
//! Prints one line per started simulator (`vault http://127.0.0.1:8200`) to stdout, then runs
//! until SIGINT/SIGTERM or until stdin closes (unless `--ignore-stdin`).

use std::net::SocketAddr;

use anyhow::{Context, bail};
use clap::Parser;
use cordon_sim::cyberark::{CyberArkConfig, CyberArkSim};
use cordon_sim::okta::{OktaConfig, OktaSim};
use cordon_sim::vault::{VaultConfig, VaultSim};
use cordon_sim::{Faults, RateLimitConfig, Running};
use tokio::io::AsyncReadExt;

/// Loopback simulators of the Vault, Okta and CyberArk PVWA APIs.
#[derive(Parser, Debug)]
#[command(name = "cordon-sim", version)]
struct Args {
    /// Start the Vault simulator on this address (e.g. 127.0.0.1:8200).
    #[arg(long)]
    vault: Option<SocketAddr>,
    /// Start the Okta simulator on this address.
    #[arg(long)]
    okta: Option<SocketAddr>,
    /// Start the CyberArk PVWA simulator on this address.
    #[arg(long)]
    cyberark: Option<SocketAddr>,
    /// Seed each simulator with its demo fixtures (ids printed as JSON on stderr).
    #[arg(long)]
    demo_fixtures: bool,
    /// Vault root token.
    #[arg(long)]
    vault_token: Option<String>,
    /// Okta API token (SSWS).
    #[arg(long)]
    okta_token: Option<String>,
    /// Okta rate limit as LIMIT/WINDOW_SECS (default 600/60).
    #[arg(long, value_parser = parse_rate)]
    okta_rate_limit: Option<RateLimitConfig>,
    /// Vault rate-limit quota as LIMIT/WINDOW_SECS (default: none).
    #[arg(long, value_parser = parse_rate)]
    vault_rate_limit: Option<RateLimitConfig>,
    /// CyberArk user allowed to log on, as USER:PASSWORD (repeatable).
    #[arg(long = "cyberark-user", value_parser = parse_user)]
    cyberark_users: Vec<(String, String)>,
    /// Seed of the random generators (reproducible ids and faults).
    #[arg(long)]
    seed: Option<u64>,
    /// Keep running when stdin closes (for background use with stdin at /dev/null).
    #[arg(long)]
    ignore_stdin: bool,
}

fn parse_user(s: &str) -> Result<(String, String), String> {
    s.split_once(':')
        .map(|(u, p)| (u.to_owned(), p.to_owned()))
        .ok_or_else(|| "expected USER:PASSWORD".to_owned())
}

fn parse_rate(s: &str) -> Result<RateLimitConfig, String> {
    let (l, w) = s.split_once('/').ok_or("expected LIMIT/WINDOW_SECS")?;
    Ok(RateLimitConfig::new(
        l.parse().map_err(|e| format!("limit: {e}"))?,
        w.parse().map_err(|e| format!("window: {e}"))?,
    ))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.vault.is_none() && args.okta.is_none() && args.cyberark.is_none() {
        bail!("nothing to start: give at least one of --vault, --okta, --cyberark");
    }
    let faults = Faults {
        seed: args.seed,
        ..Faults::default()
    };
    let mut running: Vec<Running> = Vec::new();
    if let Some(bind) = args.vault {
        let mut cfg = VaultConfig {
            bind,
            faults: faults.clone(),
            rate_limit: args.vault_rate_limit,
            ..VaultConfig::default()
        };
        if let Some(t) = &args.vault_token {
            cfg.root_token = t.clone();
        }
        let (r, state) = VaultSim::start(cfg).await.context("starting vault")?;
        if args.demo_fixtures {
            let ids = cordon_sim::vault::fixtures::demo(&state);
            eprintln!("vault fixtures {}", serde_json::to_string(&ids)?);
        }
        println!("vault {}", r.base_url());
        running.push(r);
    }
    if let Some(bind) = args.okta {
        let mut cfg = OktaConfig {
            bind,
            faults: faults.clone(),
            ..OktaConfig::default()
        };
        if let Some(t) = &args.okta_token {
            cfg.api_token = t.clone();
        }
        if let Some(rl) = args.okta_rate_limit {
            cfg.rate_limit = rl;
        }
        let (r, state) = OktaSim::start(cfg).await.context("starting okta")?;
        if args.demo_fixtures {
            let ids = cordon_sim::okta::fixtures::demo(&state);
            eprintln!("okta fixtures {}", serde_json::to_string(&ids)?);
        }
        println!("okta {}", r.base_url());
        running.push(r);
    }
    if let Some(bind) = args.cyberark {
        let mut cfg = CyberArkConfig {
            bind,
            faults,
            ..CyberArkConfig::default()
        };
        if !args.cyberark_users.is_empty() {
            cfg.users = args.cyberark_users.clone();
        }
        let (r, state) = CyberArkSim::start(cfg).await.context("starting cyberark")?;
        if args.demo_fixtures {
            let ids = cordon_sim::cyberark::fixtures::demo(&state);
            eprintln!("cyberark fixtures {}", serde_json::to_string(&ids)?);
        }
        println!("cyberark {}", r.base_url());
        running.push(r);
    }
    use std::io::Write;
    std::io::stdout().flush()?;

    let stdin_closed = async {
        if args.ignore_stdin {
            std::future::pending::<()>().await;
        }
        let mut buf = [0u8; 256];
        let mut stdin = tokio::io::stdin();
        while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
    };
    let terminate = async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
        _ = stdin_closed => {}
    }
    for r in running {
        r.shutdown().await;
    }
    Ok(())
}
