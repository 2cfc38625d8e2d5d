//! Kyma's conformance, translated: `tests/integration/testsuites/v2alpha1/features/request.feature`
//! of kyma-project/api-gateway (commit 64d110d6), one test per scenario, through Envoy with the
//! filter. The scenarios are shared by the versions: `tests/kyma/shared/request.rs`.

#[path = "shared/request.rs"]
mod scenarios;

const API_VERSION: &str = "gateway.kyma-project.io/v2alpha1";

#[test]
fn exposing_an_endpoint_with_request_header_configured() {
    scenarios::exposing_an_endpoint_with_request_header_configured();
}

#[test]
fn exposing_an_endpoint_with_request_cookie_configured() {
    scenarios::exposing_an_endpoint_with_request_cookie_configured();
}
