//! The CLI as the client of a `cordon serve` (`CORDON_ADDR` or `--server`,
//! with `CORDON_TOKEN`): the same commands, output and exit codes as on a
//! local store, with the server acting as the token's principal.

use super::{
    ApprovalsCommand, AuditCommand, Command, EXIT_ERROR, EXIT_INVALID_INPUT, EXIT_OK, GrantCommand,
    RunsCommand,
};
use anyhow::{Context as _, anyhow, bail};
use cordon_report::{GrantView, PendingApproval, RunReport, RunSummary};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::time::Duration;

/// A configured server.
pub struct Remote {
    base: String,
    token: String,
    client: reqwest::Client,
}

/// A request the server refused, with its problem document's words.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Refused {
    /// The HTTP status.
    pub status: u16,
    /// The problem's detail and field errors, as lines.
    pub message: String,
}

impl Refused {
    /// The exit code the refusal maps to: 2 for invalid input (nothing ran).
    pub fn exit_code(&self) -> u8 {
        if matches!(self.status, 400 | 413 | 422) {
            EXIT_INVALID_INPUT
        } else {
            EXIT_ERROR
        }
    }
}

impl Remote {
    /// The server `--server` or `CORDON_ADDR` names, if any.
    pub fn from_env(flag: Option<String>) -> anyhow::Result<Option<Remote>> {
        let Some(addr) =
            flag.or_else(|| std::env::var("CORDON_ADDR").ok().filter(|a| !a.is_empty()))
        else {
            return Ok(None);
        };
        let token = std::env::var("CORDON_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                anyhow!("talking to the server at {addr} needs an API token: set CORDON_TOKEN")
            })?;
        let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(10));
        // Like VAULT_CACERT: the CA (PEM) that signed a server's certificate.
        if let Some(path) = std::env::var_os("CORDON_CACERT").filter(|p| !p.is_empty()) {
            let shown = std::path::Path::new(&path).display().to_string();
            let pem = std::fs::read(&path)
                .with_context(|| format!("CORDON_CACERT: cannot read {shown}"))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).with_context(|| {
                format!("CORDON_CACERT: {shown} is not a PEM certificate bundle")
            })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder.build().context("cannot set up the HTTP client")?;
        Ok(Some(Remote {
            base: addr.trim_end_matches('/').to_string(),
            token,
            client,
        }))
    }

    /// Sends a request and returns the response body, or the refusal.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(StatusCode, Vec<u8>)> {
        let url = format!("{}{path}", self.base);
        let mut request = self.client.request(method, &url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the server at {}", self.base))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .context("reading the server's answer")?
            .to_vec();
        if status.is_success() {
            return Ok((status, bytes));
        }
        Err(refusal(status, &bytes).into())
    }

    /// Sends a request and decodes its JSON answer.
    pub async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<T> {
        let (_, bytes) = self.send(method, path, body).await?;
        serde_json::from_slice(&bytes).context("the server's answer is not what this CLI expects")
    }

    /// Waits until the run stops executing, then returns its report.
    pub async fn settled_run(&self, run_id: &str) -> anyhow::Result<RunReport> {
        loop {
            let report: RunReport = self
                .json(
                    Method::GET,
                    &format!("/v1/runs/{run_id}?wait_ms=20000"),
                    None,
                )
                .await?;
            if report.status != "running" {
                return Ok(report);
            }
        }
    }
}

fn refusal(status: StatusCode, body: &[u8]) -> Refused {
    let problem: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut message = problem["detail"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("the server answered {status}"));
    for error in problem["errors"].as_array().into_iter().flatten() {
        let at = match (error["line"].as_u64(), error["column"].as_u64()) {
            (Some(line), Some(column)) => format!(" (line {line}, column {column})"),
            _ => String::new(),
        };
        message.push_str(&format!(
            "\n  {}{at}: {}",
            error["field"].as_str().unwrap_or("?"),
            error["message"].as_str().unwrap_or("")
        ));
    }
    if status == StatusCode::UNAUTHORIZED {
        message.push_str("\n(check CORDON_TOKEN)");
    }
    Refused {
        status: status.as_u16(),
        message: format!("server refused ({}): {message}", status.as_u16()),
    }
}

