//! The one cache type of the core: bounded, keyed by text, evicted oldest first. Verified tokens,
//! introspection results, client-credentials tokens and minted id tokens are each one of these.
//! Whether an entry still holds (its expiry, its key set's generation) is the user's own check on
//! a hit: eviction only ever costs a recomputation, never changes an answer.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

#[derive(Debug)]
pub struct Bounded<V> {
    capacity: usize,
    map: HashMap<Rc<str>, V>,
    order: VecDeque<Rc<str>>,
}

impl<V> Bounded<V> {
    pub fn new(capacity: usize) -> Bounded<V> {
        Bounded {
            capacity: capacity.max(1),
            map: HashMap::new(),
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
