//! The key-value stores behind `fermyon:spin/key-value`: in memory, one per label for the
//! process's lifetime, shared by every instance of every component granted that label (as
//! Spin shares a label's store between components). Nothing is written to disk: a restart
//! empties them, and each edge process behind a load balancer has its own.
//!
//! Memory is bounded per store: an entry costs its key and value bytes plus
//! [`ENTRY_OVERHEAD`] for the map's bookkeeping, and a `set` that would take a store past
//! its cap ([`MAX_STORE_BYTES`] in the host) is refused with [`StoreFull`] and changes
//! nothing. The number of stores is bounded by the labels spin.toml names.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The most a store holds: plenty for caches of tokens and small documents, small enough that
/// a guest filling a store in a loop cannot take the host's memory.
pub const MAX_STORE_BYTES: usize = 16 * 1024 * 1024;

/// What an entry costs beyond its key and value, so that many tiny entries count too.
pub const ENTRY_OVERHEAD: usize = 64;

/// A `set` refused because the store has no room for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "key-value store `{label}` is full: this entry needs {needed} bytes and {free} of the store's {max} are free (the edge host keeps each store in memory, capped at {max} bytes; delete keys to make room)"
)]
pub struct StoreFull {
    /// The store's label.
    pub label: String,
    /// What the entry would cost.
    pub needed: usize,
    /// What the store has left, counting the entry it would replace.
    pub free: usize,
    /// The store's cap.
    pub max: usize,
}

/// One label's store.
pub struct MemoryStore {
    label: String,
    max_bytes: usize,
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    map: BTreeMap<String, Vec<u8>>,
    /// The cost of every entry in `map`.
    bytes: usize,
}

fn cost(key: &str, value: &[u8]) -> usize {
    key.len()
        .saturating_add(value.len())
        .saturating_add(ENTRY_OVERHEAD)
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the contents: a store may hold tokens.
        f.debug_struct("MemoryStore")
            .field("label", &self.label)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store holding at most `max_bytes`.
    #[must_use]
    pub fn new(label: &str, max_bytes: usize) -> Self {
        Self {
            label: label.to_owned(),
            max_bytes,
            entries: Mutex::new(Entries::default()),
        }
    }

    fn entries(&self) -> MutexGuard<'_, Entries> {
        // Every change below leaves the map and its byte count consistent before anything
        // can panic, so the data behind a poisoned lock is still sound.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value under `key`, if any.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.entries().map.get(key).cloned()
    }

    /// Sets `key` to `value`, replacing what was there.
    ///
    /// # Errors
    /// [`StoreFull`] when the store's cap has no room for the entry; the store is unchanged.
    pub fn set(&self, key: String, value: Vec<u8>) -> Result<(), StoreFull> {
        let needed = cost(&key, &value);
        let mut entries = self.entries();
        let replaced = entries.map.get(&key).map_or(0, |old| cost(&key, old));
        let in_use = entries.bytes.saturating_sub(replaced);
        let free = self.max_bytes.saturating_sub(in_use);
        if needed > free {
            return Err(StoreFull {
                label: self.label.clone(),
                needed,
                free,
                max: self.max_bytes,
            });
        }
        entries.bytes = in_use.saturating_add(needed);
        entries.map.insert(key, value);
        Ok(())
    }

    /// Removes `key`; nothing happens when it is not there.
    pub fn delete(&self, key: &str) {
        let mut entries = self.entries();
        if let Some(old) = entries.map.remove(key) {
            entries.bytes = entries.bytes.saturating_sub(cost(key, &old));
        }
    }

    /// Whether `key` has a value.
    #[must_use]
    pub fn exists(&self, key: &str) -> bool {
        self.entries().map.contains_key(key)
    }

    /// Every key, in byte order.
    #[must_use]
    pub fn keys(&self) -> Vec<String> {
        self.entries().map.keys().cloned().collect()
    }

    /// What the entries cost now.
    #[cfg(test)]
    #[must_use]
    pub fn bytes_in_use(&self) -> usize {
        self.entries().bytes
    }
}

/// Every store of the process, by label; built at start-up.
#[derive(Debug)]
pub struct Stores {
    max_bytes: usize,
    by_label: BTreeMap<String, Arc<MemoryStore>>,
}

