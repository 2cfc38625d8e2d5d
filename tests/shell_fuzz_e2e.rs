//! Fuzzing the real shell, not only the core: random requests through Envoy, and random answers
//! to every call the filter makes (tests/chaos/server.py as JWKS endpoint, introspection endpoint
//! and external authorizer).
//!
//! Requests carry random header names and values over all 256 byte values, random paths and
//! methods, on rules that read every part of the header map (tokens, CORS, copying mutators, an
//! authorizer, rate-limit keys). Asserted: no wasm panic or trap in Envoy's log, every answer is
//! one the filter, Envoy or the authorizer documents, and the filter keeps serving valid
//! requests afterwards. `make test` runs a short, fixed-seed run (800 requests; about half are refused by Envoy's
//! codec before the filter sees them: control bytes, unknown methods); `make fuzz` a long one
//! (`SHELL_FUZZ_REQUESTS`, `SHELL_FUZZ_SEED`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::json;

/// What a client may get: the filter's answers (200 allowed, 400 bad request or ambiguous path,
/// 401, 403, 404, 429, 500), Envoy's own (400, 413, 431 for what its codec refuses, 504 for the
/// rule timeout), and what the external authorizer answers (any status below 500, which the
/// filter passes on). 503 is not here: it is what a dead VM answers.
fn documented(status: u16) -> bool {
    matches!(status, 200..=499 | 500 | 502 | 504) && status != 503
}

fn plugin(chaos: &Chaos) -> String {
    let origin = format!("http://127.0.0.1:{}", chaos.port);
    json!({
        "defaultDomain": "local.kyma.dev",
        "clusters": {origin.clone(): "chaos"},
        "jwks": {"refreshInterval": "2s", "retryInterval": "100ms", "fetchTimeout": "1s",
                 "maxWait": "300ms", "minRefetchInterval": "100ms"},
        "extensionProviders": [{"name": "chaos-authz", "envoyExtAuthzHttp": {
            "service": "127.0.0.1", "port": chaos.port, "timeout": "1s",
            "includeRequestHeadersInCheck": ["x-a", "x-b", "cookie"],
            "headersToUpstreamOnAllow": ["x-ext-authz-*"],
            "headersToDownstreamOnAllow": ["x-ext-authz-*"],
            "headersToDownstreamOnDeny": ["*"]}}],
        "rateLimits": [{"apiVersion": "gateway.kyma-project.io/v1alpha1", "kind": "RateLimit",
            "metadata": {"name": "limit", "namespace": "istio-system"},
            "spec": {"selectorLabels": {"app": "istio-ingressgateway"}, "enableResponseHeaders": true,
                     "local": {"defaultBucket": {"maxTokens": 100000, "tokensPerFill": 100000, "fillInterval": "1s"},
                               "buckets": [{"headers": {"x-a": "gold"},
                                            "bucket": {"maxTokens": 5, "tokensPerFill": 5, "fillInterval": "1s"}}]}}}],
        "apiRules": [
            {"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
             "metadata": {"name": "fuzz", "namespace": "test"},
             "spec": {"hosts": ["fuzz"], "gateway": "kyma-system/kyma-gateway",
                      "service": {"name": "httpbin", "port": 8000},
                      "corsPolicy": {"allowOrigins": [{"regex": ".*"}], "allowMethods": ["GET", "POST"],
                                     "allowHeaders": ["x-a"]},
                      "rules": [
                        {"path": "/headers", "methods": ["GET"], "noAuth": true},
                        {"path": "/anything/open/{**}", "methods": ["GET", "POST", "OPTIONS", "DELETE"], "noAuth": true,
                         "request": {"headers": {"x-copied": "%REQ(x-a)%", "x-agent": "%REQ(user-agent):10%"},
                                     "cookies": {"c": "%REQ(x-b)%"}}},
                        {"path": "/anything/jwt/{**}", "methods": ["GET", "POST"],
                         "jwt": {"authentications": [{"issuer": "https://chaos.test", "jwksUri": format!("{origin}/jwks")}],
                                 "authorizations": [{"requiredScopes": ["read"]}]}},
                        {"path": "/anything/authz/{**}", "methods": ["GET", "POST"],
                         "extAuth": {"authorizers": ["chaos-authz"]}}
                      ]}},
            {"apiVersion": "gateway.kyma-project.io/v1beta1", "kind": "APIRule",
             "metadata": {"name": "legacy", "namespace": "test"},
             "spec": {"host": "legacy", "gateway": "kyma-system/kyma-gateway",
                      "service": {"name": "httpbin", "port": 8000},
                      "rules": [
                        {"path": "/anything/intro.*", "methods": ["GET", "POST"],
                         "mutators": [{"handler": "header", "config": {"headers": {
                             "X-Sub": "{{ print .Subject }}", "X-A": "{{ .MatchContext.Header.Get \"x-a\" }}"}}},
                                      {"handler": "cookie", "config": {"cookies": {"s": "{{ print .Extra.scope }}"}}}],
                         "accessStrategies": [{"handler": "oauth2_introspection", "config": {
                             "introspection_url": format!("{origin}/introspect"),
                             "cache": {"enabled": true, "ttl": "1s"}}}]},
                        {"path": "/anything/ory.*", "methods": ["GET"],
                         "mutators": [{"handler": "cookie", "config": {"cookies": {"u": "{{ print .Subject }}"}}}],
                         "accessStrategies": [{"handler": "jwt", "config": {
                             "jwks_urls": [format!("{origin}/jwks")],
                             "token_from": {"cookie": "t"}}}]}
                      ]}}
        ]
    })
    .to_string()
}