/// Prints a run's report as the local commands do and returns its exit code.
pub fn print_report(report: &RunReport, json: bool) -> anyhow::Result<u8> {
    if json {
        sayln!("{}", serde_json::to_string_pretty(report)?);
    } else {
        say!("{}", report.human());
        if report.status == "awaiting-approval" {
            sayln!(
                "\nThe run waits for approvals: `cordon approvals list`, then `cordon approve {}` \
                 (or `cordon reject …`) as a member of an approving team.",
                report.run_id
            );
        }
    }
    Ok(super::run::exit_code_of_status(&report.status))
}

/// `cordon run` against a server.
pub async fn run(
    remote: &Remote,
    playbook: &std::path::Path,
    signal: &std::path::Path,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<u8> {
    // Validate locally first: the same located errors as without a server.
    let playbook = cordon_input::Playbook::load(playbook)?;
    let source = cordon_input::SourceFile::read(signal)?;
    cordon_input::Signal::parse(&source)?;
    let signal: Value = serde_json::from_str(&source.text)?;
    let sha256 = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(playbook.source.text.as_bytes()))
    };
    let body = json!({ "playbook": playbook.name, "playbook_sha256": sha256, "signal": signal, "dry_run": dry_run });
    let started: Value = remote.json(Method::POST, "/v1/runs", Some(&body)).await?;
    let run_id = started["run_id"]
        .as_str()
        .ok_or_else(|| anyhow!("the server did not name the run"))?;
    if !json {
        warnln!("Run {run_id} started on the server; waiting for it");
    }
    print_report(&remote.settled_run(run_id).await?, json)
}

/// `cordon runs list|show` against a server.
pub async fn runs(remote: &Remote, run_id: Option<&str>, json: bool) -> anyhow::Result<u8> {
    match run_id {
        None => {
            let runs: Vec<RunSummary> = remote.json(Method::GET, "/v1/runs", None).await?;
            if json {
                sayln!("{}", serde_json::to_string_pretty(&runs)?);
            } else {
                say!("{}", RunSummary::human(&runs));
            }
            Ok(EXIT_OK)
        }
        Some(run_id) => {
            let report: RunReport = remote
                .json(Method::GET, &format!("/v1/runs/{run_id}"), None)
                .await?;
            if json {
                sayln!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                say!("{}", report.human());
            }
            let finished = !matches!(report.status.as_str(), "running" | "awaiting-approval");
            Ok(if finished {
                super::run::exit_code_of_status(&report.status)
            } else {
                EXIT_OK
            })
        }
    }
}

/// `cordon approvals list` against a server.
pub async fn approvals(remote: &Remote, json: bool) -> anyhow::Result<u8> {
    let rows: Vec<PendingApproval> = remote.json(Method::GET, "/v1/approvals", None).await?;
    if json {
        sayln!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        say!("{}", PendingApproval::human(&rows));
    }
    Ok(EXIT_OK)
}

/// `cordon approve|reject` against a server: answers as the token's principal.
pub async fn answer(
    remote: &Remote,
    run_id: &str,
    action: Option<&str>,
    approved: bool,
    reason: Option<String>,
    json: bool,
) -> anyhow::Result<u8> {
    let verb = if approved { "approve" } else { "reject" };
    let body = json!({ "action": action, "reason": reason });
    let _: Value = remote
        .json(
            Method::POST,
            &format!("/v1/runs/{run_id}/{verb}"),
            Some(&body),
        )
        .await?;
    print_report(&remote.settled_run(run_id).await?, json)
}

