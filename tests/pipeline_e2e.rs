//! The rest of the request pipeline end to end: OAuth2 introspection, header and cookie
//! mutators (Istio and Ory style, id_token), CORS. httpbin's `/headers` shows what the upstream
//! received.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::{json, Value};

const BASIC: &str = "Basic dGVzdC1jbGllbnQ6dGVzdC1zZWNyZXQ=";

fn merge(mut base: Value, extra: Value) -> Value {
    if let Value::Object(m) = extra {
        for (k, v) in m {
            base[k] = v;
        }
    }
    base
}

fn start(idp: &Idp, upstream: &Upstream, rules: &[Value], extra: Value) -> Envoy {
    let opts = EnvoyOptions {
        idp_port: idp.port,
        ..Default::default()
    };
    Envoy::start_with(upstream, &config(idp, upstream, rules, extra), opts)
}

fn config(idp: &Idp, upstream: &Upstream, rules: &[Value], extra: Value) -> String {
    let mut clusters = json!({});
    clusters[idp.issuer()] = json!("idp");
    clusters[format!("http://127.0.0.1:{}", upstream.port)] = json!("httpbin");
    merge(
        json!({"defaultDomain": "local.kyma.dev", "clusters": clusters, "apiRules": rules}),
        extra,
    )
    .to_string()
}

/// The default module or the portable one; `Err` with Envoy's log when it refuses the config.
fn start_module(
    idp: &Idp,
    upstream: &Upstream,
    rules: &[Value],
    extra: Value,
    portable: bool,
) -> Result<Envoy, String> {
    let opts = EnvoyOptions {
        idp_port: idp.port,
        portable,
        ..Default::default()
    };
    Envoy::try_start(upstream.port, &config(idp, upstream, rules, extra), opts)
}

