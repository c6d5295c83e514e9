//! What a plugin call returns, and scrubbing every string of it: granted
//! and derived secrets never leave a call, whichever field they were put in.

use cordon_types::{ActionOutcome, IdentityFacts, PluginInfo, ProviderError};

pub(crate) enum Returned {
    Info(PluginInfo),
    Outcome(ActionOutcome),
    Facts(IdentityFacts),
}

pub(crate) fn redact_error(scrub: &impl Fn(&str) -> String, error: ProviderError) -> ProviderError {
    let r = |m: String| scrub(&m);
    match error {
        ProviderError::NotFound(m) => ProviderError::NotFound(r(m)),
        ProviderError::Unauthorized(m) => ProviderError::Unauthorized(r(m)),
        ProviderError::RateLimited {
            retry_after_ms,
            detail,
        } => ProviderError::RateLimited {
            retry_after_ms,
            detail: r(detail),
        },
        ProviderError::Transient(m) => ProviderError::Transient(r(m)),
        ProviderError::Invalid(m) => ProviderError::Invalid(r(m)),
        ProviderError::Unsupported(m) => ProviderError::Unsupported(r(m)),
    }
}

pub(crate) fn redact_returned(scrub: &impl Fn(&str) -> String, returned: Returned) -> Returned {
    let map = |map: std::collections::BTreeMap<String, String>| {
        map.into_iter()
            .map(|(k, v)| (scrub(&k), scrub(&v)))
            .collect()
    };
    let text = |t: Option<String>| t.map(|t| scrub(&t));
    match returned {
        Returned::Outcome(mut o) => {
            o.detail = scrub(&o.detail);
            o.evidence = map(o.evidence);
            o.restore = map(o.restore);
            Returned::Outcome(o)
        }
        Returned::Facts(mut f) => {
            f.attributes = map(f.attributes);
            f.owner = text(f.owner);
            f.workload = text(f.workload);
            f.issuer = text(f.issuer);
            Returned::Facts(f)
        }
        Returned::Info(mut info) => {
            info.provider = scrub(&info.provider);
            info.version = scrub(&info.version);
            for action in &mut info.actions {
                action.name = scrub(&action.name);
                action.description = scrub(&action.description);
                action.restore_with = text(action.restore_with.take());
                for param in &mut action.params {
                    param.name = scrub(&param.name);
                    param.description = scrub(&param.description);
                }
            }
            for setting in info.secrets.iter_mut().chain(info.config.iter_mut()) {
                setting.name = scrub(&setting.name);
                setting.description = scrub(&setting.description);
            }
            Returned::Info(info)
        }
    }
}
