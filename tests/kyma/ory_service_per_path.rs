//! Kyma's conformance, translated: `tests/integration/testsuites/ory/features/
//! service_per_path.feature` of kyma-project/api-gateway (commit 64d110d6), scenario by scenario,
//! through Envoy with the filter under the Ory handler (Kyma's default). The APIRule is the
//! feature's manifest (`service-per-path.yaml`, its v1beta1 spec) with its template values filled
//! in. Routing to the service a rule names is Envoy's, from the routes `apirule render --envoy`
//! writes (in Istio, from the VirtualService): httpbin and a helloworld stand-in on loopback.
//! The APIRules are given as the cluster stores them and `kubectl get -o json` returns them
//! (v2, the v1beta1 spec in an annotation: `crate::common::as_stored`), as issue 15 asks.

use crate::common::*;
use crate::support::{serve_rendered, start_helloworld};
use serde_json::{json, Value};

const HOST: &str = "httpbin-kyma.local.kyma.dev";

/// `service-per-path.yaml`: `/headers` on the APIRule's service (httpbin), `/hello` on the rule's
/// own service (helloworld, port 5000); GET, `noop` on both.
fn apirule() -> Value {
    json!({"apiVersion": "gateway.kyma-project.io/v1beta1", "kind": "APIRule",
           "metadata": {"name": "service-per-path-kyma", "namespace": "default"},
           "spec": {"gateway": "kyma-system/kyma-gateway", "host": HOST,
                    "service": {"name": "httpbin-kyma", "port": 8000},
                    "rules": [
                        {"path": "/headers", "methods": ["GET"],
                         "accessStrategies": [{"handler": "noop"}]},
                        {"path": "/hello", "methods": ["GET"],
                         "service": {"name": "helloworld-kyma", "port": 5000},
                         "accessStrategies": [{"handler": "noop"}]}]}})
}

/// Scenario: Service per path. "Any token" is `Authorization: any`.
#[test]
fn service_per_path() {
    let upstream = Upstream::start();
    let helloworld = start_helloworld();
    let plugin = json!({"jwtHandler": "ory", "apiRules": [as_stored(&apirule())]});
    let envoy = serve_rendered(
        &plugin,
        &[
            ("httpbin-kyma.default", upstream.port),
            ("helloworld-kyma.default", helloworld),
        ],
    );
    for path in ["/headers", "/hello"] {
        let r = envoy.send("GET", HOST, path, &[("Authorization", "any")], "");
        assert!((200..=299).contains(&r.status), "{path} any token: {r:?}");
        let r = envoy.get(HOST, path);
        assert!((200..=299).contains(&r.status), "{path} no token: {r:?}");
    }
    // Each path reached its own service.
    assert!(envoy
        .get(HOST, "/hello")
        .body
        .starts_with("Hello version: v1"));
    assert!(envoy.get(HOST, "/headers").body.contains("\"headers\""));
}
