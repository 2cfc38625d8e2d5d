//! The pipeline every request goes through, in one function ([`run`]): the ambiguity guard, the
//! route, the rate-limit draw, the rule's reads, then the decision (CORS preflight, access checks,
//! mutators). Sans-I/O: what it needs from the proxy while it runs (the request line, a header, a
//! token from a bucket shared by the workers, the worker's keys and caches) it asks of a
//! [`Proxy`]; what must happen after it (a reply, an allow with header writes, a call, a wait for
//! keys) it returns as an owned [`Outcome`], which the shell performs in one place.
//!
//! A request that waits is [`Held`]; [`resume`] decides it again when its call's answer is in,
//! and [`Parking`] holds those that wait for keys until the keys arrive or their wait is over.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::access::{AuthEnv, AuthState};
use crate::callout::{Answer, CallRequest};
use crate::compile::RuleSet;
use crate::cors::ResponseEdits;
use crate::decide::{admit, decide, decide_matched, Admission, Decision, Matched, Wait};
use crate::jwt::crypto::Crypto;
use crate::ratelimit::{BucketRef, Limit, Taken};
use crate::request::{path_without_query, HeaderList, OwnedRequest, Request};
use crate::response::{Deny, DenyReason, Headers};

/// Answers to a request's calls, by [`CallRequest::key`].
pub type Answers = HashMap<String, Answer>;

/// Why the proxy could not hand over part of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadable {
    /// The host refused the call: 500.
    Host,
    /// The request line or a header name is not UTF-8: 400, nothing can be decided on it.
    NotText,
}

impl Unreadable {
    pub fn reply(self) -> Deny {
        match self {
            Unreadable::Host => Deny::internal(DenyReason::Internal),
            Unreadable::NotText => Deny::bad_request(),
        }
    }
}

/// What the rule reads beyond the request line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Needs {
    /// All request headers (tokens, cookies, `Origin`, mutator inputs), and the scheme.
    pub headers: bool,
    /// The peer address and protocol (mutators), and the scheme.
    pub connection: bool,
}

impl Needs {
    fn of(m: Matched<'_>) -> Needs {
        Needs {
            headers: m.needs_headers(),
            connection: m.needs_connection(),
        }
    }

    fn any(self) -> bool {
        self.headers || self.connection
    }
}

/// The parts of a request the proxy reads on demand: nothing for a plain public rule.
#[derive(Debug, Default)]
pub struct Reads {
    pub headers: HeaderList,
    /// Names (lowercase) of headers whose value was not UTF-8 (decoded lossily, never trusted).
    pub non_utf8: Vec<String>,
    pub remote_address: String,
    pub protocol: String,
    pub scheme: Cow<'static, str>,
}

