//! The decision for one request: admission (ambiguity guard, route, bucket) and then, for a routed
//! request, CORS preflight, access checks and mutators ([`decide_matched`]).
//!
//! Pure: no host calls, no clock, no I/O. The pipeline (`pipeline.rs`, above this module) puts
//! these stages in order with the rate-limit draw and the reads between them; it is what the
//! shell and `apirule explain` call.

use std::borrow::Cow;

use crate::access::{AuthEnv, Identity, Outcome};
use crate::callout::CallRequest;
use crate::compile::{Check, CompiledAccess, CompiledApiRule, CompiledRule, RuleSet};
use crate::cors::ResponseEdits;
use crate::jwt::jws::JwtError;
use crate::matcher::canonical::ambiguity;
use crate::matcher::host::normalize_authority;
use crate::mutate::gotemplate::Session;
use crate::mutate::operators;
use crate::ratelimit::BucketRef;
pub use crate::request::{path_without_query, Request};
pub use crate::response::flavor;
use crate::response::{ory, Deny, DenyReason, Flavor};

#[derive(Debug)]
pub enum Decision<'a> {
    Allow(Allow<'a>),
    Deny(Denied<'a>),
    /// Keys for these JWKS ids are needed: hold the request, fetch, then decide again.
    Pending(Pending<'a>),
}

/// Forward the request upstream after setting these headers (each overwrites a client value),
/// and edit its response.
#[derive(Debug)]
pub struct Allow<'a> {
    pub matched: Matched<'a>,
    /// Names are the filter's own or owned: never borrowed from the request.
    pub set_headers: Vec<(Cow<'static, str>, Cow<'a, str>)>,
    pub response: ResponseEdits,
}

#[derive(Debug)]
pub struct Denied<'a> {
    pub matched: Option<Matched<'a>>,
    pub response: Deny,
}

#[derive(Debug)]
pub struct Pending<'a> {
    pub matched: Matched<'a>,
    pub wait: Wait,
}

#[derive(Debug)]
pub enum Wait {
    /// Keys of these JWKS ids: the root context fetches them, then the request is decided again.
    Keys(Vec<usize>),
    /// A call the request itself must make (introspection, client credentials), then decide
    /// again with its answer.
    Call(Box<CallRequest>),
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

    /// Does deciding need the request's headers (tokens, cookies, `Origin`, mutator inputs)?
    pub fn needs_headers(&self) -> bool {
        matches!(self.rule.access, CompiledAccess::Authenticate(_))
            || self.rule.mutators.needs_headers()
            || self.api_rule.cors.active()
    }

    /// Do mutators read the peer address or protocol?
    pub fn needs_connection(&self) -> bool {
        !self.rule.mutators.is_empty()
    }

    /// The answer when keys did not arrive in time: 401, in the rule's flavour.
    pub fn keys_unavailable(&self, req: &Request<'_>) -> Deny {
        match flavor(self.api_rule.source) {
            // Istio's answer against istiod's fake key set (see `JwtError::KeysUnavailable`).
            Flavor::Istio => {
                Deny::jwt_invalid(JwtError::KeysUnavailable { kid_matched: true }, req)
            }
            Flavor::Ory => ory(401, DenyReason::KeysUnavailable),
        }
    }
}

/// Header names the filter writes.
pub const X_FORWARDED_HOST: &str = "x-forwarded-host";
pub const X_UPSTREAM_TIMEOUT: &str = "x-envoy-upstream-rq-timeout-ms";

/// The first stage of every request, on the request line alone: the ambiguity guard, then the
/// route, then the rate-limit bucket the request draws from (Kyma limits routed requests only).
#[derive(Debug)]
pub enum Admission<'a> {
    /// Answered before any rule: 400 for an ambiguous path, 404 when no rule routes it.
    Refused(Denied<'a>),
    /// A rule takes it. With a bucket, the shell draws one token (shared across workers) and
    /// hands the result to [`RateLimiter::limit`](crate::ratelimit::RateLimiter::limit) before
    /// [`decide_matched`].
    Routed {
        matched: Matched<'a>,
        bucket: Option<BucketRef<'a>>,
    },
}

/// `header` reads one request header as bytes, for header-keyed buckets.
pub fn admit<'a>(
    rules: &'a RuleSet,
    req: &Request<'_>,
    header: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Admission<'a> {
    let refuse = |response| {
        Admission::Refused(Denied {
            matched: None,
            response,
        })
    };
    if ambiguity(path_without_query(req.path)).is_some() {
        return refuse(Deny::ambiguous_path());
    }
    let Some(matched) = route(rules, req) else {
        return refuse(Deny::no_route());
    };
    let bucket = rules
        .rate_limit
        .as_ref()
        .map(|limiter| limiter.bucket_for(req.path, header));
    Admission::Routed { matched, bucket }
}

