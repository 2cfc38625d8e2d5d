//! The proxy-wasm shell. It only moves bytes: it reads request headers, asks the core for a
//! decision, and performs it (header writes, local replies). No policy lives here.

mod crypto;
mod http;
mod jwks;
mod metrics;
mod ratelimit;
mod root;
mod state;

pub use root::Root;

// The module's entry point, only in the wasm build: natively the core is a plain library.
#[cfg(target_arch = "wasm32")]
proxy_wasm::main! {{
    proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Trace);
    proxy_wasm::set_root_context(|id| -> Box<dyn proxy_wasm::traits::RootContext> {
        Box::new(Root::new(id))
    });
}}
