//! Reading what the user names: files, directories (`-R` to recurse) and standard input (`-`),
//! as kubectl reads `-f`; then telling the documents apart (APIRules, plugin configurations,
//! Envoy configurations, mesh config, Services).
//!
//! A file that cannot be read or parsed is an [`InputError`]: it is reported and the other
//! inputs are still used.

use std::path::{Path, PathBuf};

use apirule_core::config::PluginConfig;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One document and the input it came from (a path, or `-`).
pub struct Document {
    pub origin: String,
    pub value: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct InputError {
    pub file: String,
    pub message: String,
}

/// kubectl's recognised extensions for files found in directories.
const EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// Every document of every input, in the order given (a directory's files sorted by name).
pub fn read(names: &[String], recursive: bool) -> (Vec<Document>, Vec<InputError>) {
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    let mut stdin_read = false;
    for name in names {
        if name == "-" {
            if std::mem::replace(&mut stdin_read, true) {
                errors.push(error("-", "standard input is named twice"));
                continue;
            }
            let mut text = String::new();
            match std::io::Read::read_to_string(&mut std::io::stdin(), &mut text) {
                Ok(_) => parse_into("-", &text, &mut docs, &mut errors),
                Err(e) => errors.push(error("-", e)),
            }
            continue;
        }
        let path = Path::new(name);
        let files = if path.is_dir() {
            let mut found = Vec::new();
            if let Err(e) = walk(path, recursive, &mut found) {
                errors.push(error(name, e));
            }
            if found.is_empty() {
                errors.push(error(
                    name,
                    "no .yaml, .yml or .json file in this directory (use -R for subdirectories)",
                ));
            }
            found
        } else {
            vec![path.to_owned()]
        };
        for file in files {
            let origin = file.display().to_string();
            match std::fs::read_to_string(&file) {
                Ok(text) => parse_into(&origin, &text, &mut docs, &mut errors),
                Err(e) => errors.push(error(&origin, e)),
            }
        }
    }
    (docs, errors)
}

fn error(file: &str, message: impl std::fmt::Display) -> InputError {
    InputError {
        file: file.to_owned(),
        message: message.to_string(),
    }
}

fn walk(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        // As kubectl's walk: symbolic links to directories are not followed (they may loop).
        let link = std::fs::symlink_metadata(&path)?.file_type().is_symlink();
        if path.is_dir() {
            if recursive && !link {
                walk(&path, recursive, out)?;
            }
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.contains(&e))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// The non-empty documents of a YAML or JSON text; a broken document is an error of the
/// input, and the documents before it are kept. As kubectl reads YAML: merge keys (`<<`) are
/// applied, a key given twice in one mapping is an error.
fn parse_into(origin: &str, text: &str, docs: &mut Vec<Document>, errors: &mut Vec<InputError>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (i, doc) in serde_norway::Deserializer::from_str(text).enumerate() {
        let value = serde_norway::Value::deserialize(doc).and_then(|mut v| {
            v.apply_merge()?;
            Ok(v)
        });
        let value = match value {
            Ok(v) => serde_json::to_value(v).map_err(|e| e.to_string()),
            Err(e) => {
                // The YAML stream cannot be resumed after a syntax error.
                errors.push(error(origin, format!("document {}: {e}", i + 1)));
                return;
            }
        };
        match value {
            Ok(Value::Null) => {}
            Ok(v @ Value::Object(_)) => {
                docs.extend(split_services(v).into_iter().map(|value| Document {
                    origin: origin.to_owned(),
                    value,
                }))
            }
            Ok(_) => errors.push(error(origin, format!("document {}: not an object", i + 1))),
            Err(e) => errors.push(error(origin, format!("document {}: {e}", i + 1))),
        }
    }
}

pub enum Doc {
    Plugin(Value),
    Envoy(Value),
    ApiRule(Value),
    /// Istio's mesh config's `extensionProviders`: the authorizers of `extAuth` rules.
    Mesh(Vec<Value>),
    /// Kubernetes Services (`kubectl get svc -A -o json`): the pods an APIRule exposes.
    Services(Vec<Value>),
    /// Recognised, but unusable: why.
    Invalid(String),
    Other,
}

fn is_service(doc: &Value) -> bool {
    doc.get("kind").and_then(Value::as_str) == Some("Service")
        && doc.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

/// A List that mixes Services with other objects (`kubectl get apirules,svc -A -o json`): the
/// Services on their own, then the List of the rest.
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

/// A plugin configuration, an Istio WasmPlugin (its `pluginConfig`), an Envoy configuration,
/// an APIRule (or anything claiming Kyma's group), or an object of another API (skipped).
pub fn classify(doc: Value) -> Doc {
    let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
    let items = doc.get("items").and_then(Value::as_array);
    if doc.get("apiRules").is_some() || doc.get("apiRulesGzip").is_some() {
        Doc::Plugin(doc)
    } else if is_service(&doc) {
        Doc::Services(vec![doc])
    } else if kind.ends_with("List")
        && items.is_some_and(|i| !i.is_empty() && i.iter().all(is_service))
    {
        Doc::Services(items.cloned().unwrap_or_default())
    } else if kind == "ConfigMap" {
        // `kubectl get configmap istio -n istio-system -o yaml`: the mesh config is YAML text.
        match doc.pointer("/data/mesh").and_then(Value::as_str) {
            None => Doc::Other,
            Some(text) => match serde_norway::from_str::<Value>(text) {
                Ok(mesh) => Doc::Mesh(providers_of(&mesh)),
                Err(e) => Doc::Invalid(format!("ConfigMap data.mesh is not YAML: {e}")),
            },
        }
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
pub fn embedded_plugin_config(envoy: &Value) -> Result<Option<Value>, String> {
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

/// `name.namespace` → the Service's `spec.selector`.
pub fn selectors_of(services: &[Value]) -> apirule_core::render::Selectors {
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

/// Who an object is: kind, namespace, name (how reports name it).
pub type Key = (String, String, String);

pub fn key_of(obj: &Value) -> Key {
    let (name, namespace) = apirule_core::config::object_identity(obj);
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    (kind.to_owned(), namespace, name)
}

/// The objects of a document: a List's items, or the document itself.
pub fn objects_mut(doc: &mut Value) -> Vec<&mut Value> {
    let list = doc
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && doc.get("items").is_some_and(Value::is_array);
    if list {
        return doc
            .get_mut("items")
            .and_then(Value::as_array_mut)
            .map(|items| items.iter_mut().collect())
            .unwrap_or_default();
    }
    vec![doc]
}

/// The configurations to check, each with the input each object came from: the plain
/// APIRules of all inputs form one (one cluster, with `base`'s settings), first; each plugin
/// configuration found stands alone with its own settings.
pub struct Loaded {
    pub configs: Vec<Config>,
    pub errors: Vec<InputError>,
}

pub struct Config {
    pub config: PluginConfig,
    /// Each object's input, in the order of the configuration.
    pub origins: Vec<(Key, String)>,
    /// Read from a plugin configuration (its settings are keys there, not flags).
    pub plugin: bool,
}

pub fn load(docs: Vec<Document>, mut base: PluginConfig, mut errors: Vec<InputError>) -> Loaded {
    let mut configs = Vec::new();
    let mut base_origins = Vec::new();
    for Document { origin, value } in docs {
        let plugin = match classify(value) {
            Doc::Plugin(p) => Some(p),
            Doc::Envoy(e) => match embedded_plugin_config(&e) {
                Ok(p) => p,
                Err(e) => {
                    errors.push(error(&origin, e));
                    None
                }
            },
            Doc::ApiRule(a) => {
                match kyma_objects(a) {
                    Ok(Some(mut a)) => {
                        let keys = objects_mut(&mut a).into_iter().map(|o| key_of(o));
                        base_origins.extend(keys.map(|k| (k, origin.clone())));
                        base.api_rules.push(a);
                    }
                    Ok(None) => {}
                    Err(e) => errors.push(error(&origin, e)),
                }
                None
            }
            Doc::Invalid(why) => {
                errors.push(error(&origin, why));
                None
            }
            Doc::Mesh(providers) => {
                let providers = Value::Array(providers);
                use apirule_core::config::{mesh::ExtensionProvider, read};
                match read::read::<Vec<ExtensionProvider>>(&providers) {
                    Ok(p) => base.extension_providers.extend(p),
                    Err(e) => {
                        let at = Some(e.path()).filter(|p| p != ".").unwrap_or_default();
                        errors.push(error(&origin, format!("mesh extensionProviders{at}: {e}")))
                    }
                }
                None
            }
            Doc::Services(_) | Doc::Other => None,
        };
        if let Some(p) = plugin {
            let parsed = serde_json::to_vec(&p)
                .map_err(|e| e.to_string())
                .and_then(|b| PluginConfig::from_json(&b).map_err(|e| e.to_string()));
            match parsed {
                Ok(mut cfg) => {
                    cfg.every_stage = base.every_stage;
                    let mut origins = Vec::new();
                    for doc in cfg.api_rules.iter_mut().chain(cfg.rate_limits.iter_mut()) {
                        for obj in objects_mut(doc) {
                            origins.push((key_of(obj), origin.clone()));
                        }
                    }
                    configs.push(Config {
                        config: cfg,
                        origins,
                        plugin: true,
                    });
                }
                Err(e) => errors.push(error(&origin, e)),
            }
        }
    }
    if !base.api_rules.is_empty() {
        let plain = Config {
            config: base,
            origins: base_origins,
            plugin: false,
        };
        configs.insert(0, plain);
    }
    Loaded { configs, errors }
}

/// A List as kubectl reads one: `items: null` is empty, items of other API groups are skipped
/// (as single objects of other groups are); an `items` that is not a list of objects is an
/// error of the input. `None` when nothing of Kyma's is left.
fn kyma_objects(mut doc: Value) -> Result<Option<Value>, String> {
    let kind = doc
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if !kind.ends_with("List") {
        return Ok(Some(doc));
    }
    let items = match doc.get_mut("items") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(format!("{kind}: items is not a list")),
    };
    if let Some(i) = items.iter().position(|v| !v.is_object()) {
        return Err(format!("{kind}: items[{i}] is not an object"));
    }
    items.retain(|item| {
        let api = item.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        api.is_empty() || api.starts_with("gateway.kyma-project.io/")
    });
    Ok((!items.is_empty()).then_some(doc))
}

/// Takes, in order, the entries of a list by key: the n-th object with a key gets the n-th
/// entry (two objects with one name are both reported).
pub fn take<T>(list: &mut [(Key, Option<T>)], key: &Key) -> Option<T> {
    list.iter_mut()
        .find(|(k, v)| k == key && v.is_some())
        .and_then(|(_, v)| v.take())
}
