//! Per-VM state shared by the root context and the HTTP contexts of one worker (same thread, so
//! `Rc<RefCell<_>>`): compiled rules, keys, verified-token cache, and requests waiting for keys.

use std::cell::RefCell;
use std::rc::Rc;

use log::{debug, error};

use super::act::{act_of, Act};
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

/// Runs `f` on the state, or returns `None` when the state is in use (a callback re-entered
/// while another held it): the caller fails closed. The one way the shell reaches its state.
pub fn with_state<R>(shared: &Shared, f: impl FnOnce(&mut State) -> R) -> Option<R> {
    match shared.try_borrow_mut() {
        Ok(mut state) => Some(f(&mut state)),
        Err(_) => {
            error!("filter state in use; failing closed");
            None
        }
    }
}

/// What to do for a parked request whose wait is over: an [`Act`] in its context (only
/// `Allow` and `Reply`: a wait that is over neither parks again nor calls).
pub struct Resume {
    pub context_id: u32,
    pub act: Act,
}

/// Decides parked requests whose keys arrived (or whose wait is over) on behalf of their HTTP
/// contexts, then gives the effective context back to the root. The decisions are made under
/// the state and the host is called after it is released, so a callback Envoy runs during a
/// reply or a resume (response headers, log) finds the state free and its edits are kept.
pub fn resume_parked(shared: &Shared, root_id: u32) {
    let now = now_ms();
    let due = with_state(shared, |state| plan_resumes(state, now)).unwrap_or_default();
    for resume in due {
        perform_resume(shared, resume, &mut |id| {
            host::set_effective_context(id).is_ok()
        });
    }
    let _ = host::set_effective_context(root_id);
}

/// The parked requests that are due, decided; the rest stay parked. Response edits of allowed
/// requests are left in `resumed_edits` for their contexts before any host call.
pub fn plan_resumes(state: &mut State, now: u64) -> Vec<Resume> {
    let parked = std::mem::take(&mut state.parked);
    let mut still = Vec::new();
    let mut due = Vec::new();
    for p in parked {
        let rules = Rc::clone(&state.rules);
        let req = p.request.view();
        let ready = {
            let mut env = state.env(now, p.request.start_ms, &p.answers);
            decide(&rules, &req, &mut env)
        };
        let context_id = p.context_id;
        let act = match ready {
            Decision::Pending(pending) => match pending.wait {
                Wait::Keys(_) if now < p.deadline_ms => {
                    still.push(p);
                    continue;
                }
                Wait::Keys(_) => Act::Reply(pending.matched.keys_unavailable(&req), String::new()),
                // A call after waiting for keys cannot be made from here (it would answer the
                // root context); no configuration produces it (jwt never falls through).
                Wait::Call(_) => Act::Reply(
                    apirule_core::response::ory(
                        500,
                        apirule_core::response::DenyReason::IntrospectionFailed,
                    ),
                    String::new(),
                ),
            },
            decided => match act_of(decided) {
                Act::Allow(headers, mut edits, label) => {
                    edits.set.extend(p.response_headers.iter().cloned());
                    if !edits.is_empty() {
                        state.resumed_edits.insert(context_id, edits);
                    }
                    let label = format!(
                        "{label} {} {}",
                        p.request.method,
                        path_only(&p.request.path)
                    );
                    Act::Allow(headers, ResponseEdits::default(), label)
                }
                other => other,
            },
        };
        let act = match act {
            Act::Reply(mut reply, label) => {
                reply.headers.extend(p.response_headers.iter().cloned());
                state.metrics.denied(reply.reason);
                Act::Reply(reply, label)
            }
            other => {
                state.metrics.inc(super::metrics::Counter::Allowed);
                other
            }
        };
        due.push(Resume { context_id, act });
    }
    state.parked = still;
    due
}

