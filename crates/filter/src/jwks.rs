//! JWKS fetching from the root context, shared across Envoy's workers.
//!
//! Each worker VM has its own memory, so what one fetched is published in shared data
//! (`apirule-wasm/jwks/<uri>`: 8 bytes fetch time, then the document) and installed by the others
//! on their next tick. Which worker fetches is the core's lease protocol
//! (`apirule_core::jwt::lease`, tested there with workers racing), over Envoy's shared data.

use std::time::Duration;

use super::host;
use log::{info, warn};

use super::state::{call_answer, with_state, Shared};
use apirule_core::callout::Answer;
use apirule_core::jwt::lease;

fn entry_key(uri: &str) -> String {
    format!("apirule-wasm/jwks/{uri}")
}

/// Envoy's shared data as the lease protocol's store.
struct SharedData;

impl lease::SharedStore for SharedData {
    fn get(&mut self, key: &str) -> Option<(Option<Vec<u8>>, u32)> {
        host::shared_data(key).ok()
    }

    fn set(&mut self, key: &str, value: &[u8], cas: u32) -> bool {
        host::set_shared_data(key, value, cas).is_ok()
    }
}

/// Creates the lease entries once, so later takes are real compare-and-swaps.
pub fn prepare(uris: &[String]) {
    for uri in uris {
        lease::prepare(&mut SharedData, uri);
    }
}

/// Installs what another worker published since this VM last looked. Shared data is read first,
/// then the state is taken: no host call is made while the state is held.
pub fn sync(shared: &Shared, id: usize, now: u64) {
    let Some(uri) = with_state(shared, |s| s.auth.keys.uri(id).to_owned()) else {
        return;
    };
    let entry = host::shared_data(&entry_key(&uri)).ok();
    let failed_until = lease::failed_until(&mut SharedData, &uri, now);
    // A busy state only delays installing the keys until the next sync.
    with_state(shared, |state| {
        if let Some((Some(bytes), cas)) = entry {
            let stamped = bytes.split_first_chunk::<8>();
            if let (Some((at, document)), true) = (
                stamped,
                state.fetch.installed_cas.get(id).copied().flatten() != Some(cas),
            ) {
                if state
                    .auth
                    .keys
                    .install(id, document, u64::from_le_bytes(*at))
                    .is_ok()
                {
                    if let Some(slot) = state.fetch.installed_cas.get_mut(id) {
                        *slot = Some(cas);
                    }
                }
            }
        }
        // Another worker's failed fetch: fail fast here too until its retry time.
        if let Some(until) = failed_until {
            let retry = state.auth.keys.policy.retry_ms;
            state
                .auth
                .keys
                .record_failure(id, until.saturating_sub(retry));
        }
    });
}

/// Syncs every key set and starts the fetches that are due. True while work is outstanding.
/// What to fetch is decided under the state; leases and callouts are host calls made after it.
pub fn tick(shared: &Shared, now: u64) -> bool {
    let n = with_state(shared, |s| s.auth.keys.len()).unwrap_or(0);
    for id in 0..n {
        sync(shared, id, now);
        let due = with_state(shared, |state| {
            let inflight = state.fetch.inflight.values().any(|v| *v == id);
            if inflight || !state.auth.keys.due(id, now) {
                return None;
            }
            let (_, up) = state.rules.jwks.get(id)?.clone();
            Some((
                state.auth.keys.policy,
                state.auth.keys.uri(id).to_owned(),
                up,
            ))
        })
        .flatten();
        let Some((policy, uri, up)) = due else {
            continue;
        };
        if !lease::take(
            &mut SharedData,
            &uri,
            now,
            now + policy.fetch_timeout_ms + 1000,
        ) {
            continue;
        }
        let headers = [
            (":method", "GET"),
            (":path", up.path.as_str()),
            (":authority", up.authority.as_str()),
            ("accept", "application/json"),
            ("user-agent", "apirule-wasm"),
        ];
        let sent = host::dispatch(
            &up.cluster,
            &headers,
            &[],
            Duration::from_millis(policy.fetch_timeout_ms),
        );
        with_state(shared, |state| match sent {
            Ok(token) => {
                state.metrics.inc(super::metrics::Counter::JwksFetches);
                state.fetch.inflight.insert(token, id);
            }
            Err(_) => {
                state.auth.keys.record_failure(id, now);
                state
                    .metrics
                    .inc(super::metrics::Counter::JwksFetchFailures);
            }
        });
        if let Err(code) = sent {
            warn!(
                "cannot fetch JWKS {uri}: dispatch to cluster {:?} failed (status {code}); is the cluster defined in Envoy?",
                up.cluster
            );
            lease::release_failed(&mut SharedData, &uri, now + policy.retry_ms);
        }
    }
    with_state(shared, |s| s.fetch.busy() || !s.parking.is_empty()).unwrap_or(true)
}

