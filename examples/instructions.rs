//! Instruction counts of the core, which repeat exactly where timings on a shared machine swing
//! by half: what `decide()`, the filter's pipeline and configuring cost per scenario, counted by
//! valgrind's callgrind on a native build.
//!
//! ```text
//! instructions                      every scenario under callgrind, a table
//! instructions --check FILE         the same, failing when a scenario grew by more than 10%
//! instructions --write FILE         the same, writing FILE as the new baseline
//! instructions run SCENARIO [CALLS]  one scenario, natively (what callgrind runs); it also
//!                                   builds for wasm32-wasip1, to profile the same work in V8
//! ```
//! Only `measured_section` is counted (`--toggle-collect`): building tokens, keys and the rule
//! set happens outside it, and one warm-up call before it fills what a running filter has warm.
//! `make instructions` builds it (profile `instructions`: release with symbols) and checks the
//! baseline `tests/bench/instructions.tsv`; CI runs it in `make test`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::process::Command;

use apirule_core::access::AuthState;
use apirule_core::compile::{compile, RuleSet};
use apirule_core::config::PluginConfig;
use apirule_core::decide::{decide, Decision, Request};
use apirule_core::jwt::crypto::{Crypto, Software};
use apirule_core::jwt::foreign;
use apirule_core::jwt::jwks::PublicKey;
use apirule_core::jwt::jws::Jws;
use apirule_core::pipeline::{run, Effect, Offline};
use apirule_core::request::HeaderList;
use base64::Engine;
use jwt_simple::prelude::*;
use serde_json::{json, Value};

/// A fixed clock: tokens and keys are valid at this instant on every run.
const NOW_S: u64 = 1_900_000_000;
const ISSUER: &str = "https://idp.bench.dev";
const GROWTH_ALLOWED: f64 = 0.10;

/// (name, calls measured).
const SCENARIOS: &[(&str, u64)] = &[
    ("decide noAuth", 1000),
    ("decide noAuth, last of 1,000 rules", 1000),
    (
        "decide noAuth, wildcard host, an authority of 20,000 labels",
        10,
    ),
    ("decide jwt ES256, cached token", 1000),
    ("decide jwt RS256, cached token", 1000),
    ("decide jwt ES256, first seen", 20),
    ("decide jwt RS256, first seen", 20),
    ("decide jwt RS256, first seen, signature by the host", 100),
    ("decide jwt, expired token (401)", 100),
    ("decide jwt, forged signature (401)", 20),
    ("decide jwt ES256, 1,000 clients in a Zipf mix", 1000),
    ("pipeline noAuth", 1000),
    ("pipeline jwt ES256, cached token", 1000),
    ("configure 1 rule", 10),
    ("configure 1,000 rules", 1),
    ("configure 10,000 rules", 1),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["run", name] => run_scenario(name, None),
        ["run", name, calls] => run_scenario(name, calls.parse().ok()),
        [] => std::process::exit(report(None, false)),
        ["--check", file] => std::process::exit(report(Some(file), false)),
        ["--write", file] => std::process::exit(report(Some(file), true)),
        _ => {
            eprintln!("usage: instructions [--check FILE | --write FILE | run SCENARIO [CALLS]]");
            std::process::exit(2);
        }
    }
}

/// What the filter does when Envoy checks the signature (`verify_signature`): everything but the
/// arithmetic, which is BoringSSL's. Its encoded arguments are the module's last work before
/// the host call; the scenario's tokens are all valid.
struct HostSigned;

impl Crypto for HostSigned {
    fn verify(&self, jws: &Jws<'_>, key: &PublicKey) -> bool {
        black_box(foreign::arguments(jws, key)).is_some()
    }
}

/// The counted part: everything `work` does, `calls` times.
#[inline(never)]
#[no_mangle]
pub fn measured_section(calls: u64, work: &mut dyn FnMut()) {
    for _ in 0..calls {
        work();
    }
}

// ---- the driver: callgrind per scenario, a table, the baseline ------------------------------

