//! v2 `extAuth` through the real Envoy with a real authorizer process on loopback
//! (tests/authz/server.py): allowing, denying with its own answer, redirecting, failing and
//! timing out (both fail closed), and `restrictions` applied after it as a `jwt` rule.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const HOST: &str = "ext.local.kyma.dev";

fn plugin(idp: &Idp, authz: &Authz) -> String {
    json!({
        "defaultDomain": "local.kyma.dev",
        "clusters": {idp.issuer(): "idp", format!("http://127.0.0.1:{}", authz.port): "ext_authz"},
        "extensionProviders": [
            {"name": "x-ext-authz", "envoyExtAuthzHttp": {
                "service": "127.0.0.1", "port": authz.port, "pathPrefix": "/check",
                "timeout": "500ms",
                "includeRequestHeadersInCheck": ["x-ext-authz", "x-user"],
                "headersToUpstreamOnAllow": ["x-ext-authz-*"],
                "headersToDownstreamOnAllow": ["x-ext-authz-check-result"],
                "headersToDownstreamOnDeny": ["x-ext-authz-check-result"]}},
            // Kyma's examples name providers like this; a gRPC one is accepted, not usable.
            {"name": "grpc-authz", "envoyExtAuthzGrpc": {"service": "g.example.com", "port": 9000}}
        ],
        "apiRules": [{
            "apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
            "metadata": {"name": "ext", "namespace": "test"},
            "spec": {"hosts": ["ext"], "gateway": "kyma-system/kyma-gateway",
                     "service": {"name": "httpbin", "port": 8000},
                     "rules": [
                        {"path": "/headers", "methods": ["GET"],
                         "extAuth": {"authorizers": ["x-ext-authz"]}},
                        {"path": "/anything/{**}", "methods": ["GET"],
                         "extAuth": {"authorizers": ["x-ext-authz"],
                                     "restrictions": {"authentications": [
                                        {"issuer": idp.issuer(), "jwksUri": idp.jwks_uri()}]}}}
                     ]}
        }]
    })
    .to_string()
}

fn start(idp: &Idp, authz: &Authz, upstream: &Upstream) -> Envoy {
    Envoy::start_with(
        upstream,
        &plugin(idp, authz),
        EnvoyOptions {
            idp_port: idp.port,
            clusters: vec![("ext_authz".into(), authz.port)],
            ..Default::default()
        },
    )
}

#[test]
fn authorizer_allows_denies_redirects_and_fails_closed() {
    let idp = Idp::start(300);
    let authz = Authz::start();
    let upstream = Upstream::start();
    let envoy = start(&idp, &authz, &upstream);

    // Allowed: the check carried the method, pathPrefix + path + query, the host, authorization
    // and the listed headers (not the cookie); the authorizer's x-ext-authz-* headers reached the
    // upstream, its check result the client, and nothing else it said went anywhere.
    let r = envoy.send(
        "GET",
        HOST,
        "/headers?q=1",
        &[
            ("x-ext-authz", "allow"),
            ("x-user", "alice"),
            ("authorization", "Bearer opaque"),
            ("cookie", "session=secret"),
        ],
        "",
    );
    assert_eq!(r.status, 200, "{r:?}\n{}", envoy.log());
    assert_eq!(
        r.upstream_header("x-ext-authz-user").as_deref(),
        Some("alice")
    );
    assert_eq!(
        r.upstream_header("x-ext-authz-saw-path").as_deref(),
        Some("/check/headers?q=1")
    );
    assert_eq!(
        r.upstream_header("x-ext-authz-saw-method").as_deref(),
        Some("GET")
    );
    assert_eq!(
        r.upstream_header("x-ext-authz-saw-host").as_deref(),
        Some(HOST)
    );
    let saw = r.upstream_header("x-ext-authz-saw-headers").unwrap();
    for name in ["authorization", "x-ext-authz", "x-user"] {
        assert!(saw.split(',').any(|h| h == name), "{name} not sent: {saw}");
    }
    assert!(!saw.contains("cookie"), "{saw}");
    assert_eq!(r.upstream_header("x-not-forwarded"), None);
    assert_eq!(r.header("x-ext-authz-check-result"), Some("allowed"));

    // Denied: the authorizer's status, body and listed headers; its other headers stay inside.
    let r = envoy.get(HOST, "/headers");
    assert_eq!(r.status, 403);
    assert_eq!(
        r.body,
        "denied by ext_authz for not found header `x-ext-authz: allow` in the request"
    );
    assert_eq!(r.header("x-ext-authz-check-result"), Some("denied"));
    assert_eq!(r.header("x-internal-secret"), None);

    // A redirect to a login page reaches the client with its location.
    let r = envoy.send("GET", HOST, "/headers", &[("x-ext-authz", "redirect")], "");
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location"),
        Some("https://login.example.com/?rd=/check/headers")
    );

    // A 5xx and a timeout (the authorizer would allow after 3 s; the provider waits 500 ms):
    // statusOnError, 403, empty body.
    for verdict in ["error", "slow"] {
        let r = envoy.send("GET", HOST, "/headers", &[("x-ext-authz", verdict)], "");
        assert_eq!((r.status, r.body.as_str()), (403, ""), "{verdict}: {r:?}");
    }
    // The filter keeps serving.
    let r = envoy.send("GET", HOST, "/headers", &[("x-ext-authz", "allow")], "");
    assert_eq!(r.status, 200);

    let failures = envoy.metric_when(
        "apirule_requests_denied_ext_authz_failure",
        Duration::from_secs(3),
        |v| v >= 2,
    );
    assert_eq!(failures, 2);
    let denied = envoy.metric_when(
        "apirule_requests_denied_ext_authz",
        Duration::from_secs(3),
        |v| v >= 2,
    );
    assert_eq!(denied, 2, "the 403 and the redirect");
}

#[test]
fn restrictions_apply_after_the_authorizer() {
    let idp = Idp::start(300);
    let authz = Authz::start();
    let upstream = Upstream::start();
    let envoy = start(&idp, &authz, &upstream);
    let token = idp.token("rs256", "read");
    let bearer = format!("Bearer {token}");

    // Allowed by the authorizer, no token: RBAC's 403.
    let r = envoy.send("GET", HOST, "/anything/a", &[("x-ext-authz", "allow")], "");
    assert_eq!((r.status, r.body.as_str()), (403, "RBAC: access denied"));
    // Allowed and a valid token: through, the token forwarded (JWKS fetched meanwhile).
    let r = envoy.send(
        "GET",
        HOST,
        "/anything/a",
        &[("x-ext-authz", "allow"), ("authorization", &bearer)],
        "",
    );
    assert_eq!(r.status, 200, "{r:?}\n{}", envoy.log());
    assert_eq!(r.upstream_header("authorization"), Some(bearer.clone()));
    assert_eq!(
        r.upstream_header("x-ext-authz-check-result").as_deref(),
        Some("allowed")
    );
    // A valid token does not overrule the authorizer.
    let r = envoy.send(
        "GET",
        HOST,
        "/anything/a",
        &[("authorization", &bearer)],
        "",
    );
    assert_eq!(r.status, 403);
    assert!(r.body.starts_with("denied by ext_authz"), "{r:?}");
    // A forged token is jwt_authn's 401, whatever the authorizer would say.
    let forged = format!("Bearer {}", forge_signature(&token));
    let r = envoy.send(
        "GET",
        HOST,
        "/anything/a",
        &[("x-ext-authz", "allow"), ("authorization", &forged)],
        "",
    );
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.body, "Jwt verification fails");
}
