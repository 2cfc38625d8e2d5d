//! v2 `extAuth`: ask external authorizers as Envoy's HTTP `ext_authz` filter does, then apply
//! `restrictions` as a `jwt` rule would.
//!
//! The check request carries the client's method, `pathPrefix` + path (query included), its
//! `:authority`, `authorization` and the headers `includeRequestHeadersInCheck` names, plus the
//! fixed `includeAdditionalHeadersInCheck`; no body. The authorizer's answer:
//! - `200`: allowed; headers named by `headersToUpstreamOnAllow` are set on the upstream request,
//!   those named by `headersToDownstreamOnAllow` on the client's response.
//! - `5xx`, no answer, or no answer in `timeout`: `statusOnError` (403 unless set), empty body.
//! - anything else: the authorizer's status and body go back to the client, with its headers
//!   (all of them, or those `headersToDownstreamOnDeny` names plus `www-authenticate` and
//!   `location`).
//!
//! Order, as Istio's filter chain runs: a token in `restrictions`' locations that fails
//! verification is a 401 before any authorizer is asked (jwt_authn); then the authorizers in
//! order, each able to deny; then the restrictions' authorization (RBAC), 403 without a token.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::rc::Rc;

use super::env::{AuthEnv, Outcome};
use super::istio_jwt::IstioRule;
use super::session::{Authorized, Identity};
use crate::callout::{target, Answer, CallRequest, Upstream};
use crate::config::mesh::{EnvoyExtAuthzHttp, ExtensionProvider};
use crate::config::num::duration_ms;
use crate::request::Request;
use crate::response::{Deny, DenyReason};

/// Istio's default provider timeout.
const DEFAULT_TIMEOUT_MS: u64 = 600_000;

/// Header name patterns as Istio writes them: `exact`, `prefix*`, `*suffix`, `*`. Names are
/// compared in lower case.
#[derive(Debug, Clone, Default)]
pub struct HeaderPatterns(Vec<Pattern>);

#[derive(Debug, Clone)]
enum Pattern {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Any,
}

