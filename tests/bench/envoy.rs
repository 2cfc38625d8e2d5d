//! `make bench`: throughput and latency of the filter next to bare Envoy and Envoy's native
//! `jwt_authn` + RBAC (configured the way Istio configures them), measured side by side in one
//! run. Envoy runs with one worker and answers with a direct response, so the numbers show the
//! proxy's own cost; load comes from `wrk` on loopback. Ratios are taken within this run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod callgrind;
#[path = "../common/mod.rs"]
mod common;
mod mix;
mod scale;
mod size;
mod soak;

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
    /// Share of the responses that were not 2xx (the realistic mix expects its invalid tokens').
    non_2xx: f64,
}

fn main() {
    if std::env::var_os("APIRULE_BENCH").is_none() {
        println!("bench: skipped (run `make bench`)");
        return;
    }
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
        .max(1);
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let connections = 16;
    assert!(
        Command::new("wrk").arg("--version").output().is_ok(),
        "wrk is missing (make bench installs it)"
    );
    // A chart is drawn only from this run's figures.
    let _ = std::fs::remove_file(repo().join("target/bench/throughput.tsv"));
    // BENCH_ONLY=throughput,scale,memory,core,ratelimit,size,mix,floor,callgrind picks sections; all by default.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let wanted = |section: &str| only.is_empty() || only.split(',').any(|s| s == section);
    // The soak is its own target (`make soak`), never part of a default run.
    if only.split(',').any(|s| s == "soak") {
        let total = std::env::var("SOAK_REQUESTS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1_000_000);
        soak::soak(total);
        return;
    }
    println!(
        "module: {} ({} bytes)",
        wasm_path().display(),
        std::fs::metadata(wasm_path()).map(|m| m.len()).unwrap_or(0)
    );
    if wanted("core") {
        core_figures();
    }
    if wanted("scale") {
        scale_figures(seconds, rounds, connections);
    }
    if wanted("memory") {
        memory_figures();
    }
    if wanted("throughput") {
        throughput(seconds, rounds, connections);
    }
    if wanted("ratelimit") {
        rate_limit_figures(seconds, rounds, connections);
    }
    if wanted("mix") {
        mix::mix_figures(seconds, rounds, connections);
    }
    if wanted("floor") {
        floor_figures(seconds, rounds, connections);
    }
    if wanted("size") {
        size::size_figures();
    }
    if wanted("callgrind") {
        callgrind::envoy_instruction_figures();
    }
}

/// What a RateLimit costs the filter, next to what Envoy's own local_ratelimit costs Envoy.
fn rate_limit_figures(seconds: u64, rounds: usize, connections: u32) {
    let rule = |extra: Value| {
        let mut cfg = json!({"apiRules": [{
            "apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
            "metadata": {"name": "bench", "namespace": "default"},
            "spec": {"hosts": [HOST], "gateway": "kyma-system/kyma-gateway",
                     "service": {"name": "svc", "port": 80},
                     "rules": [{"path": "/open", "methods": ["GET"], "noAuth": true}]}
        }]});
        if let Value::Object(m) = extra {
            for (k, v) in m {
                cfg[k] = v;
            }
        }
        cfg.to_string()
    };
    let limit = |headers: bool| {
        json!({"rateLimits": [{
            "apiVersion": "gateway.kyma-project.io/v1alpha1", "kind": "RateLimit",
            "metadata": {"name": "bench", "namespace": "istio-system"},
            "spec": {"selectorLabels": {"app": "istio-ingressgateway"},
                     "enableResponseHeaders": headers,
                     "local": {"defaultBucket": {"maxTokens": 1_000_000_000u64,
                                                 "tokensPerFill": 1_000_000_000u64,
                                                 "fillInterval": "1s"}}}
        }]})
    };
    let start = |kind: Kind| BenchEnvoy::start(kind, 9);
    let scenario = |name: &'static str, kind: Kind| Scenario {
        host: HOST,
        name,
        envoy: start(kind),
        tokens: vec![],
        path: "/open",
    };
    println!("starting Envoys (one worker each)...");
    let scenarios = vec![
        scenario("bare Envoy, no auth", Kind::Bare),
        scenario(
            "native local_ratelimit (as Kyma's EnvoyFilter), x-ratelimit headers",
            Kind::NativeRateLimit,
        ),
        scenario("filter, noAuth rule", Kind::Wasm(rule(json!({})))),
        scenario(
            "filter, noAuth rule + RateLimit",
            Kind::Wasm(rule(limit(false))),
        ),
        scenario(
            "filter, noAuth rule + RateLimit, x-ratelimit headers",
            Kind::Wasm(rule(limit(true))),
        ),
    ];
    for s in &scenarios {
        assert_eq!(s.envoy.get(HOST, "/open").status, 200, "{}", s.name);
    }
    let samples = measure("ratelimit", &scenarios, seconds, rounds, connections);
    println!();
    println!("RateLimit, a bucket that never empties (a token drawn per request); medians of {rounds} rounds:");
    println!("| scenario | req/s | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|");
    let rps: Vec<f64> = samples.iter().map(|v| median(v, |s| s.rps)).collect();
    for (i, s) in scenarios.iter().enumerate() {
        println!(
            "| {} | {:.0} | {:.3} | {:.3} |",
            s.name,
            rps[i],
            median(&samples[i], |s| s.p50_ms),
            median(&samples[i], |s| s.p99_ms)
        );
    }
    println!();
    for (label, num, den) in [
        ("native local_ratelimit / bare Envoy", 1, 0),
        ("filter RateLimit / filter noAuth", 3, 2),
        ("filter RateLimit + headers / filter noAuth", 4, 2),
    ] {
        println!("{:<46} {:.3}", format!("{label}:"), rps[num] / rps[den]);
    }
}

