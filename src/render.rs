//! `apirule render`: the Istio objects for the kyma-gateway, or a local Envoy configuration,
//! from APIRule files or one plugin configuration.

use apirule_core::compile::{compile, Status};
use apirule_core::config::{JwtHandler, PluginConfig};
use apirule_core::validate::describe;
use serde_json::Value;

use crate::args::{RenderArgs, NOT_READY, OK};
use crate::input::{self, classify, embedded_plugin_config, Doc};

pub fn run(args: &RenderArgs) -> Result<i32, String> {
    let names = args.inputs.all();
    if names.is_empty() {
        return Err("no input: name files or directories, or `-` for standard input".into());
    }
    let base = crate::base_config(&args.cluster)?;
    let (docs, errors) = input::read(&names, args.inputs.recursive);
    if let Some(e) = errors.first() {
        return Err(format!("{}: {}", e.file, e.message));
    }
    // One plugin configuration: the one given, or one built from the APIRule files.
    let mut plain = Vec::new();
    let mut given = Vec::new();
    let mut providers = Vec::new();
    let mut service_objects = Vec::new();
    for doc in docs {
        match classify(doc.value) {
            Doc::Plugin(p) => given.push(p),
            Doc::Envoy(e) => given
                .extend(embedded_plugin_config(&e).map_err(|e| format!("{}: {e}", doc.origin))?),
            Doc::ApiRule(a) => plain.push(a),
            Doc::Mesh(list) => providers.extend(list),
            Doc::Services(list) => service_objects.extend(list),
            Doc::Invalid(why) => return Err(format!("{}: {why}", doc.origin)),
            Doc::Other => {}
        }
    }
    // Explicit selectors win over Service objects.
    let mut selectors = input::selectors_of(&service_objects);
    selectors.extend(args.service_selector.iter().cloned());
    let config_json = match (given.len(), plain.is_empty()) {
        (0, _) => plain_config(plain, providers, &base),
        (1, true) => given.remove(0),
        _ => return Err("render takes APIRule files or one plugin configuration, not both".into()),
    };
    let bytes = serde_json::to_vec(&config_json).map_err(|e| e.to_string())?;
    let config = PluginConfig::from_json(&bytes).map_err(|e| e.to_string())?;
    let (_, reports) = compile(&config).map_err(|e| e.to_string())?;
    // Only what is rendered goes into the pluginConfig (the invalid are reported below once).
    let config_json = apirule_core::render::without_invalid(&config_json, &config, &reports)
        .map_err(|e| e.to_string())?;
    let config_json = if args.compact {
        apirule_core::render::compacted(&config_json)
    } else {
        config_json
    };
    note_missing_namespaces(&config)?;
    let mut code = OK;
    for r in reports.iter().filter(|r| r.status != Status::Ready) {
        code = NOT_READY;
        let why = match &r.status {
            Status::Error(f) => describe(f).replace('\n', "; "),
            Status::Ignored(why) => why.clone(),
            Status::Ready => String::new(),
        };
        eprintln!("note: {}/{} is not rendered ({why})", r.namespace, r.name);
    }
    let docs = if args.istio {
        let image = args.image.as_deref().ok_or(
            "render --istio needs --image oci://REGISTRY/NAME@sha256:DIGEST (or :TAG): the image \
             `make push REGISTRY=...` published",
        )?;
        let mut docs =
            apirule_core::render::istio(&config_json, &config, image, args.sha256.as_deref())
                .map_err(|e| e.to_string())?;
        let (policies, notes) = apirule_core::render::gateway_only_policies(
            &config,
            &selectors,
            &args.gateway_principal,
        )
        .map_err(|e| e.to_string())?;
        for note in notes {
            eprintln!("note: {note}");
        }
        if let Some(plugin) = docs.first() {
            let bytes = serde_json::to_vec(plugin).map_err(|e| e.to_string())?.len();
            for note in apirule_core::render::size_notes("WasmPlugin", bytes, args.compact) {
                if note.starts_with("error") {
                    code = NOT_READY;
                }
                eprintln!("{note}");
            }
        }
        docs.extend(policies);
        docs
    } else {
        let opts = apirule_core::render::EnvoyOptions {
            listen: "127.0.0.1",
            port: args.port,
            admin_port: args.admin_port,
            wasm: &args.wasm,
            services: args.service.iter().cloned().collect(),
            trusted_ca: trusted_ca(args.ca_file.as_deref(), &args.system_ca)?,
        };
        vec![apirule_core::render::envoy(&config_json, &config, &opts).map_err(|e| e.to_string())?]
    };
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            outln!("---");
        }
        out!(
            "{}",
            serde_norway::to_string(doc).map_err(|e| e.to_string())?
        );
    }
    Ok(code)
}

/// A plugin configuration from APIRule documents, with the settings given as flags.
fn plain_config(plain: Vec<Value>, providers: Vec<Value>, base: &PluginConfig) -> Value {
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

fn note_missing_namespaces(config: &PluginConfig) -> Result<(), String> {
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
    Ok(())
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
