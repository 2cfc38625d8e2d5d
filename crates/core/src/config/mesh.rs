//! Istio's mesh `extensionProviders`, as the plugin configuration carries them: the authorizers a
//! v2 `extAuth` rule names. In a cluster they live in the `istio` ConfigMap; here the operator
//! copies the entries this gateway needs (same field names, so the YAML moves over unchanged).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// One `extensionProviders[]` entry. Only `envoyExtAuthzHttp` is used; other kinds (gRPC
/// authorizers, tracers, access loggers) are accepted so a copied list loads, and an `extAuth`
/// rule naming one is rejected with Kyma's message.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionProvider {
    pub name: String,
    #[serde(default)]
    pub envoy_ext_authz_http: Option<EnvoyExtAuthzHttp>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// `MeshConfig.ExtensionProvider.EnvoyExternalAuthorizationHttpProvider`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EnvoyExtAuthzHttp {
    /// `authz.foo.svc.cluster.local` or `foo/authz.foo.svc.cluster.local`.
    #[serde(default)]
    pub service: String,
    #[serde(default, deserialize_with = "super::num::opt_u32")]
    pub port: Option<u32>,
    /// Istio's default is 10 minutes.
    #[serde(default)]
    pub timeout: Option<Value>,
    #[serde(default)]
    pub path_prefix: Option<String>,
    #[serde(default)]
    pub fail_open: bool,
    /// A status code as a string (`"503"`); default `"403"`.
    #[serde(default)]
    pub status_on_error: Option<String>,
    /// Deprecated by Istio in favour of `includeRequestHeadersInCheck`; same meaning.
    #[serde(default)]
    pub include_headers_in_check: Vec<String>,
    #[serde(default)]
    pub include_request_headers_in_check: Vec<String>,
    #[serde(default)]
    pub include_additional_headers_in_check: BTreeMap<String, String>,
    #[serde(default)]
    pub include_request_body_in_check: Option<Value>,
    #[serde(default)]
    pub headers_to_upstream_on_allow: Vec<String>,
    #[serde(default)]
    pub headers_to_downstream_on_deny: Vec<String>,
    #[serde(default)]
    pub headers_to_downstream_on_allow: Vec<String>,
}
