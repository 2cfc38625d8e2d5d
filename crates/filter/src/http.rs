//! A request's callbacks: hand the request to the core's pipeline (`apirule_core::pipeline::run`)
//! and perform its outcome (`perform.rs`). A request whose keys are not there yet is parked (the
//! root context decides it again when they arrive); a call's answer resumes it here. Its only
//! other callback is the response headers (CORS, rate-limit and mutator edits). What a request
//! needs kept between its callbacks is a [`Stream`], which `exports.rs` holds by context id.

use std::rc::Rc;

use log::warn;

use super::host::{self, Map};
use super::metrics::Counter;
use super::perform::{internal, perform, resume, Action, Slot};
use super::proxy::HostProxy;
use super::state::{call_answer, reply, with_state, Shared};
use apirule_core::cors::UPSTREAM_CORS_HEADERS;
use apirule_core::pipeline;

/// A request with something kept between its callbacks, and the configuration it was decided
/// with.
pub struct Stream {
    shared: Shared,
    slot: Slot,
}

impl Stream {
    /// The token of the call whose answer the request waits for.
    pub fn call_token(&self) -> Option<u32> {
        self.slot.call.as_ref().map(|(token, _)| *token)
    }

    /// Kept only while it holds something: a request, an outstanding call, response edits, or
    /// a place in the parking.
    fn kept(self) -> Option<Stream> {
        let s = &self.slot;
        (s.held.is_some() || s.call.is_some() || s.response.is_some() || s.parked).then_some(self)
    }
}

/// `shared`: the stream's configuration; none when no configuration was accepted (500, never a
/// pass).
pub fn on_request_headers(id: u32, shared: Option<Shared>) -> (Action, Option<Stream>) {
    let Some(shared) = shared else {
        warn!("request before configuration; denying");
        reply(&internal());
        return (Action::Pause, None);
    };
    let Some(rules) = with_state(&shared, |s| Rc::clone(&s.rules)) else {
        reply(&internal());
        return (Action::Pause, None);
    };
    let mut slot = Slot::default();
    let outcome = pipeline::run(&rules, &mut HostProxy::new(&shared));
    let action = perform(&shared, id, &mut slot, outcome, false);
    (action, Stream { shared, slot }.kept())
}

pub fn on_response_headers(id: u32, mut stream: Stream) -> (Action, Option<Stream>) {
    let slot = &mut stream.slot;
    let edits = match slot.response.take() {
        Some(edits) => Some(edits),
        None if slot.parked => stream
            .shared
            .try_borrow_mut()
            .ok()
            .and_then(|mut state| state.resumed_edits.remove(&id)),
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
    // A response while a call is outstanding (another filter's reply): the call's answer, if
    // it still comes, finds the request.
    (Action::Continue, stream.kept())
}

/// The answer to the stream's call: the request is decided again with it.
pub fn on_call_response(
    id: u32,
    mut stream: Stream,
    token: u32,
    num_headers: usize,
    body_size: usize,
) -> Option<Stream> {
    let slot = &mut stream.slot;
    let Some((expected, key)) = slot.call.take() else {
        return stream.kept();
    };
    if token != expected {
        slot.call = Some((expected, key));
        return stream.kept();
    }
    let Some(held) = slot.held.take() else {
        return stream.kept();
    };
    let answer = call_answer(num_headers, body_size);
    if answer.status != Some(200) {
        if let Ok(state) = stream.shared.try_borrow() {
            state.metrics.inc(Counter::CallFailures);
        }
    }
    slot.answers.insert(key, answer);
    let outcome = resume(&stream.shared, *held, &slot.answers);
    perform(&stream.shared, id, slot, outcome, true);
    stream.kept()
}

/// The stream is gone (`proxy_on_delete`, once per stream, whatever became of it). A parked
/// request whose client went away must not be resumed.
pub fn on_delete(id: u32, stream: Stream) {
    if !stream.slot.parked {
        return;
    }
    if let Ok(mut state) = stream.shared.try_borrow_mut() {
        state.parking.forget(id);
        state.resumed_edits.remove(&id);
    }
}
