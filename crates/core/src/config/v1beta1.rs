//! `gateway.kyma-project.io/v1beta1`: one `host`, regex paths, Oathkeeper-style handlers
//! (`accessStrategies`, `mutators`) whose `config` is free-form JSON.

use super::read;
use serde_json::Value;

use super::model::{self, Access, ApiRule, Authenticator, PathSpec, Source};
use super::v2::{self, expand_host, resolve_service, DEFAULT_TIMEOUT_S};
use super::JwtHandler;
use crate::matcher::method::MethodSet;

#[derive(Debug, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(rename_all = "camelCase"))]
pub struct Spec {
    pub host: Option<String>,
    pub service: Option<v2::Service>,
    pub gateway: Option<String>,
    pub cors_policy: Option<CorsPolicy>,
    pub rules: Option<Vec<Rule>>,
    #[cfg_attr(test, serde(default, deserialize_with = "crate::config::num::opt_u32"))]
    pub timeout: Option<u32>,
}
read::from_json_struct!(Spec {
    host: "host",
    service: "service",
    gateway: "gateway",
    cors_policy: "corsPolicy",
    rules: "rules",
    timeout: "timeout",
});

/// v1beta1 `corsPolicy`: like v2's, but `maxAge` is a duration (`"200s"`).
#[derive(Debug, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(rename_all = "camelCase"))]
pub struct CorsPolicy {
    pub allow_headers: Option<Vec<String>>,
    pub allow_methods: Option<Vec<String>>,
    pub allow_origins: Option<Vec<std::collections::BTreeMap<String, String>>>,
    pub allow_credentials: Option<bool>,
    pub expose_headers: Option<Vec<String>>,
    pub max_age: Option<Value>,
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
    pub service: Option<v2::Service>,
    pub methods: Option<Vec<String>>,
    pub access_strategies: Option<Vec<Option<Handler>>>,
    pub mutators: Option<Vec<Option<Handler>>>,
    #[cfg_attr(test, serde(default, deserialize_with = "crate::config::num::opt_u32"))]
    pub timeout: Option<u32>,
}
read::from_json_struct!(Rule {
    path: "path",
    service: "service",
    methods: "methods",
    access_strategies: "accessStrategies",
    mutators: "mutators",
    timeout: "timeout",
});

/// `{handler, config}`: both access strategies and mutators have this shape.
#[derive(Debug, Default, PartialEq, Clone)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub struct Handler {
    #[cfg_attr(test, serde(default))]
    pub handler: String,
    pub config: Option<Value>,
}
read::from_json_struct!(Handler {
    handler: "handler",
    config: "config",
});

/// An absent handler config reads as `null`, as Go's `json.RawMessage` would.
static NULL: Value = Value::Null;

impl Handler {
    /// The handler's config, `null` when absent.
    pub fn config(&self) -> &Value {
        self.config.as_ref().unwrap_or(&NULL)
    }

    /// Kyma's `ConfigNotEmpty`: absent, `null` and `{}` are empty.
    pub fn config_is_empty(&self) -> bool {
        match &self.config {
            None | Some(Value::Null) => true,
            Some(Value::Object(m)) => m.is_empty(),
            Some(_) => false,
        }
    }
}

/// Istio-handler JWT config inside a v1beta1 `jwt` strategy (same JSON names as v2's `jwt`).
pub type IstioJwtConfig = v2::JwtConfig;

/// The Ory keys Kyma itself reads from a `jwt` config (everything else goes to Oathkeeper).
#[derive(Debug, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub struct OryJwtConfig {
    pub trusted_issuers: Option<Vec<String>>,
    pub jwks_urls: Option<Vec<String>>,
    pub required_scope: Option<Vec<String>>,
    pub target_audience: Option<Vec<String>>,
}
read::from_json_struct!(OryJwtConfig {
    trusted_issuers: "trusted_issuers",
    jwks_urls: "jwks_urls",
    required_scope: "required_scope",
    target_audience: "target_audience",
});

