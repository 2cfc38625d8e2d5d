//! `make soak`: one million requests on a `jwt` rule mixing valid, expired, forged and missing
//! tokens through the real Envoy. Passes when every answer is the intended one (200 only for the
//! valid token, 401 for expired and forged, 403 for none), nothing else ever comes back, no Wasm
//! panic is logged, and Envoy's memory after warm-up stays flat (printed per step).

use std::process::Command;

use serde_json::json;

use super::common::*;
use super::{BenchEnvoy, Kind};

const HOST: &str = "soak.bench.dev";

pub fn soak(total: u64) {
    let idp = Idp::start(3600);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let valid = idp.token("rs256", "read");
    let expired = idp.sign(
        "RS256",
        json!({}),
        json!({"iss": idp.issuer(), "sub": "soak", "scope": "read", "iat": now - 600, "exp": now - 300}),
    );
    let forged = forge_signature(&valid);
    let cfg = json!({
        "clusters": {idp.issuer(): "idp"},
        "apiRules": [{
            "apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
            "metadata": {"name": "soak", "namespace": "default"},
            "spec": {"hosts": [HOST], "gateway": "kyma-system/kyma-gateway",
                     "service": {"name": "svc", "port": 80},
                     "rules": [{"path": "/jwt", "methods": ["GET"],
                                "jwt": {"authentications": [{"issuer": idp.issuer(), "jwksUri": idp.jwks_uri()}],
                                        "authorizations": [{"requiredScopes": ["read"]}]}}]}
        }]
    });
    let envoy = BenchEnvoy::start(Kind::Wasm(cfg.to_string()), idp.port);
    super::scale::wait_ok_with(
        &envoy,
        HOST,
        "/jwt",
        &[("Authorization", &format!("Bearer {valid}"))],
    );

    // wrk sends the four kinds in turn and counts what comes back per status.
    let dir = scratch("soak");
    let script = dir.join("soak.lua");
    std::fs::write(
        &script,
        format!(
            r#"local tokens = {{"Bearer {valid}", "Bearer {expired}", "Bearer {forged}", false}}
local i = 0
sent = {{0, 0, 0, 0}}
got = {{}}
request = function()
  i = i % 4 + 1
  sent[i] = sent[i] + 1
  local h = {{Host = "{HOST}"}}
  if tokens[i] then h["Authorization"] = tokens[i] end
  return wrk.format("GET", "/jwt", h)
end
response = function(status, headers, body)
  got[status] = (got[status] or 0) + 1
end
local threads = {{}}
setup = function(t) table.insert(threads, t) end
done = function(summary, latency, requests)
  for _, t in ipairs(threads) do
    local s, g = t:get("sent"), t:get("got")
    io.write(string.format("SENT %d %d %d %d\n", s[1], s[2], s[3], s[4]))
    for code, n in pairs(g) do io.write(string.format("GOT %d %d\n", code, n)) end
  end
end
"#
        ),
    )
    .unwrap();

    let pid = envoy.proc.pid();
    let step_seconds = 10;
    let mut done_requests = 0u64;
    let mut steps = 0;
    let (mut ok, mut unauth, mut forbidden, mut other) = (0u64, 0u64, 0u64, 0u64);
    let mut sent_valid = 0u64;
    let mut rss = vec![super::scale::vm_rss_kib(pid)];
    println!("soak: {total} requests on a jwt rule, valid/expired/forged/missing in turn");
    println!("| step | requests so far | Envoy RSS MiB |");
    println!("|---:|---:|---:|");
    println!("| 0 | 0 | {:.1} |", rss[0] as f64 / 1024.0);
    while done_requests < total && steps < 100 {
        let out = Command::new("wrk")
            .args(["-t1", "-c16", &format!("-d{step_seconds}s"), "-s"])
            .arg(&script)
            .arg(format!("http://127.0.0.1:{}", envoy.port))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        for line in text.lines() {
            let nums: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|n| n.parse().ok())
                .collect();
            if line.starts_with("SENT ") && nums.len() == 4 {
                sent_valid += nums[0];
            } else if line.starts_with("GOT ") && nums.len() == 2 {
                done_requests += nums[1];
                match nums[0] {
                    200 => ok += nums[1],
                    401 => unauth += nums[1],
                    403 => forbidden += nums[1],
                    _ => other += nums[1],
                }
            }
        }
        steps += 1;
        rss.push(super::scale::vm_rss_kib(pid));
        println!(
            "| {steps} | {done_requests} | {:.1} |",
            *rss.last().unwrap() as f64 / 1024.0
        );
    }
    println!();
    println!(
        "answers: 200 {ok}, 401 {unauth}, 403 {forbidden}, other {other}; valid tokens sent {sent_valid}"
    );
    let after_warmup = rss[1.min(rss.len() - 1)];
    let end = *rss.last().unwrap();
    println!(
        "Envoy RSS: start {:.1} MiB, after the first step {:.1} MiB, end {:.1} MiB ({:+.1} MiB after warm-up)",
        rss[0] as f64 / 1024.0,
        after_warmup as f64 / 1024.0,
        end as f64 / 1024.0,
        (end as f64 - after_warmup as f64) / 1024.0
    );
    let log = envoy.proc.log_text();
    assert!(done_requests >= total, "only {done_requests} answers");
    assert_eq!(other, 0, "answers other than 200/401/403");
    assert!(
        ok <= sent_valid,
        "more 200s ({ok}) than valid tokens sent ({sent_valid})"
    );
    // wrk stops with up to 16 requests in flight per step.
    assert!(
        ok + 16 * steps >= sent_valid,
        "valid tokens refused: {ok} of {sent_valid}"
    );
    assert!(!log.contains("panicked"), "wasm panic in Envoy's log");
    // Flat: within 5% (or 4 MiB) of the post-warm-up figure.
    let slack = (after_warmup / 20).max(4096);
    assert!(
        end <= after_warmup + slack,
        "Envoy's memory grew from {after_warmup} KiB to {end} KiB"
    );
    println!("soak: passed");
}
