//! The scenarios of Kyma's `jwt.feature`, for the APIRule version the including test file
//! names (`v2_jwt.rs`, `v2alpha1_jwt.rs`).

use crate::common::*;
use crate::support::rendered_gateway_policy;
use serde_json::{json, Value};

const HOST: &str = "httpbin-kyma.local.kyma.dev";

fn authn(idp: &Idp, extra: Value) -> Value {
    let mut a = json!({"issuer": idp.issuer(), "jwksUri": idp.jwks_uri()});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            a[k] = v;
        }
    }
    a
}

fn jwt_rule(path: &str, authn: Value, authorizations: Option<Value>) -> Value {
    let mut jwt = json!({"authentications": [authn]});
    if let Some(a) = authorizations {
        jwt["authorizations"] = a;
    }
    json!({"path": path, "methods": ["GET"], "jwt": jwt})
}

fn serve(version: &str, idp: &Idp, rules: Value) -> (Upstream, Envoy) {
    let upstream = Upstream::start();
    let apirule = json!({"apiVersion": format!("gateway.kyma-project.io/{version}"), "kind": "APIRule",
        "metadata": {"name": "jwt-kyma", "namespace": "default"},
        "spec": {"gateway": "kyma-system/kyma-gateway", "hosts": [HOST],
                 "service": {"name": "httpbin-kyma", "port": 8000}, "rules": rules}});
    let cfg = json!({"clusters": {idp.issuer(): "idp"}, "apiRules": [apirule]});
    let opts = EnvoyOptions {
        idp_port: idp.port,
        ..Default::default()
    };
    let envoy = Envoy::start_with(&upstream, &cfg.to_string(), opts);
    (upstream, envoy)
}

fn with_token(envoy: &Envoy, path: &str, token: &str) -> Response {
    envoy.send(
        "GET",
        HOST,
        path,
        &[("Authorization", &format!("Bearer {token}"))],
        "",
    )
}

fn between(r: &Response, lo: u16, hi: u16, what: &str) {
    assert!((lo..=hi).contains(&r.status), "{what}: {r:?}");
}

/// "without a token", "with an invalid token", "with a valid JWT token" on one path.
fn secured(envoy: &Envoy, idp: &Idp, path: &str) {
    between(&envoy.get(HOST, path), 400, 403, "no token");
    between(
        &with_token(envoy, path, "invalid"),
        400,
        403,
        "invalid token",
    );
    let t = idp.token("rs256", "read");
    between(&with_token(envoy, path, &t), 200, 299, "valid token");
}

/// A token from the provider with these claims (its own key and kid).
fn token_with(idp: &Idp, claims: Value) -> String {
    let mut c = json!({"iss": idp.issuer(), "sub": "kyma", "exp": now_s() + 300});
    for (k, v) in claims.as_object().unwrap() {
        c[k] = v.clone();
    }
    idp.sign("RS256", json!({}), c)
}

/// Scenario: Calling a httpbin endpoint secured.
pub fn calling_a_httpbin_endpoint_secured(version: &str) {
    let idp = Idp::start(300);
    let (_u, envoy) = serve(
        version,
        &idp,
        json!([jwt_rule("/ip", authn(&idp, json!({})), None)]),
    );
    secured(&envoy, &idp, "/ip");
}

/// Scenario: Calling a httpbin endpoint secured on all paths.
pub fn calling_a_httpbin_endpoint_secured_on_all_paths(version: &str) {
    let idp = Idp::start(300);
    let (_u, envoy) = serve(
        version,
        &idp,
        json!([jwt_rule("/*", authn(&idp, json!({})), None)]),
    );
    secured(&envoy, &idp, "/ip");
    secured(&envoy, &idp, "/headers");
}

