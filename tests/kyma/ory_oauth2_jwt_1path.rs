//! Kyma's conformance, translated: `tests/integration/testsuites/ory/features/
//! oauth2_jwt_1path.feature` of kyma-project/api-gateway (commit 64d110d6), scenario by scenario,
//! through Envoy with the filter under the Ory handler (Kyma's default) and a real OpenID provider
//! on loopback (JWKS and introspection). The APIRule is the feature's manifest
//! (`jwt-oauth-one-path-strategy.yaml`, its v1beta1 spec) with its template values filled in.
//! The APIRules are given as the cluster stores them and `kubectl get -o json` returns them
//! (v2, the v1beta1 spec in an annotation: `crate::common::as_stored`), as issue 15 asks.

use crate::common::*;
use serde_json::{json, Value};

const HOST: &str = "httpbin-kyma.local.kyma.dev";

/// The suite's client credentials as the manifests' `introspection_request_headers` send them
/// (`Basic {{ .EncodedCredentials }}`), here the test provider's client.
const BASIC: &str = "Basic dGVzdC1jbGllbnQ6dGVzdC1zZWNyZXQ=";

/// `jwt-oauth-one-path-strategy.yaml`: `/image`, GET, two strategies tried in order: Ory `jwt`
/// (`jwks_urls` only), then `oauth2_introspection` requiring scope `read` with the token taken
/// from the `oauth2-access-token` header.
fn apirule(idp: &Idp) -> Value {
    json!({"apiVersion": "gateway.kyma-project.io/v1beta1", "kind": "APIRule",
           "metadata": {"name": "oauth2-jwt-one-path-kyma", "namespace": "default"},
           "spec": {"gateway": "kyma-system/kyma-gateway", "host": HOST,
                    "service": {"name": "httpbin-kyma", "port": 8000},
                    "rules": [{"path": "/image", "methods": ["GET"], "accessStrategies": [
                        {"handler": "jwt", "config": {"jwks_urls": [idp.jwks_uri()]}},
                        {"handler": "oauth2_introspection", "config": {
                            "introspection_url": format!("{}/token/introspection", idp.issuer()),
                            "introspection_request_headers": {"Authorization": BASIC},
                            "required_scope": ["read"],
                            "token_from": {"header": "oauth2-access-token"}}}]}]}})
}

fn between(r: &Response, lo: u16, hi: u16, what: &str) {
    assert!((lo..=hi).contains(&r.status), "{what}: {r:?}");
}

/// Scenario: OAuth2JWT1Path: Calling an endpoint secured with OAuth2 and JWT with a valid OAuth2
/// token. The invalid token is the suite's `Authorization: any`. The OAuth2 token goes bare in
/// `oauth2-access-token`; the suite asks its mock for it without `token_format` (the mock then
/// issues a JWT with scope `read`, and its introspection endpoint accepts JWTs), while the test
/// provider introspects only its opaque tokens: here it is an opaque token with scope `read`,
/// which is what the feature names. The valid "JWT" is the suite's `jwtConfig` token (RS256, no
/// scope) as `Authorization: Bearer`.
#[test]
fn oauth2jwt1path_calling_an_endpoint_secured_with_oauth2_and_jwt_with_a_valid_oauth2_token() {
    let idp = Idp::start(300);
    let upstream = Upstream::start();
    let cfg = json!({"jwtHandler": "ory", "clusters": {idp.issuer(): "idp"},
                     "apiRules": [as_stored(&apirule(&idp))]});
    let opts = EnvoyOptions {
        idp_port: idp.port,
        ..Default::default()
    };
    let envoy = Envoy::start_with(&upstream, &cfg.to_string(), opts);
    between(&envoy.get(HOST, "/image"), 400, 403, "no token");
    let r = envoy.send("GET", HOST, "/image", &[("Authorization", "any")], "");
    between(&r, 400, 403, "invalid token");
    let oauth2 = idp.token("opaque", "read");
    let r = envoy.send(
        "GET",
        HOST,
        "/image",
        &[("oauth2-access-token", &oauth2)],
        "",
    );
    between(&r, 200, 299, "OAuth2 token in oauth2-access-token");
    let jwt = idp.token("rs256", "");
    let r = envoy.send(
        "GET",
        HOST,
        "/image",
        &[("Authorization", &format!("Bearer {jwt}"))],
        "",
    );
    between(&r, 200, 299, "JWT");
}
