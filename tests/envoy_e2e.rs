//! End to end through the real Envoy 1.40 with the built module and httpbin upstream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::{json, Value};

const HOST: &str = "httpbin.local.kyma.dev";

#[test]
fn shipped_sample_serves_as_documented() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(&upstream, &shipped_plugin_config());

    let r = envoy.get(HOST, "/headers");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.upstream_header("X-Forwarded-Host").as_deref(), Some(HOST));
    assert_eq!(
        r.upstream_header("X-Envoy-Expected-Rq-Timeout-Ms")
            .as_deref(),
        Some("180000")
    );

    // Port and case of the authority do not matter; a client's x-forwarded-host is replaced.
    let r = envoy.send(
        "GET",
        "HTTPBIN.Local.Kyma.Dev:10000",
        "/headers",
        &[("X-Forwarded-Host", "evil.example")],
        "",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.upstream_header("X-Forwarded-Host").as_deref(), Some(HOST));

    assert_eq!(
        envoy.send("POST", HOST, "/anything/a/b", &[], "x").status,
        200
    );
    assert_eq!(
        envoy.get(HOST, "/anything/a?q=1").status,
        200,
        "query is not part of the path"
    );

    // No rule: 404 with Envoy's empty body, nothing reaches the upstream.
    for (method, path) in [
        ("POST", "/headers"),
        ("HEAD", "/headers"),
        ("GET", "/anything"),
        ("GET", "/ip"),
    ] {
        let r = envoy.send(method, HOST, path, &[], "");
        assert_eq!(r.status, 404, "{method} {path}");
        assert!(r.body.is_empty());
    }
    assert_eq!(envoy.get("unknown.local.kyma.dev", "/headers").status, 404);

    // jwt rules without a token: Istio's RBAC answer.
    for path in ["/bearer", "/anything/admin/x"] {
        let r = envoy.get(HOST, path);
        assert_eq!(
            (r.status, r.body.as_str()),
            (403, "RBAC: access denied"),
            "{path}"
        );
    }
}

#[test]
fn rule_timeout_is_enforced_by_envoy() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(&upstream, &shipped_plugin_config());
    // `/delay/{*}` has `timeout: 2`: httpbin answering after 1 s passes, after 4 s Envoy gives up.
    let r = envoy.get(HOST, "/delay/1");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.upstream_header("X-Envoy-Expected-Rq-Timeout-Ms")
            .as_deref(),
        Some("2000")
    );
    let started = std::time::Instant::now();
    let r = envoy.get(HOST, "/delay/4");
    assert_eq!(r.status, 504, "{r:?}");
    assert_eq!(r.body, "upstream request timeout");
    // Not a timing assertion: only that Envoy did not wait for the upstream's 4 s answer.
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
}

fn example(name: &str) -> Value {
    let mut docs = yaml_documents(&reference().join("kyma-examples").join(name));
    assert_eq!(docs.len(), 1, "{name}");
    docs.remove(0)
}

