//! The normalised model: every APIRule version (v2, v2alpha1, v1beta1, v1alpha1, the legacy `Api`)
//! becomes this one shape after it has passed validation. `compile` turns it into matchers.

use crate::matcher::method::MethodSet;

/// Which API an object came from; kept for reports, logs and version-specific response shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    V2,
    V2Alpha1,
    V1Beta1,
    V1Alpha1,
    LegacyApi,
}

impl Source {
    pub fn api_version(self) -> &'static str {
        match self {
            Source::V2 => "gateway.kyma-project.io/v2",
            Source::V2Alpha1 => "gateway.kyma-project.io/v2alpha1",
            Source::V1Beta1 => "gateway.kyma-project.io/v1beta1",
            Source::V1Alpha1 => "gateway.kyma-project.io/v1alpha1",
            Source::LegacyApi => "gateway.kyma-project.io/v1alpha2",
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            Source::LegacyApi => "Api",
            _ => "APIRule",
        }
    }

    /// v1beta1 and older were enforced by Oathkeeper (Ory), v2 by Istio: their deny bodies differ.
    pub fn is_ory_era(self) -> bool {
        matches!(self, Source::V1Beta1 | Source::V1Alpha1)
    }
}

#[derive(Debug, Clone)]
pub struct ApiRule {
    pub name: String,
    pub namespace: String,
    pub source: Source,
    /// Expanded hosts, lower case: `a.example.com` or a wildcard `*.example.com`.
    pub hosts: Vec<String>,
    pub rules: Vec<Rule>,
    pub cors: Cors,
}

/// CORS as Kyma configures it on the VirtualService.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Cors {
    /// v2 without `corsPolicy`: no CORS headers, upstream CORS headers removed.
    #[default]
    None,
    /// v1beta1 without `corsPolicy`: Kyma's default policy, upstream CORS headers kept.
    V1beta1Default,
    /// An explicit `corsPolicy`: exactly that, upstream CORS headers removed.
    Policy(CorsPolicy),
    /// The legacy `Api`: no CORS handling at all.
    Passthrough,
}

impl Cors {
    /// Kyma's VirtualService removes the upstream's own CORS headers (v2 always, v1beta1 with
    /// an explicit policy).
    pub fn strips_upstream(&self) -> bool {
        matches!(self, Cors::None | Cors::Policy(_))
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CorsPolicy {
    pub allow_origins: Vec<OriginMatch>,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub allow_credentials: Option<bool>,
    pub max_age_s: Option<u64>,
}

/// Istio `StringMatch`: `exact`, `prefix` or `regex` (an unknown key counts as prefix, as Kyma).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginMatch {
    Exact(String),
    Prefix(String),
    Regex(String),
}

#[derive(Debug, Clone)]
pub struct Rule {
    /// Position in `spec.rules`, for logs and `explain`.
    pub index: usize,
    pub path: PathSpec,
    pub methods: MethodSet,
    pub service: Option<Service>,
    /// `rule.timeout ?? spec.timeout ?? 180`, in seconds.
    pub timeout_s: u32,
    pub access: Access,
    pub mutators: Mutators,
}

/// What a rule writes into the upstream request once access is granted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mutators {
    /// Istio style (v2 `request.headers`, v1beta1 Istio `header` mutator): values with Envoy
    /// command operators; each overwrites the client's header.
    pub headers: Vec<(String, String)>,
    /// Istio style cookies: together they replace the `Cookie` header.
    pub cookies: Vec<(String, String)>,
    /// Ory style (v1beta1 rules behind Oathkeeper): `{handler, config}` in order.
    pub ory: Vec<(String, serde_json::Value)>,
}

impl ApiRule {
    /// The `x-forwarded-host` Kyma v2 sets: the first host; `None` when that is a wildcard, where
    /// the request's own authority is sent.
    pub fn forwarded_host(&self) -> Option<&str> {
        self.hosts
            .first()
            .filter(|h| !h.starts_with("*."))
            .map(String::as_str)
    }
}

