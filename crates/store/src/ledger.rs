//! The blast-radius ledger's stored form, shared by the backends: a count
//! per run, and per domain a short list of (second, count) buckets.

use crate::batch::{Charge, LedgerCounts, LedgerKey};
use cordon_types::Millis;

/// The key of a run's counter.
pub fn run_key(run_id: &str) -> Vec<u8> {
    format!("run\0{run_id}").into_bytes()
}

/// The key of a domain's buckets.
pub fn domain_key(domain: &str) -> Vec<u8> {
    format!("domain\0{domain}").into_bytes()
}

/// Decodes a run counter.
pub fn decode_count(bytes: Option<&[u8]>) -> usize {
    bytes
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0) as usize
}

/// Encodes a run counter.
pub fn encode_count(count: usize) -> [u8; 8] {
    (count as u64).to_be_bytes()
}

/// A domain's buckets: (second, allowed actions in that second), ascending.
pub type Buckets = Vec<(i64, u32)>;

/// Decodes a domain's buckets (empty if absent or unreadable).
pub fn decode_buckets(bytes: Option<&[u8]>) -> Buckets {
    bytes
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or_default()
}

/// Encodes a domain's buckets.
pub fn encode_buckets(buckets: &Buckets) -> Vec<u8> {
    serde_json::to_vec(buckets).expect("buckets serialize")
}

/// Actions in `buckets` at or after `since`, counting the whole second that
/// holds `since` (so the count errs on the side of the cap).
pub fn count_since(buckets: &Buckets, since: Millis) -> usize {
    let from = since.div_euclid(1000);
    buckets
        .iter()
        .filter(|(second, _)| *second >= from)
        .map(|(_, n)| *n as usize)
        .sum()
}

/// Adds one charge, dropping buckets older than it allows.
pub fn add(buckets: &mut Buckets, charge: &Charge) {
    let second = charge.at.div_euclid(1000);
    let keep_from = charge.forget_before.div_euclid(1000);
    buckets.retain(|(s, _)| *s >= keep_from);
    match buckets.iter_mut().find(|(s, _)| *s == second) {
        Some((_, n)) => *n += 1,
        None => {
            buckets.push((second, 1));
            buckets.sort();
        }
    }
}

/// One ledger row's new value: (key, value).
pub type LedgerWrite = (Vec<u8>, Vec<u8>);

/// What one charge writes — the run's counter one higher, the domain's
/// buckets with it added — given `current`, which reads what a ledger key
/// holds now (`None` if nothing) in the backend's transaction.
pub fn charge<E>(
    charge: &Charge,
    mut current: impl FnMut(&[u8]) -> Result<Option<Vec<u8>>, E>,
) -> Result<[LedgerWrite; 2], E> {
    let run_key = run_key(&charge.run_id);
    let count = decode_count(current(&run_key)?.as_deref());
    let domain_key = domain_key(&charge.domain);
    let mut buckets = decode_buckets(current(&domain_key)?.as_deref());
    add(&mut buckets, charge);
    Ok([
        (run_key, encode_count(count + 1).to_vec()),
        (domain_key, encode_buckets(&buckets)),
    ])
}

/// The counts of `key` from the stored run counter and domain buckets.
pub fn counts(key: &LedgerKey, run: Option<&[u8]>, domain: Option<&[u8]>) -> LedgerCounts {
    LedgerCounts {
        run_allowed: decode_count(run),
        domain_since: count_since(&decode_buckets(domain), key.since),
    }
}
