//! Issue 12, found by a review after the first fixes: a copied value may not smuggle a cookie or
//! copy other bytes than the client sent, and no cache (minted id_tokens, client-credentials
//! tokens) may change what a rule does. Each test failed before its fix; decided in the core.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use apirule_core::access::AuthState;
use apirule_core::callout::{Answer, CallRequest};
use apirule_core::compile::{compile, RuleSet, Status};
use apirule_core::config::PluginConfig;
use apirule_core::decide::{decide, Decision, Request, Wait};
use apirule_core::jwt::crypto::Software;
use apirule_core::request::HeaderList;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_simple::prelude::*;
use serde_json::{json, Value};

fn rules(cfg: Value) -> RuleSet {
    let cfg = PluginConfig::from_json(cfg.to_string().as_bytes())
        .map_err(|e| e.0)
        .unwrap();
    let (set, reports) = compile(&cfg).map_err(|e| e.0).unwrap();
    for r in &reports {
        assert_eq!(r.status, Status::Ready, "{}", r.name);
    }
    set
}

fn req<'a>(host: &'a str, path: &'a str, headers: &'a HeaderList) -> Request<'a> {
    Request {
        authority: host,
        method: "GET",
        path,
        scheme: "https",
        headers,
        non_utf8: &[],
        remote_address: "10.0.0.1:1234",
        protocol: "HTTP/1.1",
        sent_upstream_timeout: false,
    }
}

enum Out {
    Allow(Vec<(String, String)>),
    Deny(u32),
    Call(Box<CallRequest>),
    Keys,
}

fn run(
    set: &RuleSet,
    st: &mut AuthState,
    r: &Request<'_>,
    answers: &HashMap<String, Answer>,
) -> Out {
    let mut env = st.env(&Software, answers, 1_700_000_000_000, 1_700_000_000_000);
    match decide(set, r, &mut env) {
        Decision::Allow(a) => Out::Allow(
            a.set_headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        Decision::Deny(d) => Out::Deny(d.response.status),
        Decision::Pending(p) => match p.wait {
            Wait::Call(c) => Out::Call(c),
            Wait::Keys(_) => Out::Keys,
        },
    }
}

fn header(h: &[(String, String)], name: &str) -> Option<String> {
    h.iter()
        .rev()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

fn v2_rule(rule: Value) -> Value {
    json!({"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
           "metadata": {"name": "r", "namespace": "t"},
           "spec": {"hosts": ["app.example.com"], "gateway": "kyma-system/kyma-gateway",
                    "service": {"name": "s", "port": 80}, "rules": [rule]}})
}

fn v1_rules(rules: Value) -> Value {
    json!({"apiVersion": "gateway.kyma-project.io/v1beta1", "kind": "APIRule",
           "metadata": {"name": "old", "namespace": "t"},
           "spec": {"host": "old.example.com", "gateway": "kyma-system/kyma-gateway",
                    "service": {"name": "s", "port": 80}, "rules": rules}})
}

/// README: "Istio-style cookie values (`request.cookies`) that render to anything but cookie
/// octets are 500". A copied value with `,` or a space is not cookie-octets (RFC 6265) and
/// adds a cookie for Rack 2 / Tomcat legacy / Python SimpleCookie upstreams.
#[test]
fn istio_cookie_value_with_comma_or_space_is_refused() {
    let set = rules(json!({"apiRules": [v2_rule(json!(
        {"path": "/p", "methods": ["GET"], "noAuth": true,
         "request": {"cookies": {"tenant": "%REQ(x-tenant)%", "user": "bob"}}}))]}));
    for evil in ["a,user=admin", "a user=admin"] {
        let hs = HeaderList::of(&[("x-tenant", evil)]);
        let mut st = set.auth_state();
        match run(
            &set,
            &mut st,
            &req("app.example.com", "/p", &hs),
            &HashMap::new(),
        ) {
            Out::Allow(h) => panic!("allowed, upstream Cookie: {:?}", header(&h, "cookie")),
            Out::Deny(s) => assert_eq!(s, 500),
            _ => panic!("unexpected"),
        }
    }
}

/// Issue 12: bytes that were not UTF-8 are never copied with other bytes. `%E9` in the query is
/// decoded lossily and copied upstream as U+FFFD (Go/Oathkeeper would copy byte 0xE9).
#[test]
fn query_get_does_not_copy_lossy_bytes() {
    let set = rules(json!({"apiRules": [v1_rules(json!([
        {"path": "/q", "methods": ["GET"], "accessStrategies": [{"handler": "noop"}],
         "mutators": [{"handler": "header", "config": {"headers": {
             "X-Q": "{{ .MatchContext.URL.Query.Get \"q\" }}"}}}]}]))]}));
    let mut st = set.auth_state();
    match run(
        &set,
        &mut st,
        &req("old.example.com", "/q?q=%E9", &HeaderList::new()),
        &HashMap::new(),
    ) {
        Out::Allow(h) => {
            let v = header(&h, "x-q").unwrap_or_default();
            assert!(
                !v.contains('\u{FFFD}'),
                "copied upstream as {:?}",
                v.as_bytes()
            );
        }
        Out::Deny(s) => assert_eq!(s, 500),
        _ => panic!("unexpected"),
    }
}

fn ec_private_jwks(kid: &str) -> Value {
    let kp = ES256KeyPair::generate();
    let d = URL_SAFE_NO_PAD.encode(kp.to_bytes());
    let pk = kp.public_key().public_key().to_bytes_uncompressed();
    json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": kid, "d": d,
                     "x": URL_SAFE_NO_PAD.encode(&pk[1..33]), "y": URL_SAFE_NO_PAD.encode(&pk[33..])}]})
}

