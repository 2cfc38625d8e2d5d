//! Kyma's conformance, translated: `tests/integration/testsuites/ory/features/
//! service_per_path.feature` of kyma-project/api-gateway (commit 64d110d6), scenario by scenario,
//! through Envoy with the filter under the Ory handler (Kyma's default). The APIRule is the
//! feature's manifest (`service-per-path.yaml`, its v1beta1 spec) with its template values filled
//! in. Routing to the service a rule names is Envoy's, from the routes `apirule render --envoy`
//! writes (in Istio, from the VirtualService): httpbin and a helloworld stand-in on loopback.
//! The APIRules are given as the cluster stores them and `kubectl get -o json` returns them
//! (v2, the v1beta1 spec in an annotation: `crate::common::as_stored`), as issue 15 asks.

use std::io::{Read, Write};

use crate::common::*;
use serde_json::{json, Value};

const HOST: &str = "httpbin-kyma.local.kyma.dev";

/// `service-per-path.yaml`: `/headers` on the APIRule's service (httpbin), `/hello` on the rule's
/// own service (helloworld, port 5000); GET, `noop` on both.
fn apirule() -> Value {
    json!({"apiVersion": "gateway.kyma-project.io/v1beta1", "kind": "APIRule",
           "metadata": {"name": "service-per-path-kyma", "namespace": "default"},
           "spec": {"gateway": "kyma-system/kyma-gateway", "host": HOST,
                    "service": {"name": "httpbin-kyma", "port": 8000},
                    "rules": [
                        {"path": "/headers", "methods": ["GET"],
                         "accessStrategies": [{"handler": "noop"}]},
                        {"path": "/hello", "methods": ["GET"],
                         "service": {"name": "helloworld-kyma", "port": 5000},
                         "accessStrategies": [{"handler": "noop"}]}]}})
}

/// Istio's helloworld sample as the scenario uses it: `GET /hello` is 200 with its greeting,
/// anything else 404. One thread per connection on a loopback port, for the test's lifetime.
fn start_helloworld() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head);
                let path = text.split(' ').nth(1).unwrap_or("");
                let (status, body) = if path.split('?').next() == Some("/hello") {
                    ("200 OK", "Hello version: v1, instance: helloworld-kyma\n")
                } else {
                    ("404 Not Found", "")
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}

/// `apirule render --envoy` for the plugin configuration, each Kubernetes service on its loopback
/// stand-in, then Envoy on the rendered bootstrap.
fn serve_rendered(plugin: &Value, services: &[(&str, u16)]) -> Envoy {
    let dir = scratch("kyma-service-per-path");
    let file = dir.join("plugin.json");
    std::fs::write(&file, plugin.to_string()).unwrap();
    let (port, admin) = (free_port(), free_port());
    let wasm = wasm_path();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_apirule"));
    cmd.args(["render", "--envoy", "--port", &port.to_string()])
        .args(["--admin-port", &admin.to_string()])
        .arg("--wasm")
        .arg(&wasm);
    for (service, p) in services {
        cmd.arg("--service").arg(format!("{service}=127.0.0.1:{p}"));
    }
    let out = cmd.arg(&file).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml: serde_norway::Value = serde_norway::from_slice(&out.stdout).unwrap();
    let cfg: Value = serde_json::to_value(yaml).unwrap();
    Envoy::start_raw(port, admin, &cfg, 1)
}

/// Scenario: Service per path. "Any token" is `Authorization: any`.
#[test]
fn service_per_path() {
    let upstream = Upstream::start();
    let helloworld = start_helloworld();
    let plugin = json!({"jwtHandler": "ory", "apiRules": [as_stored(&apirule())]});
    let envoy = serve_rendered(
        &plugin,
        &[
            ("httpbin-kyma.default", upstream.port),
            ("helloworld-kyma.default", helloworld),
        ],
    );
    for path in ["/headers", "/hello"] {
        let r = envoy.send("GET", HOST, path, &[("Authorization", "any")], "");
        assert!((200..=299).contains(&r.status), "{path} any token: {r:?}");
        let r = envoy.get(HOST, path);
        assert!((200..=299).contains(&r.status), "{path} no token: {r:?}");
    }
    // Each path reached its own service.
    assert!(envoy
        .get(HOST, "/hello")
        .body
        .starts_with("Hello version: v1"));
    assert!(envoy.get(HOST, "/headers").body.contains("\"headers\""));
}