/// The effects the pipeline needs while it runs, all synchronous: the shell implements them with
/// host calls, `apirule explain` and the tests with values. No policy lives behind them.
pub trait Proxy {
    /// `:authority`, `:method`, `:path` (a common method need not be allocated).
    fn line(&mut self) -> Result<(String, Cow<'static, str>, String), Unreadable>;
    /// One request header as bytes (a RateLimit bucket keyed on it).
    fn header(&self, name: &str) -> Option<Vec<u8>>;
    fn now_ms(&mut self) -> u64;
    /// Takes one token from `bucket`, shared by all workers; `None`: the draw could not be made.
    fn draw(&mut self, bucket: BucketRef<'_>, now_ms: u64) -> Option<Taken>;
    /// What `needs` asks for. The proxy may hand over its own copy of the headers: [`Proxy::header`]
    /// is asked before, not after.
    fn read(&mut self, needs: Needs) -> Result<Reads, Unreadable>;
    /// Runs `f` with this worker's keys, caches and crypto; `None`: they are in use (a re-entered
    /// callback), and the request fails closed.
    fn with_env<R>(
        &mut self,
        now_ms: u64,
        since_ms: u64,
        answers: &Answers,
        f: impl FnOnce(&mut AuthEnv<'_>) -> R,
    ) -> Option<R>;
    /// Installs keys other workers published since this one last looked.
    fn sync_keys(&mut self, now_ms: u64);
}

/// What the shell performs, owned: no borrow of the rules or the state outlives the decision.
#[derive(Debug)]
pub enum Effect {
    /// Forward upstream after these header writes; edit the response.
    Allow {
        /// Names are mostly the filter's own constants: not copied per request.
        headers: Vec<(Cow<'static, str>, String)>,
        response: ResponseEdits,
    },
    /// Answer it here.
    Reply(Deny),
    /// Hold it until the keys of these JWKS ids arrive ([`Parking`]).
    Park(Box<Held>, Vec<usize>),
    /// Make this call, hold the request, and [`resume`] it with the answer.
    Call(Box<CallRequest>, Box<Held>),
}

/// A request held while it waits, with what its response must carry whatever it becomes.
#[derive(Debug)]
pub struct Held {
    pub request: OwnedRequest,
    /// Rate-limit headers: its token was drawn when it arrived, never again.
    pub response_headers: Headers,
}

/// How the rate limit saw the request, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LimitSeen {
    #[default]
    NotLimited,
    Within,
    /// Over the limit in shadow mode: passed, and counted.
    Shadowed,
    Over,
}

#[derive(Debug)]
pub struct Outcome {
    pub effect: Effect,
    /// `namespace/name rule[i]` (or `-` before a rule matched), for logs; empty unless debug
    /// logging is on or a warning names the rule.
    pub label: String,
    /// ` METHOD path-without-query` for the debug log; empty unless debug logging is on.
    pub line: String,
    pub limit: LimitSeen,
}

impl Outcome {
    fn reply(deny: Deny, label: String) -> Outcome {
        refused(deny, label)
    }
}

/// An outcome that answers the request with `deny`.
pub fn refused(deny: Deny, label: String) -> Outcome {
    Outcome {
        effect: Effect::Reply(deny),
        label,
        line: String::new(),
        limit: LimitSeen::NotLimited,
    }
}

/// ` METHOD path` for the debug log: never the query (it may carry a token).
fn line_of(method: &str, path: &str) -> String {
    if log::log_enabled!(log::Level::Debug) {
        format!(" {method} {}", path_without_query(path))
    } else {
        String::new()
    }
}

/// One request, start to end of what can be decided now.
pub fn run<P: Proxy>(rules: &RuleSet, proxy: &mut P) -> Outcome {
    let (authority, method, path) = match proxy.line() {
        Ok(line) => line,
        Err(why) => return Outcome::reply(why.reply(), "-".into()),
    };
    let mut outcome = run_line(rules, proxy, &authority, &method, &path);
    outcome.line = line_of(&method, &path);
    outcome
}

fn run_line<P: Proxy>(
    rules: &RuleSet,
    proxy: &mut P,
    authority: &str,
    method: &str,
    path: &str,
) -> Outcome {
    let line = Request {
        authority,
        method,
        path,
        ..Request::default()
    };
    let (matched, bucket) = match admit(rules, &line, &|name| proxy.header(name)) {
        Admission::Refused(denied) => return Outcome::reply(denied.response, "-".into()),
        Admission::Routed { matched, bucket } => (matched, bucket),
    };
    let needs = Needs::of(matched);
    // The clock is a host call: only rules that authenticate or mutate read it, and RateLimits.
    let now = if needs.any() || bucket.is_some() {
        proxy.now_ms()
    } else {
        0
    };
    let mut limit = LimitSeen::NotLimited;
    let mut response_headers = Headers::new();
    if let (Some(limiter), Some(bucket)) = (&rules.rate_limit, bucket) {
        match limiter.limit(bucket, proxy.draw(bucket, now)) {
            Limit::Deny(deny) => {
                return Outcome {
                    limit: LimitSeen::Over,
                    ..Outcome::reply(deny, label(Some(matched), false))
                }
            }
            Limit::Pass { headers, shadowed } => {
                limit = if shadowed {
                    LimitSeen::Shadowed
                } else {
                    LimitSeen::Within
                };
                response_headers = headers;
            }
        }
    }
    // Only where the routes set the timeout does the filter need to know (a header lookup in
    // what the shell read already, or a host call for a host that left it out). Asked before
    // `read`, which may hand the shell's copy of the headers over.
    let sent_upstream_timeout = matched.api_rule.upstream_by_routes
        && proxy.header(crate::decide::X_UPSTREAM_TIMEOUT).is_some();
    let reads = if needs.any() {
        match proxy.read(needs) {
            Ok(reads) => reads,
            Err(why) => return with_limit(why.reply(), response_headers, limit),
        }
    } else {
        Reads::default()
    };
    let request = Request {
        headers: &reads.headers,
        sent_upstream_timeout,
        non_utf8: &reads.non_utf8,
        remote_address: &reads.remote_address,
        protocol: &reads.protocol,
        scheme: &reads.scheme,
        ..line
    };
    let no_answers = Answers::new();
    let decide_once = |proxy: &mut P| {
        with_env(proxy, now, now, &no_answers, |env| {
            let decision = decide_matched(matched, &request, env);
            effect(decision, &request, now, &response_headers)
        })
    };
    let mut outcome = decide_once(proxy);
    // Keys that seem missing may have been published by another worker already (also after a
    // failure this worker remembers: recovery must not wait for its next tick).
    if keys_missing(&outcome.effect) {
        proxy.sync_keys(now);
        outcome = decide_once(proxy);
    }
    outcome.limit = limit;
    outcome
}

/// A held request decided again with its calls' `answers`: no second draw, its rate-limit headers
/// kept. Another call, or a wait for keys, holds it again.
pub fn resume(rules: &RuleSet, held: Held, answers: &Answers, proxy: &mut impl Proxy) -> Outcome {
    let now = proxy.now_ms();
    let request = held.request.view();
    let mut outcome = with_env(proxy, now, held.request.start_ms, answers, |env| {
        effect(
            decide(rules, &request, env),
            &request,
            held.request.start_ms,
            &held.response_headers,
        )
    });
    outcome.line = line_of(&held.request.method, &held.request.path);
    outcome
}

fn with_env(
    proxy: &mut impl Proxy,
    now: u64,
    since: u64,
    answers: &Answers,
    f: impl FnOnce(&mut AuthEnv<'_>) -> Outcome,
) -> Outcome {
    proxy
        .with_env(now, since, answers, f)
        .unwrap_or_else(|| Outcome::reply(Deny::internal(DenyReason::Internal), "-".into()))
}

fn keys_missing(effect: &Effect) -> bool {
    match effect {
        Effect::Park(..) => true,
        Effect::Reply(deny) => deny.reason == DenyReason::KeysUnavailable,
        _ => false,
    }
}

fn with_limit(mut deny: Deny, headers: Headers, limit: LimitSeen) -> Outcome {
    deny.headers.extend(headers);
    Outcome {
        limit,
        ..Outcome::reply(deny, "-".into())
    }
}

/// The label is only for the debug log, and for the warning a mutator failure earns.
fn label(m: Option<Matched<'_>>, warned: bool) -> String {
    if !warned && !log::log_enabled!(log::Level::Debug) {
        return String::new();
    }
    m.map_or_else(|| "-".to_owned(), |m| m.label())
}

/// A decision as the shell performs it: owned, with the rate-limit headers on whatever response
/// the request gets; a waiting request keeps an owned copy of itself.
fn effect(
    decision: Decision<'_>,
    req: &Request<'_>,
    start_ms: u64,
    response_headers: &Headers,
) -> Outcome {
    let held = || {
        Box::new(Held {
            request: OwnedRequest::of(req, start_ms),
            response_headers: response_headers.clone(),
        })
    };
    let (effect, matched, warned) = match decision {
        Decision::Allow(a) => {
            let mut response = a.response;
            response.set.extend(response_headers.iter().cloned());
            let headers = a
                .set_headers
                .into_iter()
                .map(|(k, v)| (k, v.into_owned()))
                .collect();
            (Effect::Allow { headers, response }, Some(a.matched), false)
        }
        Decision::Deny(d) => {
            let warned = d.response.reason == DenyReason::MutatorFailed;
            let mut deny = d.response;
            deny.headers.extend(response_headers.iter().cloned());
            (Effect::Reply(deny), d.matched, warned)
        }
        Decision::Pending(p) => match p.wait {
            Wait::Keys(ids) => (Effect::Park(held(), ids), Some(p.matched), false),
            Wait::Call(call) => (Effect::Call(call, held()), Some(p.matched), false),
        },
    };
    Outcome {
        effect,
        label: label(matched, warned),
        line: String::new(),
        limit: LimitSeen::NotLimited,
    }
}

/// Requests of one worker that wait for keys, each until the keys arrive or its wait is over.
#[derive(Debug, Default)]
pub struct Parking {
    waiting: Vec<Parked>,
}

#[derive(Debug)]
struct Parked {
    context_id: u32,
    deadline_ms: u64,
    held: Held,
    /// Answers to the calls the request made before it waited (an authorizer's, say).
    answers: Answers,
}

impl Parking {
    /// Holds `held` for its HTTP context until `now_ms + max_wait_ms` at the latest.
    pub fn park(
        &mut self,
        context_id: u32,
        held: Held,
        answers: Answers,
        now_ms: u64,
        max_wait_ms: u64,
    ) {
        self.waiting.push(Parked {
            context_id,
            deadline_ms: now_ms.saturating_add(max_wait_ms),
            held,
            answers,
        });
    }

    /// The client went away: its request is never resumed.
    pub fn forget(&mut self, context_id: u32) {
        self.waiting.retain(|p| p.context_id != context_id);
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Decides every waiting request again with the keys this worker has now: those whose keys
    /// are in, or whose wait is over (401 in the rule's flavour), come back with their outcome, by
    /// HTTP context; the rest keep waiting. Only `Allow` and `Reply` come back: a request that
    /// waited cannot make a call from here (the call would answer the root context), and no
    /// configuration produces one (a jwt rule never falls through to introspection).
    pub fn due(
        &mut self,
        rules: &RuleSet,
        auth: &mut AuthState,
        crypto: &dyn Crypto,
        now_ms: u64,
    ) -> Vec<(u32, Outcome)> {
        let mut due = Vec::new();
        for p in std::mem::take(&mut self.waiting) {
            let req = p.held.request.view();
            let since = p.held.request.start_ms;
            let overdue = now_ms >= p.deadline_ms;
            let mut env = auth.env(crypto, &p.answers, now_ms, since);
            // Past its wait, the request is decided with the keys that are there: those still
            // missing count as failed, and it gets the answer its flavour gives for that.
            env.overdue = overdue;
            let decision = decide(rules, &req, &mut env);
            let decision = match decision {
                Decision::Pending(pending) => match pending.wait {
                    Wait::Keys(_) if !overdue => {
                        self.waiting.push(p);
                        continue;
                    }
                    Wait::Keys(_) => Decision::Deny(crate::decide::Denied {
                        response: pending.matched.keys_unavailable(&req),
                        matched: Some(pending.matched),
                    }),
                    Wait::Call(_) => Decision::Deny(crate::decide::Denied {
                        response: crate::response::ory(500, DenyReason::IntrospectionFailed),
                        matched: Some(pending.matched),
                    }),
                },
                decided => decided,
            };
            let mut outcome = effect(decision, &req, since, &p.held.response_headers);
            outcome.line = line_of(&p.held.request.method, &p.held.request.path);
            due.push((p.context_id, outcome));
        }
        due
    }
}

/// The pipeline without a proxy (`apirule explain`, tests): the request is given whole, every
/// bucket has a token, no other worker publishes keys.
pub struct Offline<'r, 'e, 'k> {
    pub request: &'r Request<'r>,
    pub env: &'e mut AuthEnv<'k>,
}

impl Proxy for Offline<'_, '_, '_> {
    fn line(&mut self) -> Result<(String, Cow<'static, str>, String), Unreadable> {
        let r = self.request;
        Ok((
            r.authority.into(),
            r.method.to_owned().into(),
            r.path.into(),
        ))
    }

    fn header(&self, name: &str) -> Option<Vec<u8>> {
        crate::request::first_header(self.request, name).map(|v| v.as_bytes().to_vec())
    }

    fn now_ms(&mut self) -> u64 {
        self.env.now_ms
    }

    fn draw(&mut self, bucket: BucketRef<'_>, _now_ms: u64) -> Option<Taken> {
        Some(Taken {
            allowed: true,
            remaining: bucket.spec.max_tokens.saturating_sub(1),
            reset_ms: bucket.spec.fill_interval_ms,
        })
    }

    fn read(&mut self, _needs: Needs) -> Result<Reads, Unreadable> {
        let r = self.request;
        Ok(Reads {
            headers: r.headers.clone(),
            non_utf8: r.non_utf8.to_vec(),
            remote_address: r.remote_address.into(),
            protocol: r.protocol.into(),
            scheme: r.scheme.to_owned().into(),
        })
    }

    fn with_env<R>(
        &mut self,
        _now_ms: u64,
        _since_ms: u64,
        _answers: &Answers,
        f: impl FnOnce(&mut AuthEnv<'_>) -> R,
    ) -> Option<R> {
        Some(f(self.env))
    }

    fn sync_keys(&mut self, _now_ms: u64) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::compile;
    use crate::config::PluginConfig;
    use crate::decide::X_UPSTREAM_TIMEOUT;
    use crate::jwt::crypto::Software;
    use jwt_simple::prelude::*;

    const ISSUER: &str = "https://idp.example.com";

    /// Tokens carry real times: the tests' clock starts now.
    fn t0() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    /// A jwt rule on `/jwt`, a public rule on `/open`, and a RateLimit with response headers.
    fn rules() -> RuleSet {
        rules_with("")
    }

    /// The same, with more top-level keys (`extra` is `"key": value, `).
    fn rules_with(extra: &str) -> RuleSet {
        let json = format!(
            r#"{{{extra}"apiRules": [{{"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
                "metadata": {{"name": "a", "namespace": "t"}},
                "spec": {{"hosts": ["a.example.com"], "gateway": "kyma-system/kyma-gateway",
                         "service": {{"name": "s", "port": 80}},
                         "rules": [{{"path": "/jwt", "methods": ["GET"],
                                    "jwt": {{"authentications": [{{"issuer": "{ISSUER}",
                                             "jwksUri": "{ISSUER}/jwks"}}]}}}},
                                   {{"path": "/open", "methods": ["GET"], "noAuth": true}}]}}}}],
              "rateLimits": [{{"apiVersion": "gateway.kyma-project.io/v1alpha1", "kind": "RateLimit",
                "metadata": {{"name": "rl", "namespace": "istio-system"}},
                "spec": {{"selectorLabels": {{"app": "istio-ingressgateway"}},
                         "enableResponseHeaders": true,
                         "local": {{"defaultBucket": {{"maxTokens": 10, "tokensPerFill": 10,
                                                      "fillInterval": "1s"}}}}}}}}]}}"#
        );
        let cfg = PluginConfig::from_json(json.as_bytes()).unwrap_or_else(|e| unreachable!("{e}"));
        compile(&cfg).unwrap_or_else(|e| unreachable!("{e}")).0
    }

    struct Key {
        pair: ES256KeyPair,
        kid: &'static str,
    }

    impl Key {
        fn new(kid: &'static str) -> Key {
            Key {
                pair: ES256KeyPair::generate().with_key_id(kid),
                kid,
            }
        }

        fn jwks(&self) -> Vec<u8> {
            use base64::Engine;
            let e = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
            let p = self.pair.public_key().public_key().to_bytes_uncompressed();
            format!(
                r#"{{"keys": [{{"kty": "EC", "crv": "P-256", "kid": "{}", "x": "{}", "y": "{}"}}]}}"#,
                self.kid,
                e(&p[1..33]),
                e(&p[33..])
            )
            .into_bytes()
        }

        fn token(&self) -> String {
            let claims = Claims::create(Duration::from_hours(1)).with_issuer(ISSUER);
            self.pair
                .sign(claims)
                .unwrap_or_else(|e| unreachable!("{e}"))
        }
    }

    /// A worker, without a host: the request, a shared bucket, this worker's keys, and keys
    /// another worker has published (installed by `sync_keys`).
    struct Worker {
        path: String,
        headers: HeaderList,
        auth: AuthState,
        draws: usize,
        published: Option<Vec<u8>>,
        now: u64,
    }

    impl Worker {
        fn new(rules: &RuleSet, path: &str, token: Option<&str>) -> Worker {
            Worker {
                path: path.into(),
                headers: token
                    .map(|t| HeaderList::of(&[("authorization", format!("Bearer {t}"))]))
                    .unwrap_or_default(),
                auth: rules.auth_state(),
                draws: 0,
                published: None,
                now: t0(),
            }
        }
    }

    impl Proxy for Worker {
        fn line(&mut self) -> Result<(String, Cow<'static, str>, String), Unreadable> {
            Ok(("a.example.com".into(), "GET".into(), self.path.clone()))
        }
        fn header(&self, name: &str) -> Option<Vec<u8>> {
            crate::request::header_values(&self.headers, name)
                .next()
                .map(|v| v.as_bytes().to_vec())
        }
        fn now_ms(&mut self) -> u64 {
            self.now
        }
        fn draw(&mut self, bucket: BucketRef<'_>, _: u64) -> Option<Taken> {
            self.draws += 1;
            Some(Taken {
                allowed: true,
                remaining: bucket.spec.max_tokens - self.draws as u64,
                reset_ms: 1000,
            })
        }
        fn read(&mut self, _: Needs) -> Result<Reads, Unreadable> {
            Ok(Reads {
                headers: self.headers.clone(),
                scheme: "https".into(),
                ..Reads::default()
            })
        }
        fn with_env<R>(
            &mut self,
            now: u64,
            since: u64,
            answers: &Answers,
            f: impl FnOnce(&mut AuthEnv<'_>) -> R,
        ) -> Option<R> {
            Some(f(&mut self.auth.env(&Software, answers, now, since)))
        }
        fn sync_keys(&mut self, now: u64) {
            if let Some(body) = self.published.take() {
                let _ = self.auth.keys.install(0, &body, now);
            }
        }
    }

    fn status(o: &Outcome) -> u32 {
        match &o.effect {
            Effect::Allow { .. } => 200,
            Effect::Reply(d) => d.status,
            Effect::Park(..) => 1,
            Effect::Call(..) => 2,
        }
    }

    fn writes(o: &Outcome) -> Vec<String> {
        match &o.effect {
            Effect::Allow { headers, .. } => {
                headers.iter().map(|(k, v)| format!("{k}={v}")).collect()
            }
            _ => unreachable!("{o:?}"),
        }
    }

    /// Where the routes set `x-forwarded-host` and the timeout, the filter writes neither, but a
    /// client's own `x-envoy-upstream-rq-timeout-ms` is still overwritten with the rule's (the
    /// router takes it over the route's timeout), also when the request was decided after
    /// waiting for keys. Without the key, the filter writes both.
    #[test]
    fn routes_set_the_upstream_headers_but_never_a_clients_timeout() {
        let key = Key::new("k1");
        let token = key.token();
        for by_routes in [false, true] {
            let rules = rules_with(if by_routes {
                r#""routesSetUpstreamHeaders": true, "#
            } else {
                ""
            });
            for sent in [false, true] {
                let filter = [
                    "x-forwarded-host=a.example.com",
                    "x-envoy-upstream-rq-timeout-ms=180000",
                ];
                let expected: &[&str] = match (by_routes, sent) {
                    (false, _) => &filter,
                    (true, false) => &[],
                    (true, true) => &filter[1..],
                };
                let mut w = Worker::new(&rules, "/open", None);
                if sent {
                    w.headers.push(X_UPSTREAM_TIMEOUT, "3600000");
                }
                assert_eq!(
                    writes(&run(&rules, &mut w)),
                    expected,
                    "open, routes {by_routes}, sent {sent}"
                );

                let mut w = Worker::new(&rules, "/jwt", Some(&token));
                if sent {
                    w.headers.push(X_UPSTREAM_TIMEOUT, "1");
                }
                let Effect::Park(held, _) = run(&rules, &mut w).effect else {
                    unreachable!()
                };
                let mut parking = Parking::default();
                parking.park(7, *held, Answers::new(), w.now, 5_000);
                let _ = w.auth.keys.install(0, &key.jwks(), w.now + 10);
                let due = parking.due(&rules, &mut w.auth, &Software, w.now + 10);
                assert_eq!(
                    writes(&due[0].1),
                    expected,
                    "jwt resumed, routes {by_routes}, sent {sent}"
                );
            }
        }
    }

    /// One draw per request, whatever it becomes; the rate-limit headers on every answer.
    #[test]
    fn every_request_draws_once_and_carries_its_limit_headers() {
        let rules = rules();
        let mut w = Worker::new(&rules, "/open", None);
        let o = run(&rules, &mut w);
        assert_eq!((status(&o), w.draws, o.limit), (200, 1, LimitSeen::Within));
        let Effect::Allow { response, .. } = &o.effect else {
            unreachable!()
        };
        assert!(response
            .set
            .iter()
            .any(|(k, v)| k == "x-ratelimit-remaining" && v == "9"));

        // Unrouted: refused before the draw.
        let mut w = Worker::new(&rules, "/nothing", None);
        assert_eq!((status(&run(&rules, &mut w)), w.draws), (404, 0));

        // Parked for keys, then decided with them: still one draw, the headers on the answer.
        let key = Key::new("k1");
        let mut w = Worker::new(&rules, "/jwt", Some(&key.token()));
        let o = run(&rules, &mut w);
        let Effect::Park(held, ids) = o.effect else {
            unreachable!("{o:?}")
        };
        assert_eq!((ids, w.draws), (vec![0], 1));
        let mut parking = Parking::default();
        parking.park(7, *held, Answers::new(), w.now, 5_000);
        w.auth
            .keys
            .install(0, &key.jwks(), w.now + 10)
            .unwrap_or_else(|e| unreachable!("{e}"));
        let due = parking.due(&rules, &mut w.auth, &Software, w.now + 10);
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].0, status(&due[0].1), w.draws), (7, 200, 1));
        let Effect::Allow { response, .. } = &due[0].1.effect else {
            unreachable!()
        };
        assert!(response.set.iter().any(|(k, _)| k == "x-ratelimit-limit"));
    }

    /// Keys another worker published are installed before a request parks (and it is decided
    /// at once); without them it parks.
    #[test]
    fn published_keys_are_taken_before_parking() {
        let rules = rules();
        let key = Key::new("k1");
        let token = key.token();
        let mut w = Worker::new(&rules, "/jwt", Some(&token));
        w.published = Some(key.jwks());
        assert_eq!(status(&run(&rules, &mut w)), 200);
        let mut w = Worker::new(&rules, "/jwt", Some(&token));
        assert_eq!(status(&run(&rules, &mut w)), 1);
    }

    /// The races of waiting: keys late, never, rotated, a client gone, several waiting at once.
    #[test]
    fn parked_requests_through_the_races_of_waiting() {
        let rules = rules();
        let (old, new) = (Key::new("old"), Key::new("new"));
        let park = |parking: &mut Parking, id: u32, token: &str, now: u64| {
            let mut w = Worker::new(&rules, "/jwt", Some(token));
            w.now = now;
            match run(&rules, &mut w).effect {
                Effect::Park(held, _) => parking.park(id, *held, Answers::new(), now, 5_000),
                other => unreachable!("{other:?}"),
            }
        };
        let t = t0();
        let mut auth = rules.auth_state();
        let mut parking = Parking::default();
        park(&mut parking, 1, &old.token(), t);
        park(&mut parking, 2, &new.token(), t + 100);
        park(&mut parking, 3, &old.token(), t + 200);
        // Nothing yet, within the wait: all keep waiting.
        assert!(parking
            .due(&rules, &mut auth, &Software, t + 1_000)
            .is_empty());
        assert_eq!(parking.len(), 3);
        // The client of 3 goes away: never resumed.
        parking.forget(3);
        // The keys arrive already rotated: only the token signed with the new key passes; the
        // other gets Envoy's answer for a `kid` the set lacks (401), not a wait.
        auth.keys
            .install(0, &new.jwks(), t + 1_500)
            .unwrap_or_else(|e| unreachable!("{e}"));
        let mut due = parking.due(&rules, &mut auth, &Software, t + 1_500);
        due.sort_by_key(|(id, _)| *id);
        let got: Vec<(u32, u32)> = due.iter().map(|(id, o)| (*id, status(o))).collect();
        assert_eq!(got, vec![(1, 401), (2, 200)]);
        let Effect::Reply(deny) = &due[0].1.effect else {
            unreachable!()
        };
        assert_eq!(
            deny.body,
            "Jwks doesn't have key to match kid or alg from Jwt"
        );
        assert!(parking.is_empty());

        // Keys that never come: waiting ends at the deadline with what Istio answers against
        // istiod's fake key set (one key, kid "abc"): a token naming another kid matches no key,
        // one naming none fails verification. Both count as keys unavailable.
        let mut auth = rules.auth_state();
        let no_kid = ES256KeyPair::generate()
            .sign(Claims::create(Duration::from_hours(1)).with_issuer(ISSUER))
            .unwrap_or_else(|e| unreachable!("{e}"));
        park(&mut parking, 4, &old.token(), t + 10_000);
        park(&mut parking, 5, &no_kid, t + 10_000);
        assert!(parking
            .due(&rules, &mut auth, &Software, t + 14_999)
            .is_empty());
        let mut due = parking.due(&rules, &mut auth, &Software, t + 15_000);
        due.sort_by_key(|(id, _)| *id);
        let answers: Vec<(u32, &str, DenyReason)> = due
            .iter()
            .map(|(_, o)| match &o.effect {
                Effect::Reply(d) => (d.status, d.body.as_str(), d.reason),
                other => unreachable!("{other:?}"),
            })
            .collect();
        let unavailable = DenyReason::KeysUnavailable;
        assert_eq!(
            answers,
            vec![
                (
                    401,
                    "Jwks doesn't have key to match kid or alg from Jwt",
                    unavailable
                ),
                (401, "Jwt verification fails", unavailable),
            ]
        );
    }
}
