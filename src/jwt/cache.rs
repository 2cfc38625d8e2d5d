//! Verified tokens, per VM, so a client that reuses its token pays for one signature check.
//!
//! Keyed by the whole token (no hash that an attacker could collide), bounded, evicted oldest
//! first. An entry is valid only for the key set and key generation that verified it, so key
//! rotation invalidates it; callers still check times, issuer and authorization on every hit.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use super::claims::Claims;
use super::jws::Alg;

pub const DEFAULT_CAPACITY: usize = 4096;

#[derive(Debug, Clone)]
pub struct Verified {
    pub jwks: usize,
    pub generation: u64,
    pub alg: Alg,
    pub claims: Rc<Claims>,
}

#[derive(Debug)]
pub struct TokenCache {
    capacity: usize,
    map: HashMap<Rc<str>, Verified>,
    order: VecDeque<Rc<str>>,
    pub hits: u64,
    pub misses: u64,
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache::new(DEFAULT_CAPACITY)
    }
}

impl TokenCache {
    pub fn new(capacity: usize) -> TokenCache {
        TokenCache {
            capacity: capacity.max(1),
            map: HashMap::new(),
            order: VecDeque::new(),
            hits: 0,
            misses: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The verification of `token` by one of `jwks` at its current generation.
    pub fn get(&mut self, token: &str, current: impl Fn(usize) -> Option<u64>) -> Option<Verified> {
        let found = self
            .map
            .get(token)
            .filter(|v| current(v.jwks) == Some(v.generation))
            .cloned();
        match found {
            Some(v) => {
                self.hits += 1;
                Some(v)
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    pub fn insert(&mut self, token: &str, verified: Verified) {
        if let Some(slot) = self.map.get_mut(token) {
            *slot = verified;
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
        let key: Rc<str> = Rc::from(token);
        self.order.push_back(Rc::clone(&key));
        self.map.insert(key, verified);
    }

    /// Drops entries whose token expired more than `skew` seconds ago.
    pub fn purge_expired(&mut self, now_s: u64, skew: u64) {
        self.map.retain(|_, v| {
            v.claims
                .exp
                .is_none_or(|exp| now_s <= exp.saturating_add(skew))
        });
        let map = &self.map;
        self.order.retain(|k| map.contains_key(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(jwks: usize, generation: u64, exp: Option<u64>) -> Verified {
        Verified {
            jwks,
            generation,
            alg: Alg::RS256,
            claims: Rc::new(Claims {
                exp,
                ..Default::default()
            }),
        }
    }

    #[test]
    fn generation_and_bounds() {
        let mut c = TokenCache::new(2);
        c.insert("a", v(0, 1, None));
        assert!(c.get("a", |_| Some(1)).is_some());
        assert!(c.get("a", |_| Some(2)).is_none(), "rotated keys invalidate");
        assert!(c.get("a", |_| None).is_none());
        c.insert("b", v(0, 1, None));
        c.insert("c", v(0, 1, None));
        assert_eq!(c.len(), 2);
        assert!(c.get("a", |_| Some(1)).is_none(), "oldest evicted");
        assert_eq!((c.hits, c.misses), (1, 3));
    }

    #[test]
    fn purge() {
        let mut c = TokenCache::new(10);
        c.insert("old", v(0, 1, Some(100)));
        c.insert("new", v(0, 1, Some(1000)));
        c.insert("forever", v(0, 1, None));
        c.purge_expired(200, 60);
        assert_eq!(c.len(), 2);
        assert!(c.get("old", |_| Some(1)).is_none());
    }
}
