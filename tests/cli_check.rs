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
        args.extend(["-o", "json"]);
        let out = apirule(&args);
        let text = stdout(&out);
        assert!(out.status.success(), "{name}: {text}");
        let report: serde_json::Value = serde_json::from_str(&text).unwrap();
        let objects = report["objects"].as_array().unwrap();
        assert_eq!(objects.len(), 1, "{name}: one APIRule per file: {text}");
        let object = &objects[0];
        assert_eq!(
            (object["kind"].as_str(), object["status"].as_str()),
            (Some("APIRule"), Some("Ready")),
            "{name}: {text}"
        );
        assert_eq!(object["errors"], serde_json::json!([]), "{name}");
        assert_eq!(object["file"].as_str(), file.to_str(), "{name}");
        assert_eq!(
            report["summary"],
            serde_json::json!({"objects": 1, "ready": 1, "error": 0, "ignored": 0, "inputErrors": 0})
        );
        versions.insert(
            object["apiVersion"]
                .as_str()
                .unwrap()
                .trim_start_matches("gateway.kyma-project.io/")
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
         istio-system/gateway (gateway.kyma-project.io/v1alpha1 RateLimit): Ready\n\
         2 objects checked: 2 Ready, 0 Error\n"
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
        "default/migrated (gateway.kyma-project.io/v2 APIRule): Ready\n1 object checked: 1 Ready, 0 Error"
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

// ---- Issue 16: the tool behaves as kubectl and istioctl users expect ----------------------

fn apirule_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_apirule"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_of(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// A v2 APIRule with `spec` fields replaced or added (`null` removes one).
fn v2_apirule(name: &str, spec: serde_json::Value) -> serde_json::Value {
    let mut obj = serde_json::json!({"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
        "metadata": {"name": name, "namespace": "test"},
        "spec": {"hosts": [format!("{name}.example.com")], "gateway": "kyma-system/kyma-gateway",
                 "service": {"name": "httpbin", "port": 8000},
                 "rules": [{"path": "/headers", "methods": ["GET"], "noAuth": true}]}});
    for (k, v) in spec.as_object().unwrap() {
        if v.is_null() {
            obj["spec"].as_object_mut().unwrap().remove(k);
        } else {
            obj["spec"][k] = v.clone();
        }
    }
    obj
}

fn write_yaml(dir: &Path, name: &str, docs: &[serde_json::Value]) -> std::path::PathBuf {
    let text: Vec<String> = docs
        .iter()
        .map(|d| serde_norway::to_string(d).unwrap())
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, text.join("---\n")).unwrap();
    path
}

const SUBCOMMANDS: [&str; 5] = ["check", "explain", "render", "oci", "completion"];

