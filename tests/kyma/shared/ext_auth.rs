//! Kyma's conformance, translated: `tests/integration/testsuites/{v2,v2alpha1}/features/ext_auth.feature` of
//! kyma-project/api-gateway (commit 64d110d6), scenario by scenario, through Envoy with the
//! filter, the test external authorizer (tests/authz/server.py, which decides as Istio's
//! ext-authz sample that Kyma's suite installs: allow on `x-ext-authz: allow`, else 403) and a
//! real OpenID provider on loopback. The APIRules are the feature's manifests
//! (`ext-auth-common.yaml`, `ext-auth-jwt.yaml`) with their template values filled in; the
//! authorizer is the one Kyma's suite hook writes into the Istio CR
//! (`pkg/hooks/manifests/ext-auth-istio-cr.yaml`), as Istio puts it in the mesh config's
//! `extensionProviders`.
//! Shared by `v2_ext_auth.rs` and `v2alpha1_ext_auth.rs` (the feature files are the same;
//! `super::API_VERSION` is the version under test).

use crate::common::*;
use serde_json::{json, Value};

const HOST: &str = "httpbin-kyma.local.kyma.dev";
const AUTHORIZER_SERVICE: &str = "ext-authz.ext-auth.svc.cluster.local";

fn serve(idp: &Idp, authz: &Authz, name: &str, ext_auth: Value) -> (Upstream, Envoy) {
    let upstream = Upstream::start();
    let apirule = json!({"apiVersion": super::API_VERSION, "kind": "APIRule",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"gateway": "kyma-system/kyma-gateway", "hosts": [HOST],
                 "service": {"name": "httpbin-kyma", "port": 8000},
                 "rules": [{"path": "/headers", "methods": ["GET"], "extAuth": ext_auth}]}});
    let cfg = json!({
        "clusters": {idp.issuer(): "idp"},
        // The Istio CR's authorizer `sample-ext-authz-http`: port 8000, its service, and
        // `headers.inCheck.include: [x-ext-authz]`.
        "extensionProviders": [{"name": "sample-ext-authz-http", "envoyExtAuthzHttp": {
            "service": AUTHORIZER_SERVICE, "port": 8000,
            "includeRequestHeadersInCheck": ["x-ext-authz"]}}],
        "apiRules": [apirule]});
    // Istio's cluster for that service, here on the authorizer's loopback port.
    let opts = EnvoyOptions {
        idp_port: idp.port,
        clusters: vec![(format!("outbound|8000||{AUTHORIZER_SERVICE}"), authz.port)],
        ..Default::default()
    };
    let envoy = Envoy::start_with(&upstream, &cfg.to_string(), opts);
    (upstream, envoy)
}

fn between(r: &Response, lo: u16, hi: u16, what: &str) {
    assert!((lo..=hi).contains(&r.status), "{what}: {r:?}");
}

fn call(envoy: &Envoy, headers: &[(&str, &str)]) -> Response {
    envoy.send("GET", HOST, "/headers", headers, "")
}

/// Scenario: Calling a httpbin endpoint secured with ExtAuth.
pub fn calling_a_httpbin_endpoint_secured_with_extauth() {
    let idp = Idp::start(300);
    let authz = Authz::start();
    // ext-auth-common.yaml
    let (_u, envoy) = serve(
        &idp,
        &authz,
        "ext-auth-common-kyma",
        json!({"authorizers": ["sample-ext-authz-http"]}),
    );
    between(&call(&envoy, &[("x-ext-authz", "deny")]), 400, 403, "deny");
    between(
        &call(&envoy, &[("x-ext-authz", "allow")]),
        200,
        299,
        "allow",
    );
}

/// Scenario: Calling a httpbin endpoint secured with ExtAuth with JWT restrictions. "an invalid
/// "JWT" token" is Kyma's `Authorization: any`; "a valid "JWT" token" a client-credentials JWT
/// from the provider, asked for without scopes (Kyma's `jwtConfig`).
pub fn calling_a_httpbin_endpoint_secured_with_extauth_with_jwt_restrictions() {
    let idp = Idp::start(300);
    let authz = Authz::start();
    // ext-auth-jwt.yaml (the provider's JWKS is at `/jwks`, not `/oauth2/certs`)
    let (_u, envoy) = serve(
        &idp,
        &authz,
        "ext-auth-jwt-kyma",
        json!({"restrictions": {"authentications": [
                   {"issuer": idp.issuer(), "jwksUri": idp.jwks_uri()}]},
               "authorizers": ["sample-ext-authz-http"]}),
    );
    let bearer = format!("Bearer {}", idp.token("rs256", ""));
    between(
        &call(&envoy, &[("x-ext-authz", "allow")]),
        400,
        403,
        "allow, no token",
    );
    between(
        &call(
            &envoy,
            &[("x-ext-authz", "allow"), ("Authorization", "any")],
        ),
        400,
        403,
        "allow, invalid token",
    );
    between(
        &call(
            &envoy,
            &[("x-ext-authz", "deny"), ("Authorization", &bearer)],
        ),
        400,
        403,
        "deny, valid token",
    );
    between(
        &call(
            &envoy,
            &[("x-ext-authz", "allow"), ("Authorization", &bearer)],
        ),
        200,
        299,
        "allow, valid token",
    );
}