/// Scenario: Calling httpbin that has an endpoint secured by JWT and unrestricted endpoint.
pub fn calling_httpbin_that_has_an_endpoint_secured_by_jwt_and_unrestricted_endpoint(
    version: &str,
) {
    let idp = Idp::start(300);
    let (_u, envoy) = serve(
        version,
        &idp,
        json!([jwt_rule("/ip", authn(&idp, json!({})), None),
               {"path": "/headers", "methods": ["GET"], "noAuth": true}]),
    );
    between(
        &with_token(&envoy, "/ip", &idp.token("rs256", "read")),
        200,
        299,
        "valid token",
    );
    between(&envoy.get(HOST, "/headers"), 200, 299, "noAuth");
}

/// Scenario: Calling a httpbin endpoint secured with JWT that requires scopes claims.
pub fn calling_a_httpbin_endpoint_secured_with_jwt_that_requires_scopes_claims(version: &str) {
    let idp = Idp::start(300);
    let scoped = |path: &str, scopes: Value| {
        jwt_rule(
            path,
            authn(&idp, json!({})),
            Some(json!([{"requiredScopes": scopes}])),
        )
    };
    let (_u, envoy) = serve(
        version,
        &idp,
        json!([
            scoped("/ip", json!(["read", "write"])),
            scoped("/get", json!(["test", "write"])),
            scoped("/headers", json!(["read"]))
        ]),
    );
    let t = token_with(&idp, json!({"scope": "read write"}));
    between(&with_token(&envoy, "/ip", &t), 200, 299, "/ip");
    between(&with_token(&envoy, "/get", &t), 400, 403, "/get");
    between(&with_token(&envoy, "/headers", &t), 200, 299, "/headers");
}

/// Scenario: Calling a httpbin endpoint secured with JWT that requires aud claim. `/cache` has two
/// authorizations (ORed): one the token cannot meet, one it meets.
pub fn calling_a_httpbin_endpoint_secured_with_jwt_that_requires_aud_claim(version: &str) {
    let idp = Idp::start(300);
    let aud = |path: &str, audiences: Value| {
        jwt_rule(
            path,
            authn(&idp, json!({})),
            Some(json!([{"audiences": audiences}])),
        )
    };
    let (_u, envoy) = serve(
        version,
        &idp,
        json!([
            aud(
                "/ip",
                json!(["https://example.com", "https://example.com/user"])
            ),
            aud(
                "/headers",
                json!(["https://example.com", "https://example.com/admin"])
            ),
            aud("/get", json!(["https://example.com"])),
            jwt_rule(
                "/cache",
                authn(&idp, json!({})),
                Some(json!([{"audiences": ["audienceNotInJWT"]},
                             {"audiences": ["https://example.com"]}]))
            )
        ]),
    );
    let t = token_with(
        &idp,
        json!({"aud": ["https://example.com", "https://example.com/user"]}),
    );
    between(&with_token(&envoy, "/get", &t), 200, 299, "/get");
    between(&with_token(&envoy, "/ip", &t), 200, 299, "/ip");
    between(&with_token(&envoy, "/cache", &t), 200, 299, "/cache");
    between(&with_token(&envoy, "/headers", &t), 400, 403, "/headers");
}

/// Scenario: Exposing a JWT secured endpoint with unavailable issuer and jwks URL.
pub fn exposing_a_jwt_secured_endpoint_with_unavailable_issuer_and_jwks_url(version: &str) {
    let idp = Idp::start(300);
    let dead = free_port();
    let unavailable = json!({"issuer": format!("http://127.0.0.1:{dead}/"),
                             "jwksUri": format!("http://127.0.0.1:{dead}/jwks")});
    let (_u, envoy) = serve(version, &idp, json!([jwt_rule("/ip", unavailable, None)]));
    let r = with_token(&envoy, "/ip", &idp.token("rs256", "read"));
    assert!(r.body.contains("Jwt issuer is not configured"), "{r:?}");
}

