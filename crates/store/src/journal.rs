//! How the sled backend makes a batch atomic without sled transactions.
//!
//! A sled transaction (or `apply_batch`) takes a global lock that sled's
//! flush also holds for as long as its fsync lasts, so every commit would
//! wait for the flush in progress and group commit would collapse (measured:
//! 2.3x the per-action cost at 16 actions in flight). Single-key inserts do
//! not wait. So a commit is written as:
//!
//! 1. one journal entry holding every write of the batch (a single insert,
//!    so atomic by itself);
//! 2. the writes themselves, in order;
//! 3. the removal of the journal entry.
//!
//! sled recovers a prefix of its log, so after a crash either the journal
//! entry is gone with none of the writes after it, or it is there and
//! [`SledStore::open`](crate::SledStore::open) applies it again (the writes
//! are idempotent upserts) before anything reads the store.

/// The trees a write can go to, as stored in journal entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TreeId {
    Runs = 0,
    Actions = 1,
    Grants = 2,
    Incidents = 3,
    Facts = 4,
    Audit = 5,
    Meta = 6,
    Ledger = 7,
}

impl TreeId {
    fn from_byte(byte: u8) -> Option<TreeId> {
        Some(match byte {
            0 => TreeId::Runs,
            1 => TreeId::Actions,
            2 => TreeId::Grants,
            3 => TreeId::Incidents,
            4 => TreeId::Facts,
            5 => TreeId::Audit,
            6 => TreeId::Meta,
            7 => TreeId::Ledger,
            _ => return None,
        })
    }
}

/// The writes of one batch, in the order they are applied.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Writes {
    items: Vec<(TreeId, Vec<u8>, Vec<u8>)>,
}

impl Writes {
    /// Adds an upsert of `key` in `tree`.
    pub fn put(&mut self, tree: TreeId, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.items.push((tree, key.into(), value.into()));
    }

    /// The last value written to `key` in `tree` by this batch, if any.
    pub fn pending(&self, tree: TreeId, key: &[u8]) -> Option<&[u8]> {
        self.items
            .iter()
            .rev()
            .find(|(t, k, _)| *t == tree && k == key)
            .map(|(_, _, v)| v.as_slice())
    }

    /// Whether the batch writes nothing.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The writes, in order.
    pub fn iter(&self) -> impl Iterator<Item = (TreeId, &[u8], &[u8])> {
        self.items
            .iter()
            .map(|(t, k, v)| (*t, k.as_slice(), v.as_slice()))
    }

    /// The journal entry: the number of writes, then per write the tree's
    /// byte, the key and the value, each after its length (little-endian u32s).
    pub fn encode(&self) -> Vec<u8> {
        let size = 4 + self
            .items
            .iter()
            .map(|(_, k, v)| 9 + k.len() + v.len())
            .sum::<usize>();
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(&(self.items.len() as u32).to_le_bytes());
        for (tree, key, value) in &self.items {
            out.push(*tree as u8);
            for part in [key, value] {
                out.extend_from_slice(&(part.len() as u32).to_le_bytes());
                out.extend_from_slice(part);
            }
        }
        out
    }

    /// Reads a journal entry back; `Err` names what is damaged.
    pub fn decode(mut bytes: &[u8]) -> Result<Writes, String> {
        fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
            if bytes.len() < n {
                return Err(format!("the entry ends {} bytes early", n - bytes.len()));
            }
            let (head, rest) = bytes.split_at(n);
            *bytes = rest;
            Ok(head)
        }
        fn number(bytes: &mut &[u8]) -> Result<usize, String> {
            let four = take(bytes, 4)?;
            Ok(u32::from_le_bytes(four.try_into().expect("4 bytes")) as usize)
        }
        fn part(bytes: &mut &[u8]) -> Result<Vec<u8>, String> {
            let len = number(bytes)?;
            Ok(take(bytes, len)?.to_vec())
        }
        let count = number(&mut bytes)?;
        let mut writes = Writes::default();
        for _ in 0..count {
            let byte = take(&mut bytes, 1)?[0];
            let tree = TreeId::from_byte(byte).ok_or_else(|| format!("unknown tree {byte}"))?;
            let key = part(&mut bytes)?;
            let value = part(&mut bytes)?;
            writes.items.push((tree, key, value));
        }
        if !bytes.is_empty() {
            return Err(format!("{} bytes follow the last write", bytes.len()));
        }
        Ok(writes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_damage_is_reported_not_panicked_on() {
        let mut writes = Writes::default();
        writes.put(TreeId::Actions, b"run/key".to_vec(), b"{}".to_vec());
        writes.put(TreeId::Audit, 7u64.to_be_bytes(), Vec::new());
        writes.put(TreeId::Meta, b"audit.head".to_vec(), vec![0xff; 300]);
        let bytes = writes.encode();
        assert_eq!(Writes::decode(&bytes).unwrap(), writes);
        assert_eq!(
            writes.pending(TreeId::Meta, b"audit.head").unwrap().len(),
            300
        );
        assert_eq!(writes.pending(TreeId::Runs, b"audit.head"), None);
        // Every truncation and every flipped tree byte is an error, never a panic.
        for cut in 0..bytes.len() {
            let decoded = Writes::decode(&bytes[..cut]);
            assert!(decoded.is_err(), "cut at {cut}: {decoded:?}");
        }
        let mut bad = bytes.clone();
        bad[4] = 99;
        assert_eq!(Writes::decode(&bad).unwrap_err(), "unknown tree 99");
    }
}
