//! `make bench`: throughput and latency of the filter next to bare Envoy and Envoy's native
//! `jwt_authn` + RBAC (configured the way Istio configures them), measured side by side in one
//! run. Envoy runs with one worker and answers with a direct response, so the numbers show the
//! proxy's own cost; load comes from `wrk` on loopback. Ratios are taken within this run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const HOST: &str = "api.bench.dev";
const INTRO_HOST: &str = "intro.bench.dev";

struct Scenario {
    name: &'static str,
    host: &'static str,
    envoy: Envoy,
    /// Tokens sent round-robin (empty: no Authorization header).
    tokens: Vec<String>,
    path: &'static str,
}

#[derive(Clone, Copy, Default)]
struct Sample {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn main() {
    if std::env::var_os("APIRULE_BENCH").is_none() {
        println!("bench: skipped (run `make bench`)");
        return;
    }
    // Debug logging costs the filter real time per request: measure at warn.
    std::env::set_var("APIRULE_ENVOY_LOG", "wasm:warn");
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let connections = 16;
    assert!(
        Command::new("wrk").arg("--version").output().is_ok(),
        "wrk is missing (make bench installs it)"
    );

    let idp = Idp::start(3600);
    let rs = idp.token("rs256", "read");
    let es = idp.token("es256", "read");
    let rs2 = idp.token("rs256", "read");
    let opaque = idp.token("opaque", "read");

    let filter = |extra: Value| {
        let mut cfg = json!({
            "clusters": {idp.issuer(): "idp"},
            "apiRules": [{
                "apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
                "metadata": {"name": "bench", "namespace": "default"},
                "spec": {"hosts": [HOST], "gateway": "kyma-system/kyma-gateway",
                         "service": {"name": "svc", "port": 80},
                         "rules": [
                            {"path": "/open", "methods": ["GET"], "noAuth": true},
                            {"path": "/jwt", "methods": ["GET"],
                             "jwt": {"authentications": [{"issuer": idp.issuer(), "jwksUri": idp.jwks_uri()}],
                                     "authorizations": [{"requiredScopes": ["read"]}]}}
                         ]}
            }, {
                "apiVersion": "gateway.kyma-project.io/v1beta1", "kind": "APIRule",
                "metadata": {"name": "intro", "namespace": "default"},
                "spec": {"host": INTRO_HOST, "gateway": "kyma-system/kyma-gateway",
                         "service": {"name": "svc", "port": 80},
                         "rules": [{"path": "/intro", "methods": ["GET"], "accessStrategies": [{
                            "handler": "oauth2_introspection",
                            "config": {"introspection_url": format!("{}/token/introspection", idp.issuer()),
                                       "introspection_request_headers": {"Authorization": "Basic dGVzdC1jbGllbnQ6dGVzdC1zZWNyZXQ="},
                                       "required_scope": ["read"], "cache": {"enabled": true, "ttl": "600s"}}}]}]}
            }]
        });
        if let Value::Object(m) = extra {
            for (k, v) in m {
                cfg[k] = v;
            }
        }
        cfg.to_string()
    };
    let start = |kind: Kind| BenchEnvoy::start(kind, idp.port);
    println!("starting Envoys (one worker each)...");
    let mut scenarios = vec![
        Scenario {
            host: HOST,
            name: "bare Envoy, no auth",
            envoy: start(Kind::Bare),
            tokens: vec![],
            path: "/open",
        },
        Scenario {
            host: HOST,
            name: "filter, noAuth rule",
            envoy: start(Kind::Wasm(filter(json!({})))),
            tokens: vec![],
            path: "/open",
        },
        Scenario {
            host: HOST,
            name: "filter, jwt rule, same RS256 token",
            envoy: start(Kind::Wasm(filter(json!({})))),
            tokens: vec![rs.clone()],
            path: "/jwt",
        },
        Scenario {
            host: HOST,
            name: "native jwt_authn+RBAC, same RS256 token",
            envoy: start(Kind::Native(idp.issuer(), idp.jwks_uri())),
            tokens: vec![rs.clone()],
            path: "/jwt",
        },
        Scenario {
            host: HOST,
            name: "filter, jwt rule, same ES256 token",
            envoy: start(Kind::Wasm(filter(json!({})))),
            tokens: vec![es.clone()],
            path: "/jwt",
        },
        Scenario {
            host: HOST,
            name: "native jwt_authn+RBAC, same ES256 token",
            envoy: start(Kind::Native(idp.issuer(), idp.jwks_uri())),
            tokens: vec![es],
            path: "/jwt",
        },
        Scenario {
            host: HOST,
            name: "filter, RS256 first seen (no cache hit)",
            envoy: start(Kind::Wasm(filter(json!({"tokenCacheSize": 1})))),
            tokens: vec![rs.clone(), rs2.clone()],
            path: "/jwt",
        },
        Scenario {
            host: HOST,
            name: "filter, RS256 first seen, pure-Rust crypto",
            envoy: start(Kind::Wasm(filter(
                json!({"tokenCacheSize": 1, "nativeCrypto": false}),
            ))),
            tokens: vec![rs.clone(), rs2.clone()],
            path: "/jwt",
        },
        Scenario {
            host: HOST,
            name: "native jwt_authn+RBAC, alternating RS256 tokens",
            envoy: start(Kind::Native(idp.issuer(), idp.jwks_uri())),
            tokens: vec![rs, rs2],
            path: "/jwt",
        },
        Scenario {
            host: INTRO_HOST,
            name: "filter, introspection rule, warm cache",
            envoy: start(Kind::Wasm(filter(json!({})))),
            tokens: vec![opaque],
            path: "/intro",
        },
    ];
    // Every scenario must answer 200 before it is measured.
    for s in &scenarios {
        let mut headers = vec![];
        let auth;
        if let Some(t) = s.tokens.first() {
            auth = format!("Bearer {t}");
            headers.push(("Authorization", auth.as_str()));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = s.envoy.send("GET", s.host, s.path, &headers, "");
            if r.status == 200 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {} {}",
                s.name,
                r.status,
                r.body
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    let dir = scratch("bench");
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); scenarios.len()];
    for round in 0..rounds {
        for (i, s) in scenarios.iter_mut().enumerate() {
            let sample = wrk(&dir, s, seconds, connections);
            println!(
                "round {}/{rounds}  {:<48} {:>9.0} req/s  p50 {:>6.3} ms  p99 {:>6.3} ms",
                round + 1,
                s.name,
                sample.rps,
                sample.p50_ms,
                sample.p99_ms
            );
            samples[i].push(sample);
        }
    }

