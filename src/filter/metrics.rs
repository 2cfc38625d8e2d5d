//! Counters in Envoy's stats (`/stats/prometheus` shows them with Envoy's custom-metric prefix,
//! e.g. `wasmcustom_apirule_requests_denied_no_token`). Defined once per VM; a host that refuses a
//! metric leaves it a no-op, never an error on the request path.

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

use crate::response::DenyReason;

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
}

const NAMES: [&str; 16] = [
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
];

#[derive(Debug, Default)]
pub struct Metrics {
    ids: Vec<Option<u32>>,
}

impl Metrics {
    pub fn define() -> Metrics {
        Metrics {
            ids: NAMES
                .iter()
                .map(|n| hostcalls::define_metric(MetricType::Counter, n).ok())
                .collect(),
        }
    }

    pub fn add(&self, c: Counter, n: u64) {
        if n == 0 {
            return;
        }
        if let Some(Some(id)) = self.ids.get(c as usize) {
            let _ = hostcalls::increment_metric(*id, i64::try_from(n).unwrap_or(i64::MAX));
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
        });
    }
}