#[test]
fn help_and_version_for_the_tool_and_every_subcommand() {
    let out = apirule(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = stdout(&out);
    for sub in SUBCOMMANDS {
        assert!(help.contains(sub), "{sub} in {help}");
    }
    assert!(help.contains("Exit codes:"), "{help}");
    for sub in SUBCOMMANDS {
        for flag in ["--help", "-h"] {
            let out = apirule(&[sub, flag]);
            assert_eq!(out.status.code(), Some(0), "{sub} {flag}: {}", stderr(&out));
            assert!(stdout(&out).contains("Usage: apirule"), "{sub}");
        }
    }
    assert!(stdout(&apirule(&["check", "--help"])).contains("--default-domain <DOMAIN>"));
    assert!(stdout(&apirule(&["help", "render"])).contains("--envoy"));
    for args in [&["--version"][..], &["-V"], &["check", "--version"]] {
        let out = apirule(args);
        assert_eq!(out.status.code(), Some(0));
        let version = stdout(&out);
        assert!(version.starts_with("apirule"), "{version}");
        assert!(
            version
                .trim_end()
                .ends_with(&format!(" {}", env!("CARGO_PKG_VERSION"))),
            "{version}"
        );
    }
}

/// The exit codes `--help` shows are the ones the README documents, line for line.
#[test]
fn exit_codes_are_documented_in_help_and_readme() {
    let help = stdout(&apirule(&["check", "--help"]));
    let readme = std::fs::read_to_string(common::repo().join("README.md")).unwrap();
    let codes: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Exit codes:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(codes.len(), 3, "{help}");
    for line in codes {
        assert!(
            readme.contains(line.trim()),
            "README lacks the exit code line {line:?}"
        );
    }
}

#[test]
fn exit_codes() {
    let dir = common::scratch("cli-exit");
    let good = write_yaml(
        &dir,
        "good.yaml",
        &[v2_apirule("good", serde_json::json!({}))],
    );
    let bad = write_yaml(
        &dir,
        "bad.yaml",
        &[v2_apirule("bad", serde_json::json!({"timeout": 4000}))],
    );
    let (good, bad) = (good.to_str().unwrap(), bad.to_str().unwrap());
    assert_eq!(apirule(&["check", good]).status.code(), Some(0));
    assert_eq!(apirule(&["check", good, bad]).status.code(), Some(1));
    // Usage errors: unknown flag, bad value, missing value, missing required flag, no input.
    for args in [
        &["check", "--nope", good][..],
        &["check", "--jwt-handler", "nope", good],
        &["check", "-o", "xml", good],
        &["check", good, "--default-domain"],
        &["explain", "--rules", good],
        &["render", good],
        &["render", "--istio", good],
        &["render", "--istio", "--envoy", good],
        &[
            "render",
            "--istio",
            "--image",
            "oci://r/x:1",
            "--sha256",
            "abc",
            good,
        ],
        &["check"],
        &["nonsense"],
        &[],
    ] {
        let out = apirule(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stdout(&out).is_empty(),
            "{args:?}: usage errors go to stderr"
        );
    }
    // An unreadable input is exit 2, and the readable ones are still checked.
    let out = apirule(&["check", good, "/does/not/exist.yaml", bad]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(
        text.contains("test/good (gateway.kyma-project.io/v2 APIRule): Ready"),
        "{text}"
    );
    assert!(
        text.contains("test/bad (gateway.kyma-project.io/v2 APIRule): Error"),
        "{text}"
    );
    assert!(text.contains("; 1 input error"), "{text}");
    assert!(
        stderr(&out).contains("/does/not/exist.yaml"),
        "{}",
        stderr(&out)
    );
    // A YAML syntax error names the file and the document.
    let broken = dir.join("broken.yaml");
    std::fs::write(&broken, "apiVersion: v1\n---\nkind: [unclosed\n").unwrap();
    let out = apirule(&["check", good, broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("broken.yaml: document 2:"),
        "{}",
        stderr(&out)
    );
    // explain: 0 allowed, 1 refused.
    let allowed = apirule(&[
        "explain",
        "-f",
        good,
        "--request",
        "GET https://good.example.com/headers",
    ]);
    assert_eq!(allowed.status.code(), Some(0), "{}", stdout(&allowed));
    let refused = apirule(&[
        "explain",
        "-f",
        good,
        "--request",
        "GET https://good.example.com/ip",
    ]);
    assert_eq!(refused.status.code(), Some(1), "{}", stdout(&refused));
}

#[test]
fn flags_take_values_with_equals_or_space() {
    let file = common::fixture("invalid/v2-short-host-without-domain.yaml");
    let file = file.to_str().unwrap();
    let spaced = apirule(&["check", "--default-domain", "local.kyma.dev", file]);
    let joined = apirule(&["check", "--default-domain=local.kyma.dev", file]);
    let first = apirule(&[
        "check",
        file,
        "--output=text",
        "--default-domain=local.kyma.dev",
    ]);
    assert_eq!(spaced.status.code(), Some(0), "{}", stdout(&spaced));
    assert_eq!(stdout(&spaced), stdout(&joined));
    assert_eq!(stdout(&spaced), stdout(&first));
    assert_eq!(
        json_of(&apirule(&["check", "-ojson", file]))["summary"]["error"],
        1
    );
}

#[test]
fn standard_input_files_and_directories() {
    let dir = common::scratch("cli-inputs");
    write_yaml(&dir, "a.yaml", &[v2_apirule("a", serde_json::json!({}))]);
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    write_yaml(
        &dir.join("sub"),
        "b.yml",
        &[v2_apirule("b", serde_json::json!({}))],
    );
    std::fs::write(
        dir.join("sub/c.json"),
        serde_json::json!({"apiVersion": "v1", "kind": "List",
            "items": [v2_apirule("c", serde_json::json!({}))]})
        .to_string(),
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), "not an APIRule").unwrap();
    let names = |o: &Output| -> Vec<String> {
        json_of(o)["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let d = dir.to_str().unwrap();
    // A directory: its own .yaml/.yml/.json files; -R: its subdirectories too (as kubectl).
    assert_eq!(names(&apirule(&["check", "-o", "json", d])), ["a"]);
    assert_eq!(
        names(&apirule(&["check", "-o", "json", "-R", d])),
        ["a", "b", "c"]
    );
    assert_eq!(
        names(&apirule(&["check", "-o", "json", "--recursive", "-f", d])),
        ["a", "b", "c"]
    );
    // A directory without any: an input error.
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = apirule(&["check", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no .yaml, .yml or .json file"),
        "{}",
        stderr(&out)
    );
    // `-` is standard input, as a file argument or with -f, YAML or JSON.
    let yaml = serde_norway::to_string(&v2_apirule("piped", serde_json::json!({}))).unwrap();
    for args in [
        &["check", "-o", "json", "-"][..],
        &["check", "-o", "json", "-f", "-"],
    ] {
        let out = apirule_stdin(args, &yaml);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(names(&out), ["piped"]);
        assert_eq!(json_of(&out)["objects"][0]["file"], "-");
    }
    let json = v2_apirule("piped", serde_json::json!({})).to_string();
    let out = apirule_stdin(&["check", "-", d], &json);
    assert!(stdout(&out).contains("test/piped"), "{}", stdout(&out));
    assert!(stdout(&out).contains("test/a "), "{}", stdout(&out));
    // explain takes its rules from standard input too.
    let out = apirule_stdin(
        &[
            "explain",
            "--rules",
            "-",
            "--request",
            "GET https://piped.example.com/headers",
        ],
        &yaml,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn shell_completion() {
    for (shell, marker) in [
        ("bash", "_apirule()"),
        ("zsh", "#compdef apirule"),
        ("fish", "complete -c apirule"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[apirule]"),
    ] {
        let out = apirule(&["completion", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = stdout(&out);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(
            script.contains("default-domain"),
            "{shell}: flags are completed"
        );
    }
    assert_eq!(apirule(&["completion", "tcsh"]).status.code(), Some(2));
}

/// One object with a failure of each layer: kubectl's strict field validation, the API
/// server's type check, the CRD's value rules and Kyma's controller, all reported at once.
#[test]
fn every_failure_of_an_object_at_once_as_json_and_yaml() {
    let dir = common::scratch("cli-json");
    let obj = v2_apirule(
        "all",
        serde_json::json!({"hosts": ["all"], "servce": {"name": "x"},
            "service": {"name": "httpbin", "port": "8000"}, "timeout": 4000,
            "rules": [{"path": "/headers", "methods": ["GET", "FETCH"], "noAuth": true, "timeout": 1.5},
                      {"path": "/ip", "methods": ["GET"]}]}),
    );
    let file = write_yaml(&dir, "all.yaml", &[obj]);
    let out = apirule(&["check", "-o", "json", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let report = json_of(&out);
    let object = &report["objects"][0];
    assert_eq!(object["status"], "Error");
    assert_eq!(object["file"].as_str(), file.to_str());
    let errors: Vec<(String, String, String)> = object["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["source"].as_str().unwrap().to_owned(),
                e["path"].as_str().unwrap().to_owned(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let has = |source: &str, path: &str, message: &str| {
        assert!(
            errors
                .iter()
                .any(|(s, p, m)| s == source && p == path && m.contains(message)),
            "{source} {path} {message} in {errors:#?}"
        )
    };
    has("strict", ".spec.servce", "unknown field \"spec.servce\"");
    has(
        "schema",
        ".spec.service.port",
        "in body must be of type integer: \"string\"",
    );
    has(
        "schema",
        ".spec.rules[0].timeout",
        "in body must be of type integer: \"number\"",
    );
    has(
        "kyma",
        ".spec.timeout",
        "should be less than or equal to 3900",
    );
    has(
        "kyma",
        ".spec.rules[0].methods[1]",
        "Unsupported value: \"FETCH\"",
    );
    // The controller's checks run too, where the API server already refused the object.
    has("kyma", ".spec.hosts[0]", "(short host)");
    has("kyma", ".spec.rules[1]", "");
    // A complaint about a field removed for its type is not repeated as `Required value`.
    assert!(
        !errors.iter().any(|(_, p, _)| p == ".spec.service.port"
            && errors.iter().filter(|(_, q, _)| q == p).count() > 1),
        "{errors:#?}"
    );
    let hint = object["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == ".spec.servce")
        .unwrap()["hint"]
        .clone();
    assert_eq!(hint, "did you mean \"service\"?");
    assert_eq!(
        report["summary"],
        serde_json::json!({"objects": 1, "ready": 0, "error": 1, "ignored": 0, "inputErrors": 0})
    );
    assert_eq!(report["inputErrors"], serde_json::json!([]));
    // YAML carries the same document.
    let yaml = apirule(&["check", "--output", "yaml", file.to_str().unwrap()]);
    let from_yaml: serde_json::Value = serde_norway::from_slice(&yaml.stdout).unwrap();
    assert_eq!(from_yaml, report);
    // Text: each layer in its own words, Kyma's list as Kyma prints it.
    let text = stdout(&apirule(&["check", file.to_str().unwrap()]));
    assert!(text.contains("    strict decoding error: unknown field \"spec.servce\"\n        hint: did you mean \"service\"?"), "{text}");
    assert!(text.contains("    spec.service.port: Invalid value: \"string\": spec.service.port in body must be of type integer: \"string\""), "{text}");
    assert!(
        text.contains("    Validation errors: Attribute '"),
        "{text}"
    );
}

#[test]
fn unknown_fields_are_refused_as_kubectl_strict_validation_does() {
    let dir = common::scratch("cli-strict");
    let mut obj = v2_apirule("typo", serde_json::json!({}));
    obj["metadata"]["lables"] = serde_json::json!({"a": "b"});
    obj["spec"]["rules"][0]["noauth"] = serde_json::json!(true);
    let file = write_yaml(&dir, "typo.yaml", &[obj.clone()]);
    let f = file.to_str().unwrap();
    let out = apirule(&["check", f]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("strict decoding error: unknown field \"metadata.lables\"\n        hint: did you mean \"labels\"?"), "{text}");
    assert!(text.contains("strict decoding error: unknown field \"spec.rules[0].noauth\"\n        hint: did you mean \"noAuth\"?"), "{text}");
    // --validate=warn: kubectl's warning, the object is Ready; ignore: pruned silently.
    let out = apirule(&["check", "--validate=warn", f]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("): Ready\n    Warning: unknown field \"metadata.lables\""),
        "{}",
        stdout(&out)
    );
    let out = apirule(&["check", "--validate=ignore", f]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!stdout(&out).contains("unknown field"));
    // Inside a plugin configuration (a List in it), a warning: the configuration never went
    // through the API server, and the filter serves the object without the field.
    let plugin = dir.join("plugin.json");
    std::fs::write(
        &plugin,
        serde_json::json!({"apiRules": [{"apiVersion": "v1", "kind": "List", "items": [obj]}]})
            .to_string(),
    )
    .unwrap();
    let out = apirule(&["check", plugin.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("): Ready\n    Warning: unknown field \"metadata.lables\""),
        "{}",
        stdout(&out)
    );
    // What `kubectl get -o yaml` prints (status, managedFields, ...) is not unknown.
    let mut stored = v2_apirule("stored", serde_json::json!({}));
    stored["metadata"]["managedFields"] =
        serde_json::json!([{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]);
    stored["metadata"]["resourceVersion"] = serde_json::json!("123");
    stored["metadata"]["creationTimestamp"] = serde_json::json!("2026-01-01T00:00:00Z");
    stored["status"] =
        serde_json::json!({"state": "Ready", "lastProcessedTime": "2026-01-01T00:00:00Z"});
    let file = write_yaml(&dir, "stored.yaml", &[stored]);
    let out = apirule(&["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn hints_follow_kymas_messages() {
    let dir = common::scratch("cli-hints");
    // A short host without a domain: which flag, or which key in a plugin configuration.
    let short = common::fixture("invalid/v2-short-host-without-domain.yaml");
    let text = stdout(&apirule(&["check", short.to_str().unwrap()]));
    assert!(
        text.contains("Lowercase RFC 1123 label (short host) is only supported"),
        "{text}"
    );
    assert!(text.contains("hint: a short host is completed with the domain of the gateway's `*.DOMAIN` host: pass --default-domain DOMAIN"), "{text}");
    let obj: serde_json::Value =
        serde_norway::from_str(&std::fs::read_to_string(&short).unwrap()).unwrap();
    let plugin = dir.join("plugin.json");
    std::fs::write(&plugin, serde_json::json!({"apiRules": [obj]}).to_string()).unwrap();
    let text = stdout(&apirule(&["check", plugin.to_str().unwrap()]));
    assert!(
        text.contains("set \"defaultDomain\" in the plugin configuration"),
        "{text}"
    );
    // An occupied host: which APIRule holds it, from which file.
    let first = write_yaml(
        &dir,
        "first.yaml",
        &[v2_apirule(
            "one",
            serde_json::json!({"hosts": ["shared.example.com"]}),
        )],
    );
    let second = write_yaml(
        &dir,
        "second.yaml",
        &[v2_apirule(
            "two",
            serde_json::json!({"hosts": ["shared.example.com"]}),
        )],
    );
    let out = apirule(&[
        "check",
        "-o",
        "json",
        first.to_str().unwrap(),
        second.to_str().unwrap(),
    ]);
    let report = json_of(&out);
    let error = &report["objects"][1]["errors"][0];
    assert_eq!(
        error["message"],
        "Host is occupied by another Virtual Service"
    );
    assert_eq!(
        error["hint"].as_str().unwrap(),
        format!("shared.example.com is already exposed by APIRule test/one (from {}); a host belongs to one APIRule: add these rules to it, or choose another host", first.display())
    );
    // A path the pattern refuses: what a path may look like.
    let path = write_yaml(
        &dir,
        "path.yaml",
        &[v2_apirule(
            "path",
            serde_json::json!({"rules": [{"path": "/a b", "methods": ["GET"], "noAuth": true}]}),
        )],
    );
    let text = stdout(&apirule(&["check", path.to_str().unwrap()]));
    assert!(
        text.contains("hint: a v2 path is `/*`, or `/`-separated segments"),
        "{text}"
    );
    // The Istio handler's configuration under the Ory handler: which flag.
    let handlers = common::fixture("invalid/v1beta1-handlers.yaml");
    let text = stdout(&apirule(&[
        "check",
        "--default-domain",
        "x.dev",
        handlers.to_str().unwrap(),
    ]));
    assert!(text.contains("Configuration for authentications is not supported with Ory handler\n        hint: this is the Istio handler's configuration: pass --jwt-handler istio"), "{text}");
    // An undefined authorizer: where authorizers come from.
    let authz = write_yaml(
        &dir,
        "authz.yaml",
        &[v2_apirule(
            "authz",
            serde_json::json!({"rules": [{"path": "/x", "methods": ["GET"], "extAuth": {"authorizers": ["nope"]}}]}),
        )],
    );
    let text = stdout(&apirule(&["check", authz.to_str().unwrap()]));
    assert!(
        text.contains("hint: authorizers are Istio's extensionProviders: add the mesh ConfigMap"),
        "{text}"
    );
}

#[test]
fn summary_and_quiet() {
    let dir = common::scratch("cli-quiet");
    let many: Vec<serde_json::Value> = (0..30)
        .map(|i| v2_apirule(&format!("r{i}"), serde_json::json!({})))
        .collect();
    let good = write_yaml(&dir, "many.yaml", &many);
    let bad = write_yaml(
        &dir,
        "bad.yaml",
        &[v2_apirule("bad", serde_json::json!({"timeout": 0}))],
    );
    let (good, bad) = (good.to_str().unwrap(), bad.to_str().unwrap());
    let text = stdout(&apirule(&["check", good, bad]));
    assert_eq!(
        text.lines().last(),
        Some("31 objects checked: 30 Ready, 1 Error"),
        "{text}"
    );
    // --quiet: only what is not Ready, no summary; nothing at all when everything is.
    let out = apirule(&["check", "-q", good, bad]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "test/bad (gateway.kyma-project.io/v2 APIRule): Error\n    Validation errors: Attribute '.spec.timeout': Invalid value: 0: should be greater than or equal to 1\n"
    );
    let out = apirule(&["check", "--quiet", good]);
    assert_eq!((out.status.code(), stdout(&out).as_str()), (Some(0), ""));
}

#[test]
fn explain_as_json_yaml_and_quiet() {
    let envoy_yaml = common::repo().join("envoy/envoy.yaml");
    let f = envoy_yaml.to_str().unwrap();
    let allowed = apirule(&[
        "explain",
        "-f",
        f,
        "-o",
        "json",
        "--request",
        "GET http://httpbin.local.kyma.dev/headers",
    ]);
    assert_eq!(allowed.status.code(), Some(0));
    let v = json_of(&allowed);
    assert_eq!(
        (v["decision"].as_str(), v["status"].as_u64()),
        (Some("allow"), None)
    );
    assert!(
        v["steps"].as_array().unwrap().iter().any(|s| s
            .as_str()
            .unwrap()
            .trim()
            .starts_with("rule[0] /headers")),
        "{v}"
    );
    let denied = apirule(&[
        "explain",
        "--rules",
        f,
        "--output=yaml",
        "--request",
        "GET http://nowhere.dev/",
    ]);
    assert_eq!(denied.status.code(), Some(1));
    let v: serde_json::Value = serde_norway::from_slice(&denied.stdout).unwrap();
    assert_eq!(
        (v["decision"].as_str(), v["status"].as_u64()),
        (Some("deny"), Some(404))
    );
    assert_eq!(v["detail"], "404 (no route)");
    let quiet = apirule(&[
        "explain",
        "-q",
        "--rules",
        f,
        "--request",
        "GET http://nowhere.dev/",
    ]);
    assert_eq!(stdout(&quiet), "decision: 404 (no route)\n");
}

/// Inputs a real user has: Lists with other kinds or none, YAML merge keys, a key given twice,
/// a byte-order mark, a broken List next to good files, a symlink loop under `-R`.
#[test]
fn inputs_as_kubectl_reads_them() {
    let dir = common::scratch("cli-yaml");
    let good = write_yaml(
        &dir,
        "good.yaml",
        &[v2_apirule("good", serde_json::json!({}))],
    );
    let good = good.to_str().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    };
    // A broken List is an error of its file; the other inputs are still checked.
    for broken in ["items: 7", "items: [1]"] {
        let list = write(
            "list.yaml",
            &format!("apiVersion: v1\nkind: List\n{broken}\n"),
        );
        let out = apirule(&["check", good, &list]);
        assert_eq!(out.status.code(), Some(2), "{broken}");
        assert!(
            stdout(&out).contains("test/good (gateway.kyma-project.io/v2 APIRule): Ready"),
            "{broken}: {}",
            stdout(&out)
        );
        assert!(
            stderr(&out).contains("list.yaml: List: items"),
            "{}",
            stderr(&out)
        );
    }
    // `items: null` is an empty List; other kinds in a List are skipped, as single objects are.
    let empty = write("empty.yaml", "apiVersion: v1\nkind: List\nitems:\n");
    assert_eq!(apirule(&["check", good, &empty]).status.code(), Some(0));
    let mut list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "httpbin"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {}},
        v2_apirule("listed", serde_json::json!({}))]});
    let mixed = write("mixed.json", &list.to_string());
    let out = apirule(&["check", "-o", "json", &mixed]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(json_of(&out)["summary"]["objects"], 1);
    // YAML merge keys are applied; a key twice in one mapping is refused, naming it.
    let merged = write(
        "merge.yaml",
        "apiVersion: gateway.kyma-project.io/v2\nkind: APIRule\nmetadata: {name: merged, namespace: test}\n\
         spec:\n  hosts: [merged.example.com]\n  gateway: kyma-system/kyma-gateway\n  service: {name: s, port: 80}\n\
         \x20 rules:\n    - &base {path: /headers, methods: [GET], noAuth: true}\n    - <<: *base\n      path: /ip\n",
    );
    let out = apirule(&["check", &merged]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let twice = write(
        "twice.yaml",
        "apiVersion: gateway.kyma-project.io/v2\nkind: APIRule\nmetadata: {name: twice}\nspec:\n  hosts: [a.example.com]\n  hosts: [b.example.com]\n",
    );
    let out = apirule(&["check", good, &twice]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("duplicate entry with key \"hosts\""),
        "{}",
        stderr(&out)
    );
    // A byte-order mark is not part of the first key.
    let bom = write(
        "bom.yaml",
        &format!("\u{feff}{}", std::fs::read_to_string(good).unwrap()),
    );
    assert_eq!(apirule(&["check", &bom]).status.code(), Some(0));
    // -R does not follow a symbolic link to a directory (which could loop).
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::copy(good, tree.join("sub/good.yaml")).unwrap();
    std::os::unix::fs::symlink("..", tree.join("sub/loop")).unwrap();
    let out = apirule(&["check", "-o", "json", "-R", tree.to_str().unwrap()]);
    assert_eq!(json_of(&out)["summary"]["objects"], 1, "{}", stdout(&out));
    // Inputs are read in the order named, arguments and -f alike.
    list["items"] = serde_json::json!([v2_apirule(
        "first",
        serde_json::json!({"hosts": ["same.example.com"]})
    )]);
    let first = write("first.json", &list.to_string());
    list["items"] = serde_json::json!([v2_apirule(
        "second",
        serde_json::json!({"hosts": ["same.example.com"]})
    )]);
    let second = write("second.json", &list.to_string());
    let order = |args: &[&str]| -> Vec<String> {
        json_of(&apirule(args))["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                format!(
                    "{} {}",
                    o["name"].as_str().unwrap(),
                    o["status"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(
        order(&["check", "-o", "json", &second, "-f", &first]),
        ["second Ready", "first Error"]
    );
    assert_eq!(
        order(&["check", "-o", "json", "-f", &first, &second]),
        ["first Ready", "second Error"]
    );
}

/// What the API server refuses for its own reasons, reported at once and in its words, without
/// follow-on errors from the value set aside.
#[test]
fn api_server_refusals_without_follow_on_errors() {
    let dir = common::scratch("cli-refusals");
    let check = |name: &str, spec: serde_json::Value| -> Vec<(String, String)> {
        let file = write_yaml(&dir, &format!("{name}.yaml"), &[v2_apirule(name, spec)]);
        let out = apirule(&["check", "-o", "json", file.to_str().unwrap()]);
        json_of(&out)["objects"][0]["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["path"].as_str().unwrap().to_owned(),
                    e["message"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    // Integers the core cannot hold, next to the object's other errors.
    let errors = check(
        "ranges",
        serde_json::json!({"service": {"name": "s", "port": -1}, "timeout": 5_000_000_000u64,
        "rules": [{"path": "/a", "methods": ["GET"], "noAuth": true},
                  {"path": "/b", "methods": [], "noAuth": true}]}),
    );
    assert!(
        errors.contains(&(
            ".spec.service.port".into(),
            "Invalid value: -1: spec.service.port in body should be greater than or equal to 1"
                .into()
        )),
        "{errors:#?}"
    );
    assert!(
        errors.contains(&(
            ".spec.timeout".into(),
            "Invalid value: 5000000000: spec.timeout in body should be less than or equal to 3900"
                .into()
        )),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|(p, m)| p == ".spec.rules[1].methods" && m == "should have at least 1 items"),
        "{errors:#?}"
    );
    // A wrong-typed value stands aside: only its own error, not one per place that uses it.
    for (spec, path) in [
        (serde_json::json!({"service": "httpbin"}), ".spec.service"),
        (serde_json::json!({"gateway": 5}), ".spec.gateway"),
        (
            serde_json::json!({"rules": [{"path": "/x", "methods": ["GET"], "noAuth": "true"}]}),
            ".spec.rules[0].noAuth",
        ),
    ] {
        let errors = check("typed", spec.clone());
        assert_eq!(errors.len(), 1, "{spec}: {errors:#?}");
        assert_eq!(errors[0].0, path);
        assert!(
            errors[0].1.contains("in body must be of type"),
            "{errors:#?}"
        );
    }
    // Names the API server refuses.
    let mut obj = v2_apirule("x", serde_json::json!({}));
    obj["metadata"] = serde_json::json!({"name": "My_Rule", "namespace": "Test_NS"});
    let file = write_yaml(&dir, "names.yaml", &[obj.clone()]);
    let text = stdout(&apirule(&["check", file.to_str().unwrap()]));
    assert!(text.contains("    metadata.name: Invalid value: \"My_Rule\": a lowercase RFC 1123 subdomain must consist of"), "{text}");
    assert!(text.contains("    metadata.namespace: Invalid value: \"Test_NS\": a lowercase RFC 1123 label must consist of"), "{text}");
    obj["metadata"] = serde_json::json!({"namespace": "test"});
    let file = write_yaml(&dir, "unnamed.yaml", &[obj]);
    let text = stdout(&apirule(&["check", file.to_str().unwrap()]));
    assert!(
        text.contains("metadata.name: Required value: name or generateName is required"),
        "{text}"
    );
}

#[test]
fn flags_as_kubectl_spells_them() {
    let dir = common::scratch("cli-flags");
    let mut obj = v2_apirule("typo", serde_json::json!({}));
    obj["spec"]["servce"] = serde_json::json!({});
    let file = write_yaml(&dir, "typo.yaml", &[obj]);
    let f = file.to_str().unwrap();
    // kubectl's --validate: true is strict, false is ignore, the bare flag is strict.
    assert_eq!(
        apirule(&["check", "--validate=false", f]).status.code(),
        Some(0)
    );
    assert_eq!(
        apirule(&["check", "--validate=true", f]).status.code(),
        Some(1)
    );
    assert_eq!(apirule(&["check", "--validate", f]).status.code(), Some(1));
    // An empty value is a usage error, not an empty domain or gateway.
    assert_eq!(apirule(&["check", "--gateway=", f]).status.code(), Some(2));
    assert_eq!(
        apirule(&["check", "--default-domain=", f]).status.code(),
        Some(2)
    );
}

/// `| head` closes the pipe early: the tool stops quietly, never with a panic.
#[test]
fn a_closed_pipe_is_not_a_panic() {
    let dir = common::scratch("cli-pipe");
    let many: Vec<serde_json::Value> = (0..2000)
        .map(|i| v2_apirule(&format!("r{i}"), serde_json::json!({})))
        .collect();
    let file = write_yaml(&dir, "many.yaml", &many);
    for args in [
        &["check", "-o", "json", file.to_str().unwrap()][..],
        &["completion", "bash"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_apirule"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert!(
            !stderr(&out).contains("panicked"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert_ne!(out.status.code(), Some(101), "{args:?}");
    }
}

#[test]
fn hints_know_the_inputs() {
    let dir = common::scratch("cli-hints-inputs");
    // Authorizers given, but not the one the rule names: say which there are.
    let ext = write_yaml(
        &dir,
        "ext.yaml",
        &[v2_apirule(
            "ext",
            serde_json::json!({"rules": [{"path": "/x", "methods": ["GET"], "extAuth": {"authorizers": ["nope"]}}]}),
        )],
    );
    let mesh = common::fixture("istio-mesh.yaml");
    let text = stdout(&apirule(&[
        "check",
        ext.to_str().unwrap(),
        mesh.to_str().unwrap(),
    ]));
    assert!(
        text.contains("hint: the mesh config given defines the authorizers "),
        "{text}"
    );
    // A mesh ConfigMap whose mesh text is not YAML is an input error, not silently nothing.
    let broken = dir.join("mesh.yaml");
    std::fs::write(&broken, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\ndata:\n  mesh: \"a: [\"\n").unwrap();
    let out = apirule(&["check", ext.to_str().unwrap(), broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("ConfigMap data.mesh is not YAML"),
        "{}",
        stderr(&out)
    );
}

/// A RateLimit bucket keyed on a pseudo-header (`:method`) is picked by `explain` as the filter
/// picks it in Envoy, whose header map holds pseudo-headers: `explain` read only the header list
/// and fell back to the default bucket.
#[test]
fn explain_picks_a_bucket_keyed_on_a_pseudo_header() {
    let dir = common::scratch("explain-pseudo");
    let plugin = dir.join("plugin.json");
    std::fs::write(
        &plugin,
        serde_json::json!({
            "apiRules": [{
                "apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
                "metadata": {"name": "httpbin", "namespace": "default"},
                "spec": {"hosts": ["httpbin.local.kyma.dev"], "gateway": "kyma-system/kyma-gateway",
                         "service": {"name": "httpbin", "port": 8000},
                         "rules": [{"path": "/anything/{**}", "methods": ["GET", "POST"], "noAuth": true}]}
            }],
            "rateLimits": [{
                "apiVersion": "gateway.kyma-project.io/v1alpha1", "kind": "RateLimit",
                "metadata": {"name": "gateway", "namespace": "istio-system"},
                "spec": {"selectorLabels": {"app": "istio-ingressgateway"},
                         "local": {"defaultBucket": {"maxTokens": 100, "tokensPerFill": 100, "fillInterval": "1s"},
                                   "buckets": [{"headers": {":method": "POST"},
                                                "bucket": {"maxTokens": 2, "tokensPerFill": 1, "fillInterval": "1s"}}]}}
            }]
        })
        .to_string(),
    )
    .unwrap();
    let explain = |line: &str| {
        let out = apirule(&[
            "explain",
            "--rules",
            plugin.to_str().unwrap(),
            "--request",
            line,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
        stdout(&out)
    };
    let post = explain("POST http://httpbin.local.kyma.dev/anything/a");
    assert!(
        post.contains("rate limit istio-system/gateway: local.buckets[0] (2 tokens"),
        "{post}"
    );
    let get = explain("GET http://httpbin.local.kyma.dev/anything/a");
    assert!(
        get.contains("rate limit istio-system/gateway: defaultBucket (100 tokens"),
        "{get}"
    );
}
