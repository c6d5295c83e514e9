//! `cordon serve` and `cordon token create`.

use super::{EXIT_INVALID_INPUT, EXIT_OK};
use anyhow::Context as _;
use cordon_config::server::valid_token_id;
use cordon_config::{Config, Models, Scope};
use cordon_service::Service;
use std::path::Path;

/// `cordon serve`: runs the service until SIGTERM or SIGINT, then drains.
pub async fn serve(config_path: &Path) -> anyhow::Result<u8> {
    let config = Config::load(config_path)?;
    let models = Models::load(&config)?;
    let tokens = config.server.tokens.len();
    let service = Service::open(config, models).await?;
    let listener = service.bind().await?;
    let addr = listener.local_addr().context("reading the bound address")?;
    // One line, so that scripts and tests can find the address (port 0 picks one).
    let scheme = service.scheme();
    warnln!("cordon serve: listening on {scheme}://{addr} ({tokens} API tokens)");
    let drained = service.serve(listener, shutdown_signal()).await?;
    warnln!(
        "cordon serve: stopped ({} runs returned, {} interrupted at the deadline; the next start resumes them)",
        drained.returned,
        drained.cut_off.len()
    );
    Ok(EXIT_OK)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(err) => {
            tracing::error!("cannot listen for SIGTERM: {err}");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// `cordon token create --id ID --principal P [--scope S]...`: prints a new
/// API token once, and the config entry that accepts it (its hash only).
pub fn create_token(id: &str, principal: &str, scopes: &[String]) -> anyhow::Result<u8> {
    if !valid_token_id(id) {
        warnln!("error: --id must be 1 to 32 of a-z, 0-9 and -");
        return Ok(EXIT_INVALID_INPUT);
    }
    let scopes: Vec<String> = if scopes.is_empty() {
        vec!["read".into(), "respond".into()]
    } else {
        scopes.to_vec()
    };
    if let Some(bad) = scopes.iter().find(|s| Scope::parse(s).is_none()) {
        warnln!(
            "error: --scope: unknown scope `{}`: use signals, read or respond",
            bad.escape_debug()
        );
        return Ok(EXIT_INVALID_INPUT);
    }
    let (token, hash) = cordon_service::auth::new_token(id);
    warnln!("The token, shown this once (the server keeps only its hash):");
    sayln!("{token}");
    warnln!("\nAdd to cordon.toml and restart `cordon serve`:\n");
    let quoted: Vec<String> = scopes.iter().map(|s| format!("{s:?}")).collect();
    warnln!(
        "[[server.tokens]]\nid = {id:?}\nprincipal = {principal:?}\nscopes = [{}]\nsha256 = \"{hash}\"",
        quoted.join(", ")
    );
    Ok(EXIT_OK)
}
