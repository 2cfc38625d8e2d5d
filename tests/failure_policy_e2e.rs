//! What Envoy does with a Wasm VM that died (a trap while serving), with the module in
//! `crates/filter/examples/crash.rs`, which panics on request. With `FAIL_CLOSED` the worker refuses every
//! later request for good; with `FAIL_RELOAD`, which `envoy/envoy.yaml` ships, a new VM serves
//! again after the backoff. The filter itself must not panic (tests/attacks_e2e.rs), but if a
//! bug ever makes it, the gateway recovers instead of staying down.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

fn crash_module() -> std::path::PathBuf {
    let p = repo().join("target/wasm32-wasip1/release/examples/crash.wasm");
    assert!(
        p.is_file(),
        "{} is missing: make test builds it",
        p.display()
    );
    p
}

fn start(upstream: &Upstream, policy: &str) -> Envoy {
    let (port, admin) = (free_port(), free_port());
    let mut cfg = render(port, admin, upstream.port, 9, "{}");
    let wasm = wasm_filter_mut(&mut cfg);
    wasm["typed_config"]["config"]["vm_config"]["code"]["local"]["filename"] =
        crash_module().to_string_lossy().into_owned().into();
    wasm["typed_config"]["config"]["root_id"] = json!("");
    wasm["typed_config"]["config"]["failure_policy"] = json!(policy);
    // One worker: the VM that died is the one every later request meets.
    Envoy::start_raw(port, admin, &cfg, 1)
}

fn status(envoy: &Envoy, crash: bool) -> u16 {
    let headers: &[(&str, &str)] = if crash { &[("x-crash", "1")] } else { &[] };
    envoy
        .send("GET", "httpbin.local.kyma.dev", "/headers", headers, "")
        .status
}

#[test]
fn fail_closed_stays_down_fail_reload_recovers() {
    let upstream = Upstream::start();

    let closed = start(&upstream, "FAIL_CLOSED");
    assert_eq!(status(&closed, false), 200);
    assert_ne!(status(&closed, true), 200, "the VM trapped");
    std::thread::sleep(Duration::from_secs(2));
    assert_ne!(
        status(&closed, false),
        200,
        "FAIL_CLOSED: the worker refuses from now on"
    );
    drop(closed);

    let reload = start(&upstream, "FAIL_RELOAD");
    assert_eq!(status(&reload, false), 200);
    assert_ne!(status(&reload, true), 200, "the VM trapped");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if status(&reload, false) == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "FAIL_RELOAD did not bring the VM back:\n{}",
            reload.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // And again: every trap is followed by a reload.
    assert_ne!(status(&reload, true), 200);
    let deadline = Instant::now() + Duration::from_secs(15);
    while status(&reload, false) != 200 {
        assert!(
            Instant::now() < deadline,
            "no second reload:\n{}",
            reload.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
