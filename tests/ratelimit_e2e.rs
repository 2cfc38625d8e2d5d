//! Kyma's RateLimit through the real Envoy with two worker threads: one bucket drained by
//! connections spread over both workers (shared data, not per worker), 429 with Envoy's body and
//! the x-ratelimit headers, refilling at its rate (continuously, as Envoy's local_ratelimit),
//! header-keyed buckets, and shadow mode passing traffic while counting.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const HOST: &str = "httpbin.local.kyma.dev";

fn api_rule() -> Value {
    json!({
        "apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
        "metadata": {"name": "httpbin", "namespace": "default"},
        "spec": {"hosts": ["httpbin"], "gateway": "kyma-system/kyma-gateway",
                 "service": {"name": "httpbin", "port": 8000},
                 "rules": [
                    {"path": "/headers", "methods": ["GET"], "noAuth": true},
                    {"path": "/anything/{**}", "methods": ["GET"], "noAuth": true}
                 ]}
    })
}

fn start(upstream: &Upstream, spec: Value) -> Envoy {
    let plugin = json!({
        "defaultDomain": "local.kyma.dev",
        "apiRules": [api_rule()],
        "rateLimits": [{
            "apiVersion": "gateway.kyma-project.io/v1alpha1", "kind": "RateLimit",
            "metadata": {"name": "gateway-limit", "namespace": "istio-system"},
            "spec": spec
        }]
    });
    Envoy::start_with(
        upstream,
        &plugin.to_string(),
        EnvoyOptions {
            concurrency: 2,
            ..Default::default()
        },
    )
}

fn number(r: &Response, name: &str) -> u64 {
    r.header(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name}: {r:?}"))
}

/// `n` requests at once, each on its own connection (so both workers take some).
fn burst(envoy: &Envoy, path: &str, headers: &[(&str, &str)], n: usize) -> Vec<Response> {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|_| s.spawn(|| envoy.send("GET", HOST, path, headers, "")))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Connections each worker thread accepted on the gateway listener.
fn connections_per_worker(envoy: &Envoy) -> BTreeMap<String, u64> {
    let r = try_request(
        envoy.admin,
        "GET",
        "127.0.0.1",
        "/stats?filter=worker_",
        &[],
        "",
    )
    .unwrap();
    r.body
        .lines()
        .filter(|l| l.starts_with("listener.") && !l.starts_with("listener.admin."))
        .filter_map(|l| {
            let (name, value) = l.split_once(": ")?;
            let worker = name
                .strip_suffix(".downstream_cx_total")?
                .rsplit('.')
                .next()?
                .to_owned();
            Some((worker, value.trim().parse().ok()?))
        })
        .collect()
}

