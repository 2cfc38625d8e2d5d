//! apirule-core: everything that decides a request for Kyma APIRules, as plain Rust. The
//! Proxy-Wasm shell (crate `apirule-wasm`) moves bytes between Envoy and this crate; this crate
//! has no proxy-wasm dependency, so it cannot call the host.
//!
//! Where a request is decided: [`decide::decide`]. The rest, in the order data flows:
//!
//! - [`config`]: the plugin configuration and the APIRule versions it carries (serde types),
//!   normalised into one [`config::model`].
//! - [`validate`]: Kyma's validation, with Kyma's attribute paths and messages.
//! - [`compile`]: valid APIRules → [`compile::RuleSet`] (host index, path matchers).
//! - [`matcher`]: hosts, paths (v2 templates, v1beta1 regexes) and methods.
//! - [`jwt`]: token parsing, JWKS, signature checks, Istio and Ory semantics.
//! - [`extauth`]: v2 `extAuth` rules, asked as Envoy's HTTP ext_authz asks.
//! - [`callout`]: which Envoy cluster a JWKS (or other) URI is fetched through.
//! - [`decide`]: request → [`decide::Decision`] (allow with header writes, or deny).
//! - [`ratelimit`]: Kyma's RateLimit: bucket choice and token arithmetic (shared data in the shell).
//! - [`response`]: deny responses in Istio's and Oathkeeper's shapes.
//! - [`headers`]: what may stand in a header or cookie the filter writes (Envoy's and Go's rules).
//!
//! Tested natively with `cargo test`.

pub mod access;
pub mod cache;
pub mod callout;
pub mod compile;
pub mod config;
pub mod cors;
pub mod decide;
pub mod decimal;
pub mod explain;
pub mod headers;
pub mod jwt;
pub mod matcher;
pub mod mutate;
pub mod pipeline;
pub mod ratelimit;
pub mod render;
pub mod report;
pub mod request;
pub mod response;
pub mod validate;

/// Request or response headers for unit tests, from `(name, value)` pairs: a request's
/// [`request::HeaderList`] or owned pairs, whichever the test compares with.
#[cfg(test)]
pub(crate) fn test_headers<T: From<request::HeaderList>>(pairs: &[(&str, &str)]) -> T {
    T::from(request::HeaderList::of(pairs))
}