/// Admission, then the decision, without a draw: a held request decided again (the pipeline's
/// `resume`), the tests and the fuzzer. Every request's first pass is the pipeline's `run`.
pub fn decide<'a>(rules: &'a RuleSet, req: &Request<'a>, env: &mut AuthEnv<'_>) -> Decision<'a> {
    let header =
        |name: &str| crate::request::first_header(req, name).map(|v| v.as_bytes().to_vec());
    match admit(rules, req, &header) {
        Admission::Refused(denied) => Decision::Deny(denied),
        Admission::Routed { matched, .. } => decide_matched(matched, req, env),
    }
}

/// The decision for a request already routed to `matched`.
pub fn decide_matched<'a>(
    matched: Matched<'a>,
    req: &Request<'a>,
    env: &mut AuthEnv<'_>,
) -> Decision<'a> {
    let deny = |response| {
        Decision::Deny(Denied {
            matched: Some(matched),
            response,
        })
    };
    // The gateway answers allowed CORS preflights itself, before any authentication.
    if let Some(reply) = matched.api_rule.cors.preflight(req) {
        return deny(reply);
    }
    let identity = match authenticate(matched, req, env) {
        Ok(identity) => identity,
        Err(Step::Deny(response)) => return deny(response),
        Err(Step::Wait(wait)) => return Decision::Pending(Pending { matched, wait }),
    };
    // Room for `x-forwarded-host` and the timeout, unless the routes set them.
    let mut set_headers = Vec::with_capacity(if matched.api_rule.upstream_by_routes {
        0
    } else {
        2
    });
    let mut response = matched.api_rule.cors.response_edits(req);
    if let Identity::Authorized(a) = &identity {
        if !writable(a.upstream.iter().map(|(k, v)| (k.as_ref(), v.as_str()))) {
            return deny(mutator_failed(matched));
        }
        // Before the rule's own headers: Envoy's router sets those after ext_authz ran.
        set_headers.extend(
            a.upstream
                .iter()
                .map(|(k, v)| (Cow::Owned(k.to_string()), Cow::Owned(v.clone()))),
        );
        response.set.extend(a.downstream.iter().cloned());
    }
    push_upstream_headers(&mut set_headers, matched, req);
    if !matched.rule.mutators.is_empty() {
        match mutate(matched, req, &identity, env) {
            // A claim or a copied header with CR, LF or NUL would make Envoy refuse the request
            // (503 `invalid header value`): answer it here, in the rule's own words, instead.
            Ok(writes) if !writable(writes.iter().map(|(k, v)| (k.as_str(), v.as_str()))) => {
                return deny(mutator_failed(matched))
            }
            Ok(writes) => set_headers.extend(
                writes
                    .into_iter()
                    .map(|(k, v)| (Cow::Owned(k), Cow::Owned(v))),
            ),
            // Oathkeeper answers a failing mutator with 500.
            Err(_) => return deny(mutator_failed(matched)),
        }
    }
    // The same for what goes on the response (an authorizer's headers, CORS). The rule's own
    // `x-forwarded-host` and timeout need no check: the host is the configuration's or the
    // request's (which Envoy's codec admitted), the timeout a number.
    if !writable(response.set.iter().map(|(k, v)| (k.as_ref(), v.as_str()))) {
        return deny(mutator_failed(matched));
    }
    Decision::Allow(Allow {
        matched,
        set_headers,
        response,
    })
}

enum Step {
    Deny(Deny),
    Wait(Wait),
}

/// Authenticators in order (Ory); the first that succeeds wins, any error stops the chain.
fn authenticate(
    matched: Matched<'_>,
    req: &Request<'_>,
    env: &mut AuthEnv<'_>,
) -> Result<Identity, Step> {
    let checks = match &matched.rule.access {
        CompiledAccess::Public | CompiledAccess::Noop => return Ok(Identity::Anonymous),
        CompiledAccess::Authenticate(checks) => checks,
    };
    for check in checks {
        let outcome = match check {
            Check::IstioJwt(rule) => rule.check(req, env),
            Check::OryJwt(rule) => rule.check(req, env),
            Check::Introspection(rule) => rule.check(req, env),
            Check::ExtAuth(rule) => rule.check(req, env),
            // Not enforced by this build: refuse, never pass.
            Check::Unsupported(_, flavor) => {
                Outcome::Denied(Deny::unauthorized(*flavor, DenyReason::Unsupported))
            }
        };
        match outcome {
            Outcome::Allowed(identity) => return Ok(identity),
            Outcome::NotResponsible => continue,
            Outcome::Denied(response) => return Err(Step::Deny(response)),
            Outcome::Pending(jwks) => return Err(Step::Wait(Wait::Keys(jwks))),
            Outcome::Call(call) => return Err(Step::Wait(Wait::Call(call))),
        }
    }
    // Oathkeeper: no authenticator was responsible (no credential anywhere).
    Err(Step::Deny(ory(401, DenyReason::NoToken)))
}

