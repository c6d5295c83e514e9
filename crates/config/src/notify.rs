//! `[[server.notifiers]]`: where `cordon serve` posts word that an action
//! waits for an approval.
//!
//! ```toml
//! [[server.notifiers]]
//! name = "secops-slack"
//! format = "slack"                  # a Slack-compatible `{"text": …}`; or "json"
//! url = "env:SLACK_WEBHOOK_URL"     # a webhook URL carries its secret: env: or file:
//! # authorization = "env:HOOK_AUTH" # sent as the Authorization header, if set
//! # max_attempts = 6                # retries with backoff, then notification.failed
//! # backoff_ms = 500                # the first wait; each next one doubles (at most 30 s)
//! ```

use crate::SecretRef;
use crate::config::{SECRET_REF_HINT, secret_ref};
use cordon_input::diagnostic::{InputError, SourceFile};
use serde::Deserialize;
use std::path::Path;
use toml::Spanned;

/// The body a notifier gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyFormat {
    /// Cordon's own JSON document (`event`, `id`, `run_id`, `target`, …).
    Json,
    /// `{"text": …}`, as Slack's (and Mattermost's, Teams' legacy) incoming webhooks take.
    Slack,
}

/// Where a notifier's URL comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyUrl {
    /// Written in the config (only for `json`; a Slack URL is a secret).
    Plain(String),
    /// Read from `env:`/`file:` when the service starts.
    Secret(SecretRef),
}

/// A validated `[[server.notifiers]]` entry.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    /// Its name, in the audit log and the metrics.
    pub name: String,
    /// The body it gets.
    pub format: NotifyFormat,
    /// Where to POST.
    pub url: NotifyUrl,
    /// The `Authorization` header's value, if one is sent.
    pub authorization: Option<SecretRef>,
    /// Requests made before giving up.
    pub max_attempts: u32,
    /// The first wait between attempts, in milliseconds.
    pub backoff_ms: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNotifier {
    name: Spanned<String>,
    format: Spanned<String>,
    url: Spanned<String>,
    #[serde(default)]
    authorization: Option<Spanned<String>>,
    #[serde(default)]
    max_attempts: Option<Spanned<u32>>,
    #[serde(default)]
    backoff_ms: Option<Spanned<u64>>,
}

pub(crate) fn validate(
    raw: &[RawNotifier],
    source: &SourceFile,
    base: &Path,
    errors: &mut Vec<InputError>,
) -> Vec<NotifierConfig> {
    let mut notifiers: Vec<NotifierConfig> = Vec::new();
    for (i, raw) in raw.iter().enumerate() {
        let mut error = |span: std::ops::Range<usize>, field: &str, message: &str| {
            errors.push(source.error_at(
                Some(span),
                format!("server.notifiers[{i}].{field}"),
                message,
            ))
        };
        let name = raw.name.get_ref().trim().to_string();
        if !crate::server::valid_token_id(&name) {
            error(raw.name.span(), "name", "must be 1 to 32 of a-z, 0-9 and -");
        } else if notifiers.iter().any(|n| n.name == name) {
            error(
                raw.name.span(),
                "name",
                "is the name of an earlier notifier",
            );
        }
        let format = match raw.format.get_ref().as_str() {
            "json" => NotifyFormat::Json,
            "slack" => NotifyFormat::Slack,
            _ => {
                error(raw.format.span(), "format", "must be json or slack");
                NotifyFormat::Json
            }
        };
        let text = raw.url.get_ref();
        let url = if let Some(secret) = secret_ref(&raw.url, source, base) {
            NotifyUrl::Secret(secret)
        } else if text.starts_with("https://") || text.starts_with("http://") {
            if format == NotifyFormat::Slack {
                error(
                    raw.url.span(),
                    "url",
                    "a Slack webhook URL carries its secret: reference it as `env:NAME` or `file:PATH`",
                );
            }
            NotifyUrl::Plain(text.clone())
        } else {
            error(
                raw.url.span(),
                "url",
                "must be an http(s) URL, or a reference `env:NAME` or `file:PATH`",
            );
            NotifyUrl::Plain(String::new())
        };
        let authorization = raw.authorization.as_ref().and_then(|a| {
            let found = secret_ref(a, source, base);
            if found.is_none() {
                error(a.span(), "authorization", SECRET_REF_HINT);
            }
            found
        });
        let max_attempts = raw.max_attempts.as_ref().map_or(6, |m| {
            if !(1..=20).contains(m.get_ref()) {
                error(m.span(), "max_attempts", "must be between 1 and 20");
            }
            *m.get_ref()
        });
        let backoff_ms = raw.backoff_ms.as_ref().map_or(500, |b| {
            if !(1..=60_000).contains(b.get_ref()) {
                error(b.span(), "backoff_ms", "must be between 1 and 60000");
            }
            *b.get_ref()
        });
        notifiers.push(NotifierConfig {
            name,
            format,
            url,
            authorization,
            max_attempts,
            backoff_ms,
        });
    }
    notifiers
}

#[cfg(test)]
mod tests {
    use crate::Config;
    use cordon_input::SourceFile;

    #[test]
    fn notifiers_parse_and_a_secret_url_is_never_written_in_the_config() {
        let config = Config::parse(&SourceFile::from_text(
            "/etc/cordon/cordon.toml",
            "[[server.notifiers]]\nname = \"hook\"\nformat = \"json\"\nurl = \"https://hooks.acme.example/cordon\"\n\
             [[server.notifiers]]\nname = \"slack\"\nformat = \"slack\"\nurl = \"file:slack.url\"\nmax_attempts = 3\n",
        ))
        .unwrap();
        let notifiers = &config.server.notifiers;
        assert_eq!(notifiers.len(), 2);
        assert_eq!(notifiers[0].max_attempts, 6);
        assert_eq!(notifiers[1].max_attempts, 3);
        assert!(matches!(&notifiers[1].url, super::NotifyUrl::Secret(_)));

        let err = Config::parse(&SourceFile::from_text(
            "/etc/cordon/cordon.toml",
            "[[server.notifiers]]\nname = \"Slack!\"\nformat = \"teams\"\nurl = \"https://hooks.slack.com/services/T0/B0/sekrit\"\nauthorization = \"Bearer sekrit\"\nmax_attempts = 0\n",
        ))
        .unwrap_err();
        let fields: Vec<(&str, usize)> = err.0.iter().map(|e| (e.field.as_str(), e.line)).collect();
        assert_eq!(
            fields,
            [
                ("server.notifiers[0].name", 2),
                ("server.notifiers[0].format", 3),
                ("server.notifiers[0].authorization", 5),
                ("server.notifiers[0].max_attempts", 6),
            ]
        );
        assert!(!err.to_string().contains("sekrit"));
    }
}
