//! Kyma's conformance, translated: `tests/integration/testsuites/{v2,v2alpha1}/features/cors.feature` of
//! kyma-project/api-gateway (commit 64d110d6), scenario by scenario, through Envoy with the
//! filter. The APIRules are the feature's manifests (`cors-default.yaml`, `cors-custom.yaml`)
//! with their template values filled in.
//! Shared by `v2_cors.rs` and `v2alpha1_cors.rs` (the feature files are the same;
//! `super::API_VERSION` is the version under test).

use crate::common::*;
use serde_json::{json, Value};

const HOST: &str = "httpbin-kyma.local.kyma.dev";

/// The feature's APIRule: one `noAuth` rule for `OPTIONS` on every path, `corsPolicy` if given.
fn apirule(name: &str, cors: Option<Value>) -> Value {
    let mut a = json!({"apiVersion": super::API_VERSION, "kind": "APIRule",
           "metadata": {"name": name, "namespace": "default"},
           "spec": {"gateway": "kyma-system/kyma-gateway", "hosts": [HOST],
                    "service": {"name": "httpbin-kyma", "port": 8000},
                    "rules": [{"path": "/*", "methods": ["OPTIONS"], "noAuth": true}]}});
    if let Some(c) = cors {
        a["spec"]["corsPolicy"] = c;
    }
    a
}

fn serve(apirule: Value) -> (Upstream, Envoy) {
    let upstream = Upstream::start();
    let envoy = Envoy::start(&upstream, &json!({"apiRules": [apirule]}).to_string());
    (upstream, envoy)
}

/// "Preflight calling the "/ip" endpoint with header Origin:"<origin>"": OPTIONS with that
/// `Origin` and `Access-Control-Request-Method: GET,POST,PUT,DELETE,PATCH`, as Kyma's step sends.
fn preflight(envoy: &Envoy, origin: &str) -> Response {
    envoy.send(
        "OPTIONS",
        HOST,
        "/ip",
        &[
            ("Origin", origin),
            ("Access-Control-Request-Method", "GET,POST,PUT,DELETE,PATCH"),
        ],
        "",
    )
}

/// "... should result in status code 200 and no response header "<name>"".
fn no_header(envoy: &Envoy, origin: &str, name: &str) {
    let r = preflight(envoy, origin);
    assert_eq!(r.status, 200, "{origin}: {r:?}");
    assert_eq!(r.header(name), None, "{origin}: {name}: {r:?}");
}

/// "... should result in status code 200 and response header "<name>" with value "<value>"".
fn header_is(envoy: &Envoy, origin: &str, name: &str, value: &str) {
    let r = preflight(envoy, origin);
    assert_eq!(r.status, 200, "{origin}: {r:?}");
    assert_eq!(r.header(name), Some(value), "{origin}: {name}: {r:?}");
}

/// Scenario: No headers are returned when CORS is not specified in APIRule.
pub fn no_headers_are_returned_when_cors_is_not_specified_in_apirule() {
    // cors-default.yaml
    let (_u, envoy) = serve(apirule("cors-default-kyma", None));
    for name in [
        "Access-Control-Allow-Origin",
        "Access-Control-Allow-Methods",
        "Access-Control-Allow-Headers",
        "Access-Control-Expose-Headers",
        "Access-Control-Allow-Credentials",
        "Access-Control-Max-Age",
    ] {
        no_header(&envoy, "localhost", name);
    }
}

/// Scenario: CORS is set up to custom values in APIRule.
pub fn cors_is_set_up_to_custom_values_in_apirule() {
    // cors-custom.yaml with the step's values: AllowOrigins '["regex": ".*local.kyma.dev"]',
    // AllowMethods '["GET", "POST"]', AllowHeaders '["x-custom-allow-headers"]',
    // AllowCredentials "false", ExposeHeaders '["x-custom-expose-headers"]', MaxAge "300".
    let cors = json!({"allowOrigins": [{"regex": ".*local.kyma.dev"}],
                      "allowMethods": ["GET", "POST"],
                      "allowHeaders": ["x-custom-allow-headers"],
                      "allowCredentials": false,
                      "exposeHeaders": ["x-custom-expose-headers"],
                      "maxAge": 300});
    let (_u, envoy) = serve(apirule("cors-custom-kyma", Some(cors)));
    header_is(
        &envoy,
        "test.local.kyma.dev",
        "Access-Control-Allow-Origin",
        "test.local.kyma.dev",
    );
    no_header(&envoy, "localhost", "Access-Control-Allow-Origin");
    header_is(
        &envoy,
        "a.local.kyma.dev",
        "Access-Control-Allow-Methods",
        "GET,POST",
    );
    header_is(
        &envoy,
        "b.local.kyma.dev",
        "Access-Control-Allow-Headers",
        "x-custom-allow-headers",
    );
    header_is(
        &envoy,
        "c.local.kyma.dev",
        "Access-Control-Expose-Headers",
        "x-custom-expose-headers",
    );
    header_is(&envoy, "d.local.kyma.dev", "Access-Control-Max-Age", "300");
}