    let median = |v: &[Sample], f: fn(&Sample) -> f64| {
        let mut x: Vec<f64> = v.iter().map(f).collect();
        x.sort_by(|a, b| a.partial_cmp(b).unwrap());
        x[x.len() / 2]
    };
    let bare = median(&samples[0], |s| s.rps);
    println!();
    println!("Medians of {rounds} rounds, {seconds} s each, wrk -t1 -c{connections}, Envoy --concurrency 1, direct response:");
    println!("| scenario | req/s | vs bare Envoy | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|---:|");
    let mut rps = Vec::new();
    for (i, s) in scenarios.iter().enumerate() {
        let r = median(&samples[i], |s| s.rps);
        rps.push(r);
        println!(
            "| {} | {:.0} | {:.1}% | {:.3} | {:.3} |",
            s.name,
            r,
            100.0 * r / bare,
            median(&samples[i], |s| s.p50_ms),
            median(&samples[i], |s| s.p99_ms)
        );
    }
    println!();
    println!(
        "filter noAuth / bare Envoy:                    {:.3}",
        rps[1] / rps[0]
    );
    println!(
        "filter jwt / native jwt_authn, same RS256:     {:.3}",
        rps[2] / rps[3]
    );
    println!(
        "filter jwt / native jwt_authn, same ES256:     {:.3}",
        rps[4] / rps[5]
    );
    println!(
        "filter first-seen RS256 / native:             {:.3}",
        rps[6] / rps[8]
    );
    println!(
        "filter first-seen RS256, pure Rust / native:  {:.3}",
        rps[7] / rps[8]
    );
    println!(
        "filter introspection warm cache / noAuth:     {:.3}",
        rps[9] / rps[1]
    );
}

fn wrk(dir: &std::path::Path, s: &Scenario, seconds: u64, connections: u32) -> Sample {
    let script = dir.join(format!("{}.lua", s.envoy.port));
    let tokens: Vec<String> = s.tokens.iter().map(|t| format!("\"Bearer {t}\"")).collect();
    std::fs::write(
        &script,
        format!(
            "local tokens = {{{}}}\nlocal i = 0\nwrk.headers[\"Host\"] = \"{}\"\nrequest = function()\n  if #tokens > 0 then\n    i = i % #tokens + 1\n    wrk.headers[\"Authorization\"] = tokens[i]\n  end\n  return wrk.format(\"GET\", \"{}\")\nend\n",
            tokens.join(", "),
            s.host,
            s.path
        ),
    )
    .unwrap();
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-s",
        ])
        .arg(&script)
        .arg(format!("http://127.0.0.1:{}", s.envoy.port))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("Non-2xx"),
        "{}: non-2xx responses\n{text}",
        s.name
    );
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk output:\n{text}"));
    let pct = |p: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(p))
            .map(|v| to_ms(v.trim()))
            .unwrap_or(f64::NAN)
    };
    Sample {
        rps,
        p50_ms: pct("50%"),
        p99_ms: pct("99%"),
    }
}

