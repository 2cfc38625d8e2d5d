//! Kyma's conformance, translated: `tests/integration/testsuites/{v2,v2alpha1}/features/service.feature` of
//! kyma-project/api-gateway (commit 64d110d6), scenario by scenario, through Envoy with the
//! filter and a real OpenID provider on loopback. The APIRules are the feature's manifests
//! (`service-fallback.yaml`, `service-two-namespaces.yaml`, `service-diff-same-methods.yaml`,
//! `service-custom-label-selector.yaml`) with their template values filled in (the issuer is the
//! test provider; its JWKS is at `/jwks`, not `/oauth2/certs`).
//!
//! These scenarios are about which service a rule reaches, which Kyma's VirtualService decides.
//! Here the Envoy is the bootstrap `apirule render --envoy` writes (one route per rule to the
//! rule's service, or the APIRule's), with each Kubernetes service pointed at a process on
//! loopback (`--service NAME.NAMESPACE=HOST:PORT`): httpbin, and for Istio's helloworld sample
//! (`testing-helloworld-app.yaml`, `second-service.yaml`) a small stand-in written below.
//! Shared by `v2_service.rs` and `v2alpha1_service.rs` (the feature files are the same;
//! `super::API_VERSION` is the version under test).

use crate::common::*;
use crate::support::{rendered_gateway_policy, serve_rendered, start_helloworld, HELLO_BODY};
use serde_json::{json, Value};

const HTTPBIN_HOST: &str = "httpbin-kyma.local.kyma.dev";

fn jwt(idp: &Idp) -> Value {
    json!({"authentications": [{"issuer": idp.issuer(), "jwksUri": idp.jwks_uri()}]})
}

fn apirule(name: &str, host: &str, service: Value, rules: Value) -> Value {
    json!({"apiVersion": super::API_VERSION, "kind": "APIRule",
           "metadata": {"name": name, "namespace": "default"},
           "spec": {"gateway": "kyma-system/kyma-gateway", "hosts": [host],
                    "service": service, "rules": rules}})
}

/// The APIRule served from the bootstrap `apirule render --envoy` writes for it.
fn serve(apirule: &Value, services: &[(&str, u16)]) -> Envoy {
    serve_rendered(apirule, services)
}

fn between(r: &Response, lo: u16, hi: u16, what: &str) {
    assert!((lo..=hi).contains(&r.status), "{what}: {r:?}");
}

/// "Calling the "<path>" endpoint with a valid "JWT" token": a client-credentials JWT from the
/// provider, asked for without scopes (Kyma's `jwtConfig`), as `Authorization: Bearer`.
fn with_token(envoy: &Envoy, host: &str, path: &str, token: &str) -> Response {
    envoy.send(
        "GET",
        host,
        path,
        &[("Authorization", &format!("Bearer {token}"))],
        "",
    )
}

/// httpbin answered (its JSON echo), not another service.
fn from_httpbin(r: &Response) {
    assert!(r.upstream_header("host").is_some(), "not httpbin: {r:?}");
}

/// helloworld answered.
fn from_helloworld(r: &Response) {
    assert_eq!(r.body, HELLO_BODY, "not helloworld: {r:?}");
}

/// Scenario: Endpoints exposed in APIRule should fallback to service defined on root level when
/// there is no service defined on rule level.
pub fn endpoints_exposed_in_apirule_should_fallback_to_service_defined_on_root_level_when_there_is_no_service_defined_on_rule_level(
) {
    let idp = Idp::start(300);
    let httpbin = Upstream::start();
    let httpbin_svc = json!({"name": "httpbin-kyma", "port": 8000});
    // service-fallback.yaml: `/headers` names the service, `/ip` takes the root one.
    let rule = apirule(
        "service-fallback-kyma",
        HTTPBIN_HOST,
        httpbin_svc.clone(),
        json!([{"path": "/headers", "service": httpbin_svc, "methods": ["GET"], "jwt": jwt(&idp)},
               {"path": "/ip", "methods": ["GET"], "jwt": jwt(&idp)}]),
    );
    let envoy = serve(&rule, &[("httpbin-kyma.default", httpbin.port)]);
    let t = idp.token("rs256", "");
    let r = with_token(&envoy, HTTPBIN_HOST, "/headers", &t);
    between(&r, 200, 299, "/headers");
    from_httpbin(&r);
    let r = with_token(&envoy, HTTPBIN_HOST, "/ip", &t);
    between(&r, 200, 299, "/ip");
    assert!(r.body.contains("\"origin\""), "httpbin's /ip: {r:?}");
}

