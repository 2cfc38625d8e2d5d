//! Per-VM state shared by the root context and the HTTP contexts of one worker (same thread, so
//! `Rc<RefCell<_>>`): compiled rules, keys, verified-token cache, and requests waiting for keys.

use std::cell::RefCell;
use std::rc::Rc;

use log::{debug, error};

use super::crypto::HostCrypto;
use super::host::{self, Buffer, Map};
use std::collections::HashMap;

use apirule_core::access::{AuthEnv, AuthState};
use apirule_core::callout::Answer;
use apirule_core::compile::RuleSet;
use apirule_core::cors::ResponseEdits;
use apirule_core::decide::{decide, Decision, Request, Wait};

pub type Shared = Rc<RefCell<State>>;

/// This VM's JWKS fetches: which callouts are key fetches, and which shared version of each
/// document it installed (behaviour in `jwks.rs`).
pub struct FetchState {
    /// Callout token → JWKS id.
    pub inflight: HashMap<u32, usize>,
    /// The shared-data version of each document this VM installed.
    pub installed_cas: Vec<Option<u32>>,
}

impl FetchState {
    pub fn new(n: usize) -> FetchState {
        FetchState {
            inflight: HashMap::new(),
            installed_cas: vec![None; n],
        }
    }

    pub fn busy(&self) -> bool {
        !self.inflight.is_empty()
    }
}

pub struct State {
    pub rules: Rc<RuleSet>,
    pub auth: AuthState,
    pub crypto: HostCrypto,
    pub parked: Vec<Parked>,
    pub fetch: FetchState,
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
    pub response_headers: apirule_core::response::Headers,
}

pub struct OwnedRequest {
    pub authority: String,
    pub method: String,
    pub path: String,
    pub scheme: String,
    pub headers: Vec<(String, String)>,
    pub non_utf8: Vec<String>,
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
            non_utf8: &self.non_utf8,
            remote_address: &self.remote_address,
            protocol: &self.protocol,
        }
    }
}

impl State {
    pub fn new(rules: Rc<RuleSet>, native_crypto: bool) -> State {
        State {
            auth: rules.auth_state(),
            crypto: HostCrypto::new(native_crypto),
            fetch: FetchState::new(rules.jwks.len()),
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
/// failed (connection refused, reset, timeout), so there is no status. Read as bytes: an
/// answer's header that is not UTF-8 is left out and flagged, never a reason to panic.
pub fn call_answer(num_headers: usize, body_size: usize) -> Answer {
    let pairs = if num_headers == 0 {
        Vec::new()
    } else {
        host::map(Map::CallResponse).unwrap_or_default()
    };
    let mut answer = Answer {
        status: None,
        headers: Vec::with_capacity(pairs.len()),
        body: host::buffer(Buffer::CallResponseBody, body_size).unwrap_or_default(),
        non_utf8_headers: false,
    };
    for (name, value) in pairs {
        match (String::from_utf8(name), String::from_utf8(value)) {
            (Ok(name), Ok(value)) if name == ":status" => answer.status = value.parse().ok(),
            (Ok(name), Ok(value)) => answer.headers.push((name.to_ascii_lowercase(), value)),
            _ => answer.non_utf8_headers = true,
        }
    }
    answer
}

/// A local reply; its failure is only logged (the stream may already be gone).
pub fn reply(resp: &apirule_core::response::Deny) {
    let headers: Vec<(&str, &[u8])> = resp
        .headers
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_bytes()))
        .collect();
    if let Err(code) = host::send_reply(resp.status, &headers, resp.body.as_bytes()) {
        error!("could not send the {} reply (status {code})", resp.status);
    }
}

pub fn now_ms() -> u64 {
    host::now_ms()
}

/// Writes the request headers the core decided on; false (and nothing more is written) when the
/// host refuses one.
pub fn write_request_headers(headers: &[(String, String)]) -> bool {
    for (name, value) in headers {
        if let Err(code) = host::set_map_value(Map::Request, name, value.as_bytes()) {
            error!("could not set request header {name} (status {code}); denying");
            return false;
        }
    }
    true
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
                Wait::Call(_) => Act::Deny(apirule_core::response::ory(
                    500,
                    apirule_core::response::DenyReason::IntrospectionFailed,
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
        if host::set_effective_context(p.context_id).is_err() {
            continue; // the client went away
        }
        match act {
            Act::Allow(headers, mut edits) => {
                state.metrics.inc(super::metrics::Counter::Allowed);
                edits.set.extend(p.response_headers.iter().cloned());
                if !edits.is_empty() {
                    state.resumed_edits.insert(p.context_id, edits);
                }
                if !write_request_headers(&headers) {
                    state
                        .metrics
                        .denied(apirule_core::response::DenyReason::Internal);
                    reply(&apirule_core::response::Deny::internal(
                        apirule_core::response::DenyReason::Internal,
                    ));
                    continue;
                }
                debug!(
                    "resumed after keys arrived: {} {}",
                    p.request.method,
                    path_only(&p.request.path)
                );
                if let Err(code) = host::resume_request() {
                    error!("could not resume a request (status {code})");
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
    let _ = host::set_effective_context(root_id);
}

enum Act {
    Allow(Vec<(String, String)>, ResponseEdits),
    Deny(apirule_core::response::Deny),
}

/// The path without its query: a query may carry a token (`?access_token=`), never logged.
pub fn path_only(path: &str) -> &str {
    path.split(['?', '#']).next().unwrap_or("")
}
