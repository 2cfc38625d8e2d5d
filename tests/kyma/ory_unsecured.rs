//! Kyma's conformance, translated: `tests/integration/testsuites/ory/features/unsecured.feature`
//! of kyma-project/api-gateway (commit 64d110d6), scenario by scenario, through Envoy with the
//! filter under the Ory handler (Kyma's default). The APIRule is the feature's manifest
//! (`unsecured.yaml`, its v1beta1 spec) with its template values filled in.
//! The APIRules are given as the cluster stores them and `kubectl get -o json` returns them
//! (v2, the v1beta1 spec in an annotation: `crate::common::as_stored`), as issue 15 asks.

use crate::common::*;
use serde_json::{json, Value};

const HOST: &str = "httpbin-kyma.local.kyma.dev";

/// `unsecured.yaml`: every path, GET, `noop`.
fn apirule() -> Value {
    json!({"apiVersion": "gateway.kyma-project.io/v1beta1", "kind": "APIRule",
           "metadata": {"name": "unsecured-kyma", "namespace": "default"},
           "spec": {"gateway": "kyma-system/kyma-gateway", "host": HOST,
                    "service": {"name": "httpbin-kyma", "port": 8000},
                    "rules": [{"path": "/.*", "methods": ["GET"],
                               "accessStrategies": [{"handler": "noop"}]}]}})
}

fn between(r: &Response, lo: u16, hi: u16, what: &str) {
    assert!((lo..=hi).contains(&r.status), "{what}: {r:?}");
}

/// Scenario: Unsecured: Calling an unsecured API endpoint. "Any token" is the suite's
/// `Authorization: any`.
#[test]
fn unsecured_calling_an_unsecured_api_endpoint() {
    let upstream = Upstream::start();
    let cfg = json!({"jwtHandler": "ory", "apiRules": [as_stored(&apirule())]});
    let envoy = Envoy::start(&upstream, &cfg.to_string());
    let r = envoy.send("GET", HOST, "/headers", &[("Authorization", "any")], "");
    between(&r, 200, 299, "any token");
    between(&envoy.get(HOST, "/headers"), 200, 299, "no token");
}
