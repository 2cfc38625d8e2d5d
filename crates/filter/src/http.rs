//! Per-request context: read the request, run the core's decision, perform it. Requests whose keys
//! are not there yet are parked (the root context decides them again when the keys arrive); calls
//! the decision needs (introspection, client credentials) are made here and their answers fed back.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use log::{debug, error, warn};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

use super::act::{act_of, Act};
use super::host::{self, Map};
use super::jwks;
use super::metrics::Counter;
use super::state::{
    call_answer, now_ms, path_only, reply, with_state, write_request_headers, OwnedRequest, Parked,
    Shared,
};
use apirule_core::callout::Answer;
use apirule_core::cors::{ResponseEdits, UPSTREAM_CORS_HEADERS};
use apirule_core::decide::{admit, decide, decide_matched, Admission, Matched, Request};
use apirule_core::ratelimit::{BucketRef, Limit, RateLimiter};
use apirule_core::response::{Deny, DenyReason};

/// A request needs at most a client-credentials call and an introspection call; more means a loop.
const MAX_CALLS: usize = 4;

pub struct HttpFilter {
    id: u32,
    shared: Shared,
    /// The request, kept while a call is outstanding.
    request: Option<OwnedRequest>,
    answers: HashMap<String, Answer>,
    call: Option<(u32, String)>,
    /// Edits for the response of a request this filter allowed.
    response: Option<ResponseEdits>,
    /// Rate-limit headers for whatever response the request gets.
    limit_headers: apirule_core::response::Headers,
    /// The request waited for keys: the root context decided it, and left its response edits
    /// in the shared state.
    parked: bool,
}

impl HttpFilter {
    pub fn new(id: u32, shared: Shared) -> Self {
        HttpFilter {
            id,
            shared,
            request: None,
            answers: HashMap::new(),
            call: None,
            response: None,
            limit_headers: Vec::new(),
            parked: false,
        }
    }
}

/// Why a request could not even be read.
enum Unreadable {
    /// The host refused the call: 500.
    Host,
    /// The request line or a header name is not UTF-8: 400, nothing can be decided on it.
    NotText,
}

/// A pseudo-header the decision interprets (`:path`, ...): missing is empty, bytes that are
/// not UTF-8 are a bad request.
fn pseudo(name: &str) -> Result<String, Unreadable> {
    match host::map_value(Map::Request, name) {
        Ok(None) => Ok(String::new()),
        Ok(Some(bytes)) => String::from_utf8(bytes).map_err(|_| Unreadable::NotText),
        Err(_) => Err(Unreadable::Host),
    }
}

/// Headers as text, and the names of those whose value was not UTF-8.
type TextHeaders = (Vec<(String, String)>, Vec<String>);

/// All request headers for the core: names must be text (Envoy's codecs only admit tokens, but
/// the ABI promises nothing); a value that is not UTF-8 (obs-text, legal in HTTP) is decoded
/// lossily and its name listed, so the core can find it but never copies or trusts it.
fn request_headers() -> Result<TextHeaders, Unreadable> {
    let pairs = host::map(Map::Request).ok_or(Unreadable::Host)?;
    let mut headers = Vec::with_capacity(pairs.len());
    let mut non_utf8 = Vec::new();
    for (name, value) in pairs {
        let name = String::from_utf8(name).map_err(|_| Unreadable::NotText)?;
        let value = match String::from_utf8(value) {
            Ok(v) => v,
            Err(e) => {
                let lower = name.to_ascii_lowercase();
                if !non_utf8.contains(&lower) {
                    non_utf8.push(lower);
                }
                String::from_utf8_lossy(e.as_bytes()).into_owned()
            }
        };
        headers.push((name, value));
    }
    Ok((headers, non_utf8))
}

