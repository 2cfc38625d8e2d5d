//! Kyma's conformance, translated: `tests/integration/testsuites/v2alpha1/features/ext_auth.feature`
//! of kyma-project/api-gateway (commit 64d110d6), one test per scenario, through Envoy with the
//! filter. The scenarios are shared by the versions: `tests/kyma/shared/ext_auth.rs`.

#[path = "shared/ext_auth.rs"]
mod scenarios;

const API_VERSION: &str = "gateway.kyma-project.io/v2alpha1";

#[test]
fn calling_a_httpbin_endpoint_secured_with_extauth() {
    scenarios::calling_a_httpbin_endpoint_secured_with_extauth();
}

#[test]
fn calling_a_httpbin_endpoint_secured_with_extauth_with_jwt_restrictions() {
    scenarios::calling_a_httpbin_endpoint_secured_with_extauth_with_jwt_restrictions();
}