impl HeaderPatterns {
    pub fn compile(list: &[String]) -> HeaderPatterns {
        HeaderPatterns(
            list.iter()
                .map(|p| {
                    let p = p.to_ascii_lowercase();
                    if p == "*" {
                        Pattern::Any
                    } else if let Some(prefix) = p.strip_suffix('*') {
                        Pattern::Prefix(prefix.to_owned())
                    } else if let Some(suffix) = p.strip_prefix('*') {
                        Pattern::Suffix(suffix.to_owned())
                    } else {
                        Pattern::Exact(p)
                    }
                })
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `name` must be lower case (proxy-wasm hands header names in lower case).
    pub fn matches(&self, name: &str) -> bool {
        self.0.iter().any(|p| match p {
            Pattern::Exact(e) => e == name,
            Pattern::Prefix(s) => name.starts_with(s.as_str()),
            Pattern::Suffix(s) => name.ends_with(s.as_str()),
            Pattern::Any => true,
        })
    }
}

/// One `envoyExtAuthzHttp` provider, ready to ask.
#[derive(Debug)]
pub struct Authorizer {
    pub name: String,
    /// Where this authorizer's answer is kept among the request's call answers.
    key: String,
    upstream: Upstream,
    path_prefix: String,
    timeout_ms: u64,
    status_on_error: u32,
    include: HeaderPatterns,
    additional: Vec<(String, String)>,
    to_upstream: HeaderPatterns,
    to_downstream_on_deny: HeaderPatterns,
    to_downstream_on_allow: HeaderPatterns,
}

/// Providers by name; `None`: the provider exists but is not an HTTP ext_authz provider.
pub type Authorizers = BTreeMap<String, Option<Rc<Authorizer>>>;

/// Compiles `extensionProviders`; errors name the field.
pub fn compile_providers(
    providers: &[ExtensionProvider],
    clusters: &BTreeMap<String, String>,
) -> Result<Authorizers, String> {
    let mut out = Authorizers::new();
    for (i, p) in providers.iter().enumerate() {
        let at = format!(".extensionProviders[{i}]");
        if p.name.is_empty() {
            return Err(format!("{at}.name: must not be empty"));
        }
        if out.contains_key(&p.name) {
            return Err(format!("{at}.name: {:?} is defined twice", p.name));
        }
        let compiled = match &p.envoy_ext_authz_http {
            Some(http) => Some(Rc::new(
                Authorizer::compile(&p.name, http, clusters)
                    .map_err(|e| format!("{at}.envoyExtAuthzHttp.{e}"))?,
            )),
            None => None,
        };
        out.insert(p.name.clone(), compiled);
    }
    Ok(out)
}

impl Authorizer {
    fn compile(
        name: &str,
        http: &EnvoyExtAuthzHttp,
        clusters: &BTreeMap<String, String>,
    ) -> Result<Authorizer, String> {
        // Istio accepts `namespace/host`; the cluster is named after the host.
        let host = http
            .service
            .split_once('/')
            .map_or(http.service.as_str(), |(_, h)| h);
        if host.is_empty() {
            return Err("service: required".into());
        }
        let port = match http.port {
            Some(p) if (1..=65535).contains(&p) => p,
            Some(p) => return Err(format!("port: {p} is not a port")),
            None => return Err("port: required".into()),
        };
        if http.fail_open {
            // A broken authorizer must not open the API; see the README.
            return Err("failOpen: not supported, this filter always fails closed".into());
        }
        if http.include_request_body_in_check.is_some() {
            return Err(
                "includeRequestBodyInCheck: not supported, authorizers decide on headers".into(),
            );
        }
        let status_on_error = match &http.status_on_error {
            None => 403,
            Some(s) => match s.parse::<u32>() {
                Ok(code) if (200..=599).contains(&code) => code,
                _ => return Err(format!("statusOnError: {s:?} is not an HTTP status")),
            },
        };
        let timeout_ms = match &http.timeout {
            None => DEFAULT_TIMEOUT_MS,
            Some(v) => match duration_ms(v) {
                Ok(0) => return Err("timeout: must be more than 0".into()),
                Ok(ms) => ms,
                Err(e) => return Err(format!("timeout: {e}")),
            },
        };
        let path_prefix = http.path_prefix.clone().unwrap_or_default();
        if !path_prefix.is_empty() && !path_prefix.starts_with('/') {
            return Err(format!("pathPrefix: {path_prefix:?} must start with \"/\""));
        }
        let upstream = target(&format!("http://{host}:{port}/"), clusters)
            .map_err(|e| format!("service: {e}"))?;
        let mut include = http.include_request_headers_in_check.clone();
        include.extend(http.include_headers_in_check.iter().cloned());
        Ok(Authorizer {
            name: name.to_owned(),
            key: format!("ext_authz:{name}"),
            upstream,
            path_prefix,
            timeout_ms,
            status_on_error,
            include: HeaderPatterns::compile(&include),
            additional: http
                .include_additional_headers_in_check
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect(),
            to_upstream: HeaderPatterns::compile(&http.headers_to_upstream_on_allow),
            to_downstream_on_deny: HeaderPatterns::compile(&http.headers_to_downstream_on_deny),
            to_downstream_on_allow: HeaderPatterns::compile(&http.headers_to_downstream_on_allow),
        })
    }

    /// Envoy's error path (no answer, a timeout, a 5xx): `statusOnError`, fail closed.
    fn failed(&self) -> Deny {
        Deny {
            status: self.status_on_error,
            headers: Vec::new(),
            body: String::new(),
            reason: DenyReason::ExtAuthFailed,
        }
    }

    /// The check request for `req`; `None` when a header it would forward was not UTF-8 (its
    /// bytes cannot be reproduced, and the authorizer must not decide on other bytes).
    pub fn request(&self, req: &Request<'_>) -> Option<CallRequest> {
        let mut headers: Vec<(String, String)> = req
            .headers
            .iter()
            .filter(|(k, _)| {
                !k.starts_with(':')
                    && *k != "host"
                    && *k != "content-length"
                    && (*k == "authorization" || self.include.matches(k))
                    && !self.additional.iter().any(|(a, _)| a == k)
            })
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        if headers
            .iter()
            .any(|(k, _)| req.non_utf8.iter().any(|b| b.eq_ignore_ascii_case(k)))
        {
            return None;
        }
        headers.extend(self.additional.iter().cloned());
        Some(CallRequest {
            key: self.key.clone(),
            upstream: Upstream {
                cluster: self.upstream.cluster.clone(),
                authority: req.authority.to_owned(),
                path: format!("{}{}", self.path_prefix, req.path),
            },
            method: Cow::Owned(req.method.to_owned()),
            headers,
            body: Vec::new(),
            timeout_ms: self.timeout_ms,
        })
    }

    /// What the answer means for the request.
    pub fn verdict(&self, answer: &Answer) -> Verdict {
        let status = match answer.status {
            Some(s) if (200..500).contains(&s) && !answer.non_utf8_headers => u32::from(s),
            // No answer, a timeout, a 5xx, nonsense, or headers that cannot be copied as sent:
            // Envoy's error path, fail closed.
            _ => return Verdict::Deny(self.failed()),
        };
        // Pseudo-headers and framing are never copied: they would re-route or corrupt the
        // request or response.
        let copyable = |k: &str| {
            !k.starts_with(':')
                && !matches!(
                    k,
                    "host" | "content-length" | "transfer-encoding" | "connection" | "keep-alive"
                )
        };
        let pick = |patterns: &HeaderPatterns, all: bool, always: &[&str]| {
            answer
                .headers
                .iter()
                .filter(|(k, _)| {
                    copyable(k) && (all || patterns.matches(k) || always.contains(&k.as_str()))
                })
                .map(|(k, v)| (Cow::Owned(k.clone()), v.clone()))
                .collect::<Vec<_>>()
        };
        if status == 200 {
            return Verdict::Allow {
                upstream: pick(&self.to_upstream, false, &[]),
                downstream: pick(&self.to_downstream_on_allow, false, &[]),
            };
        }
        let all = self.to_downstream_on_deny.is_empty();
        Verdict::Deny(Deny {
            status,
            headers: pick(
                &self.to_downstream_on_deny,
                all,
                &["www-authenticate", "location"],
            ),
            body: String::from_utf8_lossy(&answer.body).into_owned(),
            reason: DenyReason::ExtAuthDenied,
        })
    }
}

pub enum Verdict {
    Allow {
        upstream: Vec<(Cow<'static, str>, String)>,
        downstream: Vec<(Cow<'static, str>, String)>,
    },
    Deny(Deny),
}

/// A compiled `extAuth` rule.
#[derive(Debug)]
pub struct ExtAuthRule {
    pub authorizers: Vec<Rc<Authorizer>>,
    pub restrictions: Option<IstioRule>,
}

impl ExtAuthRule {
    pub fn check(&self, req: &Request<'_>, env: &mut AuthEnv<'_>) -> Outcome {
        let jwt = match self.restrictions.as_ref().map(|r| r.check(req, env)) {
            Some(Outcome::Denied(d)) if d.status == 401 => return Outcome::Denied(d),
            other => other,
        };
        let mut upstream = Vec::new();
        let mut downstream = Vec::new();
        for authorizer in &self.authorizers {
            let Some(answer) = env.answers.get(&authorizer.key) else {
                return match authorizer.request(req) {
                    Some(call) => Outcome::Call(Box::new(call)),
                    None => Outcome::Denied(authorizer.failed()),
                };
            };
            match authorizer.verdict(answer) {
                Verdict::Allow {
                    upstream: u,
                    downstream: d,
                } => {
                    upstream.extend(u);
                    downstream.extend(d);
                }
                Verdict::Deny(deny) => return Outcome::Denied(deny),
            }
        }
        let inner = match jwt {
            None => Identity::Anonymous,
            Some(Outcome::Allowed(identity)) => identity,
            // Keys still on their way, or RBAC's 403: decided after the authorizers, as Istio.
            Some(other) => return other,
        };
        Outcome::Allowed(Identity::Authorized(Rc::new(Authorized {
            inner,
            upstream,
            downstream,
        })))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::compile::{compile, RuleSet, Status};
    use crate::config::PluginConfig;
    use crate::decide::{decide, Decision, Wait};
    use crate::request::HeaderList;
    use crate::test_headers as h;

    const CONFIG: &str = r#"{
      "extensionProviders": [
        {"name": "authz", "envoyExtAuthzHttp": {
           "service": "ext-authz/authz.ext-authz.svc.cluster.local", "port": 8000,
           "pathPrefix": "/check", "timeout": "2s",
           "includeRequestHeadersInCheck": ["x-ext-authz", "x-user-*"],
           "includeAdditionalHeadersInCheck": {"x-from": "gateway"},
           "headersToUpstreamOnAllow": ["x-authz-*"],
           "headersToDownstreamOnAllow": ["x-decision"],
           "headersToDownstreamOnDeny": ["x-reason"]}},
        {"name": "strict", "envoyExtAuthzHttp": {"service": "s.ns.svc.cluster.local", "port": 80,
           "statusOnError": "503"}},
        {"name": "grpc", "envoyExtAuthzGrpc": {"service": "g.ns.svc.cluster.local", "port": 9000}}
      ],
      "apiRules": [{"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
        "metadata": {"name": "ext", "namespace": "test"},
        "spec": {"hosts": ["ext.example.com"], "gateway": "kyma-system/kyma-gateway",
          "service": {"name": "s", "port": 80},
          "rules": [
            {"path": "/open", "methods": ["GET"], "extAuth": {"authorizers": ["authz"]}},
            {"path": "/two", "methods": ["GET"], "extAuth": {"authorizers": ["authz", "strict"]}},
            {"path": "/jwt", "methods": ["GET"], "extAuth": {"authorizers": ["authz"],
              "restrictions": {"authentications": [{"issuer": "https://idp", "jwksUri": "https://idp/jwks"}]}}}
          ]}}]}"#;

    fn rules(json: &str) -> (RuleSet, Vec<Status>) {
        let cfg = PluginConfig::from_json(json.as_bytes());
        let compiled = cfg
            .map_err(|e| e.0)
            .and_then(|c| compile(&c).map_err(|e| e.0));
        match compiled {
            Ok((set, reports)) => (set, reports.into_iter().map(|r| r.status).collect()),
            Err(e) => unreachable!("{e}"),
        }
    }

    /// Status, headers (response ones prefixed `response:`) and body of a decision.
    type Summary = (u32, Vec<(String, String)>, String);

    /// Decides `path` with these answers; returns the decision summarised.
    fn run(
        set: &RuleSet,
        path: &str,
        headers: &HeaderList,
        answers: &HashMap<String, Answer>,
    ) -> Result<Summary, Box<CallRequest>> {
        let req = Request {
            authority: "ext.example.com",
            method: "GET",
            path,
            scheme: "https",
            headers,
            non_utf8: &[],
            remote_address: "",
            protocol: "",
            sent_upstream_timeout: false,
        };
        let mut auth = set.auth_state();
        let mut env = auth.env(&crate::jwt::crypto::Software, answers, 0, 0);
        match decide(set, &req, &mut env) {
            Decision::Allow(a) => {
                let mut h: Vec<(String, String)> = a
                    .set_headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                h.extend(
                    a.response
                        .set
                        .iter()
                        .map(|(k, v)| (format!("response:{k}"), v.clone())),
                );
                Ok((200, h, String::new()))
            }
            Decision::Deny(d) => Ok((
                d.response.status,
                d.response
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect(),
                d.response.body,
            )),
            Decision::Pending(p) => match p.wait {
                Wait::Call(c) => Err(c),
                Wait::Keys(_) => Ok((0, vec![], "keys".into())),
            },
        }
    }

    fn answer(status: Option<u16>, headers: &[(&str, &str)], body: &str) -> Answer {
        Answer {
            status,
            headers: h(headers),
            body: body.as_bytes().to_vec(),
            non_utf8_headers: false,
        }
    }

    #[test]
    fn asks_like_envoy_http_ext_authz() {
        let (set, status) = rules(CONFIG);
        assert_eq!(status, [Status::Ready]);
        let headers = h(&[
            ("authorization", "Bearer abc"),
            ("x-ext-authz", "allow"),
            ("x-user-id", "7"),
            ("x-other", "not sent"),
            ("x-from", "spoofed"),
            ("cookie", "not sent"),
        ]);
        let Err(call) = run(&set, "/open?q=1", &headers, &HashMap::new()) else {
            unreachable!("must ask the authorizer first")
        };
        assert_eq!(call.method, "GET");
        assert_eq!(call.upstream.path, "/check/open?q=1");
        assert_eq!(call.upstream.authority, "ext.example.com");
        assert_eq!(
            call.upstream.cluster,
            "outbound|8000||authz.ext-authz.svc.cluster.local"
        );
        assert_eq!(call.timeout_ms, 2000);
        assert_eq!(
            call.headers,
            h::<Vec<_>>(&[
                ("authorization", "Bearer abc"),
                ("x-ext-authz", "allow"),
                ("x-user-id", "7"),
                ("x-from", "gateway"),
            ])
        );
        assert!(call.body.is_empty());
    }

    #[test]
    fn answers_allow_deny_and_fail_closed() {
        let (set, _) = rules(CONFIG);
        let key = "ext_authz:authz".to_owned();
        let with = |a: Answer| HashMap::from([(key.clone(), a)]);

        let allowed = run(
            &set,
            "/open",
            &HeaderList::new(),
            &with(answer(
                Some(200),
                &[
                    ("x-authz-user", "alice"),
                    ("x-decision", "ok"),
                    ("x-ignored", "1"),
                    (":path", "/admin"),
                ],
                "",
            )),
        );
        let Ok((200, headers, _)) = allowed else {
            unreachable!("200 allows: {allowed:?}")
        };
        assert!(headers.contains(&("x-authz-user".into(), "alice".into())));
        assert!(headers.contains(&("response:x-decision".into(), "ok".into())));
        assert!(!headers
            .iter()
            .any(|(k, _)| k == "x-ignored" || k == ":path"));

        let denied = run(
            &set,
            "/open",
            &HeaderList::new(),
            &with(answer(
                Some(401),
                &[
                    ("x-reason", "expired"),
                    ("www-authenticate", "Basic"),
                    ("x-secret", "no"),
                    ("content-length", "6"),
                ],
                "denied",
            )),
        );
        assert_eq!(
            denied.ok(),
            Some((
                401,
                h(&[("x-reason", "expired"), ("www-authenticate", "Basic")]),
                "denied".into()
            )),
            "the authorizer's status, body and listed headers"
        );
        for failed in [answer(None, &[], ""), answer(Some(503), &[], "down")] {
            assert_eq!(
                run(&set, "/open", &HeaderList::new(), &with(failed)).ok(),
                Some((403, vec![], String::new())),
                "no answer, a timeout or a 5xx: 403 with an empty body"
            );
        }
        // Any 2xx but 200 is a denial in Envoy's HTTP ext_authz, passed to the client.
        assert_eq!(
            run(
                &set,
                "/open",
                &HeaderList::new(),
                &with(answer(Some(204), &[], ""))
            )
            .map(|r| r.0)
            .ok(),
            Some(204)
        );
    }

    /// An authorizer allowed to pass `x-envoy-*` headers upstream cannot set the upstream
    /// timeout: the router would take its header over the route's, so the rule's overwrites it,
    /// whether the filter or the routes set the timeout otherwise.
    #[test]
    fn an_authorizers_timeout_header_is_overwritten_with_the_rules() {
        let config = CONFIG.replace(r#"["x-authz-*"]"#, r#"["x-authz-*", "x-envoy-*"]"#);
        for extra in ["", r#""routesSetUpstreamHeaders": true, "#] {
            let (set, _) = rules(&config.replacen('{', &format!("{{{extra}"), 1));
            let allow = HashMap::from([(
                "ext_authz:authz".to_owned(),
                answer(
                    Some(200),
                    &[("x-envoy-upstream-rq-timeout-ms", "3600000")],
                    "",
                ),
            )]);
            let Ok((200, headers, _)) = run(&set, "/open", &HeaderList::new(), &allow) else {
                unreachable!("allowed")
            };
            let last = headers
                .iter()
                .rev()
                .find(|(k, _)| k == "x-envoy-upstream-rq-timeout-ms");
            assert_eq!(
                last.map(|(_, v)| v.as_str()),
                Some("180000"),
                "{extra}: {headers:?}"
            );
        }
    }

    #[test]
    fn every_authorizer_must_allow_in_order() {
        let (set, _) = rules(CONFIG);
        let mut answers =
            HashMap::from([("ext_authz:authz".to_owned(), answer(Some(200), &[], ""))]);
        let Err(call) = run(&set, "/two", &HeaderList::new(), &answers) else {
            unreachable!("the second authorizer is asked next")
        };
        assert_eq!(call.upstream.cluster, "outbound|80||s.ns.svc.cluster.local");
        answers.insert(call.key.clone(), answer(None, &[], ""));
        assert_eq!(
            run(&set, "/two", &HeaderList::new(), &answers)
                .map(|r| r.0)
                .ok(),
            Some(503),
            "statusOnError"
        );
    }

    #[test]
    fn restrictions_apply_as_a_jwt_rule() {
        let (set, _) = rules(CONFIG);
        let allow = HashMap::from([("ext_authz:authz".to_owned(), answer(Some(200), &[], ""))]);
        // A broken token is jwt_authn's 401, before any authorizer is asked.
        let bad = h(&[("authorization", "Bearer not.a.jwt")]);
        assert_eq!(
            run(&set, "/jwt", &bad, &HashMap::new()).map(|r| r.0).ok(),
            Some(401)
        );
        // No token: the authorizer is asked, then RBAC's 403.
        assert!(run(&set, "/jwt", &HeaderList::new(), &HashMap::new()).is_err());
        assert_eq!(
            run(&set, "/jwt", &HeaderList::new(), &allow)
                .map(|r| (r.0, r.2))
                .ok(),
            Some((403, "RBAC: access denied".into()))
        );
        // The authorizer's denial wins over RBAC's.
        let deny = HashMap::from([("ext_authz:authz".to_owned(), answer(Some(403), &[], "no"))]);
        assert_eq!(
            run(&set, "/jwt", &HeaderList::new(), &deny)
                .map(|r| (r.0, r.2))
                .ok(),
            Some((403, "no".into()))
        );
    }

    #[test]
    fn unknown_and_non_http_authorizers_are_kymas_errors() {
        let config = CONFIG.replace(r#"["authz", "strict"]"#, r#"["grpc", "nope"]"#);
        let (set, status) = rules(&config);
        assert!(set.is_empty());
        let Some(Status::Error(failures)) = status.first() else {
            unreachable!("{status:?}")
        };
        let lines: Vec<String> = failures.iter().map(|f| f.to_string()).collect();
        assert_eq!(
            lines,
            [
                "Attribute '.spec.rules[1].extAuth.externalAuthorizers.grpc': EnvoyExtAuthzHttp not found in Istio ConfigMap mesh data for authorizer",
                "Attribute '.spec.rules[1].extAuth.externalAuthorizers.nope': Authorizer not found in Istio ConfigMap mesh data",
            ]
        );
    }

    #[test]
    fn provider_config_errors_name_the_field() {
        let err = |provider: &str| {
            let json = format!(r#"{{"apiRules": [], "extensionProviders": [{provider}]}}"#);
            PluginConfig::from_json(json.as_bytes())
                .map_err(|e| e.0)
                .and_then(|c| compile(&c).map(|_| ()).map_err(|e| e.0))
                .err()
                .unwrap_or_default()
        };
        let http = |fields: &str| {
            err(&format!(
                r#"{{"name": "a", "envoyExtAuthzHttp": {{"service": "a.b", "port": 80{fields}}}}}"#
            ))
        };
        assert!(http(r#", "failOpen": true"#)
            .contains(".extensionProviders[0].envoyExtAuthzHttp.failOpen: not supported"));
        assert!(http(r#", "statusOnError": "forbidden""#).contains("statusOnError"));
        assert!(http(r#", "timeout": "0s""#).contains("timeout: must be more than 0"));
        assert!(http(r#", "pathPrefix": "check""#).contains("pathPrefix"));
        assert!(http(r#", "includeRequestBodyInCheck": {}"#).contains("includeRequestBodyInCheck"));
        assert!(http(r#", "sevice": "x""#).contains("unknown field `sevice`"));
        assert!(
            err(r#"{"name": "a", "envoyExtAuthzHttp": {"service": "a.b"}}"#)
                .contains("port: required")
        );
        assert!(err(r#"{"name": "a"}, {"name": "a"}"#).contains("defined twice"));
        assert!(http("").is_empty());
    }

    #[test]
    fn header_patterns() {
        let p = HeaderPatterns::compile(&["X-Exact".into(), "x-pre*".into(), "*-suf".into()]);
        assert!(p.matches("x-exact") && p.matches("x-prefix") && p.matches("a-suf"));
        assert!(!p.matches("x-exactly") && !p.matches("y-pre") && !p.matches("suf-a"));
        assert!(HeaderPatterns::compile(&["*".into()]).matches("anything"));
        assert!(HeaderPatterns::default().is_empty());
    }
}
