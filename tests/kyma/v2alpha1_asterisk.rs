//! Kyma's conformance, translated: `tests/integration/testsuites/v2alpha1/features/asterisk.feature`
//! of kyma-project/api-gateway (commit 64d110d6), one test per scenario, through Envoy with the
//! filter. The scenarios are shared by the versions: `tests/kyma/shared/asterisk.rs`.

#[path = "shared/asterisk.rs"]
mod scenarios;

const API_VERSION: &str = "gateway.kyma-project.io/v2alpha1";

#[test]
fn exposure_of_service_using_asterisks_in_paths() {
    scenarios::exposure_of_service_using_asterisks_in_paths();
}