fn v1beta1(name: &str, host: &str, rules: Value) -> Value {
    json!({
        "apiVersion": "gateway.kyma-project.io/v1beta1", "kind": "APIRule",
        "metadata": {"name": name, "namespace": "test"},
        "spec": {"host": host, "gateway": "kyma-system/kyma-gateway",
                 "service": {"name": "httpbin", "port": 8000}, "rules": rules}
    })
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

#[test]
fn oauth2_introspection() {
    let idp = Idp::start(300);
    let upstream = Upstream::start();
    let intro = |extra: Value| {
        merge(
            json!({"introspection_url": format!("{}/token/introspection", idp.issuer()),
                   "introspection_request_headers": {"Authorization": BASIC}}),
            extra,
        )
    };
    let rule = |path: &str, config: Value, mutators: Value| {
        json!({"path": path, "methods": ["GET"], "mutators": mutators,
               "accessStrategies": [{"handler": "oauth2_introspection", "config": config}]})
    };
    let api = v1beta1(
        "intro",
        "intro",
        json!([
            rule(
                "/headers",
                intro(json!({"required_scope": ["read"], "cache": {"enabled": true, "ttl": "2s"}})),
                json!([{"handler": "header", "config": {"headers": {
                     "X-Client": "{{ print .Extra.client_id }}", "X-Scope": "{{ print .Extra.scope }}"}}}])
            ),
            rule(
                "/anything/admin",
                intro(json!({"required_scope": ["admin"]})),
                json!([])
            ),
            rule(
                "/anything/aud",
                intro(json!({"target_audience": ["https://api.test/other"]})),
                json!([])
            ),
            rule(
                "/anything/iss",
                intro(json!({"trusted_issuers": ["https://other"]})),
                json!([])
            ),
            rule(
                "/anything/pre",
                json!({
                "introspection_url": format!("{}/test/introspect", idp.issuer()),
                "pre_authorization": {"enabled": true, "client_id": "test-client", "client_secret": "test-secret",
                                      "token_url": format!("{}/token", idp.issuer()), "scope": ["read"]}}),
                json!([])
            ),
            rule(
                "/anything/slow",
                json!({
                "introspection_url": format!("http://127.0.0.1:{}/delay/3", upstream.port),
                "retry": {"give_up_after": "500ms"}}),
                json!([])
            ),
            rule(
                "/anything/dead",
                json!({"introspection_url": "http://127.0.0.1:1/introspect"}),
                json!([])
            ),
            rule("/anything/default", json!({}), json!([]))
        ]),
    );
    let envoy = start(&idp, &upstream, &[api], json!({}));
    let host = "intro.local.kyma.dev";
    let get = |path: &str, token: &str| {
        envoy.send("GET", host, path, &[("Authorization", &bearer(token))], "")
    };
    let ory = |r: &Response, code: u16| {
        assert_eq!(r.status, code, "{r:?}");
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["error"]["code"], code);
    };

    let token = idp.token("opaque", "read");
    let r = get("/headers", &token);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.upstream_header("X-Client").as_deref(),
        Some("test-client")
    );
    assert_eq!(r.upstream_header("X-Scope").as_deref(), Some("read"));
    assert_eq!(
        r.upstream_header("Authorization"),
        Some(bearer(&token)),
        "token forwarded"
    );

    ory(&envoy.get(host, "/headers"), 401);
    ory(&get("/headers", "not-a-token"), 401);
    ory(&get("/anything/admin", &token), 403);
    ory(&get("/anything/aud", &token), 403);
    ory(&get("/anything/iss", &token), 403);
    // The provider refuses to introspect JWTs: an endpoint error is 500 in Oathkeeper.
    ory(&get("/headers", &idp.token("rs256", "read")), 500);

    // pre_authorization: a client-credentials token for the introspection call.
    assert_eq!(get("/anything/pre", &token).status, 200);
    assert_eq!(
        get("/anything/pre", &token).status,
        200,
        "cached client token"
    );

    // A slow endpoint is cut at give_up_after; a dead one fails at once. Both fail closed.
    let t0 = std::time::Instant::now();
    ory(&get("/anything/slow", &token), 500);
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(3),
        "bounded by the timeout"
    );
    ory(&get("/anything/dead", &token), 500);
    // No endpoint configured (Kyma's global default not given): 500, never a pass.
    ory(&get("/anything/default", &token), 500);

    // A warm cache costs no callout.
    let before = envoy.stat("cluster.idp.upstream_rq_total").unwrap_or(0);
    for _ in 0..10 {
        assert_eq!(get("/headers", &token).status, 200);
    }
    let after = envoy.stat("cluster.idp.upstream_rq_total").unwrap_or(0);
    assert!(
        after - before <= 2,
        "{} introspection calls for 10 requests with a warm cache",
        after - before
    );

    // Revocation: refused once the cache entry (2 s) has expired.
    idp.revoke(&token);
    assert_eq!(get("/headers", &token).status, 200, "still cached");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    ory(&get("/headers", &token), 401);
    assert!(!envoy.log().contains("panicked"));
}

