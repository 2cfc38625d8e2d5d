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

pub mod compact;
pub mod legacy_api;
pub mod mesh;
pub mod model;
pub mod num;
pub mod ratelimit;
pub mod read;
pub mod v1alpha1;
pub mod v1beta1;
pub mod v2;

use serde_json::Value;

/// Kyma's `api-gateway-config` switch for v1beta1 `jwt` rules: Ory Oathkeeper (Kyma's default
/// when the ConfigMap is absent) or Istio. It selects which config keys are valid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(rename_all = "lowercase"))]
pub enum JwtHandler {
    #[default]
    Ory,
    Istio,
}

impl read::FromJson for JwtHandler {
    fn from_json(v: &Value) -> Result<Self, read::ReadError> {
        Ok(match read::unit_variant(v, &["ory", "istio"])? {
            0 => JwtHandler::Ory,
            _ => JwtHandler::Istio,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(deny_unknown_fields, rename_all = "camelCase"))]
pub struct PluginConfig {
    /// APIRule objects, or `List`s of them: `apiRules`, or `apiRulesGzip` decoded (one of the
    /// two is required; [`PluginConfig::from_json`] fills this).
    #[cfg_attr(test, serde(skip))]
    pub api_rules: Vec<Value>,
    #[cfg_attr(test, serde(rename = "apiRules", default))]
    api_rules_plain: Option<Vec<Value>>,
    /// The same list in compact form (gzip, then base64): see [`compact`].
    #[cfg_attr(test, serde(default))]
    api_rules_gzip: Option<String>,
    /// Completes short hosts (`httpbin` → `httpbin.<defaultDomain>`), the role of the Kyma
    /// gateway's `*.<domain>` host.
    #[cfg_attr(test, serde(default))]
    pub default_domain: Option<String>,
    #[cfg_attr(test, serde(default))]
    pub jwt_handler: JwtHandler,
    /// When set, APIRules bound to another gateway are not served by this filter.
    #[cfg_attr(test, serde(default))]
    pub gateway: Option<String>,
    /// How JWKS documents are fetched and refreshed.
    #[cfg_attr(test, serde(default))]
    pub jwks: JwksSettings,
    /// Envoy cluster per origin (`"https://idp.example.com": "idp"`) for callouts; without an
    /// entry, Istio's `outbound|<port>||<host>`.
    #[cfg_attr(test, serde(default))]
    pub clusters: std::collections::BTreeMap<String, String>,
    /// Oathkeeper's global authenticator config, as Kyma deploys it: used by v1beta1 rules that
    /// leave `introspection_url` or `jwks_urls` out.
    #[cfg_attr(test, serde(default))]
    pub oathkeeper: OathkeeperDefaults,
    /// Private keys for `id_token` mutators, by the mutator's `jwks_url`: a JWK Set, or
    /// `{"fromEnv": "VAR"}` to read it from the proxy's environment (Istio `vmConfig.env`).
    #[cfg_attr(test, serde(default))]
    pub signing_keys: std::collections::BTreeMap<String, Value>,
    /// Use Envoy's `verify_signature` (BoringSSL) for RSA and ECDSA when the host offers it
    /// (default true); `false` forces the pure-Rust path.
    #[cfg_attr(test, serde(default))]
    pub native_crypto: Option<bool>,
    /// Istio mesh `extensionProviders` (the `istio` ConfigMap's): the authorizers `extAuth`
    /// rules name.
    #[cfg_attr(test, serde(default))]
    pub extension_providers: Vec<mesh::ExtensionProvider>,
    /// `RateLimit` objects (gateway.kyma-project.io/v1alpha1), or `List`s of them.
    #[cfg_attr(test, serde(default))]
    pub rate_limits: Vec<Value>,
    /// The pods this filter runs in, to tell which RateLimits select them (default: Istio's
    /// ingress gateway, `istio-system` with `app: istio-ingressgateway, istio: ingressgateway`).
    #[cfg_attr(test, serde(default))]
    pub workload: Option<ratelimit::Workload>,
    /// The routes set `x-forwarded-host` and each rule's timeout, as Kyma's VirtualService does
    /// and as `apirule render` writes them (it sets this key): the filter leaves both headers to
    /// them, two host calls fewer per allowed request. Default false: the filter writes them,
    /// for routes that do not (one catch-all route, say).
    #[cfg_attr(test, serde(default))]
    pub routes_set_upstream_headers: bool,
    /// Verified tokens remembered per worker (default 4096).
    #[cfg_attr(test, serde(default, deserialize_with = "num::opt_u64"))]
    pub token_cache_size: Option<u64>,
    /// Not a configuration key: `apirule check` sets it to report the controller's failures of
    /// an object the API server would refuse too (the validation context's `every_stage`).
    #[cfg_attr(test, serde(skip))]
    pub every_stage: bool,
}
read::from_json_struct!(strict PluginConfig {
    api_rules_plain: "apiRules",
    api_rules_gzip: "apiRulesGzip",
    default_domain: "defaultDomain",
    jwt_handler: "jwtHandler",
    gateway: "gateway",
    jwks: "jwks",
    clusters: "clusters",
    oathkeeper: "oathkeeper",
    signing_keys: "signingKeys",
    native_crypto: "nativeCrypto",
    extension_providers: "extensionProviders",
    rate_limits: "rateLimits",
    workload: "workload",
    routes_set_upstream_headers: "routesSetUpstreamHeaders",
    token_cache_size: "tokenCacheSize",
} skip { api_rules, every_stage });

#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(deny_unknown_fields, rename_all = "camelCase"))]
pub struct OathkeeperDefaults {
    pub introspection_url: Option<String>,
    #[cfg_attr(test, serde(default))]
    pub jwks_urls: Vec<String>,
}
read::from_json_struct!(strict OathkeeperDefaults {
    introspection_url: "introspectionUrl",
    jwks_urls: "jwksUrls",
});

/// Durations as `"300s"`, `"5m"`, `"250ms"` or seconds.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(deny_unknown_fields, rename_all = "camelCase"))]
pub struct JwksSettings {
    /// Refresh period of fetched keys (default 300s, Istio's).
    pub refresh_interval: Option<Value>,
    /// At most one refetch per this period for tokens with an unknown `kid` (default 2s).
    pub min_refetch_interval: Option<Value>,
    /// Wait before retrying a failed fetch (default 1s).
    pub retry_interval: Option<Value>,
    /// Timeout of one fetch (default 5s).
    pub fetch_timeout: Option<Value>,
    /// How long a request waits for keys that are not there yet (default 3s).
    pub max_wait: Option<Value>,
}
read::from_json_struct!(strict JwksSettings {
    refresh_interval: "refreshInterval",
    min_refetch_interval: "minRefetchInterval",
    retry_interval: "retryInterval",
    fetch_timeout: "fetchTimeout",
    max_wait: "maxWait",
});

impl JwksSettings {
    pub fn policy(&self) -> Result<crate::jwt::keystore::JwksPolicy, ConfigError> {
        let mut p = crate::jwt::keystore::JwksPolicy::default();
        for (name, value, slot) in [
            ("refreshInterval", &self.refresh_interval, &mut p.refresh_ms),
            (
                "minRefetchInterval",
                &self.min_refetch_interval,
                &mut p.min_refetch_ms,
            ),
            ("retryInterval", &self.retry_interval, &mut p.retry_ms),
            ("fetchTimeout", &self.fetch_timeout, &mut p.fetch_timeout_ms),
            ("maxWait", &self.max_wait, &mut p.max_wait_ms),
        ] {
            if let Some(v) = value {
                *slot = num::duration_ms(v)
                    .map_err(|e| ConfigError(format!("plugin configuration: .jwks.{name}: {e}")))?;
            }
        }
        if p.fetch_timeout_ms == 0 {
            // Envoy treats a zero callout timeout as "none": never let a fetch hang forever.
            return Err(ConfigError(
                "plugin configuration: .jwks.fetchTimeout: must be more than 0".into(),
            ));
        }
        Ok(p)
    }
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
        let mut config = Self::parse(bytes)?;
        config.api_rules = match (config.api_rules_plain.take(), config.api_rules_gzip.take()) {
            (Some(list), None) => list,
            (None, Some(packed)) => compact::decode(&packed)
                .map_err(|e| ConfigError(format!("plugin configuration: .apiRulesGzip: {e}")))?,
            (Some(_), Some(_)) => {
                return Err(ConfigError(
                    "plugin configuration: set apiRules or apiRulesGzip, not both".into(),
                ))
            }
            (None, None) => {
                return Err(ConfigError(
                    "plugin configuration: missing field `apiRules` (or `apiRulesGzip`)".into(),
                ))
            }
        };
        Ok(config)
    }

    fn parse(bytes: &[u8]) -> Result<PluginConfig, ConfigError> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| ConfigError(format!("plugin configuration is not valid JSON: {e}")))?;
        Self::from_value(value).map_err(|e| match e.path() {
            p if p == "." => ConfigError(format!("plugin configuration: {e}")),
            p => ConfigError(format!("plugin configuration: .{p}: {e}")),
        })
    }

    /// The configuration's keys, the two lists of objects moved out rather than copied (10,000
    /// APIRules are most of its size).
    fn from_value(value: Value) -> Result<PluginConfig, read::ReadError> {
        let Value::Object(mut members) = value else {
            return Err(read::invalid_type(&value, "struct PluginConfig"));
        };
        let api_rules = take_list(&mut members, "apiRules", true)?;
        let rate_limits = take_list(&mut members, "rateLimits", false)?;
        let mut config: PluginConfig = read::read(&Value::Object(members))?;
        config.api_rules_plain = api_rules;
        config.rate_limits = rate_limits.unwrap_or_default();
        Ok(config)
    }

    /// Every APIRule object, with `List`s flattened, in configuration order (RateLimit objects
    /// met there are left to [`PluginConfig::rate_limit_objects`]).
    pub fn objects(&self) -> Result<Vec<&Value>, ConfigError> {
        Ok(self
            .all_objects()?
            .into_iter()
            .filter(|o| !ratelimit::is_rate_limit(o))
            .collect())
    }

    /// RateLimit objects: those in `rateLimits`, then those found among `apiRules` (so one
    /// `kubectl get apirules,ratelimits -o json` List can be pasted whole).
    pub fn rate_limit_objects(&self) -> Result<Vec<&Value>, ConfigError> {
        let mut out = Vec::new();
        for (i, item) in self.rate_limits.iter().enumerate() {
            match item.get("items").and_then(Value::as_array) {
                Some(items) => out.extend(items.iter()),
                None if item.is_object() => out.push(item),
                None => {
                    return Err(ConfigError(format!(
                    "plugin configuration: .rateLimits[{i}]: expected a RateLimit object or a List"
                )))
                }
            }
        }
        out.extend(
            self.all_objects()?
                .into_iter()
                .filter(|o| ratelimit::is_rate_limit(o)),
        );
        Ok(out)
    }

    fn all_objects(&self) -> Result<Vec<&Value>, ConfigError> {
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

/// A list member taken out of `members`: absent is `None`, and so is `null` where `nullable` (an
/// `Option`), as serde reads them.
fn take_list(
    members: &mut serde_json::Map<String, Value>,
    key: &str,
    nullable: bool,
) -> Result<Option<Vec<Value>>, read::ReadError> {
    match members.remove(key) {
        None => Ok(None),
        Some(Value::Null) if nullable => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items)),
        Some(other) => Err(read::invalid_type(&other, "a sequence").at_key(key)),
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

/// Reads `value` as `T`, naming the failing field as `.spec.rules[0].timeout`.
pub fn typed<T: read::FromJson>(value: &Value, prefix: &str) -> Result<T, (String, String)> {
    read::read(value).map_err(|e| {
        let path = match e.path() {
            p if p == "." => prefix.to_owned(),
            p => format!("{prefix}.{p}"),
        };
        (path, e.message().to_owned())
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

    /// Every key set, then every value replaced by every JSON shape: the same configuration, or
    /// the same error at the same key, as serde's derive.
    #[test]
    fn the_configuration_reads_as_the_derive_would() {
        use crate::config::read::tests::{agrees_by, all_agree_by};
        use serde_json::json;
        let authz = json!({
            "service": "authz.ns.svc.cluster.local", "port": 8000, "timeout": "2s",
            "pathPrefix": "/check", "failOpen": true, "statusOnError": "503",
            "includeHeadersInCheck": ["a"], "includeRequestHeadersInCheck": ["b"],
            "includeAdditionalHeadersInCheck": {"c": "d"}, "includeRequestBodyInCheck": {"maxRequestBytes": 10},
            "headersToUpstreamOnAllow": ["e"], "headersToDownstreamOnDeny": ["f"],
            "headersToDownstreamOnAllow": ["g"],
        });
        let doc = json!({
            "apiRules": [{"kind": "APIRule"}], "apiRulesGzip": "H4sI", "defaultDomain": "d",
            "jwtHandler": "istio", "gateway": "kyma-system/kyma-gateway",
            "jwks": {"refreshInterval": "5m", "minRefetchInterval": "2s", "retryInterval": 1,
                "fetchTimeout": "5s", "maxWait": "3s"},
            "clusters": {"https://idp": "idp"},
            "oathkeeper": {"introspectionUrl": "https://i", "jwksUrls": ["https://j"]},
            "signingKeys": {"https://k": {"fromEnv": "KEYS"}}, "nativeCrypto": false,
            "extensionProviders": [{"name": "authz", "envoyExtAuthzHttp": authz},
                {"name": "tracer", "zipkin": {"service": "z"}}],
            "rateLimits": [{"kind": "RateLimit"}],
            "workload": {"namespace": "ns", "labels": {"app": "gw"}},
            "routesSetUpstreamHeaders": true, "tokenCacheSize": 100,
        });
        let ours = |v: &Value| PluginConfig::from_value(v.clone());
        all_agree_by(&doc, ours);
        let with = |key: &str, value: Value| {
            let mut changed = doc.clone();
            changed[key] = value;
            changed
        };
        for case in [
            with("apirules", json!([])),
            with("jwks", json!({"refresh": "1s"})),
            with("oathkeeper", json!({"jwksUrl": "x"})),
            with("workload", json!({"namespace": "n"})),
            with(
                "workload",
                json!({"namespace": "n", "labels": {}, "extra": 1}),
            ),
            with("extensionProviders", json!([{"envoyExtAuthzHttp": {}}])),
            with(
                "extensionProviders",
                json!([{"name": "a", "envoyExtAuthzHttp": {"sevice": "x"}}]),
            ),
            with("jwtHandler", json!("ory")),
            with("jwtHandler", json!("oathkeeper")),
            with("jwtHandler", json!({"ory": null})),
            with("jwtHandler", json!({"ory": 1})),
            with("jwtHandler", json!({"ory": null, "istio": null})),
            json!([]),
            json!("x"),
        ] {
            assert_eq!(agrees_by(&case, ours), Ok(()));
        }
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
