//! Kyma's conformance, translated: `tests/integration/testsuites/ory/features/
//! expose_methods_on_paths.feature` of kyma-project/api-gateway (commit 64d110d6), scenario by
//! scenario, through Envoy with the filter under the Ory handler (Kyma's default) and a real
//! OpenID provider on loopback (JWKS and introspection). The APIRules are the feature's manifests
//! (`paths-and-methods-<handler>-handler.yaml`, their v1beta1 specs) with their template values
//! filled in: `/anything` for GET and POST, `/anything/put` for PUT, both with one handler.
//! The APIRules are given as the cluster stores them and `kubectl get -o json` returns them
//! (v2, the v1beta1 spec in an annotation: `crate::common::as_stored`), as issue 15 asks.

use crate::common::*;
use serde_json::{json, Value};

const HOST: &str = "httpbin-kyma.local.kyma.dev";

/// The suite's client credentials as the manifests' `introspection_request_headers` send them
/// (`Basic {{ .EncodedCredentials }}`), here the test provider's client.
const BASIC: &str = "Basic dGVzdC1jbGllbnQ6dGVzdC1zZWNyZXQ=";

/// The manifests' APIRule with `strategy` on both rules.
fn apirule(strategy: Value) -> Value {
    json!({"apiVersion": "gateway.kyma-project.io/v1beta1", "kind": "APIRule",
           "metadata": {"name": "paths-and-methods-kyma", "namespace": "default"},
           "spec": {"gateway": "kyma-system/kyma-gateway", "host": HOST,
                    "service": {"name": "httpbin-kyma", "port": 8000},
                    "rules": [
                        {"path": "/anything", "methods": ["GET", "POST"], "accessStrategies": [strategy]},
                        {"path": "/anything/put", "methods": ["PUT"], "accessStrategies": [strategy]}]}})
}

fn serve(idp: Option<&Idp>, apirule: Value) -> (Upstream, Envoy) {
    let upstream = Upstream::start();
    let mut cfg = json!({"jwtHandler": "ory", "apiRules": [as_stored(&apirule)]});
    let mut opts = EnvoyOptions::default();
    if let Some(idp) = idp {
        cfg["clusters"] = json!({idp.issuer(): "idp"});
        opts.idp_port = idp.port;
    }
    let envoy = Envoy::start_with(&upstream, &cfg.to_string(), opts);
    (upstream, envoy)
}

/// "Calling the "<path>" endpoint with "<method>" method with <token> should result in status
/// between <lo> and <hi>", each `(path, method, lo, hi)` with `authorization` as the header.
fn expect(envoy: &Envoy, authorization: &str, calls: &[(&str, &str, u16, u16)]) {
    for (path, method, lo, hi) in calls {
        let r = envoy.send(method, HOST, path, &[("Authorization", authorization)], "");
        assert!((*lo..=*hi).contains(&r.status), "{method} {path}: {r:?}");
    }
}

/// What the no_auth, noop, jwt and oauth2_introspection scenarios expect.
const RESTRICTED: [(&str, &str, u16, u16); 5] = [
    ("/anything", "GET", 200, 200),
    ("/anything", "POST", 200, 200),
    ("/anything", "PUT", 404, 404),
    ("/anything/put", "PUT", 200, 200),
    ("/anything/put", "POST", 404, 404),
];

/// Scenario: ExposeMethodsOnPathsAllowHandler: Expose GET, POST method for "/anything" and only
/// PUT for "/anything/put" with allow access strategy. "Any token" is `Authorization: any`.
/// Deviation: Kyma's VirtualService does not restrict the methods of an `allow` rule, so PUT on
/// `/anything` and POST on `/anything/put` reach httpbin (200); the filter serves a v1beta1
/// `allow` rule for its listed methods only and answers 404 (README, "Compatibility with Kyma":
/// "v1beta1 `allow` rule").
#[test]
fn expose_methods_on_paths_allow_handler_expose_get_post_method_for_anything_and_only_put_for_anything_put_with_allow_access_strategy(
) {
    let (_u, envoy) = serve(None, apirule(json!({"handler": "allow"})));
    expect(
        &envoy,
        "any",
        &[
            ("/anything", "GET", 200, 200),
            ("/anything", "POST", 200, 200),
            ("/anything", "PUT", 200, 200),
            ("/anything/put", "PUT", 200, 200),
            ("/anything/put", "POST", 200, 200),
        ],
    );
}

/// Scenario: ExposeMethodsOnPathsNoAuthHandler: Expose GET, POST method for "/anything" and only
/// PUT for "/anything/put" with no_auth access strategy. "Any token" is `Authorization: any`.
#[test]
fn expose_methods_on_paths_no_auth_handler_expose_get_post_method_for_anything_and_only_put_for_anything_put_with_no_auth_access_strategy(
) {
    let (_u, envoy) = serve(None, apirule(json!({"handler": "no_auth"})));
    expect(&envoy, "any", &RESTRICTED);
}

/// Scenario: ExposeMethodsOnPathsNoopHandler: Expose GET, POST method for "/anything" and only
/// PUT for "/anything/put" with noop access strategy. "Any token" is `Authorization: any`.
#[test]
fn expose_methods_on_paths_noop_handler_expose_get_post_method_for_anything_and_only_put_for_anything_put_with_noop_access_strategy(
) {
    let (_u, envoy) = serve(None, apirule(json!({"handler": "noop"})));
    expect(&envoy, "any", &RESTRICTED);
}

/// Scenario: ExposeMethodsOnPathsJwtHandler: Expose GET, POST method for "/anything" and only PUT
/// for "/anything/put" with jwt access strategy. Ory `jwt` with `jwks_urls` only; the valid "JWT"
/// is the suite's `jwtConfig` token (RS256, no scope) as `Authorization: Bearer`.
#[test]
fn expose_methods_on_paths_jwt_handler_expose_get_post_method_for_anything_and_only_put_for_anything_put_with_jwt_access_strategy(
) {
    let idp = Idp::start(300);
    let jwt = json!({"handler": "jwt", "config": {"jwks_urls": [idp.jwks_uri()]}});
    let (_u, envoy) = serve(Some(&idp), apirule(jwt));
    let token = idp.token("rs256", "");
    expect(&envoy, &format!("Bearer {token}"), &RESTRICTED);
}

/// Scenario: ExposeMethodsOnPathsOAuth2Handler: Expose GET, POST method for "/anything" and only
/// PUT for "/anything/put" with oauth2_introspection access strategy. Scope `read` required; the
/// valid "OAuth2" token is the suite's `oauth2Cfg` token (opaque, scope `read`) as
/// `Authorization: Bearer`.
#[test]
fn expose_methods_on_paths_oauth2_handler_expose_get_post_method_for_anything_and_only_put_for_anything_put_with_oauth2_introspection_access_strategy(
) {
    let idp = Idp::start(300);
    let introspection = json!({"handler": "oauth2_introspection", "config": {
        "introspection_url": format!("{}/token/introspection", idp.issuer()),
        "introspection_request_headers": {"Authorization": BASIC},
        "required_scope": ["read"]}});
    let (_u, envoy) = serve(Some(&idp), apirule(introspection));
    let token = idp.token("opaque", "read");
    expect(&envoy, &format!("Bearer {token}"), &RESTRICTED);
}