fn report(baseline: Option<&str>, write: bool) -> i32 {
    let me = std::env::current_exe().unwrap();
    let old = baseline
        .filter(|_| !write)
        .map(read_baseline)
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("apirule-callgrind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut failed = Vec::new();
    let mut rows = Vec::new();
    println!("| scenario | instructions per call | baseline | change |");
    println!("|---|---:|---:|---:|");
    for (i, (name, calls)) in SCENARIOS.iter().enumerate() {
        let out = dir.join(format!("callgrind.{i}"));
        let status = Command::new("valgrind")
            .args(["--tool=callgrind", "--toggle-collect=measured_section"])
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg(&me)
            .args(["run", name])
            .output()
            .unwrap_or_else(|e| panic!("valgrind: {e} (apt-get install valgrind)"));
        assert!(
            status.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        let total = totals(&std::fs::read_to_string(&out).unwrap());
        let per_call = total / calls;
        let (base, change) = match old.iter().find(|(n, _)| n == name) {
            Some((_, b)) => {
                let change = per_call as f64 / *b as f64 - 1.0;
                if change > GROWTH_ALLOWED {
                    failed.push(format!(
                        "{name}: {per_call} instructions, {:+.1}% over the baseline {b}",
                        change * 100.0
                    ));
                }
                (group(*b), format!("{:+.1}%", change * 100.0))
            }
            None => ("-".into(), "-".into()),
        };
        println!("| {name} | {} | {base} | {change} |", group(per_call));
        rows.push(format!("{name}\t{per_call}"));
    }
    let _ = std::fs::remove_dir_all(&dir);
    if let (Some(file), true) = (baseline, write) {
        let text = format!(
            "# Instructions per call, callgrind on the native core (examples/instructions.rs).\n\
             # `make instructions` fails when a scenario grows by more than 10%; after an intended\n\
             # change, `make instructions-baseline` rewrites this file.\n{}\n",
            rows.join("\n")
        );
        std::fs::write(file, text).unwrap();
        println!("wrote {file}");
    }
    for f in &failed {
        eprintln!("instruction count grew: {f}");
    }
    i32::from(!failed.is_empty())
}

/// The `totals:` (or `summary:`) line of a callgrind output file: instructions counted.
fn totals(text: &str) -> u64 {
    text.lines()
        .rev()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no totals in callgrind output"))
}

fn read_baseline(file: &str) -> Vec<(String, u64)> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (name, n) = l.split_once('\t')?;
            Some((name.to_owned(), n.trim().parse().ok()?))
        })
        .collect()
}

fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

// ---- the scenarios ------------------------------------------------------------------------

struct Keys {
    es: ES256KeyPair,
    rs: RS256KeyPair,
    jwks: String,
}

fn keys() -> Keys {
    let es = ES256KeyPair::from_bytes(&[7u8; 32])
        .unwrap()
        .with_key_id("es");
    let pem = include_str!("../tests/fixtures/keys/rsa-2048.pem");
    let rs = RS256KeyPair::from_pem(pem).unwrap().with_key_id("rs");
    let b = |x: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(x);
    let point = es.public_key().public_key().to_bytes_uncompressed();
    let rsa = rs.public_key().to_components();
    let jwks = json!({"keys": [
        {"kty": "EC", "crv": "P-256", "kid": "es", "alg": "ES256", "x": b(&point[1..33]), "y": b(&point[33..])},
        {"kty": "RSA", "kid": "rs", "alg": "RS256", "n": b(&rsa.n), "e": b(&rsa.e)}]})
    .to_string();
    Keys { es, rs, jwks }
}

/// A token for client `n` (its subject), valid at [`NOW_S`] unless `expired`.
fn token(keys: &Keys, rsa: bool, n: usize, expired: bool) -> String {
    let mut custom = serde_json::Map::new();
    custom.insert("scope".into(), json!("read"));
    let mut claims = Claims::with_custom_claims(custom, Duration::from_secs(3600))
        .with_issuer(ISSUER)
        .with_subject(format!("client-{n}"));
    let (iat, exp) = if expired {
        (NOW_S - 7200, NOW_S - 3600)
    } else {
        (NOW_S - 60, NOW_S + 3600)
    };
    claims.issued_at = Some(UnixTimeStamp::from_secs(iat));
    claims.invalid_before = Some(UnixTimeStamp::from_secs(iat));
    claims.expires_at = Some(UnixTimeStamp::from_secs(exp));
    if rsa {
        keys.rs.sign(claims).unwrap()
    } else {
        keys.es.sign(claims).unwrap()
    }
}

