//! Key sets per JWKS URI and the policy for fetching them. Pure: the shell performs the fetches
//! and tells the store what happened; the store says what is due.
//!
//! - Keys are fetched at start and refreshed every `refresh`; the last good keys keep serving
//!   while a refresh runs or fails.
//! - A token with an unknown `kid` may trigger one refetch per `min_refetch` per URI, so a flood
//!   of random kids cannot become a flood of fetches.
//! - A failed fetch is retried after `retry`; until keys exist, requests fail fast in between.

use std::rc::Rc;

use super::jwks::{parse_jwks, Jwk, JwksError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksPolicy {
    pub refresh_ms: u64,
    pub min_refetch_ms: u64,
    pub retry_ms: u64,
    pub fetch_timeout_ms: u64,
    /// How long a request may wait for keys that do not exist yet.
    pub max_wait_ms: u64,
}

impl Default for JwksPolicy {
    fn default() -> Self {
        JwksPolicy {
            // Istio's remote-JWKS cache duration.
            refresh_ms: 300_000,
            // Below max_wait: a token signed with a just-rotated key waits for the refetch
            // instead of failing; still at most one fetch per 2 s per URI under a kid flood.
            min_refetch_ms: 2_000,
            // Envoy's failed_refetch_duration.
            retry_ms: 1_000,
            fetch_timeout_ms: 5_000,
            max_wait_ms: 3_000,
        }
    }
}

#[derive(Debug, Default)]
pub struct KeySet {
    pub uri: String,
    keys: Option<Rc<Vec<Jwk>>>,
    /// Bumped whenever the installed keys change: cached verifications of older keys expire.
    generation: u64,
    content_hash: u64,
    fetched_at_ms: u64,
    failed_at_ms: Option<u64>,
    refetch_wanted: bool,
}

/// What a request can expect from a key set right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Ready(Rc<Vec<Jwk>>),
    /// Never fetched successfully; a fetch is due or running.
    NotYet,
    /// Never fetched successfully and the last attempt failed.
    Failed,
}

#[derive(Debug, Default)]
pub struct KeyStore {
    pub policy: JwksPolicy,
    sets: Vec<KeySet>,
}

