//! The plugin configuration and the APIRule objects it carries.
//!
//! Istio hands a WasmPlugin's `pluginConfig` to the module as a JSON string; a local Envoy passes
//! the same JSON as a `StringValue`. Its shape:
//!
//! ```json
//! {"apiRules": [<APIRule>, <List of APIRules>, ...], "defaultDomain": "local.kyma.dev",
//!  "jwtHandler": "ory", "gateway": "kyma-system/kyma-gateway"}
//! ```
//!
//! The top level is strict (an unknown key is an error, so a typo cannot silently expose nothing
//! or everything); APIRule objects are read as `kubectl get -o json` prints them, extra fields
//! (status, managedFields, ...) ignored as the API server prunes them.

pub mod legacy_api;
pub mod model;
pub mod num;
pub mod v1alpha1;
pub mod v1beta1;
pub mod v2;

use serde::Deserialize;
use serde_json::Value;

/// Kyma's `api-gateway-config` switch for v1beta1 `jwt` rules: Ory Oathkeeper (Kyma's default
/// when the ConfigMap is absent) or Istio. It selects which config keys are valid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JwtHandler {
    #[default]
    Ory,
    Istio,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PluginConfig {
    /// APIRule objects, or `List`s of them.
    pub api_rules: Vec<Value>,
    /// Completes short hosts (`httpbin` → `httpbin.<defaultDomain>`), the role of the Kyma
    /// gateway's `*.<domain>` host.
    #[serde(default)]
    pub default_domain: Option<String>,
    #[serde(default)]
    pub jwt_handler: JwtHandler,
    /// When set, APIRules bound to another gateway are not served by this filter.
    #[serde(default)]
    pub gateway: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl PluginConfig {
    pub fn from_json(bytes: &[u8]) -> Result<PluginConfig, ConfigError> {
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                ConfigError(format!("plugin configuration is not valid JSON: {inner}"))
            } else if path == "." {
                ConfigError(format!("plugin configuration: {inner}"))
            } else {
                ConfigError(format!("plugin configuration: .{path}: {inner}"))
            }
        })
    }

    /// Every APIRule object, with `List`s flattened, in configuration order.
    pub fn objects(&self) -> Result<Vec<&Value>, ConfigError> {
        let mut out = Vec::new();
        for (i, item) in self.api_rules.iter().enumerate() {
            let Some(obj) = item.as_object() else {
                return Err(ConfigError(format!(
                    "plugin configuration: .apiRules[{i}]: expected an APIRule object or a List"
                )));
            };
            let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
            if kind == "List" || kind.ends_with("List") {
                let items = obj.get("items").and_then(Value::as_array).ok_or_else(|| {
                    ConfigError(format!(
                        "plugin configuration: .apiRules[{i}].items: a {kind} needs an items array"
                    ))
                })?;
                for (j, inner) in items.iter().enumerate() {
                    if !inner.is_object() {
                        return Err(ConfigError(format!(
                            "plugin configuration: .apiRules[{i}].items[{j}]: expected an APIRule object"
                        )));
                    }
                    out.push(inner);
                }
            } else {
                out.push(item);
            }
        }
        Ok(out)
    }
}

/// `metadata.name` / `metadata.namespace` of any object, for reports.
pub fn object_identity(obj: &Value) -> (String, String) {
    let meta = obj.get("metadata");
    let get = |k: &str| {
        meta.and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    (
        get("name").unwrap_or_else(|| "<unnamed>".into()),
        get("namespace").unwrap_or_else(|| "default".into()),
    )
}

/// Deserialises `value` into `T`, naming the failing field as `.spec.rules[0].timeout`.
pub fn typed<T: serde::de::DeserializeOwned>(
    value: &Value,
    prefix: &str,
) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." {
            prefix.to_owned()
        } else {
            format!("{prefix}.{path}")
        };
        (path, e.into_inner().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_json_and_bad_shape() {
        let e = PluginConfig::from_json(b"{not json").err();
        assert!(e.is_some_and(|e| e.0.contains("not valid JSON")));
        let e = PluginConfig::from_json(br#"{"apiRules": [], "apirules": []}"#).err();
        assert!(
            e.is_some_and(|e| e.0.contains("unknown field `apirules`")),
            "typo is an error"
        );
        let e = PluginConfig::from_json(br#"{}"#).err();
        assert!(e.is_some_and(|e| e.0.contains("missing field `apiRules`")));
        let e = PluginConfig::from_json(br#"{"apiRules": {}}"#).err();
        assert!(e.is_some_and(|e| e.0.contains(".apiRules")));
        let cfg = PluginConfig::from_json(br#"{"apiRules": ["x"]}"#);
        let e = cfg.ok().and_then(|c| c.objects().err());
        assert!(e.is_some_and(|e| e.0.contains(".apiRules[0]")));
        let e = PluginConfig::from_json(br#"{"apiRules": [], "jwtHandler": "oathkeeper"}"#).err();
        assert!(e.is_some_and(|e| e.0.contains(".jwtHandler")));
    }

    #[test]
    fn flattens_lists() {
        let cfg = PluginConfig::from_json(
            br#"{"apiRules": [{"kind": "APIRule"}, {"kind": "List", "items": [{"kind": "APIRule"}, {"kind": "APIRule"}]}]}"#,
        );
        assert_eq!(
            cfg.ok().and_then(|c| c.objects().ok().map(|o| o.len())),
            Some(3)
        );
    }
}