/// The floor under any proxy-wasm filter, and what exporting fewer callbacks saves: the host
/// calls a module only for the callbacks it exports, the SDK exports all of them. `make bench`
/// builds the pass-through with only its own; the filter exports only its own
/// (crates/filter/src/exports.rs).
fn floor_figures(seconds: u64, rounds: usize, connections: u32) {
    let min = repo().join("target").join("passthrough_min.wasm");
    assert!(
        min.exists(),
        "target/passthrough_min.wasm is missing (make bench builds it)"
    );
    let idp = Idp::start(3600);
    let es = idp.token("es256", "read");
    let cfg = filter_config(&idp, json!({}));
    let start = |kind: Kind| BenchEnvoy::start(kind, idp.port);
    let scenario =
        |name: &'static str, kind: Kind, tokens: Vec<String>, path: &'static str| Scenario {
            name,
            host: HOST,
            envoy: start(kind),
            tokens,
            path,
        };
    println!();
    println!("starting Envoys (one worker each)...");
    let scenarios = vec![
        scenario("bare Envoy, no auth", Kind::Bare, vec![], "/open"),
        scenario(
            "pass-through, SDK exports (floor)",
            Kind::Passthrough,
            vec![],
            "/open",
        ),
        scenario(
            "pass-through, only its callbacks exported",
            Kind::Module(min, String::new()),
            vec![],
            "/open",
        ),
        scenario("filter noAuth", Kind::Wasm(cfg.clone()), vec![], "/open"),
        scenario(
            "filter jwt, same ES256 token",
            Kind::Wasm(cfg),
            vec![es],
            "/jwt",
        ),
    ];
    for s in &scenarios {
        let auth = s.tokens.first().map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        scale::wait_ok_with(&s.envoy, s.host, s.path, &headers);
    }
    let samples = measure("bench-floor", &scenarios, seconds, rounds, connections);
    let rps: Vec<f64> = samples.iter().map(|v| median(v, |s| s.rps)).collect();
    println!();
    println!("The floor, medians of {rounds} rounds, wrk -t1 -c{connections}, Envoy --concurrency 1, direct response:");
    println!("| scenario | req/s | vs bare Envoy | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|---:|");
    for (i, s) in scenarios.iter().enumerate() {
        println!(
            "| {} | {:.0} | {:.1}% | {:.3} | {:.3} |",
            s.name,
            rps[i],
            100.0 * rps[i] / rps[0],
            median(&samples[i], |s| s.p50_ms),
            median(&samples[i], |s| s.p99_ms)
        );
    }
    println!();
    for (label, num, den) in [
        ("pass-through, fewer exports / SDK pass-through", 2, 1),
        ("filter noAuth / SDK pass-through (target 0.95)", 3, 1),
        ("filter noAuth / pass-through, fewer exports", 3, 2),
        ("filter jwt / filter noAuth", 4, 3),
    ] {
        println!("{:<52} {:.3}", format!("{label}:"), rps[num] / rps[den]);
    }
}

