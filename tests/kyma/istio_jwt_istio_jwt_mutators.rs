//! Kyma's conformance, translated: `tests/integration/testsuites/istio-jwt/features/
//! istio_jwt_mutators.feature` of kyma-project/api-gateway (commit 64d110d6), scenario by
//! scenario, through Envoy with the filter under the Istio jwt handler (`"jwtHandler": "istio"`)
//! and a real OpenID provider on loopback. The APIRules are the feature's manifests
//! (`istio-jwt-mutator-header.yaml`, `istio-jwt-mutator-cookie.yaml`,
//! `istio-jwt-multiple-mutators.yaml`, `istio-jwt-mutators-overwrite.yaml`): the v1beta1 spec each
//! carries in its `v1beta1-spec` annotation, with the template values filled in. Like the suite,
//! the tests read what httpbin received from its echo (`/headers`, `/cookies`) as text.
//! The APIRules are given as the cluster stores them and `kubectl get -o json` returns them
//! (v2, the v1beta1 spec in an annotation: `crate::common::as_stored`), as issue 15 asks.

use crate::common::*;
use serde_json::{json, Value};

const HOST: &str = "httpbin-kyma.local.kyma.dev";

/// A `jwt` rule (the provider's issuer and JWKS) on `path`, GET, with `mutators`.
fn rule(idp: &Idp, path: &str, mutators: Value) -> Value {
    json!({"path": path, "methods": ["GET"], "mutators": mutators,
           "accessStrategies": [{"handler": "jwt", "config": {"authentications": [
               {"issuer": idp.issuer(), "jwksUri": idp.jwks_uri()}]}}]})
}

fn serve(idp: &Idp, rules: Value) -> (Upstream, Envoy) {
    let upstream = Upstream::start();
    let apirule = json!({"apiVersion": "gateway.kyma-project.io/v1beta1", "kind": "APIRule",
        "metadata": {"name": "istio-jwt-mutators-kyma", "namespace": "default"},
        "spec": {"gateway": "kyma-system/kyma-gateway", "host": HOST,
                 "service": {"name": "httpbin-kyma", "port": 8000}, "rules": rules}});
    let cfg = json!({"jwtHandler": "istio", "clusters": {idp.issuer(): "idp"},
                     "apiRules": [as_stored(&apirule)]});
    let opts = EnvoyOptions {
        idp_port: idp.port,
        ..Default::default()
    };
    let envoy = Envoy::start_with(&upstream, &cfg.to_string(), opts);
    (upstream, envoy)
}

/// The suite's call: a valid JWT (no scope) as `Authorization: Bearer`, plus `headers`; the body
/// must contain each `"name": "value"` pair.
fn body_contains(
    envoy: &Envoy,
    idp: &Idp,
    path: &str,
    headers: &[(&str, &str)],
    pairs: &[(&str, &str)],
) {
    let bearer = format!("Bearer {}", idp.token("rs256", ""));
    let mut all = vec![("Authorization", bearer.as_str())];
    all.extend_from_slice(headers);
    let r = envoy.send("GET", HOST, path, &all, "");
    for (k, v) in pairs {
        let expected = format!("\"{k}\": \"{v}\"");
        assert!(r.body.contains(&expected), "{expected} in {r:?}");
    }
}

/// Scenario: Exposing an endpoint with header mutator configured.
#[test]
fn exposing_an_endpoint_with_header_mutator_configured() {
    let idp = Idp::start(300);
    let mutators = json!([{"handler": "header",
                           "config": {"headers": {"x-mutators-test": "a-header-value"}}}]);
    let (_u, envoy) = serve(&idp, json!([rule(&idp, "/headers", mutators)]));
    body_contains(
        &envoy,
        &idp,
        "/headers",
        &[],
        &[("X-Mutators-Test", "a-header-value")],
    );
}

/// Scenario: Exposing an endpoint with cookie mutator configured.
#[test]
fn exposing_an_endpoint_with_cookie_mutator_configured() {
    let idp = Idp::start(300);
    let mutators = json!([{"handler": "cookie",
                           "config": {"cookies": {"x-mutators-test": "a-cookie-value"}}}]);
    let (_u, envoy) = serve(&idp, json!([rule(&idp, "/cookies", mutators)]));
    body_contains(
        &envoy,
        &idp,
        "/cookies",
        &[],
        &[("x-mutators-test", "a-cookie-value")],
    );
}

/// Scenario: Exposing an endpoint with a header mutator setting multiple headers and cookie
/// mutator setting multiple cookies.
#[test]
fn exposing_an_endpoint_with_a_header_mutator_setting_multiple_headers_and_cookie_mutator_setting_multiple_cookies(
) {
    let idp = Idp::start(300);
    let mutators = json!([
        {"handler": "header", "config": {"headers": {
            "x-header-mutators-test": "a-header-value", "x-header-mutators-test2": "a-header-value2"}}},
        {"handler": "cookie", "config": {"cookies": {
            "x-cookie-mutators-test": "a-cookie-value", "x-cookie-mutators-test2": "a-cookie-value2"}}}
    ]);
    let (_u, envoy) = serve(
        &idp,
        json!([
            rule(&idp, "/headers", mutators.clone()),
            rule(&idp, "/cookies", mutators)
        ]),
    );
    body_contains(
        &envoy,
        &idp,
        "/headers",
        &[],
        &[
            ("X-Header-Mutators-Test", "a-header-value"),
            ("X-Header-Mutators-Test2", "a-header-value2"),
        ],
    );
    body_contains(
        &envoy,
        &idp,
        "/cookies",
        &[],
        &[
            ("x-cookie-mutators-test", "a-cookie-value"),
            ("x-cookie-mutators-test2", "a-cookie-value2"),
        ],
    );
}

/// Scenario: Exposing an endpoint with header and cookie mutator configured should overwrite the
/// original header and cookie.
#[test]
fn exposing_an_endpoint_with_header_and_cookie_mutator_configured_should_overwrite_the_original_header_and_cookie(
) {
    let idp = Idp::start(300);
    let mutators = json!([
        {"handler": "header", "config": {"headers": {"x-mutators-test": "a-mutator-value"}}},
        {"handler": "cookie", "config": {"cookies": {"x-mutators-test": "a-mutator-cookie-value"}}}
    ]);
    let (_u, envoy) = serve(&idp, json!([rule(&idp, "/headers", mutators)]));
    body_contains(
        &envoy,
        &idp,
        "/headers",
        &[("Cookie", "x-cookie-test=a-cookie-value")],
        &[("Cookie", "x-mutators-test=a-mutator-cookie-value")],
    );
    body_contains(
        &envoy,
        &idp,
        "/headers",
        &[("X-Mutators-Test", "a-header-value")],
        &[("X-Mutators-Test", "a-mutator-value")],
    );
}
