//! Kyma's conformance, translated: `tests/integration/testsuites/ory/features/
//! unsecure_to_secure_oauth2_jwt.feature` of kyma-project/api-gateway (commit 64d110d6), scenario
//! by scenario, through Envoy with the filter under the Ory handler (Kyma's default) and a real
//! OpenID provider on loopback (JWKS and introspection). The APIRules are the feature's manifests
//! (`unsecured-to-secured.yaml`, then `unsecured-to-secured-2.yaml`; their v1beta1 specs) with
//! their template values filled in. The update is a new plugin configuration.
//! The APIRules are given as the cluster stores them and `kubectl get -o json` returns them
//! (v2, the v1beta1 spec in an annotation: `crate::common::as_stored`), as issue 15 asks.

use crate::common::*;
use serde_json::{json, Value};

const HOST: &str = "httpbin-kyma.local.kyma.dev";

/// The suite's client credentials as the manifests' `introspection_request_headers` send them
/// (`Basic {{ .EncodedCredentials }}`), here the test provider's client.
const BASIC: &str = "Basic dGVzdC1jbGllbnQ6dGVzdC1zZWNyZXQ=";

fn apirule(rules: Value) -> Value {
    json!({"apiVersion": "gateway.kyma-project.io/v1beta1", "kind": "APIRule",
           "metadata": {"name": "unsecured-to-secured-kyma", "namespace": "default"},
           "spec": {"gateway": "kyma-system/kyma-gateway", "host": HOST,
                    "service": {"name": "httpbin-kyma", "port": 8000}, "rules": rules}})
}

fn serve(idp: &Idp, apirule: Value) -> (Upstream, Envoy) {
    let upstream = Upstream::start();
    let cfg = json!({"jwtHandler": "ory", "clusters": {idp.issuer(): "idp"}, "apiRules": [as_stored(&apirule)]});
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

fn with_bearer(envoy: &Envoy, path: &str, token: &str) -> Response {
    envoy.send(
        "GET",
        HOST,
        path,
        &[("Authorization", &format!("Bearer {token}"))],
        "",
    )
}

/// Scenario: UnsecureToSecure: Securing an unsecured API with OAuth2 and JWT. The invalid token is
/// the suite's `Authorization: any`; the valid "OAuth2" token its `oauth2Cfg` token (opaque, scope
/// `read`), the valid "JWT" its `jwtConfig` token (RS256, no scope), both as
/// `Authorization: Bearer`.
#[test]
fn unsecuretosecure_securing_an_unsecured_api_with_oauth2_and_jwt() {
    let idp = Idp::start(300);
    // unsecured-to-secured.yaml: every path, GET, noop.
    let open = apirule(json!([{"path": "/.*", "methods": ["GET"],
                               "accessStrategies": [{"handler": "noop"}]}]));
    let (_u, envoy) = serve(&idp, open);
    between(
        &envoy.get(HOST, "/headers"),
        200,
        299,
        "/headers while open",
    );
    between(&envoy.get(HOST, "/image"), 200, 299, "/image while open");
    drop(envoy);

    // unsecured-to-secured-2.yaml: `/image` Ory jwt (`jwks_urls` only), `/headers`
    // oauth2_introspection requiring scope `read`.
    let secured = apirule(json!([
        {"path": "/image", "methods": ["GET"], "accessStrategies": [
            {"handler": "jwt", "config": {"jwks_urls": [idp.jwks_uri()]}}]},
        {"path": "/headers", "methods": ["GET"], "accessStrategies": [
            {"handler": "oauth2_introspection", "config": {
                "introspection_url": format!("{}/token/introspection", idp.issuer()),
                "introspection_request_headers": {"Authorization": BASIC},
                "required_scope": ["read"]}}]}
    ]));
    let (_u2, envoy) = serve(&idp, secured);
    for path in ["/headers", "/image"] {
        between(
            &envoy.get(HOST, path),
            400,
            403,
            &format!("{path} no token"),
        );
    }
    for path in ["/headers", "/image"] {
        let r = envoy.send("GET", HOST, path, &[("Authorization", "any")], "");
        between(&r, 400, 403, &format!("{path} invalid token"));
    }
    let oauth2 = idp.token("opaque", "read");
    between(
        &with_bearer(&envoy, "/headers", &oauth2),
        200,
        299,
        "/headers OAuth2",
    );
    let jwt = idp.token("rs256", "");
    between(&with_bearer(&envoy, "/image", &jwt), 200, 299, "/image JWT");
}
