//! Per-VM state shared by the root context and the HTTP contexts of one worker (same thread, so
//! `Rc<RefCell<_>>`): compiled rules, keys, verified-token cache, and requests waiting for keys.

use std::cell::RefCell;
use std::rc::Rc;

use log::error;

use super::crypto::HostCrypto;
use super::host::{self, Buffer, Map};
use std::collections::HashMap;

use apirule_core::access::{AuthEnv, AuthState};
use apirule_core::callout::Answer;
use apirule_core::compile::RuleSet;
use apirule_core::cors::ResponseEdits;
use apirule_core::pipeline::{Effect, Outcome, Parking};

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
    /// Requests waiting for keys (the core's protocol).
    pub parking: Parking,
    pub fetch: FetchState,
    pub metrics: super::metrics::Metrics,
    /// Cache hit counts already exported to the metrics.
    pub exported_hits: (u64, u64),
    /// Response edits of requests the root context resumed, by HTTP context id: their
    /// contexts apply them when the response arrives.
    pub resumed_edits: HashMap<u32, ResponseEdits>,
}

impl State {
    pub fn new(rules: Rc<RuleSet>, native_crypto: bool) -> State {
        State {
            auth: rules.auth_state(),
            crypto: HostCrypto::new(native_crypto),
            fetch: FetchState::new(rules.jwks.len()),
            parking: Parking::default(),
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
pub fn write_request_headers(headers: &[(impl AsRef<str>, String)]) -> bool {
    for (name, value) in headers {
        let name = name.as_ref();
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

/// The parked requests that are due, decided; response edits of allowed ones moved into
/// `resumed_edits`.
pub fn plan_resumes(state: &mut State, now: u64) -> Vec<(u32, Outcome)> {
    let rules = Rc::clone(&state.rules);
    let mut due = state
        .parking
        .due(&rules, &mut state.auth, &state.crypto, now);
    for (context_id, outcome) in &mut due {
        if let Effect::Allow { response, .. } = &mut outcome.effect {
            let edits = std::mem::take(response);
            if !edits.is_empty() {
                state.resumed_edits.insert(*context_id, edits);
            }
        }
    }
    due
}

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
            parking: Parking::default(),
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
        let request = apirule_core::request::OwnedRequest {
            authority: "a.example.com".into(),
            method: "GET".into(),
            path: "/x".into(),
            scheme: "https".into(),
            ..Default::default()
        };
        let held = apirule_core::pipeline::Held {
            request,
            response_headers: vec![("x-ratelimit-limit".into(), "5".into())],
        };
        let due = with_state(&shared, |s| {
            s.parking.park(7, held, HashMap::new(), 0, 10);
            plan_resumes(s, 1)
        })
        .unwrap_or_default();
        assert_eq!(due.len(), 1);
        assert!(matches!(
            due[0],
            (
                7,
                Outcome {
                    effect: Effect::Allow { .. },
                    ..
                }
            )
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
