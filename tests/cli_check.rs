//! `apirule check` as a user runs it: on the APIRules in tests/fixtures/apirules (each Ready), and
//! on broken ones in tests/fixtures/invalid whose expected Kyma messages are written at the top of
//! each fixture (`# expect: ...`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn apirule(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_apirule"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The values of the `# KEY: ...` lines in a fixture's leading comment (here `args`).
fn header(path: &Path, key: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .filter_map(|l| l.strip_prefix(&format!("# {key}: ")))
        .map(str::to_owned)
        .collect()
}

/// The YAML files of a fixture directory, each headed by a comment saying what it exercises.
fn fixture_files(dir: &str) -> Vec<std::path::PathBuf> {
    let dir = common::repo().join("tests/fixtures").join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in &files {
        assert_eq!(
            f.extension().and_then(|e| e.to_str()),
            Some("yaml"),
            "{}",
            f.display()
        );
        let text = std::fs::read_to_string(f).unwrap();
        assert!(
            text.starts_with("# "),
            "{} has no heading comment",
            f.display()
        );
    }
    files
}

#[test]
fn valid_fixture_apirules_are_ready() {
    // extAuth rules name an authorizer: Kyma looks it up in Istio's mesh ConfigMap.
    let mesh = common::fixture("istio-mesh.yaml");
    let files = fixture_files("apirules");
    let mut versions = std::collections::BTreeSet::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy();
        let mut args = vec!["check", "--default-domain", "local.kyma.dev"];
        let extra: Vec<String> = header(file, "args")
            .iter()
            .flat_map(|a| a.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .collect();
        args.extend(extra.iter().map(String::as_str));
        args.extend([file.to_str().unwrap(), mesh.to_str().unwrap()]);
        let out = apirule(&args);
        let text = stdout(&out);
        assert!(out.status.success(), "{name}: {text}");
        assert_eq!(
            text.lines().count(),
            1,
            "{name}: one APIRule per file: {text}"
        );
        assert!(
            text.trim_end().ends_with(" APIRule): Ready"),
            "{name}: {text}"
        );
        versions.insert(
            text.split("gateway.kyma-project.io/")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .to_owned(),
        );
    }
    assert!(files.len() >= 12, "only {} fixtures", files.len());
    assert_eq!(
        versions.into_iter().collect::<Vec<_>>(),
        ["v1beta1", "v2", "v2alpha1"],
        "every APIRule version Kyma serves"
    );
}

