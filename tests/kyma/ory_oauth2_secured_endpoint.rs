//! Kyma's conformance, translated: `tests/integration/testsuites/ory/features/
//! oauth2_secured_endpoint.feature` of kyma-project/api-gateway (commit 64d110d6), scenario by
//! scenario, through Envoy with the filter under the Ory handler (Kyma's default) and a real
//! OpenID provider on loopback for introspection. The APIRule is the feature's manifest
//! (`oauth-strategy.yaml`, its v1beta1 spec) with its template values filled in.
//! The APIRules are given as the cluster stores them and `kubectl get -o json` returns them
//! (v2, the v1beta1 spec in an annotation: `crate::common::as_stored`), as issue 15 asks.

use crate::common::*;
use serde_json::{json, Value};

const HOST: &str = "httpbin-kyma.local.kyma.dev";

/// The suite's client credentials as the manifests' `introspection_request_headers` send them
/// (`Basic {{ .EncodedCredentials }}`), here the test provider's client.
const BASIC: &str = "Basic dGVzdC1jbGllbnQ6dGVzdC1zZWNyZXQ=";

/// `oauth-strategy.yaml`: every path, GET, `oauth2_introspection` requiring scope `read` at the
/// provider's introspection endpoint with the client's Basic credentials.
fn apirule(idp: &Idp) -> Value {
    json!({"apiVersion": "gateway.kyma-project.io/v1beta1", "kind": "APIRule",
           "metadata": {"name": "oauth2-secured-kyma", "namespace": "default"},
           "spec": {"gateway": "kyma-system/kyma-gateway", "host": HOST,
                    "service": {"name": "httpbin-kyma", "port": 8000},
                    "rules": [{"path": "/.*", "methods": ["GET"], "accessStrategies": [
                        {"handler": "oauth2_introspection", "config": {
                            "introspection_url": format!("{}/token/introspection", idp.issuer()),
                            "introspection_request_headers": {"Authorization": BASIC},
                            "required_scope": ["read"]}}]}]}})
}

fn between(r: &Response, lo: u16, hi: u16, what: &str) {
    assert!((lo..=hi).contains(&r.status), "{what}: {r:?}");
}

/// Scenario: OAuth2: Exposing an endpoint with OAuth2. The invalid token is the suite's
/// `Authorization: any`; the valid "OAuth2" token its `oauth2Cfg` token (opaque, scope `read`)
/// as `Authorization: Bearer`.
#[test]
fn oauth2_exposing_an_endpoint_with_oauth2() {
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
    let token = idp.token("opaque", "read");
    let r = envoy.send(
        "GET",
        HOST,
        "/image",
        &[("Authorization", &format!("Bearer {token}"))],
        "",
    );
    between(&r, 200, 299, "valid OAuth2 token");
}