impl Spec {
    pub fn to_model(
        &self,
        name: &str,
        namespace: &str,
        source: Source,
        default_domain: Option<&str>,
        jwt_handler: JwtHandler,
    ) -> ApiRule {
        let hosts = self
            .host
            .iter()
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
                let strategies: Vec<&Handler> =
                    r.access_strategies.iter().flatten().flatten().collect();
                // Kyma restricts the methods of a rule with `allow` nowhere: neither handler's
                // VirtualService matches them, and the request goes straight to the service
                // (`restrictsExposedMethods`, and the Ory processor's no_auth-only match).
                if strategies.iter().any(|s| s.handler == "allow") {
                    methods = MethodSet::ALL;
                }
                let jwt_secured = strategies.iter().any(|s| s.handler == "jwt");
                let bypasses_oathkeeper = strategies
                    .iter()
                    .all(|s| s.handler == "allow" || s.handler == "no_auth");
                let handlers: Vec<&Handler> = r.mutators.iter().flatten().flatten().collect();
                let mutators = if jwt_handler == JwtHandler::Istio && jwt_secured {
                    // Istio handler: header/cookie mutators become VirtualService header writes.
                    let pick = |name: &str, key: &str| -> Vec<(String, String)> {
                        handlers
                            .iter()
                            .filter(|h| h.handler == name)
                            .filter_map(|h| h.config.as_ref()?.get(key)?.as_object())
                            .flat_map(|m| {
                                m.iter().map(|(k, v)| {
                                    (k.clone(), v.as_str().unwrap_or_default().to_owned())
                                })
                            })
                            .collect()
                    };
                    model::Mutators {
                        headers: pick("header", "headers"),
                        cookies: pick("cookie", "cookies"),
                        ory: Vec::new(),
                    }
                } else if bypasses_oathkeeper {
                    model::Mutators::default()
                } else {
                    model::Mutators {
                        ory: handlers
                            .iter()
                            .map(|h| (h.handler.clone(), h.config().clone()))
                            .collect(),
                        ..Default::default()
                    }
                };
                model::Rule {
                    index,
                    // `/*` exposes everything (the Istio handler's `prefix: /`); any other path is
                    // an RE2 regex matched against the whole path.
                    path: if path == "/*" {
                        PathSpec::Any
                    } else {
                        PathSpec::Regex(path)
                    },
                    methods,
                    service: resolve_service(r.service.as_ref(), self.service.as_ref(), namespace),
                    timeout_s: r.timeout.or(self.timeout).unwrap_or(DEFAULT_TIMEOUT_S),
                    access: access_of(r.access_strategies.iter().flatten().flatten(), jwt_handler),
                    mutators,
                }
            })
            .collect();
        let cors = match &self.cors_policy {
            None => model::Cors::V1beta1Default,
            Some(c) => model::Cors::Policy(model::CorsPolicy {
                allow_origins: model::CorsPolicy::origins(
                    c.allow_origins.as_deref().unwrap_or_default(),
                ),
                allow_methods: c.allow_methods.clone().unwrap_or_default(),
                allow_headers: c.allow_headers.clone().unwrap_or_default(),
                expose_headers: c.expose_headers.clone().unwrap_or_default(),
                allow_credentials: c.allow_credentials,
                max_age_s: c
                    .max_age
                    .as_ref()
                    .and_then(|v| super::num::duration_ms(v).ok())
                    .map(|ms| ms / 1000),
            }),
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

fn access_of<'a>(strategies: impl Iterator<Item = &'a Handler>, jwt_handler: JwtHandler) -> Access {
    let mut authenticators = Vec::new();
    for s in strategies {
        match s.handler.as_str() {
            // Exclusive strategies (validation guarantees they stand alone).
            "allow" | "no_auth" => return Access::Public,
            "noop" => return Access::Noop,
            "jwt" => {
                authenticators.push(match jwt_handler {
                    JwtHandler::Istio => {
                        let parsed: IstioJwtConfig = read::read(s.config()).unwrap_or_default();
                        Authenticator::IstioJwt(parsed.to_model())
                    }
                    JwtHandler::Ory => Authenticator::OryJwt(s.config().clone()),
                });
            }
            "oauth2_introspection" => {
                authenticators.push(Authenticator::OAuth2Introspection(s.config().clone()))
            }
            other => authenticators.push(Authenticator::Other(other.to_owned())),
        }
    }
    Access::Authenticate(authenticators)
}