/// Connection properties for mutators (peer address, protocol): informational, so lossy.
fn property(path: &[&str]) -> String {
    host::property(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// A 500: what the filter answers when it cannot do its work.
fn internal() -> Deny {
    Deny::internal(DenyReason::Internal)
}

/// The state is in use (a bug, never expected): refuse rather than panic.
fn busy() -> Deny {
    error!("filter state busy; denying");
    internal()
}

fn internal_error() -> Action {
    reply(&internal());
    Action::Pause
}

fn unreadable(why: Unreadable, shared: &Shared) -> Action {
    let resp = match why {
        Unreadable::Host => {
            error!("could not read the request headers; denying");
            internal()
        }
        Unreadable::NotText => {
            debug!("deny - bad_request (request line or header name not UTF-8) -> 400");
            Deny::bad_request()
        }
    };
    if let Ok(state) = shared.try_borrow() {
        state.metrics.denied(resp.reason);
    }
    reply(&resp);
    Action::Pause
}

impl HttpFilter {
    /// Decides `self.request` again (after an answer arrived).
    fn redecide(&mut self) -> Act {
        let Some(request) = &self.request else {
            return Act::Reply(Deny::no_route(), "-".into());
        };
        let Ok(mut state) = self.shared.try_borrow_mut() else {
            return Act::Reply(busy(), "-".into());
        };
        let rules = Rc::clone(&state.rules);
        let since = request.start_ms;
        let mut env = state.env(now_ms(), since, &self.answers);
        act_of(decide(&rules, &request.view(), &mut env))
    }

    /// Performs `act`; `resumed`: the request was paused and must be resumed to continue.
    fn perform(&mut self, mut act: Act, resumed: bool) -> Action {
        loop {
            match act {
                Act::Allow(headers, mut edits, label) => {
                    edits.set.append(&mut self.limit_headers);
                    if !write_request_headers(&headers) {
                        act = Act::Reply(internal(), label);
                        continue;
                    }
                    if !edits.is_empty() {
                        self.response = Some(edits);
                    }
                    debug!("allow {label}");
                    if let Ok(state) = self.shared.try_borrow() {
                        state.metrics.inc(super::metrics::Counter::Allowed);
                    }
                    if resumed {
                        if let Err(code) = host::resume_request() {
                            error!("could not resume (status {code})");
                        }
                        return Action::Pause;
                    }
                    return Action::Continue;
                }
                Act::Reply(mut resp, label) => {
                    resp.headers.append(&mut self.limit_headers);
                    if resp.reason == DenyReason::MutatorFailed {
                        // Names the rule, never the value (it may carry a claim or a secret).
                        warn!(
                            "deny {label}: a mutator could not produce a valid header -> {}",
                            resp.status
                        );
                    }
                    debug!("deny {label} {} -> {}", resp.reason.as_str(), resp.status);
                    if let Ok(state) = self.shared.try_borrow() {
                        state.metrics.denied(resp.reason);
                    }
                    reply(&resp);
                    return Action::Pause;
                }
                Act::Park => {
                    let Some(request) = self.request.take() else {
                        return internal_error();
                    };
                    let now = now_ms();
                    let queued = with_state(&self.shared, |state| {
                        state.parked.push(Parked {
                            context_id: self.id,
                            deadline_ms: now + state.auth.keys.policy.max_wait_ms,
                            request,
                            answers: std::mem::take(&mut self.answers),
                            response_headers: std::mem::take(&mut self.limit_headers),
                        });
                    });
                    if queued.is_none() {
                        return internal_error();
                    }
                    self.parked = true;
                    // Ask the root for fast ticks until the keys are in.
                    host::set_tick_period(Duration::from_millis(20));
                    return Action::Pause;
                }
                Act::Call(call) => {
                    if self.answers.len() >= MAX_CALLS {
                        error!("too many calls for one request; denying");
                        return internal_error();
                    }
                    let headers: Vec<(&str, &str)> = [
                        (":method", call.method.as_ref()),
                        (":path", call.upstream.path.as_str()),
                        (":authority", call.upstream.authority.as_str()),
                    ]
                    .into_iter()
                    .chain(call.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    .collect();
                    match host::dispatch(
                        &call.upstream.cluster,
                        &headers,
                        &call.body,
                        Duration::from_millis(call.timeout_ms),
                    ) {
                        Ok(token) => {
                            if let Ok(state) = self.shared.try_borrow() {
                                state.metrics.inc(super::metrics::Counter::Calls);
                            }
                            self.call = Some((token, call.key));
                            return Action::Pause;
                        }
                        Err(code) => {
                            warn!("call to cluster {:?} failed to start (status {code}); is it defined in Envoy?", call.upstream.cluster);
                            self.answers.insert(
                                call.key,
                                Answer {
                                    status: None,
                                    headers: Vec::new(),
                                    body: Vec::new(),
                                    non_utf8_headers: false,
                                },
                            );
                            act = self.redecide();
                        }
                    }
                }
            }
        }
    }
}

/// A request refused before its rule decided (ambiguous, unrouted, over its rate limit).
fn refuse(shared: &Shared, resp: Deny, line: &Request<'_>) -> Action {
    debug!(
        "deny - {} {} {} -> {}",
        resp.reason.as_str(),
        line.method,
        path_only(line.path),
        resp.status
    );
    if let Ok(state) = shared.try_borrow() {
        state.metrics.denied(resp.reason);
    }
    reply(&resp);
    Action::Pause
}

/// What the matched rule reads besides the request line (nothing for a plain public rule):
/// headers, the peer and protocol for mutators, the scheme.
struct Reads {
    headers: Vec<(String, String)>,
    non_utf8: Vec<String>,
    remote: String,
    protocol: String,
    scheme: String,
}

impl Reads {
    fn of(matched: Matched<'_>) -> Result<Reads, Unreadable> {
        let (headers, non_utf8) = if matched.needs_headers() {
            request_headers()?
        } else {
            (Vec::new(), Vec::new())
        };
        let (remote, protocol) = if matched.needs_connection() {
            (
                property(&["source", "address"]),
                property(&["request", "protocol"]),
            )
        } else {
            (String::new(), String::new())
        };
        let scheme = if matched.needs_headers() || matched.needs_connection() {
            pseudo(":scheme")?
        } else {
            String::new()
        };
        Ok(Reads {
            headers,
            non_utf8,
            remote,
            protocol,
            scheme,
        })
    }

    fn view<'a>(&'a self, line: &Request<'a>) -> Request<'a> {
        Request {
            headers: &self.headers,
            non_utf8: &self.non_utf8,
            remote_address: &self.remote,
            protocol: &self.protocol,
            scheme: &self.scheme,
            ..*line
        }
    }

    /// The request kept while it waits for keys or a call.
    fn owned(self, line: &Request<'_>, now: u64) -> OwnedRequest {
        OwnedRequest {
            authority: line.authority.to_owned(),
            method: line.method.to_owned(),
            path: line.path.to_owned(),
            scheme: self.scheme,
            headers: self.headers,
            non_utf8: self.non_utf8,
            remote_address: self.remote,
            protocol: self.protocol,
            start_ms: now,
        }
    }
}

impl HttpFilter {
    /// Draws one token from the bucket the core chose (shared data, so all workers share it),
    /// as Envoy's local_ratelimit runs before authentication; `Err` is the 429.
    fn draw(
        &mut self,
        shared: &Shared,
        limiter: &RateLimiter,
        bucket: BucketRef<'_>,
        now: u64,
    ) -> Result<(), Deny> {
        match limiter.limit(bucket, super::ratelimit::draw(bucket, now)) {
            Limit::Deny(resp) => {
                if let Ok(state) = shared.try_borrow() {
                    state.metrics.inc(Counter::RateLimitOverLimit);
                }
                Err(resp)
            }
            Limit::Pass { headers, shadowed } => {
                if shadowed {
                    if let Ok(state) = shared.try_borrow() {
                        state.metrics.inc(Counter::RateLimitOverLimit);
                        state.metrics.inc(Counter::RateLimitShadowed);
                    }
                }
                self.limit_headers = headers;
                Ok(())
            }
        }
    }

    /// The rule's decision; when its keys seem missing, another worker may have fetched them
    /// already (also after a failure this worker still remembers: recovery must not wait for
    /// its next tick), so published keys are installed and the request decided once more.
    fn decide_first(
        &self,
        shared: &Shared,
        matched: Matched<'_>,
        request: &Request<'_>,
        now: u64,
    ) -> Act {
        let decide_once = || {
            let Ok(mut state) = shared.try_borrow_mut() else {
                return Act::Reply(busy(), "-".into());
            };
            let mut env = state.env(now, now, &self.answers);
            act_of(decide_matched(matched, request, &mut env))
        };
        let act = decide_once();
        let keys_missing = match &act {
            Act::Park => true,
            Act::Reply(deny, _) => deny.reason == DenyReason::KeysUnavailable,
            _ => false,
        };
        if !keys_missing {
            return act;
        }
        let n = with_state(shared, |s| s.auth.keys.len()).unwrap_or(0);
        for id in 0..n {
            jwks::sync(shared, id, now);
        }
        decide_once()
    }
}

impl Context for HttpFilter {
    fn on_http_call_response(
        &mut self,
        token: u32,
        num_headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        let Some((expected, key)) = self.call.take() else {
            return;
        };
        if token != expected {
            return;
        }
        let answer = call_answer(num_headers, body_size);
        if answer.status != Some(200) {
            if let Ok(state) = self.shared.try_borrow() {
                state.metrics.inc(super::metrics::Counter::CallFailures);
            }
        }
        self.answers.insert(key, answer);
        let act = self.redecide();
        self.perform(act, true);
    }
}

impl HttpContext for HttpFilter {
    /// A request, in the order the core sets: the request line, admission (ambiguity guard,
    /// route, bucket), the rate-limit draw, what the rule reads, the decision, its performance.
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let shared = Rc::clone(&self.shared);
        // Without the request line nothing can be decided: fail closed.
        let (authority, method, path) =
            match (pseudo(":authority"), pseudo(":method"), pseudo(":path")) {
                (Ok(a), Ok(m), Ok(p)) => (a, m, p),
                (Err(why), _, _) | (_, Err(why), _) | (_, _, Err(why)) => {
                    return unreadable(why, &shared)
                }
            };
        let Some(rules) = with_state(&shared, |s| Rc::clone(&s.rules)) else {
            return internal_error();
        };
        let line = Request {
            authority: &authority,
            method: &method,
            path: &path,
            scheme: "",
            headers: &[],
            non_utf8: &[],
            remote_address: "",
            protocol: "",
        };
        let header = |name: &str| host::map_value(Map::Request, name).ok().flatten();
        let (matched, bucket) = match admit(&rules, &line, &header) {
            Admission::Refused(denied) => return refuse(&shared, denied.response, &line),
            Admission::Routed { matched, bucket } => (matched, bucket),
        };
        // Only rules that authenticate or mutate read the scheme and the clock (host calls);
        // so does a RateLimit.
        let now = if matched.needs_headers() || matched.needs_connection() || bucket.is_some() {
            now_ms()
        } else {
            0
        };
        if let (Some(limiter), Some(bucket)) = (&rules.rate_limit, bucket) {
            match self.draw(&shared, limiter, bucket, now) {
                Ok(()) => {}
                Err(resp) => return refuse(&shared, resp, &line),
            }
        }
        let reads = match Reads::of(matched) {
            Ok(r) => r,
            Err(why) => return unreadable(why, &shared),
        };
        let request = reads.view(&line);
        let act = self.decide_first(&shared, matched, &request, now);
        if matches!(act, Act::Park | Act::Call(_)) {
            self.request = Some(reads.owned(&line, now));
        } else {
            debug!("{method} {}", path_only(&path));
        }
        self.perform(act, false)
    }

    fn on_http_response_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let edits = match self.response.take() {
            Some(edits) => Some(edits),
            None if self.parked => self
                .shared
                .try_borrow_mut()
                .ok()
                .and_then(|mut state| state.resumed_edits.remove(&self.id)),
            None => None,
        };
        if let Some(edits) = edits {
            if edits.strip_upstream_cors {
                for name in UPSTREAM_CORS_HEADERS {
                    let _ = host::remove_map_value(Map::Response, name);
                }
            }
            for (name, value) in &edits.set {
                let _ = host::set_map_value(Map::Response, name, value.as_bytes());
            }
        }
        Action::Continue
    }

    fn on_log(&mut self) {
        // A parked request whose client went away must not be resumed.
        if !self.parked {
            return;
        }
        if let Ok(mut state) = self.shared.try_borrow_mut() {
            state.parked.retain(|p| p.context_id != self.id);
            state.resumed_edits.remove(&self.id);
        }
    }
}
