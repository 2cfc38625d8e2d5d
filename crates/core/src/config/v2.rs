//! `gateway.kyma-project.io/v2` and `v2alpha1` (field-for-field identical) as Kyma's Go types read
//! them. Options keep "absent", "null" and "empty" apart, because validation tells them apart.

use super::read;

use super::model::{self, Access, ApiRule, Authenticator, PathSpec, Source};
use crate::matcher::method::MethodSet;

#[derive(Debug, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(rename_all = "camelCase"))]
pub struct Spec {
    pub hosts: Option<Vec<String>>,
    pub service: Option<Service>,
    pub gateway: Option<String>,
    pub external_gateway: Option<String>,
    pub cors_policy: Option<CorsPolicy>,
    pub rules: Option<Vec<Rule>>,
    #[cfg_attr(test, serde(default, deserialize_with = "crate::config::num::opt_u32"))]
    pub timeout: Option<u32>,
}
read::from_json_struct!(Spec {
    hosts: "hosts",
    service: "service",
    gateway: "gateway",
    external_gateway: "externalGateway",
    cors_policy: "corsPolicy",
    rules: "rules",
    timeout: "timeout",
});

#[derive(Debug, Default, PartialEq, Clone)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(rename_all = "camelCase"))]
pub struct Service {
    pub name: Option<String>,
    pub namespace: Option<String>,
    #[cfg_attr(test, serde(default, deserialize_with = "crate::config::num::opt_u32"))]
    pub port: Option<u32>,
    pub external: Option<bool>,
}
read::from_json_struct!(Service {
    name: "name",
    namespace: "namespace",
    port: "port",
    external: "external",
});

#[derive(Debug, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(rename_all = "camelCase"))]
pub struct CorsPolicy {
    pub allow_headers: Option<Vec<String>>,
    pub allow_methods: Option<Vec<String>>,
    pub allow_origins: Option<Vec<std::collections::BTreeMap<String, String>>>,
    pub allow_credentials: Option<bool>,
    pub expose_headers: Option<Vec<String>>,
    #[cfg_attr(test, serde(default, deserialize_with = "crate::config::num::opt_u64"))]
    pub max_age: Option<u64>,
}
read::from_json_struct!(CorsPolicy {
    allow_headers: "allowHeaders",
    allow_methods: "allowMethods",
    allow_origins: "allowOrigins",
    allow_credentials: "allowCredentials",
    expose_headers: "exposeHeaders",
    max_age: "maxAge",
});

#[derive(Debug, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(rename_all = "camelCase"))]
pub struct Rule {
    pub path: Option<String>,
    pub service: Option<Service>,
    pub methods: Option<Vec<String>>,
    pub no_auth: Option<bool>,
    pub jwt: Option<JwtConfig>,
    pub ext_auth: Option<ExtAuth>,
    #[cfg_attr(test, serde(default, deserialize_with = "crate::config::num::opt_u32"))]
    pub timeout: Option<u32>,
    pub request: Option<Request>,
}
read::from_json_struct!(Rule {
    path: "path",
    service: "service",
    methods: "methods",
    no_auth: "noAuth",
    jwt: "jwt",
    ext_auth: "extAuth",
    timeout: "timeout",
    request: "request",
});

#[derive(Debug, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(rename_all = "camelCase"))]
pub struct Request {
    pub headers: Option<std::collections::BTreeMap<String, String>>,
    pub cookies: Option<std::collections::BTreeMap<String, String>>,
}
read::from_json_struct!(Request {
    headers: "headers",
    cookies: "cookies",
});

#[derive(Debug, Default, PartialEq, Clone)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(rename_all = "camelCase"))]
pub struct JwtConfig {
    pub authentications: Option<Vec<JwtAuthentication>>,
    /// `[null]` is a distinct validation error ("authorization is empty").
    pub authorizations: Option<Vec<Option<JwtAuthorization>>>,
}
read::from_json_struct!(JwtConfig {
    authentications: "authentications",
    authorizations: "authorizations",
});

#[derive(Debug, Default, PartialEq, Clone)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(rename_all = "camelCase"))]
pub struct JwtAuthentication {
    pub issuer: Option<String>,
    pub jwks_uri: Option<String>,
    pub from_headers: Option<Vec<FromHeader>>,
    pub from_params: Option<Vec<String>>,
}
read::from_json_struct!(JwtAuthentication {
    issuer: "issuer",
    jwks_uri: "jwksUri",
    from_headers: "fromHeaders",
    from_params: "fromParams",
});

#[derive(Debug, Default, PartialEq, Clone)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub struct FromHeader {
    pub name: Option<String>,
    pub prefix: Option<String>,
}
read::from_json_struct!(FromHeader {
    name: "name",
    prefix: "prefix",
});

#[derive(Debug, Default, PartialEq, Clone)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(rename_all = "camelCase"))]
pub struct JwtAuthorization {
    pub required_scopes: Option<Vec<String>>,
    pub audiences: Option<Vec<String>>,
}
read::from_json_struct!(JwtAuthorization {
    required_scopes: "requiredScopes",
    audiences: "audiences",
});

#[derive(Debug, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(rename_all = "camelCase"))]
pub struct ExtAuth {
    pub authorizers: Option<Vec<String>>,
    pub restrictions: Option<JwtConfig>,
}
read::from_json_struct!(ExtAuth {
    authorizers: "authorizers",
    restrictions: "restrictions",
});

