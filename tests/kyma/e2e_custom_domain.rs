//! Kyma's conformance, translated: `tests/e2e/tests/custom_domain/custom_domain_test.go` of
//! kyma-project/api-gateway (commit 64d110d6). In a cluster each test first creates a custom Istio
//! Gateway with its DNS entry and certificate (Gardener); that part needs the cluster. What the
//! filter decides is expressed here: the filter serves that gateway (`gateway` in its plugin
//! configuration, as on the custom gateway's pods), and the APIRule bound to it answers on the
//! custom domain.

use crate::common::*;
use serde_json::{json, Value};

const GATEWAY: &str = "custom-domain/custom-gateway";
const HOST: &str = "api.custom.example.org";

fn serve(idp: Option<&Idp>, rule: Value) -> (Upstream, Envoy) {
    let upstream = Upstream::start();
    let apirule = json!({"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
        "metadata": {"name": "custom-domain-kyma", "namespace": "custom-domain"},
        "spec": {"hosts": [HOST], "gateway": GATEWAY,
                 "service": {"name": "httpbin-kyma", "port": 8000}, "rules": [rule]}});
    let mut cfg = json!({"gateway": GATEWAY, "apiRules": [apirule]});
    let mut opts = EnvoyOptions::default();
    if let Some(idp) = idp {
        cfg["clusters"] = json!({idp.issuer(): "idp"});
        opts.idp_port = idp.port;
    }
    let envoy = Envoy::start_with(&upstream, &cfg.to_string(), opts);
    (upstream, envoy)
}

/// "Calling an unsecured API endpoint with custom domain" (`no_auth_apirule.yaml`): 2xx without
/// a token and with any token.
#[test]
fn calling_an_unsecured_api_endpoint_with_custom_domain() {
    let (_u, envoy) = serve(
        None,
        json!({"path": "/*", "methods": ["GET"], "noAuth": true}),
    );
    assert!((200..300).contains(&envoy.get(HOST, "/headers").status));
    let r = envoy.send(
        "GET",
        HOST,
        "/headers",
        &[("Authorization", "any-token")],
        "",
    );
    assert!((200..300).contains(&r.status), "{r:?}");
}

/// "Calling a secured API with JWT and custom domain" (`oauth_apirule.yaml`): 401 or 403 without
/// a token and with an invalid one, 2xx with a valid one.
#[test]
fn calling_a_secured_api_with_jwt_and_custom_domain() {
    let idp = Idp::start(300);
    let rule = json!({"path": "/*", "methods": ["GET"], "jwt": {"authentications":
        [{"issuer": idp.issuer(), "jwksUri": idp.jwks_uri()}]}});
    let (_u, envoy) = serve(Some(&idp), rule);
    assert!([401, 403].contains(&envoy.get(HOST, "/headers").status));
    let r = envoy.send(
        "GET",
        HOST,
        "/headers",
        &[("Authorization", "any-token")],
        "",
    );
    assert!([401, 403].contains(&r.status), "{r:?}");
    let t = idp.token("rs256", "read");
    let r = envoy.send(
        "GET",
        HOST,
        "/headers",
        &[("Authorization", &format!("Bearer {t}"))],
        "",
    );
    assert!((200..300).contains(&r.status), "{r:?}");
}
