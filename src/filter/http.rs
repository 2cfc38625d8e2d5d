//! Per-request context: read `:authority`, `:method`, `:path`, run [`decide`], perform it.

use std::rc::Rc;

use log::{debug, error};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};

use crate::compile::RuleSet;
use crate::decide::{decide, Decision, Request};

pub struct HttpFilter {
    rules: Rc<RuleSet>,
}

impl HttpFilter {
    pub fn new(rules: Rc<RuleSet>) -> Self {
        HttpFilter { rules }
    }
}

impl Context for HttpFilter {}

fn header(name: &str) -> Result<String, proxy_wasm::types::Status> {
    hostcalls::get_map_value(MapType::HttpRequestHeaders, name).map(Option::unwrap_or_default)
}

/// A local reply; its failure is only logged (the stream may already be gone).
fn reply(status: u32, headers: Vec<(&str, &str)>, body: &str) {
    let body = (!body.is_empty()).then_some(body.as_bytes());
    if let Err(e) = hostcalls::send_http_response(status, headers, body) {
        error!("could not send the {status} reply: {e:?}");
    }
}

impl HttpContext for HttpFilter {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let (authority, method, path) =
            match (header(":authority"), header(":method"), header(":path")) {
                (Ok(a), Ok(m), Ok(p)) => (a, m, p),
                _ => {
                    // Without the request line nothing can be decided: fail closed.
                    error!("could not read the request headers; denying");
                    reply(500, vec![], "");
                    return Action::Pause;
                }
            };
        let request = Request {
            authority: &authority,
            method: &method,
            path: &path,
        };
        let rules = Rc::clone(&self.rules);
        match decide(&rules, &request) {
            Decision::Allow(allow) => {
                for (name, value) in &allow.set_headers {
                    if let Err(e) =
                        hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value))
                    {
                        error!("could not set {name}: {e:?}; denying");
                        reply(500, vec![], "");
                        return Action::Pause;
                    }
                }
                debug!(
                    "allow {} {} {}",
                    allow.matched.label(),
                    method,
                    path_only(&path)
                );
                Action::Continue
            }
            Decision::Deny(denied) => {
                let resp = &denied.response;
                debug!(
                    "deny {} {} {} {} -> {}",
                    denied
                        .matched
                        .map(|m| m.label())
                        .unwrap_or_else(|| "-".into()),
                    resp.reason.as_str(),
                    method,
                    path_only(&path),
                    resp.status
                );
                let headers = resp.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
                reply(resp.status, headers, &resp.body);
                Action::Pause
            }
        }
    }
}

/// The path without its query: a query may carry a token (`?access_token=`), never logged.
fn path_only(path: &str) -> &str {
    path.split(['?', '#']).next().unwrap_or("")
}
