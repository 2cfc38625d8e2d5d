//! Kyma's conformance, translated: `tests/integration/testsuites/{v2,v2alpha1}/features/asterisk.feature` of
//! kyma-project/api-gateway (commit 64d110d6), scenario by scenario, through Envoy with the
//! filter. The APIRule is the feature's manifest (`asterisk-paths.yaml`) with its template values
//! filled in.
//! Shared by `v2_asterisk.rs` and `v2alpha1_asterisk.rs` (the feature files are the same;
//! `super::API_VERSION` is the version under test).

use crate::common::*;
use serde_json::{json, Value};

const HOST: &str = "httpbin-kyma.local.kyma.dev";

fn no_auth(path: &str, method: &str) -> Value {
    json!({"path": path, "methods": [method], "noAuth": true})
}

/// `asterisk-paths.yaml`: `{*}` and `{**}` in the middle and at the end of paths, each rule for
/// one method.
fn apirule() -> Value {
    json!({"apiVersion": super::API_VERSION, "kind": "APIRule",
    "metadata": {"name": "asterisk-paths-kyma", "namespace": "default"},
    "spec": {"service": {"name": "httpbin-kyma", "port": 8000},
             "gateway": "kyma-system/kyma-gateway", "hosts": [HOST],
             "rules": [
                 no_auth("/anything/one", "GET"),
                 no_auth("/anything/one/two", "GET"),
                 no_auth("/anything/{*}/one", "GET"),
                 no_auth("/anything/{*}/one/{**}/two", "DELETE"),
                 no_auth("/anything/{*}/{*}/two", "GET"),
                 no_auth("/anything/{**}/two", "POST"),
                 no_auth("/anything/", "GET"),
                 no_auth("/anything/{**}", "PUT")
             ]}})
}

/// Scenario: Exposure of service using asterisks in paths. "Calling the "<path>" endpoint with
/// "<method>" method should result in status between <lo> and <hi>", without a token.
/// Kyma's upstream is go-httpbin, which answers `GET /anything/` with 200; the harness's python
/// httpbin has no route for `/anything/` and answers 404 itself. For that one step the check is
/// that the filter passed the request (rule 6) and the upstream answered it (its own 404 page and
/// Envoy's `x-envoy-upstream-service-time`), not a 404 from the filter (empty body, no upstream).
pub fn exposure_of_service_using_asterisks_in_paths() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(&upstream, &json!({"apiRules": [apirule()]}).to_string());
    for (path, method, lo, hi) in [
        ("/anything/one", "GET", 200, 200),
        ("/anything/one/two", "GET", 200, 200),
        ("/anything/random/one", "GET", 200, 200),
        ("/anything/rand*m/one", "GET", 200, 200),
        ("/anything/random/one/any/random/two", "DELETE", 200, 200),
        ("/anything/rand*m/one/any/rand*m/two", "DELETE", 200, 200),
        ("/anything/any/random/two", "GET", 200, 200),
        ("/anything/any/random/two", "POST", 200, 200),
        ("/anything/random/one", "POST", 404, 404),
        ("/anything/", "GET", 200, 200),
        ("/anything/a+b", "PUT", 200, 200),
        ("/anything/a%20b", "PUT", 200, 200),
        ("/anything/rand*m", "PUT", 200, 200),
        ("/anything/any/random", "PUT", 200, 200),
    ] {
        let r = envoy.send(method, HOST, path, &[], "");
        if path == "/anything/" {
            assert!(
                r.header("x-envoy-upstream-service-time").is_some() && r.body.contains("Not Found"),
                "{method} {path} reaches the upstream: {r:?}"
            );
            continue;
        }
        assert!(
            (lo..=hi).contains(&r.status),
            "{method} {path}: {r:?}\n{}",
            envoy.log()
        );
    }
}