/// Scenario: Exposing endpoints in two namespaces. The second namespace is `default-2`
/// (`{{.Namespace}}-2`), where `second-service.yaml` runs helloworld on port 5000.
pub fn exposing_endpoints_in_two_namespaces() {
    let idp = Idp::start(300);
    let httpbin = Upstream::start();
    let hello = start_helloworld();
    // service-two-namespaces.yaml
    let rule = apirule(
        "service-two-namespaces-kyma",
        HTTPBIN_HOST,
        json!({"name": "httpbin-kyma", "port": 8000}),
        json!([{"path": "/get", "methods": ["GET"], "jwt": jwt(&idp)},
               {"path": "/hello",
                "service": {"namespace": "default-2", "name": "helloworld-kyma", "port": 5000},
                "methods": ["GET"], "jwt": jwt(&idp)}]),
    );
    let envoy = serve(
        &rule,
        &[
            ("httpbin-kyma.default", httpbin.port),
            ("helloworld-kyma.default-2", hello),
        ],
    );
    let t = idp.token("rs256", "");
    let r = with_token(&envoy, HTTPBIN_HOST, "/get", &t);
    between(&r, 200, 299, "/get with token");
    from_httpbin(&r);
    let r = with_token(&envoy, HTTPBIN_HOST, "/hello", &t);
    between(&r, 200, 299, "/hello with token");
    from_helloworld(&r);
    between(
        &envoy.get(HTTPBIN_HOST, "/get"),
        400,
        403,
        "/get without token",
    );
    between(
        &envoy.get(HTTPBIN_HOST, "/hello"),
        400,
        403,
        "/hello without token",
    );
}

/// Scenario: Exposing different services with same methods. helloworld runs in the APIRule's
/// namespace (`testing-helloworld-app.yaml`).
pub fn exposing_different_services_with_same_methods() {
    let idp = Idp::start(300);
    let httpbin = Upstream::start();
    let hello = start_helloworld();
    // service-diff-same-methods.yaml with methods '["GET", "POST"]' for both paths
    let rule = apirule(
        "service-diff-same-methods-kyma",
        HTTPBIN_HOST,
        json!({"name": "httpbin-kyma", "port": 8000}),
        json!([{"path": "/headers", "methods": ["GET", "POST"], "jwt": jwt(&idp)},
               {"path": "/hello", "service": {"name": "helloworld-kyma", "port": 5000},
                "methods": ["GET", "POST"], "jwt": jwt(&idp)}]),
    );
    let envoy = serve(
        &rule,
        &[
            ("httpbin-kyma.default", httpbin.port),
            ("helloworld-kyma.default", hello),
        ],
    );
    let t = idp.token("rs256", "");
    let r = with_token(&envoy, HTTPBIN_HOST, "/headers", &t);
    between(&r, 200, 299, "/headers");
    from_httpbin(&r);
    let r = with_token(&envoy, HTTPBIN_HOST, "/hello", &t);
    between(&r, 200, 299, "/hello");
    from_helloworld(&r);
}

/// Scenario: Calling a helloworld endpoint with custom label selector service. The Service
/// selects its pods by `custom-name: helloworld-kyma`
/// (`testing-helloworld-custom-label-app.yaml`). The gateway does not need the selector to route;
/// Kyma uses it for the workload's policies, which `apirule render --istio` writes here: the
/// gateway-only AuthorizationPolicy must select the pods by that label.
pub fn calling_a_helloworld_endpoint_with_custom_label_selector_service() {
    const HOST: &str = "helloworld-kyma.local.kyma.dev";
    let idp = Idp::start(300);
    let hello = start_helloworld();
    // service-custom-label-selector.yaml with jwtSecuredPath "/hello"
    let rule = apirule(
        "service-custom-label-selector-kyma",
        HOST,
        json!({"name": "helloworld-kyma", "port": 5000}),
        json!([{"path": "/hello", "methods": ["GET"], "jwt": jwt(&idp)}]),
    );
    let envoy = serve(&rule, &[("helloworld-kyma.default", hello)]);
    between(&envoy.get(HOST, "/hello"), 400, 403, "without token");
    let r = with_token(&envoy, HOST, "/hello", &idp.token("rs256", ""));
    between(&r, 200, 299, "with token");
    from_helloworld(&r);

    let objects = json!({"apiVersion": "v1", "kind": "List", "items": [rule,
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "helloworld-kyma", "namespace": "default",
                      "labels": {"custom-name": "helloworld-kyma"}},
         "spec": {"ports": [{"name": "http", "port": 5000, "targetPort": 5000}],
                  "selector": {"custom-name": "helloworld-kyma"}}}]});
    let policy = rendered_gateway_policy(&objects, &[]);
    assert!(policy.contains("custom-name: helloworld-kyma"), "{policy}");
    assert!(
        policy.contains("cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"),
        "{policy}"
    );
}
