//! The one function every request goes through: `decide(rules, request)`.
//!
//! Pure: no host calls, no clock, no I/O. The proxy-wasm shell reads the request, calls this,
//! and performs what the [`Decision`] says; `apirule explain` calls the same function offline.

use std::borrow::Cow;

use crate::compile::{CompiledApiRule, CompiledRule, RuleSet};
use crate::config::model::{Access, Source};
use crate::matcher::host::normalize_authority;
use crate::response::{Deny, DenyReason, Flavor};

/// The parts of a request the decision reads. Borrowed from the shell; nothing is copied.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `:authority` as received (port and case are normalised here).
    pub authority: &'a str,
    pub method: &'a str,
    /// `:path` as received, query included.
    pub path: &'a str,
}

#[derive(Debug)]
pub enum Decision<'a> {
    Allow(Allow<'a>),
    Deny(Denied<'a>),
}

/// Forward the request upstream after setting these headers (each overwrites a client value).
#[derive(Debug)]
pub struct Allow<'a> {
    pub matched: Matched<'a>,
    pub set_headers: Vec<(&'static str, Cow<'a, str>)>,
}

#[derive(Debug)]
pub struct Denied<'a> {
    pub matched: Option<Matched<'a>>,
    pub response: Deny,
}

#[derive(Debug, Clone, Copy)]
pub struct Matched<'a> {
    pub api_rule: &'a CompiledApiRule,
    pub rule: &'a CompiledRule,
}

impl Matched<'_> {
    /// `namespace/name rule[i]`, for logs.
    pub fn label(&self) -> String {
        format!(
            "{}/{} rule[{}]",
            self.api_rule.namespace, self.api_rule.name, self.rule.index
        )
    }
}

/// Header names the filter writes.
pub const X_FORWARDED_HOST: &str = "x-forwarded-host";
pub const X_UPSTREAM_TIMEOUT: &str = "x-envoy-upstream-rq-timeout-ms";

pub fn decide<'a>(rules: &'a RuleSet, req: &Request<'a>) -> Decision<'a> {
    let Some(matched) = route(rules, req) else {
        return Decision::Deny(Denied {
            matched: None,
            response: Deny::no_route(),
        });
    };
    match &matched.rule.access {
        Access::Public | Access::Noop => Decision::Allow(Allow {
            matched,
            set_headers: upstream_headers(matched, req),
        }),
        // Not enforced yet by this build: refuse, never pass.
        Access::Authenticate(_) => Decision::Deny(Denied {
            matched: Some(matched),
            response: Deny::unauthorized(flavor(matched.api_rule.source), DenyReason::Unsupported),
        }),
    }
}

/// Host, then the first rule in order whose method and path match (VirtualService first match).
pub fn route<'a>(rules: &'a RuleSet, req: &Request<'_>) -> Option<Matched<'a>> {
    let host = normalize_authority(req.authority);
    let api_rule = rules.api_rules.get(rules.hosts.lookup(&host)?)?;
    let path = path_without_query(req.path);
    let rule = api_rule
        .rules
        .iter()
        .find(|r| r.methods.contains(req.method) && r.path.matches(path))?;
    Some(Matched { api_rule, rule })
}

fn upstream_headers<'a>(m: Matched<'a>, req: &Request<'a>) -> Vec<(&'static str, Cow<'a, str>)> {
    let forwarded = match &m.api_rule.forwarded_host {
        Some(host) => Cow::Borrowed(host.as_str()),
        None => Cow::Borrowed(req.authority),
    };
    vec![
        (X_FORWARDED_HOST, forwarded),
        (
            X_UPSTREAM_TIMEOUT,
            Cow::Borrowed(m.rule.timeout_ms_header.as_str()),
        ),
    ]
}

pub fn flavor(source: Source) -> Flavor {
    if source.is_ory_era() {
        Flavor::Ory
    } else {
        Flavor::Istio
    }
}

