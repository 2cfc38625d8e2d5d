//! Issue 12's five attacks, reproduced through the real Envoy. Each test failed against the
//! module before the fix (run with `APIRULE_WASM=<old module>` to see it):
//!
//! 1. one header byte >= 0x80 killed the worker for good (a panic in the SDK's UTF-8 unwrap);
//! 2. a token cached by one introspection rule passed rules that may not use that cache;
//! 3. a claim with `;` and client cookie names with spaces smuggled cookies past the Ory
//!    `cookie` mutator;
//! 4. an Ory jwt rule accepted a token without `kid` once an Istio-style rule had cached it;
//! 5. a claim with CR, LF or NUL copied into a header made Envoy answer 503 instead of the rule.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const BASIC: &str = "Basic dGVzdC1jbGllbnQ6dGVzdC1zZWNyZXQ=";
const OBS_TEXT: &[u8] = b"caf\xE9";

fn v1beta1(name: &str, rules: Value) -> Value {
    json!({
        "apiVersion": "gateway.kyma-project.io/v1beta1", "kind": "APIRule",
        "metadata": {"name": name, "namespace": "test"},
        "spec": {"host": name, "gateway": "kyma-system/kyma-gateway",
                 "service": {"name": "httpbin", "port": 8000}, "rules": rules}
    })
}

fn v2(name: &str, extra: Value, rules: Value) -> Value {
    let mut spec = json!({"hosts": [name], "gateway": "kyma-system/kyma-gateway",
                          "service": {"name": "httpbin", "port": 8000}, "rules": rules});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            spec[k] = v;
        }
    }
    json!({"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
           "metadata": {"name": name, "namespace": "test"}, "spec": spec})
}

fn ory_jwt(idp: &Idp, path: &str, mutators: Value) -> Value {
    json!({"path": path, "methods": ["GET"], "mutators": mutators,
           "accessStrategies": [{"handler": "jwt", "config": {
               "jwks_urls": [idp.jwks_uri()], "trusted_issuers": [idp.issuer()]}}]})
}

fn plugin(idp: &Idp, upstream: &Upstream, extra: Value, rules: Vec<Value>) -> String {
    let mut cfg = json!({
        "defaultDomain": "local.kyma.dev",
        "clusters": {idp.issuer(): "idp", format!("http://127.0.0.1:{}", upstream.port): "httpbin"},
        "apiRules": rules,
    });
    if let Value::Object(m) = extra {
        for (k, v) in m {
            cfg[k] = v;
        }
    }
    cfg.to_string()
}

fn start(
    idp: &Idp,
    upstream: &Upstream,
    plugin: &str,
    concurrency: u32,
    clusters: Vec<(String, u16)>,
) -> Envoy {
    Envoy::start_with(
        upstream,
        plugin,
        EnvoyOptions {
            concurrency,
            idp_port: idp.port,
            clusters,
            ..Default::default()
        },
    )
}

/// Every one of `n` fresh connections is served (connections spread over the workers).
fn assert_still_serving(envoy: &Envoy, host: &str, path: &str, n: usize) {
    for i in 0..n {
        let r = envoy.get(host, path);
        assert_eq!(r.status, 200, "request {i} after the attack: {}", r.body);
    }
}

fn token(idp: &Idp, header: Value, claims: Value) -> String {
    let mut payload = json!({"iss": idp.issuer(), "exp": now_s() + 300, "iat": now_s() - 5});
    if let Value::Object(m) = claims {
        for (k, v) in m {
            payload[k] = v;
        }
    }
    idp.sign("RS256", header, payload)
}