fn mutate(
    matched: Matched<'_>,
    req: &Request<'_>,
    identity: &Identity,
    env: &mut AuthEnv<'_>,
) -> Result<Vec<(String, String)>, String> {
    let (path, query) = req.path.split_once('?').unwrap_or((req.path, ""));
    let host = normalize_authority(req.authority);
    // Oathkeeper matches `<scheme>://<host><path-regex>`: group 1 is the scheme, 2 the path.
    let captures: Vec<String> = match &matched.rule.captures {
        Some(re) => match re.captures(path) {
            Some(c) => std::iter::once(req.scheme.to_owned())
                .chain(
                    c.iter()
                        .skip(1)
                        .map(|m| m.map_or(String::new(), |m| m.as_str().to_owned())),
                )
                .collect(),
            None => Vec::new(),
        },
        None => Vec::new(),
    };
    let extra = identity.extra();
    let session = Session {
        subject: identity.subject(),
        extra: extra.as_ref(),
        captures: &captures,
        scheme: req.scheme,
        host: &host,
        path,
        raw_query: query,
        method: req.method,
        headers: req.headers,
        non_utf8: req.non_utf8,
    };
    let ctx = crate::mutate::Context {
        request: operators::Env {
            headers: req.headers,
            non_utf8: req.non_utf8,
            authority: req.authority,
            method: req.method,
            path: req.path,
            scheme: req.scheme,
            remote_address: req.remote_address,
            protocol: req.protocol,
            now_ms: env.now_ms,
        },
        cookie_headers: crate::request::header_values(req.headers, "cookie").collect(),
    };
    matched
        .rule
        .mutators
        .apply(&ctx, &session, env.mints, env.now_ms / 1000)
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

/// `x-forwarded-host` and the rule's timeout, borrowed from the rule and the request, after what
/// an authorizer wrote (`headers`). Where the routes set both (`routesSetUpstreamHeaders`), the
/// route's `x-forwarded-host` overwrites whatever the request carries; but Envoy's router takes
/// an `x-envoy-upstream-rq-timeout-ms` header over the route's timeout, so one the client or an
/// authorizer put there is still overwritten.
fn push_upstream_headers<'a>(
    headers: &mut Vec<(Cow<'static, str>, Cow<'a, str>)>,
    m: Matched<'a>,
    req: &Request<'a>,
) {
    let by_filter = !m.api_rule.upstream_by_routes;
    if by_filter {
        let host = m
            .api_rule
            .forwarded_host
            .as_deref()
            .unwrap_or(req.authority);
        headers.push((Cow::Borrowed(X_FORWARDED_HOST), Cow::Borrowed(host)));
    }
    if by_filter
        || req.sent_upstream_timeout
        || headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(X_UPSTREAM_TIMEOUT))
    {
        headers.push((
            Cow::Borrowed(X_UPSTREAM_TIMEOUT),
            Cow::Borrowed(m.rule.timeout_ms_header.as_str()),
        ));
    }
}

/// Every header of `writes` may be set: a settable name and a value Envoy accepts.
fn writable<'h>(mut writes: impl Iterator<Item = (&'h str, &'h str)>) -> bool {
    writes
        .all(|(k, v)| crate::headers::settable_name(k) && crate::headers::valid_value(v.as_bytes()))
}

/// A mutator could not produce a valid header: Oathkeeper's JSON 500 for Ory-era rules, a plain
/// 500 for Istio-style ones.
fn mutator_failed(m: Matched<'_>) -> Deny {
    match flavor(m.api_rule.source) {
        Flavor::Ory => ory(500, DenyReason::MutatorFailed),
        Flavor::Istio => Deny::internal(DenyReason::MutatorFailed),
    }
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
            scheme: "http",
            ..Request::default()
        }
    }

    fn decide<'a>(set: &'a RuleSet, r: &Request<'a>) -> Decision<'a> {
        let mut auth = set.auth_state();
        let answers = Default::default();
        let mut env = auth.env(&crate::jwt::crypto::Software, &answers, 0, 0);
        super::decide(set, r, &mut env)
    }

    fn status(set: &RuleSet, r: Request<'_>) -> u32 {
        match decide(set, &r) {
            Decision::Allow(_) => 200,
            Decision::Deny(d) => d.response.status,
            Decision::Pending(_) => 0,
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
                _ => None,
            };
        assert_eq!(rule_of("GET"), Some(1));
        assert_eq!(rule_of("POST"), Some(0));
        assert_eq!(rule_of("DELETE"), None);
    }

    #[test]
    fn missing_tokens_and_unenforced_strategies_deny() {
        let set = rules(SAMPLE);
        let d = decide(&set, &req("httpbin.local.kyma.dev", "GET", "/secret"));
        assert!(
            matches!(&d, Decision::Deny(d) if d.response.status == 403 && d.response.body == "RBAC: access denied")
        );
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
            _ => vec![],
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
