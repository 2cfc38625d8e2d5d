//! Kyma's conformance, translated: `tests/integration/testsuites/istio-jwt/features/v2.feature` of
//! kyma-project/api-gateway (commit 64d110d6), scenario by scenario, through Envoy with the filter
//! (the suite runs under the Istio jwt handler, `"jwtHandler": "istio"`; these APIRules are v2)
//! and a real OpenID provider on loopback. The APIRules are the feature's manifests
//! (`v2-istio-jwt.yaml`, `v2-no-auth-handler.yaml`) with their template values filled in.

use crate::common::*;
use serde_json::{json, Value};

const HOST: &str = "httpbin-kyma.local.kyma.dev";

fn v2(rules: Value) -> Value {
    json!({"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
           "metadata": {"name": "v2-kyma", "namespace": "default"},
           "spec": {"gateway": "kyma-system/kyma-gateway", "hosts": [HOST],
                    "service": {"name": "httpbin-kyma", "port": 8000}, "rules": rules}})
}

/// `v2-no-auth-handler.yaml`: `/anything` for GET and POST, `/anything/put` for PUT, `noAuth`.
fn no_auth() -> Value {
    v2(json!([
        {"path": "/anything", "methods": ["GET", "POST"], "noAuth": true},
        {"path": "/anything/put", "methods": ["PUT"], "noAuth": true}
    ]))
}

fn serve(idp: Option<&Idp>, apirule: Value) -> (Upstream, Envoy) {
    let upstream = Upstream::start();
    let mut cfg = json!({"jwtHandler": "istio", "apiRules": [apirule]});
    let mut opts = EnvoyOptions::default();
    if let Some(idp) = idp {
        cfg["clusters"] = json!({idp.issuer(): "idp"});
        opts.idp_port = idp.port;
    }
    let envoy = Envoy::start_with(&upstream, &cfg.to_string(), opts);
    (upstream, envoy)
}

fn between(r: &Response, lo: u16, hi: u16, what: &str) {
    assert!((lo..=hi).contains(&r.status), "{what}: {r:?}");
}

/// "Calling the "<path>" endpoint with "<method>" method with any token" (`Authorization: any`).
fn any_token(envoy: &Envoy, method: &str, path: &str, lo: u16, hi: u16) {
    let r = envoy.send(method, HOST, path, &[("Authorization", "any")], "");
    between(&r, lo, hi, &format!("{method} {path}"));
}

/// Scenario: Calling a httpbin endpoint secured. The invalid token is the suite's
/// `Authorization: any`; the valid JWT its `oauth2Cfg` token (RS256, no scope).
#[test]
fn calling_a_httpbin_endpoint_secured() {
    let idp = Idp::start(300);
    let rule = json!({"path": "/ip", "methods": ["GET"], "jwt": {"authentications": [
        {"issuer": idp.issuer(), "jwksUri": idp.jwks_uri()}]}});
    let (_u, envoy) = serve(Some(&idp), v2(json!([rule])));
    between(&envoy.get(HOST, "/ip"), 400, 403, "no token");
    let r = envoy.send("GET", HOST, "/ip", &[("Authorization", "any")], "");
    between(&r, 400, 403, "invalid token");
    let t = idp.token("rs256", "");
    let r = envoy.send(
        "GET",
        HOST,
        "/ip",
        &[("Authorization", &format!("Bearer {t}"))],
        "",
    );
    between(&r, 200, 299, "valid token");
}

/// Scenario: Expose GET, POST method for "/anything" and only PUT for "/anything/put" with noAuth.
#[test]
fn expose_get_post_method_for_anything_and_only_put_for_anything_put_with_noauth() {
    let (_u, envoy) = serve(None, no_auth());
    any_token(&envoy, "GET", "/anything", 200, 200);
    any_token(&envoy, "POST", "/anything", 200, 200);
    any_token(&envoy, "PUT", "/anything", 404, 404);
    any_token(&envoy, "PUT", "/anything/put", 200, 200);
    any_token(&envoy, "POST", "/anything/put", 404, 404);
}

/// Scenario: Expose GET method for "/anything" with noAuth and recover if conversion webhook
/// certificate secret is rotated. Not expressible here: "Certificate secret is reset" and
/// "Certificate secret is rotated" (the secret of Kyma's conversion webhook in `kyma-system`,
/// which the API server uses to convert stored APIRules; the filter reads every version itself,
/// with no webhook). The calls before and after are made; the configuration stays the same.
#[test]
fn expose_get_method_for_anything_with_noauth_and_recover_if_conversion_webhook_certificate_secret_is_rotated(
) {
    let (_u, envoy) = serve(None, no_auth());
    any_token(&envoy, "GET", "/anything", 200, 200);
    any_token(&envoy, "GET", "/anything", 200, 200);
}