fn path_without_query(path: &str) -> &str {
    let end = path.find(['?', '#']).unwrap_or(path.len());
    &path[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::{compile, Status};
    use crate::config::PluginConfig;

    fn rules(json: &str) -> RuleSet {
        let cfg = match PluginConfig::from_json(json.as_bytes()) {
            Ok(c) => c,
            Err(e) => unreachable!("{e}"),
        };
        match compile(&cfg) {
            Ok((set, reports)) => {
                for r in &reports {
                    assert_eq!(r.status, Status::Ready, "{}", r.name);
                }
                set
            }
            Err(e) => unreachable!("{e}"),
        }
    }

    const SAMPLE: &str = r#"{"defaultDomain": "local.kyma.dev", "apiRules": [
      {"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
       "metadata": {"name": "httpbin", "namespace": "test"},
       "spec": {"hosts": ["httpbin"], "gateway": "kyma-system/kyma-gateway",
                "service": {"name": "httpbin", "port": 8000}, "timeout": 30,
                "rules": [
                  {"path": "/headers", "methods": ["GET"], "noAuth": true, "timeout": 5},
                  {"path": "/anything/{**}", "methods": ["GET", "POST"], "noAuth": true},
                  {"path": "/secret", "methods": ["GET"],
                   "jwt": {"authentications": [{"issuer": "https://idp", "jwksUri": "https://idp/jwks"}]}}
                ]}},
      {"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
       "metadata": {"name": "wild", "namespace": "test"},
       "spec": {"hosts": ["*.wild.dev"], "gateway": "kyma-system/kyma-gateway",
                "service": {"name": "w", "port": 80},
                "rules": [{"path": "/*", "methods": ["GET"], "noAuth": true}]}},
      {"apiVersion": "gateway.kyma-project.io/v1beta1", "kind": "APIRule",
       "metadata": {"name": "legacy", "namespace": "test"},
       "spec": {"host": "legacy.example.com", "gateway": "kyma-system/kyma-gateway",
                "service": {"name": "l", "port": 80},
                "rules": [
                  {"path": "/status/.*", "methods": ["GET"], "accessStrategies": [{"handler": "allow"}]},
                  {"path": "/ory", "methods": ["GET"], "accessStrategies": [{"handler": "oauth2_introspection", "config": {}}]}
                ]}}
    ]}"#;

    fn req<'a>(authority: &'a str, method: &'a str, path: &'a str) -> Request<'a> {
        Request {
            authority,
            method,
            path,
        }
    }

    fn status(set: &RuleSet, r: Request<'_>) -> u32 {
        match decide(set, &r) {
            Decision::Allow(_) => 200,
            Decision::Deny(d) => d.response.status,
        }
    }

    #[test]
    fn routes_by_host_path_and_method() {
        let set = rules(SAMPLE);
        let host = "httpbin.local.kyma.dev";
        assert_eq!(status(&set, req(host, "GET", "/headers")), 200);
        assert_eq!(
            status(
                &set,
                req("HTTPBIN.local.kyma.dev:443", "GET", "/headers?x=1")
            ),
            200
        );
        assert_eq!(
            status(&set, req(host, "POST", "/headers")),
            404,
            "method not in rule"
        );
        assert_eq!(
            status(&set, req(host, "HEAD", "/headers")),
            404,
            "HEAD is not GET"
        );
        assert_eq!(status(&set, req(host, "POST", "/anything/a/b")), 200);
        assert_eq!(status(&set, req(host, "GET", "/anything")), 404);
        assert_eq!(status(&set, req(host, "GET", "/nothing")), 404);
        assert_eq!(
            status(&set, req("other.local.kyma.dev", "GET", "/headers")),
            404
        );
        assert_eq!(status(&set, req("a.b.wild.dev", "GET", "/x")), 200);
        assert_eq!(status(&set, req("wild.dev", "GET", "/x")), 404);
        assert_eq!(
            status(&set, req("legacy.example.com", "GET", "/status/418")),
            200
        );
        assert_eq!(
            status(&set, req("legacy.example.com", "GET", "/x/status/418")),
            404
        );
    }

    #[test]
    fn first_rule_whose_path_and_method_match_decides() {
        // README, compatibility table, first row: Kyma answers 403 here (notPaths).
        let set = rules(
            r#"{"apiRules": [{"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
               "metadata": {"name": "order", "namespace": "test"},
               "spec": {"hosts": ["order.example.com"], "gateway": "kyma-system/kyma-gateway",
                        "service": {"name": "s", "port": 80},
                        "rules": [
                          {"path": "/anything/{*}/one", "methods": ["POST", "PUT"], "noAuth": true},
                          {"path": "/anything/{**}", "methods": ["GET", "POST"], "noAuth": true}
                        ]}}]}"#,
        );
        let rule_of =
            |method: &str| match decide(&set, &req("order.example.com", method, "/anything/x/one"))
            {
                Decision::Allow(a) => Some(a.matched.rule.index),
                Decision::Deny(_) => None,
            };
        assert_eq!(rule_of("GET"), Some(1));
        assert_eq!(rule_of("POST"), Some(0));
        assert_eq!(rule_of("DELETE"), None);
    }

    #[test]
    fn unenforced_strategies_deny_never_pass() {
        let set = rules(SAMPLE);
        let d = decide(&set, &req("httpbin.local.kyma.dev", "GET", "/secret"));
        assert!(matches!(&d, Decision::Deny(d) if d.response.status == 401));
        let d = decide(&set, &req("legacy.example.com", "GET", "/ory"));
        let Decision::Deny(d) = d else {
            unreachable!("must deny")
        };
        assert_eq!(d.response.status, 401);
        assert!(
            d.response
                .body
                .contains("The request could not be authorized"),
            "Oathkeeper body"
        );
    }

    #[test]
    fn upstream_headers_timeout_and_forwarded_host() {
        let set = rules(SAMPLE);
        let headers = |r: Request<'_>| match decide(&set, &r) {
            Decision::Allow(a) => a
                .set_headers
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>(),
            Decision::Deny(_) => vec![],
        };
        assert_eq!(
            headers(req("httpbin.local.kyma.dev", "GET", "/headers")),
            [
                "x-forwarded-host=httpbin.local.kyma.dev",
                "x-envoy-upstream-rq-timeout-ms=5000"
            ],
            "rule timeout wins"
        );
        assert_eq!(
            headers(req("httpbin.local.kyma.dev", "GET", "/anything/x")),
            [
                "x-forwarded-host=httpbin.local.kyma.dev",
                "x-envoy-upstream-rq-timeout-ms=30000"
            ],
            "spec timeout next"
        );
        assert_eq!(
            headers(req("a.wild.dev:8443", "GET", "/")),
            [
                "x-forwarded-host=a.wild.dev:8443",
                "x-envoy-upstream-rq-timeout-ms=180000"
            ],
            "wildcard host forwards the authority; default timeout 180 s"
        );
    }
}
