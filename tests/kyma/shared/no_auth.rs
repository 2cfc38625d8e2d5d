//! The scenarios of Kyma's `no_auth.feature`, for the APIRule version the including test file
//! names (`v2_no_auth.rs`, `v2alpha1_no_auth.rs`).

use crate::common::*;
use crate::support::rendered_gateway_policy;
use serde_json::{json, Value};

const HOST: &str = "httpbin-kyma.local.kyma.dev";

/// The feature's APIRule, with `path` as the manifest has it.
fn apirule(version: &str, path: &str) -> Value {
    json!({"apiVersion": format!("gateway.kyma-project.io/{version}"), "kind": "APIRule",
           "metadata": {"name": "no-auth-kyma", "namespace": "default"},
           "spec": {"gateway": "kyma-system/kyma-gateway", "hosts": [HOST],
                    "service": {"name": "httpbin-kyma", "port": 8000},
                    "rules": [{"path": path, "methods": ["GET"], "noAuth": true}]}})
}

fn serve(version: &str, path: &str) -> (Upstream, Envoy) {
    let upstream = Upstream::start();
    let envoy = Envoy::start(
        &upstream,
        &json!({"apiRules": [apirule(version, path)]}).to_string(),
    );
    (upstream, envoy)
}

/// "Calling the "<p>" endpoint without a token should result in status between 200 and 200"
fn calls_unsecured(envoy: &Envoy) {
    for p in ["/ip", "/status/200", "/headers"] {
        assert_eq!(envoy.get(HOST, p).status, 200, "{p}");
    }
}

/// "Resource of Kind "AuthorizationPolicy" owned by APIRule exists" and "In-cluster calling ...
/// should fail": `apirule render --istio`, given the Service, writes the workload's policy that
/// admits only the gateway's identity (in a cluster, Istio then refuses in-cluster callers).
fn authorization_policy_admits_only_the_gateway(version: &str, path: &str) {
    let objects = json!({"apiVersion": "v1", "kind": "List", "items": [
        apirule(version, path),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "httpbin-kyma", "namespace": "default"},
         "spec": {"selector": {"app": "httpbin-kyma"}}}]});
    let policy = rendered_gateway_policy(&objects, &[]);
    assert!(policy.contains("app: httpbin-kyma"), "{policy}");
    assert!(
        policy.contains("cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"),
        "{policy}"
    );
}

/// Scenario: Calling a httpbin endpoint unsecured on all paths.
/// Not expressible here: "The APIRule contains original-version annotation set to "v2"" (the
/// API server's conversion webhook writes it; the filter reads the annotation, see
/// `cli_check.rs::v1beta1_apirules_stored_as_v2_are_read_as_v1beta1`).
pub fn calling_a_httpbin_endpoint_unsecured_on_all_paths(version: &str) {
    let (_u, envoy) = serve(version, "/*");
    calls_unsecured(&envoy);
    authorization_policy_admits_only_the_gateway(version, "/*");
}

/// Scenario: In-cluster calling a httpbin endpoint unsecured. Istio enforces it in a cluster; here
/// the rendered policy is checked (only the gateway's principal is admitted), and a direct
/// request that does not pass the gateway is what that policy refuses.
pub fn in_cluster_calling_a_httpbin_endpoint_unsecured(version: &str) {
    authorization_policy_admits_only_the_gateway(version, "/*");
}

/// Scenario: Updating an APIRule and calling a httpbin endpoint unsecured on all paths. The
/// update is a new plugin configuration (Istio pushes the WasmPlugin again).
pub fn updating_an_apirule_and_calling_a_httpbin_endpoint_unsecured_on_all_paths(version: &str) {
    let (_u, envoy) = serve(version, "/*");
    calls_unsecured(&envoy);
    drop(envoy);
    let (_u2, updated) = serve(version, "/{**}");
    calls_unsecured(&updated);
    // `/{**}` takes deeper paths too, GET only, as the manifest says.
    assert_eq!(updated.get(HOST, "/anything/a/b").status, 200);
    assert_eq!(updated.send("POST", HOST, "/anything", &[], "").status, 404);
    authorization_policy_admits_only_the_gateway(version, "/{**}");
}
