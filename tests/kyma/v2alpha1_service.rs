//! Kyma's conformance, translated: `tests/integration/testsuites/v2alpha1/features/service.feature`
//! of kyma-project/api-gateway (commit 64d110d6), one test per scenario, through Envoy with the
//! filter. The scenarios are shared by the versions: `tests/kyma/shared/service.rs`.

#[path = "shared/service.rs"]
mod scenarios;

const API_VERSION: &str = "gateway.kyma-project.io/v2alpha1";

#[test]
fn exposing_endpoints_in_two_namespaces() {
    scenarios::exposing_endpoints_in_two_namespaces();
}

#[test]
fn exposing_different_services_with_same_methods() {
    scenarios::exposing_different_services_with_same_methods();
}

#[test]
fn calling_a_helloworld_endpoint_with_custom_label_selector_service() {
    scenarios::calling_a_helloworld_endpoint_with_custom_label_selector_service();
}

#[test]
fn endpoints_exposed_in_apirule_should_fallback_to_service_defined_on_root_level_when_there_is_no_service_defined_on_rule_level(
) {
    scenarios::endpoints_exposed_in_apirule_should_fallback_to_service_defined_on_root_level_when_there_is_no_service_defined_on_rule_level();
}
