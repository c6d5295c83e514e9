//! Caps on what one call may take from the host: the size of what it
//! returns, the volume of what it logs and the requests it has in flight. A
//! plugin past the first fails its call with a [`Violation::Oversized`]; past
//! the second its lines are dropped and counted, and the host says how many
//! once the call ends; past the third its requests wait for a free place.

use crate::Returned;
use crate::sandbox::Violation;
use cordon_types::ProviderError;
use std::collections::BTreeMap;

/// Most bytes one part of a call's answer may hold: the detail, the
/// evidence, the restore data, the facts, the `describe` answer or an error
/// message.
pub const MAX_RETURNED_BYTES: usize = 1 << 20;
/// Most entries one returned map (evidence, restore data, attributes) or
/// the action list of `describe` may hold.
pub const MAX_RETURNED_ENTRIES: usize = 1_000;
/// Most log lines one call may write.
pub const MAX_LOG_LINES: u64 = 1_000;
/// Most log bytes one call may write.
pub const MAX_LOG_BYTES: u64 = 256 << 10;
/// Longer log lines are cut to this many bytes.
pub const MAX_LOG_LINE_BYTES: usize = 4 << 10;
/// Most outbound requests one call may have in flight; more wait their turn.
pub const MAX_REQUESTS_PER_CALL: usize = 16;
/// Most outbound requests all calls of one plugin may have in flight; more
/// wait their turn. Another plugin's requests never wait on them.
pub const MAX_REQUESTS_PER_PLUGIN: usize = 64;

/// The first part of a call's answer past its cap, as a violation.
pub(crate) fn oversized(returned: &Result<Returned, ProviderError>) -> Option<Violation> {
    let map = |m: &BTreeMap<String, String>| m.iter().map(|(k, v)| k.len() + v.len()).sum();
    let text = |t: &Option<String>| t.as_ref().map_or(0, String::len);
    let parts: Vec<(&str, usize, usize)> = match returned {
        Ok(Returned::Outcome(o)) => vec![
            ("its detail", o.detail.len(), 0),
            ("its evidence", map(&o.evidence), o.evidence.len()),
            ("its restore data", map(&o.restore), o.restore.len()),
        ],
        Ok(Returned::Facts(f)) => vec![(
            "its facts",
            text(&f.owner) + text(&f.workload) + text(&f.issuer) + map(&f.attributes),
            f.attributes.len(),
        )],
        Ok(Returned::Info(info)) => vec![(
            "its description",
            serde_json::to_vec(info).map_or(usize::MAX, |v| v.len()),
            info.actions.len(),
        )],
        Err(error) => vec![("its error", error_len(error), 0)],
    };
    parts
        .into_iter()
        .find(|(_, bytes, entries)| *bytes > MAX_RETURNED_BYTES || *entries > MAX_RETURNED_ENTRIES)
        .map(|(what, bytes, entries)| Violation::Oversized {
            what: what.to_string(),
            bytes: bytes as u64,
            entries: entries as u64,
        })
}

fn error_len(error: &ProviderError) -> usize {
    match error {
        ProviderError::NotFound(m)
        | ProviderError::Unauthorized(m)
        | ProviderError::Transient(m)
        | ProviderError::Invalid(m)
        | ProviderError::Unsupported(m) => m.len(),
        ProviderError::RateLimited { detail, .. } => detail.len(),
    }
}

/// What one call has logged, and what it could not.
#[derive(Debug, Default)]
pub struct LogBudget {
    lines: u64,
    bytes: u64,
    /// Lines dropped past the cap.
    pub dropped_lines: u64,
    /// Their bytes.
    pub dropped_bytes: u64,
}

impl LogBudget {
    /// `message` as it may be logged (cut to [`MAX_LOG_LINE_BYTES`]), or
    /// none once the call has spent its lines or bytes.
    pub fn admit(&mut self, message: &str) -> Option<String> {
        let mut end = message.len().min(MAX_LOG_LINE_BYTES);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let kept = &message[..end];
        if self.lines >= MAX_LOG_LINES || self.bytes + kept.len() as u64 > MAX_LOG_BYTES {
            self.dropped_lines += 1;
            self.dropped_bytes += message.len() as u64;
            return None;
        }
        self.lines += 1;
        self.bytes += kept.len() as u64;
        Some(if end < message.len() {
            format!("{kept}… ({} bytes cut)", message.len() - end)
        } else {
            kept.to_string()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_past_the_cap_are_dropped_and_counted() {
        let mut budget = LogBudget::default();
        for _ in 0..MAX_LOG_LINES {
            assert!(budget.admit("line").is_some());
        }
        assert_eq!(budget.admit("one more"), None);
        assert_eq!((budget.dropped_lines, budget.dropped_bytes), (1, 8));
    }

    #[test]
    fn long_lines_are_cut_on_a_character_boundary() {
        let mut budget = LogBudget::default();
        let long = "é".repeat(MAX_LOG_LINE_BYTES);
        let kept = budget.admit(&long).unwrap();
        assert!(kept.len() < MAX_LOG_LINE_BYTES + 40);
        assert!(kept.ends_with("bytes cut)"));
    }

    #[test]
    fn the_first_part_past_its_cap_is_named() {
        let outcome = cordon_types::ActionOutcome {
            status: cordon_types::OutcomeStatus::Applied,
            detail: "ok".into(),
            restore: BTreeMap::new(),
            evidence: (0..=MAX_RETURNED_ENTRIES)
                .map(|i| (i.to_string(), String::new()))
                .collect(),
        };
        match oversized(&Ok(Returned::Outcome(outcome))) {
            Some(Violation::Oversized { what, entries, .. }) => {
                assert_eq!((what.as_str(), entries), ("its evidence", 1_001));
            }
            other => panic!("{other:?}"),
        }
        let error = ProviderError::Invalid("x".repeat(MAX_RETURNED_BYTES + 1));
        assert!(oversized(&Err(error)).is_some());
        assert!(oversized(&Err(ProviderError::Invalid("short".into()))).is_none());
    }
}