/// Performs one resume in its context (`enter` makes it the effective one; false: the client
/// went away). The state is not borrowed here.
fn perform_resume(shared: &Shared, resume: Resume, enter: &mut dyn FnMut(u32) -> bool) {
    let Resume { context_id, act } = resume;
    if !enter(context_id) {
        return;
    }
    match act {
        Act::Allow(headers, _, label) => {
            if !write_request_headers(&headers) {
                with_state(shared, |s| {
                    s.resumed_edits.remove(&context_id);
                    s.metrics
                        .denied(apirule_core::response::DenyReason::Internal);
                });
                reply(&apirule_core::response::Deny::internal(
                    apirule_core::response::DenyReason::Internal,
                ));
                return;
            }
            debug!("resumed after keys arrived: {label}");
            if let Err(code) = host::resume_request() {
                error!("could not resume a request (status {code})");
            }
        }
        Act::Reply(resp, _) => {
            debug!(
                "deny {} after waiting -> {}",
                resp.reason.as_str(),
                resp.status
            );
            reply(&resp);
        }
        Act::Park | Act::Call(_) => {}
    }
}

/// The path without its query, for logs: a query may carry a token (`?access_token=`).
pub use apirule_core::request::path_without_query as path_only;

#[cfg(test)]
mod tests {
    use super::*;

    /// A state without a host: counters are not defined with Envoy.
    fn state(config: &str) -> Shared {
        let config = apirule_core::config::PluginConfig::from_json(config.as_bytes())
            .unwrap_or_else(|e| unreachable!("{e}"));
        let (rules, _) =
            apirule_core::compile::compile(&config).unwrap_or_else(|e| unreachable!("{e}"));
        let rules = Rc::new(rules);
        Rc::new(RefCell::new(State {
            auth: rules.auth_state(),
            crypto: HostCrypto::new(false),
            fetch: FetchState::new(rules.jwks.len()),
            parked: Vec::new(),
            metrics: super::super::metrics::Metrics::default(),
            exported_hits: (0, 0),
            resumed_edits: HashMap::new(),
            rules,
        }))
    }

    /// Issue 14: the shell resumed parked requests while it held the state, so the response
    /// callback Envoy runs during a resume found it busy and dropped its edits. Now the state is
    /// released before the host is called: the callback's access succeeds and finds the edits.
    #[test]
    fn a_callback_during_a_resume_finds_the_state_free_and_the_edits_there() {
        let shared = state(
            r#"{"apiRules": [{"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
                "metadata": {"name": "a", "namespace": "t"},
                "spec": {"hosts": ["a.example.com"], "gateway": "kyma-system/kyma-gateway",
                         "service": {"name": "s", "port": 80},
                         "rules": [{"path": "/x", "methods": ["GET"], "noAuth": true}]}}]}"#,
        );
        let request = OwnedRequest {
            authority: "a.example.com".into(),
            method: "GET".into(),
            path: "/x".into(),
            scheme: "https".into(),
            headers: Vec::new(),
            non_utf8: Vec::new(),
            remote_address: String::new(),
            protocol: String::new(),
            start_ms: 0,
        };
        let parked = Parked {
            context_id: 7,
            deadline_ms: 10,
            request,
            answers: HashMap::new(),
            response_headers: vec![("x-ratelimit-limit".into(), "5".into())],
        };
        let due = with_state(&shared, |s| {
            s.parked.push(parked);
            plan_resumes(s, 1)
        })
        .unwrap_or_default();
        assert_eq!(due.len(), 1);
        assert!(matches!(
            due[0],
            Resume {
                context_id: 7,
                act: Act::Allow(..)
            }
        ));
        // What Envoy may run while the shell performs the resume: the context's response
        // callback takes its edits. The state is free, and the edits are there.
        let edits = with_state(&shared, |s| s.resumed_edits.remove(&7)).flatten();
        assert!(edits.is_some_and(|e| e.set.iter().any(|(k, _)| k == "x-ratelimit-limit")));
        // While something holds the state, access fails closed instead of panicking.
        let held = shared.borrow_mut();
        assert!(with_state(&shared, |_| ()).is_none());
        drop(held);
    }
}
