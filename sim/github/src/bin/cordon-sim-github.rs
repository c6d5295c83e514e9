//! `cordon-sim-github [--bind ADDR] [--enterprise-server] [--demo-fixtures]`:
//! serves a simulated GitHub and prints `github http://ADDR` on stdout; with
//! `--demo-fixtures` it seeds the demo organisation and prints its ids (never
//! its token values) to stderr. Runs until interrupted.

use clap::Parser;
use cordon_sim_github::{GitHubConfig, GitHubSim, GitHubState, Mode, fixtures};
use std::net::SocketAddr;

#[derive(Parser)]
struct Args {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: SocketAddr,
    /// Serve the Enterprise Server API (under /api/v3) instead of github.com's.
    #[arg(long)]
    enterprise_server: bool,
    /// Seed the demo organisation.
    #[arg(long)]
    demo_fixtures: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mode = if args.enterprise_server {
        Mode::EnterpriseServer
    } else {
        Mode::DotCom
    };
    let config = GitHubConfig::new(mode);
    let state = GitHubState::new(
        cordon_sim::SimCore::new(config.faults, config.rate_limit),
        mode,
    );
    if args.demo_fixtures {
        let demo = fixtures::demo(&state);
        eprintln!("github fixtures {}", serde_json::to_string(&demo.public())?);
    }
    let running = GitHubSim::serve(state, args.bind).await?;
    println!("github {}", running.base_url());
    tokio::signal::ctrl_c().await?;
    running.shutdown().await;
    Ok(())
}
