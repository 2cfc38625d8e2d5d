//! Kyma's conformance, translated: `tests/integration/testsuites/v2/features/no_auth.feature`
//! of kyma-project/api-gateway (commit 64d110d6), one test per scenario, through Envoy with the
//! filter. The scenarios are shared by the versions: `tests/kyma/shared/no_auth.rs`.

#[path = "shared/no_auth.rs"]
mod scenarios;

#[test]
fn calling_a_httpbin_endpoint_unsecured_on_all_paths() {
    scenarios::calling_a_httpbin_endpoint_unsecured_on_all_paths("v2");
}

#[test]
fn in_cluster_calling_a_httpbin_endpoint_unsecured() {
    scenarios::in_cluster_calling_a_httpbin_endpoint_unsecured("v2");
}

#[test]
fn updating_an_apirule_and_calling_a_httpbin_endpoint_unsecured_on_all_paths() {
    scenarios::updating_an_apirule_and_calling_a_httpbin_endpoint_unsecured_on_all_paths("v2");
}
