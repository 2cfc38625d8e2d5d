//! The one cache type of the core: bounded, keyed by text, evicted oldest first. Verified tokens,
//! introspection results, client-credentials tokens and minted id tokens are each one of these.
//! Whether an entry still holds (its expiry, its key set's generation) is the user's own check on
//! a hit: eviction only ever costs a recomputation, never changes an answer.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::rc::Rc;

#[derive(Debug)]
pub struct Bounded<V, S = RandomState> {
    capacity: usize,
    map: HashMap<Rc<str>, V, S>,
    order: VecDeque<Rc<str>>,
}

impl<V> Bounded<V> {
    pub fn new(capacity: usize) -> Bounded<V> {
        Bounded::with_hasher(capacity)
    }
}

/// Hashes a key's last 64 bytes and its length, with the standard keyed SipHash. Tokens differ
/// in their signature, which ends them, so this tells them apart for a tenth of the cost of
/// hashing a whole 800-byte token on every request; keys are still compared whole. Only for a
/// cache whose keys an attacker cannot choose (tokens some key verified): where anyone could
/// insert keys, many sharing one tail would share one bucket.
#[derive(Debug, Clone, Default)]
pub struct TailHash(RandomState);

pub struct TailHasher(std::collections::hash_map::DefaultHasher);

impl BuildHasher for TailHash {
    type Hasher = TailHasher;
    fn build_hasher(&self) -> TailHasher {
        TailHasher(self.0.build_hasher())
    }
}

impl Hasher for TailHasher {
    fn write(&mut self, bytes: &[u8]) {
        let tail = bytes.get(bytes.len().saturating_sub(64)..).unwrap_or(bytes);
        self.0.write(tail);
        self.0.write_usize(bytes.len());
    }

    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

impl<V, S: BuildHasher + Default> Bounded<V, S> {
    pub fn with_hasher(capacity: usize) -> Bounded<V, S> {
        Bounded {
            capacity: capacity.max(1),
            map: HashMap::with_hasher(S::default()),
            order: VecDeque::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.map.get(key)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.map.get_mut(key)
    }

    /// Stores `value`; a new key evicts the oldest entries while the cache is full.
    pub fn insert(&mut self, key: &str, value: V) {
        if let Some(slot) = self.map.get_mut(key) {
            *slot = value;
            return;
        }
        while self.map.len() >= self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
        let key: Rc<str> = Rc::from(key);
        self.order.push_back(Rc::clone(&key));
        self.map.insert(key, value);
    }

    /// Keeps the entries `keep` accepts (dropping expired ones early, say).
    pub fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) {
        self.map.retain(|_, v| keep(v));
        let map = &self.map;
        self.order.retain(|k| map.contains_key(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys with one tail and different beginnings are different keys: the tail only picks the
    /// bucket, the whole key decides.
    #[test]
    fn tail_hashed_keys_are_compared_whole() {
        let tail = "s".repeat(100);
        let mut c: Bounded<u32, TailHash> = Bounded::with_hasher(8);
        c.insert(&format!("a.{tail}"), 1);
        c.insert(&format!("b.{tail}"), 2);
        c.insert("short", 3);
        assert_eq!(c.get(&format!("a.{tail}")), Some(&1));
        assert_eq!(c.get(&format!("b.{tail}")), Some(&2));
        assert_eq!(c.get(&format!("c.{tail}")), None);
        assert_eq!(c.get("short"), Some(&3));
        assert_eq!(c.get("shor"), None);
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn oldest_first_and_bounded() {
        let mut c = Bounded::new(2);
        c.insert("a", 1);
        c.insert("b", 2);
        c.insert("a", 3);
        assert_eq!(c.get("a"), Some(&3), "replaced in place, still the oldest");
        c.insert("c", 4);
        assert_eq!(
            (c.get("a"), c.get("b"), c.get("c")),
            (None, Some(&2), Some(&4))
        );
        c.retain(|v| *v > 2);
        assert_eq!(c.len(), 1);
        c.insert("d", 5);
        c.insert("e", 6);
        assert_eq!(
            (c.get("c"), c.len()),
            (None, 2),
            "retain kept the order right"
        );
    }
}
