//! `apirule`: check APIRule files before deploying them, and see what the filter would decide, with
//! the same core the filter runs.
//!
//! ```text
//! apirule check [--default-domain DOMAIN] [--jwt-handler ory|istio] [--gateway NS/NAME] FILE...
//! apirule explain --rules FILE... --request 'GET https://host/path' [-H 'Name: value']...
//!                 [--jwks URI=FILE]... [--default-domain DOMAIN] [--jwt-handler ory|istio]
//! apirule render --istio --image oci://REF [--sha256 HEX] [--compact] [common options] FILE...
//! apirule render --envoy [--port P] [--admin-port P] [--wasm PATH] [--service NAME.NS=HOST:PORT]... [--ca-file PEM] [--system-ca PEM] FILE...
//! apirule oci --wasm MODULE --out DIR [--tag TAG]
//! ```
//! Files are YAML (several documents allowed) or JSON: APIRule objects, `List`s of them, a whole
//! plugin configuration (`{"apiRules": [...]}`), Istio's mesh ConfigMap (its `extensionProviders`
//! are the authorizers `extAuth` rules name), or an Envoy configuration whose wasm filter
//! carries one (`envoy/envoy.yaml`); a plugin configuration is checked with its own settings.
//! Exit status: 0 when every APIRule is Ready (check) or the request is allowed (explain), 1 when
//! not, 2 on a usage or read error.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    std::process::exit(cli::run(std::env::args().skip(1).collect()));
}

