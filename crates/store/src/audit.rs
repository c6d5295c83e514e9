//! The audit log's chain: every record carries the hash of the one before
//! it; its own hash covers its content and that link. [`verify`] recomputes
//! the chain and names the first record that was altered, removed, inserted
//! or moved. The last record's hash is also kept apart as the [`Head`], so
//! cutting records off the end is caught too.
//!
//! Appends are fail-closed: an event is appended in the same commit as the
//! records it describes, and a commit that cannot append changes nothing.

use crate::StoreError;
use cordon_types::{AuditEntry, AuditEvent, Millis};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The hash a chain starts from.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One record of the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the log, from 1.
    pub seq: u64,
    /// When it was appended.
    pub at: Millis,
    /// The event's kind, e.g. `action.outcome`.
    pub kind: String,
    /// The run it belongs to.
    pub run_id: Option<String>,
    /// The incident it belongs to.
    pub incident: Option<String>,
    /// Who acted.
    pub principal: Option<String>,
    /// The event's data.
    pub data: serde_json::Value,
    /// The previous record's hash.
    pub prev_hash: String,
    /// This record's hash.
    pub hash: String,
}

impl AuditRecord {
    /// The record of `entry` at `seq`, linked to `prev_hash`.
    pub fn seal(seq: u64, at: Millis, entry: &AuditEntry, prev_hash: &str) -> AuditRecord {
        let mut record = AuditRecord {
            seq,
            at,
            kind: entry.event.kind().to_string(),
            run_id: entry.run_id.clone(),
            incident: entry.incident.clone(),
            principal: entry.principal.clone(),
            data: entry.event.data(),
            prev_hash: prev_hash.to_string(),
            hash: String::new(),
        };
        record.hash = record.compute_hash();
        record
    }

    /// The typed event this record holds.
    pub fn event(&self) -> Result<AuditEvent, serde_json::Error> {
        AuditEvent::from_parts(&self.kind, &self.data)
    }

    /// The hash of everything in the record but the hash itself.
    pub fn compute_hash(&self) -> String {
        let body = serde_json::json!({
            "seq": self.seq, "at": self.at, "kind": self.kind, "run_id": self.run_id,
            "incident": self.incident, "principal": self.principal, "data": self.data,
            "prev_hash": self.prev_hash,
        });
        let mut hasher = Sha256::new();
        hasher.update(self.prev_hash.as_bytes());
        hasher.update(b"\n");
        hasher.update(body.to_string().as_bytes());
        hex::encode(hasher.finalize())
    }

    /// The stored form.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("audit records serialize")
    }
}

/// The last record's seq and hash, kept apart from the records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// The last record's seq.
    pub seq: u64,
    /// The last record's hash.
    pub hash: String,
}

/// The chain's head at some moment, kept outside the store (exported by
/// `cordon audit head`, appended to a file by `cordon serve`): a later store
/// that lacks this record, or holds another one in its place, was cut or
/// rewritten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// The head record's seq.
    pub seq: u64,
    /// The head record's hash.
    pub hash: String,
    /// When it was taken (RFC 3339), for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

impl Anchor {
    /// Parses `SEQ:HASH`.
    pub fn parse(text: &str) -> Result<Anchor, String> {
        let (seq, hash) = text
            .split_once(':')
            .ok_or_else(|| format!("`{text}` is not an anchor like SEQ:HASH"))?;
        let seq = seq
            .parse()
            .map_err(|_| format!("`{seq}` is not a record number"))?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("`{hash}` is not a sha256 hash (64 hex digits)"));
        }
        Ok(Anchor {
            seq,
            hash: hash.to_ascii_lowercase(),
            at: None,
        })
    }

    /// Whether `records` (a verified chain, in order) still hold this
    /// anchor's record; why not, if not.
    pub fn check(&self, records: &[AuditRecord]) -> Result<(), String> {
        let last = records.last().map_or(0, |r| r.seq);
        match records.iter().find(|r| r.seq == self.seq) {
            None => Err(format!(
                "the audit log ends at record {last}, but an anchor taken{} saw record {}:                  records were deleted (or the store was replaced)",
                self.at
                    .as_ref()
                    .map(|at| format!(" at {at}"))
                    .unwrap_or_default(),
                self.seq
            )),
            Some(record) if record.hash != self.hash => Err(format!(
                "record {} is not the one anchored{}: the log was rewritten from there",
                self.seq,
                self.at
                    .as_ref()
                    .map(|at| format!(" at {at}"))
                    .unwrap_or_default()
            )),
            Some(_) => Ok(()),
        }
    }
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Records read.
    pub records: u64,
    /// The first broken record and what is wrong with it.
    pub first_break: Option<(u64, String)>,
}