/// Scenario: Exposing a JWT secured endpoint where issuer URL doesn't belong to jwks URL. The
/// JWKS cannot be fetched: Envoy answers as against istiod's fake key set (kid "abc"). Kyma
/// expects `Jwt verification fails`, Envoy's answer for a token naming no `kid`, so the token
/// here names none; one naming another kid gets Envoy's `Jwks doesn't have key to match kid or
/// alg from Jwt` (also checked, and listed in README's compatibility table).
pub fn exposing_a_jwt_secured_endpoint_where_issuer_url_doesnt_belong_to_jwks_url(version: &str) {
    let idp = Idp::start(300);
    let dead = free_port();
    let mismatched =
        json!({"issuer": idp.issuer(), "jwksUri": format!("http://127.0.0.1:{dead}/jwks")});
    let (_u, envoy) = serve(version, &idp, json!([jwt_rule("/ip", mismatched, None)]));
    let no_kid = {
        use jwt_simple::prelude::*;
        let claims = Claims::create(Duration::from_mins(5)).with_issuer(idp.issuer());
        RS256KeyPair::generate(2048).unwrap().sign(claims).unwrap()
    };
    let r = with_token(&envoy, "/ip", &no_kid);
    assert_eq!(r.status, 401, "{r:?}");
    assert!(r.body.contains("Jwt verification fails"), "{r:?}");
    let r = with_token(&envoy, "/ip", &idp.token("rs256", "read"));
    assert_eq!(
        (r.status, r.body.as_str()),
        (401, "Jwks doesn't have key to match kid or alg from Jwt")
    );
}

/// Scenario: Exposing an endpoint secured with different JWT token from headers.
pub fn exposing_an_endpoint_secured_with_different_jwt_token_from_headers(version: &str) {
    let idp = Idp::start(300);
    let from = json!({"fromHeaders": [{"name": "x-jwt-token", "prefix": "JwtToken"}]});
    let (_u, envoy) = serve(
        version,
        &idp,
        json!([jwt_rule("/headers", authn(&idp, from), None)]),
    );
    let t = idp.token("rs256", "read");
    between(&envoy.get(HOST, "/headers"), 400, 403, "no token");
    between(
        &with_token(&envoy, "/headers", &t),
        400,
        403,
        "default header",
    );
    let r = envoy.send(
        "GET",
        HOST,
        "/headers",
        &[("x-jwt-token", &format!("JwtToken {t}"))],
        "",
    );
    between(&r, 200, 299, "x-jwt-token");
}

/// Scenario: Calling a httpbin endpoint secured with different JWT token from params.
pub fn calling_a_httpbin_endpoint_secured_with_different_jwt_token_from_params(version: &str) {
    let idp = Idp::start(300);
    let from = json!({"fromParams": ["jwt_token"]});
    let (_u, envoy) = serve(
        version,
        &idp,
        json!([jwt_rule("/ip", authn(&idp, from), None)]),
    );
    let t = idp.token("rs256", "read");
    between(&envoy.get(HOST, "/ip"), 400, 403, "no token");
    between(&with_token(&envoy, "/ip", &t), 400, 403, "default header");
    between(
        &envoy.get(HOST, &format!("/ip?jwt_token={t}")),
        200,
        299,
        "parameter",
    );
}

/// Scenario: In-cluster calling a httpbin endpoint secured with JWT. Istio enforces it in a
/// cluster with the workload's AuthorizationPolicy; `shared/no_auth.rs` checks that
/// `render --istio` writes it (gateway principal only), the same for a jwt rule.
pub fn in_cluster_calling_a_httpbin_endpoint_secured_with_jwt(version: &str) {
    let objects = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": format!("gateway.kyma-project.io/{version}"), "kind": "APIRule",
         "metadata": {"name": "jwt-kyma", "namespace": "default"},
         "spec": {"gateway": "kyma-system/kyma-gateway", "hosts": [HOST],
                  "service": {"name": "httpbin-kyma", "port": 8000},
                  "rules": [{"path": "/*", "methods": ["GET"], "jwt": {"authentications":
                      [{"issuer": "https://idp.example.com", "jwksUri": "https://idp.example.com/jwks"}]}}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "httpbin-kyma", "namespace": "default"},
         "spec": {"selector": {"app": "httpbin-kyma"}}}]});
    let policy = rendered_gateway_policy(&objects, &[]);
    assert!(
        policy.contains("cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"),
        "{policy}"
    );
    assert!(policy.contains("httpbin-kyma-gateway-only"), "{policy}");
}
