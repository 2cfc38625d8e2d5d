//! Kyma's conformance, translated:
//! `tests/integration/testsuites/rate-limit/features/local_rate_limit_targeting_ingress_gateway.feature`
//! of kyma-project/api-gateway (commit 64d110d6), scenario by scenario, through Envoy with the
//! filter. The APIRule is the one in the suite's `testing-app.yaml`, the RateLimits the feature's
//! manifests (`ratelimit-ingressgateway-header-based.yaml`,
//! `ratelimit-ingressgateway-path-and-header-based.yaml`, `ratelimit-ingressgateway-path-based.yaml`),
//! template values filled in.
//!
//! These RateLimits live in `istio-system` and select the ingress gateway
//! (`app: istio-ingressgateway`): the pods the filter runs in by default (no `workload` given).

use std::process::Command;

use crate::common::*;
use serde_json::{json, Value};

const HOST: &str = "httpbin-kyma.local.kyma.dev";

/// `testing-app.yaml`'s APIRule: every path, GET and POST, to the rule's service.
fn apirule() -> Value {
    json!({"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
           "metadata": {"name": "apirule-kyma", "namespace": "default"},
           "spec": {"gateway": "kyma-system/kyma-gateway", "hosts": [HOST],
                    "rules": [{"path": "/*", "service": {"name": "httpbin-kyma", "port": 80},
                               "methods": ["GET", "POST"], "noAuth": true}]}})
}

/// One of the feature's RateLimits: both buckets (the default and `bucket`) hold one token and
/// get one back every 30 s.
fn rate_limit(name: &str, bucket: Value) -> Value {
    let one = json!({"maxTokens": 1, "tokensPerFill": 1, "fillInterval": "30s"});
    let mut b = bucket;
    b["bucket"] = one.clone();
    json!({"apiVersion": "gateway.kyma-project.io/v1alpha1", "kind": "RateLimit",
           "metadata": {"name": name, "namespace": "istio-system",
                        "labels": {"app": "istio-ingressgateway"}},
           "spec": {"selectorLabels": {"app": "istio-ingressgateway"}, "enableResponseHeaders": true,
                    "local": {"defaultBucket": one, "buckets": [b]}}})
}

fn plugin(rate_limit: &Value) -> Value {
    json!({"apiRules": [apirule()], "rateLimits": [rate_limit]})
}

/// "RateLimit ... configuration is applied" waits for the RateLimit's status Ready: `apirule
/// check` on the plugin configuration. Then Envoy with it.
fn apply(rate_limit: Value) -> (Upstream, Envoy) {
    let cfg = plugin(&rate_limit);
    let dir = scratch("kyma-ratelimit");
    let file = dir.join("plugin.json");
    std::fs::write(&file, cfg.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_apirule"))
        .arg("check")
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let name = rate_limit["metadata"]["name"].as_str().unwrap();
    assert!(
        text.contains(&format!(
            "istio-system/{name} (gateway.kyma-project.io/v1alpha1 RateLimit): Ready"
        )),
        "{text}"
    );
    let upstream = Upstream::start();
    let envoy = Envoy::start(&upstream, &cfg.to_string());
    (upstream, envoy)
}

/// "calling the "<path>" endpoint [with header] should result in status code 429 for requests":
/// Kyma sends the same GET (with `X-Rate-Limited: true` for "with header") until it is answered
/// 429. With one token in the bucket, the first passes and the second is refused.
fn calls_until_429(envoy: &Envoy, path: &str, headers: &[(&str, &str)]) {
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let r = envoy.send("GET", HOST, path, headers, "");
        statuses.push(r.status);
        if r.status == 429 {
            assert_eq!(r.header("x-ratelimit-limit"), Some("1"), "{r:?}");
            break;
        }
    }
    assert_eq!(statuses, [200, 429], "{path}\n{}", envoy.log());
}

/// Scenario: Connectivity to ingress rate limited by header-based configuration.
#[test]
fn connectivity_to_ingress_rate_limited_by_header_based_configuration() {
    // ratelimit-ingressgateway-header-based.yaml
    let (_u, envoy) = apply(rate_limit(
        "ratelimit-ingressgateway-header-sample",
        json!({"headers": {"X-Rate-Limited": "true"}}),
    ));
    calls_until_429(&envoy, "/ip", &[("X-Rate-Limited", "true")]);
}

/// Scenario: Connectivity to ingress rate limited by path and header based configuration.
#[test]
fn connectivity_to_ingress_rate_limited_by_path_and_header_based_configuration() {
    // ratelimit-ingressgateway-path-and-header-based.yaml
    let (_u, envoy) = apply(rate_limit(
        "ratelimit-ingressgateway-path-header-sample",
        json!({"headers": {"X-Rate-Limited": "true"}, "path": "/headers"}),
    ));
    calls_until_429(&envoy, "/headers", &[("X-Rate-Limited", "true")]);
}

/// Scenario: Connectivity to ingress rate limited by path-based configuration.
#[test]
fn connectivity_to_ingress_rate_limited_by_path_based_configuration() {
    // ratelimit-ingressgateway-path-based.yaml
    let (_u, envoy) = apply(rate_limit(
        "ratelimit-ingressgateway-path-sample",
        json!({"path": "/ip"}),
    ));
    calls_until_429(&envoy, "/ip", &[]);
}
