//! `apirule render` and `wasm-plugin.yaml`: Istio objects valid against Istio's CRD schemas, and a
//! rendered Envoy bootstrap that Envoy accepts and that serves APIRules.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

fn apirule(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_apirule"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// tests/crd_validate.py with CRDs from tests/crds: every object valid, or the test fails.
fn crd_validate(crds: &[&str], objects: &std::path::Path) -> String {
    crd_validate_all(crds, &[objects.to_path_buf()])
}

fn crd_validate_all(crds: &[&str], objects: &[std::path::PathBuf]) -> String {
    let mut cmd = Command::new(repo().join(".venv/bin/python"));
    cmd.arg(repo().join("tests/crd_validate.py"));
    for c in crds {
        cmd.arg(crd(c));
    }
    let out = cmd.arg("--").args(objects).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn istio_rendering_and_the_shipped_wasm_plugin_match_the_crds() {
    let files: Vec<String> = [
        "apirules/v2-noauth-catch-all.yaml",
        "apirules/v2-short-host-three-rules.yaml",
        "apirules/v2-short-host.yaml",
        "apirules/v2-rule-level-service.yaml",
        "invalid/v2-placeholder-host.yaml",
    ]
    .iter()
    .map(|f| fixture(f).to_string_lossy().into_owned())
    .collect();
    let mut args = vec![
        "render",
        "--istio",
        "--image",
        "oci://registry.example.com/apirule-wasm:0.1.0",
        "--default-domain",
        "local.kyma.dev",
    ];
    args.extend(files.iter().map(String::as_str));
    let (code, yaml, err) = apirule(&args);
    assert_eq!(
        code, 1,
        "docs-tls has a placeholder host and is left out: {err}"
    );
    assert!(err.contains("docs/docs-tls is not rendered"), "{err}");
    let dir = scratch("render");
    let path = dir.join("istio.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let report = crd_validate(
        &["istio-wasmplugins.yaml", "istio-virtualservices.yaml"],
        &path,
    );
    assert!(report.contains("valid WasmPlugin apirule-wasm"), "{report}");
    assert!(report.contains("5 objects valid"), "{report}");

    // What the VirtualService says: routes in rule order, methods, timeouts, destinations.
    let docs: Vec<Value> = yaml_documents(&path);
    let vs = docs
        .iter()
        .find(|d| d["kind"] == "VirtualService" && d["metadata"]["name"] == "orders")
        .unwrap();
    assert_eq!(vs["metadata"]["namespace"], "shop");
    assert_eq!(vs["spec"]["hosts"][0], "orders.local.kyma.dev");
    assert_eq!(vs["spec"]["gateways"][0], "kyma-system/kyma-gateway");
    let http = vs["spec"]["http"].as_array().unwrap();
    assert_eq!(http.len(), 3);
    assert_eq!(http[0]["match"][0]["uri"]["regex"], "^/anything$");
    assert_eq!(http[0]["match"][0]["method"]["regex"], "^(POST|PATCH)$");
    assert_eq!(http[1]["match"][0]["method"]["regex"], "^(HEAD)$");
    assert_eq!(
        http[2]["route"][0]["destination"]["host"],
        "orders.shop.svc.cluster.local"
    );
    assert_eq!(http[2]["timeout"], "180s");
    // Kyma's `x-forwarded-host` on every route, so the filter leaves it to them.
    assert_eq!(
        http[2]["headers"]["request"]["set"]["x-forwarded-host"],
        "orders.local.kyma.dev"
    );
    let plugin = docs.iter().find(|d| d["kind"] == "WasmPlugin").unwrap();
    assert_eq!(
        plugin["spec"]["pluginConfig"]["routesSetUpstreamHeaders"],
        true
    );
    let catalog = docs
        .iter()
        .find(|d| d["metadata"]["name"] == "catalog")
        .unwrap();
    let route = &catalog["spec"]["http"][0];
    assert_eq!(route["match"][0]["uri"]["prefix"], "/");
    assert_eq!(route["timeout"], "420s");
    assert_eq!(
        route["route"][0]["destination"],
        serde_json::json!({"host": "catalog-web.storefront.svc.cluster.local", "port": {"number": 8080}})
    );
    // A rule-level service routes its rule elsewhere; the others keep the APIRule's service.
    let portal = docs
        .iter()
        .find(|d| d["metadata"]["name"] == "portal")
        .unwrap();
    assert_eq!(portal["spec"]["hosts"][0], "portal.local.kyma.dev");
    let destinations: Vec<&Value> = portal["spec"]["http"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["route"][0]["destination"])
        .collect();
    assert_eq!(
        destinations,
        [
            &serde_json::json!({"host": "portal-web.web.svc.cluster.local", "port": {"number": 8000}}),
            &serde_json::json!({"host": "portal-api.backend.svc.cluster.local", "port": {"number": 9090}}),
        ]
    );
    let wp = &docs[0];
    assert_eq!(wp["spec"]["phase"], "AUTHN");
    assert_eq!(wp["spec"]["failStrategy"], "FAIL_RELOAD");
    // The invalid APIRule is left out of the pluginConfig as it is of the routes, reported once.
    let served: Vec<&str> = wp["spec"]["pluginConfig"]["apiRules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(served, ["catalog", "orders", "inventory", "portal"]);
    assert_eq!(err.matches("docs-tls").count(), 1, "{err}");
    for (name, ns) in docs
        .iter()
        .skip(1)
        .map(|d| (&d["metadata"]["name"], &d["metadata"]["namespace"]))
    {
        assert!(ns.is_string(), "{name} has a namespace");
    }
    let nameless: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("no metadata.namespace"))
        .collect();
    assert!(
        !nameless.is_empty()
            && nameless
                .iter()
                .all(|l| l.contains("rendered in namespace \"default\"")),
        "catalog has no namespace: {err}"
    );

    // The image is required, and a checksum must be the 64 hex digits the CRD allows.
    let one = fixture("apirules/v2-noauth-catch-all.yaml");
    let one = one.to_str().unwrap();
    let (code, _, err) = apirule(&["render", "--istio", "--default-domain", "d.example", one]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("render --istio needs --image"), "{err}");
    let image = "oci://registry.example.com/apirule-wasm:0.1.0";
    for bad in [
        "abc",
        &"A".repeat(64),
        &format!("sha256:{}", "a".repeat(64)),
    ] {
        let (code, _, err) =
            apirule(&["render", "--istio", "--image", image, "--sha256", bad, one]);
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(err.contains("expected 64 lower-case hex digits"), "{err}");
    }
    let good = "0123456789abcdef".repeat(4);
    let (code, yaml, err) = apirule(&[
        "render",
        "--istio",
        "--image",
        image,
        "--sha256",
        &good,
        "--default-domain",
        "d.example",
        one,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(yaml.contains(&format!("sha256: {good}")), "{yaml}");

    // The shipped wasm-plugin.yaml: valid for Istio, and its APIRules and RateLimit are Ready.
    let shipped = repo().join("wasm-plugin.yaml");
    let report = crd_validate(&["istio-wasmplugins.yaml"], &shipped);
    assert!(report.contains("valid WasmPlugin apirule-wasm"), "{report}");
    // Its APIRules and RateLimits, as objects, are what Kyma's CRDs (the API server) accept.
    let docs = yaml_documents(&shipped);
    let plugin = &docs[0]["spec"]["pluginConfig"];
    let objects: Vec<&Value> = ["apiRules", "rateLimits"]
        .iter()
        .flat_map(|k| plugin[k].as_array().unwrap())
        .collect();
    let embedded = scratch("shipped").join("objects.yaml");
    let yaml: Vec<String> = objects
        .iter()
        .map(|o| serde_norway::to_string(o).unwrap())
        .collect();
    std::fs::write(&embedded, yaml.join("---\n")).unwrap();
    let report = crd_validate(&["kyma-apirules.yaml", "kyma-ratelimits.yaml"], &embedded);
    assert!(
        report.contains(&format!("{} objects valid", objects.len())) && !report.contains("skipped"),
        "{report}"
    );
    let (code, out, _) = apirule(&["check", shipped.to_str().unwrap()]);
    assert_eq!(
        (code, out.trim()),
        (
            0,
            "default/httpbin (gateway.kyma-project.io/v2 APIRule): Ready\n\
             istio-system/gateway (gateway.kyma-project.io/v1alpha1 RateLimit): Ready\n\
             2 objects checked: 2 Ready, 0 Error"
        )
    );
}

/// The APIRule fixtures `apirule check` calls Ready are also what the API server accepts: valid
/// against Kyma's CRD (its OpenAPI schema; the CEL rules are `apirule check`'s part).
#[test]
fn fixture_apirules_match_kymas_crd() {
    let dir = repo().join("tests/fixtures/apirules");
    let files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let report = crd_validate_all(&["kyma-apirules.yaml"], &files);
    assert!(
        report.contains(&format!("{} objects valid", files.len())) && !report.contains("skipped"),
        "{report}"
    );
}

/// The head of an APIRule `shop.example.com` for the service `shop.prod`; its rules follow.
const SHOP: &str = "apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {name: shop, namespace: prod}
spec:
  hosts: [shop.example.com]
  gateway: kyma-system/kyma-gateway
  service: {name: shop, namespace: prod, port: 8080}
  rules:
";

/// `apirule render --envoy` of `apirules` (YAML) with the service `shop.prod` at `upstream` on
/// loopback, and `args` besides: the rendered YAML, parsed too.
fn render_envoy(
    dir: &std::path::Path,
    apirules: &str,
    upstream: u16,
    args: &[&str],
) -> (String, Value) {
    let rules = dir.join("apirules.yaml");
    std::fs::write(&rules, apirules).unwrap();
    let service = format!("shop.prod=127.0.0.1:{upstream}");
    let wasm = wasm_path();
    let mut all = vec![
        "render",
        "--envoy",
        "--wasm",
        wasm.to_str().unwrap(),
        "--service",
        &service,
    ];
    all.extend_from_slice(args);
    all.push(rules.to_str().unwrap());
    let (code, yaml, err) = apirule(&all);
    assert_eq!(code, 0, "{err}");
    let parsed =
        serde_json::to_value(serde_norway::from_str::<serde_norway::Value>(&yaml).unwrap())
            .unwrap();
    (yaml, parsed)
}

#[test]
fn rendered_envoy_bootstrap_serves_the_apirules() {
    let upstream = Upstream::start();
    let dir = scratch("render-envoy");
    let (port, admin) = (free_port(), free_port());
    let (yaml, cfg) = render_envoy(
        &dir,
        &(SHOP.to_owned()
            + "    - {path: '/anything/orders/{*}', methods: [GET], noAuth: true}
    - {path: '/delay/{*}', methods: [GET], noAuth: true, timeout: 1}
    - {path: /anything/admin, methods: [GET], jwt: {authentications: [{issuer: 'https://idp.example.com', jwksUri: 'https://idp.example.com/certs'}]}}
"
        ),
        upstream.port,
        &[
            "--port",
            &port.to_string(),
            "--admin-port",
            &admin.to_string(),
        ],
    );
    let path = dir.join("envoy.yaml");
    std::fs::write(&path, &yaml).unwrap();
    assert_envoy_validates(&path);

    // The JWKS cluster is there under the name the filter uses, with TLS for https.
    let clusters = cfg["static_resources"]["clusters"].as_array().unwrap();
    let idp = clusters
        .iter()
        .find(|c| c["name"] == "outbound|443||idp.example.com")
        .unwrap();
    assert_eq!(
        idp["transport_socket"]["typed_config"]["sni"],
        "idp.example.com"
    );

    let envoy = Envoy::start_raw(port, admin, &cfg, 1);
    let host = "shop.example.com";
    assert_eq!(envoy.get(host, "/anything/orders/42").status, 200);
    assert_eq!(
        envoy
            .get(&format!("{host}:{port}"), "/anything/orders/42")
            .status,
        200,
        "host port ignored"
    );
    assert_eq!(envoy.get(host, "/anything/orders/").status, 404);
    assert_eq!(
        envoy
            .send("POST", host, "/anything/orders/42", &[], "")
            .status,
        404
    );
    assert_eq!(envoy.get(host, "/anything/admin").status, 403);
    assert_eq!(
        envoy.get(host, "/delay/3").status,
        504,
        "the rule's timeout on the route"
    );
}

/// `render --envoy` verifies https servers: an identity provider behind TLS on loopback, with a
/// certificate from a test CA, is trusted with `--ca-file` and refused without it (the system
/// bundle does not know that CA): fail closed, with a log line that says why.
#[test]
fn rendered_https_clusters_verify_the_server() {
    let upstream = Upstream::start();
    let idp = Idp::start(300);
    let dir = scratch("render-tls");
    let (ca, cert, key) = test_ca(&dir);
    let front = TlsFront::start(&cert, &key, &idp.issuer());
    let rules = dir.join("apirules.yaml");
    std::fs::write(
        &rules,
        format!(
            "apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {{name: shop, namespace: prod}}
spec:
  hosts: [shop.example.com]
  gateway: kyma-system/kyma-gateway
  service: {{name: shop, namespace: prod, port: 8080}}
  rules:
    - {{path: /headers, methods: [GET], jwt: {{authentications: [{{issuer: '{}', jwksUri: 'https://localhost:{}/jwks'}}]}}}}
",
            idp.issuer(),
            front.port
        ),
    )
    .unwrap();
    let token = idp.token("rs256", "read");
    let serve = |extra: &[&str]| {
        let (port, admin) = (free_port(), free_port());
        let service = format!("shop.prod=127.0.0.1:{}", upstream.port);
        let wasm = wasm_path();
        let mut args = vec![
            "render",
            "--envoy",
            "--wasm",
            wasm.to_str().unwrap(),
            "--service",
            &service,
        ];
        let (p, a) = (port.to_string(), admin.to_string());
        args.extend(["--port", &p, "--admin-port", &a]);
        args.extend(extra);
        args.push(rules.to_str().unwrap());
        let (code, yaml, err) = apirule(&args);
        assert_eq!(code, 0, "{err}");
        let cfg: Value =
            serde_json::to_value(serde_norway::from_str::<serde_norway::Value>(&yaml).unwrap())
                .unwrap();
        let envoy = Envoy::start_raw(port, admin, &cfg, 1);
        let auth = format!("Bearer {token}");
        let r = envoy.send(
            "GET",
            "shop.example.com",
            "/headers",
            &[("Authorization", &auth)],
            "",
        );
        (cfg, envoy, r)
    };

    // With the test CA: the chain and the name check out, the keys arrive, the token passes.
    let (cfg, _envoy, r) = serve(&["--ca-file", ca.to_str().unwrap()]);
    assert_eq!(r.status, 200, "{}", r.body);
    let cluster = cfg["static_resources"]["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == format!("outbound|{}||localhost", front.port))
        .unwrap()
        .clone();
    let tls = &cluster["transport_socket"]["typed_config"];
    assert_eq!(tls["sni"], "localhost");
    let validation = &tls["common_tls_context"]["validation_context"];
    assert_eq!(
        validation["match_typed_subject_alt_names"][0]["matcher"]["exact"],
        "localhost"
    );
    assert!(validation["trusted_ca"]["inline_string"]
        .as_str()
        .unwrap()
        .contains(&std::fs::read_to_string(&ca).unwrap()));

    // Without it: the system bundle by reference, which does not know the test CA. The fetch is
    // refused, the request fails closed, and the log says what to check.
    let (cfg, envoy, r) = serve(&[]);
    let bundle = cfg["static_resources"]["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|c| {
            c["transport_socket"]["typed_config"]["common_tls_context"]["validation_context"]
                ["trusted_ca"]["filename"]
                .as_str()
                .map(str::to_owned)
        });
    assert_eq!(
        bundle.as_deref(),
        Some("/etc/ssl/certs/ca-certificates.crt")
    );
    assert_eq!(r.status, 401, "{}", r.body);
    let log = envoy.log();
    assert!(
        log.contains(&format!(
            "JWKS https://localhost:{}/jwks fetch failed: status 503",
            front.port
        )) && log.contains("a TLS refusal: does the cluster trust the server's CA"),
        "the log names the TLS refusal:\n{log}"
    );
}

/// Many APIRules in one WasmPlugin: `render --istio` says when the object nears client-side
/// `kubectl apply`'s 256 KiB annotation, and `--compact` puts the APIRules gzip-compressed in
/// `pluginConfig.apiRulesGzip`, which the filter reads (here through Envoy, all 800 served).
#[test]
fn many_apirules_render_compact_and_serve() {
    let dir = scratch("render-many");
    let rules = dir.join("many.yaml");
    let docs: Vec<String> = (0..800)
        .map(|i| {
            format!(
                "apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {{name: app-{i}, namespace: team-{}}}
spec:
  hosts: [app-{i}.apps.example.com]
  gateway: kyma-system/kyma-gateway
  service: {{name: app-{i}, port: 8080}}
  rules:
    - {{path: /headers, methods: [GET], noAuth: true}}
    - {{path: '/api/{{**}}', methods: [GET, POST], jwt: {{authentications: [{{issuer: 'https://idp.example.com', jwksUri: 'https://idp.example.com/certs'}}]}}}}
",
                i % 7
            )
        })
        .collect();
    std::fs::write(&rules, docs.join("---\n")).unwrap();
    let image = "oci://registry.example.com/kyma/apirule-wasm:0.1.0";
    let path = rules.to_str().unwrap();
    let (code, plain, err) = apirule(&["render", "--istio", "--image", image, path]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("client-side `kubectl apply` keeps a copy in the last-applied-configuration annotation, limited to 256 KiB")
            && err.contains("--compact"),
        "{err}"
    );
    let (code, compact, err) = apirule(&["render", "--istio", "--image", image, "--compact", path]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("256 KiB"), "{err}");
    let first = |yaml: &str| -> Value {
        let doc = yaml.split("\n---\n").next().unwrap();
        serde_json::to_value(serde_norway::from_str::<serde_norway::Value>(doc).unwrap()).unwrap()
    };
    let (plain, compact) = (first(&plain), first(&compact));
    let size = |v: &Value| serde_json::to_vec(v).unwrap().len();
    assert!(
        size(&compact) * 5 < size(&plain),
        "{} vs {}",
        size(&compact),
        size(&plain)
    );
    let plugin = &compact["spec"]["pluginConfig"];
    assert!(plugin["apiRules"].is_null() && plugin["apiRulesGzip"].is_string());
    let out = dir.join("compact.yaml");
    std::fs::write(&out, serde_norway::to_string(&compact).unwrap()).unwrap();
    crd_validate(&["istio-wasmplugins.yaml"], &out);
    // `apirule check` reads the compact form too.
    let (code, text, err) = apirule(&["check", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(text.lines().filter(|l| l.ends_with(": Ready")).count(), 800);

    // The filter reads the compact form: every APIRule is served.
    let upstream = Upstream::start();
    let envoy = Envoy::start(&upstream, &plugin.to_string());
    for i in [0, 399, 799] {
        let r = envoy.get(&format!("app-{i}.apps.example.com"), "/headers");
        assert_eq!(r.status, 200, "app-{i}: {}", r.body);
    }
    assert!(
        envoy.log().contains("serving 800 APIRules"),
        "{}",
        envoy.log()
    );
}

/// Issue 15: the gateway as the only way in. Kyma's v2 AuthorizationPolicies let only the ingress
/// gateway's identity call an exposed workload; `render --istio` writes one ALLOW policy per
/// exposed service, on the pods its Service selects (from `kubectl get svc -A -o json`, or
/// `--service-selector`), valid for Istio's CRD. A service it has no selector for gets none, and
/// a note.
#[test]
fn rendered_authorization_policies_admit_only_the_gateway() {
    let dir = scratch("gateway-only");
    let apirule_doc = |name: &str, ns: &str, svc: &str, rule_svc: Option<&str>| {
        let mut rule = serde_json::json!({"path": "/*", "methods": ["GET"], "noAuth": true});
        if let Some(s) = rule_svc {
            rule["service"] = serde_json::json!({"name": s, "port": 80});
        }
        serde_json::json!({"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"hosts": [format!("{name}.example.com")], "gateway": "kyma-system/kyma-gateway",
                     "service": {"name": svc, "port": 8000},
                     "rules": [{"path": "/admin", "methods": ["GET"], "noAuth": true}, rule]}})
    };
    let rules = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [
        apirule_doc("shop", "web", "shop", Some("shop-static")),
        apirule_doc("billing", "fin", "billing", None),
        apirule_doc("legacy", "old", "legacy", None),
    ]});
    // `kubectl get svc -A -o json`: a List of Services; `legacy` is not among them.
    let services = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "shop", "namespace": "web"},
         "spec": {"selector": {"app": "shop", "tier": "front"}, "ports": [{"port": 8000}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "billing", "namespace": "fin"},
         "spec": {"selector": {"app": "billing"}, "ports": [{"port": 8000}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "unrelated", "namespace": "fin"},
         "spec": {"selector": {"app": "other"}}},
    ]});
    let (rf, sf) = (dir.join("apirules.json"), dir.join("services.json"));
    std::fs::write(&rf, rules.to_string()).unwrap();
    std::fs::write(&sf, services.to_string()).unwrap();
    let (code, yaml, err) = apirule(&[
        "render",
        "--istio",
        "--image",
        "oci://registry.example.com/apirule-wasm:0.1.0",
        "--service-selector",
        "shop-static.web=app=static,tier=front",
        rf.to_str().unwrap(),
        sf.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("note: service legacy.old (exposed by old/legacy): no Service object or --service-selector given"),
        "{err}"
    );
    let path = dir.join("istio.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let report = crd_validate(
        &[
            "istio-wasmplugins.yaml",
            "istio-virtualservices.yaml",
            "istio-authorizationpolicies.yaml",
        ],
        &path,
    );
    assert!(report.contains("7 objects valid"), "{report}");
    let docs: Vec<Value> = yaml_documents(&path);
    let policies: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == "AuthorizationPolicy")
        .collect();
    let names: Vec<String> = policies
        .iter()
        .map(|p| {
            format!(
                "{}/{}",
                p["metadata"]["namespace"].as_str().unwrap(),
                p["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            "fin/billing-gateway-only",
            "web/shop-static-gateway-only",
            "web/shop-gateway-only"
        ]
    );
    let shop = policies[2];
    assert_eq!(shop["apiVersion"], "security.istio.io/v1");
    assert_eq!(
        shop["spec"],
        serde_json::json!({"selector": {"matchLabels": {"app": "shop", "tier": "front"}},
            "action": "ALLOW",
            "rules": [{"from": [{"source": {"principals":
                ["cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"]}}]}]})
    );
    assert_eq!(
        policies[1]["spec"]["selector"]["matchLabels"],
        serde_json::json!({"app": "static", "tier": "front"})
    );
}

/// `render` sets `routesSetUpstreamHeaders` and writes `x-forwarded-host` on the routes, as
/// Kyma's VirtualService does, with the timeout the routes had already. A differential test: the
/// same rendered bootstrap with the key turned off (the filter writes both headers) must show the
/// upstream the same `x-forwarded-host` and the same timeout (Envoy's
/// `x-envoy-expected-rq-timeout-ms`), whatever the client sent in those headers.
#[test]
fn rendered_routes_set_the_upstream_headers_as_the_filter_would() {
    let upstream = Upstream::start();
    let dir = scratch("render-upstream-headers");
    let (_, rendered) = render_envoy(
        &dir,
        &(SHOP.to_owned()
            + "    - {path: '/delay/{*}', methods: [GET], noAuth: true, timeout: 7}
    - {path: '/anything/{**}', methods: [GET], noAuth: true}
---
apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {name: wild, namespace: prod}
spec:
  hosts: ['*.wild.example.com']
  gateway: kyma-system/kyma-gateway
  service: {name: shop, namespace: prod, port: 8080}
  timeout: 20
  rules:
    - {path: '/anything/{**}', methods: [GET], noAuth: true}
    - {path: '/response-headers', methods: [GET], noAuth: true}
---
apiVersion: gateway.kyma-project.io/v2
kind: APIRule
metadata: {name: cors, namespace: prod}
spec:
  hosts: [cors.example.com]
  gateway: kyma-system/kyma-gateway
  service: {name: shop, namespace: prod, port: 8080}
  corsPolicy: {allowOrigins: [{exact: 'https://a.example'}], allowCredentials: true}
  rules:
    - {path: '/response-headers', methods: [GET], noAuth: true}
---
apiVersion: gateway.kyma-project.io/v1beta1
kind: APIRule
metadata: {name: keep, namespace: prod}
spec:
  host: keep.example.com
  gateway: kyma-system/kyma-gateway
  service: {name: shop, namespace: prod, port: 8080}
  rules:
    - {path: /response-headers, methods: [GET], accessStrategies: [{handler: allow}]}
"),
        upstream.port,
        &[],
    );
    let listener = "/static_resources/listeners/0";
    let plugin = format!(
        "{listener}/filter_chains/0/filters/0/typed_config/http_filters/0/typed_config/config/configuration/value"
    );
    let config: Value =
        serde_json::from_str(rendered.pointer(&plugin).unwrap().as_str().unwrap()).unwrap();
    assert_eq!(config["routesSetUpstreamHeaders"], true);

    let start = |by_routes: bool| {
        let mut cfg = rendered.clone();
        let (port, admin) = (free_port(), free_port());
        *cfg.pointer_mut(&format!("{listener}/address/socket_address/port_value"))
            .unwrap() = port.into();
        *cfg.pointer_mut("/admin/address/socket_address/port_value")
            .unwrap() = admin.into();
        // Envoy strips a client's `x-envoy-*` headers from external requests only; here the
        // client on loopback is internal (as in-cluster callers may be to a gateway), so its
        // `x-envoy-upstream-rq-timeout-ms` reaches the router, and only the filter overwrites it.
        let hcm = cfg
            .pointer_mut(&format!(
                "{listener}/filter_chains/0/filters/0/typed_config"
            ))
            .unwrap();
        hcm["use_remote_address"] = true.into();
        hcm["internal_address_config"] =
            serde_json::json!({"cidr_ranges": [{"address_prefix": "127.0.0.1", "prefix_len": 32}]});
        let mut config = config.clone();
        config["routesSetUpstreamHeaders"] = by_routes.into();
        *cfg.pointer_mut(&plugin).unwrap() = config.to_string().into();
        Envoy::start_raw(port, admin, &cfg, 1)
    };
    let (routes, filter) = (start(true), start(false));

    // What the upstream was told: x-forwarded-host, and the timeout Envoy applied.
    let seen = |envoy: &Envoy, host: &str, path: &str, headers: &[(&str, &str)]| {
        let r = envoy.send("GET", host, path, headers, "");
        assert_eq!(r.status, 200, "{host}{path}: {}", r.body);
        let body: Value = serde_json::from_str(&r.body).unwrap();
        let h = &body["headers"];
        (
            h["X-Forwarded-Host"].as_str().unwrap_or("-").to_owned(),
            h["X-Envoy-Expected-Rq-Timeout-Ms"]
                .as_str()
                .unwrap_or("-")
                .to_owned(),
        )
    };
    // (host, path, what the client sends, what the upstream must see)
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a [(&'a str, &'a str)],
        (&'a str, &'a str),
    );
    let cases: [Case; 6] = [
        (
            "shop.example.com",
            "/anything/a",
            &[],
            ("shop.example.com", "180000"),
        ),
        (
            "shop.example.com",
            "/delay/0",
            &[],
            ("shop.example.com", "7000"),
        ),
        (
            "shop.example.com",
            "/delay/0",
            &[("x-envoy-upstream-rq-timeout-ms", "600000")],
            ("shop.example.com", "7000"),
        ),
        (
            "shop.example.com",
            "/anything/b",
            &[("x-forwarded-host", "evil.example.com")],
            ("shop.example.com", "180000"),
        ),
        (
            "a.wild.example.com",
            "/anything/c",
            &[],
            ("a.wild.example.com", "20000"),
        ),
        (
            "b.wild.example.com",
            "/anything/d",
            &[
                ("x-forwarded-host", "evil.example.com"),
                ("x-envoy-upstream-rq-timeout-ms", "1"),
            ],
            ("b.wild.example.com", "20000"),
        ),
    ];
    for (host, path, headers, (forwarded, timeout)) in cases {
        let by_routes = seen(&routes, host, path, headers);
        assert_eq!(
            by_routes,
            (forwarded.to_owned(), timeout.to_owned()),
            "routes: {host}{path} {headers:?}"
        );
        assert_eq!(
            seen(&filter, host, path, headers),
            by_routes,
            "the filter's own writes: {host}{path} {headers:?}"
        );
    }

    // The upstream's own CORS headers: removed by the route or by the filter (v2, and v1beta1
    // with a policy), kept by v1beta1 without one; the filter's own for an allowed origin.
    let upstream_cors = "/response-headers?Access-Control-Allow-Origin=evil.example&Access-Control-Max-Age=9&X-Other=kept";
    let client_sees = |envoy: &Envoy, host: &str, origin: Option<&str>| {
        let headers: Vec<(&str, &str)> = origin.map(|o| ("origin", o)).into_iter().collect();
        let r = envoy.send("GET", host, upstream_cors, &headers, "");
        assert_eq!(r.status, 200, "{host}: {}", r.body);
        [
            "access-control-allow-origin",
            "access-control-max-age",
            "access-control-allow-credentials",
            "x-other",
        ]
        .map(|name| r.header(name).unwrap_or("-").to_owned())
    };
    let cors_cases: [(&str, Option<&str>, [&str; 4]); 6] = [
        ("a.wild.example.com", None, ["-", "-", "-", "kept"]),
        (
            "a.wild.example.com",
            Some("https://a.example"),
            ["-", "-", "-", "kept"],
        ),
        ("cors.example.com", None, ["-", "-", "-", "kept"]),
        (
            "cors.example.com",
            Some("https://b.example"),
            ["-", "-", "-", "kept"],
        ),
        (
            "cors.example.com",
            Some("https://a.example"),
            ["https://a.example", "-", "true", "kept"],
        ),
        // httpbin adds its own `*` and credentials over the query's origin.
        ("keep.example.com", None, ["*", "9", "true", "kept"]),
    ];
    for (host, origin, expected) in cors_cases {
        let by_routes = client_sees(&routes, host, origin);
        assert_eq!(
            by_routes,
            expected.map(str::to_owned),
            "routes: {host} {origin:?}"
        );
        assert_eq!(
            client_sees(&filter, host, origin),
            by_routes,
            "the filter's own removal: {host} {origin:?}"
        );
    }
}
