//! The module as an OCI image, through a real registry on loopback: built by `apirule oci`, pushed
//! and pulled back with skopeo, checked for digests and media types, and the pulled `plugin.wasm`
//! loaded in Envoy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Hex SHA-256, as Istio compares it.
fn sha256_hex(bytes: &[u8]) -> String {
    hmac_sha256::Hash::hash(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (make test installs it)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn oci_image_round_trip_through_a_registry() {
    let dir = scratch("oci");
    let image = dir.join("image");
    let tag = "v-test";
    let wasm = wasm_path();
    run(Command::new(env!("CARGO_BIN_EXE_apirule"))
        .args(["oci", "--wasm"])
        .arg(&wasm)
        .arg("--out")
        .arg(&image)
        .args(["--tag", tag]));

    // A registry (CNCF distribution, Debian's docker-registry) on a free loopback port.
    let port = free_port();
    let config = dir.join("registry.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("storage").display()
        ),
    )
    .unwrap();
    let log = dir.join("registry.log");
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("registry.err")).unwrap(),
        ))
        .spawn()
        .expect("docker-registry (make test installs it)");
    let _registry = Proc { child, log };
    let deadline = Instant::now() + Duration::from_secs(20);
    while try_request(port, "GET", "127.0.0.1", "/v2/", &[], "")
        .map(|r| r.status)
        .ok()
        != Some(200)
    {
        assert!(Instant::now() < deadline, "registry did not start");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Published the way `make push` does (its `publish` step, on the layout built above): what
    // it prints is what the README tells users to put in the WasmPlugin.
    let registry = format!("127.0.0.1:{port}/kyma/apirule-wasm");
    let printed = run(Command::new("make")
        .current_dir(repo())
        .args(["--no-print-directory", "-s", "publish", "TLS_VERIFY=false"])
        .arg(format!("REGISTRY={registry}"))
        .arg(format!("TAG={tag}"))
        .arg(format!("OCI_DIR={}", image.display())));
    let field = |name: &str| {
        printed
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("make publish printed no {name}:\n{printed}"))
    };
    let (url, sha256) = (field("WasmPlugin url:"), field("WasmPlugin sha256:"));
    let remote = format!("docker://{registry}:{tag}");

    // The manifest as the registry serves it: one tar+gzip layer, the digests we built.
    let raw = run(Command::new("skopeo").args(["inspect", "--tls-verify=false", "--raw", &remote]));
    let manifest: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "Istio's compat format: exactly one layer");
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(image.join("index.json")).unwrap()).unwrap();
    let built_digest = index["manifests"][0]["digest"].as_str().unwrap();
    let info = run(Command::new("skopeo").args(["inspect", "--tls-verify=false", &remote]));
    let info: Value = serde_json::from_str(&info).unwrap();
    assert_eq!(
        info["Digest"], built_digest,
        "the registry serves the manifest we built"
    );

    // Istio's check for an oci:// URL: the sha256 of the image manifest it pulls must equal the
    // WasmPlugin's `sha256` (pkg/wasm/cache.go), else the module is not loaded. The value make
    // printed is that digest, and the pinned URL names it.
    let manifest_digest = sha256_hex(raw.as_bytes());
    assert_eq!(
        sha256, manifest_digest,
        "the printed sha256 is the manifest's digest"
    );
    assert_ne!(
        sha256,
        sha256_hex(&std::fs::read(&wasm).unwrap()),
        "not the module's hash"
    );
    assert_eq!(url, format!("oci://{registry}@sha256:{manifest_digest}"));

    // Pull it back by that pinned reference and take plugin.wasm out of the layer, as Istio's
    // fetcher does.
    let pulled = dir.join("pulled");
    let pinned = format!("docker://{}", url.trim_start_matches("oci://"));
    let again =
        run(Command::new("skopeo").args(["inspect", "--tls-verify=false", "--raw", &pinned]));
    assert_eq!(sha256_hex(again.as_bytes()), sha256, "the pinned manifest");
    run(Command::new("skopeo")
        .args(["copy", "--src-tls-verify=false"])
        .arg(&pinned)
        .arg(format!("oci:{}:{tag}", pulled.display())));
    let layer_digest = layers[0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    let extract = dir.join("extract");
    std::fs::create_dir_all(&extract).unwrap();
    run(Command::new("tar")
        .arg("-xzf")
        .arg(pulled.join("blobs/sha256").join(layer_digest))
        .arg("-C")
        .arg(&extract));
    let module = extract.join("plugin.wasm");
    assert_eq!(
        std::fs::read(&module).unwrap(),
        std::fs::read(&wasm).unwrap(),
        "the same module"
    );

    // The pulled module serves in Envoy.
    std::env::set_var("APIRULE_WASM", &module);
    let upstream = Upstream::start();
    let envoy = Envoy::start(&upstream, &shipped_plugin_config());
    assert_eq!(envoy.get("httpbin.local.kyma.dev", "/headers").status, 200);
    assert_eq!(envoy.get("httpbin.local.kyma.dev", "/ip").status, 404);
}
