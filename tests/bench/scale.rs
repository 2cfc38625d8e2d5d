//! Scale, memory and pure-core figures for `make bench`: how configure time, VM memory and
//! per-request cost grow with the number of rules, what the filter adds to Envoy's resident
//! memory, and what `decide()` costs natively without any proxy around it.

use std::hint::black_box;
use std::time::{Duration, Instant};

use apirule_core::compile::compile;
use apirule_core::config::PluginConfig;
use apirule_core::decide::{decide, Decision, Request};
use apirule_core::jwt::crypto::Software;
use apirule_core::request::HeaderList;
use serde_json::{json, Value};

use super::common::*;

/// Rules per APIRule in the generated configs (each APIRule has its own host).
const PER_RULE: usize = 10;

/// `n` noAuth rules spread over `ceil(n / 10)` APIRules, one host each, and the host and path
/// that only the very last rule matches (so matching visits everything that comes before it).
pub fn rules_config(n: usize) -> (String, String, String) {
    let apirules = n.div_ceil(PER_RULE);
    let mut list = Vec::with_capacity(apirules);
    for a in 0..apirules {
        let count = PER_RULE.min(n - a * PER_RULE);
        let rules: Vec<Value> = (0..count)
            .map(|r| json!({"path": format!("/svc/{r}/items/{{*}}"), "methods": ["GET"], "noAuth": true}))
            .collect();
        list.push(json!({
            "apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
            "metadata": {"name": format!("api-{a}"), "namespace": "bench"},
            "spec": {"hosts": [format!("s{a}.bench.dev")], "gateway": "kyma-system/kyma-gateway",
                     "service": {"name": "svc", "port": 80}, "rules": rules}
        }));
    }
    let last = apirules - 1;
    let last_rule = n - last * PER_RULE - 1;
    (
        json!({ "apiRules": list }).to_string(),
        format!("s{last}.bench.dev"),
        format!("/svc/{last_rule}/items/42"),
    )
}

/// Parses the filter's own configure line: (configure ms, VM memory KiB).
pub fn configure_figures(log: &str) -> Option<(u64, u64)> {
    let line = log.lines().find(|l| l.contains("configured in"))?;
    let num_after = |key: &str| -> Option<u64> {
        let rest = &line[line.find(key)? + key.len()..];
        rest.split_whitespace().next()?.parse().ok()
    };
    Some((num_after("configured in ")?, num_after("VM memory ")?))
}

pub fn vm_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Native `decide()` on the request only the last rule matches: ns per call (median of 5).
pub fn decide_ns(n: usize) -> f64 {
    let (cfg, host, path) = rules_config(n);
    time_decide(&cfg, &host, &path, &[], None)
}

/// Native `decide()` on a `jwt` rule with a required scope, the same RS256 token every time
/// (verified once with pure-Rust crypto, then a cache hit, as in the filter): ns per call.
pub fn decide_jwt_ns(idp: &Idp, token: &str) -> f64 {
    let cfg = json!({"apiRules": [{
        "apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
        "metadata": {"name": "jwt", "namespace": "bench"},
        "spec": {"hosts": ["jwt.bench.dev"], "gateway": "kyma-system/kyma-gateway",
                 "service": {"name": "svc", "port": 80},
                 "rules": [{"path": "/jwt", "methods": ["GET"],
                            "jwt": {"authentications": [{"issuer": idp.issuer(), "jwksUri": idp.jwks_uri()}],
                                    "authorizations": [{"requiredScopes": ["read"]}]}}]}
    }]})
    .to_string();
    let jwks = try_request(idp.port, "GET", "127.0.0.1", "/jwks", &[], "").unwrap();
    assert_eq!(jwks.status, 200);
    let headers = [("authorization".to_owned(), format!("Bearer {token}"))];
    time_decide(
        &cfg,
        "jwt.bench.dev",
        "/jwt",
        &headers,
        Some(jwks.body.as_bytes()),
    )
}

fn time_decide(
    cfg: &str,
    host: &str,
    path: &str,
    headers: &[(String, String)],
    jwks: Option<&[u8]>,
) -> f64 {
    let config = PluginConfig::from_json(cfg.as_bytes()).unwrap();
    let (set, _) = compile(&config).unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut auth = set.auth_state();
    if let Some(body) = jwks {
        auth.keys.install(0, body, now_ms).unwrap();
    }
    let answers = Default::default();
    let headers = HeaderList::of(headers);
    let req = Request {
        authority: host,
        method: "GET",
        path,
        scheme: "http",
        headers: &headers,
        non_utf8: &[],
        remote_address: "",
        protocol: "",
        sent_upstream_timeout: false,
    };
    let mut runs = Vec::new();
    for _ in 0..5 {
        let iterations = 200_000;
        let start = Instant::now();
        for _ in 0..iterations {
            let mut env = auth.env(&Software, &answers, now_ms, now_ms);
            let d = decide(&set, black_box(&req), &mut env);
            assert!(matches!(d, Decision::Allow(_)), "{host}{path}: {d:?}");
            black_box(d);
        }
        runs.push(start.elapsed().as_nanos() as f64 / iterations as f64);
    }
    runs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    runs[runs.len() / 2]
}

/// Native compile time of `n` rules (parse + validate + compile), ms, median of 3.
pub fn compile_ms(n: usize) -> f64 {
    let (cfg, _, _) = rules_config(n);
    let mut runs: Vec<f64> = (0..3)
        .map(|_| {
            let start = Instant::now();
            let config = PluginConfig::from_json(cfg.as_bytes()).unwrap();
            let (set, reports) = compile(&config).unwrap();
            assert_eq!(reports.len(), n.div_ceil(PER_RULE));
            black_box(set);
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    runs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    runs[1]
}

/// Waits until `host` + `path` answers 200 on `envoy`.
pub fn wait_ok(envoy: &Envoy, host: &str, path: &str) {
    wait_ok_with(envoy, host, path, &[]);
}

pub fn wait_ok_with(envoy: &Envoy, host: &str, path: &str, headers: &[(&str, &str)]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = envoy.send("GET", host, path, headers, "");
        if r.status == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{host}{path}: {} {}",
            r.status,
            r.body
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