/// `cordon grant commander|revoke|list` against a server.
pub async fn grant(remote: &Remote, command: GrantRequest<'_>) -> anyhow::Result<u8> {
    match command {
        GrantRequest::List { json } => {
            let grants: Vec<GrantView> = remote.json(Method::GET, "/v1/grants", None).await?;
            if json {
                sayln!("{}", serde_json::to_string_pretty(&grants)?);
            } else {
                say!("{}", GrantView::human(&grants));
            }
        }
        GrantRequest::Create {
            incident,
            principal,
            ttl,
        } => {
            let body = json!({ "incident": incident, "principal": principal, "ttl": ttl });
            let answer: Value = match remote.json(Method::POST, "/v1/grants", Some(&body)).await {
                Ok(answer) => answer,
                Err(err) => match err.downcast_ref::<Refused>() {
                    Some(refused) if refused.status == 422 => {
                        warnln!("error: --ttl: {refused}");
                        return Ok(EXIT_INVALID_INPUT);
                    }
                    _ => return Err(err),
                },
            };
            let grant = &answer["grant"];
            let effects: Vec<&str> = answer["effects"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            sayln!(
                "{}: {principal} is incident commander for {incident} until {} (may {} in every domain; never restore)",
                grant["id"].as_str().unwrap_or("?"),
                grant["expires_at"].as_str().unwrap_or("?"),
                effects.join(", ")
            );
        }
        GrantRequest::Revoke { grant_id } => {
            let answer: Value = remote
                .json(Method::DELETE, &format!("/v1/grants/{grant_id}"), None)
                .await?;
            if answer["already_revoked"].as_bool() == Some(true) {
                sayln!("{grant_id} was already revoked");
            } else {
                sayln!(
                    "{grant_id} revoked: {} is no longer incident commander for {}",
                    answer["grant"]["principal"].as_str().unwrap_or("?"),
                    answer["grant"]["incident"].as_str().unwrap_or("?")
                );
            }
        }
    }
    Ok(EXIT_OK)
}

/// What `cordon grant` asks a server.
pub enum GrantRequest<'a> {
    /// `grant list`.
    List {
        /// Print JSON.
        json: bool,
    },
    /// `grant commander`.
    Create {
        /// The incident.
        incident: &'a str,
        /// Who becomes commander.
        principal: &'a str,
        /// For how long.
        ttl: &'a str,
    },
    /// `grant revoke`.
    Revoke {
        /// The grant.
        grant_id: &'a str,
    },
}