fn jwt_config() -> String {
    json!({"apiRules": [{"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
        "metadata": {"name": "bench", "namespace": "bench"},
        "spec": {"hosts": ["a.bench.dev"], "gateway": "kyma-system/kyma-gateway",
                 "service": {"name": "s", "port": 80},
                 "rules": [{"path": "/open", "methods": ["GET"], "noAuth": true},
                           {"path": "/jwt", "methods": ["GET"], "jwt": {
                               "authentications": [{"issuer": ISSUER, "jwksUri": "https://idp.bench.dev/jwks"}],
                               "authorizations": [{"requiredScopes": ["read"]}]}}]}}]})
    .to_string()
}

/// `n` noAuth rules, ten per APIRule, one host each; the host and path only the last matches.
fn rules_config(n: usize) -> (String, String, String) {
    let apirules = n.div_ceil(10);
    let list: Vec<Value> = (0..apirules)
        .map(|a| {
            let rules: Vec<Value> = (0..10.min(n - a * 10))
                .map(|r| json!({"path": format!("/svc/{r}/items/{{*}}"), "methods": ["GET"], "noAuth": true}))
                .collect();
            json!({"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
                "metadata": {"name": format!("api-{a}"), "namespace": "bench"},
                "spec": {"hosts": [format!("s{a}.bench.dev")], "gateway": "kyma-system/kyma-gateway",
                         "service": {"name": "svc", "port": 80}, "rules": rules}})
        })
        .collect();
    let last = apirules - 1;
    (
        json!({ "apiRules": list }).to_string(),
        format!("s{last}.bench.dev"),
        format!("/svc/{}/items/42", n - last * 10 - 1),
    )
}

fn rule_set(config: &str, jwks: Option<&str>) -> (RuleSet, AuthState) {
    let (set, reports) = compile(&PluginConfig::from_json(config.as_bytes()).unwrap()).unwrap();
    assert!(reports
        .iter()
        .all(|r| r.status == apirule_core::compile::Status::Ready));
    let mut auth = set.auth_state();
    if let Some(body) = jwks {
        auth.keys.install(0, body.as_bytes(), NOW_S * 1000).unwrap();
    }
    (set, auth)
}

/// What the scenario expects of each decision.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Expect {
    Allow,
    Deny(u32),
}