#[cfg(not(target_arch = "wasm32"))]
mod oci;

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use apirule_core::compile::{compile, Report, Status};
    use apirule_core::config::{JwtHandler, PluginConfig};
    use apirule_core::validate::describe;
    use serde::Deserialize;
    use serde_json::Value;

    const USAGE: &str = "usage: apirule check [--default-domain DOMAIN] [--jwt-handler ory|istio] [--gateway NS/NAME] FILE...
       apirule explain --rules FILE... --request 'GET https://host/path' [-H 'Name: value']... [--jwks URI=FILE]...
       apirule render --istio --image oci://REF [--sha256 HEX] [--compact] [--service-selector NAME.NS=LABEL=VALUE,...]... [--gateway-principal P] FILE...
       apirule render --envoy [--port P] [--admin-port P] [--wasm PATH] [--service NAME.NS=HOST:PORT]... [--ca-file PEM] [--system-ca PEM] FILE...
       apirule oci --wasm MODULE --out DIR [--tag TAG]";

    pub fn run(args: Vec<String>) -> i32 {
        let result = match args.first().map(String::as_str) {
            Some("check") => check(&args[1..]),
            Some("explain") => explain(&args[1..]),
            Some("oci") => oci(&args[1..]),
            Some("render") => render(&args[1..]),
            Some("-h" | "--help" | "help") => {
                println!("{USAGE}");
                return 0;
            }
            _ => {
                eprintln!("{USAGE}");
                return 2;
            }
        };
        result.unwrap_or_else(|e| {
            eprintln!("apirule: {e}");
            2
        })
    }

    #[derive(Default)]
    struct Options {
        files: Vec<String>,
        request: Option<String>,
        headers: Vec<(String, String)>,
        jwks: Vec<(String, String)>,
    }

    fn empty_config() -> Result<PluginConfig, String> {
        PluginConfig::from_json(br#"{"apiRules": []}"#).map_err(|e| e.to_string())
    }

    fn parse(args: &[String], base: &mut PluginConfig, explain: bool) -> Result<Options, String> {
        let mut o = Options::default();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = |flag: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
            };
            match arg.as_str() {
                "--default-domain" => base.default_domain = Some(value(arg)?),
                "--gateway" => base.gateway = Some(value(arg)?),
                "--jwt-handler" => {
                    base.jwt_handler = match value(arg)?.as_str() {
                        "ory" => JwtHandler::Ory,
                        "istio" => JwtHandler::Istio,
                        other => {
                            return Err(format!(
                                "--jwt-handler must be ory or istio, not {other:?}"
                            ))
                        }
                    }
                }
                "--rules" if explain => {}
                "--request" if explain => o.request = Some(value(arg)?),
                "-H" | "--header" if explain => {
                    let h = value(arg)?;
                    let (k, v) = h
                        .split_once(':')
                        .ok_or_else(|| format!("-H {h:?}: expected 'Name: value'"))?;
                    o.headers
                        .push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
                }
                "--jwks" if explain => {
                    let j = value(arg)?;
                    let (uri, file) = j
                        .split_once('=')
                        .ok_or_else(|| format!("--jwks {j:?}: expected URI=FILE"))?;
                    o.jwks.push((uri.to_owned(), file.to_owned()));
                }
                flag if flag.starts_with('-') => {
                    return Err(format!("unknown option {flag}\n{USAGE}"))
                }
                file => o.files.push(file.to_owned()),
            }
        }
        if o.files.is_empty() {
            return Err(format!("no files given\n{USAGE}"));
        }
        Ok(o)
    }

    /// The configurations to check: plain APIRules go into `base` (one cluster), each plugin
    /// configuration found stands alone.
    fn load(files: &[String], mut base: PluginConfig) -> Result<Vec<PluginConfig>, String> {
        let mut configs = Vec::new();
        for file in files {
            for doc in read_documents(file)? {
                let plugin = match classify(doc) {
                    Doc::Plugin(p) => Some(p),
                    Doc::Envoy(e) => {
                        embedded_plugin_config(&e).map_err(|e| format!("{file}: {e}"))?
                    }
                    Doc::ApiRule(a) => {
                        base.api_rules.push(a);
                        None
                    }
                    Doc::Mesh(providers) => {
                        let providers: Vec<apirule_core::config::mesh::ExtensionProvider> =
                            serde_json::from_value(Value::Array(providers))
                                .map_err(|e| format!("{file}: mesh extensionProviders: {e}"))?;
                        base.extension_providers.extend(providers);
                        None
                    }
                    Doc::Services(_) | Doc::Other => None,
                };
                if let Some(p) = plugin {
                    let bytes = serde_json::to_vec(&p).map_err(|e| e.to_string())?;
                    configs
                        .push(PluginConfig::from_json(&bytes).map_err(|e| format!("{file}: {e}"))?);
                }
            }
        }
        if !base.api_rules.is_empty() {
            configs.insert(0, base);
        }
        Ok(configs)
    }

    enum Doc {
        Plugin(Value),
        Envoy(Value),
        ApiRule(Value),
        /// Istio's mesh config's `extensionProviders`: the authorizers of `extAuth` rules.
        Mesh(Vec<Value>),
        /// Kubernetes Services (`kubectl get svc -A -o json`): the pods an APIRule exposes.
        Services(Vec<Value>),
        Other,
    }

    fn is_service(doc: &Value) -> bool {
        doc.get("kind").and_then(Value::as_str) == Some("Service")
            && doc.get("apiVersion").and_then(Value::as_str) == Some("v1")
    }

    /// `name.namespace` → the Service's `spec.selector`.
    fn selectors_of(services: &[Value]) -> apirule_core::render::Selectors {
        let mut out = apirule_core::render::Selectors::new();
        for svc in services {
            let name = svc.pointer("/metadata/name").and_then(Value::as_str);
            let ns = svc
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("default");
            let Some(name) = name else { continue };
            let labels = svc
                .pointer("/spec/selector")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                        .collect()
                })
                .unwrap_or_default();
            out.insert(format!("{name}.{ns}"), labels);
        }
        out
    }

    /// A plugin configuration, an Istio WasmPlugin (its `pluginConfig`), an Envoy configuration,
    /// an APIRule (or anything claiming Kyma's group), or an object of another API (skipped).
    fn classify(doc: Value) -> Doc {
        let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
        let items = doc.get("items").and_then(Value::as_array);
        if doc.get("apiRules").is_some() {
            Doc::Plugin(doc)
        } else if is_service(&doc) {
            Doc::Services(vec![doc])
        } else if kind.ends_with("List")
            && items.is_some_and(|i| !i.is_empty() && i.iter().all(is_service))
        {
            Doc::Services(items.cloned().unwrap_or_default())
        } else if kind == "ConfigMap" {
            // `kubectl get configmap istio -n istio-system -o yaml`: the mesh config is YAML text.
            let mesh: Option<Value> = doc
                .pointer("/data/mesh")
                .and_then(Value::as_str)
                .and_then(|text| serde_norway::from_str(text).ok());
            mesh.map_or(Doc::Other, |m| Doc::Mesh(providers_of(&m)))
        } else if api.is_empty() && doc.get("extensionProviders").is_some() {
            Doc::Mesh(providers_of(&doc))
        } else if kind == "WasmPlugin" && api.starts_with("extensions.istio.io/") {
            match doc.get("spec").and_then(|s| s.get("pluginConfig")) {
                Some(p) => Doc::Plugin(p.clone()),
                None => Doc::Other,
            }
        } else if doc.get("static_resources").is_some() {
            Doc::Envoy(doc)
        } else if api.is_empty()
            || api.starts_with("gateway.kyma-project.io/")
            || kind.ends_with("List")
        {
            Doc::ApiRule(doc)
        } else {
            Doc::Other
        }
    }

    /// A mesh config's `extensionProviders` (none when absent or not a list).
    fn providers_of(mesh: &Value) -> Vec<Value> {
        match mesh.get("extensionProviders") {
            Some(Value::Array(list)) => list.clone(),
            _ => Vec::new(),
        }
    }

    /// The plugin configuration of the apirule wasm filter in an Envoy configuration.
    fn embedded_plugin_config(envoy: &Value) -> Result<Option<Value>, String> {
        fn find(v: &Value) -> Option<&str> {
            match v {
                Value::Object(m) => {
                    if m.get("name").and_then(Value::as_str) == Some("envoy.filters.http.wasm") {
                        return m
                            .get("typed_config")?
                            .get("config")?
                            .get("configuration")?
                            .get("value")?
                            .as_str();
                    }
                    m.values().find_map(find)
                }
                Value::Array(a) => a.iter().find_map(find),
                _ => None,
            }
        }
        match find(envoy) {
            None => Ok(None),
            Some(text) => serde_json::from_str(text)
                .map(Some)
                .map_err(|e| format!("wasm filter configuration: {e}")),
        }
    }

    fn check(args: &[String]) -> Result<i32, String> {
        let mut base = empty_config()?;
        let o = parse(args, &mut base, false)?;
        let mut failed = false;
        for cfg in &load(&o.files, base)? {
            let (_, reports) = compile(cfg).map_err(|e| e.to_string())?;
            for r in &reports {
                failed |= matches!(r.status, Status::Error(_));
                print_report(r);
            }
        }
        Ok(i32::from(failed))
    }

    fn explain(args: &[String]) -> Result<i32, String> {
        use apirule_core::decide::Request;
        use apirule_core::jwt::crypto::Software;
        let mut base = empty_config()?;
        let o = parse(args, &mut base, true)?;
        let request = o
            .request
            .clone()
            .ok_or_else(|| format!("--request is required\n{USAGE}"))?;
        let (method, url) = request
            .split_once(' ')
            .ok_or_else(|| format!("--request {request:?}: expected 'METHOD URL'"))?;
        let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('?') => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_owned()),
            None => (rest, "/".to_owned()),
        };
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut code = 0;
        for cfg in &load(&o.files, base)? {
            let (rules, reports) = compile(cfg).map_err(|e| e.to_string())?;
            for r in reports
                .iter()
                .filter(|r| !matches!(r.status, Status::Ready))
            {
                print_report(r);
            }
            let uris = rules.jwks_uris();
            let mut auth = rules.auth_state();
            for (uri, file) in &o.jwks {
                let id = uris
                    .iter()
                    .position(|u| u == uri)
                    .ok_or_else(|| format!("--jwks {uri}: no rule uses this JWKS URI"))?;
                let body = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
                auth.keys
                    .install(id, &body, now_ms)
                    .map_err(|e| format!("{file}: {e}"))?;
            }
            let answers = Default::default();
            let mut env = auth.env(&Software, &answers, now_ms, now_ms);
            let req = Request {
                authority,
                method,
                path: &path,
                scheme,
                headers: &o.headers,
                non_utf8: &[],
                remote_address: "127.0.0.1:0",
                protocol: "HTTP/1.1",
            };
            for line in apirule_core::explain::explain(&rules, &req, &mut env) {
                if line.starts_with("decision:") && !line.starts_with("decision: allow") {
                    code = 1;
                }
                println!("{line}");
            }
        }
        Ok(code)
    }

    fn render(args: &[String]) -> Result<i32, String> {
        let mut base = empty_config()?;
        let mut mode = None;
        let (mut image, mut sha256): (Option<String>, Option<String>) = (None, None);
        let (mut port, mut admin, mut wasm) =
            (10000u16, 9901u16, "target/apirule_wasm.wasm".to_owned());
        let mut services = std::collections::BTreeMap::new();
        let mut explicit_selectors = apirule_core::render::Selectors::new();
        let mut principal = apirule_core::render::GATEWAY_PRINCIPAL.to_owned();
        let mut compact = false;
        let (mut ca_file, mut system_ca): (Option<String>, String) =
            (None, apirule_core::render::SYSTEM_CA_BUNDLE.to_owned());
        let mut rest = Vec::new();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = || {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))
            };
            match arg.as_str() {
                "--istio" | "--envoy" => mode = Some(arg.clone()),
                "--compact" => compact = true,
                "--image" => image = Some(value()?),
                "--sha256" => {
                    let v = value()?;
                    // The WasmPlugin CRD's pattern: 64 lower-case hex digits.
                    if v.len() != 64
                        || !v
                            .bytes()
                            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                    {
                        return Err(format!(
                            "--sha256 {v:?}: expected 64 lower-case hex digits (the image manifest digest `make push` prints, without `sha256:`)"
                        ));
                    }
                    sha256 = Some(v)
                }
                "--port" => {
                    port = value()?
                        .parse()
                        .map_err(|_| "--port takes a number".to_owned())?
                }
                "--admin-port" => {
                    admin = value()?
                        .parse()
                        .map_err(|_| "--admin-port takes a number".to_owned())?
                }
                "--wasm" => wasm = value()?,
                "--ca-file" => ca_file = Some(value()?),
                "--system-ca" => system_ca = value()?,
                "--gateway-principal" => principal = value()?,
                "--service-selector" => {
                    let v = value()?;
                    let bad = || {
                        format!("--service-selector {v:?}: expected NAME.NS=LABEL=VALUE[,LABEL=VALUE]...")
                    };
                    let (svc, labels) = v.split_once('=').ok_or_else(bad)?;
                    let mut map = std::collections::BTreeMap::new();
                    for pair in labels.split(',') {
                        let (k, val) = pair.split_once('=').ok_or_else(bad)?;
                        map.insert(k.to_owned(), val.to_owned());
                    }
                    if !svc.contains('.') {
                        return Err(bad());
                    }
                    explicit_selectors.insert(svc.to_owned(), map);
                }
                "--service" => {
                    let v = value()?;
                    let (k, addr) = v
                        .split_once('=')
                        .ok_or_else(|| format!("--service {v:?}: expected NAME.NS=HOST:PORT"))?;
                    services.insert(k.to_owned(), addr.to_owned());
                }
                _ => rest.push(arg.clone()),
            }
        }
        let o = parse(&rest, &mut base, false)?;
        // One plugin configuration: the one given, or one built from the APIRule files.
        let mut plain = Vec::new();
        let mut given = Vec::new();
        let mut providers = Vec::new();
        let mut service_objects = Vec::new();
        for file in &o.files {
            for doc in read_documents(file)? {
                match classify(doc) {
                    Doc::Plugin(p) => given.push(p),
                    Doc::Envoy(e) => given
                        .extend(embedded_plugin_config(&e).map_err(|e| format!("{file}: {e}"))?),
                    Doc::ApiRule(a) => plain.push(a),
                    Doc::Mesh(list) => providers.extend(list),
                    Doc::Services(list) => service_objects.extend(list),
                    Doc::Other => {}
                }
            }
        }
        // Explicit selectors win over Service objects.
        let mut selectors = selectors_of(&service_objects);
        selectors.extend(std::mem::take(&mut explicit_selectors));
        let config_json = match (given.len(), plain.is_empty()) {
            (0, _) => {
                let mut c = serde_json::json!({"apiRules": plain});
                if !providers.is_empty() {
                    c["extensionProviders"] = Value::Array(providers);
                }
                if let Some(d) = &base.default_domain {
                    c["defaultDomain"] = serde_json::json!(d);
                }
                if base.jwt_handler == JwtHandler::Istio {
                    c["jwtHandler"] = serde_json::json!("istio");
                }
                if let Some(g) = &base.gateway {
                    c["gateway"] = serde_json::json!(g);
                }
                c
            }
            (1, true) => given.remove(0),
            _ => {
                return Err(
                    "render takes APIRule files or one plugin configuration, not both".into(),
                )
            }
        };
        let bytes = serde_json::to_vec(&config_json).map_err(|e| e.to_string())?;
        let config = PluginConfig::from_json(&bytes).map_err(|e| e.to_string())?;
        let (_, reports) = compile(&config).map_err(|e| e.to_string())?;
        // Only what is rendered goes into the pluginConfig (the invalid are reported below once).
        let config_json = apirule_core::render::without_invalid(&config_json, &config, &reports)
            .map_err(|e| e.to_string())?;
        let config_json = if compact {
            apirule_core::render::compacted(&config_json)
        } else {
            config_json
        };
        for obj in config.objects().map_err(|e| e.to_string())? {
            if obj.pointer("/metadata/namespace").is_none() {
                let name = obj
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                eprintln!(
                    "note: {name} has no metadata.namespace: rendered in namespace \"default\", as kubectl would \
                     apply it with the default context; set metadata.namespace to choose"
                );
            }
        }
        let mut code = 0;
        for r in reports
            .iter()
            .filter(|r| !matches!(r.status, Status::Ready))
        {
            code = 1;
            eprintln!(
                "note: {}/{} is not rendered ({})",
                r.namespace,
                r.name,
                match &r.status {
                    Status::Error(f) => describe(f).replace('\n', "; "),
                    Status::Ignored(why) => why.clone(),
                    Status::Ready => String::new(),
                }
            );
        }
        let docs = match mode.as_deref() {
            Some("--istio") => {
                let image = image.ok_or(
                    "render --istio needs --image oci://REGISTRY/NAME@sha256:DIGEST (or :TAG): the image \
                     `make push REGISTRY=...` published",
                )?;
                let mut docs =
                    apirule_core::render::istio(&config_json, &config, &image, sha256.as_deref())
                        .map_err(|e| e.to_string())?;
                let (policies, notes) =
                    apirule_core::render::gateway_only_policies(&config, &selectors, &principal)
                        .map_err(|e| e.to_string())?;
                for note in notes {
                    eprintln!("note: {note}");
                }
                if let Some(plugin) = docs.first() {
                    let bytes = serde_json::to_vec(plugin).map_err(|e| e.to_string())?.len();
                    for note in apirule_core::render::size_notes("WasmPlugin", bytes, compact) {
                        if note.starts_with("error") {
                            code = 1;
                        }
                        eprintln!("{note}");
                    }
                }
                docs.extend(policies);
                docs
            }
            Some("--envoy") => {
                let opts = apirule_core::render::EnvoyOptions {
                    listen: "127.0.0.1",
                    port,
                    admin_port: admin,
                    wasm: &wasm,
                    services,
                    trusted_ca: trusted_ca(ca_file.as_deref(), &system_ca)?,
                };
                vec![apirule_core::render::envoy(&config_json, &config, &opts)
                    .map_err(|e| e.to_string())?]
            }
            _ => return Err(format!("render needs --istio or --envoy\n{USAGE}")),
        };
        for (i, doc) in docs.iter().enumerate() {
            if i > 0 {
                println!("---");
            }
            print!(
                "{}",
                serde_norway::to_string(doc).map_err(|e| e.to_string())?
            );
        }
        Ok(code)
    }

    /// What rendered https clusters trust: the system bundle by reference, or, with `--ca-file`,
    /// that CA added to the system bundle (both inlined, as Envoy takes one trust source).
    fn trusted_ca(ca_file: Option<&str>, system: &str) -> Result<Value, String> {
        let Some(file) = ca_file else {
            return Ok(serde_json::json!({"filename": system}));
        };
        let extra = std::fs::read_to_string(file).map_err(|e| format!("--ca-file {file}: {e}"))?;
        if !extra.contains("-----BEGIN CERTIFICATE-----") {
            return Err(format!("--ca-file {file}: no PEM certificate in it"));
        }
        // A machine without the system bundle renders with the given CA alone.
        let mut pem = std::fs::read_to_string(system).unwrap_or_default();
        if !pem.is_empty() && !pem.ends_with('\n') {
            pem.push('\n');
        }
        pem.push_str(&extra);
        Ok(serde_json::json!({"inline_string": pem}))
    }

    fn oci(args: &[String]) -> Result<i32, String> {
        let (mut wasm, mut out, mut tag) = (None, None, "latest".to_owned());
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let value = it
                .next()
                .cloned()
                .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))?;
            match arg.as_str() {
                "--wasm" => wasm = Some(value),
                "--out" => out = Some(value),
                "--tag" => tag = value,
                other => return Err(format!("unknown option {other}\n{USAGE}")),
            }
        }
        let (Some(wasm), Some(out)) = (wasm, out) else {
            return Err(format!("--wasm and --out are required\n{USAGE}"));
        };
        let digest = crate::oci::build(
            std::path::Path::new(&wasm),
            std::path::Path::new(&out),
            &tag,
        )?;
        println!("{out}:{tag} {digest}");
        Ok(0)
    }

    fn print_report(r: &Report) {
        let who = format!("{}/{} ({} {})", r.namespace, r.name, r.api_version, r.kind);
        match &r.status {
            Status::Ready => println!("{who}: Ready"),
            Status::Ignored(why) => println!("{who}: Ignored: {why}"),
            Status::Error(failures) => {
                println!("{who}: Error");
                for line in describe(failures).lines() {
                    println!("    {line}");
                }
            }
        }
    }

    /// Every non-empty document of a YAML or JSON file, as JSON values.
    /// A List that mixes Services with other objects (`kubectl get apirules,svc -A -o json`):
    /// the Services on their own, then the List of the rest.
    fn split_services(mut doc: Value) -> Vec<Value> {
        let is_list = doc
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k.ends_with("List"));
        let Some(items) = doc.get_mut("items").and_then(Value::as_array_mut) else {
            return vec![doc];
        };
        if !is_list || !items.iter().any(is_service) || items.iter().all(is_service) {
            return vec![doc];
        }
        let (services, rest): (Vec<Value>, Vec<Value>) =
            std::mem::take(items).into_iter().partition(is_service);
        *items = rest;
        let mut out = services;
        out.push(doc);
        out
    }

    fn read_documents(file: &str) -> Result<Vec<Value>, String> {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
        let mut docs = Vec::new();
        for (i, doc) in serde_norway::Deserializer::from_str(&text).enumerate() {
            let value =
                Value::deserialize(doc).map_err(|e| format!("{file}: document {}: {e}", i + 1))?;
            match value {
                Value::Null => {}
                v @ Value::Object(_) => docs.extend(split_services(v)),
                _ => return Err(format!("{file}: document {} is not an object", i + 1)),
            }
        }
        Ok(docs)
    }
}
