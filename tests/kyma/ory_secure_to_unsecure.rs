//! Kyma's conformance, translated: `tests/integration/testsuites/ory/features/
//! secure_to_unsecure.feature` of kyma-project/api-gateway (commit 64d110d6), scenario by
//! scenario, through Envoy with the filter under the Ory handler (Kyma's default) and a real
//! OpenID provider on loopback for introspection. The APIRules are the feature's manifests
//! (`secured-to-unsecured.yaml`, then `secured-to-unsecured-2.yaml`; their v1beta1 specs) with
//! their template values filled in. The update is a new plugin configuration.
//! The APIRules are given as the cluster stores them and `kubectl get -o json` returns them
//! (v2, the v1beta1 spec in an annotation: `crate::common::as_stored`), as issue 15 asks.

use crate::common::*;
use serde_json::{json, Value};

const HOST: &str = "httpbin-kyma.local.kyma.dev";

/// The suite's client credentials as the manifests' `introspection_request_headers` send them
/// (`Basic {{ .EncodedCredentials }}`), here the test provider's client.
const BASIC: &str = "Basic dGVzdC1jbGllbnQ6dGVzdC1zZWNyZXQ=";

/// The APIRule of both manifests: every path, GET, with `strategy`.
fn apirule(strategy: Value) -> Value {
    json!({"apiVersion": "gateway.kyma-project.io/v1beta1", "kind": "APIRule",
           "metadata": {"name": "secured-to-unsecured-kyma", "namespace": "default"},
           "spec": {"gateway": "kyma-system/kyma-gateway", "host": HOST,
                    "service": {"name": "httpbin-kyma", "port": 8000},
                    "rules": [{"path": "/.*", "methods": ["GET"], "accessStrategies": [strategy]}]}})
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

/// Scenario: SecureToUnsecure: Securing an unsecured endpoint with OAuth2 (the title says
/// "securing"; the steps go from `oauth2_introspection` to `noop`). The valid "OAuth2" token is
/// the suite's `oauth2Cfg` token (opaque, scope `read`) as `Authorization: Bearer`; "any token"
/// is `Authorization: any`.
#[test]
fn securetounsecure_securing_an_unsecured_endpoint_with_oauth2() {
    let idp = Idp::start(300);
    // secured-to-unsecured.yaml
    let secured = apirule(json!({"handler": "oauth2_introspection", "config": {
        "introspection_url": format!("{}/token/introspection", idp.issuer()),
        "introspection_request_headers": {"Authorization": BASIC},
        "required_scope": ["read"]}}));
    let (_u, envoy) = serve(&idp, secured);
    let token = idp.token("opaque", "read");
    let r = envoy.send(
        "GET",
        HOST,
        "/headers",
        &[("Authorization", &format!("Bearer {token}"))],
        "",
    );
    between(&r, 200, 299, "OAuth2 token while secured");
    drop(envoy);

    // secured-to-unsecured-2.yaml
    let (_u2, updated) = serve(&idp, apirule(json!({"handler": "noop"})));
    between(&updated.get(HOST, "/headers"), 200, 299, "no token");
    let r = updated.send("GET", HOST, "/headers", &[("Authorization", "any")], "");
    between(&r, 200, 299, "any token");
}
