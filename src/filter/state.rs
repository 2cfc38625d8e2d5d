//! Per-VM state shared by the root context and the HTTP contexts of one worker (same thread, so
//! `Rc<RefCell<_>>`): compiled rules, keys, verified-token cache, and requests waiting for keys.

use std::cell::RefCell;
use std::rc::Rc;

use log::{debug, error};
use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, MapType};

use super::crypto::HostCrypto;
use std::collections::HashMap;

use crate::callout::Answer;
use crate::compile::RuleSet;
use crate::cors::ResponseEdits;
use crate::decide::{decide, Decision, Request, Wait};
use crate::jwt::{AuthEnv, AuthState};

pub type Shared = Rc<RefCell<State>>;

pub struct State {
    pub rules: Rc<RuleSet>,
    pub auth: AuthState,
    pub crypto: HostCrypto,
    pub parked: Vec<Parked>,
    pub fetch: super::jwks::FetchState,
    pub metrics: super::metrics::Metrics,
    /// Cache hit counts already exported to the metrics.
    pub exported_hits: (u64, u64),
    /// Response edits of requests the root context resumed, by HTTP context id: their
    /// contexts apply them when the response arrives.
    pub resumed_edits: HashMap<u32, ResponseEdits>,
}

/// A request paused until keys arrive, with what is needed to decide it again.
pub struct Parked {
    pub context_id: u32,
    pub deadline_ms: u64,
    pub request: OwnedRequest,
    /// Answers to the calls the request made before it waited (an authorizer's, say).
    pub answers: HashMap<String, Answer>,
    /// Headers every response to this request carries (rate-limit headers).
    pub response_headers: crate::response::Headers,
}

pub struct OwnedRequest {
    pub authority: String,
    pub method: String,
    pub path: String,
    pub scheme: String,
    pub headers: Vec<(String, String)>,
    pub remote_address: String,
    pub protocol: String,
    /// When the request arrived (it waits for at most one key refetch after that).
    pub start_ms: u64,
}

impl OwnedRequest {
    pub fn view(&self) -> Request<'_> {
        Request {
            authority: &self.authority,
            method: &self.method,
            path: &self.path,
            scheme: &self.scheme,
            headers: &self.headers,
            remote_address: &self.remote_address,
            protocol: &self.protocol,
        }
    }
}

impl State {
    pub fn new(rules: Rc<RuleSet>, native_crypto: bool) -> State {
        State {
            auth: AuthState::new(&rules),
            crypto: HostCrypto::new(native_crypto),
            fetch: super::jwks::FetchState::new(rules.jwks.len()),
            parked: Vec::new(),
            metrics: super::metrics::Metrics::define(),
            exported_hits: (0, 0),
            resumed_edits: HashMap::new(),
            rules,
        }
    }

    pub fn env<'s>(
        &'s mut self,
        now_ms: u64,
        since_ms: u64,
        answers: &'s HashMap<String, Answer>,
    ) -> AuthEnv<'s> {
        self.auth.env(&self.crypto, answers, now_ms, since_ms)
    }
}

/// The answer to a dispatched call, read in `on_http_call_response`: no headers means the call
/// failed (connection refused, reset, timeout), so there is no status.
pub fn call_answer(num_headers: usize, body_size: usize) -> Answer {
    let status = if num_headers == 0 {
        None
    } else {
        hostcalls::get_map_value(MapType::HttpCallResponseHeaders, ":status")
            .ok()
            .flatten()
            .and_then(|s| s.parse().ok())
    };
    let headers = if num_headers == 0 {
        Vec::new()
    } else {
        hostcalls::get_map(MapType::HttpCallResponseHeaders).unwrap_or_default()
    };
    let body = hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size)
        .ok()
        .flatten()
        .unwrap_or_default();
    Answer {
        status,
        headers,
        body,
    }
}

/// A local reply; its failure is only logged (the stream may already be gone).
pub fn reply(resp: &crate::response::Deny) {
    let headers = resp
        .headers
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_str()))
        .collect();
    let body = (!resp.body.is_empty()).then_some(resp.body.as_bytes());
    if let Err(e) = hostcalls::send_http_response(resp.status, headers, body) {
        error!("could not send the {} reply: {e:?}", resp.status);
    }
}

pub fn now_ms() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as u64)
}

/// Decides parked requests whose keys arrived (or whose wait is over) on behalf of their HTTP
/// contexts, then gives the effective context back to the root.
pub fn resume_parked(shared: &Shared, root_id: u32) {
    let now = now_ms();
    let mut state = shared.borrow_mut();
    let parked = std::mem::take(&mut state.parked);
    let mut still = Vec::new();
    for p in parked {
        let rules = Rc::clone(&state.rules);
        let req = p.request.view();
        let ready = {
            let mut env = state.env(now, p.request.start_ms, &p.answers);
            decide(&rules, &req, &mut env)
        };
        let act = match ready {
            Decision::Pending(pending) => match pending.wait {
                Wait::Keys(_) if now < p.deadline_ms => {
                    still.push(p);
                    continue;
                }
                Wait::Keys(_) => Act::Deny(pending.matched.keys_unavailable(&req)),
                // A call after waiting for keys cannot be made from here (it would answer the
                // root context); no configuration produces it (jwt never falls through).
                Wait::Call(_) => Act::Deny(crate::response::ory(
                    500,
                    crate::response::DenyReason::IntrospectionFailed,
                )),
            },
            Decision::Deny(d) => Act::Deny(d.response),
            Decision::Allow(a) => Act::Allow(
                a.set_headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                a.response,
            ),
        };
        if hostcalls::set_effective_context(p.context_id).is_err() {
            continue; // the client went away
        }
        match act {
            Act::Allow(headers, mut edits) => {
                state.metrics.inc(super::metrics::Counter::Allowed);
                edits.set.extend(p.response_headers.iter().cloned());
                if !edits.is_empty() {
                    state.resumed_edits.insert(p.context_id, edits);
                }
                for (k, v) in &headers {
                    let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, k, Some(v));
                }
                debug!(
                    "resumed after keys arrived: {} {}",
                    p.request.method,
                    path_only(&p.request.path)
                );
                if let Err(e) = hostcalls::resume_http_request() {
                    error!("could not resume a request: {e:?}");
                }
            }
            Act::Deny(mut resp) => {
                state.metrics.denied(resp.reason);
                resp.headers.extend(p.response_headers.iter().cloned());
                debug!(
                    "deny {} after waiting -> {}",
                    resp.reason.as_str(),
                    resp.status
                );
                reply(&resp);
            }
        }
    }
    state.parked = still;
    drop(state);
    let _ = hostcalls::set_effective_context(root_id);
}

enum Act {
    Allow(Vec<(String, String)>, ResponseEdits),
    Deny(crate::response::Deny),
}

/// The path without its query: a query may carry a token (`?access_token=`), never logged.
pub fn path_only(path: &str) -> &str {
    path.split(['?', '#']).next().unwrap_or("")
}
