//! Istio's mesh `extensionProviders`, as the plugin configuration carries them: the authorizers a
//! v2 `extAuth` rule names. In a cluster they live in the `istio` ConfigMap; here the operator
//! copies the entries this gateway needs (same field names, so the YAML moves over unchanged).

use std::collections::BTreeMap;

use serde_json::Value;

use super::read;

/// One `extensionProviders[]` entry. Only `envoyExtAuthzHttp` is used; other kinds (gRPC
/// authorizers, tracers, access loggers) are accepted so a copied list loads, and an `extAuth`
/// rule naming one is rejected with Kyma's message.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(rename_all = "camelCase"))]
pub struct ExtensionProvider {
    pub name: String,
    #[cfg_attr(test, serde(default))]
    pub envoy_ext_authz_http: Option<EnvoyExtAuthzHttp>,
    /// Every other member (serde's `flatten`).
    #[cfg_attr(test, serde(flatten))]
    pub other: BTreeMap<String, Value>,
}

impl read::FromJson for ExtensionProvider {
    fn from_json(v: &Value) -> Result<Self, read::ReadError> {
        const NAME: &str = "name";
        const HTTP: &str = "envoyExtAuthzHttp";
        let map = read::object(v, "struct ExtensionProvider")?;
        let mut other = BTreeMap::new();
        for (k, v) in map.iter().filter(|(k, _)| *k != NAME && *k != HTTP) {
            other.insert(k.clone(), v.clone());
        }
        Ok(ExtensionProvider {
            name: read::required(map, NAME)?,
            envoy_ext_authz_http: read::field(map, HTTP)?,
            other,
        })
    }
}

/// `MeshConfig.ExtensionProvider.EnvoyExternalAuthorizationHttpProvider`.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(deny_unknown_fields, rename_all = "camelCase"))]
pub struct EnvoyExtAuthzHttp {
    /// `authz.foo.svc.cluster.local` or `foo/authz.foo.svc.cluster.local`.
    #[cfg_attr(test, serde(default))]
    pub service: String,
    #[cfg_attr(test, serde(default, deserialize_with = "super::num::opt_u32"))]
    pub port: Option<u32>,
    /// Istio's default is 10 minutes.
    #[cfg_attr(test, serde(default))]
    pub timeout: Option<Value>,
    #[cfg_attr(test, serde(default))]
    pub path_prefix: Option<String>,
    #[cfg_attr(test, serde(default))]
    pub fail_open: bool,
    /// A status code as a string (`"503"`); default `"403"`.
    #[cfg_attr(test, serde(default))]
    pub status_on_error: Option<String>,
    /// Deprecated by Istio in favour of `includeRequestHeadersInCheck`; same meaning.
    #[cfg_attr(test, serde(default))]
    pub include_headers_in_check: Vec<String>,
    #[cfg_attr(test, serde(default))]
    pub include_request_headers_in_check: Vec<String>,
    #[cfg_attr(test, serde(default))]
    pub include_additional_headers_in_check: BTreeMap<String, String>,
    #[cfg_attr(test, serde(default))]
    pub include_request_body_in_check: Option<Value>,
    #[cfg_attr(test, serde(default))]
    pub headers_to_upstream_on_allow: Vec<String>,
    #[cfg_attr(test, serde(default))]
    pub headers_to_downstream_on_deny: Vec<String>,
    #[cfg_attr(test, serde(default))]
    pub headers_to_downstream_on_allow: Vec<String>,
}
read::from_json_struct!(strict EnvoyExtAuthzHttp {
    service: "service",
    port: "port",
    timeout: "timeout",
    path_prefix: "pathPrefix",
    fail_open: "failOpen",
    status_on_error: "statusOnError",
    include_headers_in_check: "includeHeadersInCheck",
    include_request_headers_in_check: "includeRequestHeadersInCheck",
    include_additional_headers_in_check: "includeAdditionalHeadersInCheck",
    include_request_body_in_check: "includeRequestBodyInCheck",
    headers_to_upstream_on_allow: "headersToUpstreamOnAllow",
    headers_to_downstream_on_deny: "headersToDownstreamOnDeny",
    headers_to_downstream_on_allow: "headersToDownstreamOnAllow",
});
