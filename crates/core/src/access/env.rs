//! What access strategies share: the environment a check runs in (keys, caches, crypto, the
//! answers to this request's calls, the clock), what a check returns, and the signature check
//! every JWT strategy makes through the verified-token cache.

use std::collections::HashMap;
use std::rc::Rc;

use super::session::{Identity, Introspected};
use crate::callout::{Answer, CallRequest};
use crate::jwt::{cache, claims, crypto, jwks, jws, keystore};
use crate::mutate::id_token::MintCache;
use crate::response::Deny;

/// What an access check needs besides the request: keys, caches, signature verification, answers
/// to the calls this request made, and the clock. The shell owns them; the core only borrows.
pub struct AuthEnv<'a> {
    pub keys: &'a mut keystore::KeyStore,
    pub cache: &'a mut cache::TokenCache,
    pub crypto: &'a dyn crypto::Crypto,
    pub introspection: &'a mut IntrospectionCache,
    pub mints: &'a mut MintCache,
    /// Answers to this request's calls, by [`CallRequest::key`].
    pub answers: &'a HashMap<String, Answer>,
    pub now_ms: u64,
    /// When the request arrived: keys fetched after it are final for it.
    pub since_ms: u64,
    /// The request waited as long as it may: keys not there yet count as failed, and a missing
    /// `kid` is final.
    pub overdue: bool,
}

/// What access checks keep between requests: keys, verified tokens, introspection results and
/// minted tokens. The filter holds one per VM; offline callers (`apirule explain`, tests) one per
/// run. [`AuthState::env`] lends it to one decision.
pub struct AuthState {
    pub keys: keystore::KeyStore,
    pub cache: cache::TokenCache,
    pub introspection: IntrospectionCache,
    pub mints: MintCache,
}

impl AuthState {
    /// For these key set URIs (in the order the rules number them), with this fetch policy and
    /// this many verified tokens remembered. `RuleSet::auth_state` passes a rule set's own.
    pub fn new(
        jwks_uris: &[String],
        policy: keystore::JwksPolicy,
        token_cache_size: usize,
    ) -> AuthState {
        AuthState {
            keys: keystore::KeyStore::new(jwks_uris, policy),
            cache: cache::TokenCache::new(token_cache_size),
            introspection: IntrospectionCache::default(),
            mints: MintCache::default(),
        }
    }

    pub fn env<'s>(
        &'s mut self,
        crypto: &'s dyn crypto::Crypto,
        answers: &'s HashMap<String, Answer>,
        now_ms: u64,
        since_ms: u64,
    ) -> AuthEnv<'s> {
        AuthEnv {
            keys: &mut self.keys,
            cache: &mut self.cache,
            crypto,
            introspection: &mut self.introspection,
            mints: &mut self.mints,
            answers,
            now_ms,
            since_ms,
            overdue: false,
        }
    }
}

/// The result of one authenticator.
#[derive(Debug)]
pub enum Outcome {
    Allowed(Identity),
    /// No credential for this authenticator (Ory: the next one is tried).
    NotResponsible,
    Denied(Deny),
    /// Keys for these JWKS ids are not there yet: wait for them, then decide again.
    Pending(Vec<usize>),
    /// This call must be answered first; then decide again with its answer.
    Call(Box<CallRequest>),
}

/// The outcome of looking for a key set's keys and verifying with them.
pub(crate) enum KeyResult {
    Verified,
    Pending(usize),
    Failed,
    NoMatchingKey,
    BadSignature,
}

/// A token as a rule checks it: header and claims, from the cache when a key verified it
/// before, else parsed now. The signature is only parsed again when a key must be tried that no
/// earlier check covers.
pub(crate) struct Presented<'t> {
    pub token: &'t str,
    pub header: Rc<jws::Header>,
    pub claims: Rc<claims::Claims>,
    /// Signature checks made before, from the cache (one lookup per request, not per key).
    known: Option<cache::Known>,
    jws: Option<jws::Jws<'t>>,
}

