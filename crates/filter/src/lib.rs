//! The proxy-wasm shell. It only moves bytes: it reads request headers, asks the core for a
//! decision, and performs it (header writes, local replies). No policy lives here. Every host
//! call goes through [`host`], which never panics on what the host hands over.

mod crypto;
mod exports;
mod host;
mod http;
mod jwks;
// The module's own `memcmp` (the native build and its tests keep the platform's).
#[cfg(any(target_arch = "wasm32", test))]
mod memcmp;
mod metrics;
mod perform;
mod proxy;
mod ratelimit;
mod root;
mod state;

/// `log` records to Envoy's log through [`host::log`] (the SDK's logger unwraps the host's status).
struct HostLog;

impl log::Log for HostLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            // The ABI's levels: 0 trace, 1 debug, 2 info, 3 warn, 4 error.
            let level = 5 - record.level() as u32;
            host::log(level, &record.args().to_string());
        }
    }

    fn flush(&self) {}
}

static LOGGER: HostLog = HostLog;

/// Installs the logger and a panic hook that says what panicked at critical level (a panic
/// still ends the VM: Envoy's `failure_policy` decides what happens next).
pub fn install_logging() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Trace);
        std::panic::set_hook(Box::new(|info| {
            host::log(5, &format!("apirule-wasm panicked: {info}"))
        }));
    }
}
