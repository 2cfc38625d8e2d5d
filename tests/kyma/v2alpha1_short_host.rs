//! Kyma's conformance, translated: `tests/integration/testsuites/v2alpha1/features/short_host.feature`
//! of kyma-project/api-gateway (commit 64d110d6), one test per scenario, through Envoy with the
//! filter. The scenarios are shared by the versions: `tests/kyma/shared/short_host.rs`.

#[path = "shared/short_host.rs"]
mod scenarios;

const API_VERSION: &str = "gateway.kyma-project.io/v2alpha1";

#[test]
fn calling_a_httpbin_endpoint_unsecured() {
    scenarios::calling_a_httpbin_endpoint_unsecured();
}

#[test]
fn calling_a_httpbin_endpoint_unsecured_error_scenario() {
    scenarios::calling_a_httpbin_endpoint_unsecured_error_scenario();
}
