//! How many APIRules one WasmPlugin holds (`make bench`, section `size`): the rendered object's
//! JSON against client-side `kubectl apply`'s 256 KiB annotation and etcd's 1.5 MiB limit, with
//! `apiRules` plain and compact (`apiRulesGzip`), and what the compact form costs the filter at
//! configure time.

use std::time::Instant;

use apirule_core::config::PluginConfig;
use apirule_core::render::{compacted, istio, ANNOTATION_LIMIT, ETCD_LIMIT};
use serde_json::{json, Value};

use super::scale;
use super::{BenchEnvoy, Kind};

/// `n` small APIRules of the kind most clusters have: one host, one service, two rules (a
/// public one and a jwt one), about 500 bytes of JSON each.
pub fn small_api_rules(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
                "metadata": {"name": format!("orders-{i}"), "namespace": format!("team-{}", i % 40)},
                "spec": {"hosts": [format!("orders-{i}.apps.example.com")],
                         "gateway": "kyma-system/kyma-gateway",
                         "service": {"name": format!("orders-{i}"), "port": 8080},
                         "rules": [
                            {"path": "/health", "methods": ["GET"], "noAuth": true},
                            {"path": "/api/{**}", "methods": ["GET", "POST", "PUT", "DELETE"],
                             "jwt": {"authentications": [{"issuer": "https://idp.example.com",
                                                          "jwksUri": "https://idp.example.com/oauth2/certs"}]}}
                         ]}
            })
        })
        .collect()
}

/// The JSON size of the rendered WasmPlugin for `n` APIRules, `compact` or plain.
fn plugin_bytes_of(n: usize, compact: bool) -> usize {
    let config_json = json!({"apiRules": small_api_rules(n)});
    let config = PluginConfig::from_json(config_json.to_string().as_bytes()).unwrap();
    let image = "oci://registry.example.com/kyma/apirule-wasm@sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let cfg = if compact {
        compacted(&config_json)
    } else {
        config_json
    };
    let docs = istio(&cfg, &config, image, None).unwrap();
    serde_json::to_vec(&docs[0]).unwrap().len()
}

fn plugin_bytes(n: usize) -> (usize, usize) {
    (plugin_bytes_of(n, false), plugin_bytes_of(n, true))
}

/// The largest `n` whose WasmPlugin stays within `limit`: an estimate from the bytes per APIRule
/// between two sizes near the answer, then exact renderings stepping by 100, 10 and 1.
fn ceiling(limit: usize, compact: bool) -> String {
    let bytes = |n: usize| plugin_bytes_of(n, compact);
    // The range: beyond 30,000 the ceiling is extrapolated, not rendered.
    let top = bytes(MEASURED_UP_TO);
    if top <= limit {
        let per = top as f64 / MEASURED_UP_TO as f64;
        return format!(
            "> {MEASURED_UP_TO} ({MEASURED_UP_TO} is {} KiB; about {:.0} by extrapolation)",
            top / 1024,
            limit as f64 / per
        );
    }
    let (lo, hi) = if compact {
        (10_000, 30_000)
    } else {
        (300, 600)
    };
    let (a, b) = (bytes(lo), bytes(hi));
    let per = (b - a) as f64 / (hi - lo) as f64;
    let mut n = (lo as f64 + (limit as f64 - a as f64) / per).max(1.0) as usize;
    for step in [100usize, 10, 1] {
        while bytes(n + step) <= limit {
            n += step;
        }
        while n > step && bytes(n) > limit {
            n -= step;
        }
    }
    n.to_string()
}

/// The largest count the size figures render.
const MEASURED_UP_TO: usize = 30_000;

pub fn size_figures() {
    println!();
    println!("Size of one WasmPlugin (JSON) by APIRule count: small v2 APIRules, 2 rules each.");
    println!("| APIRules | plain KiB | compact KiB | ratio |");
    println!("|---:|---:|---:|---:|");
    for n in [100usize, 500, 1_000, 3_000, 10_000, 30_000] {
        let (plain, packed) = plugin_bytes(n);
        println!(
            "| {n} | {:.0} | {:.0} | {:.1}x |",
            plain as f64 / 1024.0,
            packed as f64 / 1024.0,
            plain as f64 / packed as f64
        );
    }
    println!();
    println!(
        "Ceilings (largest APIRule count that fits, checked by exact renderings at the boundary):"
    );
    println!("| limit | plain | compact |");
    println!("|---|---:|---:|");
    for (name, limit) in [
        (
            "client-side kubectl apply, 256 KiB annotation",
            ANNOTATION_LIMIT,
        ),
        ("etcd default, 1.5 MiB object", ETCD_LIMIT),
    ] {
        println!(
            "| {name} | {} | {} |",
            ceiling(limit, false),
            ceiling(limit, true)
        );
    }

    // What the compact form costs the filter: configure time in Envoy, 30,000 APIRules.
    println!();
    println!("Configure time in the filter (its own log line), one worker, plain vs compact:");
    println!("| APIRules | form | configure ms | Envoy ready ms | VM memory KiB |");
    println!("|---:|---|---:|---:|---:|");
    for n in [3_000usize, 30_000] {
        let plain = json!({"apiRules": small_api_rules(n)});
        for (form, cfg) in [("plain", plain.clone()), ("compact", compacted(&plain))] {
            let started = Instant::now();
            let envoy = BenchEnvoy::start_logged(Kind::Wasm(cfg.to_string()), 9, "wasm:info");
            scale::wait_ok(
                &envoy,
                &format!("orders-{}.apps.example.com", n - 1),
                "/health",
            );
            let ready_ms = started.elapsed().as_millis();
            let (configure_ms, vm_kib) =
                scale::configure_figures(&envoy.proc.log_text()).unwrap_or((0, 0));
            println!("| {n} | {form} | {configure_ms} | {ready_ms} | {vm_kib} |");
        }
    }
}