/// `cordon restore` against a server: restores as the token's principal.
pub async fn restore(
    remote: &Remote,
    run_id: &str,
    step: Option<&str>,
    target: Option<&str>,
    json: bool,
) -> anyhow::Result<u8> {
    let body = json!({ "step": step, "target": target });
    let answer: Value = remote
        .json(
            Method::POST,
            &format!("/v1/runs/{run_id}/restore"),
            Some(&body),
        )
        .await?;
    let irreversible: Vec<&str> = answer["irreversible"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !json && !irreversible.is_empty() {
        sayln!("Cannot be undone:");
        for line in &irreversible {
            sayln!("  {line}");
        }
        sayln!();
    }
    let Some(restore_run) = answer["restore_run_id"].as_str() else {
        if json {
            sayln!(
                "{}",
                json!({ "restored": null, "irreversible": irreversible.len() })
            );
        } else {
            sayln!("Nothing to restore in run {run_id}: no applied, reversible action matches.");
        }
        return Ok(EXIT_OK);
    };
    print_report(&remote.settled_run(restore_run).await?, json)
}

/// `cordon report` against a server.
pub async fn report(
    remote: &Remote,
    incident: &str,
    format: &str,
    output: Option<&std::path::Path>,
) -> anyhow::Result<u8> {
    if !["md", "json", "html"].contains(&format) {
        bail!("unknown format `{format}`: use md, json or html");
    }
    let (_, bytes) = remote
        .send(
            Method::GET,
            &format!("/v1/incidents/{incident}/report?format={format}"),
            None,
        )
        .await?;
    let text = if format == "json" {
        let value: Value = serde_json::from_slice(&bytes)?;
        serde_json::to_string_pretty(&value)? + "\n"
    } else {
        String::from_utf8(bytes).context("the report is not UTF-8")?
    };
    super::report::write_output(&text, output)
}

/// `cordon audit verify|export` against a server.
pub async fn audit(remote: &Remote, export: Option<&str>) -> anyhow::Result<u8> {
    match export {
        Some(format) => {
            if format != "jsonl" {
                bail!("unknown format `{format}`: the audit log exports as jsonl");
            }
            let (_, bytes) = remote.send(Method::GET, "/v1/audit/export", None).await?;
            use std::io::Write;
            std::io::stdout().write_all(&bytes)?;
            Ok(EXIT_OK)
        }
        None => {
            let verification: Value = remote.json(Method::GET, "/v1/audit/verify", None).await?;
            if verification["intact"].as_bool() == Some(true) {
                sayln!(
                    "audit log intact: {} records, hash chain verified",
                    verification["records"]
                );
                Ok(EXIT_OK)
            } else {
                warnln!(
                    "error: audit log broken at record {}: {}",
                    verification["broken_at"],
                    verification["reason"].as_str().unwrap_or("")
                );
                Ok(EXIT_ERROR)
            }
        }
    }
}

/// Refuses `--as` against a server: the server acts as the token's principal.
fn no_as(principal: &Option<String>) -> anyhow::Result<()> {
    match principal {
        None => Ok(()),
        Some(_) => anyhow::bail!(
            "--as cannot be used with a server: it acts as the principal of the API token in CORDON_TOKEN"
        ),
    }
}

/// Runs `command` against the server.
pub(super) async fn dispatch(remote: &Remote, command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Run {
            playbook,
            signal,
            dry_run,
            json,
            principal,
            ..
        } => {
            no_as(&principal)?;
            run(remote, &playbook, &signal, dry_run, json).await
        }
        Command::Runs { command } => match command {
            RunsCommand::List { json, .. } => runs(remote, None, json).await,
            RunsCommand::Show { run_id, json, .. } => runs(remote, Some(&run_id), json).await,
        },
        Command::Approvals {
            command: ApprovalsCommand::List { json, .. },
        } => approvals(remote, json).await,
        Command::Approve(args) | Command::Reject(args) if args.principal.is_some() => {
            no_as(&args.principal).map(|()| EXIT_ERROR)
        }
        Command::Approve(args) => {
            answer(
                remote,
                &args.run_id,
                args.action.as_deref(),
                true,
                args.reason,
                args.json,
            )
            .await
        }
        Command::Reject(args) => {
            answer(
                remote,
                &args.run_id,
                args.action.as_deref(),
                false,
                args.reason,
                args.json,
            )
            .await
        }
        Command::Grant { command } => match command {
            GrantCommand::Commander {
                incident,
                principal,
                ttl,
                granter,
                ..
            } => {
                no_as(&granter)?;
                let request = GrantRequest::Create {
                    incident: &incident,
                    principal: &principal,
                    ttl: &ttl,
                };
                grant(remote, request).await
            }
            GrantCommand::Revoke {
                grant_id,
                principal,
                ..
            } => {
                no_as(&principal)?;
                grant(
                    remote,
                    GrantRequest::Revoke {
                        grant_id: &grant_id,
                    },
                )
                .await
            }
            GrantCommand::List { json, .. } => grant(remote, GrantRequest::List { json }).await,
        },
        Command::Restore {
            run_id,
            step,
            target,
            principal,
            json,
            ..
        } => {
            no_as(&principal)?;
            restore(remote, &run_id, step.as_deref(), target.as_deref(), json).await
        }
        Command::Report {
            incident,
            format,
            output,
            ..
        } => report(remote, &incident, &format, output.as_deref()).await,
        Command::Audit { command } => match command {
            AuditCommand::Verify {
                anchors,
                anchors_file,
                ..
            } => {
                if !anchors.is_empty() || anchors_file.is_some() {
                    bail!(
                        "anchors are checked against the store itself: run `cordon audit verify --anchor …` \
                         where the server's store is (stop the server first), not through the server"
                    );
                }
                audit(remote, None).await
            }
            AuditCommand::Head { .. } => bail!(
                "`cordon audit head` reads the store itself: the server appends its anchors to the file \
                 `[server] audit_anchors` names"
            ),
            AuditCommand::Export { format, .. } => audit(remote, Some(&format)).await,
        },
        Command::Resume { .. } => anyhow::bail!(
            "`cordon resume` works on a local store: a server resumes its unfinished runs itself when it starts"
        ),
        Command::Plugins {
            command: super::plugins::PluginsCommand::Call(_),
        } => anyhow::bail!(
            "`cordon plugins call` runs on a local store with this machine's config: against a \
             server, send a playbook with `cordon run` (unset CORDON_ADDR or drop --server to call locally)"
        ),
        // Commands about this machine's files work the same with a server configured.
        other @ (Command::Serve { .. }
        | Command::Token { .. }
        | Command::Plugins { .. }
        | Command::Playbook { .. }) => super::dispatch(other).await,
    }
}
