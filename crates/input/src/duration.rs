//! Durations as people write them in configs and playbooks: `2h`, `30m`,
//! `90s`, `1h30m`.

use std::time::Duration;

/// Text that is not a duration [`parse_duration`] accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a duration like 2h, 30m, 90s or 1h30m")]
pub struct DurationError {
    /// The text as given.
    pub text: String,
}

/// `2h`, `30m`, `90s`, `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let bad = || DurationError {
        text: text.to_string(),
    };
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let value: u64 = number.parse().map_err(|_| bad())?;
        number.clear();
        total += value
            * match c {
                'h' => 3600,
                'm' => 60,
                's' => 1,
                _ => return Err(bad()),
            };
    }
    if !number.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}