fn to_ms(v: &str) -> f64 {
    let (num, factor) = if let Some(n) = v.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (v, 1.0)
    };
    num.parse::<f64>().unwrap_or(f64::NAN) * factor
}

enum Kind {
    Bare,
    Wasm(String),
    /// Issuer and JWKS URI.
    Native(String, String),
}

struct BenchEnvoy;

impl BenchEnvoy {
    fn start(kind: Kind, idp_port: u16) -> Envoy {
        let filters = match &kind {
            Kind::Bare => vec![],
            Kind::Wasm(cfg) => vec![json!({
                "name": "envoy.filters.http.wasm",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                    "config": {
                        "name": "apirule", "root_id": "apirule", "failure_policy": "FAIL_CLOSED",
                        "vm_config": {"runtime": "envoy.wasm.runtime.v8",
                                      "code": {"local": {"filename": wasm_path().to_string_lossy()}}},
                        "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": cfg}
                    }
                }
            })],
            Kind::Native(issuer, jwks) => native_jwt(issuer, jwks),
        };
        let mut http_filters = filters;
        http_filters.push(json!({"name": "envoy.filters.http.router",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}));
        let (port, admin) = (free_port(), free_port());
        let cfg = json!({
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
            "static_resources": {
                "listeners": [{
                    "name": "bench",
                    "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
                    "filter_chains": [{"filters": [{
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                            "stat_prefix": "bench",
                            "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"],
                                "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "ok"}}}]}]},
                            "http_filters": http_filters
                        }
                    }]}]
                }],
                "clusters": [{
                    "name": "idp", "type": "STATIC", "connect_timeout": "2s",
                    "load_assignment": {"cluster_name": "idp", "endpoints": [{"lb_endpoints": [{"endpoint": {"address":
                        {"socket_address": {"address": "127.0.0.1", "port_value": idp_port}}}}]}]}
                }]
            }
        });
        Envoy::start_raw(port, admin, &cfg, 1)
    }
}

/// Envoy's jwt_authn and RBAC as Istio renders a RequestAuthentication and Kyma's
/// AuthorizationPolicy (requestPrincipals `<issuer>/*`, `request.auth.claims[scope]` = read).
fn native_jwt(issuer: &str, jwks: &str) -> Vec<Value> {
    vec![
        json!({
            "name": "envoy.filters.http.jwt_authn",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
                "providers": {"origins-0": {
                    "issuer": issuer,
                    "remote_jwks": {"http_uri": {"uri": jwks, "cluster": "idp", "timeout": "5s"},
                                    "cache_duration": "300s", "async_fetch": {}},
                    "forward": true,
                    "payload_in_metadata": "payload",
                    "normalize_payload_in_metadata": {"space_delimited_claims": ["permission", "scope"]}
                }},
                "rules": [{"match": {"prefix": "/"}, "requires": {"requires_any": {"requirements": [
                    {"provider_name": "origins-0"}, {"allow_missing": {}}]}}}],
                "bypass_cors_preflight": true
            }
        }),
        json!({
            "name": "envoy.filters.http.rbac",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
                "rules": {"action": "ALLOW", "policies": {"ns[test]-policy[jwt]-rule[0]": {
                    "permissions": [{"and_rules": {"rules": [
                        {"url_path": {"path": {"exact": "/jwt"}}},
                        {"header": {"name": ":method", "string_match": {"exact": "GET"}}}]}}],
                    "principals": [{"and_ids": {"ids": [
                        {"metadata": {"filter": "envoy.filters.http.jwt_authn",
                                      "path": [{"key": "payload"}, {"key": "iss"}],
                                      "value": {"string_match": {"exact": issuer}}}},
                        {"metadata": {"filter": "envoy.filters.http.jwt_authn",
                                      "path": [{"key": "payload"}, {"key": "scope"}],
                                      "value": {"list_match": {"one_of": {"string_match": {"exact": "read"}}}}}}
                    ]}}]
                }}}
            }
        }),
    ]
}