#[test]
fn placeholder_templates_are_reported() {
    // A documentation template with its `${...}` placeholders left in, checked without a domain.
    let file = common::fixture("invalid/v2-placeholder-host.yaml");
    let out = apirule(&["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("docs/docs-tls (gateway.kyma-project.io/v2 APIRule): Error"),
        "{text}"
    );
    assert!(text.contains("Validation errors: Attribute '.spec.hosts[0]': Host must be a lowercase RFC 1123 label"), "{text}");
}

#[test]
fn broken_fixtures_get_kymas_messages() {
    let mut checked = 0;
    for path in fixture_files("invalid") {
        check_fixture(&path);
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} fixtures");
}

fn check_fixture(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut expects = Vec::new();
    let mut extra: Vec<String> = Vec::new();
    let mut default_domain = true;
    for line in text.lines().take_while(|l| l.starts_with('#')) {
        if let Some(e) = line.strip_prefix("# expect: ") {
            expects.push(e.to_owned());
        } else if let Some(a) = line.strip_prefix("# args: ") {
            for arg in a.split_whitespace() {
                if arg == "--no-default-domain" {
                    default_domain = false;
                } else {
                    extra.push(arg.to_owned());
                }
            }
        }
    }
    assert!(
        !expects.is_empty(),
        "{} has no `# expect:` line",
        path.display()
    );
    let mut args = vec!["check".to_owned()];
    if default_domain {
        args.extend(["--default-domain".to_owned(), "local.kyma.dev".to_owned()]);
    }
    args.extend(extra);
    args.push(path.to_string_lossy().into_owned());
    let out = apirule(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let printed = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{}: {printed}", path.display());
    assert!(
        printed.contains("): Error"),
        "{}: {printed}",
        path.display()
    );
    for e in &expects {
        assert!(
            printed.contains(e.as_str()),
            "{}\nexpected: {e}\nprinted:\n{printed}",
            path.display()
        );
    }
}

#[test]
fn plugin_configuration_files_and_json_are_accepted() {
    let dir = common::scratch("cli");
    // The plugin configuration shipped in envoy/envoy.yaml, checked with its own settings.
    let file = dir.join("plugin.json");
    std::fs::write(&file, common::shipped_plugin_config()).unwrap();
    let out = apirule(&["check", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(
        stdout(&out),
        "default/httpbin (gateway.kyma-project.io/v2 APIRule): Ready\n\
         istio-system/gateway (gateway.kyma-project.io/v1alpha1 RateLimit): Ready\n"
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(apirule(&[]).status.code(), Some(2));
    assert_eq!(apirule(&["check"]).status.code(), Some(2));
    assert_eq!(
        apirule(&["check", "/does/not/exist.yaml"]).status.code(),
        Some(2)
    );
    assert_eq!(
        apirule(&["check", "--jwt-handler", "nope", "x"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn explain_walks_the_decision() {
    let envoy_yaml = common::repo().join("envoy/envoy.yaml");
    let f = envoy_yaml.to_str().unwrap();
    let out = apirule(&[
        "explain",
        "--rules",
        f,
        "--request",
        "POST http://httpbin.local.kyma.dev/anything/a?x=1",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("rule[0] /headers [GET]: method POST not listed"),
        "{text}"
    );
    assert!(
        text.contains("rule[4] /anything/{**} [GET,POST]: matches"),
        "{text}"
    );
    assert!(
        text.contains("sets x-forwarded-host: httpbin.local.kyma.dev"),
        "{text}"
    );
    assert!(
        text.contains("rate limit istio-system/gateway: defaultBucket (1000 tokens"),
        "{text}"
    );
    let out = apirule(&[
        "explain",
        "--rules",
        f,
        "--request",
        "GET http://nowhere.dev/",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("decision: 404"));

    // A jwt rule decided offline with keys from a file.
    use base64::Engine;
    use jwt_simple::prelude::*;
    let e = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let pair = ES256KeyPair::generate().with_key_id("k1");
    let point = pair.key_pair().public_key().to_bytes_uncompressed();
    let dir = common::scratch("explain");
    let jwks = dir.join("jwks.json");
    std::fs::write(
        &jwks,
        serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "x": e(&point[1..33]), "y": e(&point[33..])}]}).to_string(),
    )
    .unwrap();
    let claims = Claims::create(Duration::from_mins(5)).with_issuer("http://127.0.0.1:3000");
    let token = pair.sign(claims).unwrap();
    let jwks_arg = format!("http://127.0.0.1:3000/jwks={}", jwks.display());
    let auth = format!("Authorization: Bearer {token}");
    let out = apirule(&[
        "explain",
        "--rules",
        f,
        "--jwks",
        &jwks_arg,
        "-H",
        &auth,
        "--request",
        "GET http://httpbin.local.kyma.dev/bearer",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("access: jwt, Istio semantics"), "{text}");
    assert!(text.contains("decision: allow"), "{text}");
    assert!(!text.contains(&token), "the token is never printed");
    let out = apirule(&[
        "explain",
        "--rules",
        f,
        "--request",
        "GET http://httpbin.local.kyma.dev/bearer",
        "-H",
        &auth,
    ]);
    assert!(stdout(&out).contains("needs the keys of http://127.0.0.1:3000/jwks"));
}

/// Issue 15: every v1beta1 fixture, in the stored form, is read as Kyma reconciles it: `check`
/// says Ready, `explain` decides as on the v1beta1 object, `render --istio` routes the same.
#[test]
fn v1beta1_apirules_stored_as_v2_are_read_as_v1beta1() {
    let dir = common::scratch("stored-v1beta1");
    let mut stored_items = Vec::new();
    for f in fixture_files("apirules") {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("v1beta1-") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let original: serde_json::Value = serde_norway::from_str(&text).unwrap();
        let stored = common::as_stored(&original);
        let path = dir.join(name.replace(".yaml", ".json"));
        std::fs::write(&path, serde_json::to_string_pretty(&stored).unwrap()).unwrap();
        // The fixture's own flags (`# args:`), e.g. `--jwt-handler istio`.
        let mut args: Vec<String> = vec!["--default-domain".into(), "local.kyma.dev".into()];
        args.extend(
            header(&f, "args")
                .iter()
                .flat_map(|l| l.split_whitespace().map(str::to_owned)),
        );
        let with = |cmd: &str, file: &Path| {
            let mut v = vec![cmd.to_owned()];
            v.extend(args.iter().cloned());
            v.push(file.to_str().unwrap().to_owned());
            v
        };
        let run = |v: Vec<String>| apirule(&v.iter().map(String::as_str).collect::<Vec<_>>());
        let (a, b) = (run(with("check", &f)), run(with("check", &path)));
        assert!(
            b.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&b.stderr)
        );
        // The same verdict, named as the object is stored.
        assert_eq!(
            stdout(&a).replace(
                "gateway.kyma-project.io/v1beta1",
                "gateway.kyma-project.io/v2"
            ),
            stdout(&b),
            "{name}"
        );
        // The same decision for a request to the first rule's host.
        let host = original["spec"]["host"].as_str().unwrap();
        let host = if host.contains('.') {
            host.to_owned()
        } else {
            format!("{host}.local.kyma.dev")
        };
        // The first rule's first method and a path its regex matches.
        let rule = &original["spec"]["rules"][0];
        let rule_path = rule["path"]
            .as_str()
            .unwrap()
            .replace(".*", "a")
            .replace("[0-9]+", "1");
        let method = rule["methods"][0].as_str().unwrap();
        let request = format!("{method} https://{host}{rule_path}");
        let explain = |file: &Path| {
            let mut v = vec!["explain".to_owned()];
            v.extend(args.iter().cloned());
            v.extend(["--rules".into(), file.to_str().unwrap().into()]);
            v.extend(["--request".into(), request.clone()]);
            stdout(&run(v))
        };
        let (ea, eb) = (explain(&f), explain(&path));
        assert!(!eb.is_empty(), "{name}");
        // Enforced as v1beta1, and said so.
        assert_eq!(ea, eb, "{name}");
        assert!(!ea.contains("decision: 404"), "{name}: {ea}");
        // One cluster has one jwt handler: the List takes the default (Ory) ones.
        if header(&f, "args").is_empty() {
            stored_items.push(stored);
        }
    }
    assert_eq!(
        stored_items.len(),
        4,
        "the v1beta1 fixtures under the Ory handler"
    );
    // `kubectl get apirules -A -o json`: a List of them, rendered for Istio.
    let list = dir.join("kubectl-get.json");
    let list_json = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": stored_items});
    std::fs::write(&list, list_json.to_string()).unwrap();
    let r = apirule(&[
        "render",
        "--istio",
        "--image",
        "oci://registry.example/apirule@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        "--default-domain",
        "local.kyma.dev",
        list.to_str().unwrap(),
    ]);
    let out = stdout(&r);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(out.matches("kind: VirtualService").count(), 4, "{out}");
    assert!(out.contains("tickets.support.example"), "{out}");
    assert!(!String::from_utf8_lossy(&r.stderr).contains("Required value"));

    // The original version said v1beta1 but the spec annotation is gone: refused, naming it.
    let mut broken = stored_items_first(&list_json);
    broken["metadata"]["annotations"]
        .as_object_mut()
        .unwrap()
        .remove("gateway.kyma-project.io/v1beta1-spec");
    let path = dir.join("broken.json");
    std::fs::write(&path, broken.to_string()).unwrap();
    let r = apirule(&["check", path.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(1));
    assert!(
        stdout(&r).contains(
            "'.metadata.annotations[\"gateway.kyma-project.io/v1beta1-spec\"]': Required value"
        ),
        "{}",
        stdout(&r)
    );
}

/// A v2 object applied with rules and a stale `original-version: v1beta1` (no v1beta1 spec) is
/// a v2 one: Kyma's admission conversion rewrites the annotation to v2 because rules are present.
#[test]
fn a_v2_apirule_with_rules_and_a_stale_v1beta1_annotation_is_v2() {
    let dir = common::scratch("stale-annotation");
    let path = dir.join("v2.json");
    let obj = serde_json::json!({"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
        "metadata": {"name": "migrated", "namespace": "default",
                     "annotations": {"gateway.kyma-project.io/original-version": "v1beta1"}},
        "spec": {"hosts": ["migrated.example.com"], "gateway": "kyma-system/kyma-gateway",
                 "service": {"name": "s", "port": 80},
                 "rules": [{"path": "/*", "methods": ["GET"], "noAuth": true}]}});
    std::fs::write(&path, obj.to_string()).unwrap();
    let r = apirule(&["check", path.to_str().unwrap()]);
    assert_eq!(
        stdout(&r).trim_end(),
        "default/migrated (gateway.kyma-project.io/v2 APIRule): Ready"
    );
    let e = apirule(&[
        "explain",
        "--rules",
        path.to_str().unwrap(),
        "--request",
        "GET https://migrated.example.com/x",
    ]);
    assert!(
        stdout(&e).contains("(gateway.kyma-project.io/v2)"),
        "{}",
        stdout(&e)
    );
}

fn stored_items_first(list: &serde_json::Value) -> serde_json::Value {
    list["items"][0].clone()
}