#[test]
fn mutators_cors_and_smuggling() {
    let idp = Idp::start(300);
    let upstream = Upstream::start();
    // A signing key for id_token, generated here: ES256.
    let pair = jwt_simple::algorithms::ES256KeyPair::generate().with_key_id("mutator-key");
    let (d, x, y) = {
        use base64::Engine;
        use jwt_simple::prelude::ECDSAP256KeyPairLike;
        let e = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let point = pair.key_pair().public_key().to_bytes_uncompressed();
        (e(&pair.to_bytes()), e(&point[1..33]), e(&point[33..]))
    };
    let signing = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "mutator-key", "d": d, "x": x, "y": y}]});

    let v2 = json!({
        "apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
        "metadata": {"name": "v2", "namespace": "test"},
        "spec": {"hosts": ["v2"], "gateway": "kyma-system/kyma-gateway",
                 "service": {"name": "httpbin", "port": 8000},
                 "corsPolicy": {"allowOrigins": [{"regex": ".*local.kyma.dev"}], "allowMethods": ["GET", "POST"],
                                "allowHeaders": ["x-custom-allow-headers"], "exposeHeaders": ["x-custom-expose-headers"],
                                "allowCredentials": false, "maxAge": 300},
                 "rules": [
                    {"path": "/headers", "methods": ["GET", "OPTIONS"], "noAuth": true,
                     "request": {"headers": {"X-Static": "static", "X-Agent": "%REQ(User-Agent)%",
                                             "X-Path": "%REQ_WITHOUT_QUERY(:path)%", "X-Peer": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"},
                                 "cookies": {"session": "abc", "lang": "en"}}},
                    {"path": "/response-headers", "methods": ["GET"], "noAuth": true},
                    {"path": "/anything/jwt", "methods": ["GET"],
                     "jwt": {"authentications": [{"issuer": idp.issuer(), "jwksUri": idp.jwks_uri()}]},
                     "request": {"headers": {"X-Auth": "%REQ(Authorization)%"}}}
                 ]}
    });
    let ory_jwt = json!({"jwks_urls": [idp.jwks_uri()], "trusted_issuers": [idp.issuer()]});
    let old = v1beta1(
        "ory",
        "ory",
        json!([
            {"path": "/headers", "methods": ["GET", "OPTIONS"], "accessStrategies": [{"handler": "jwt", "config": ory_jwt}],
             "mutators": [
                {"handler": "header", "config": {"headers": {"X-Email": "{{ print .Extra.email }}",
                    "X-Groups": "{{ index .Extra \"groups\" | join \",\" }}", "X-Subject": "{{ print .Subject }}",
                    "X-Scp": "{{ index .Extra \"scp\" | join \" \" }}"}}},
                {"handler": "cookie", "config": {"cookies": {"user": "{{ print .Subject }}"}}},
                {"handler": "id_token", "config": {"issuer_url": "https://oathkeeper.local.kyma.dev",
                    "jwks_url": "file:///etc/secrets/jwks.json", "ttl": "60s",
                    "claims": "{\"aud\": [\"backend\"], \"email\": \"{{ print .Extra.email }}\"}"}}
             ]},
            {"path": "/anything/(.*)", "methods": ["GET"], "accessStrategies": [{"handler": "noop"}],
             "mutators": [{"handler": "header", "config": {"headers": {
                "X-Captured": "{{ index .MatchContext.RegexpCaptureGroups 2 }}", "X-Anon": "[{{ print .Subject }}]"}}}]},
            {"path": "/response-headers", "methods": ["GET"], "accessStrategies": [{"handler": "allow"}]}
        ]),
    );
    let envoy = start(
        &idp,
        &upstream,
        &[v2, old],
        json!({"signingKeys": {"file:///etc/secrets/jwks.json": signing}}),
    );

    // Istio style: values with command operators; a client cannot smuggle a header a rule sets.
    let h2 = "v2.local.kyma.dev";
    let r = envoy.send(
        "GET",
        h2,
        "/headers?x=1",
        &[
            ("X-Static", "evil"),
            ("User-Agent", "probe/1.0"),
            ("Cookie", "a=b; session=stolen"),
        ],
        "",
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.upstream_header("X-Static").as_deref(), Some("static"));
    assert_eq!(r.upstream_header("X-Agent").as_deref(), Some("probe/1.0"));
    assert_eq!(r.upstream_header("X-Path").as_deref(), Some("/headers"));
    assert_eq!(r.upstream_header("X-Peer").as_deref(), Some("127.0.0.1"));
    assert_eq!(
        r.upstream_header("Cookie").as_deref(),
        Some("lang=en; session=abc"),
        "cookies replace the Cookie header"
    );
    let t = idp.token("rs256", "read");
    let r = envoy.send(
        "GET",
        h2,
        "/anything/jwt",
        &[("Authorization", &bearer(&t))],
        "",
    );
    assert_eq!(r.status, 200);
    let seen: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(seen["headers"]["X-Auth"], bearer(&t));

    // CORS (Kyma's e2e policy): preflight answered by the gateway, before anything else.
    let pre = [
        ("Origin", "test.local.kyma.dev"),
        ("Access-Control-Request-Method", "GET"),
    ];
    let r = envoy.send("OPTIONS", h2, "/headers", &pre, "");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("test.local.kyma.dev")
    );
    assert_eq!(r.header("access-control-allow-methods"), Some("GET,POST"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("x-custom-allow-headers")
    );
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some("x-custom-expose-headers")
    );
    assert_eq!(r.header("access-control-max-age"), Some("300"));
    let r = envoy.send(
        "OPTIONS",
        h2,
        "/headers",
        &[
            ("Origin", "localhost"),
            ("Access-Control-Request-Method", "GET"),
        ],
        "",
    );
    assert_eq!(r.status, 200, "passed to the upstream");
    assert!(
        r.headers
            .iter()
            .all(|(k, _)| !k.to_ascii_lowercase().starts_with("access-control-")),
        "{r:?}"
    );
    let r = envoy.send(
        "GET",
        h2,
        "/headers",
        &[("Origin", "test.local.kyma.dev")],
        "",
    );
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("test.local.kyma.dev")
    );
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some("x-custom-expose-headers")
    );
    // The upstream's own CORS headers are removed (v2) ...
    let r = envoy.get(
        h2,
        "/response-headers?Access-Control-Allow-Origin=evil.example&X-Other=kept",
    );
    assert_eq!(r.header("access-control-allow-origin"), None);
    assert_eq!(r.header("x-other"), Some("kept"));
    // ... and kept by a v1beta1 APIRule without corsPolicy, whose default policy applies.
    let h1 = "ory.local.kyma.dev";
    let r = envoy.get(
        h1,
        "/response-headers?Access-Control-Allow-Origin=upstream.example",
    );
    assert!(
        r.header("access-control-allow-origin").is_some(),
        "httpbin's own CORS header kept: {r:?}"
    );
    let r = envoy.send(
        "OPTIONS",
        h1,
        "/headers",
        &[
            ("Origin", "anything"),
            ("Access-Control-Request-Method", "PUT"),
        ],
        "",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("GET,POST,PUT,DELETE,PATCH")
    );
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("Authorization,Content-Type,*")
    );

    // Ory style: templates over the session, cookie merge, id_token, no smuggling.
    let t = idp.token("rs256", "read write");
    let r = envoy.send(
        "GET",
        h1,
        "/headers",
        &[
            ("Authorization", &bearer(&t)),
            ("X-Email", "admin@evil.example"),
            ("Cookie", "theme=dark; user=root"),
        ],
        "",
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.upstream_header("X-Email").as_deref(),
        Some("robot@example.com")
    );
    assert_eq!(r.upstream_header("X-Groups").as_deref(), Some("ops,dev"));
    assert_eq!(
        r.upstream_header("X-Subject").as_deref(),
        Some("test-client")
    );
    assert_eq!(
        r.upstream_header("X-Scp").as_deref(),
        Some("read write"),
        "scope normalised into scp"
    );
    assert_eq!(
        r.upstream_header("Cookie").as_deref(),
        Some("user=test-client; theme=dark")
    );
    let minted = r.upstream_header("Authorization").unwrap();
    let minted = minted.strip_prefix("Bearer ").unwrap();
    assert_ne!(minted, t, "the client's token is replaced");
    use jwt_simple::prelude::*;
    let claims = pair
        .public_key()
        .verify_token::<Value>(
            minted,
            Some(VerificationOptions {
                allowed_issuers: Some(HashSet::from_strings(&[
                    "https://oathkeeper.local.kyma.dev",
                ])),
                allowed_audiences: Some(HashSet::from_strings(&["backend"])),
                ..Default::default()
            }),
        )
        .unwrap();
    assert_eq!(claims.subject.as_deref(), Some("test-client"));
    assert_eq!(claims.custom["email"], "robot@example.com");
    // The same subject again: the minted token is reused (per worker: with two workers, three
    // requests repeat at least one token).
    let mut seen = std::collections::HashSet::new();
    seen.insert(minted.to_owned());
    for _ in 0..3 {
        let r2 = envoy.send("GET", h1, "/headers", &[("Authorization", &bearer(&t))], "");
        seen.insert(
            r2.upstream_header("Authorization")
                .unwrap()
                .trim_start_matches("Bearer ")
                .to_owned(),
        );
    }
    assert!(
        seen.len() <= 2,
        "{} distinct tokens minted for one subject on two workers",
        seen.len()
    );

    // noop: empty session, regex capture groups.
    let r = envoy.send(
        "GET",
        h1,
        "/anything/users/42",
        &[("X-Captured", "smuggled")],
        "",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.upstream_header("X-Captured").as_deref(), Some("users/42"));
    assert_eq!(r.upstream_header("X-Anon").as_deref(), Some("[]"));
    assert!(!envoy.log().contains("panicked"));
}

