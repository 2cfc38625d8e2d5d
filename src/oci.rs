//! `apirule oci`: an OCI image layout of the module that Istio's image fetcher accepts, without a
//! Docker daemon: one `application/vnd.oci.image.layer.v1.tar+gzip` layer holding `plugin.wasm`
//! (the "compat" variant, like `FROM scratch` + `COPY plugin.wasm /`). Deterministic: the same
//! module gives the same digests. Push it with `skopeo copy oci:DIR:TAG docker://REGISTRY/NAME:TAG`.

use std::path::Path;

const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

pub fn build(wasm: &Path, out: &Path, tag: &str) -> Result<String, String> {
    let module = std::fs::read(wasm).map_err(|e| format!("{}: {e}", wasm.display()))?;
    if !module.starts_with(b"\0asm") {
        return Err(format!("{} is not a wasm module", wasm.display()));
    }
    let tar = tar_one("plugin.wasm", &module);
    let layer = apirule_core::config::compact::gzip(&tar);
    let diff_id = digest(&tar);
    let config = serde_json::json!({
        "architecture": "wasm",
        "os": "wasip1",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    })
    .to_string()
    .into_bytes();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": CONFIG, "digest": digest(&config), "size": config.len()},
        "layers": [{"mediaType": LAYER, "digest": digest(&layer), "size": layer.len(),
                    "annotations": {"org.opencontainers.image.title": "plugin.wasm"}}],
    })
    .to_string()
    .into_bytes();
    let manifest_digest = digest(&manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": MANIFEST, "digest": manifest_digest, "size": manifest.len(),
                       "annotations": {"org.opencontainers.image.ref.name": tag}}],
    })
    .to_string();
    let blobs = out.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(|e| format!("{}: {e}", blobs.display()))?;
    for blob in [&layer, &config, &manifest] {
        let name = digest(blob);
        let path = blobs.join(name.trim_start_matches("sha256:"));
        std::fs::write(&path, blob).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let write = |name: &str, text: &str| {
        std::fs::write(out.join(name), text).map_err(|e| format!("{}/{name}: {e}", out.display()))
    };
    write("oci-layout", r#"{"imageLayoutVersion":"1.0.0"}"#)?;
    write("index.json", &index)?;
    Ok(manifest_digest)
}

pub fn digest(bytes: &[u8]) -> String {
    let hash = hmac_sha256::Hash::hash(bytes);
    format!(
        "sha256:{}",
        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// A ustar archive with one regular file (mode 0644, owner 0, mtime 0).
fn tar_one(name: &str, data: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    let octal = |field: &mut [u8], value: u64| {
        let text = format!("{value:0width$o}\0", width = field.len() - 1);
        field.copy_from_slice(text.as_bytes());
    };
    octal(&mut header[100..108], 0o644);
    octal(&mut header[108..116], 0);
    octal(&mut header[116..124], 0);
    octal(&mut header[124..136], data.len() as u64);
    octal(&mut header[136..148], 0);
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].fill(b' ');
    let sum: u64 = header.iter().map(|b| u64::from(*b)).sum();
    let text = format!("{sum:06o}\0 ");
    header[148..156].copy_from_slice(text.as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]); // two zero blocks end the archive
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn digest() {
        assert_eq!(
            super::digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
