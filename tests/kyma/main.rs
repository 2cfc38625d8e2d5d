//! Kyma's conformance suite, translated: the integration features of kyma-project/api-gateway
//! (commit 64d110d6), one file per feature file (`<suite>_<feature>.rs`), one test per scenario,
//! through Envoy with the filter; `shared/` holds the scenarios v2 and v2alpha1 have in common.
//! One test binary for all of them: run one feature with `cargo test --test kyma v2_jwt`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// `shared/` files are compiled once per APIRule version on purpose (`super::API_VERSION`).
#![allow(clippy::duplicate_mod)]

#[path = "../common/mod.rs"]
mod common;
mod support;

mod e2e_asterisk;
mod e2e_custom_domain;
mod istio_jwt_cors;
mod istio_jwt_expose_methods_on_paths;
mod istio_jwt_istio_jwt;
mod istio_jwt_istio_jwt_mutators;
mod istio_jwt_istio_jwt_two_strategies;
mod istio_jwt_v2;
mod ory_cors;
mod ory_expose_methods_on_paths;
mod ory_oauth2_jwt_1path;
mod ory_oauth2_jwt_2path;
mod ory_oauth2_secured_endpoint;
mod ory_secure_to_unsecure;
mod ory_service_per_path;
mod ory_unsecure_to_secure_oauth2_jwt;
mod ory_unsecured;
mod ory_v2alpha1_conversion;
mod ratelimit_local_rate_limit;
mod ratelimit_local_rate_limit_targeting_ingress_gateway;
mod v2_asterisk;
mod v2_cors;
mod v2_expose_methods_on_paths;
mod v2_ext_auth;
mod v2_jwt;
mod v2_no_auth;
mod v2_request;
mod v2_service;
mod v2_short_host;
mod v2_validation;
mod v2alpha1_asterisk;
mod v2alpha1_cors;
mod v2alpha1_expose_methods_on_paths;
mod v2alpha1_ext_auth;
mod v2alpha1_jwt;
mod v2alpha1_no_auth;
mod v2alpha1_request;
mod v2alpha1_service;
mod v2alpha1_short_host;
mod v2alpha1_validation;
