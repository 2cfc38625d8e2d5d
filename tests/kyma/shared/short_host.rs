//! Kyma's conformance, translated: `tests/integration/testsuites/{v2,v2alpha1}/features/short_host.feature`
//! of kyma-project/api-gateway (commit 64d110d6), scenario by scenario, through Envoy with the
//! filter. The APIRule is the feature's manifest (`short-host.yaml`) with its template values
//! filled in. Kyma completes a short host with the domain of the Gateway's `*.<domain>` host
//! (`local.kyma.dev` in its suite); the filter takes it from `defaultDomain`.
//! Shared by `v2_short_host.rs` and `v2alpha1_short_host.rs` (the feature files are the same;
//! `super::API_VERSION` is the version under test).

use std::process::Command;

use crate::common::*;
use serde_json::{json, Value};

const DOMAIN: &str = "local.kyma.dev";

/// `short-host.yaml` bound to `gateway`.
fn apirule(gateway: &str) -> Value {
    json!({"apiVersion": super::API_VERSION, "kind": "APIRule",
           "metadata": {"name": "short-host-kyma", "namespace": "default"},
           "spec": {"gateway": gateway, "hosts": ["httpbin"],
                    "service": {"name": "httpbin-kyma", "port": 8000},
                    "rules": [{"path": "/*", "methods": ["GET"], "noAuth": true}]}})
}

/// The filter serves Kyma's gateway (`kyma-system/kyma-gateway`, the suite's default).
fn serve(apirule: Value) -> (Upstream, Envoy) {
    let upstream = Upstream::start();
    let cfg = json!({"defaultDomain": DOMAIN, "gateway": "kyma-system/kyma-gateway",
                     "apiRules": [apirule]});
    let envoy = Envoy::start(&upstream, &cfg.to_string());
    (upstream, envoy)
}

/// `apirule check --default-domain local.kyma.dev --gateway kyma-system/kyma-gateway`: (exit
/// code, what it printed).
fn check(apirule: &Value) -> (Option<i32>, String) {
    let dir = scratch("kyma-short-host");
    let file = dir.join("apirule.json");
    std::fs::write(&file, apirule.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_apirule"))
        .args(["check", "--default-domain", DOMAIN])
        .args(["--gateway", "kyma-system/kyma-gateway"])
        .arg(&file)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Scenario: Calling a httpbin endpoint unsecured. "The APIRule is applied" (Kyma waits for a
/// status other than Error) is `apirule check` saying Ready.
pub fn calling_a_httpbin_endpoint_unsecured() {
    let rule = apirule("kyma-system/kyma-gateway");
    let (code, text) = check(&rule);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "default/short-host-kyma ({} APIRule): Ready\n",
            super::API_VERSION
        )),
        "{text}"
    );
    let (_u, envoy) = serve(rule);
    // "Calling short host "httpbin" with path "/ip" without a token should result in status
    // between 200 and 200": https://httpbin.<the gateway's domain>/ip.
    let r = envoy.get(&format!("httpbin.{DOMAIN}"), "/ip");
    assert_eq!(r.status, 200, "{r:?}");
}

/// Scenario: Calling a httpbin endpoint unsecured (error scenario). The APIRule names the
/// Gateway `kyma-system/another-gateway`, which does not exist.
/// Not expressible here: "contains error status with "Could not get specified Gateway" message".
/// Kyma's controller looks the Gateway object up in the cluster; the filter has no Gateway
/// objects (README, Validation: the lookup of Gateway objects is out of scope), only the gateway
/// it serves (`gateway` in the plugin configuration, `--gateway` for `check`). What stands for it:
/// the APIRule is not Ready (`check` reports it as not served, naming the other gateway) and
/// exposes nothing through the gateway (404 from the filter, the upstream never asked).
pub fn calling_a_httpbin_endpoint_unsecured_error_scenario() {
    let rule = apirule("kyma-system/another-gateway");
    let (_, text) = check(&rule);
    let line = text
        .lines()
        .find(|l| l.starts_with("default/short-host-kyma "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(!line.ends_with("Ready"), "{text}");
    assert!(line.contains("kyma-system/another-gateway"), "{text}");
    let (_u, envoy) = serve(rule);
    let r = envoy.get(&format!("httpbin.{DOMAIN}"), "/ip");
    assert_eq!((r.status, r.body.as_str()), (404, ""), "{r:?}");
    assert_eq!(r.header("x-envoy-upstream-service-time"), None, "{r:?}");
}
