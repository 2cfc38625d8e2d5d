//! The first Kyma API: `gateway.kyma-project.io/v1alpha2`, kind `Api` (seed `001_f6cfb6c7f324ad64`).
//! One hostname, one service, and an optional list of JWT issuers that secures the whole service:
//! every path and method. It becomes a single `/*` rule.

use super::read;

use super::model::{self, Access, ApiRule, Authenticator, PathSpec, Source};
use super::v2::{expand_host, DEFAULT_TIMEOUT_S};
use crate::matcher::method::MethodSet;

#[derive(Debug, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub struct Spec {
    pub service: Option<Service>,
    pub hostname: Option<String>,
    pub authentication: Option<Vec<Authentication>>,
}
read::from_json_struct!(Spec {
    service: "service",
    hostname: "hostname",
    authentication: "authentication",
});

#[derive(Debug, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub struct Service {
    pub name: Option<String>,
    #[cfg_attr(test, serde(default, deserialize_with = "crate::config::num::opt_u32"))]
    pub port: Option<u32>,
}
read::from_json_struct!(Service {
    name: "name",
    port: "port",
});

#[derive(Debug, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub struct Authentication {
    #[cfg_attr(test, serde(rename = "type"))]
    pub kind: Option<String>,
    pub jwt: Option<Jwt>,
}
read::from_json_struct!(Authentication {
    kind: "type",
    jwt: "jwt",
});

#[derive(Debug, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(rename_all = "camelCase"))]
pub struct Jwt {
    pub issuer: Option<String>,
    pub jwks_uri: Option<String>,
}
read::from_json_struct!(Jwt {
    issuer: "issuer",
    jwks_uri: "jwksUri",
});

impl Spec {
    pub fn to_model(&self, name: &str, namespace: &str, default_domain: Option<&str>) -> ApiRule {
        let authentications: Vec<model::JwtAuthentication> = self
            .authentication
            .iter()
            .flatten()
            .filter_map(|a| a.jwt.as_ref())
            .map(|j| model::JwtAuthentication {
                issuer: j.issuer.clone().unwrap_or_default(),
                jwks_uri: j.jwks_uri.clone().unwrap_or_default(),
                ..Default::default()
            })
            .collect();
        let access = if authentications.is_empty() {
            Access::Public
        } else {
            Access::Authenticate(vec![Authenticator::IstioJwt(model::IstioJwt {
                authentications,
                authorizations: Vec::new(),
            })])
        };
        let service = self.service.as_ref().map(|s| model::Service {
            name: s.name.clone().unwrap_or_default(),
            namespace: namespace.to_owned(),
            port: s.port.unwrap_or_default(),
        });
        ApiRule {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            source: Source::LegacyApi,
            hosts: self
                .hostname
                .iter()
                .map(|h| expand_host(h, default_domain))
                .collect(),
            rules: vec![model::Rule {
                index: 0,
                path: PathSpec::Any,
                methods: MethodSet::ALL,
                service,
                timeout_s: DEFAULT_TIMEOUT_S,
                access,
                mutators: Default::default(),
            }],
            cors: model::Cors::Passthrough,
        }
    }
}