impl Stores {
    /// No stores yet; each holds at most `max_bytes` once made.
    #[must_use]
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            by_label: BTreeMap::new(),
        }
    }

    /// The stores one component may open: each label's store, made on first grant, so two
    /// components granted the same label share one store.
    pub fn grant<'a>(&mut self, labels: impl IntoIterator<Item = &'a str>) -> Granted {
        let mut granted = BTreeMap::new();
        for label in labels {
            let store = self
                .by_label
                .entry(label.to_owned())
                .or_insert_with(|| Arc::new(MemoryStore::new(label, self.max_bytes)));
            granted.insert(label.to_owned(), Arc::clone(store));
        }
        Granted { by_label: granted }
    }
}

/// The stores one component may open, by label.
#[derive(Debug, Default)]
pub struct Granted {
    by_label: BTreeMap<String, Arc<MemoryStore>>,
}

impl Granted {
    /// The store under `label`, if the component was granted it.
    #[must_use]
    pub fn get(&self, label: &str) -> Option<&Arc<MemoryStore>> {
        self.by_label.get(label)
    }

    /// The labels, for start-up output.
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.by_label.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn a_store_sets_gets_deletes_and_lists_keys() {
        let store = MemoryStore::new("default", 1024);
        assert_eq!(store.get("a"), None);
        assert!(!store.exists("a"));
        store.set("b".into(), b"2".to_vec()).unwrap();
        store.set("a".into(), b"1".to_vec()).unwrap();
        assert_eq!(store.get("a"), Some(b"1".to_vec()));
        assert!(store.exists("a"));
        assert_eq!(store.keys(), vec!["a", "b"]);
        store.set("a".into(), b"one".to_vec()).unwrap();
        assert_eq!(store.get("a"), Some(b"one".to_vec()), "set replaces");
        store.delete("a");
        store.delete("never there");
        assert_eq!(store.get("a"), None);
        assert_eq!(store.keys(), vec!["b"]);
    }

    #[test]
    fn entries_cost_their_bytes_plus_the_overhead_and_give_them_back() {
        let store = MemoryStore::new("default", 1024);
        store.set("key".into(), vec![0; 10]).unwrap();
        assert_eq!(store.bytes_in_use(), 3 + 10 + ENTRY_OVERHEAD);
        store.set("key".into(), vec![0; 20]).unwrap();
        assert_eq!(
            store.bytes_in_use(),
            3 + 20 + ENTRY_OVERHEAD,
            "a replaced value is not counted twice"
        );
        store.delete("key");
        assert_eq!(store.bytes_in_use(), 0);
    }

    #[test]
    fn a_set_past_the_cap_is_refused_and_changes_nothing() {
        let max = 2 * ENTRY_OVERHEAD + 10;
        let store = MemoryStore::new("default", max);
        store.set("a".into(), vec![1; 9]).unwrap();
        let err = store.set("b".into(), vec![2; 1]).unwrap_err();
        assert_eq!(
            err,
            StoreFull {
                label: "default".into(),
                needed: 2 + ENTRY_OVERHEAD,
                free: max - (10 + ENTRY_OVERHEAD),
                max,
            }
        );
        let message = err.to_string();
        assert!(message.contains("`default` is full"), "{message}");
        assert!(message.contains("delete keys"), "{message}");
        assert_eq!(store.get("b"), None);
        assert_eq!(store.bytes_in_use(), 10 + ENTRY_OVERHEAD);
        store
            .set("a".into(), vec![1; 9 + ENTRY_OVERHEAD])
            .expect("replacing an entry may use the room it frees");
        assert!(
            store.set("a".into(), vec![1; 10 + ENTRY_OVERHEAD]).is_err(),
            "but not more than the cap"
        );
        assert_eq!(store.get("a").map(|v| v.len()), Some(9 + ENTRY_OVERHEAD));
    }

    #[test]
    fn components_granted_the_same_label_share_its_store() {
        let mut stores = Stores::new(1024);
        let first = stores.grant(["default", "cache"]);
        let second = stores.grant(["default"]);
        first
            .get("default")
            .unwrap()
            .set("k".into(), b"v".to_vec())
            .unwrap();
        assert_eq!(second.get("default").unwrap().get("k"), Some(b"v".to_vec()));
        assert!(second.get("cache").is_none(), "only what was granted");
        assert_eq!(first.labels().collect::<Vec<_>>(), vec!["cache", "default"]);
    }

    #[test]
    fn debug_output_never_shows_contents() {
        let store = MemoryStore::new("default", 1024);
        store.set("token".into(), b"ghs_secret".to_vec()).unwrap();
        assert!(!format!("{store:?}").contains("ghs_secret"));
    }
}