#[test]
fn one_obs_text_byte_no_longer_kills_the_worker() {
    let idp = Idp::start(300);
    let authz = Authz::start();
    let upstream = Upstream::start();
    let attack = v2(
        "attack",
        json!({"corsPolicy": {"allowOrigins": [{"regex": ".*"}], "allowMethods": ["GET"]}}),
        json!([
            {"path": "/anything/plain", "methods": ["GET"], "noAuth": true},
            {"path": "/anything/copy", "methods": ["GET"], "noAuth": true,
             "request": {"headers": {"x-copied": "%REQ(x-note)%"}}},
            {"path": "/anything/jwt", "methods": ["GET"],
             "jwt": {"authentications": [{"issuer": idp.issuer(), "jwksUri": idp.jwks_uri()}]}},
            {"path": "/anything/authz", "methods": ["GET"],
             "extAuth": {"authorizers": ["x-ext-authz"]}}
        ]),
    );
    let legacy = v1beta1(
        "legacy",
        json!([
            {"path": "/anything/intro", "methods": ["GET"], "mutators": [],
             "accessStrategies": [{"handler": "oauth2_introspection", "config": {
                "introspection_url": format!("{}/token/introspection", idp.issuer()),
                "introspection_request_headers": {"Authorization": BASIC}}}]},
            ory_jwt(&idp, "/anything/ory", json!([{"handler": "header", "config": {"headers": {
                "X-Copy": "{{ .MatchContext.Header.Get \"x-note\" }}"}}}]))
        ]),
    );
    let cfg = plugin(
        &idp,
        &upstream,
        json!({
            "clusters": {idp.issuer(): "idp", format!("http://127.0.0.1:{}", authz.port): "ext_authz"},
            "extensionProviders": [{"name": "x-ext-authz", "envoyExtAuthzHttp": {
                "service": "127.0.0.1", "port": authz.port, "timeout": "2s",
                "includeRequestHeadersInCheck": ["x-ext-authz", "x-note"],
                "headersToUpstreamOnAllow": ["x-ext-authz-*"]}}],
            "rateLimits": [{"apiVersion": "gateway.kyma-project.io/v1alpha1", "kind": "RateLimit",
                "metadata": {"name": "limit", "namespace": "istio-system"},
                "spec": {"selectorLabels": {"app": "istio-ingressgateway"},
                         "local": {"defaultBucket": {"maxTokens": 1000, "tokensPerFill": 1000, "fillInterval": "1s"},
                                   "buckets": [{"headers": {"x-note": "gold"},
                                                "bucket": {"maxTokens": 1, "tokensPerFill": 1, "fillInterval": "1h"}}]}}}]
        }),
        vec![attack, legacy],
    );
    let envoy = start(
        &idp,
        &upstream,
        &cfg,
        2,
        vec![("ext_authz".into(), authz.port)],
    );
    let attack_host = "attack.local.kyma.dev";
    let legacy_host = "legacy.local.kyma.dev";
    // Warm the keys, so the jwt answers below are about the token, not about missing keys.
    assert_eq!(envoy.get(attack_host, "/anything/jwt").status, 403);

    let hostile: Vec<(&str, &[u8])> = vec![
        ("X-Note", OBS_TEXT),
        ("Origin", b"http://caf\xE9.example"),
        ("Authorization", b"Bearer caf\xE9"),
        ("Cookie", b"a=caf\xE9"),
    ];
    // Every path that reads the header map, with what it answers. A value that is not UTF-8 is
    // never copied (the copy is refused: 500 for an Istio-style mutator, Oathkeeper's 401 first
    // for the Ory rule whose token is invalid anyway), never a token (401), never an origin.
    let cases: [(&str, &str, u16); 6] = [
        (attack_host, "/anything/plain", 200),
        (attack_host, "/anything/copy", 500),
        (attack_host, "/anything/jwt", 401),
        (attack_host, "/anything/authz", 403),
        (legacy_host, "/anything/intro", 401),
        (legacy_host, "/anything/ory", 401),
    ];
    for round in 0..3 {
        for (host, path, want) in cases {
            let r = request_bytes(envoy.port, "GET", host, path, &hostile, "").unwrap();
            assert_eq!(
                r.status, want,
                "HTTP/1.1 round {round} {host}{path}: {}",
                r.body
            );
            if path == "/anything/plain" {
                assert_eq!(
                    r.header("access-control-allow-origin"),
                    None,
                    "not an origin"
                );
            }
            let h2 = h2c_status(envoy.port, host, path, &hostile);
            assert_eq!(h2, Some(want), "h2c round {round} {host}{path}");
        }
    }
    // A copy of a header that is text still works next to one that is not.
    let r = request_bytes(
        envoy.port,
        "GET",
        attack_host,
        "/anything/copy",
        &[("X-Note", b"fine")],
        "",
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.upstream_header("x-copied").as_deref(), Some("fine"));
    // A callout answer (the authorizer's) with a header that is not UTF-8: refused, fail closed.
    for _ in 0..3 {
        let r = envoy.send(
            "GET",
            attack_host,
            "/anything/authz",
            &[("x-ext-authz", "latin1")],
            "",
        );
        assert_eq!(r.status, 403, "{}", r.body);
        let r = envoy.send(
            "GET",
            attack_host,
            "/anything/authz",
            &[("x-ext-authz", "allow")],
            "",
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_still_serving(&envoy, attack_host, "/anything/plain", 20);
    assert_no_wasm_failure(&envoy);
}

#[test]
fn an_introspection_cache_serves_only_the_rules_that_may_use_it() {
    let idp = Idp::start(300);
    let upstream = Upstream::start();
    let hydra = format!("{}/test/hydra-introspect", idp.issuer());
    let rule = |path: &str, config: Value| {
        let mut c = json!({"introspection_url": hydra});
        for (k, v) in config.as_object().unwrap() {
            c[k] = v.clone();
        }
        json!({"path": path, "methods": ["GET"], "mutators": [],
               "accessStrategies": [{"handler": "oauth2_introspection", "config": c}]})
    };
    let cfg = plugin(
        &idp,
        &upstream,
        json!({}),
        vec![v1beta1(
            "intro",
            json!([
                rule(
                    "/anything/cached",
                    json!({"required_scope": ["read"], "cache": {"enabled": true, "ttl": "60s"}})
                ),
                rule("/anything/uncached", json!({"required_scope": ["read"]})),
                // The endpoint decides the scopes (Hydra): never from a cache.
                rule(
                    "/anything/admin",
                    json!({"required_scope": ["admin"], "scope_strategy": "none",
                                               "cache": {"enabled": true, "ttl": "60s"}})
                ),
            ]),
        )],
    );
    // One worker: its cache is the one every request meets.
    let envoy = start(&idp, &upstream, &cfg, 1, vec![]);
    let host = "intro.local.kyma.dev";
    let read_only = idp.token("opaque", "read");
    let auth = format!("Bearer {read_only}");
    let get = |path: &str| envoy.send("GET", host, path, &[("Authorization", &auth)], "");

    assert_eq!(get("/anything/cached").status, 200, "cached now");
    let r = get("/anything/admin");
    assert_eq!(
        r.status, 401,
        "a read-only token is not an admin token: {}",
        r.body
    );
    idp.revoke(&read_only);
    assert_eq!(
        get("/anything/cached").status,
        200,
        "the cached rule keeps it for its ttl"
    );
    let r = get("/anything/uncached");
    assert_eq!(
        r.status, 401,
        "a rule without a cache asks the endpoint: {}",
        r.body
    );
    assert_no_wasm_failure(&envoy);
}

#[test]
fn cookie_mutator_values_and_client_cookie_names_cannot_smuggle_cookies() {
    let idp = Idp::start(300);
    let upstream = Upstream::start();
    let cookie =
        json!([{"handler": "cookie", "config": {"cookies": {"user": "{{ print .Subject }}"}}}]);
    let cfg = plugin(
        &idp,
        &upstream,
        json!({}),
        vec![v1beta1(
            "cookies",
            json!([ory_jwt(&idp, "/headers", cookie)]),
        )],
    );
    let envoy = start(&idp, &upstream, &cfg, 2, vec![]);
    let host = "cookies.local.kyma.dev";
    let t = token(&idp, json!({}), json!({"sub": "bob; role=admin"}));
    let auth = format!("Bearer {t}");
    let r = envoy.send(
        "GET",
        host,
        "/headers",
        &[
            ("Authorization", &auth),
            ("Cookie", "user =mallory; role =admin; keep=1"),
        ],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // Go's net/http: `;` dropped and the value quoted; names with spaces are no cookies.
    assert_eq!(
        r.upstream_header("cookie").as_deref(),
        Some("user=\"bob role=admin\"; keep=1")
    );
    assert_no_wasm_failure(&envoy);
}

#[test]
fn an_ory_rule_still_requires_a_kid_after_an_istio_rule_cached_the_token() {
    let idp = Idp::start(300);
    let upstream = Upstream::start();
    let istio = v2(
        "istio",
        json!({}),
        json!([{"path": "/anything/{**}", "methods": ["GET"],
                "jwt": {"authentications": [{"issuer": idp.issuer(), "jwksUri": idp.jwks_uri()}]}}]),
    );
    let ory = v1beta1("ory", json!([ory_jwt(&idp, "/anything/.*", json!([]))]));
    let cfg = plugin(&idp, &upstream, json!({}), vec![istio, ory]);
    let envoy = start(&idp, &upstream, &cfg, 1, vec![]);
    let without_kid = token(&idp, json!({"kid": null}), json!({"sub": "robot"}));
    let with_kid = token(&idp, json!({}), json!({"sub": "robot"}));
    for t in [&without_kid, &with_kid] {
        let auth = format!("Bearer {t}");
        let r = envoy.send(
            "GET",
            "istio.local.kyma.dev",
            "/anything/x",
            &[("Authorization", &auth)],
            "",
        );
        assert_eq!(r.status, 200, "Envoy's jwt_authn needs no kid: {}", r.body);
    }
    let ory_get = |t: &str| {
        let auth = format!("Bearer {t}");
        envoy.send(
            "GET",
            "ory.local.kyma.dev",
            "/anything/x",
            &[("Authorization", &auth)],
            "",
        )
    };
    let r = ory_get(&without_kid);
    assert_eq!(
        r.status, 401,
        "Oathkeeper requires a kid, cached or not: {}",
        r.body
    );
    assert_eq!(ory_get(&with_kid).status, 200);
    assert_no_wasm_failure(&envoy);
}

#[test]
fn a_claim_with_cr_lf_or_nul_is_the_filters_own_500() {
    let idp = Idp::start(300);
    let upstream = Upstream::start();
    let header =
        json!([{"handler": "header", "config": {"headers": {"X-User": "{{ print .Subject }}"}}}]);
    let cfg = plugin(
        &idp,
        &upstream,
        json!({}),
        vec![v1beta1(
            "claims",
            json!([ory_jwt(&idp, "/headers", header)]),
        )],
    );
    let envoy = start(&idp, &upstream, &cfg, 2, vec![]);
    let host = "claims.local.kyma.dev";
    let get = |sub: &str| {
        let t = token(&idp, json!({}), json!({"sub": sub}));
        let auth = format!("Bearer {t}");
        envoy.send("GET", host, "/headers", &[("Authorization", &auth)], "")
    };
    for sub in ["bob\r\nx-admin: yes", "bob\nx", "bob\u{0}x", "bob\rx"] {
        let r = get(sub);
        assert_eq!(r.status, 500, "{sub:?}: {}", r.body);
        let body: Value = serde_json::from_str(&r.body).expect("Oathkeeper's JSON error");
        assert_eq!(body["error"]["code"], 500, "{}", r.body);
    }
    let r = get("bob");
    assert_eq!(r.status, 200);
    assert_eq!(r.upstream_header("x-user").as_deref(), Some("bob"));
    let denied = envoy.metric_when(
        "apirule_requests_denied_mutator_failure",
        Duration::from_secs(3),
        |v| v >= 4,
    );
    assert_eq!(denied, 4);
    assert!(
        envoy
            .log()
            .contains("deny test/claims rule[0]: a mutator could not produce a valid header"),
        "the log names the rule:\n{}",
        envoy.log()
    );
    assert!(
        !envoy.log().contains("x-admin"),
        "the value is never logged"
    );
    assert_no_wasm_failure(&envoy);
}

/// Found by review: a client's `x_user` next to the `x-user` a rule sets reached servers that
/// read `_` as `-` (CGI, WSGI, Rack). The shipped Envoy configuration refuses such names, and a
/// client's own `X-User` is overwritten.
#[test]
fn a_header_with_underscores_cannot_shadow_a_mutator_header() {
    let idp = Idp::start(300);
    let upstream = Upstream::start();
    let rules = v2(
        "shadow",
        json!({}),
        json!([{"path": "/headers", "methods": ["GET"], "noAuth": true,
                "request": {"headers": {"x-user": "gateway"}}}]),
    );
    let cfg = plugin(&idp, &upstream, json!({}), vec![rules]);
    let envoy = start(&idp, &upstream, &cfg, 1, vec![]);
    let host = "shadow.local.kyma.dev";
    let r = envoy.send("GET", host, "/headers", &[("x_user", "admin")], "");
    assert_eq!(r.status, 400, "{}", r.body);
    let r = envoy.send("GET", host, "/headers", &[("X-User", "admin")], "");
    assert_eq!(r.status, 200);
    assert_eq!(r.upstream_header("x-user").as_deref(), Some("gateway"));
}
