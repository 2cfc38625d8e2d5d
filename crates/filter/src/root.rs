//! Root context: parses and compiles the plugin configuration, fetches JWKS on ticks, resumes
//! requests that waited for keys. A configuration that is not valid fails `on_configure`, so
//! Envoy refuses the filter (fail closed) instead of serving without rules.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use log::{error, info, warn};

use super::host::{self, Buffer};
use super::jwks;
use super::perform::resume_parked;
use super::state::{now_ms, with_state, Shared, State};
use apirule_core::compile::{compile, Report, RuleSet, Status};
use apirule_core::config::PluginConfig;
use apirule_core::validate::describe;

/// Tick while fetches or waiting requests are outstanding, and when idle (refresh, sync).
const BUSY_TICK: Duration = Duration::from_millis(20);
const IDLE_TICK: Duration = Duration::from_millis(1000);

pub struct Root {
    id: u32,
    shared: Option<Shared>,
    busy: bool,
    last_purge_ms: u64,
}

impl Root {
    pub fn new(id: u32) -> Root {
        Root {
            id,
            shared: None,
            busy: false,
            last_purge_ms: 0,
        }
    }

    fn set_busy(&mut self, busy: bool) {
        if busy != self.busy {
            self.busy = busy;
            host::set_tick_period(if busy { BUSY_TICK } else { IDLE_TICK });
        }
    }

    /// This root's configuration, once one was accepted.
    pub fn shared(&self) -> Option<Shared> {
        self.shared.clone()
    }

    pub fn on_http_call_response(&mut self, token: u32, num_headers: usize, body_size: usize) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        // An answer for a stream that is gone is no key fetch: nothing to resume.
        if jwks::on_response(&shared, token, num_headers, body_size, now_ms()) {
            resume_parked(&shared, self.id);
        }
    }

    pub fn on_vm_start(&mut self, _size: usize) -> bool {
        // Format log lines only at the level Envoy will print (`--component-log-level wasm:debug`).
        if let Some(level) = host::log_level() {
            log::set_max_level(match level {
                0 => log::LevelFilter::Trace,
                1 => log::LevelFilter::Debug,
                2 => log::LevelFilter::Info,
                3 => log::LevelFilter::Warn,
                _ => log::LevelFilter::Error,
            });
        }
        true
    }

    pub fn on_configure(&mut self, size: usize) -> bool {
        let bytes = match host::buffer(Buffer::PluginConfiguration, size) {
            Some(b) if !b.is_empty() => b,
            _ => {
                error!("no plugin configuration; refusing to start without rules");
                return false;
            }
        };
        let started = now_ms();
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
            log_reports(&rules, &reports, now_ms().saturating_sub(started));
        }
        let uris = rules.jwks_uris();
        jwks::prepare(&uris);
        if let Some(limiter) = &rules.rate_limit {
            super::ratelimit::create(limiter, started);
        }
        let state = State::new(Rc::new(rules), config.native_crypto.unwrap_or(true));
        self.shared = Some(Rc::new(RefCell::new(state)));
        // Fetch keys right away, before the first request needs them.
        self.busy = uris.is_empty();
        self.set_busy(!uris.is_empty());
        true
    }

    pub fn on_tick(&mut self) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        let now = now_ms();
        let busy = jwks::tick(&shared, now);
        if with_state(&shared, |s| !s.parking.is_empty()).unwrap_or(false) {
            resume_parked(&shared, self.id);
        }
        if let Ok(mut state) = shared.try_borrow_mut() {
            // The core counts cache hits; export what is new.
            let hits = (state.auth.cache.hits, state.auth.introspection.hits);
            let (t, i) = state.exported_hits;
            state.metrics.add(
                super::metrics::Counter::TokenCacheHits,
                hits.0.saturating_sub(t),
            );
            state.metrics.add(
                super::metrics::Counter::IntrospectionCacheHits,
                hits.1.saturating_sub(i),
            );
            state.exported_hits = hits;
            state.metrics.flush();
        }
        if now.saturating_sub(self.last_purge_ms) > 60_000 {
            self.last_purge_ms = now;
            with_state(&shared, |s| {
                s.auth
                    .cache
                    .purge_expired(now / 1000, apirule_core::access::istio_jwt::CLOCK_SKEW_S)
            });
        }
        self.set_busy(busy);
    }
}

/// Envoy configures the plugin once on the main thread and once per worker. Only the first VM to
/// see a given configuration logs its reports, so an invalid APIRule is logged once, not N+1 times.
fn first_to_report(config: &[u8]) -> bool {
    let key = format!(
        "apirule-wasm/reported/{:016x}",
        apirule_core::jwt::keystore::fnv1a(config)
    );
    match host::shared_data(&key) {
        Ok((Some(_), _)) => false,
        _ => host::set_shared_data(&key, b"1", 0).is_ok(),
    }
}

/// The VM's linear memory, in KiB.
fn vm_memory_kib() -> usize {
    #[cfg(target_arch = "wasm32")]
    return core::arch::wasm32::memory_size(0) * 64;
    #[cfg(not(target_arch = "wasm32"))]
    return 0;
}

fn log_reports(rules: &RuleSet, reports: &[Report], took_ms: u64) {
    let invalid = reports
        .iter()
        .filter(|r| matches!(r.status, Status::Error(_)))
        .count();
    for r in reports {
        match &r.status {
            Status::Ready => {}
            Status::Error(failures) => warn!(
                "{}/{} ({} {}) is invalid and {}: {}",
                r.namespace,
                r.name,
                r.api_version,
                r.kind,
                if r.kind == apirule_core::config::ratelimit::KIND {
                    "limits nothing"
                } else {
                    "exposes nothing"
                },
                describe(failures).replace('\n', "; ")
            ),
            Status::Ignored(why) => info!("{}/{} not served: {why}", r.namespace, r.name),
        }
    }
    if let Some(l) = &rules.rate_limit {
        info!(
            "rate limit {}/{}: {}",
            l.namespace,
            l.name,
            if l.enforce {
                "enforced"
            } else {
                "shadow mode (counted, not enforced)"
            }
        );
    }
    info!(
        "serving {} APIRules ({} rules, {} JWKS); {} invalid; configured in {took_ms} ms; VM memory {} KiB",
        rules.len(),
        rules.rule_count(),
        rules.jwks.len(),
        invalid,
        vm_memory_kib()
    );
}
