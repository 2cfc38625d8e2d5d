//! What several features' scenarios share: Istio's helloworld sample as a loopback stand-in, and
//! Envoy on the bootstrap `apirule render --envoy` writes (so rules route to their own services).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use serde_json::Value;

use crate::common::*;

/// What helloworld answers `GET /hello`.
pub const HELLO_BODY: &str = "Hello version: v1, instance: helloworld-kyma\n";

/// Istio's helloworld sample as the scenarios use it: `GET /hello` is 200 with its greeting,
/// anything else 404. One thread per connection on a loopback port, for the test's lifetime.
pub fn start_helloworld() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer(stream));
        }
    });
    port
}

fn answer(mut stream: TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&head);
    let mut words = line.split(' ');
    let (method, path) = (words.next(), words.next());
    let path = path.map(|p| p.split('?').next().unwrap_or(p));
    let (status, body) = if method == Some("GET") && path == Some("/hello") {
        ("200 OK", HELLO_BODY)
    } else {
        ("404 NOT FOUND", "Not Found\n")
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
}

/// `apirule render --envoy` for a plugin configuration or an APIRule, each Kubernetes service
/// (`name.namespace`) on its loopback stand-in, then Envoy on the rendered bootstrap.
pub fn serve_rendered(config: &Value, services: &[(&str, u16)]) -> Envoy {
    let file = scratch("kyma-render").join("config.json");
    std::fs::write(&file, config.to_string()).unwrap();
    let (port, admin) = (free_port(), free_port());
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_apirule"));
    cmd.args(["render", "--envoy", "--port", &port.to_string()])
        .args(["--admin-port", &admin.to_string(), "--wasm"])
        .arg(wasm_path());
    for (service, at) in services {
        cmd.args(["--service", &format!("{service}=127.0.0.1:{at}")]);
    }
    let out = cmd.arg(&file).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml: serde_norway::Value = serde_norway::from_slice(&out.stdout).unwrap();
    Envoy::start_raw(port, admin, &serde_json::to_value(yaml).unwrap(), 2)
}

/// `apirule render --istio` (with `flags`) of `objects`: the AuthorizationPolicy it renders for
/// the exposed service, the in-cluster stand-in for "only the gateway reaches the service".
pub fn rendered_gateway_policy(objects: &Value, flags: &[&str]) -> String {
    let file = scratch("kyma-render-istio").join("objects.json");
    std::fs::write(&file, objects.to_string()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_apirule"))
        .args([
            "render",
            "--istio",
            "--image",
            "oci://registry.example/apirule:1",
        ])
        .args(flags)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8_lossy(&out.stdout);
    yaml.split("\n---")
        .find(|d| d.contains("kind: AuthorizationPolicy"))
        .unwrap_or_else(|| panic!("no AuthorizationPolicy for the exposed service: {yaml}"))
        .to_owned()
}