/// One random request, as raw HTTP/1.1 bytes.
fn request(rng: &mut Rng) -> Vec<u8> {
    let hosts = [
        "fuzz.local.kyma.dev",
        "legacy.local.kyma.dev",
        "other.local.kyma.dev",
    ];
    let paths = [
        "/headers",
        "/anything/open/x",
        "/anything/jwt/x",
        "/anything/authz/x",
        "/anything/intro",
        "/anything/ory",
        "/",
        "/anything/open/..%2f",
        "/anything/open//x",
    ];
    let methods = [
        "GET", "GET", "GET", "POST", "OPTIONS", "DELETE", "PATCH", "FOO",
    ];
    let names = [
        "authorization",
        "origin",
        "cookie",
        "x-a",
        "x-b",
        "access-control-request-method",
        "user-agent",
        "x-ext-authz",
        "content-type",
        "x-forwarded-host",
    ];
    let mut path = rng.pick(&paths).as_bytes().to_vec();
    if rng.below(8) == 0 {
        // Any bytes but the ones that end the request line.
        let tail: Vec<u8> = rng
            .bytes(0, 12)
            .into_iter()
            .filter(|b| !b" \r\n".contains(b))
            .collect();
        path.extend(tail);
    }
    let mut out = format!("{} ", rng.pick(&methods)).into_bytes();
    out.extend(path);
    out.extend(
        format!(
            " HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            rng.pick(&hosts)
        )
        .as_bytes(),
    );
    for _ in 0..rng.below(7) {
        // Mostly names the filter reads; now and then any bytes (Envoy's codec answers those).
        let name = if rng.below(30) == 0 {
            rng.bytes(1, 8)
        } else {
            rng.pick(&names).as_bytes().to_vec()
        };
        let printable = |rng: &mut Rng, n: usize| -> Vec<u8> {
            (0..n).map(|_| 0x20 + rng.below(0x5f) as u8).collect()
        };
        // Values: mostly what the filter parses, obs-text often, any of the 256 byte values
        // (controls that Envoy's codec refuses included) now and then.
        let value = match if rng.below(20) == 0 { 9 } else { rng.below(9) } {
            0 => {
                let n = rng.below(40);
                b"Bearer "
                    .iter()
                    .copied()
                    .chain(printable(rng, n))
                    .collect()
            }
            1 => b"gold".to_vec(),
            2 => b"t=eyJhbGciOiJSUzI1NiJ9.e30.c2ln; a=b; user =x".to_vec(),
            3 | 4 => {
                let n = rng.below(40);
                printable(rng, n)
            }
            5..=7 => {
                // Text with obs-text bytes (>= 0x80) mixed in: legal HTTP, not UTF-8.
                let n = rng.below(30);
                (0..n)
                    .map(|_| {
                        if rng.below(3) == 0 {
                            0x80 + rng.below(0x80) as u8
                        } else {
                            b'a'
                        }
                    })
                    .collect()
            }
            _ => rng.bytes(0, 60),
        };
        out.extend(name);
        out.extend(b": ");
        out.extend(value);
        out.extend(b"\r\n");
    }
    out.extend(b"\r\n");
    out
}

#[test]
fn random_requests_and_answers_never_break_the_filter() {
    let requests: usize = std::env::var("SHELL_FUZZ_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(800);
    let seed: u64 = std::env::var("SHELL_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let chaos = Chaos::start(seed);
    let upstream = Upstream::start();
    let envoy = Envoy::start_with(
        &upstream,
        &plugin(&chaos),
        EnvoyOptions {
            clusters: vec![("chaos".into(), chaos.port)],
            ..Default::default()
        },
    );
    let mut rng = Rng(seed);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..requests {
        let bytes = request(&mut rng);
        match raw_request(envoy.port, &bytes, false) {
            Ok(r) => {
                assert!(
                    documented(r.status),
                    "request {i} got {}: {:?}\n{}",
                    r.status,
                    String::from_utf8_lossy(&bytes),
                    r.body
                );
                *seen.entry(r.status.to_string()).or_default() += 1;
            }
            // Envoy's codec may close on what it cannot parse; that is Envoy's answer.
            Err(_) => *seen.entry("closed".into()).or_default() += 1,
        }
    }
    eprintln!("{requests} random requests (seed {seed}): {seen:?}");
    assert!(
        seen.len() >= 4,
        "the run should see several outcomes: {seen:?}"
    );
    for i in 0..20 {
        let r = envoy.get("fuzz.local.kyma.dev", "/headers");
        assert_eq!(r.status, 200, "valid request {i} after the run: {}", r.body);
    }
    assert_no_wasm_failure(&envoy);
}
