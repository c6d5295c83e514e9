//! The audit log: append-only and hash-chained, in sled.
//!
//! Every record carries the hash of the one before it; its own hash covers
//! its content and that link. `verify` recomputes the chain and names the
//! first record that was altered, removed, inserted or moved. The last
//! record's hash is also kept apart as the head, so cutting records off the
//! end is caught too.
//!
//! Appends are fail-closed: callers append before they act (a decision
//! before an intent, an intent before a plugin call), and an append that
//! fails stops the action.

use crate::store::{Millis, StoreError, now_ms};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Mutex;

/// The hash a chain starts from.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Where the head (last seq and hash) is kept.
const HEAD_KEY: &[u8] = b"audit.head";
/// Test hook: `CORDON_FAILPOINT_AUDIT=N` makes the append of record N fail,
/// as a full or broken disk would.
const FAILPOINT_ENV: &str = "CORDON_FAILPOINT_AUDIT";

/// Something worth recording.
#[derive(Debug, Clone, Default)]
pub struct AuditEvent {
    /// What happened: `run.started`, `decision`, `action.intent`, …
    pub kind: &'static str,
    pub run_id: Option<String>,
    pub incident: Option<String>,
    pub principal: Option<String>,
    pub data: serde_json::Value,
}

/// One record of the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: u64,
    pub at: Millis,
    pub kind: String,
    pub run_id: Option<String>,
    pub incident: Option<String>,
    pub principal: Option<String>,
    pub data: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRecord {
    /// The hash of everything in the record but the hash itself.
    fn compute_hash(&self) -> String {
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
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Records read.
    pub records: u64,
    /// The first broken record and what is wrong with it.
    pub first_break: Option<(u64, String)>,
}

#[derive(Serialize, Deserialize)]
struct Head {
    seq: u64,
    hash: String,
}

/// The hash-chained log.
pub struct AuditLog {
    tree: sled::Tree,
    meta: sled::Tree,
    /// Next seq and the last hash; appends are serialised through it.
    tail: Mutex<(u64, String)>,
    fail_at: Option<u64>,
}

impl AuditLog {
    /// Opens the log kept in `tree` (head in `meta`).
    pub fn open(tree: sled::Tree, meta: sled::Tree) -> Result<AuditLog, StoreError> {
        let tail = match tree.last()? {
            Some((_, value)) => {
                let last: AuditRecord = decode(&value)?;
                (last.seq + 1, last.hash)
            }
            None => (1, GENESIS.to_string()),
        };
        Ok(AuditLog {
            tree,
            meta,
            tail: Mutex::new(tail),
            fail_at: std::env::var(FAILPOINT_ENV)
                .ok()
                .and_then(|v| v.parse().ok()),
        })
    }

    /// Appends a record (durable with the store's next sync).
    pub fn append(&self, event: AuditEvent) -> Result<AuditRecord, StoreError> {
        let mut tail = self.tail.lock().expect("audit tail");
        let (seq, prev_hash) = (tail.0, tail.1.clone());
        if self.fail_at == Some(seq) {
            return Err(StoreError::AuditUnavailable(format!(
                "cannot append audit record {seq} ({FAILPOINT_ENV})"
            )));
        }
        let mut record = AuditRecord {
            seq,
            at: now_ms(),
            kind: event.kind.to_string(),
            run_id: event.run_id,
            incident: event.incident,
            principal: event.principal,
            data: event.data,
            prev_hash,
            hash: String::new(),
        };
        record.hash = record.compute_hash();
        let bytes = serde_json::to_vec(&record).expect("audit records serialize");
        self.tree
            .insert(seq.to_be_bytes(), bytes)
            .map_err(|e| StoreError::AuditUnavailable(e.to_string()))?;
        let head = serde_json::to_vec(&Head {
            seq,
            hash: record.hash.clone(),
        })
        .expect("head serializes");
        self.meta
            .insert(HEAD_KEY, head)
            .map_err(|e| StoreError::AuditUnavailable(e.to_string()))?;
        *tail = (seq + 1, record.hash.clone());
        Ok(record)
    }

    /// Every record, in order.
    pub fn records(&self) -> impl Iterator<Item = Result<AuditRecord, StoreError>> + '_ {
        self.tree.iter().map(|entry| {
            let (_, value) = entry?;
            decode(&value)
        })
    }

    /// Recomputes the chain; names the first broken record.
    pub fn verify(&self) -> Result<Verification, StoreError> {
        let mut expected_seq = 1;
        let mut prev_hash = GENESIS.to_string();
        let mut records = 0;
        for entry in self.tree.iter() {
            let (key, value) = entry?;
            let key_seq = key
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .unwrap_or(u64::MAX);
            records += 1;
            let broken = |reason: String| {
                Ok(Verification {
                    records,
                    first_break: Some((key_seq, reason)),
                })
            };
            let record: AuditRecord = match serde_json::from_slice(&value) {
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
        if let Some(head) = self.meta.get(HEAD_KEY)? {
            let head: Head = decode(&head)?;
            if head.seq >= expected_seq {
                return Ok(Verification {
                    records,
                    first_break: Some((
                        expected_seq,
                        format!(
                            "records {expected_seq} to {} were deleted from the end of the log",
                            head.seq
                        ),
                    )),
                });
            }
            if head.hash != prev_hash {
                return Ok(Verification {
                    records,
                    first_break: Some((
                        head.seq,
                        format!("record {} does not match the recorded head", head.seq),
                    )),
                });
            }
        }
        Ok(Verification {
            records,
            first_break: None,
        })
    }
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|err| StoreError::Corrupt {
        key: "audit".into(),
        message: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> (sled::Db, AuditLog) {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let log = AuditLog::open(
            db.open_tree("audit").unwrap(),
            db.open_tree("meta").unwrap(),
        )
        .unwrap();
        for i in 0..5 {
            log.append(AuditEvent {
                kind: "test",
                data: serde_json::json!({ "i": i }),
                ..Default::default()
            })
            .unwrap();
        }
        (db, log)
    }

    #[test]
    fn an_intact_chain_verifies() {
        let (_db, log) = log();
        assert_eq!(
            log.verify().unwrap(),
            Verification {
                records: 5,
                first_break: None
            }
        );
    }

    #[test]
    fn alteration_deletion_reordering_and_truncation_are_caught() {
        let (_db, log) = log();
        let mut third: AuditRecord =
            serde_json::from_slice(&log.tree.get(3u64.to_be_bytes()).unwrap().unwrap()).unwrap();
        third.data = serde_json::json!({ "i": 99 });
        log.tree
            .insert(3u64.to_be_bytes(), serde_json::to_vec(&third).unwrap())
            .unwrap();
        assert_eq!(log.verify().unwrap().first_break.unwrap().0, 3);

        let (_db, log) = self::log();
        log.tree.remove(2u64.to_be_bytes()).unwrap();
        let (seq, reason) = log.verify().unwrap().first_break.unwrap();
        assert_eq!(seq, 3);
        assert!(reason.contains("record 2 is missing"), "{reason}");

        let (_db, log) = self::log();
        let two = log.tree.get(2u64.to_be_bytes()).unwrap().unwrap();
        let four = log.tree.get(4u64.to_be_bytes()).unwrap().unwrap();
        log.tree.insert(2u64.to_be_bytes(), four).unwrap();
        log.tree.insert(4u64.to_be_bytes(), two).unwrap();
        assert_eq!(log.verify().unwrap().first_break.unwrap().0, 2);

        let (_db, log) = self::log();
        log.tree.remove(5u64.to_be_bytes()).unwrap();
        let (seq, reason) = log.verify().unwrap().first_break.unwrap();
        assert_eq!(seq, 5);
        assert!(reason.contains("deleted from the end"), "{reason}");
    }
}
