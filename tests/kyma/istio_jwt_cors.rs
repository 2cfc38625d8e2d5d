//! Kyma's conformance, translated: `tests/integration/testsuites/istio-jwt/features/cors.feature`
//! of kyma-project/api-gateway (commit 64d110d6), scenario by scenario, through Envoy with the
//! filter under the Istio jwt handler (`"jwtHandler": "istio"`). The APIRules are the feature's
//! manifests (`istio-default-cors.yaml`, `istio-custom-cors.yaml`): the v1beta1 spec each carries
//! in its `v1beta1-spec` annotation, with the template values filled in.
//! The APIRules are given as the cluster stores them and `kubectl get -o json` returns them
//! (v2, the v1beta1 spec in an annotation: `crate::common::as_stored`), as issue 15 asks.

use crate::common::*;
use serde_json::{json, Value};

const HOST: &str = "httpbin-kyma.local.kyma.dev";

/// Both manifests: every path, GET, `allow`; `cors` is the spec's `corsPolicy`, if any.
fn apirule(cors: Option<Value>) -> Value {
    let mut a = json!({"apiVersion": "gateway.kyma-project.io/v1beta1", "kind": "APIRule",
           "metadata": {"name": "istio-cors-kyma", "namespace": "default"},
           "spec": {"gateway": "kyma-system/kyma-gateway", "host": HOST,
                    "service": {"name": "httpbin-kyma", "port": 8000},
                    "rules": [{"path": "/.*", "methods": ["GET"],
                               "accessStrategies": [{"handler": "allow"}]}]}});
    if let Some(c) = cors {
        a["spec"]["corsPolicy"] = c;
    }
    a
}

fn serve(apirule: Value) -> (Upstream, Envoy) {
    let upstream = Upstream::start();
    let cfg = json!({"jwtHandler": "istio", "apiRules": [as_stored(&apirule)]});
    let envoy = Envoy::start(&upstream, &cfg.to_string());
    (upstream, envoy)
}

/// The suite's preflight: OPTIONS with `Origin` and `Access-Control-Request-Method:
/// GET,POST,PUT,DELETE,PATCH`.
fn preflight(envoy: &Envoy, path: &str, origin: &str) -> Response {
    envoy.send(
        "OPTIONS",
        HOST,
        path,
        &[
            ("Origin", origin),
            ("Access-Control-Request-Method", "GET,POST,PUT,DELETE,PATCH"),
        ],
        "",
    )
}

/// "Preflight calling ... should result in status code 200 and response header ... with value".
fn preflight_header(envoy: &Envoy, origin: &str, header: &str, value: &str) {
    let r = preflight(envoy, "/ip", origin);
    assert_eq!(r.status, 200, "{origin}: {r:?}");
    assert_eq!(r.header(header), Some(value), "{origin} {header}: {r:?}");
}

/// Scenario: CORS is set up to default when it is not specified in APIRule.
/// Deviation: the rule is `allow` for GET only. Kyma's VirtualService does not restrict the
/// methods of an `allow` rule, so Envoy's CORS filter answers the preflight on the route; the
/// filter routes a v1beta1 `allow` rule by its listed methods, so the OPTIONS preflight is 404
/// (README, "Compatibility with Kyma": "v1beta1 `allow` rule").
#[test]
fn cors_is_set_up_to_default_when_it_is_not_specified_in_apirule() {
    let (_u, envoy) = serve(apirule(None));
    preflight_header(
        &envoy,
        "localhost",
        "Access-Control-Allow-Origin",
        "localhost",
    );
    preflight_header(
        &envoy,
        "localhost",
        "Access-Control-Allow-Methods",
        "GET,POST,PUT,DELETE,PATCH",
    );
    preflight_header(
        &envoy,
        "localhost",
        "Access-Control-Allow-Headers",
        "Authorization,Content-Type,*",
    );
}

/// Scenario: CORS is set up to custom values in APIRule. The preflight from `localhost` (not
/// allowed) goes on to httpbin, which answers OPTIONS with 200; its CORS headers are removed, as
/// the APIRule has its own policy. Deviation: as in the default scenario, the `allow` rule lists
/// GET only and the filter answers every OPTIONS with 404.
#[test]
fn cors_is_set_up_to_custom_values_in_apirule() {
    // istio-custom-cors.yaml: maxAge is a duration in v1beta1.
    let (_u, envoy) = serve(apirule(Some(json!({
        "allowHeaders": ["x-custom-allow-headers"], "allowMethods": ["GET", "POST"],
        "allowOrigins": [{"regex": ".*local.kyma.dev"}], "allowCredentials": false,
        "exposeHeaders": ["x-custom-expose-headers"], "maxAge": "5m0s"}))));
    preflight_header(
        &envoy,
        "test.local.kyma.dev",
        "Access-Control-Allow-Origin",
        "test.local.kyma.dev",
    );
    let r = preflight(&envoy, "/ip", "localhost");
    assert_eq!(r.status, 200, "origin localhost: {r:?}");
    assert_eq!(r.header("Access-Control-Allow-Origin"), None, "{r:?}");
    preflight_header(
        &envoy,
        "a.local.kyma.dev",
        "Access-Control-Allow-Methods",
        "GET,POST",
    );
    preflight_header(
        &envoy,
        "b.local.kyma.dev",
        "Access-Control-Allow-Headers",
        "x-custom-allow-headers",
    );
    preflight_header(
        &envoy,
        "c.local.kyma.dev",
        "Access-Control-Expose-Headers",
        "x-custom-expose-headers",
    );
    preflight_header(&envoy, "d.local.kyma.dev", "Access-Control-Max-Age", "300");
}