impl<'t> Presented<'t> {
    pub fn parse(
        token: &'t str,
        cache: &mut cache::TokenCache,
    ) -> Result<Presented<'t>, jws::JwtError> {
        if let Some(known) = cache.parsed(token) {
            return Ok(Presented {
                token,
                header: Rc::clone(&known.header),
                claims: Rc::clone(&known.claims),
                known: Some(known),
                jws: None,
            });
        }
        let mut parsed = jws::parse(token)?;
        Ok(Presented {
            token,
            header: Rc::new(parsed.header.clone()),
            claims: Rc::new(std::mem::take(&mut parsed.claims)),
            known: None,
            jws: Some(parsed),
        })
    }

    fn signature(&mut self) -> Option<&jws::Jws<'t>> {
        if self.jws.is_none() {
            self.jws = jws::parse(self.token).ok();
        }
        self.jws.as_ref()
    }
}

/// Tries every key of `jwks` that `candidate` admits, in document order. A signature check
/// already made with the same key (same key set generation) is not made again: the cache only
/// saves arithmetic, every rule applies its own `candidate`.
pub(crate) fn verify_with(
    env: &mut AuthEnv<'_>,
    token: &mut Presented<'_>,
    jwks: usize,
    candidate: impl Fn(&jwks::Jwk) -> bool,
) -> KeyResult {
    let keys = match env.keys.availability(jwks) {
        keystore::Availability::Ready(k) => k,
        keystore::Availability::NotYet if env.overdue => return KeyResult::Failed,
        keystore::Availability::NotYet => return KeyResult::Pending(jwks),
        keystore::Availability::Failed => return KeyResult::Failed,
    };
    let generation = env.keys.generation(jwks);
    let alg = token.header.alg;
    let mut matched = false;
    for (index, key) in keys
        .iter()
        .enumerate()
        .filter(|(_, k)| k.fits(alg) && candidate(k))
    {
        matched = true;
        let known = token
            .known
            .as_ref()
            .and_then(|k| k.checked(jwks, generation, index));
        let verified = match known {
            Some(known) => known,
            None => {
                let verified = token
                    .signature()
                    .is_some_and(|jws| env.crypto.verify(jws, &key.key));
                env.cache.record(
                    token.token,
                    &token.header,
                    &token.claims,
                    jwks,
                    generation,
                    index,
                    verified,
                );
                verified
            }
        };
        if verified {
            return KeyResult::Verified;
        }
    }
    if matched {
        return KeyResult::BadSignature;
    }
    // Unknown kid: perhaps the keys were rotated. One rate-limited refetch, then decide again.
    if !env.overdue && env.keys.want_refetch(jwks, env.now_ms, env.since_ms) {
        return KeyResult::Pending(jwks);
    }
    KeyResult::NoMatchingKey
}

/// Per-worker caches: introspection results (with when they were fetched and the token's `exp`,
/// so each rule applies its own `ttl`) and client-credentials tokens.
#[derive(Debug)]
pub struct IntrospectionCache {
    pub(crate) results: crate::cache::Bounded<Cached>,
    pub(crate) client_tokens: crate::cache::Bounded<(String, u64)>,
    pub hits: u64,
}

/// Introspection results kept per worker (each rule applies its own ttl on a hit).
const MAX_RESULTS: usize = 10_000;
/// Client-credentials tokens: one per pre-authorization client of the configuration.
const MAX_CLIENT_TOKENS: usize = 1024;

impl Default for IntrospectionCache {
    fn default() -> Self {
        IntrospectionCache {
            results: crate::cache::Bounded::new(MAX_RESULTS),
            client_tokens: crate::cache::Bounded::new(MAX_CLIENT_TOKENS),
            hits: 0,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Cached {
    pub(crate) result: Rc<Introspected>,
    pub(crate) fetched_ms: u64,
    pub(crate) exp_ms: Option<u64>,
}
