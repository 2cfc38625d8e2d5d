//! Kyma's conformance, translated: `tests/integration/testsuites/istio-jwt/features/
//! Istio_jwt_two_strategies.feature` of kyma-project/api-gateway (commit 64d110d6), scenario by
//! scenario, through Envoy with the filter under the Istio jwt handler (`"jwtHandler": "istio"`)
//! and a real OpenID provider on loopback (JWKS and introspection). The APIRules are the feature's
//! manifests (`istio-jwt-and-no-auth.yaml`, `istio-jwt-and-oauth.yaml`): the v1beta1 spec each
//! carries in its `v1beta1-spec` annotation, with the template values filled in. Both scenarios
//! carry the same title; the test names add the suite's step prefix (`NoAuth_JWT`, `OAuth2`).
//! The APIRules are given as the cluster stores them and `kubectl get -o json` returns them
//! (v2, the v1beta1 spec in an annotation: `crate::common::as_stored`), as issue 15 asks.

use crate::common::*;
use serde_json::{json, Value};

const HOST: &str = "httpbin-kyma.local.kyma.dev";
const HOST2: &str = "httpbin2-kyma.local.kyma.dev";

/// The suite's client credentials as the manifests' `introspection_request_headers` send them
/// (`Basic {{ .EncodedCredentials }}`), here the test provider's client.
const BASIC: &str = "Basic dGVzdC1jbGllbnQ6dGVzdC1zZWNyZXQ=";

fn v1beta1(name: &str, host: &str, rules: Value) -> Value {
    json!({"apiVersion": "gateway.kyma-project.io/v1beta1", "kind": "APIRule",
           "metadata": {"name": name, "namespace": "default"},
           "spec": {"gateway": "kyma-system/kyma-gateway", "host": host,
                    "service": {"name": "httpbin-kyma", "port": 8000}, "rules": rules}})
}

/// Both manifests' `/ip`: `jwt` (Istio handler) requiring scopes `read` and `write`.
fn ip_rule(idp: &Idp) -> Value {
    json!({"path": "/ip", "methods": ["GET"], "accessStrategies": [{"handler": "jwt", "config": {
        "authentications": [{"issuer": idp.issuer(), "jwksUri": idp.jwks_uri()}],
        "authorizations": [{"requiredScopes": ["read", "write"]}]}}]})
}

fn serve(idp: &Idp, apirules: Value) -> (Upstream, Envoy) {
    let upstream = Upstream::start();
    let cfg = json!({"jwtHandler": "istio", "clusters": {idp.issuer(): "idp"},
                     "apiRules": apirules.as_array().unwrap().iter().map(as_stored).collect::<Vec<_>>()});
    let opts = EnvoyOptions {
        idp_port: idp.port,
        ..Default::default()
    };
    let envoy = Envoy::start_with(&upstream, &cfg.to_string(), opts);
    (upstream, envoy)
}

fn between(r: &Response, lo: u16, hi: u16, what: &str) {
    assert!((lo..=hi).contains(&r.status), "{what}: {r:?}");
}

fn call(envoy: &Envoy, path: &str, headers: &[(&str, &str)]) -> Response {
    envoy.send("GET", HOST, path, headers, "")
}

/// Scenario: Exposing httpbin endpoints with JWT and OAuth2 (`NoAuth_JWT`): two APIRules, `/ip`
/// with `jwt` on the httpbin host, `/get` with `no_auth` on the `httpbin2` host for the same
/// service. The invalid token is the suite's `Authorization: any`; the JWT is the suite's token
/// with scopes `read` and `write` as `Authorization: Bearer`.
#[test]
fn exposing_httpbin_endpoints_with_jwt_and_oauth2_noauth_jwt() {
    let idp = Idp::start(300);
    let first = v1beta1("istio-oauth-kyma", HOST, json!([ip_rule(&idp)]));
    let second = v1beta1(
        "istio-oauth-kyma-2",
        HOST2,
        json!([{"path": "/get", "methods": ["GET"], "accessStrategies": [{"handler": "no_auth"}]}]),
    );
    let (_u, envoy) = serve(&idp, json!([first, second]));
    between(&call(&envoy, "/ip", &[]), 400, 403, "/ip no token");
    between(
        &call(&envoy, "/ip", &[("Authorization", "any")]),
        400,
        403,
        "/ip invalid token",
    );
    let jwt = format!("Bearer {}", idp.token("rs256", "read write"));
    between(
        &call(&envoy, "/ip", &[("Authorization", &jwt)]),
        200,
        299,
        "/ip JWT",
    );
    between(&envoy.get(HOST2, "/get"), 200, 299, "/get on httpbin2");
    // The other host does not expose `/get`.
    let r = call(&envoy, "/get", &[]);
    assert_eq!(r.status, 404, "/get on httpbin: {r:?}");
}

/// Scenario: Exposing httpbin endpoints with JWT and OAuth2 (`OAuth2`): one APIRule, `/ip` with
/// `jwt`, `/get` with `oauth2_introspection` requiring scopes `read` and `write`, the token read
/// from the `opaque-token` header. The suite sends its "Opaque" token (scopes `read` and `write`)
/// bare in `opaque-token`, its "JWT" (same scopes) as `Authorization: Bearer`, the invalid token
/// as `Authorization: any`.
#[test]
fn exposing_httpbin_endpoints_with_jwt_and_oauth2_oauth2() {
    let idp = Idp::start(300);
    let get = json!({"path": "/get", "methods": ["GET"], "accessStrategies": [
        {"handler": "oauth2_introspection", "config": {
            "introspection_url": format!("{}/token/introspection", idp.issuer()),
            "introspection_request_headers": {"Authorization": BASIC},
            "required_scope": ["read", "write"],
            "token_from": {"header": "opaque-token"}}}]});
    let apirule = v1beta1("istio-oauth-kyma", HOST, json!([ip_rule(&idp), get]));
    let (_u, envoy) = serve(&idp, json!([apirule]));
    let opaque = idp.token("opaque", "read write");
    let jwt = format!("Bearer {}", idp.token("rs256", "read write"));

    between(&call(&envoy, "/ip", &[]), 400, 403, "/ip no token");
    between(
        &call(&envoy, "/ip", &[("Authorization", "any")]),
        400,
        403,
        "/ip invalid token",
    );
    between(
        &call(&envoy, "/ip", &[("opaque-token", &opaque)]),
        400,
        403,
        "/ip opaque",
    );
    between(
        &call(&envoy, "/ip", &[("Authorization", &jwt)]),
        200,
        299,
        "/ip JWT",
    );

    between(&call(&envoy, "/get", &[]), 400, 403, "/get no token");
    between(
        &call(&envoy, "/get", &[("Authorization", "any")]),
        400,
        403,
        "/get invalid token",
    );
    between(
        &call(&envoy, "/get", &[("opaque-token", &opaque)]),
        200,
        299,
        "/get opaque",
    );
    between(
        &call(&envoy, "/get", &[("Authorization", &jwt)]),
        400,
        403,
        "/get JWT",
    );
}
