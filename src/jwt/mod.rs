//! JWT access strategies: parsing, keys, signature checks, and the Istio and Ory semantics.

pub mod cache;
pub mod claims;
pub mod crypto;
pub mod der;
pub mod foreign;
pub mod istio;
pub mod jwks;
pub mod jws;
pub mod keystore;
pub mod ory;
pub mod token;

use std::collections::HashMap;
use std::rc::Rc;

use serde_json::{Map, Value};

use crate::callout::{Answer, CallRequest};
use crate::introspection::{Introspected, IntrospectionCache};
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
    pub fn new(rules: &crate::compile::RuleSet) -> AuthState {
        AuthState {
            keys: keystore::KeyStore::new(&rules.jwks_uris(), rules.jwks_policy),
            cache: cache::TokenCache::new(rules.token_cache_size),
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
        }
    }
}

/// Who the request was authenticated as: the session Ory mutators template over.
#[derive(Debug, Clone)]
pub enum Identity {
    /// `noop`, `allow`, `noAuth`: no subject.
    Anonymous,
    /// A verified JWT. `ory`: Oathkeeper's session (scope claim normalised into `scp`).
    Jwt {
        claims: Rc<claims::Claims>,
        ory: bool,
    },
    Introspection(Rc<Introspected>),
    /// External authorizers allowed the request (with the restrictions' identity, if any).
    Authorized(Rc<crate::extauth::Authorized>),
}

impl Identity {
    pub fn subject(&self) -> &str {
        match self {
            Identity::Anonymous => "",
            Identity::Jwt { claims, .. } => claims.sub.as_deref().unwrap_or(""),
            Identity::Introspection(r) => r.sub.as_deref().unwrap_or(""),
            Identity::Authorized(a) => a.inner.subject(),
        }
    }

    /// Oathkeeper's `session.Extra` (`None`: a nil map).
    pub fn extra(&self) -> Option<Map<String, Value>> {
        match self {
            Identity::Anonymous => None,
            Identity::Jwt { claims, ory } => {
                let mut m = claims.all.clone();
                if *ory {
                    // The first of scp/scope/scopes becomes `scp: [...]`, always present.
                    let found = ["scp", "scope", "scopes"]
                        .iter()
                        .find_map(|k| claims.scope_values(k, true).map(|v| (*k, v)));
                    let list: Vec<Value> = found
                        .as_ref()
                        .map(|(_, v)| v.iter().map(|s| Value::String((*s).to_owned())).collect())
                        .unwrap_or_default();
                    if let Some((k, _)) = found {
                        m.remove(k);
                    }
                    m.insert("scp".into(), Value::Array(list));
                }
                Some(m)
            }
            Identity::Introspection(r) => Some(r.extra()),
            Identity::Authorized(a) => a.inner.extra(),
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
    pub header: jws::Header,
    pub claims: Rc<claims::Claims>,
    jws: Option<jws::Jws<'t>>,
}

impl<'t> Presented<'t> {
    pub fn parse(
        token: &'t str,
        cache: &mut cache::TokenCache,
    ) -> Result<Presented<'t>, jws::JwtError> {
        if let Some((header, claims)) = cache.parsed(token) {
            return Ok(Presented {
                token,
                header,
                claims,
                jws: None,
            });
        }
        let mut parsed = jws::parse(token)?;
        Ok(Presented {
            token,
            header: parsed.header.clone(),
            claims: Rc::new(std::mem::take(&mut parsed.claims)),
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
        let verified = match env.cache.checked(token.token, jwks, generation, index) {
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
    if env.keys.want_refetch(jwks, env.now_ms, env.since_ms) {
        return KeyResult::Pending(jwks);
    }
    KeyResult::NoMatchingKey
}