/// Native `decide()` and compile cost, no proxy: the floor under every number below.
fn core_figures() {
    println!();
    println!("Pure core, native (release build), request matched by the last rule:");
    println!("| rules | compile ms | decide() ns/request |");
    println!("|---:|---:|---:|");
    for n in [1, 10, 100, 1000, 10_000] {
        println!(
            "| {n} | {:.2} | {:.0} |",
            scale::compile_ms(n),
            scale::decide_ns(n)
        );
    }
    let idp = Idp::start(3600);
    let token = idp.token("rs256", "read");
    println!(
        "jwt rule, required scope, same RS256 token (cache hit): decide() {:.0} ns/request",
        scale::decide_jwt_ns(&idp, &token)
    );
}

/// Envoy with 1..10,000 rules: configure time and VM memory as the filter logs them, Envoy's
/// RSS, and throughput on the request only the last rule matches.
fn scale_figures(seconds: u64, rounds: usize, connections: u32) {
    println!();
    println!("starting Envoys with 1, 10, 100, 1000, 10000 rules (one worker each)...");
    let sizes = [1usize, 10, 100, 1000, 10_000];
    let mut scenarios = Vec::new();
    let mut figures = Vec::new();
    for n in sizes {
        let (cfg, host, path) = scale::rules_config(n);
        let started = Instant::now();
        let envoy = BenchEnvoy::start_logged(Kind::Wasm(cfg), 9, "wasm:info");
        let ready_ms = started.elapsed().as_millis();
        scale::wait_ok(&envoy, &host, &path);
        let (configure_ms, vm_kib) =
            scale::configure_figures(&envoy.proc.log_text()).unwrap_or((0, 0));
        figures.push((
            n,
            configure_ms,
            vm_kib,
            ready_ms,
            scale::vm_rss_kib(envoy.proc.pid()),
        ));
        scenarios.push(Scenario {
            name: "",
            host: "",
            envoy,
            tokens: vec![],
            path: "",
        });
        let s = scenarios.last_mut().unwrap();
        s.host = Box::leak(host.into_boxed_str());
        s.path = Box::leak(path.into_boxed_str());
        s.name = Box::leak(format!("{n} rules, last rule").into_boxed_str());
    }
    let samples = measure("bench-scale", &scenarios, seconds, rounds, connections);
    let one = median(&samples[0], |s| s.rps);
    println!();
    println!(
        "Scale: generated v2 APIRules, 10 noAuth rules per host; request matched by the last rule."
    );
    println!("| rules | configure ms (filter log) | VM memory KiB | Envoy ready ms | Envoy RSS MiB | req/s | vs 1 rule |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for (i, (n, configure_ms, vm_kib, ready_ms, rss)) in figures.iter().enumerate() {
        let r = median(&samples[i], |s| s.rps);
        println!(
            "| {n} | {configure_ms} | {vm_kib} | {ready_ms} | {:.1} | {r:.0} | {:.1}% |",
            *rss as f64 / 1024.0,
            100.0 * r / one
        );
    }
}

