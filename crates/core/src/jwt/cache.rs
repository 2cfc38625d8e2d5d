//! Verified tokens, per VM, so a client that reuses its token pays for one signature check.
//!
//! The cache memoises facts, not decisions: a token's parsed header and claims, and which keys
//! (key set, key set generation, key index) did or did not verify its signature. Every rule still
//! runs its whole check on a hit (which keys it admits, `kid` and `use` requirements, algorithms,
//! issuers, times, scopes); only parsing and the signature arithmetic are skipped. So a token that
//! one rule accepted can never pass another rule on the strength of the cache (issue 12: an Ory
//! rule requires a `kid` and a `use: sig` key, an Istio-style rule does not).
//!
//! Keyed by the whole token (no hash that an attacker could collide), bounded, evicted oldest
//! first. Only tokens some key verified get an entry, so forged tokens cannot push real ones out.
//! A key set's new generation (rotation, refetch) makes its old facts meaningless.

use std::rc::Rc;

use crate::cache::{Bounded, TailHash};

use super::claims::Claims;
use super::jws::Header;

pub const DEFAULT_CAPACITY: usize = 4096;

/// Key checks remembered per token: enough for every key of a few key sets.
const MAX_CHECKS: usize = 64;

/// One signature check: did key `key` of key set `jwks`, at `generation`, verify the token?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    jwks: usize,
    generation: u64,
    key: usize,
    verified: bool,
}

#[derive(Debug)]
struct Entry {
    header: Rc<Header>,
    claims: Rc<Claims>,
    checks: Rc<Vec<Check>>,
}

/// What the cache knows of a token: shared with the entry, so a hit copies no data.
#[derive(Debug, Clone)]
pub struct Known {
    pub header: Rc<Header>,
    pub claims: Rc<Claims>,
    pub checks: Rc<Vec<Check>>,
}

impl Known {
    /// What a signature check with this key gave before, at this generation.
    pub fn checked(&self, jwks: usize, generation: u64, key: usize) -> Option<bool> {
        self.checks.iter().find_map(|c| {
            (c.jwks == jwks && c.generation == generation && c.key == key).then_some(c.verified)
        })
    }
}

#[derive(Debug)]
pub struct TokenCache {
    /// Keyed by tokens some key verified only (see [`TailHash`]).
    entries: Bounded<Entry, TailHash>,
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
            entries: Bounded::with_hasher(capacity),
            hits: 0,
            misses: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// What is known of the token, if some key verified it before.
    pub fn parsed(&mut self, token: &str) -> Option<Known> {
        match self.entries.get(token) {
            Some(e) => {
                self.hits += 1;
                Some(Known {
                    header: Rc::clone(&e.header),
                    claims: Rc::clone(&e.claims),
                    checks: Rc::clone(&e.checks),
                })
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    /// Remembers a signature check. A token gets an entry only once a key verified it.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        token: &str,
        header: &Rc<Header>,
        claims: &Rc<Claims>,
        jwks: usize,
        generation: u64,
        key: usize,
        verified: bool,
    ) {
        let check = Check {
            jwks,
            generation,
            key,
            verified,
        };
        if let Some(e) = self.entries.get_mut(token) {
            let checks = Rc::make_mut(&mut e.checks);
            // Facts about an older generation of this key set can never match again.
            checks.retain(|c| c.jwks != jwks || c.generation == generation);
            if checks.len() < MAX_CHECKS {
                checks.push(check);
            }
            return;
        }
        if !verified {
            return;
        }
        self.entries.insert(
            token,
            Entry {
                header: Rc::clone(header),
                claims: Rc::clone(claims),
                checks: Rc::new(vec![check]),
            },
        );
    }

    /// Drops entries whose token expired more than `skew` seconds ago.
    pub fn purge_expired(&mut self, now_s: u64, skew: u64) {
        self.entries.retain(|e| {
            e.claims
                .exp
                .is_none_or(|exp| now_s <= exp.saturating_add(skew))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::jws::Alg;
    use super::*;

    fn header() -> Rc<Header> {
        Rc::new(Header {
            alg: Alg::RS256,
            kid: Some("k".into()),
        })
    }

    fn claims(exp: Option<u64>) -> Rc<Claims> {
        Rc::new(Claims {
            exp,
            ..Default::default()
        })
    }

    fn checked(c: &mut TokenCache, jwks: usize, generation: u64, key: usize) -> Option<bool> {
        c.parsed("a")?.checked(jwks, generation, key)
    }

    #[test]
    fn facts_per_key_and_generation() {
        let mut c = TokenCache::new(2);
        let (h, cl) = (header(), claims(None));
        c.record("a", &h, &cl, 0, 1, 0, false);
        assert!(c.parsed("a").is_none(), "a refuted token gets no entry");
        c.record("a", &h, &cl, 0, 1, 2, true);
        c.record("a", &h, &cl, 0, 1, 0, false);
        assert!(c.parsed("a").is_some());
        assert_eq!(checked(&mut c, 0, 1, 2), Some(true));
        assert_eq!(checked(&mut c, 0, 1, 0), Some(false));
        assert_eq!(
            checked(&mut c, 0, 2, 2),
            None,
            "another generation is unknown"
        );
        assert_eq!(checked(&mut c, 1, 1, 2), None, "another key set is unknown");
        c.record("a", &h, &cl, 0, 2, 1, true);
        assert_eq!(
            checked(&mut c, 0, 1, 2),
            None,
            "old generations are dropped"
        );
        c.record("b", &h, &cl, 0, 1, 0, true);
        c.record("c", &h, &cl, 0, 1, 0, true);
        assert_eq!(c.len(), 2);
        assert!(c.parsed("a").is_none(), "oldest evicted");
    }

    #[test]
    fn purge() {
        let mut c = TokenCache::new(10);
        let h = header();
        c.record("old", &h, &claims(Some(100)), 0, 1, 0, true);
        c.record("new", &h, &claims(Some(1000)), 0, 1, 0, true);
        c.record("forever", &h, &claims(None), 0, 1, 0, true);
        c.purge_expired(200, 60);
        assert_eq!(c.len(), 2);
        assert!(c.parsed("old").is_none());
    }
}