/// `calls`: how many measured calls instead of the scenario's own count (a profile of the same
/// work in another runtime, say).
fn run_scenario(name: &str, calls: Option<u64>) {
    let calls = calls.unwrap_or(
        SCENARIOS
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no scenario {name:?}"))
            .1,
    );
    if let Some(n) = name.strip_prefix("configure ") {
        let n: usize = n
            .split(' ')
            .next()
            .unwrap()
            .replace(',', "")
            .parse()
            .unwrap();
        let (config, _, _) = rules_config(n);
        measured_section(calls, &mut || {
            let parsed = PluginConfig::from_json(black_box(config.as_bytes())).unwrap();
            black_box(compile(&parsed).unwrap());
        });
        return;
    }
    let keys = keys();
    let (config, host, path) = if name.contains("1,000 rules") {
        rules_config(1000)
    } else if name.contains("wildcard") {
        // What an attacker can send: a 40 KB `:authority` under a wildcard host.
        (
            jwt_config().replace("\"a.bench.dev\"", "\"*.bench.dev\""),
            "a.".repeat(20_000) + "bench.dev",
            "/open".into(),
        )
    } else if name.contains("noAuth") {
        (jwt_config(), "a.bench.dev".into(), "/open".into())
    } else {
        (jwt_config(), "a.bench.dev".into(), "/jwt".into())
    };
    let (set, mut auth) = rule_set(
        &config,
        Some(keys.jwks.as_str()).filter(|_| !name.contains("rules")),
    );
    let rsa = name.contains("RS256");
    // The tokens the measured calls present, in order, and the one the warm-up call presents.
    let tokens: Vec<String> = if name.contains("first seen") {
        (0..=calls as usize)
            .map(|n| token(&keys, rsa, n, false))
            .collect()
    } else if name.contains("expired") {
        vec![token(&keys, false, 0, true)]
    } else if name.contains("forged") {
        (0..=calls as usize)
            .map(|n| {
                let t = token(&keys, false, n, false);
                let (body, sig) = t.rsplit_once('.').unwrap();
                let mut sig = sig.as_bytes().to_vec();
                sig[10] = if sig[10] == b'A' { b'B' } else { b'A' };
                format!("{body}.{}", String::from_utf8(sig).unwrap())
            })
            .collect()
    } else if name.contains("Zipf") {
        zipf_tokens(&keys, calls as usize)
    } else {
        vec![token(&keys, rsa, 0, false)]
    };
    let expect = if name.contains("(401)") {
        Expect::Deny(401)
    } else {
        Expect::Allow
    };
    let pipeline = name.starts_with("pipeline");
    let host_signed = name.contains("by the host");
    let headers: Vec<HeaderList> = tokens
        .iter()
        .map(|t| HeaderList::of(&[("authorization", format!("Bearer {t}"))]))
        .collect();
    let answers = Default::default();
    let mut i = 0;
    let mut once = |auth: &mut AuthState| {
        let req = Request {
            authority: &host,
            method: "GET",
            path: &path,
            scheme: "https",
            headers: &headers[i % headers.len()],
            non_utf8: &[],
            remote_address: "10.0.0.1:5555",
            protocol: "HTTP/1.1",
            sent_upstream_timeout: false,
        };
        i += 1;
        let now = NOW_S * 1000;
        let crypto: &dyn Crypto = if host_signed { &HostSigned } else { &Software };
        let mut env = auth.env(crypto, &answers, now, now);
        let got = if pipeline {
            match run(
                &set,
                &mut Offline {
                    request: black_box(&req),
                    env: &mut env,
                },
            )
            .effect
            {
                Effect::Allow { .. } => Expect::Allow,
                Effect::Reply(r) => Expect::Deny(r.status),
                other => panic!("{name}: {other:?}"),
            }
        } else {
            match decide(&set, black_box(&req), &mut env) {
                Decision::Allow(_) => Expect::Allow,
                Decision::Deny(d) => Expect::Deny(d.response.status),
                other => panic!("{name}: {other:?}"),
            }
        };
        assert_eq!(got, expect, "{name}");
    };
    // Warm-up: a running filter has its lazies initialised (and, for cached scenarios, the token).
    once(&mut auth);
    measured_section(calls, &mut || once(&mut auth));
}

/// `calls` requests from 1,000 clients with a Zipf-like popularity (client k is asked with
/// weight 1/k), each client with its own ES256 token: a few hot tokens the cache answers, a long
/// tail verified when first seen. The sequence is fixed (a linear congruential generator with
/// a fixed seed).
fn zipf_tokens(keys: &Keys, calls: usize) -> Vec<String> {
    let clients = 1000;
    let weights: Vec<f64> = (1..=clients).map(|k| 1.0 / k as f64).collect();
    let total: f64 = weights.iter().sum();
    let mut seed: u64 = 42;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut picks = Vec::with_capacity(calls + 1);
    for _ in 0..=calls {
        let mut x = next() * total;
        let mut k = 0;
        while k + 1 < clients && x > weights[k] {
            x -= weights[k];
            k += 1;
        }
        picks.push(k);
    }
    let mut cache = std::collections::HashMap::new();
    picks
        .into_iter()
        .map(|k| {
            cache
                .entry(k)
                .or_insert_with(|| token(keys, false, k, false))
                .clone()
        })
        .collect()
}