#[test]
fn one_bucket_for_both_workers_drains_to_429_and_refills() {
    let upstream = Upstream::start();
    let envoy = start(
        &upstream,
        json!({
            "selectorLabels": {"app": "istio-ingressgateway"},
            "enableResponseHeaders": true,
            "local": {
                "defaultBucket": {"maxTokens": 1000, "tokensPerFill": 1000, "fillInterval": "1s"},
                "buckets": [
                    // One token every 3 s: none comes back during the burst.
                    {"path": "/anything/drain",
                     "bucket": {"maxTokens": 5, "tokensPerFill": 1, "fillInterval": "3s"}},
                    {"headers": {"x-api-usage": "BASIC"},
                     "bucket": {"maxTokens": 2, "tokensPerFill": 1, "fillInterval": "3s"}}
                ]
            }
        }),
    );

    // A full bucket: Envoy reports the tokens left and no wait.
    let first = envoy.get(HOST, "/anything/drain");
    assert_eq!(first.status, 200, "{first:?}\n{}", envoy.log());
    assert_eq!(number(&first, "x-ratelimit-limit"), 5);
    assert_eq!(number(&first, "x-ratelimit-reset"), 0);
    let mut remaining = vec![number(&first, "x-ratelimit-remaining")];
    let responses = burst(&envoy, "/anything/drain", &[], 23);
    let mut limited = 0;
    for r in &responses {
        match r.status {
            200 => remaining.push(number(r, "x-ratelimit-remaining")),
            429 => {
                limited += 1;
                assert_eq!(r.body, "local_rate_limited");
                assert_eq!(number(r, "x-ratelimit-limit"), 5);
                assert_eq!(number(r, "x-ratelimit-remaining"), 0);
            }
            other => panic!("unexpected {other}: {r:?}"),
        }
    }
    // One bucket for the process: exactly maxTokens requests passed, each drawing its own
    // token (two per-worker buckets would have let up to ten through, with repeated counts).
    remaining.sort_unstable();
    assert_eq!(remaining, [0, 1, 2, 3, 4], "{}", envoy.log());
    assert_eq!(limited, 19);
    let workers = connections_per_worker(&envoy);
    assert_eq!(workers.len(), 2, "{workers:?}");
    assert!(
        workers.values().all(|n| *n > 0),
        "both workers served: {workers:?}"
    );

    // Refills at its rate: after the announced reset (seconds to the next token) one passes.
    let reset = responses
        .iter()
        .filter(|r| r.status == 429)
        .map(|r| number(r, "x-ratelimit-reset"))
        .min()
        .unwrap();
    assert!((1..=3).contains(&reset), "reset {reset}");
    assert_eq!(
        envoy.get(HOST, "/anything/drain").status,
        429,
        "still empty"
    );
    std::thread::sleep(Duration::from_millis(reset * 1000 + 200));
    let r = envoy.get(HOST, "/anything/drain");
    assert_eq!(r.status, 200, "refilled: {r:?}");
    assert_eq!(number(&r, "x-ratelimit-remaining"), 0);
    assert_eq!(
        envoy.get(HOST, "/anything/drain").status,
        429,
        "one token, not more"
    );

    // A header-keyed bucket, on any path; without the header, the default bucket.
    let basic = [("x-api-usage", "BASIC")];
    let statuses: Vec<u16> = (0..3)
        .map(|_| envoy.send("GET", HOST, "/headers", &basic, "").status)
        .collect();
    assert_eq!(statuses, [200, 200, 429]);
    let r = envoy.get(HOST, "/headers");
    assert_eq!((r.status, number(&r, "x-ratelimit-limit")), (200, 1000));
    // A request no rule routes is neither counted nor annotated: Kyma enables Envoy's
    // local_ratelimit per route only (internal/ratelimit/testdata/envoy_patches.yaml).
    for (host, path) in [(HOST, "/anything"), ("unknown.local.kyma.dev", "/headers")] {
        let r = envoy.send("GET", host, path, &basic, "");
        assert_eq!(r.status, 404, "{host}{path}");
        assert_eq!(r.header("x-ratelimit-limit"), None, "{host}{path}");
    }

    let denied = envoy.metric_when(
        "apirule_requests_denied_rate_limited",
        Duration::from_secs(3),
        |v| v >= 22,
    );
    assert_eq!(
        denied, 22,
        "19 in the burst, one before and one after the refill, one header-keyed"
    );
}

#[test]
fn shadow_mode_passes_traffic_and_counts() {
    let upstream = Upstream::start();
    let envoy = start(
        &upstream,
        json!({
            "selectorLabels": {"app": "istio-ingressgateway"},
            "enforce": false,
            "enableResponseHeaders": true,
            "local": {"defaultBucket": {"maxTokens": 2, "tokensPerFill": 2, "fillInterval": "1h"}}
        }),
    );
    let responses = burst(&envoy, "/headers", &[], 8);
    for r in &responses {
        // Reached httpbin: its JSON echo of the request headers.
        assert_eq!(r.status, 200, "{r:?}");
        assert!(r.upstream_header("host").is_some(), "{r:?}");
    }
    let mut remaining: Vec<u64> = responses
        .iter()
        .map(|r| number(r, "x-ratelimit-remaining"))
        .collect();
    remaining.sort_unstable();
    assert_eq!(remaining, [0, 0, 0, 0, 0, 0, 0, 1]);
    let shadowed = envoy.metric_when("apirule_ratelimit_shadowed", Duration::from_secs(3), |v| {
        v >= 6
    });
    assert_eq!(shadowed, 6, "over the limit, passed");
    assert_eq!(
        envoy.metric_when("apirule_ratelimit_over_limit", Duration::ZERO, |_| true),
        6
    );
    assert_eq!(
        envoy.metric_when(
            "apirule_requests_denied_rate_limited",
            Duration::ZERO,
            |_| true
        ),
        0
    );
    assert!(envoy.log().contains("shadow mode"), "{}", envoy.log());
}
