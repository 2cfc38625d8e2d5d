//! Per-request context: read the request, run the core's decision, perform it. Requests whose keys
//! are not there yet are parked; the root context decides them again when the keys arrive.

use std::rc::Rc;

use log::{debug, error};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};

use super::jwks;
use super::state::{now_ms, path_only, OwnedRequest, Parked, Shared};
use crate::decide::{decide_matched, route, Decision, Request};
use crate::response::Deny;

pub struct HttpFilter {
    id: u32,
    shared: Shared,
}

impl HttpFilter {
    pub fn new(id: u32, shared: Shared) -> Self {
        HttpFilter { id, shared }
    }
}

fn header(name: &str) -> Result<String, proxy_wasm::types::Status> {
    hostcalls::get_map_value(MapType::HttpRequestHeaders, name).map(Option::unwrap_or_default)
}

/// A local reply; its failure is only logged (the stream may already be gone).
fn reply(resp: &Deny) {
    let headers = resp.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let body = (!resp.body.is_empty()).then_some(resp.body.as_bytes());
    if let Err(e) = hostcalls::send_http_response(resp.status, headers, body) {
        error!("could not send the {} reply: {e:?}", resp.status);
    }
}

fn internal_error() -> Action {
    reply(&Deny {
        status: 500,
        headers: vec![],
        body: String::new(),
        reason: crate::response::DenyReason::NoRoute,
    });
    Action::Pause
}

impl Context for HttpFilter {}

impl HttpContext for HttpFilter {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let (Ok(authority), Ok(method), Ok(path), Ok(scheme)) = (
            header(":authority"),
            header(":method"),
            header(":path"),
            header(":scheme"),
        ) else {
            // Without the request line nothing can be decided: fail closed.
            error!("could not read the request headers; denying");
            return internal_error();
        };
        let shared = Rc::clone(&self.shared);
        let rules = Rc::clone(&shared.borrow().rules);
        let mut request = Request {
            authority: &authority,
            method: &method,
            path: &path,
            scheme: &scheme,
            headers: &[],
        };
        let Some(matched) = route(&rules, &request) else {
            debug!("deny - no_route {method} {} -> 404", path_only(&path));
            reply(&Deny::no_route());
            return Action::Pause;
        };
        let headers = if matched.needs_headers() {
            match hostcalls::get_map(MapType::HttpRequestHeaders) {
                Ok(h) => h,
                Err(_) => return internal_error(),
            }
        } else {
            Vec::new()
        };
        request.headers = &headers;

        let now = now_ms();
        let mut decision = {
            let mut state = shared.borrow_mut();
            let (mut env, _) = state.env(now);
            decide_matched(matched, &request, &mut env)
        };
        if let Decision::Pending(p) = &decision {
            // Another worker may have fetched them already.
            for id in &p.jwks {
                jwks::sync(&shared, *id, now);
            }
            let mut state = shared.borrow_mut();
            let (mut env, _) = state.env(now);
            decision = decide_matched(matched, &request, &mut env);
        }
        match decision {
            Decision::Allow(allow) => {
                for (name, value) in &allow.set_headers {
                    if hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value))
                        .is_err()
                    {
                        error!("could not set {name}; denying");
                        return internal_error();
                    }
                }
                debug!(
                    "allow {} {method} {}",
                    allow.matched.label(),
                    path_only(&path)
                );
                Action::Continue
            }
            Decision::Deny(denied) => {
                let resp = &denied.response;
                debug!(
                    "deny {} {} {method} {} -> {}",
                    denied
                        .matched
                        .map(|m| m.label())
                        .unwrap_or_else(|| "-".into()),
                    resp.reason.as_str(),
                    path_only(&path),
                    resp.status
                );
                reply(resp);
                Action::Pause
            }
            Decision::Pending(p) => {
                debug!(
                    "wait for keys {} {method} {}",
                    p.matched.label(),
                    path_only(&path)
                );
                let mut state = shared.borrow_mut();
                let deadline_ms = now + state.keys.policy.max_wait_ms;
                state.parked.push(Parked {
                    context_id: self.id,
                    deadline_ms,
                    request: OwnedRequest {
                        authority: authority.clone(),
                        method: method.clone(),
                        path: path.clone(),
                        scheme: scheme.clone(),
                        headers,
                    },
                });
                // Ask the root for fast ticks until the keys are in.
                let _ = hostcalls::set_tick_period(std::time::Duration::from_millis(20));
                Action::Pause
            }
        }
    }

    fn on_log(&mut self) {
        // A parked request whose client went away must not be resumed.
        if let Ok(mut state) = self.shared.try_borrow_mut() {
            state.parked.retain(|p| p.context_id != self.id);
        }
    }
}