/// Envoy's resident memory with and without the filter, on 1 and 2 workers, after traffic.
/// APIRULE_BENCH_BASELINE=<module> adds that module with the same rules, so a change in size is
/// measured next to its predecessor in one run.
fn memory_figures() {
    let baseline = std::env::var_os("APIRULE_BENCH_BASELINE").map(std::path::PathBuf::from);
    println!();
    let (head, rule) = match baseline {
        Some(_) => (
            " baseline module RSS MiB | baseline adds to pass-through MiB |",
            "---:|---:|",
        ),
        None => ("", ""),
    };
    println!("| workers | bare Envoy RSS MiB | pass-through Wasm RSS MiB | filter (sample rules) RSS MiB | portable module RSS MiB | filter adds to bare MiB | filter adds to pass-through MiB | portable adds to pass-through MiB |{head}");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|{rule}");
    let sample = shipped_plugin_config();
    // One Envoy's figure moves by a mebibyte or two from start to start (V8 compiles on
    // background threads, and tcmalloc keeps what they freed): each cell is the median of
    // `starts` Envoys (APIRULE_BENCH_STARTS, 5 by default), started side by side.
    let starts: usize = std::env::var("APIRULE_BENCH_STARTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
        .max(1);
    for workers in [1u32, 2] {
        let start = |kind: Kind| BenchEnvoy::start_with(kind, 9, "wasm:warn", workers);
        let mut runs: Vec<Vec<f64>> = Vec::new();
        for _ in 0..starts {
            let mut envoys = vec![
                start(Kind::Bare),
                start(Kind::Passthrough),
                start(Kind::Wasm(sample.clone())),
                start(Kind::Portable(sample.clone())),
            ];
            if let Some(module) = &baseline {
                envoys.push(start(Kind::Module(module.clone(), sample.clone())));
            }
            // Traffic on every worker's connection, so each has built its VM and contexts.
            for _ in 0..200 {
                for e in &envoys {
                    e.get("httpbin.local.kyma.dev", "/headers");
                }
            }
            std::thread::sleep(Duration::from_millis(500));
            runs.push(
                envoys
                    .iter()
                    .map(|e| scale::vm_rss_kib(e.proc.pid()) as f64 / 1024.0)
                    .collect(),
            );
        }
        let mib: Vec<f64> = (0..runs[0].len())
            .map(|k| {
                let mut v: Vec<f64> = runs.iter().map(|r| r[k]).collect();
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            })
            .collect();
        let [b, p, w, q] = [mib[0], mib[1], mib[2], mib[3]];
        let base = match mib.get(4) {
            Some(m) => format!(" {m:.1} | {:.1} |", m - p),
            None => String::new(),
        };
        println!(
            "| {workers} | {b:.1} | {p:.1} | {w:.1} | {q:.1} | {:.1} | {:.1} | {:.1} |{base}",
            w - b,
            w - p,
            q - p
        );
    }
    println!("(each cell: the median of {starts} Envoys)");
}

/// Loads every scenario `rounds` times (interleaved, so drift hits all alike): samples per scenario.
fn measure(
    name: &str,
    scenarios: &[Scenario],
    seconds: u64,
    rounds: usize,
    connections: u32,
) -> Vec<Vec<Sample>> {
    let dir = scratch(name);
    warm_up(&dir, scenarios, connections);
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); scenarios.len()];
    for round in 0..rounds {
        for (i, s) in scenarios.iter().enumerate() {
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
    samples
}

/// V8 first runs the module from its baseline compiler and optimises it in the background, on
/// the same two cores the load runs on: load every Envoy once, unrecorded, until that is done.
fn warm_up(dir: &std::path::Path, scenarios: &[Scenario], connections: u32) {
    for s in scenarios {
        wrk(dir, s, 2, connections);
    }
    std::thread::sleep(Duration::from_secs(2));
}

/// The same for one script: 2 s unrecorded.
fn warm_up_script(dir: &std::path::Path, port: u16, script: &str, connections: u32) {
    run_wrk(dir, port, script, 2, connections);
}

fn median(v: &[Sample], f: fn(&Sample) -> f64) -> f64 {
    let mut x: Vec<f64> = v.iter().map(f).collect();
    x.sort_by(|a, b| a.partial_cmp(b).unwrap());
    x[x.len() / 2]
}

/// Throughput and latency of every access strategy next to bare Envoy and native jwt_authn.
fn throughput(seconds: u64, rounds: usize, connections: u32) {
    let idp = Idp::start(3600);
    let rs = idp.token("rs256", "read");
    let es = idp.token("es256", "read");
    let rs2 = idp.token("rs256", "read");
    let opaque = idp.token("opaque", "read");

    let filter = |extra: Value| filter_config(&idp, extra);
    let start = |kind: Kind| BenchEnvoy::start(kind, idp.port);
    println!("starting Envoys (one worker each)...");
    let scenarios = vec![
        Scenario {
            host: HOST,
            name: "bare Envoy, no auth",
            envoy: start(Kind::Bare),
            tokens: vec![],
            path: "/open",
        },
        Scenario {
            host: HOST,
            name: "pass-through Wasm filter (floor)",
            envoy: start(Kind::Passthrough),
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
            name: "filter, RS256 first seen, pure-Rust crypto (portable module)",
            envoy: start(Kind::Portable(filter(
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

    let samples = measure("bench", &scenarios, seconds, rounds, connections);

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
    // For the chart (tests/bench/chart.py): scenario, req/s.
    let tsv: String = scenarios
        .iter()
        .zip(&rps)
        .map(|(s, r)| format!("{}\t{r:.0}\n", s.name))
        .collect();
    let out = repo().join("target/bench");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("throughput.tsv"), tsv).unwrap();
    println!();
    // (label, numerator, denominator) as indices into `scenarios`.
    let ratios = [
        ("pass-through Wasm filter / bare Envoy", 1, 0),
        ("filter noAuth / bare Envoy", 2, 0),
        ("filter noAuth / pass-through Wasm filter", 2, 1),
        ("filter jwt / native jwt_authn, same RS256", 3, 4),
        ("filter jwt / native jwt_authn, same ES256", 5, 6),
        ("filter first-seen RS256 / native", 7, 9),
        ("filter first-seen RS256, pure Rust / native", 8, 9),
        ("filter introspection warm cache / noAuth", 10, 2),
    ];
    for (label, num, den) in ratios {
        println!("{:<46} {:.3}", format!("{label}:"), rps[num] / rps[den]);
    }
}

fn wrk(dir: &std::path::Path, s: &Scenario, seconds: u64, connections: u32) -> Sample {
    let tokens: Vec<String> = s.tokens.iter().map(|t| format!("\"Bearer {t}\"")).collect();
    let script = format!(
        "local tokens = {{{}}}\nlocal i = 0\nwrk.headers[\"Host\"] = \"{}\"\nrequest = function()\n  if #tokens > 0 then\n    i = i % #tokens + 1\n    wrk.headers[\"Authorization\"] = tokens[i]\n  end\n  return wrk.format(\"GET\", \"{}\")\nend\n",
        tokens.join(", "),
        s.host,
        s.path
    );
    let sample = run_wrk(dir, s.envoy.port, &script, seconds, connections);
    assert!(sample.non_2xx == 0.0, "{}: non-2xx responses", s.name);
    sample
}

/// The filter's configuration for the throughput scenarios: `/open` (noAuth) and `/jwt` (a jwt
/// rule with a required scope) on HOST, and an introspection rule on INTRO_HOST; `extra` keys
/// are added at the top level.
/// The filter as `apirule render` configures it: its routes set `x-forwarded-host` and the
/// timeout and remove the upstream's CORS headers, as Kyma's VirtualService does for the native
/// stack (`extra` may turn that off).
fn filter_config(idp: &Idp, extra: Value) -> String {
    let mut cfg = json!({
        "clusters": {idp.issuer(): "idp"},
        "routesSetUpstreamHeaders": true,
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
}

/// One wrk run of `script` against `port`.
fn run_wrk(
    dir: &std::path::Path,
    port: u16,
    script: &str,
    seconds: u64,
    connections: u32,
) -> Sample {
    let path = dir.join(format!("{port}.lua"));
    std::fs::write(&path, script).unwrap();
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-s",
        ])
        .arg(&path)
        .arg(format!("http://127.0.0.1:{port}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
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
    // "  123456 requests in 5.00s, ..." and "  Non-2xx or 3xx responses: 6172".
    let count = |f: &dyn Fn(&str) -> Option<&str>| -> f64 {
        text.lines()
            .find_map(|l| f(l.trim()))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    let total = count(&|l| l.split_once(" requests in ").map(|(n, _)| n));
    let non_2xx = count(&|l| l.strip_prefix("Non-2xx or 3xx responses:"));
    Sample {
        rps,
        p50_ms: pct("50%"),
        p99_ms: pct("99%"),
        non_2xx: if total > 0.0 { non_2xx / total } else { 0.0 },
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
    /// `crates/filter/examples/passthrough.rs`: what any proxy-wasm filter costs.
    Passthrough,
    Wasm(String),
    /// The portable module (software RSA), with this plugin configuration.
    Portable(String),
    /// Any module, with this plugin configuration.
    Module(std::path::PathBuf, String),
    /// Issuer and JWKS URI.
    Native(String, String),
    /// The same with `jwt_authn`'s own cache of verified tokens (`jwt_cache_config`), the best
    /// native stack Envoy offers; Istio does not set it.
    NativeCached(String, String),
    /// Envoy's own `local_ratelimit` (what Kyma's RateLimit EnvoyFilter configures), a bucket
    /// that never empties, with the x-ratelimit headers.
    NativeRateLimit,
}

struct BenchEnvoy;

impl BenchEnvoy {
    fn start(kind: Kind, idp_port: u16) -> Envoy {
        Self::start_with(kind, idp_port, "wasm:warn", 1)
    }

    fn start_logged(kind: Kind, idp_port: u16, log: &str) -> Envoy {
        Self::start_with(kind, idp_port, log, 1)
    }

    fn start_with(kind: Kind, idp_port: u16, log: &str, workers: u32) -> Envoy {
        Self::start_full(kind, idp_port, log, workers, None)
    }

    /// `upstream`: a port on loopback the route forwards to, instead of a direct response.
    fn start_full(
        kind: Kind,
        idp_port: u16,
        log: &str,
        workers: u32,
        upstream: Option<u16>,
    ) -> Envoy {
        let (cfg, port, admin) = Self::config(kind, idp_port, upstream);
        Envoy::start_logged(port, admin, &cfg, workers, log)
    }

    /// The bootstrap for `kind`, with its listener and admin ports.
    fn config(kind: Kind, idp_port: u16, upstream: Option<u16>) -> (Value, u16, u16) {
        let filters = match &kind {
            Kind::Bare => vec![],
            Kind::Passthrough => vec![wasm_filter(&passthrough_path(), "")],
            Kind::Wasm(cfg) => vec![wasm_filter(&wasm_path(), cfg)],
            Kind::Portable(cfg) => vec![wasm_filter(&portable_wasm_path(), cfg)],
            Kind::Module(path, cfg) => vec![wasm_filter(path, cfg)],
            Kind::Native(issuer, jwks) => native_jwt(issuer, jwks, false),
            Kind::NativeCached(issuer, jwks) => native_jwt(issuer, jwks, true),
            Kind::NativeRateLimit => vec![json!({
                "name": "envoy.filters.http.local_ratelimit",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
                    "stat_prefix": "http_local_rate_limiter",
                    "token_bucket": {"max_tokens": 1_000_000_000u64, "tokens_per_fill": 1_000_000_000u64,
                                     "fill_interval": "1s"},
                    "filter_enabled": {"runtime_key": "rl_enabled",
                                       "default_value": {"numerator": 100, "denominator": "HUNDRED"}},
                    "filter_enforced": {"runtime_key": "rl_enforced",
                                        "default_value": {"numerator": 100, "denominator": "HUNDRED"}},
                    "enable_x_ratelimit_headers": "DRAFT_VERSION_03"
                }
            })],
        };
        let mut http_filters = filters;
        http_filters.push(json!({"name": "envoy.filters.http.router",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}));
        let (port, admin) = (free_port(), free_port());
        let mut route = json!({"match": {"prefix": "/"},
            "direct_response": {"status": 200, "body": {"inline_string": "ok"}}});
        let cluster = |name: &str, port: u16| {
            json!({"name": name, "type": "STATIC", "connect_timeout": "2s",
                "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {"address":
                    {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]}})
        };
        let mut clusters = vec![cluster("idp", idp_port)];
        if let Some(up) = upstream {
            route = json!({"match": {"prefix": "/"}, "route": {"cluster": "upstream", "timeout": "180s"}});
            clusters.push(cluster("upstream", up));
        }
        // The route as Kyma's VirtualService writes it, for the native stacks and for the filter
        // configured as `apirule render` configures it: `x-forwarded-host` set on the route, the
        // upstream's CORS headers removed from its response (a v2 APIRule).
        let by_routes = match &kind {
            Kind::Wasm(c) | Kind::Portable(c) | Kind::Module(_, c) => {
                serde_json::from_str::<Value>(c)
                    .is_ok_and(|v| v["routesSetUpstreamHeaders"] == true)
            }
            Kind::Native(..) | Kind::NativeCached(..) => true,
            _ => false,
        };
        if by_routes {
            route["request_headers_to_add"] = json!([{
                "header": {"key": "x-forwarded-host", "value": HOST},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}]);
            route["response_headers_to_remove"] = json!(apirule_core::cors::UPSTREAM_CORS_HEADERS);
        }
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
                                "routes": [route]}]},
                            "http_filters": http_filters
                        }
                    }]}]
                }],
                "clusters": clusters
            }
        });
        (cfg, port, admin)
    }
}

fn passthrough_path() -> std::path::PathBuf {
    repo().join("target/wasm32-wasip1/release/examples/passthrough.wasm")
}

fn wasm_filter(module: &std::path::Path, cfg: &str) -> Value {
    json!({
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "apirule", "root_id": "apirule", "failure_policy": "FAIL_RELOAD",
                "vm_config": {"runtime": "envoy.wasm.runtime.v8",
                              "code": {"local": {"filename": module.to_string_lossy()}}},
                "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": cfg}
            }
        }
    })
}

/// Envoy's jwt_authn and RBAC as Istio renders a RequestAuthentication and Kyma's
/// AuthorizationPolicy (requestPrincipals `<issuer>/*`, `request.auth.claims[scope]` = read).
fn native_jwt(issuer: &str, jwks: &str, cached: bool) -> Vec<Value> {
    let mut filters = vec![
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
    ];
    if cached {
        filters[0]["typed_config"]["providers"]["origins-0"]["jwt_cache_config"] =
            json!({"jwt_cache_size": 4096});
    }
    filters
}
