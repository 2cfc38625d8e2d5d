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

/// Hashes a key's last 64 bytes and its length, eight bytes at a time, from a seed drawn per
/// process. Tokens differ in their signature, which ends them, so this tells them apart for a
/// fraction of the cost of SipHash over a whole 800-byte token on every request; keys are still
/// compared whole. Only for a cache whose keys an attacker cannot choose (tokens some key
/// verified): where anyone could insert keys, many sharing one tail would share one bucket.
#[derive(Debug, Clone)]
pub struct TailHash(u64);

impl Default for TailHash {
    fn default() -> Self {
        TailHash(RandomState::new().hash_one(0u8))
    }
}

pub struct TailHasher(QuickHasher);

impl BuildHasher for TailHash {
    type Hasher = TailHasher;
    fn build_hasher(&self) -> TailHasher {
        TailHasher(QuickHasher(self.0))
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

/// A multiply-rotate hash over 8-byte words (as rustc's own `FxHasher`), unkeyed: for maps whose
/// keys only the configuration chooses (hosts), where a request can look a key up but never
/// insert one, so no input can crowd a bucket. SipHash costs several times as much per lookup.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quick;

pub struct QuickHasher(u64);

impl BuildHasher for Quick {
    type Hasher = QuickHasher;
    fn build_hasher(&self) -> QuickHasher {
        QuickHasher(0)
    }
}

impl QuickHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for QuickHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            self.add(u64::from_le_bytes(w.try_into().unwrap_or([0; 8])));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            for (to, from) in w.iter_mut().zip(rest) {
                *to = *from;
            }
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
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
