//! Kyma's conformance, translated: `tests/integration/testsuites/v2/features/validation.feature`
//! of kyma-project/api-gateway (commit 64d110d6), one test per scenario, through Envoy with the
//! filter. The scenarios are shared by the versions: `tests/kyma/shared/validation.rs`.

#[path = "shared/validation.rs"]
mod scenarios;

const API_VERSION: &str = "gateway.kyma-project.io/v2";

#[test]
fn validation_errors_on_misconfigured_apirule() {
    scenarios::validation_errors_on_misconfigured_apirule();
}