/// The start of a body for a log line: printable ASCII only, at most 240 characters.
fn excerpt(body: &[u8]) -> String {
    body.iter()
        .take(240)
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                char::from(b)
            } else {
                '.'
            }
        })
        .collect()
}

/// A JWKS callout answered (or failed: no headers). The answer is read and the keys installed
/// under the state; sharing them with the other workers happens after it is released.
/// `false`: the token is no key fetch of this configuration (nothing done).
pub fn on_response(
    shared: &Shared,
    token: u32,
    num_headers: usize,
    body_size: usize,
    now: u64,
) -> bool {
    let Some((id, uri)) = with_state(shared, |s| {
        let id = s.fetch.inflight.remove(&token)?;
        Some((id, s.auth.keys.uri(id).to_owned()))
    })
    .flatten() else {
        return false;
    };
    let Answer { status, body, .. } = call_answer(num_headers, body_size);
    let result = match status {
        Some(200) => with_state(shared, |s| s.auth.keys.install(id, &body, now))
            .unwrap_or(Ok(()))
            .map_err(|e| e.to_string()),
        // Envoy answers 503 itself when it cannot connect; its text says why (a TLS failure
        // names CERTIFICATE_VERIFY_FAILED). A key set URL carries no secret: shown, bounded.
        Some(other) => {
            let text = excerpt(&body);
            let hint = if uri.starts_with("https://") && text.starts_with("upstream connect error")
            {
                " (https: a connection Envoy could not set up is often a TLS refusal: does the \
                 cluster trust the server's CA, and does the certificate name the host?)"
            } else {
                ""
            };
            Err(format!("status {other}: {text}{hint}"))
        }
        None => Err("no response (connection failed or reset)".into()),
    };
    match result {
        Ok(()) => {
            let mut entry = now.to_le_bytes().to_vec();
            entry.extend_from_slice(&body);
            match host::set_shared_data(&entry_key(&uri), &entry, 0) {
                Ok(()) => {
                    if let Ok((_, cas)) = host::shared_data(&entry_key(&uri)) {
                        with_state(shared, |s| {
                            if let Some(slot) = s.fetch.installed_cas.get_mut(id) {
                                *slot = Some(cas);
                            }
                        });
                    }
                }
                Err(e) => warn!("could not share the JWKS of {uri}: {e:?}"),
            }
            lease::release(&mut SharedData, &uri);
            info!("JWKS {uri} fetched ({} bytes)", body.len());
        }
        Err(why) => {
            let retry = with_state(shared, |s| {
                s.auth.keys.record_failure(id, now);
                s.metrics.inc(super::metrics::Counter::JwksFetchFailures);
                s.auth.keys.policy.retry_ms
            })
            .unwrap_or(1000);
            lease::release_failed(&mut SharedData, &uri, now + retry);
            warn!("JWKS {uri} fetch failed: {why}; keeping the last good keys, retrying in {retry} ms");
        }
    }
    true
}
