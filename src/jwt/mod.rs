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

use std::rc::Rc;

use crate::response::Deny;

/// What an access check needs besides the request: keys, the verified-token cache, signature
/// verification and the clock. The shell owns them; the core only borrows.
pub struct AuthEnv<'a> {
    pub keys: &'a mut keystore::KeyStore,
    pub cache: &'a mut cache::TokenCache,
    pub crypto: &'a dyn crypto::Crypto,
    pub now_ms: u64,
}

/// The result of one authenticator.
#[derive(Debug)]
pub enum Outcome {
    Allowed(Rc<claims::Claims>),
    /// No credential for this authenticator (Ory: the next one is tried).
    NotResponsible,
    Denied(Deny),
    /// Keys for these JWKS ids are not there yet: wait for them, then decide again.
    Pending(Vec<usize>),
}

/// The outcome of looking for a key set's keys and verifying with them.
pub(crate) enum KeyResult {
    Verified(usize),
    Pending(usize),
    Failed,
    NoMatchingKey,
    BadSignature,
}

/// Tries every key of `jwks` that `candidate` admits, in document order.
pub(crate) fn verify_with(
    env: &mut AuthEnv<'_>,
    jws: &jws::Jws<'_>,
    jwks: usize,
    candidate: impl Fn(&jwks::Jwk) -> bool,
) -> KeyResult {
    let keys = match env.keys.availability(jwks) {
        keystore::Availability::Ready(k) => k,
        keystore::Availability::NotYet => return KeyResult::Pending(jwks),
        keystore::Availability::Failed => return KeyResult::Failed,
    };
    let mut matched = false;
    for key in keys
        .iter()
        .filter(|k| k.fits(jws.header.alg) && candidate(k))
    {
        matched = true;
        if env.crypto.verify(jws, &key.key) {
            return KeyResult::Verified(jwks);
        }
    }
    if matched {
        return KeyResult::BadSignature;
    }
    // Unknown kid: perhaps the keys were rotated. One rate-limited refetch, then decide again.
    if env.keys.want_refetch(jwks, env.now_ms) {
        return KeyResult::Pending(jwks);
    }
    KeyResult::NoMatchingKey
}