#[test]
fn kyma_examples_route_as_their_docs_say() {
    let upstream = Upstream::start();
    let broken = json!({
        "apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
        "metadata": {"name": "broken", "namespace": "test"},
        "spec": {"hosts": ["broken"], "gateway": "kyma-system/kyma-gateway",
                 "service": {"name": "httpbin", "port": 8000},
                 "rules": [{"path": "/{**}/x/{**}", "methods": ["GET"], "noAuth": true}]}
    });
    let wildcard = json!({
        "apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
        "metadata": {"name": "wild", "namespace": "test"},
        "spec": {"hosts": ["*.wild.kyma.dev"], "gateway": "kyma-system/kyma-gateway",
                 "service": {"name": "httpbin", "port": 8000},
                 "rules": [{"path": "/headers", "methods": ["GET"], "noAuth": true}]}
    });
    let rules = [
        wildcard,
        example("01-v2-noauth-sample-cr.yaml"),
        example("02-v2-noauth-three-rules-short-host.yaml"),
        example("04-v2-extauth-with-jwt-restrictions.yaml"),
        example("05-v2-short-host.yaml"),
        // Placeholders (`{YOUR_TENANT}`, `${...}`, `$ISSUER`): invalid, logged, expose nothing.
        example("03-v2-jwt-migrated-two-rules.yaml"),
        example("06-v2-rule-level-service-override.yaml"),
        example("07-v2-jwt-custom-tls-gateway.yaml"),
        broken,
    ];
    // 04 names the authorizer `x-ext-authz`: the test authorizer, as Istio's mesh config would.
    let authz = Authz::start();
    let mut config: serde_json::Value =
        serde_json::from_str(&plugin_config(&rules, Some("local.kyma.dev"))).unwrap();
    config["extensionProviders"] = json!([{"name": "x-ext-authz", "envoyExtAuthzHttp": {
        "service": "127.0.0.1", "port": authz.port, "includeRequestHeadersInCheck": ["x-ext-authz"]}}]);
    config["clusters"] = json!({format!("http://127.0.0.1:{}", authz.port): "ext_authz"});
    let envoy = Envoy::start_with(
        &upstream,
        &config.to_string(),
        EnvoyOptions {
            clusters: vec![("ext_authz".into(), authz.port)],
            ..Default::default()
        },
    );

    // 01: foo.bar, `/*` GET, spec timeout 360.
    let r = envoy.get("foo.bar", "/anything/deep/path");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.upstream_header("X-Envoy-Expected-Rq-Timeout-Ms")
            .as_deref(),
        Some("360000")
    );
    assert_eq!(
        envoy.send("POST", "foo.bar", "/anything", &[], "").status,
        404
    );

    // 02: short host `httpbin` + defaultDomain; POST /anything, HEAD /headers, GET /{**}.
    assert_eq!(envoy.send("POST", HOST, "/anything", &[], "").status, 200);
    assert_eq!(envoy.send("HEAD", HOST, "/headers", &[], "").status, 200);
    assert_eq!(envoy.get(HOST, "/anything/x").status, 200);
    assert_eq!(envoy.get(HOST, "/").status, 200);
    assert_eq!(envoy.send("PUT", HOST, "/anything", &[], "").status, 404);
    assert_eq!(envoy.send("POST", HOST, "/post", &[], "").status, 404);

    // 04: the authorizer decides first (its own 403), then the restrictions: allowed by the
    // authorizer but without a token, RBAC's 403.
    let r = envoy.get("na.example.com", "/get");
    assert_eq!(r.status, 403);
    assert!(r.body.starts_with("denied by ext_authz"), "{r:?}");
    let r = envoy.send(
        "GET",
        "na.example.com",
        "/get",
        &[("x-ext-authz", "allow")],
        "",
    );
    assert_eq!((r.status, r.body.as_str()), (403, "RBAC: access denied"));

    // 05: `myapp` GET /headers only.
    assert_eq!(envoy.get("myapp.local.kyma.dev", "/headers").status, 200);
    assert_eq!(envoy.get("myapp.local.kyma.dev", "/ip").status, 404);

    // Wildcard host: any subdomain; Kyma forwards the request's authority as x-forwarded-host.
    let r = envoy.get("a.b.wild.kyma.dev:8443", "/headers");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.upstream_header("X-Forwarded-Host").as_deref(),
        Some("a.b.wild.kyma.dev:8443")
    );
    assert_eq!(
        envoy.get("wild.kyma.dev", "/headers").status,
        404,
        "the bare domain is not covered"
    );

    // An invalid APIRule exposes nothing; its neighbours keep working.
    assert_eq!(envoy.get("broken.local.kyma.dev", "/a/x/b").status, 404);

    // Each invalid object is logged once with its name and errors, not once per worker.
    let log = envoy.log();
    let invalid: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("is invalid and exposes nothing"))
        .collect();
    assert_eq!(invalid.len(), 4, "{}", invalid.join("\n"));
    assert!(log.contains("test/broken (gateway.kyma-project.io/v2 APIRule) is invalid and exposes nothing: Validation errors: Attribute '.spec.rules[0].path': Only one {**} operator is allowed in the path."));
    assert!(
        log.contains("test/httpbin (gateway.kyma-project.io/v2 APIRule) is invalid"),
        "03 duplicates 02's name"
    );
    assert!(log.contains("serving 5 APIRules"));
}

