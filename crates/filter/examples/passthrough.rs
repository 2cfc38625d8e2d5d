//! The smallest proxy-wasm HTTP filter: it reads `:path` and lets every request through.
//! `make bench` loads it next to the real filter to show what any Wasm filter costs Envoy
//! (VM entry per callback, one header read) before a single rule is evaluated.
// The SDK's own wrappers on purpose: this is the floor a plain SDK filter pays.
#![allow(clippy::disallowed_methods)]

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root) });
}}

struct Root;

impl Context for Root {}

impl RootContext for Root {
    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Pass))
    }
}

struct Pass;

impl Context for Pass {}

impl HttpContext for Pass {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        // One host call, as the cheapest real filter would make.
        let _ = self.get_http_request_header(":path");
        Action::Continue
    }
}
