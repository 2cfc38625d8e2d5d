//! Kyma's conformance, translated: `tests/integration/testsuites/{v2,v2alpha1}/features/request.feature` of
//! kyma-project/api-gateway (commit 64d110d6), scenario by scenario, through Envoy with the
//! filter. The APIRules are the feature's manifests (`jwt-request-header.yaml`,
//! `jwt-request-cookie.yaml`, both `noAuth` despite their names) with their template values
//! filled in. httpbin's `/headers` echoes what the upstream received.
//! Shared by `v2_request.rs` and `v2alpha1_request.rs` (the feature files are the same;
//! `super::API_VERSION` is the version under test).

use crate::common::*;
use serde_json::{json, Value};

const HOST: &str = "httpbin-kyma.local.kyma.dev";

fn serve(name: &str, request: Value) -> (Upstream, Envoy) {
    let upstream = Upstream::start();
    let apirule = json!({"apiVersion": super::API_VERSION, "kind": "APIRule",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"gateway": "kyma-system/kyma-gateway", "hosts": [HOST],
                 "service": {"name": "httpbin-kyma", "port": 8000},
                 "rules": [{"path": "/headers", "methods": ["GET"], "noAuth": true,
                            "request": request}]}});
    let envoy = Envoy::start(&upstream, &json!({"apiRules": [apirule]}).to_string());
    (upstream, envoy)
}

/// "Calling the "/headers" endpoint should return response with header "<name>" with value
/// "<value>"": Kyma's step checks that the body holds both strings; here also that httpbin saw
/// exactly that header.
fn upstream_saw(envoy: &Envoy, name: &str, value: &str) {
    let r = envoy.get(HOST, "/headers");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.body.contains(name) && r.body.contains(value),
        "{name}: {value} not in {}",
        r.body
    );
    assert_eq!(r.upstream_header(name).as_deref(), Some(value), "{r:?}");
}

/// Scenario: Exposing an endpoint with request header configured.
pub fn exposing_an_endpoint_with_request_header_configured() {
    // jwt-request-header.yaml with header "X-Request-Test", value "a-header-value"
    let (_u, envoy) = serve(
        "jwt-request-header-kyma",
        json!({"headers": {"X-Request-Test": "a-header-value"}}),
    );
    upstream_saw(&envoy, "X-Request-Test", "a-header-value");
}

/// Scenario: Exposing an endpoint with request cookie configured.
pub fn exposing_an_endpoint_with_request_cookie_configured() {
    // jwt-request-cookie.yaml with cookie "x-request-test", value "a-cookie-value"
    let (_u, envoy) = serve(
        "jwt-request-cookie-kyma",
        json!({"cookies": {"x-request-test": "a-cookie-value"}}),
    );
    upstream_saw(&envoy, "Cookie", "x-request-test=a-cookie-value");
}