impl CorsPolicy {
    pub fn to_model(&self) -> model::CorsPolicy {
        model::CorsPolicy {
            allow_origins: model::CorsPolicy::origins(
                self.allow_origins.as_deref().unwrap_or_default(),
            ),
            allow_methods: self.allow_methods.clone().unwrap_or_default(),
            allow_headers: self.allow_headers.clone().unwrap_or_default(),
            expose_headers: self.expose_headers.clone().unwrap_or_default(),
            allow_credentials: self.allow_credentials,
            max_age_s: self.max_age,
        }
    }
}

/// Kyma's default route timeout, in seconds.
pub const DEFAULT_TIMEOUT_S: u32 = 180;

impl JwtConfig {
    pub fn to_model(&self) -> model::IstioJwt {
        model::IstioJwt {
            authentications: self
                .authentications
                .iter()
                .flatten()
                .map(|a| model::JwtAuthentication {
                    issuer: a.issuer.clone().unwrap_or_default(),
                    jwks_uri: a.jwks_uri.clone().unwrap_or_default(),
                    from_headers: a
                        .from_headers
                        .iter()
                        .flatten()
                        .map(|h| model::FromHeader {
                            name: h.name.clone().unwrap_or_default(),
                            prefix: h.prefix.clone(),
                        })
                        .collect(),
                    from_params: a.from_params.clone().unwrap_or_default(),
                })
                .collect(),
            authorizations: self
                .authorizations
                .iter()
                .flatten()
                .flatten()
                .map(|a| model::JwtAuthorization {
                    required_scopes: a.required_scopes.clone().unwrap_or_default(),
                    audiences: a.audiences.clone().unwrap_or_default(),
                })
                .collect(),
        }
    }
}

/// `<label>` → `<label>.<domain>`; FQDNs and wildcards unchanged. Lower case.
pub fn expand_host(host: &str, default_domain: Option<&str>) -> String {
    let host = host.to_ascii_lowercase();
    match default_domain {
        Some(domain) if !host.contains('.') => format!("{host}.{}", domain.to_ascii_lowercase()),
        _ => host,
    }
}

pub fn resolve_service(
    rule: Option<&Service>,
    spec: Option<&Service>,
    namespace: &str,
) -> Option<model::Service> {
    let svc = rule.or(spec)?;
    Some(model::Service {
        name: svc.name.clone().unwrap_or_default(),
        namespace: svc
            .namespace
            .clone()
            .or_else(|| spec.and_then(|s| s.namespace.clone()))
            .unwrap_or_else(|| namespace.to_owned()),
        port: svc.port.unwrap_or_default(),
    })
}

impl Spec {
    /// The model of a validated spec.
    pub fn to_model(
        &self,
        name: &str,
        namespace: &str,
        source: Source,
        default_domain: Option<&str>,
    ) -> ApiRule {
        let hosts = self
            .hosts
            .iter()
            .flatten()
            .map(|h| expand_host(h, default_domain))
            .collect();
        let rules = self
            .rules
            .iter()
            .flatten()
            .enumerate()
            .map(|(index, r)| {
                let path = r.path.clone().unwrap_or_default();
                let mut methods = MethodSet::default();
                for m in r.methods.iter().flatten() {
                    methods.insert(m);
                }
                let access = if r.no_auth == Some(true) {
                    Access::Public
                } else if let Some(jwt) = &r.jwt {
                    Access::Authenticate(vec![Authenticator::IstioJwt(jwt.to_model())])
                } else if let Some(ext) = &r.ext_auth {
                    Access::Authenticate(vec![Authenticator::ExtAuth(model::ExtAuth {
                        authorizers: ext.authorizers.clone().unwrap_or_default(),
                        restrictions: ext.restrictions.as_ref().map(JwtConfig::to_model),
                    })])
                } else {
                    // Unreachable after validation; deny rather than expose.
                    Access::Authenticate(vec![Authenticator::Other("none".into())])
                };
                model::Rule {
                    index,
                    path: if path == "/*" {
                        PathSpec::Any
                    } else {
                        PathSpec::Template(path)
                    },
                    methods,
                    service: resolve_service(r.service.as_ref(), self.service.as_ref(), namespace),
                    timeout_s: r.timeout.or(self.timeout).unwrap_or(DEFAULT_TIMEOUT_S),
                    access,
                    mutators: model::Mutators {
                        headers: r
                            .request
                            .as_ref()
                            .and_then(|q| q.headers.clone())
                            .map(|h| h.into_iter().collect())
                            .unwrap_or_default(),
                        cookies: r
                            .request
                            .as_ref()
                            .and_then(|q| q.cookies.clone())
                            .map(|c| c.into_iter().collect())
                            .unwrap_or_default(),
                        ory: Vec::new(),
                    },
                }
            })
            .collect();
        // Kyma builds no corsPolicy when allowOrigins is absent.
        let cors = match &self.cors_policy {
            Some(c) if c.allow_origins.is_some() => model::Cors::Policy(c.to_model()),
            _ => model::Cors::None,
        };
        ApiRule {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            source,
            hosts,
            rules,
            cors,
        }
    }
}