impl KeyStore {
    pub fn new(uris: &[String], policy: JwksPolicy) -> KeyStore {
        KeyStore {
            policy,
            sets: uris
                .iter()
                .map(|u| KeySet {
                    uri: u.clone(),
                    ..Default::default()
                })
                .collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.sets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    pub fn uri(&self, id: usize) -> &str {
        self.sets.get(id).map_or("", |s| s.uri.as_str())
    }

    pub fn generation(&self, id: usize) -> u64 {
        self.sets.get(id).map_or(0, |s| s.generation)
    }

    pub fn availability(&self, id: usize) -> Availability {
        match self.sets.get(id) {
            Some(KeySet { keys: Some(k), .. }) => Availability::Ready(Rc::clone(k)),
            Some(KeySet {
                failed_at_ms: Some(_),
                ..
            }) => Availability::Failed,
            _ => Availability::NotYet,
        }
    }

    /// Installs a fetched document. On a parse error the old keys stay and the error is returned.
    pub fn install(&mut self, id: usize, body: &[u8], fetched_at_ms: u64) -> Result<(), JwksError> {
        let Some(set) = self.sets.get_mut(id) else {
            return Ok(());
        };
        let keys = match parse_jwks(body) {
            Ok(k) => k,
            Err(e) => {
                set.failed_at_ms = Some(fetched_at_ms);
                return Err(e);
            }
        };
        let hash = fnv1a(body);
        if set.keys.is_none() || hash != set.content_hash {
            set.generation += 1;
            set.content_hash = hash;
            set.keys = Some(Rc::new(keys));
        }
        set.fetched_at_ms = fetched_at_ms;
        set.failed_at_ms = None;
        set.refetch_wanted = false;
        Ok(())
    }

    pub fn record_failure(&mut self, id: usize, now_ms: u64) {
        if let Some(set) = self.sets.get_mut(id) {
            set.failed_at_ms = Some(now_ms);
        }
    }

    /// A token named a `kid` the keys do not have; the request arrived at `since_ms`. True when
    /// it should wait for a refetch: one is due as soon as the rate limit allows (at most one per
    /// `min_refetch` per URI) and it comes within `max_wait`. False when keys fetched after the
    /// request arrived already lack the kid: the answer is final (a request waits for at most one
    /// refetch).
    pub fn want_refetch(&mut self, id: usize, now_ms: u64, since_ms: u64) -> bool {
        let (min, max_wait) = (self.policy.min_refetch_ms, self.policy.max_wait_ms);
        match self.sets.get_mut(id) {
            Some(set) if set.fetched_at_ms < since_ms => {
                let opens = set.fetched_at_ms.saturating_add(min);
                if opens.saturating_sub(now_ms) > max_wait {
                    return false;
                }
                set.refetch_wanted = true;
                true
            }
            _ => false,
        }
    }

    /// Should this VM try to fetch `id` now (subject to the cross-worker lease)?
    pub fn due(&self, id: usize, now_ms: u64) -> bool {
        let Some(set) = self.sets.get(id) else {
            return false;
        };
        if set
            .failed_at_ms
            .is_some_and(|f| now_ms < f.saturating_add(self.policy.retry_ms))
        {
            return false;
        }
        set.keys.is_none()
            || (set.refetch_wanted
                && now_ms >= set.fetched_at_ms.saturating_add(self.policy.min_refetch_ms))
            || now_ms >= set.fetched_at_ms.saturating_add(self.policy.refresh_ms)
    }

    /// When the installed keys were fetched (0 when never).
    pub fn fetched_at(&self, id: usize) -> u64 {
        self.sets.get(id).map_or(0, |s| s.fetched_at_ms)
    }
}

pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::jwks::tests::{e, modulus};

    fn doc(kid: &str) -> Vec<u8> {
        format!(
            r#"{{"keys":[{{"kty":"RSA","kid":"{kid}","n":"{}","e":"AQAB"}}]}}"#,
            e(&modulus(2048))
        )
        .into_bytes()
    }

    #[test]
    fn lifecycle() {
        let policy = JwksPolicy {
            refresh_ms: 1000,
            min_refetch_ms: 100,
            retry_ms: 10,
            ..Default::default()
        };
        let mut ks = KeyStore::new(&["u".to_owned()], policy);
        assert_eq!(ks.availability(0), Availability::NotYet);
        assert!(ks.due(0, 0), "fetch at start");

        ks.record_failure(0, 5);
        assert_eq!(ks.availability(0), Availability::Failed);
        assert!(!ks.due(0, 10), "retry waits");
        assert!(ks.due(0, 15));

        assert!(ks.install(0, &doc("a"), 20).is_ok());
        assert!(matches!(ks.availability(0), Availability::Ready(_)));
        assert_eq!(ks.generation(0), 1);
        assert!(!ks.due(0, 500));
        assert!(ks.due(0, 1020), "refresh after the TTL");

        // Same content again: same generation, cached verifications stay valid.
        assert!(ks.install(0, &doc("a"), 1020).is_ok());
        assert_eq!(ks.generation(0), 1);
        // A broken refresh keeps the old keys.
        assert!(ks.install(0, b"garbage", 1030).is_err());
        assert!(matches!(ks.availability(0), Availability::Ready(_)));
        // Rotated keys: new generation.
        assert!(ks.install(0, &doc("b"), 1100).is_ok());
        assert_eq!(ks.generation(0), 2);
    }

    #[test]
    fn unknown_kid_refetch_is_rate_limited_and_waited_for() {
        let policy = JwksPolicy {
            min_refetch_ms: 100,
            max_wait_ms: 300,
            ..Default::default()
        };
        let mut ks = KeyStore::new(&["u".to_owned()], policy);
        assert!(ks.install(0, &doc("a"), 1000).is_ok());
        // Just after a fetch: the request waits; the fetch is due when the window opens.
        assert!(ks.want_refetch(0, 1050, 1050));
        assert!(!ks.due(0, 1050), "rate limited");
        assert!(ks.due(0, 1100));
        assert!(ks.install(0, &doc("a"), 1110).is_ok());
        assert!(!ks.due(0, 1120), "the wish is consumed by the fetch");
        // Keys fetched after the request arrived are final for it.
        assert!(!ks.want_refetch(0, 1120, 1050));
        // A window further away than max_wait: deny rather than wait.
        let slow = JwksPolicy {
            min_refetch_ms: 10_000,
            max_wait_ms: 300,
            ..Default::default()
        };
        let mut ks = KeyStore::new(&["u".to_owned()], slow);
        assert!(ks.install(0, &doc("a"), 1000).is_ok());
        assert!(!ks.want_refetch(0, 1050, 1050));
    }
}
