//! Kyma's conformance, translated: `tests/integration/testsuites/v2/features/cors.feature`
//! of kyma-project/api-gateway (commit 64d110d6), one test per scenario, through Envoy with the
//! filter. The scenarios are shared by the versions: `tests/kyma/shared/cors.rs`.

#[path = "shared/cors.rs"]
mod scenarios;

const API_VERSION: &str = "gateway.kyma-project.io/v2";

#[test]
fn no_headers_are_returned_when_cors_is_not_specified_in_apirule() {
    scenarios::no_headers_are_returned_when_cors_is_not_specified_in_apirule();
}

#[test]
fn cors_is_set_up_to_custom_values_in_apirule() {
    scenarios::cors_is_set_up_to_custom_values_in_apirule();
}
