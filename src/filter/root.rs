//! Root context: parses and compiles the plugin configuration, hands the compiled rules to each
//! request. A configuration that is not valid fails `on_configure`, so Envoy refuses the filter
//! (fail closed) instead of serving without rules.

use std::rc::Rc;

use log::{error, info, warn};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, LogLevel};

use super::http::HttpFilter;
use crate::compile::{compile, Report, RuleSet, Status};
use crate::config::PluginConfig;
use crate::validate::describe;

#[derive(Default)]
pub struct Root {
    rules: Rc<RuleSet>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_vm_start(&mut self, _size: usize) -> bool {
        // Format log lines only at the level Envoy will print (`--component-log-level wasm:debug`).
        if let Ok(level) = hostcalls::get_log_level() {
            log::set_max_level(match level {
                LogLevel::Trace => log::LevelFilter::Trace,
                LogLevel::Debug => log::LevelFilter::Debug,
                LogLevel::Info => log::LevelFilter::Info,
                LogLevel::Warn => log::LevelFilter::Warn,
                LogLevel::Error | LogLevel::Critical => log::LevelFilter::Error,
            });
        }
        true
    }

    fn on_configure(&mut self, size: usize) -> bool {
        let bytes = match hostcalls::get_buffer(BufferType::PluginConfiguration, 0, size) {
            Ok(Some(b)) if !b.is_empty() => b,
            _ => {
                error!("no plugin configuration; refusing to start without rules");
                return false;
            }
        };
        let config = match PluginConfig::from_json(&bytes) {
            Ok(c) => c,
            Err(e) => {
                error!("{e}; refusing the configuration");
                return false;
            }
        };
        let (rules, reports) = match compile(&config) {
            Ok(r) => r,
            Err(e) => {
                error!("{e}; refusing the configuration");
                return false;
            }
        };
        if first_to_report(&bytes) {
            log_reports(&rules, &reports);
        }
        self.rules = Rc::new(rules);
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(HttpFilter::new(Rc::clone(&self.rules))))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// Envoy configures the plugin once on the main thread and once per worker. Only the first VM to
/// see a given configuration logs its reports, so an invalid APIRule is logged once, not N+1 times.
fn first_to_report(config: &[u8]) -> bool {
    let key = format!("apirule-wasm/reported/{:016x}", fnv1a(config));
    match hostcalls::get_shared_data(&key) {
        Ok((Some(_), _)) => false,
        // cas 0 would overwrite; a CAS of "absent" is not expressible, so a race logs twice at worst.
        _ => hostcalls::set_shared_data(&key, Some(b"1"), None).is_ok(),
    }
}

fn log_reports(rules: &RuleSet, reports: &[Report]) {
    let invalid = reports
        .iter()
        .filter(|r| matches!(r.status, Status::Error(_)))
        .count();
    for r in reports {
        match &r.status {
            Status::Ready => {}
            Status::Error(failures) => warn!(
                "{}/{} ({} {}) is invalid and exposes nothing: {}",
                r.namespace,
                r.name,
                r.api_version,
                r.kind,
                describe(failures).replace('\n', "; ")
            ),
            Status::Ignored(why) => info!("{}/{} not served: {why}", r.namespace, r.name),
        }
    }
    info!(
        "serving {} APIRules ({} rules); {} invalid",
        rules.len(),
        rules.rule_count(),
        invalid
    );
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