fn kid_of(bearer: &str) -> String {
    let t = bearer.trim_start_matches("Bearer ");
    let h: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(t.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    h["kid"].as_str().unwrap_or_default().to_owned()
}

/// Caches never change what a rule does: the id_token mint cache is keyed by issuer, ttl,
/// subject and claims, not by the signing key (Oathkeeper's key includes jwks_url).
#[test]
fn id_token_mint_cache_respects_the_signing_key() {
    let mutator = |jwks: &str| {
        json!([{"handler": "id_token", "config": {
        "issuer_url": "https://oathkeeper", "jwks_url": jwks, "ttl": "60s"}}])
    };
    let set = rules(json!({
    "signingKeys": {"file:///a.json": ec_private_jwks("key-a"), "file:///b.json": ec_private_jwks("key-b")},
    "apiRules": [v1_rules(json!([
        {"path": "/a", "methods": ["GET"], "accessStrategies": [{"handler": "noop"}], "mutators": mutator("file:///a.json")},
        {"path": "/b", "methods": ["GET"], "accessStrategies": [{"handler": "noop"}], "mutators": mutator("file:///b.json")}
    ]))]}));
    let auth = |st: &mut AuthState, path: &str| match run(
        &set,
        st,
        &req("old.example.com", path, &HeaderList::new()),
        &HashMap::new(),
    ) {
        Out::Allow(h) => header(&h, "authorization").unwrap(),
        _ => panic!("not allowed"),
    };
    let mut cold = set.auth_state();
    assert_eq!(kid_of(&auth(&mut cold, "/b")), "key-b");
    let mut warm = set.auth_state();
    assert_eq!(kid_of(&auth(&mut warm, "/a")), "key-a");
    assert_eq!(
        kid_of(&auth(&mut warm, "/b")),
        "key-b",
        "warm cache: /b got /a's token"
    );
}

fn introspection_rules(secret_a: &str, secret_b: &str) -> RuleSet {
    let strat = |secret: &str| {
        json!([{"handler": "oauth2_introspection", "config": {
        "introspection_url": "http://idp.local/introspect",
        "pre_authorization": {"enabled": true, "client_id": "gw", "client_secret": secret,
                              "token_url": "http://idp.local/token"}}}])
    };
    rules(json!({"apiRules": [v1_rules(json!([
        {"path": "/a", "methods": ["GET"], "accessStrategies": strat(secret_a)},
        {"path": "/b", "methods": ["GET"], "accessStrategies": strat(secret_b)}]))]}))
}

fn ok(body: &str) -> Answer {
    Answer {
        status: Some(200),
        headers: vec![],
        body: body.as_bytes().to_vec(),
        non_utf8_headers: false,
    }
}

/// Caches never change a decision: the client-credentials cache ignores client_secret, so a
/// rule whose secret is wrong (cold: token endpoint refuses, 500) rides on another rule's token.
#[test]
fn client_credentials_cache_respects_the_secret() {
    let set = introspection_rules("right", "wrong");
    let hs = HeaderList::of(&[("authorization", "Bearer opaque-token")]);
    let mut st = set.auth_state();
    let mut answers = HashMap::new();
    for _ in 0..3 {
        match run(&set, &mut st, &req("old.example.com", "/a", &hs), &answers) {
            Out::Call(c) if c.key.starts_with("client-credentials") => {
                answers.insert(
                    c.key.clone(),
                    ok(r#"{"access_token":"ct-right","expires_in":3600}"#),
                );
            }
            Out::Call(c) => {
                answers.insert(c.key.clone(), ok(r#"{"active":true,"sub":"u"}"#));
            }
            Out::Allow(_) => break,
            _ => panic!("unexpected"),
        }
    }
    // Rule /b (secret "wrong"), warm: must still ask the token endpoint with its own secret.
    match run(
        &set,
        &mut st,
        &req("old.example.com", "/b", &hs),
        &HashMap::new(),
    ) {
        Out::Call(c) => assert!(
            c.key.starts_with("client-credentials"),
            "warm /b skipped its own client-credentials call and sent {:?}",
            c.headers
                .iter()
                .find(|(k, _)| k == "authorization")
                .map(|(_, v)| v)
        ),
        _ => panic!("unexpected"),
    }
}

/// A hostile token endpoint (`expires_in: 1e300`): `now_ms + lifetime` overflows
/// (crates/core/src/access/introspection.rs client_token). Panics with overflow checks; wraps in release.
#[test]
fn client_credentials_expires_in_huge_does_not_panic() {
    let set = introspection_rules("s", "s");
    let hs = HeaderList::of(&[("authorization", "Bearer opaque-token")]);
    let mut st = set.auth_state();
    let mut answers = HashMap::new();
    if let Out::Call(c) = run(&set, &mut st, &req("old.example.com", "/a", &hs), &answers) {
        answers.insert(
            c.key.clone(),
            ok(r#"{"access_token":"t","expires_in":1e300}"#),
        );
    }
    let _ = run(&set, &mut st, &req("old.example.com", "/a", &hs), &answers);
}
