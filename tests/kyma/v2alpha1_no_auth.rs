//! Kyma's conformance, translated: `tests/integration/testsuites/v2alpha1/features/no_auth.feature`
//! of kyma-project/api-gateway (commit 64d110d6), one test per scenario, through Envoy with the
//! filter. The scenarios are shared by the versions: `tests/kyma/shared/no_auth.rs`.

#[path = "shared/no_auth.rs"]
#[allow(dead_code)] // the in-cluster scenarios are v2 only
mod scenarios;

#[test]
fn calling_a_httpbin_endpoint_unsecured_on_all_paths() {
    scenarios::calling_a_httpbin_endpoint_unsecured_on_all_paths("v2alpha1");
}

#[test]
fn updating_an_apirule_and_calling_a_httpbin_endpoint_unsecured_on_all_paths() {
    scenarios::updating_an_apirule_and_calling_a_httpbin_endpoint_unsecured_on_all_paths(
        "v2alpha1",
    );
}