#[test]
fn unsupported_mutator_values_are_configuration_errors() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_apirule"))
        .args(["check", "--default-domain", "x.dev"])
        .arg(repo().join("tests/fixtures/invalid/v2-unsupported-operator.yaml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("unsupported command operator %UPSTREAM_HOST%"),
        "{text}"
    );
}

/// RSA keys sign id tokens in the portable module only; the default one refuses them when it
/// is configured, naming the field, rather than at the first request.
#[test]
fn id_token_with_an_rsa_key_needs_the_portable_module() {
    let idp = Idp::start(300);
    let upstream = Upstream::start();
    // A throwaway 2048-bit key made for this test (node's crypto), private parts included.
    let signing: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("keys/rsa-signing.jwks.json")).unwrap(),
    )
    .unwrap();
    let rule = v1beta1(
        "rsa",
        "rsa",
        json!([{"path": "/headers", "methods": ["GET"],
                "accessStrategies": [{"handler": "jwt", "config":
                    {"jwks_urls": [idp.jwks_uri()], "trusted_issuers": [idp.issuer()]}}],
                "mutators": [{"handler": "id_token", "config": {
                    "issuer_url": "https://oathkeeper.local.kyma.dev",
                    "jwks_url": "file:///etc/secrets/rsa.json", "ttl": "60s"}}]}]),
    );
    let extra = json!({"signingKeys": {"file:///etc/secrets/rsa.json": signing}});

    let refused = start_module(
        &idp,
        &upstream,
        std::slice::from_ref(&rule),
        extra.clone(),
        false,
    )
    .err()
    .expect("the default module refuses an RSA signing key");
    assert!(
        refused.contains(".signingKeys[\"file:///etc/secrets/rsa.json\"]: RSA keys sign id tokens only in the portable module"),
        "{refused}"
    );

    let envoy = start_module(&idp, &upstream, &[rule], extra, true).unwrap();
    let t = idp.token("rs256", "read");
    let r = envoy.send(
        "GET",
        "rsa.local.kyma.dev",
        "/headers",
        &[("Authorization", &bearer(&t))],
        "",
    );
    assert_eq!(r.status, 200, "{r:?}");
    let minted = r.upstream_header("Authorization").unwrap();
    let minted = minted.strip_prefix("Bearer ").unwrap();
    use base64::Engine;
    use jwt_simple::prelude::*;
    let b = |m: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signing["keys"][0][m].as_str().unwrap())
            .unwrap()
    };
    let key = RS256PublicKey::from_components(&b("n"), &b("e")).unwrap();
    let claims = key.verify_token::<Value>(minted, None).unwrap();
    assert_eq!(claims.subject.as_deref(), Some("test-client"));
    assert_eq!(
        claims.issuer.as_deref(),
        Some("https://oathkeeper.local.kyma.dev")
    );
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(minted.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        header,
        json!({"alg": "RS256", "typ": "JWT", "kid": "rsa-mutator"})
    );
    assert!(!envoy.log().contains("panicked"));
}

