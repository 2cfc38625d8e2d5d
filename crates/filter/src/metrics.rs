//! Counters in Envoy's stats (`/stats/prometheus` shows them as `apirule_...`). Defined once per
//! VM; counted in the VM's memory and flushed on the root context's tick (at most a second
//! behind), so a request pays no host call for them. A host that refuses a metric leaves it a
//! no-op, never an error on the request path.

use std::cell::Cell;

use super::host;

use apirule_core::response::DenyReason;

#[derive(Debug, Clone, Copy)]
pub enum Counter {
    Allowed,
    DeniedNoRoute,
    DeniedNoToken,
    DeniedInvalidToken,
    DeniedForbidden,
    DeniedUnsupported,
    DeniedKeysUnavailable,
    DeniedIntrospectionFailure,
    DeniedMutatorFailure,
    CorsPreflight,
    JwksFetches,
    JwksFetchFailures,
    Calls,
    CallFailures,
    TokenCacheHits,
    IntrospectionCacheHits,
    DeniedAmbiguousPath,
    DeniedExtAuth,
    DeniedExtAuthFailure,
    DeniedRateLimited,
    /// Requests that found their bucket empty, enforced or not.
    RateLimitOverLimit,
    /// Of those, the ones passed because the RateLimit does not enforce (shadow mode).
    RateLimitShadowed,
    DeniedBadRequest,
    DeniedInternal,
}

const NAMES: [&str; 24] = [
    "apirule_requests_allowed",
    "apirule_requests_denied_no_route",
    "apirule_requests_denied_no_token",
    "apirule_requests_denied_invalid_token",
    "apirule_requests_denied_forbidden",
    "apirule_requests_denied_unsupported",
    "apirule_requests_denied_keys_unavailable",
    "apirule_requests_denied_introspection_failure",
    "apirule_requests_denied_mutator_failure",
    "apirule_cors_preflights",
    "apirule_jwks_fetches",
    "apirule_jwks_fetch_failures",
    "apirule_calls",
    "apirule_call_failures",
    "apirule_token_cache_hits",
    "apirule_introspection_cache_hits",
    "apirule_requests_denied_ambiguous_path",
    "apirule_requests_denied_ext_authz",
    "apirule_requests_denied_ext_authz_failure",
    "apirule_requests_denied_rate_limited",
    "apirule_ratelimit_over_limit",
    "apirule_ratelimit_shadowed",
    "apirule_requests_denied_bad_request",
    "apirule_requests_denied_internal_error",
];

#[derive(Debug, Default)]
pub struct Metrics {
    ids: Vec<Option<u32>>,
    pending: Vec<Cell<u64>>,
}

impl Metrics {
    pub fn define() -> Metrics {
        Metrics {
            ids: NAMES.iter().map(|n| host::define_counter(n)).collect(),
            pending: NAMES.iter().map(|_| Cell::new(0)).collect(),
        }
    }

    /// Hands the counted increments to the host.
    pub fn flush(&self) {
        for (id, n) in self.ids.iter().zip(&self.pending) {
            let count = n.replace(0);
            if let (Some(id), true) = (id, count > 0) {
                host::increment(*id, i64::try_from(count).unwrap_or(i64::MAX));
            }
        }
    }

    pub fn add(&self, c: Counter, n: u64) {
        if n == 0 {
            return;
        }
        if let Some(p) = self.pending.get(c as usize) {
            p.set(p.get().saturating_add(n));
        }
    }

    pub fn inc(&self, c: Counter) {
        self.add(c, 1);
    }

    pub fn denied(&self, reason: DenyReason) {
        self.inc(match reason {
            DenyReason::NoRoute => Counter::DeniedNoRoute,
            DenyReason::NoToken => Counter::DeniedNoToken,
            DenyReason::InvalidToken => Counter::DeniedInvalidToken,
            DenyReason::Forbidden => Counter::DeniedForbidden,
            DenyReason::Unsupported => Counter::DeniedUnsupported,
            DenyReason::KeysUnavailable => Counter::DeniedKeysUnavailable,
            DenyReason::IntrospectionFailed => Counter::DeniedIntrospectionFailure,
            DenyReason::MutatorFailed => Counter::DeniedMutatorFailure,
            DenyReason::CorsPreflight => Counter::CorsPreflight,
            DenyReason::AmbiguousPath => Counter::DeniedAmbiguousPath,
            DenyReason::ExtAuthDenied => Counter::DeniedExtAuth,
            DenyReason::ExtAuthFailed => Counter::DeniedExtAuthFailure,
            DenyReason::RateLimited => Counter::DeniedRateLimited,
            DenyReason::BadRequest => Counter::DeniedBadRequest,
            DenyReason::Internal => Counter::DeniedInternal,
        });
    }
}
