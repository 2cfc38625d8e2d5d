//! Kyma's conformance, translated: `tests/e2e/tests/asterisk/asterisk_test.go` of
//! kyma-project/api-gateway (commit 64d110d6). Its first test implements `asterisk.feature`
//! (`v2_asterisk.rs`); the second has no integration counterpart and is translated here.

use crate::common::*;
use serde_json::json;

/// "APIRule with wildcard host sets X-Forwarded-Host to actual hostname" (`asterisk_host.yaml`:
/// host `*.<domain>`, `/headers` and `/anything/{**}` GET with noAuth): the upstream sees the
/// host the client asked for, not the wildcard pattern, and deeper paths are reached.
#[test]
fn apirule_with_wildcard_host_sets_x_forwarded_host_to_actual_hostname() {
    let upstream = Upstream::start();
    let apirule = json!({"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
        "metadata": {"name": "wildcard-kyma", "namespace": "default"},
        "spec": {"hosts": ["*.local.kyma.dev"], "gateway": "kyma-system/kyma-gateway",
                 "service": {"name": "httpbin-kyma", "port": 8000},
                 "rules": [{"path": "/headers", "methods": ["GET"], "noAuth": true},
                           {"path": "/anything/{**}", "methods": ["GET"], "noAuth": true}]}});
    let envoy = Envoy::start(&upstream, &json!({"apiRules": [apirule]}).to_string());
    let actual = "wildcard-kyma.local.kyma.dev";
    let r = envoy.get(actual, "/headers");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.upstream_header("X-Forwarded-Host").as_deref(),
        Some(actual)
    );
    assert_eq!(envoy.get(actual, "/anything/test").status, 200);
}