/// Issue 15: a v1beta1 APIRule as the cluster stores it (v2, its spec in an annotation) is
/// enforced as the v1beta1 rule it is: the Ory jwt strategy, Oathkeeper's answers.
#[test]
fn a_v1beta1_apirule_stored_as_v2_is_enforced_as_v1beta1() {
    let idp = Idp::start(300);
    let upstream = Upstream::start();
    let legacy = v1beta1(
        "legacy",
        "legacy",
        json!([{"path": "/headers", "methods": ["GET"],
                "accessStrategies": [{"handler": "jwt", "config":
                    {"jwks_urls": [idp.jwks_uri()], "trusted_issuers": [idp.issuer()]}}]}]),
    );
    let stored = as_stored(&legacy);
    assert_eq!(stored["apiVersion"], "gateway.kyma-project.io/v2");
    assert!(stored["spec"].get("rules").is_none());
    let envoy = start(&idp, &upstream, &[stored], json!({}));
    let h = "legacy.local.kyma.dev";
    let r = envoy.send("GET", h, "/headers", &[], "");
    assert_eq!(r.status, 401, "{r:?}");
    assert!(
        r.body.contains("\"code\":401"),
        "Oathkeeper's JSON body: {}",
        r.body
    );
    let t = idp.token("rs256", "read");
    let r = envoy.send("GET", h, "/headers", &[("Authorization", &bearer(&t))], "");
    assert_eq!(r.status, 200, "{r:?}");
}
