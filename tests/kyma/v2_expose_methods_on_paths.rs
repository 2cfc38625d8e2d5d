//! Kyma's conformance, translated: `tests/integration/testsuites/v2/features/expose_methods_on_paths.feature`
//! of kyma-project/api-gateway (commit 64d110d6), one test per scenario, through Envoy with the
//! filter. The scenarios are shared by the versions: `tests/kyma/shared/expose_methods_on_paths.rs`.

#[path = "shared/expose_methods_on_paths.rs"]
mod scenarios;

const API_VERSION: &str = "gateway.kyma-project.io/v2";

#[test]
fn expose_get_post_method_for_anything_and_only_put_for_anything_put_with_noauth() {
    scenarios::expose_get_post_method_for_anything_and_only_put_for_anything_put_with_noauth();
}

#[test]
fn expose_get_post_method_for_anything_and_only_put_for_anything_put_secured_by_jwt() {
    scenarios::expose_get_post_method_for_anything_and_only_put_for_anything_put_secured_by_jwt();
}
