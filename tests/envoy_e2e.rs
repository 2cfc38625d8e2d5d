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

/// The one APIRule in `tests/fixtures/<path>`.
fn apirule_fixture(path: &str) -> Value {
    let mut docs = yaml_documents(&fixture(path));
    assert_eq!(docs.len(), 1, "{path}");
    docs.remove(0)
}

#[test]
fn fixture_apirules_route_as_kyma_routes_them() {
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
        apirule_fixture("apirules/v2-noauth-catch-all.yaml"),
        apirule_fixture("apirules/v2-short-host-three-rules.yaml"),
        apirule_fixture("apirules/v2-extauth-jwt-restrictions.yaml"),
        apirule_fixture("apirules/v2-short-host.yaml"),
        apirule_fixture("apirules/v2-rule-level-service.yaml"),
        // Placeholders (`{TENANT}`, `${...}`): invalid, logged, expose nothing.
        apirule_fixture("invalid/v2-jwt-placeholder-issuer.yaml"),
        apirule_fixture("invalid/v2-placeholder-host.yaml"),
        broken,
    ];
    // The extAuth rule names the authorizer `x-ext-authz`: the test authorizer, as Istio's mesh
    // config would.
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

    // v2-noauth-catch-all: catalog.shop.example, `/*` GET, spec timeout 420.
    let catalog = "catalog.shop.example";
    let r = envoy.get(catalog, "/anything/deep/path");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.upstream_header("X-Envoy-Expected-Rq-Timeout-Ms")
            .as_deref(),
        Some("420000")
    );
    assert_eq!(
        envoy.send("POST", catalog, "/anything", &[], "").status,
        404
    );

    // v2-short-host-three-rules: short host `orders` + defaultDomain; POST and PATCH /anything,
    // HEAD /headers, GET /{**}; Kyma's default timeout.
    let orders = "orders.local.kyma.dev";
    let r = envoy.send("POST", orders, "/anything", &[], "");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.upstream_header("X-Envoy-Expected-Rq-Timeout-Ms")
            .as_deref(),
        Some("180000")
    );
    assert_eq!(
        envoy.send("PATCH", orders, "/anything", &[], "").status,
        200
    );
    assert_eq!(envoy.send("HEAD", orders, "/headers", &[], "").status, 200);
    assert_eq!(envoy.get(orders, "/anything/x").status, 200);
    assert_eq!(envoy.get(orders, "/").status, 200);
    assert_eq!(envoy.send("PUT", orders, "/anything", &[], "").status, 404);
    assert_eq!(envoy.send("POST", orders, "/post", &[], "").status, 404);
    assert_eq!(envoy.send("PATCH", orders, "/patch", &[], "").status, 404);

    // v2-extauth-jwt-restrictions: the authorizer decides first (its own 403), then the
    // restrictions: allowed by the authorizer but without a token, RBAC's 403.
    let reports = "reports.billing.example";
    let r = envoy.get(reports, "/get");
    assert_eq!(r.status, 403);
    assert!(r.body.starts_with("denied by ext_authz"), "{r:?}");
    let r = envoy.send("GET", reports, "/get", &[("x-ext-authz", "allow")], "");
    assert_eq!((r.status, r.body.as_str()), (403, "RBAC: access denied"));

    // v2-short-host: `inventory` GET /headers only.
    assert_eq!(
        envoy.get("inventory.local.kyma.dev", "/headers").status,
        200
    );
    assert_eq!(envoy.get("inventory.local.kyma.dev", "/ip").status, 404);

    // v2-rule-level-service: both rules served, whichever service each names; nothing else.
    let portal = "portal.local.kyma.dev";
    assert_eq!(envoy.get(portal, "/headers").status, 200);
    assert_eq!(envoy.get(portal, "/ip").status, 200);
    assert_eq!(envoy.get(portal, "/get").status, 404);

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
    assert_eq!(invalid.len(), 3, "{}", invalid.join("\n"));
    assert!(log.contains("test/broken (gateway.kyma-project.io/v2 APIRule) is invalid and exposes nothing: Validation errors: Attribute '.spec.rules[0].path': Only one {**} operator is allowed in the path."));
    assert!(
        log.contains("shop/orders (gateway.kyma-project.io/v2 APIRule) is invalid"),
        "the placeholder issuer has the name of the valid three-rule APIRule"
    );
    assert!(
        log.contains("docs/docs-tls (gateway.kyma-project.io/v2 APIRule) is invalid"),
        "{log}"
    );
    assert!(log.contains("serving 6 APIRules"), "{log}");
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
        apirule_fixture("apirules/v1beta1-oauth2-introspection.yaml"),
        apirule_fixture("apirules/v1beta1-unenforced-strategies.yaml"),
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

    // v1beta1-oauth2-introspection without a token, and each strategy this build does not
    // enforce: Oathkeeper's 401 body, nothing passed.
    for (method, host, path) in [
        ("GET", "ledger.accounts.example", "/anything"),
        ("GET", "archive.records.example", "/anonymous"),
        ("GET", "archive.records.example", "/closed"),
        ("GET", "archive.records.example", "/session"),
        ("POST", "archive.records.example", "/machine"),
    ] {
        let r = envoy.send(method, host, path, &[], "");
        assert_eq!(r.status, 401, "{method} {host}{path}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(
            body,
            json!({"error": {"code": 401, "status": "Unauthorized", "message": "The request could not be authorized"}}),
            "{method} {host}{path}"
        );
    }
    assert_eq!(
        envoy.get("archive.records.example", "/machine").status,
        404,
        "method not listed"
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
        // Software RSA is the portable module's (README "Two modules").
        (
            r#"{"apiRules": [], "nativeCrypto": false}"#,
            ".nativeCrypto: false verifies RSA and P-384 in software, which only the portable module",
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

/// Issue 14's ceiling for the default module (README "Two modules"): a size is deterministic, so
/// this is a test, not a benchmark.
#[test]
fn the_default_module_is_under_one_mib() {
    let size = std::fs::metadata(wasm_path()).unwrap().len();
    assert!(size < 1 << 20, "{} is {size} bytes", wasm_path().display());
}

/// Issue 17: both modules export only the proxy-wasm callbacks the filter implements (the host
/// calls every exported one, per stream), and every one it implements (a missing one would be
/// silently skipped by the host): those of `crates/filter/src/exports.rs`.
#[test]
fn modules_export_exactly_the_callbacks_the_filter_implements() {
    let expected = [
        "memory",
        "_initialize",
        "proxy_abi_version_0_2_1",
        "proxy_on_memory_allocate",
        // The root context: start, configuration, the JWKS timer, JWKS fetch answers (and a
        // stream's call answers).
        "proxy_on_vm_start",
        "proxy_on_configure",
        "proxy_on_tick",
        "proxy_on_http_call_response",
        // Each stream: created (its root, when the VM has several), request and response
        // headers, deleted (what was kept for it goes, a parked request is forgotten).
        "proxy_on_context_create",
        "proxy_on_request_headers",
        "proxy_on_response_headers",
        "proxy_on_delete",
    ];
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    for module in [wasm_path(), portable_wasm_path()] {
        let mut found = wasm_exports(&std::fs::read(&module).unwrap());
        found.sort();
        assert_eq!(found, want, "{}", module.display());
    }
    // The shell exports no other function: a new callback must be listed here too.
    let shell = std::fs::read_to_string(repo().join("crates/filter/src/exports.rs")).unwrap();
    let mut exported: Vec<String> = shell
        .split("pub extern \"C\" fn ")
        .skip(1)
        .filter_map(|rest| rest.split('(').next())
        .map(str::to_owned)
        .chain(["memory".to_owned()])
        .collect();
    exported.sort();
    assert_eq!(exported, want);
}

/// The names in a WebAssembly module's export section.
fn wasm_exports(data: &[u8]) -> Vec<String> {
    fn leb(data: &[u8], i: &mut usize) -> usize {
        let (mut value, mut shift) = (0usize, 0);
        loop {
            let byte = data[*i];
            *i += 1;
            value |= usize::from(byte & 0x7f) << shift;
            shift += 7;
            if byte < 0x80 {
                return value;
            }
        }
    }
    assert_eq!(&data[..8], b"\0asm\x01\0\0\0");
    let mut i = 8;
    while i < data.len() {
        let id = data[i];
        i += 1;
        let size = leb(data, &mut i);
        let end = i + size;
        if id == 7 {
            let mut names = Vec::new();
            for _ in 0..leb(data, &mut i) {
                let len = leb(data, &mut i);
                names.push(String::from_utf8(data[i..i + len].to_vec()).unwrap());
                i += len + 1;
                leb(data, &mut i);
            }
            return names;
        }
        i = end;
    }
    Vec::new()
}

/// The test harness: a listener port taken between `free_port` and Envoy's bind (an outgoing
/// connection can take any ephemeral port) gets Envoy started again on fresh ports, not a failed
/// test. Seen once in CI as `cannot bind ...: Address already in use`.
#[test]
fn envoy_starts_on_fresh_ports_when_its_port_was_taken() {
    let upstream = Upstream::start();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let admin = free_port();
    let cfg = render(port, admin, upstream.port, 9, &shipped_plugin_config());
    let envoy = Envoy::start_raw(port, admin, &cfg, 1);
    assert_ne!(envoy.port, port);
    assert_eq!(envoy.get("httpbin.local.kyma.dev", "/headers").status, 200);
    drop(taken);
}

/// Two plugin configurations in one VM (two filters with the same module and VM config, as Envoy
/// also has while it moves from one configuration to the next): each stream is decided by its
/// own filter's rules, and its response edited by its own filter's CORS policy. The module
/// records a stream's root only while the VM has more than one.
#[test]
fn two_configurations_in_one_vm_decide_each_stream_by_its_own() {
    let upstream = Upstream::start();
    let api = |rules: Value, cors: Option<Value>| {
        let mut rule = json!({
            "apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
            "metadata": {"name": "two", "namespace": "test"},
            "spec": {"hosts": ["two.example.com"], "gateway": "kyma-system/kyma-gateway",
                     "service": {"name": "httpbin", "port": 8000}, "rules": rules}
        });
        if let Some(cors) = cors {
            rule["spec"]["corsPolicy"] = cors;
        }
        plugin_config(&[rule], None)
    };
    let outer = api(
        json!([{"path": "/anything/a", "methods": ["GET"], "noAuth": true},
               {"path": "/anything/b", "methods": ["GET"], "noAuth": true}]),
        Some(json!({"allowOrigins": [{"exact": "https://a.example"}]})),
    );
    let inner = api(
        json!([{"path": "/anything/a", "methods": ["GET"], "noAuth": true},
               {"path": "/headers", "methods": ["GET"], "noAuth": true}]),
        None,
    );
    let (port, admin) = (free_port(), free_port());
    let mut cfg = render(port, admin, upstream.port, 9, &outer);
    let mut second = wasm_filter_mut(&mut cfg).clone();
    second["typed_config"]["config"]["configuration"]["value"] = inner.into();
    let filters = cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        ["typed_config"]["http_filters"]
        .as_array_mut()
        .unwrap();
    let at = filters
        .iter()
        .position(|f| f["name"] == "envoy.filters.http.wasm")
        .unwrap();
    filters.insert(at + 1, second);
    let envoy = Envoy::start_raw(port, admin, &cfg, 2);
    let host = "two.example.com";
    for _ in 0..3 {
        assert_eq!(envoy.get(host, "/anything/a").status, 200);
        // Allowed by the first filter, refused by the second; and the other way round.
        assert_eq!(envoy.get(host, "/anything/b").status, 404);
        assert_eq!(envoy.get(host, "/headers").status, 404);
        let r = envoy.send(
            "GET",
            host,
            "/anything/a",
            &[("origin", "https://a.example")],
            "",
        );
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://a.example"),
            "the outer filter's policy: {r:?}"
        );
    }
    assert!(
        envoy.log().contains("serving 1 APIRules (2 rules"),
        "{}",
        envoy.log()
    );
}
