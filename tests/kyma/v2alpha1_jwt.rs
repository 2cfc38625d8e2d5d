//! Kyma's conformance, translated: `tests/integration/testsuites/v2alpha1/features/jwt.feature`
//! of kyma-project/api-gateway (commit 64d110d6), one test per scenario, through Envoy with the
//! filter. The scenarios are shared by the versions: `tests/kyma/shared/jwt.rs`.

#[path = "shared/jwt.rs"]
#[allow(dead_code)] // the in-cluster scenarios are v2 only
mod scenarios;

#[test]
fn calling_a_httpbin_endpoint_secured() {
    scenarios::calling_a_httpbin_endpoint_secured("v2alpha1");
}

#[test]
fn calling_a_httpbin_endpoint_secured_on_all_paths() {
    scenarios::calling_a_httpbin_endpoint_secured_on_all_paths("v2alpha1");
}

#[test]
fn calling_httpbin_that_has_an_endpoint_secured_by_jwt_and_unrestricted_endpoint() {
    scenarios::calling_httpbin_that_has_an_endpoint_secured_by_jwt_and_unrestricted_endpoint(
        "v2alpha1",
    );
}

#[test]
fn calling_a_httpbin_endpoint_secured_with_jwt_that_requires_scopes_claims() {
    scenarios::calling_a_httpbin_endpoint_secured_with_jwt_that_requires_scopes_claims("v2alpha1");
}

#[test]
fn calling_a_httpbin_endpoint_secured_with_jwt_that_requires_aud_claim() {
    scenarios::calling_a_httpbin_endpoint_secured_with_jwt_that_requires_aud_claim("v2alpha1");
}

#[test]
fn exposing_a_jwt_secured_endpoint_with_unavailable_issuer_and_jwks_url() {
    scenarios::exposing_a_jwt_secured_endpoint_with_unavailable_issuer_and_jwks_url("v2alpha1");
}

#[test]
fn exposing_a_jwt_secured_endpoint_where_issuer_url_doesnt_belong_to_jwks_url() {
    scenarios::exposing_a_jwt_secured_endpoint_where_issuer_url_doesnt_belong_to_jwks_url(
        "v2alpha1",
    );
}

#[test]
fn exposing_an_endpoint_secured_with_different_jwt_token_from_headers() {
    scenarios::exposing_an_endpoint_secured_with_different_jwt_token_from_headers("v2alpha1");
}

#[test]
fn calling_a_httpbin_endpoint_secured_with_different_jwt_token_from_params() {
    scenarios::calling_a_httpbin_endpoint_secured_with_different_jwt_token_from_params("v2alpha1");
}
