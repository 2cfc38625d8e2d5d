//! The realistic mix (`BENCH_ONLY=mix`): many clients with many tokens, as gateways see them.
//! 1,000 distinct valid RS256 tokens reused with a Zipf-like popularity (client k is picked with
//! weight 1/k: a few hot clients, a long tail), 5% of the requests with an expired or forged
//! token; Envoy with 2 workers; keep-alive connections and a fresh connection per request; a
//! direct response and an upstream that answers in about 1 ms. The filter against native
//! `jwt_authn` + RBAC as Istio configures it, and against `jwt_authn` with its own
//! `jwt_cache_config` (the best native stack Envoy offers).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use serde_json::json;

use super::common::*;
use super::{median, run_wrk, warm_up_script, BenchEnvoy, Kind, Sample, HOST};

pub(super) const CLIENTS: usize = 1000;
const INVALID: usize = 50;
const SEQUENCE: usize = 20_000;
const WORKERS: u32 = 2;

struct Stack {
    name: &'static str,
    envoy: Envoy,
}

pub fn mix_figures(seconds: u64, rounds: usize, connections: u32) {
    let idp = Idp::start(3600);
    println!();
    println!("realistic mix: signing {CLIENTS} tokens and {INVALID} invalid ones...");
    let (tokens, invalid) = tokens(&idp);
    let sequence = zipf_sequence();
    let upstream = slow_upstream(Duration::from_millis(1));
    let filter_config = super::filter_config(&idp, json!({}));
    // APIRULE_BENCH_BASELINE=<module>: that module too, with the same configuration (a build
    // before a change, measured in the same run as the build after it).
    let baseline = std::env::var_os("APIRULE_BENCH_BASELINE").map(std::path::PathBuf::from);
    let kinds = || {
        let mut kinds = vec![("filter", Kind::Wasm(filter_config.clone()))];
        if let Some(module) = &baseline {
            kinds.push((
                "filter, APIRULE_BENCH_BASELINE module",
                Kind::Module(module.clone(), filter_config.clone()),
            ));
        }
        kinds.extend([
            (
                "native jwt_authn+RBAC (Istio)",
                Kind::Native(idp.issuer(), idp.jwks_uri()),
            ),
            (
                "native jwt_authn+RBAC, jwt_cache_config",
                Kind::NativeCached(idp.issuer(), idp.jwks_uri()),
            ),
        ]);
        kinds
    };
    println!("starting Envoys ({WORKERS} workers each)...");
    let mut stacks: Vec<(&str, Vec<Stack>)> = Vec::new();
    for (backend, up) in [
        ("direct response", None),
        ("upstream ~1 ms", Some(upstream)),
    ] {
        let list = kinds()
            .into_iter()
            .map(|(name, kind)| Stack {
                name,
                envoy: BenchEnvoy::start_full(kind, idp.port, "wasm:warn", WORKERS, up),
            })
            .collect();
        stacks.push((backend, list));
    }
    for (_, list) in &stacks {
        for s in list {
            let auth = format!("Bearer {}", tokens[0]);
            super::scale::wait_ok_with(&s.envoy, HOST, "/jwt", &[("Authorization", &auth)]);
        }
    }
    let dir = scratch("bench-mix");
    let script = |close: bool| lua(&tokens, &invalid, &sequence, close);
    // Rows: (backend, connections, stack index) → samples.
    let mut rows: Vec<(String, &str, usize, Vec<Sample>)> = Vec::new();
    for (backend, list) in &stacks {
        for conn in ["keep-alive", "new connection per request"] {
            for i in 0..list.len() {
                rows.push((backend.to_string(), conn, i, Vec::new()));
            }
        }
    }
    let envoy_of = |row: &(String, &str, usize, Vec<Sample>)| {
        let list = &stacks.iter().find(|(b, _)| *b == row.0).unwrap().1;
        &list[row.2]
    };
    for row in &rows {
        let s = envoy_of(row);
        warm_up_script(
            &dir,
            s.envoy.port,
            &script(row.1 != "keep-alive"),
            connections,
        );
    }
    for round in 0..rounds {
        for row in rows.iter_mut() {
            let s = envoy_of(row);
            let sample = run_wrk(
                &dir,
                s.envoy.port,
                &script(row.1 != "keep-alive"),
                seconds,
                connections,
            );
            println!(
                "round {}/{rounds}  {:<16} {:<27} {:<42} {:>8.0} req/s  p50 {:>6.3} ms  p99 {:>6.3} ms  non-2xx {:.1}%",
                round + 1,
                row.0,
                row.1,
                s.name,
                sample.rps,
                sample.p50_ms,
                sample.p99_ms,
                100.0 * sample.non_2xx
            );
            // The same requests are refused by every stack: the 5% invalid tokens, no more.
            assert!(
                (0.03..0.07).contains(&sample.non_2xx),
                "{} {}: {:.1}% non-2xx",
                s.name,
                row.1,
                100.0 * sample.non_2xx
            );
            row.3.push(sample);
        }
    }
    println!();
    println!(
        "Realistic mix: {CLIENTS} RS256 tokens, Zipf popularity, 5% invalid; Envoy --concurrency {WORKERS}; \
         wrk -t1 -c{connections}; medians of {rounds} rounds of {seconds} s:"
    );
    println!("| backend | connections | stack | req/s | p50 ms | p99 ms | filter / this |");
    println!("|---|---|---|---:|---:|---:|---:|");
    let stacks_per_row = kinds().len();
    for chunk in rows.chunks(stacks_per_row) {
        let filter = median(&chunk[0].3, |s| s.rps);
        for row in chunk {
            let rps = median(&row.3, |s| s.rps);
            println!(
                "| {} | {} | {} | {rps:.0} | {:.3} | {:.3} | {} |",
                row.0,
                row.1,
                envoy_of(row).name,
                median(&row.3, |s| s.p50_ms),
                median(&row.3, |s| s.p99_ms),
                if row.2 == 0 {
                    "-".to_owned()
                } else {
                    format!("{:.2}x", filter / rps)
                }
            );
        }
    }
    // How often the filter verified a valid token's signature (the allowed requests the token
    // cache did not answer): all a cache shared by the workers could save is half of those.
    println!();
    for (backend, list) in &stacks {
        let e = &list[0].envoy;
        let metric = |name: &str| e.metric_when(name, Duration::from_secs(2), |_| true);
        let allowed = metric("apirule_requests_allowed");
        let hits = metric("apirule_token_cache_hits");
        let verified = allowed.saturating_sub(hits);
        println!(
            "filter, {backend}: {allowed} requests allowed, {hits} by the token cache, {verified} first seen \
             by a worker and verified ({:.3}%); a cache shared by the {WORKERS} workers saves at most half of these",
            100.0 * verified as f64 / allowed.max(1) as f64
        );
    }
}

