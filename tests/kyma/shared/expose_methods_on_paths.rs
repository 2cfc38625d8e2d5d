//! Kyma's conformance, translated:
//! `tests/integration/testsuites/{v2,v2alpha1}/features/expose_methods_on_paths.feature` of
//! kyma-project/api-gateway (commit 64d110d6), scenario by scenario, through Envoy with the
//! filter and a real OpenID provider on loopback. The APIRules are the feature's manifests
//! (`paths-and-methods-noauth.yaml`, `paths-and-methods-jwt.yaml`) with their template values
//! filled in (the issuer is the test provider; its JWKS is at `/jwks`, not `/oauth2/certs`).
//! Shared by `v2_expose_methods_on_paths.rs` and `v2alpha1_expose_methods_on_paths.rs` (the feature files are the same;
//! `super::API_VERSION` is the version under test).

use crate::common::*;
use serde_json::{json, Value};

const HOST: &str = "httpbin-kyma.local.kyma.dev";

fn serve(name: &str, rules: Value, idp_port: u16) -> (Upstream, Envoy) {
    let upstream = Upstream::start();
    let apirule = json!({"apiVersion": super::API_VERSION, "kind": "APIRule",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"service": {"name": "httpbin-kyma", "port": 8000},
                 "gateway": "kyma-system/kyma-gateway", "hosts": [HOST], "rules": rules}});
    let cfg = json!({"clusters": {format!("http://127.0.0.1:{idp_port}"): "idp"},
                     "apiRules": [apirule]});
    let opts = EnvoyOptions {
        idp_port,
        ..Default::default()
    };
    let envoy = Envoy::start_with(&upstream, &cfg.to_string(), opts);
    (upstream, envoy)
}

/// The steps of both scenarios: (path, method, lowest, highest status).
const CALLS: [(&str, &str, u16, u16); 5] = [
    ("/anything", "GET", 200, 200),
    ("/anything", "POST", 200, 200),
    ("/anything", "PUT", 404, 404),
    ("/anything/put", "PUT", 200, 200),
    ("/anything/put", "POST", 404, 404),
];

/// Scenario: Expose GET, POST method for "/anything" and only PUT for "/anything/put" with
/// noAuth. "with any token" is Kyma's `Authorization: any`.
pub fn expose_get_post_method_for_anything_and_only_put_for_anything_put_with_noauth() {
    // paths-and-methods-noauth.yaml
    let (_u, envoy) = serve(
        "paths-and-methods-noauth-kyma",
        json!([{"path": "/anything", "methods": ["GET", "POST"], "noAuth": true},
               {"path": "/anything/put", "methods": ["PUT"], "noAuth": true}]),
        9,
    );
    for (path, method, lo, hi) in CALLS {
        let r = envoy.send(method, HOST, path, &[("Authorization", "any")], "");
        assert!((lo..=hi).contains(&r.status), "{method} {path}: {r:?}");
    }
}

/// Scenario: Expose GET, POST method for "/anything" and only PUT for "/anything/put" secured
/// by JWT. "with a valid "JWT" token" is a client-credentials JWT from the provider, asked for
/// without scopes (Kyma's `jwtConfig`), as `Authorization: Bearer`.
pub fn expose_get_post_method_for_anything_and_only_put_for_anything_put_secured_by_jwt() {
    let idp = Idp::start(300);
    let authn = json!({"authentications": [{"issuer": idp.issuer(), "jwksUri": idp.jwks_uri()}]});
    // paths-and-methods-jwt.yaml
    let (_u, envoy) = serve(
        "paths-and-methods-jwt-kyma",
        json!([{"path": "/anything", "methods": ["GET", "POST"], "jwt": authn},
               {"path": "/anything/put", "methods": ["PUT"], "jwt": authn}]),
        idp.port,
    );
    let bearer = format!("Bearer {}", idp.token("rs256", ""));
    for (path, method, lo, hi) in CALLS {
        let r = envoy.send(method, HOST, path, &[("Authorization", &bearer)], "");
        assert!((lo..=hi).contains(&r.status), "{method} {path}: {r:?}");
    }
}
