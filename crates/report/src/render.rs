//! Rendering an [`IncidentReport`] as Markdown or as one self-contained HTML file.

use super::incident::IncidentReport;
use std::fmt::Write as _;

fn seconds(ms: Option<i64>) -> String {
    ms.map(|ms| format!("{:.3} s", ms as f64 / 1000.0))
        .unwrap_or_else(|| "—".into())
}

fn or_dash(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "—".into())
}

/// Rows of a section: a title, column names and cells.
struct Table {
    title: &'static str,
    empty: &'static str,
    columns: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

fn tables(r: &IncidentReport) -> Vec<Table> {
    vec![
        Table {
            title: "Abused identities",
            empty: "No identities.",
            columns: vec![
                "identity",
                "owner",
                "workload",
                "issuer",
                "used by",
                "status",
                "time to contain",
                "actions",
            ],
            rows: r
                .identities
                .iter()
                .map(|i| {
                    vec![
                        i.identity.label(),
                        or_dash(&i.owner),
                        or_dash(&i.workload),
                        or_dash(&i.issuer),
                        or_dash(&i.used_by),
                        i.status.clone(),
                        seconds(i.time_to_contain_ms),
                        i.actions.join(", "),
                    ]
                })
                .collect(),
        },
        Table {
            title: "Pending approvals",
            empty: "Nothing waits for approval.",
            columns: vec!["run", "action id", "action", "target", "approvers", "why"],
            rows: r
                .pending_approvals
                .iter()
                .map(|p| {
                    vec![
                        p.action.run_id.clone(),
                        p.action.action_id[..12].to_string(),
                        p.action.action.clone(),
                        p.action.target.label(),
                        p.approvers.join(" or "),
                        p.reason.clone(),
                    ]
                })
                .collect(),
        },
        Table {
            title: "Can be restored",
            empty: "Nothing left to restore.",
            columns: vec!["run", "action", "target", "restore with", "by team"],
            rows: r
                .restorable
                .iter()
                .map(|x| {
                    vec![
                        x.action.run_id.clone(),
                        x.action.action.clone(),
                        x.action.target.label(),
                        x.restore_with.clone(),
                        x.by.join(" or "),
                    ]
                })
                .collect(),
        },
        Table {
            title: "Restored",
            empty: "Nothing was restored.",
            columns: vec!["action", "target", "restored by", "restore run"],
            rows: r
                .restored
                .iter()
                .map(|x| {
                    vec![
                        x.action.action.clone(),
                        x.action.target.label(),
                        x.restored_by.clone(),
                        x.restore_run.clone(),
                    ]
                })
                .collect(),
        },
        Table {
            title: "Cannot be undone",
            empty: "Every applied action can be undone.",
            columns: vec!["run", "action", "target", "detail"],
            rows: r
                .irreversible
                .iter()
                .map(|x| {
                    vec![
                        x.run_id.clone(),
                        x.action.clone(),
                        x.target.label(),
                        x.detail.clone(),
                    ]
                })
                .collect(),
        },
        Table {
            title: "Incident commander grants",
            empty: "No commander was granted authority.",
            columns: vec![
                "grant",
                "commander",
                "granted by",
                "from",
                "until",
                "revoked",
            ],
            rows: r
                .grants
                .iter()
                .map(|g| {
                    vec![
                        g.id.clone(),
                        g.principal.clone(),
                        g.granted_by.clone(),
                        g.created_at.clone(),
                        g.expires_at.clone(),
                        or_dash(&g.revoked_at),
                    ]
                })
                .collect(),
        },
        Table {
            title: "Runs",
            empty: "No runs.",
            columns: vec![
                "run",
                "kind",
                "playbook",
                "signal",
                "as",
                "status",
                "time to contain",
            ],
            rows: r
                .runs
                .iter()
                .map(|x| {
                    vec![
                        x.run_id.clone(),
                        if x.dry_run {
                            format!("{} (dry run)", x.kind)
                        } else {
                            x.kind.clone()
                        },
                        x.playbook.clone(),
                        x.signal.clone(),
                        x.principal.clone(),
                        x.status.clone(),
                        seconds(x.time_to_contain_ms),
                    ]
                })
                .collect(),
        },
        Table {
            title: "Timeline",
            empty: "Nothing recorded.",
            columns: vec!["at", "who", "what"],
            rows: r
                .timeline
                .iter()
                .map(|t| vec![t.at.clone(), or_dash(&t.principal), t.summary.clone()])
                .collect(),
        },
    ]
}

fn headline(r: &IncidentReport) -> Vec<String> {
    let contained = r
        .identities
        .iter()
        .filter(|i| i.status == "contained")
        .count();
    let mut lines = vec![format!(
        "{contained} of {} abused identities contained; time to contain {}.",
        r.identities.len(),
        seconds(r.time_to_contain_ms)
    )];
    if let Some(opened) = &r.opened {
        lines.push(format!(
            "Opened {} by signal {} (severity {}).",
            opened.at, opened.by_signal, opened.severity
        ));
    }
    if !r.pending_approvals.is_empty() {
        lines.push(format!(
            "{} actions wait for approval.",
            r.pending_approvals.len()
        ));
    }
    lines
}

/// The report as Markdown.
pub fn markdown(r: &IncidentReport) -> String {
    let cell = |text: &str| text.replace('|', "\\|").replace('\n', " ");
    let mut out = format!("# Incident {} — post-incident review\n\n", r.incident);
    for line in headline(r) {
        let _ = writeln!(out, "{line}  ");
    }
    let _ = writeln!(out, "\n_Generated {} by Cordon._", r.generated_at);
    for table in tables(r) {
        let _ = writeln!(out, "\n## {}\n", table.title);
        if table.rows.is_empty() {
            let _ = writeln!(out, "{}", table.empty);
            continue;
        }
        let _ = writeln!(out, "| {} |", table.columns.join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(table.columns.len()));
        for row in &table.rows {
            let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
    }
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

const STYLE: &str = "body{font:15px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;color:#1d2330}\
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d8dde6;padding-bottom:.2rem}\
.lede p{margin:.2rem 0;font-size:1.05rem}.meta{color:#5b6578;font-size:.85rem}\
table{border-collapse:collapse;width:100%;font-size:.88rem}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #eceff4;vertical-align:top}\
th{background:#f4f6fa;font-weight:600}tr:hover td{background:#fafbfd}.empty{color:#5b6578;font-style:italic}\
.s-contained{color:#137333;font-weight:600}.s-pending{color:#b06000;font-weight:600}.s-not{color:#c5221f;font-weight:600}";

/// The report as one self-contained HTML page (no external assets).
pub fn html(r: &IncidentReport) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Incident {0} — Cordon review</title><style>{STYLE}</style></head><body>\
         <h1>Incident {0} — post-incident review</h1><div class=\"lede\">",
        escape(&r.incident)
    );
    for line in headline(r) {
        let _ = write!(out, "<p>{}</p>", escape(&line));
    }
    let _ = write!(
        out,
        "</div><p class=\"meta\">Generated {} by Cordon.</p>",
        escape(&r.generated_at)
    );
    for table in tables(r) {
        let _ = write!(out, "<h2>{}</h2>", escape(table.title));
        if table.rows.is_empty() {
            let _ = write!(out, "<p class=\"empty\">{}</p>", escape(table.empty));
            continue;
        }
        out.push_str("<table><thead><tr>");
        for column in &table.columns {
            let _ = write!(out, "<th>{}</th>", escape(column));
        }
        out.push_str("</tr></thead><tbody>");
        for row in &table.rows {
            out.push_str("<tr>");
            for (i, cell) in row.iter().enumerate() {
                let class = match (table.columns[i], cell.as_str()) {
                    ("status", "contained") => " class=\"s-contained\"",
                    ("status", "pending approval") => " class=\"s-pending\"",
                    ("status", "not contained" | "partially contained") => " class=\"s-not\"",
                    _ => "",
                };
                let _ = write!(out, "<td{class}>{}</td>", escape(cell));
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn html_escapes_everything_a_provider_could_send() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