/// 1,000 valid tokens (one client each) and 50 invalid ones (half expired, half forged).
/// An RS256 token of client `client` that the bench's jwt rule accepts until `exp` (seconds).
fn client_token(idp: &Idp, client: usize, exp: u64) -> String {
    let claims = json!({"iss": idp.issuer(), "sub": format!("client-{client}"),
                        "aud": "https://api.test/rs256", "scope": "read", "iat": now_s() - 60, "exp": exp});
    idp.sign("RS256", json!({}), claims)
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Valid tokens of these clients, for two hours.
pub(super) fn client_tokens(idp: &Idp, clients: std::ops::Range<usize>) -> Vec<String> {
    let exp = now_s() + 7200;
    clients.map(|c| client_token(idp, c, exp)).collect()
}

fn tokens(idp: &Idp) -> (Vec<String>, Vec<String>) {
    let valid = client_tokens(idp, 0..CLIENTS);
    let invalid = (0..INVALID)
        .map(|i| {
            if i % 2 == 0 {
                client_token(idp, CLIENTS + i, now_s() - 600)
            } else {
                // A valid token with one signature character changed.
                let t = &valid[i];
                let cut = t.len() - 10;
                let c = if &t[cut..=cut] == "A" { "B" } else { "A" };
                format!("{}{c}{}", &t[..cut], &t[cut + 1..])
            }
        })
        .collect();
    (valid, invalid)
}

/// Indices into the token list: client k with weight 1/k, and 5% into the invalid ones (which
/// follow the valid ones in the Lua table). Fixed by a seeded generator, the same for every stack.
pub(super) fn zipf_sequence() -> Vec<usize> {
    let weights: Vec<f64> = (1..=CLIENTS).map(|k| 1.0 / k as f64).collect();
    let total: f64 = weights.iter().sum();
    let mut seed: u64 = 0x5eed;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..SEQUENCE)
        .map(|i| {
            if i % 20 == 7 {
                return CLIENTS + (next() * INVALID as f64) as usize % INVALID;
            }
            let mut x = next() * total;
            let mut k = 0;
            while k + 1 < CLIENTS && x > weights[k] {
                x -= weights[k];
                k += 1;
            }
            k
        })
        .collect()
}

fn lua(tokens: &[String], invalid: &[String], sequence: &[usize], close: bool) -> String {
    let list: Vec<String> = tokens
        .iter()
        .chain(invalid)
        .map(|t| format!("\"Bearer {t}\""))
        .collect();
    // Lua tables count from 1.
    let seq: Vec<String> = sequence.iter().map(|i| (i + 1).to_string()).collect();
    format!(
        "local tokens = {{{}}}\nlocal seq = {{{}}}\nlocal i = 0\n\
         wrk.headers[\"Host\"] = \"{HOST}\"\n{}\
         request = function()\n  i = i % #seq + 1\n  wrk.headers[\"Authorization\"] = tokens[seq[i]]\n  \
         return wrk.format(\"GET\", \"/jwt\")\nend\n",
        list.join(",\n"),
        seq.join(","),
        if close {
            "wrk.headers[\"Connection\"] = \"close\"\n"
        } else {
            ""
        }
    )
}

/// An HTTP/1.1 upstream on loopback that answers every request after `delay` (keep-alive, a
/// thread per connection): the service behind the gateway.
fn slow_upstream(delay: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut conn = conn;
                let _ = conn.set_nodelay(true);
                let mut buf = vec![0u8; 64 * 1024];
                let mut pending = Vec::new();
                loop {
                    let n = match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    pending.extend_from_slice(&buf[..n]);
                    // Requests without bodies (GET): one per blank line.
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        std::thread::sleep(delay);
                        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok";
                        if conn.write_all(reply).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    port
}