impl Mutators {
    /// The Istio-style value this rule writes into header `name` (names compare
    /// case-insensitively; the last one is the one that stays).
    pub fn istio_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// An Ory `header` mutator of this rule writes header `name`.
    pub fn ory_writes_header(&self, name: &str) -> bool {
        self.ory.iter().any(|(handler, config)| {
            handler == "header"
                && config
                    .get("headers")
                    .and_then(serde_json::Value::as_object)
                    .is_some_and(|m| m.keys().any(|k| k.eq_ignore_ascii_case(name)))
        })
    }
}

/// A rule path as the user wrote it, classified by its dialect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSpec {
    /// v2 template: exact segments, `{*}`, `{**}`.
    Template(String),
    /// `/*`: every path (VirtualService `prefix: /`).
    Any,
    /// v1beta1 / v1alpha1: an RE2 regular expression matched against the whole path.
    Regex(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    pub namespace: String,
    pub port: u32,
}

impl Service {
    pub fn fqdn(&self) -> String {
        format!("{}.{}.svc.cluster.local", self.name, self.namespace)
    }
}

/// What a matched request must satisfy.
#[derive(Debug, Clone, PartialEq)]
pub enum Access {
    /// v2 `noAuth`, v1beta1 `allow` / `no_auth`, legacy `Api` without authentication.
    Public,
    /// v1beta1 `noop`: no authentication, but Oathkeeper's mutators would run.
    Noop,
    /// Authenticators tried in order (v1beta1 may list several; v2 has exactly one).
    Authenticate(Vec<Authenticator>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Authenticator {
    /// Istio-style JWT (v2 `jwt`, v1beta1 `jwt` with `authentications`, legacy `Api`).
    IstioJwt(IstioJwt),
    /// Ory-style JWT (v1beta1 `jwt` with `jwks_urls`, ...): raw config, interpreted by the JWT module.
    OryJwt(serde_json::Value),
    /// Ory `oauth2_introspection`: raw config.
    OAuth2Introspection(serde_json::Value),
    /// v2 `extAuth`.
    ExtAuth(ExtAuth),
    /// A handler Kyma accepts but this filter does not enforce (`unauthorized`, `anonymous`,
    /// `cookie_session`, `oauth2_client_credentials`): always denied.
    Other(String),
}

impl Authenticator {
    pub fn name(&self) -> &str {
        match self {
            Authenticator::IstioJwt(_) | Authenticator::OryJwt(_) => "jwt",
            Authenticator::OAuth2Introspection(_) => "oauth2_introspection",
            Authenticator::ExtAuth(_) => "extAuth",
            Authenticator::Other(name) => name,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct IstioJwt {
    pub authentications: Vec<JwtAuthentication>,
    pub authorizations: Vec<JwtAuthorization>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct JwtAuthentication {
    pub issuer: String,
    pub jwks_uri: String,
    pub from_headers: Vec<FromHeader>,
    pub from_params: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FromHeader {
    pub name: String,
    pub prefix: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct JwtAuthorization {
    pub required_scopes: Vec<String>,
    pub audiences: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExtAuth {
    pub authorizers: Vec<String>,
    pub restrictions: Option<IstioJwt>,
}

impl CorsPolicy {
    /// Kyma's default for v1beta1 APIRules without `corsPolicy` (`cmd/main.go`).
    pub fn v1beta1_default() -> CorsPolicy {
        CorsPolicy {
            allow_origins: vec![OriginMatch::Regex(".*".into())],
            allow_methods: ["GET", "POST", "PUT", "DELETE", "PATCH"]
                .map(String::from)
                .to_vec(),
            allow_headers: ["Authorization", "Content-Type", "*"]
                .map(String::from)
                .to_vec(),
            ..Default::default()
        }
    }

    /// From Istio StringMatch maps (`{exact|prefix|regex: value}`).
    pub fn origins(list: &[std::collections::BTreeMap<String, String>]) -> Vec<OriginMatch> {
        list.iter()
            .flat_map(|m| m.iter())
            .map(|(k, v)| match k.as_str() {
                "exact" => OriginMatch::Exact(v.clone()),
                "regex" => OriginMatch::Regex(v.clone()),
                _ => OriginMatch::Prefix(v.clone()),
            })
            .collect()
    }
}