#[test]
fn v1beta1_oathkeeper_rules_deny_with_oathkeepers_body() {
    let upstream = Upstream::start();
    let allow = json!({
        "apiVersion": "gateway.kyma-project.io/v1beta1", "kind": "APIRule",
        "metadata": {"name": "legacy", "namespace": "default"},
        "spec": {"host": "legacy", "gateway": "kyma-gateway.kyma-system.svc.cluster.local",
                 "service": {"name": "httpbin", "port": 8000}, "timeout": 10,
                 "rules": [
                    {"path": "/status/[0-9]+", "methods": ["GET"], "accessStrategies": [{"handler": "allow"}]},
                    {"path": "/anything/.*", "methods": ["GET", "PUT"], "accessStrategies": [{"handler": "noop"}], "timeout": 3},
                    {"path": "/*", "methods": ["GET"], "accessStrategies": [{"handler": "no_auth"}]}
                 ]}
    });
    let old = json!({
        "apiVersion": "gateway.kyma-project.io/v1alpha1", "kind": "APIRule",
        "metadata": {"name": "old", "namespace": "default"},
        "spec": {"gateway": "kyma-gateway.kyma-system.svc.cluster.local",
                 "service": {"name": "httpbin", "port": 8000, "host": "old.example.com"},
                 "rules": [{"path": "/headers", "methods": ["GET"], "accessStrategies": [{"handler": "allow"}]}]}
    });
    let api_open = json!({
        "apiVersion": "gateway.kyma-project.io/v1alpha2", "kind": "Api",
        "metadata": {"name": "open", "namespace": "default"},
        "spec": {"service": {"name": "httpbin", "port": 8000}, "hostname": "open.example.com"}
    });
    let api_jwt = json!({
        "apiVersion": "gateway.kyma-project.io/v1alpha2", "kind": "Api",
        "metadata": {"name": "secured", "namespace": "default"},
        "spec": {"service": {"name": "httpbin", "port": 8000}, "hostname": "secured.example.com",
                 "authentication": [{"type": "JWT", "jwt": {"issuer": "https://accounts.google.com",
                                                            "jwksUri": "https://www.googleapis.com/oauth2/v3/certs"}}]}
    });
    let rules = [
        allow,
        old,
        api_open,
        api_jwt,
        example("08-v1beta1-ory-oauth2-introspection.yaml"),
    ];
    let envoy = Envoy::start(&upstream, &plugin_config(&rules, Some("local.kyma.dev")));

    let host = "legacy.local.kyma.dev";
    assert_eq!(
        envoy.get(host, "/status/201").status,
        201,
        "regex path, full match"
    );
    assert_eq!(envoy.get(host, "/get").status, 200, "falls through to `/*`");
    let r = envoy.send("PUT", host, "/anything/x", &[], "");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.upstream_header("X-Envoy-Expected-Rq-Timeout-Ms")
            .as_deref(),
        Some("3000")
    );
    assert_eq!(envoy.send("POST", host, "/anything/x", &[], "").status, 404);
    let r = envoy.get(host, "/headers");
    assert_eq!(
        r.upstream_header("X-Envoy-Expected-Rq-Timeout-Ms")
            .as_deref(),
        Some("10000")
    );

    assert_eq!(
        envoy.get("old.example.com", "/headers").status,
        200,
        "v1alpha1 service.host"
    );
    assert_eq!(
        envoy
            .send("DELETE", "open.example.com", "/anything", &[], "")
            .status,
        200,
        "Api: all methods"
    );
    assert_eq!(
        envoy.get("secured.example.com", "/headers").status,
        401,
        "Api with JWT: not enforced yet, denied"
    );

    // 08: oauth2_introspection (not enforced by this build): Oathkeeper's 401 body.
    let r = envoy.get("foo.bar", "/anything");
    assert_eq!(r.status, 401);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        body,
        json!({"error": {"code": 401, "status": "Unauthorized", "message": "The request could not be authorized"}})
    );
}

#[test]
fn broken_plugin_configuration_is_refused() {
    // Envoy must refuse to serve rather than serve without rules (fail closed).
    for (config, expected) in [
        ("{not json", "plugin configuration is not valid JSON"),
        (r#"{"apiRule": []}"#, "unknown field `apiRule`"),
        (
            r#"{"apiRules": [42]}"#,
            ".apiRules[0]: expected an APIRule object or a List",
        ),
    ] {
        match Envoy::try_start(
            free_port(),
            config,
            EnvoyOptions {
                concurrency: 1,
                ..Default::default()
            },
        ) {
            Ok(_) => panic!("Envoy accepted {config:?}"),
            Err(log) => {
                assert!(log.contains(expected), "{config:?}: {log}");
                assert!(
                    log.contains("Plugin configured to fail closed failed to load"),
                    "{log}"
                );
            }
        }
    }
}

#[test]
fn shipped_config_is_valid_for_envoy() {
    assert_envoy_validates(&repo().join("envoy/envoy.yaml"));
}

#[test]
fn metrics_in_prometheus() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(&upstream, &shipped_plugin_config());
    for _ in 0..3 {
        assert_eq!(envoy.get(HOST, "/headers").status, 200);
    }
    assert_eq!(envoy.get(HOST, "/ip").status, 404);
    assert_eq!(envoy.get(HOST, "/bearer").status, 403);
    let r = envoy.send(
        "GET",
        HOST,
        "/bearer",
        &[("Authorization", "Bearer a.b.c")],
        "",
    );
    assert_eq!(r.status, 401);
    // Counters are exported on the filter's tick: poll until they show.
    let value = |name: &str, expected: u64| {
        envoy.metric_when(name, std::time::Duration::from_secs(3), |v| v >= expected)
    };
    assert_eq!(value("apirule_requests_allowed", 3), 3);
    assert_eq!(value("apirule_requests_denied_no_route", 1), 1);
    assert_eq!(value("apirule_requests_denied_no_token", 1), 1);
    assert_eq!(value("apirule_requests_denied_invalid_token", 1), 1);
    // No identity provider behind the sample's `idp` cluster here: fetches fail and are counted.
    assert!(value("apirule_jwks_fetch_failures", 1) >= 1);
    // Logs say why, and never carry the token.
    let log = envoy.log();
    assert!(log.contains("invalid_token"), "{log}");
    assert!(!log.contains("a.b.c"), "a token reached the log");
}
