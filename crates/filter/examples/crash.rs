//! A filter that panics on purpose when a request carries `x-crash`, and passes everything else.
//! `tests/failure_policy_e2e.rs` loads it to show what Envoy does with a VM that died: with
//! `FAIL_CLOSED` the worker refuses every later request, with `FAIL_RELOAD` (what
//! `envoy/envoy.yaml` and `apirule render --envoy` ship) a new VM serves again.
#![allow(clippy::disallowed_methods, clippy::panic)]

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
        Some(Box::new(Crash))
    }
}

struct Crash;

impl Context for Crash {}

impl HttpContext for Crash {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        if self.get_http_request_header("x-crash").is_some() {
            panic!("crash requested");
        }
        Action::Continue
    }
}