/// Decodes a stored record.
pub fn decode(seq: u64, bytes: &[u8]) -> Result<AuditRecord, StoreError> {
    serde_json::from_slice(bytes).map_err(|err| StoreError::Corrupt {
        key: format!("audit record {seq}"),
        message: err.to_string(),
    })
}

/// Recomputes the chain of `entries` (key and stored bytes, in key order)
/// against the recorded `head`; names the first broken record.
pub fn verify(entries: &[(u64, Vec<u8>)], head: Option<Head>) -> Verification {
    let mut expected_seq = 1;
    let mut prev_hash = GENESIS.to_string();
    let mut records = 0;
    for (key_seq, bytes) in entries {
        let key_seq = *key_seq;
        records += 1;
        let broken = |reason: String| Verification {
            records,
            first_break: Some((key_seq, reason)),
        };
        let record: AuditRecord = match serde_json::from_slice(bytes) {
            Ok(record) => record,
            Err(err) => return broken(format!("record {key_seq} is unreadable: {err}")),
        };
        if key_seq != expected_seq {
            return broken(format!(
                "record {expected_seq} is missing: the log jumps from {} to {key_seq} (records were deleted)",
                expected_seq - 1
            ));
        }
        if record.seq != key_seq {
            return broken(format!(
                "record {key_seq} holds the content of record {} (records were moved)",
                record.seq
            ));
        }
        if record.prev_hash != prev_hash {
            return broken(format!(
                "record {key_seq} does not follow record {}: its link to the previous record is broken",
                key_seq - 1
            ));
        }
        if record.compute_hash() != record.hash {
            return broken(format!(
                "record {key_seq} was altered: its content does not match its hash"
            ));
        }
        prev_hash = record.hash;
        expected_seq += 1;
    }
    if let Some(head) = head {
        if head.seq >= expected_seq {
            return Verification {
                records,
                first_break: Some((
                    expected_seq,
                    format!(
                        "records {expected_seq} to {} were deleted from the end of the log",
                        head.seq
                    ),
                )),
            };
        }
        if head.hash != prev_hash {
            return Verification {
                records,
                first_break: Some((
                    head.seq,
                    format!("record {} does not match the recorded head", head.seq),
                )),
            };
        }
    }
    Verification {
        records,
        first_break: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cordon_types::AuditEvent;

    fn chain() -> (Vec<(u64, Vec<u8>)>, Head) {
        let mut prev = GENESIS.to_string();
        let mut entries = Vec::new();
        for seq in 1..=5 {
            let entry = AuditEntry::new(AuditEvent::GrantRevoked {
                grant: format!("g{seq}"),
                from: "x".into(),
            });
            let record = AuditRecord::seal(seq, 1000 + seq as i64, &entry, &prev);
            prev = record.hash.clone();
            entries.push((seq, record.encode()));
        }
        (entries, Head { seq: 5, hash: prev })
    }

    #[test]
    fn an_intact_chain_verifies() {
        let (entries, head) = chain();
        assert_eq!(
            verify(&entries, Some(head)),
            Verification {
                records: 5,
                first_break: None
            }
        );
    }

    #[test]
    fn alteration_deletion_reordering_and_truncation_are_caught() {
        let (mut entries, head) = chain();
        let mut third = decode(3, &entries[2].1).unwrap();
        third.data = serde_json::json!({ "grant": "g99", "from": "x" });
        entries[2].1 = third.encode();
        assert_eq!(verify(&entries, Some(head)).first_break.unwrap().0, 3);

        let (mut entries, head) = chain();
        entries.remove(1);
        let (seq, reason) = verify(&entries, Some(head)).first_break.unwrap();
        assert_eq!(seq, 3);
        assert!(reason.contains("record 2 is missing"), "{reason}");

        let (mut entries, head) = chain();
        let two = entries[1].1.clone();
        entries[1].1 = entries[3].1.clone();
        entries[3].1 = two;
        assert_eq!(verify(&entries, Some(head)).first_break.unwrap().0, 2);

        let (mut entries, head) = chain();
        entries.pop();
        let (seq, reason) = verify(&entries, Some(head)).first_break.unwrap();
        assert_eq!(seq, 5);
        assert!(reason.contains("deleted from the end"), "{reason}");
    }
}
