//! Per-request context: hand the request to the core's pipeline (`apirule_core::pipeline::run`)
//! and perform its outcome (`perform.rs`). A request whose keys are not there yet is parked (the
//! root context decides it again when they arrive); a call's answer resumes it here. Its only
//! other callback is the response headers (CORS, rate-limit and mutator edits).

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

use super::host::{self, Map};
use super::metrics::Counter;
use super::perform::{perform, resume, Slot};
use super::proxy::HostProxy;
use super::state::{call_answer, reply, with_state, Shared};
use apirule_core::cors::UPSTREAM_CORS_HEADERS;
use apirule_core::pipeline;
use apirule_core::response::{Deny, DenyReason};

pub struct HttpFilter {
    id: u32,
    shared: Shared,
    slot: Slot,
}

impl HttpFilter {
    pub fn new(id: u32, shared: Shared) -> Self {
        HttpFilter {
            id,
            shared,
            slot: Slot::default(),
        }
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
        let Some((expected, key)) = self.slot.call.take() else {
            return;
        };
        if token != expected {
            return;
        }
        let Some(held) = self.slot.held.take() else {
            return;
        };
        let answer = call_answer(num_headers, body_size);
        if answer.status != Some(200) {
            if let Ok(state) = self.shared.try_borrow() {
                state.metrics.inc(Counter::CallFailures);
            }
        }
        self.slot.answers.insert(key, answer);
        let outcome = resume(&self.shared, *held, &self.slot.answers);
        perform(&self.shared, self.id, &mut self.slot, outcome, true);
    }
}

impl HttpContext for HttpFilter {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let shared = Rc::clone(&self.shared);
        let Some(rules) = with_state(&shared, |s| Rc::clone(&s.rules)) else {
            reply(&Deny::internal(DenyReason::Internal));
            return Action::Pause;
        };
        let outcome = pipeline::run(&rules, &mut HostProxy::new(&shared));
        perform(&shared, self.id, &mut self.slot, outcome, false)
    }

    fn on_http_response_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let edits = match self.slot.response.take() {
            Some(edits) => Some(edits),
            None if self.slot.parked => self
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
}

/// The SDK drops a stream's context when the host deletes it (`proxy_on_delete`, once per
/// stream, whatever became of it). A parked request whose client went away must not be resumed:
/// forgetting it here rather than in `on_log` spares every stream a VM entry, as the module
/// then need not export `proxy_on_log`.
impl Drop for HttpFilter {
    fn drop(&mut self) {
        if !self.slot.parked {
            return;
        }
        if let Ok(mut state) = self.shared.try_borrow_mut() {
            state.parking.forget(self.id);
            state.resumed_edits.remove(&self.id);
        }
    }
}
