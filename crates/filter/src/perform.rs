//! The one place the shell carries out what the core's pipeline decided, for a request's own
//! context (`http.rs`) and for parked requests the root context resumes (`state.rs`): header
//! writes, local replies, resumes, calls, parking, and the counters. No decision is made here.

use std::rc::Rc;
use std::time::Duration;

use log::{debug, error, warn};

use apirule_core::callout::Answer;
use apirule_core::cors::ResponseEdits;
use apirule_core::pipeline::{self, Answers, Effect, Held, LimitSeen, Outcome};
use apirule_core::response::{Deny, DenyReason};

use super::host;
use super::metrics::Counter;
use super::proxy::HostProxy;
use super::state::{now_ms, plan_resumes, reply, with_state, write_request_headers, Shared};

/// What a header callback tells the host: go on, or wait (a reply was sent, or a call or keys
/// are awaited and the request will be resumed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Action {
    Continue = 0,
    Pause = 1,
}

/// A request needs at most a client-credentials call and an introspection call; more means a loop.
const MAX_CALLS: usize = 4;

/// What a request's context keeps between its callbacks.
#[derive(Default)]
pub struct Slot {
    /// The request, held while its call is outstanding.
    pub held: Option<Box<Held>>,
    pub answers: Answers,
    /// The outstanding call: its token and answer key.
    pub call: Option<(u32, String)>,
    /// Edits for the response of a request this filter allowed.
    pub response: Option<ResponseEdits>,
    /// The request waits for keys: the root context decides it, and leaves its response edits in
    /// the shared state.
    pub parked: bool,
}

fn count(shared: &Shared, outcome: &Outcome) {
    if let Ok(state) = shared.try_borrow() {
        match outcome.limit {
            LimitSeen::Over => state.metrics.inc(Counter::RateLimitOverLimit),
            LimitSeen::Shadowed => {
                state.metrics.inc(Counter::RateLimitOverLimit);
                state.metrics.inc(Counter::RateLimitShadowed);
            }
            LimitSeen::NotLimited | LimitSeen::Within => {}
        }
        // An allow is counted once its header writes succeeded (`perform`).
        if let Effect::Reply(deny) = &outcome.effect {
            state.metrics.denied(deny.reason);
        }
    }
}

pub fn internal() -> Deny {
    Deny::internal(DenyReason::Internal)
}

/// Performs `outcome` in the current HTTP context (context `id`); `resumed`: the request was
/// paused and must be resumed to go on. Returns what the callback returns to Envoy.
pub fn perform(
    shared: &Shared,
    id: u32,
    slot: &mut Slot,
    mut outcome: Outcome,
    resumed: bool,
) -> Action {
    loop {
        count(shared, &outcome);
        let Outcome {
            effect,
            label,
            line,
            ..
        } = outcome;
        match effect {
            Effect::Allow { headers, response } => {
                if !write_request_headers(&headers) {
                    if resumed {
                        // A parked request's edits wait in the state: not for this 500.
                        with_state(shared, |s| s.resumed_edits.remove(&id));
                    }
                    outcome = pipeline::refused(internal(), label);
                    continue;
                }
                if let Ok(state) = shared.try_borrow() {
                    state.metrics.inc(Counter::Allowed);
                }
                if !response.is_empty() {
                    slot.response = Some(response);
                }
                debug!("allow {label}{line}");
                if resumed {
                    if let Err(code) = host::resume_request() {
                        error!("could not resume (status {code})");
                    }
                    return Action::Pause;
                }
                return Action::Continue;
            }
            Effect::Reply(deny) => {
                if deny.reason == DenyReason::MutatorFailed {
                    // Names the rule, never the value (it may carry a claim or a secret).
                    warn!(
                        "deny {label}: a mutator could not produce a valid header -> {}",
                        deny.status
                    );
                }
                debug!(
                    "deny {label}{line} {} -> {}",
                    deny.reason.as_str(),
                    deny.status
                );
                reply(&deny);
                return Action::Pause;
            }
            Effect::Park(held, _) => {
                let now = now_ms();
                let answers = std::mem::take(&mut slot.answers);
                let parked = with_state(shared, |state| {
                    let max_wait = state.auth.keys.policy.max_wait_ms;
                    state.parking.park(id, *held, answers, now, max_wait);
                });
                if parked.is_none() {
                    reply(&internal());
                    return Action::Pause;
                }
                slot.parked = true;
                debug!("waiting for keys: {label}{line}");
                // Ask the root for fast ticks until the keys are in.
                host::set_tick_period(Duration::from_millis(20));
                return Action::Pause;
            }
            Effect::Call(call, held) => {
                if slot.answers.len() >= MAX_CALLS {
                    error!("too many calls for one request; denying");
                    outcome = pipeline::refused(internal(), label);
                    continue;
                }
                if call_out(shared, slot, *call, held) {
                    return Action::Pause;
                }
                outcome = retry_without_answer(shared, slot, label);
            }
        }
    }
}

/// Dispatches a call the decision needs and holds the request for its answer. `false`: the call
/// could not be made; the request is held, with no answer recorded for the call, to be decided
/// again as a call that failed.
fn call_out(
    shared: &Shared,
    slot: &mut Slot,
    call: apirule_core::callout::CallRequest,
    held: Box<Held>,
) -> bool {
    let headers: Vec<(&str, &str)> = [
        (":method", call.method.as_ref()),
        (":path", call.upstream.path.as_str()),
        (":authority", call.upstream.authority.as_str()),
    ]
    .into_iter()
    .chain(call.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    .collect();
    let timeout = Duration::from_millis(call.timeout_ms);
    match host::dispatch(&call.upstream.cluster, &headers, &call.body, timeout) {
        Ok(token) => {
            if let Ok(state) = shared.try_borrow() {
                state.metrics.inc(Counter::Calls);
            }
            slot.call = Some((token, call.key));
            slot.held = Some(held);
            true
        }
        Err(code) => {
            warn!(
                "call to cluster {:?} failed to start (status {code}); is it defined in Envoy?",
                call.upstream.cluster
            );
            slot.answers.insert(call.key, Answer::none());
            slot.held = Some(held);
            false
        }
    }
}

fn retry_without_answer(shared: &Shared, slot: &mut Slot, label: String) -> Outcome {
    match slot.held.take() {
        Some(held) => resume(shared, *held, &slot.answers),
        None => pipeline::refused(internal(), label),
    }
}

/// A held request decided again with its answers.
pub fn resume(shared: &Shared, held: Held, answers: &Answers) -> Outcome {
    let Some(rules) = with_state(shared, |s| Rc::clone(&s.rules)) else {
        return pipeline::refused(internal(), "-".into());
    };
    pipeline::resume(&rules, held, answers, &mut HostProxy::new(shared))
}

/// Decides parked requests again (the core's [`Parking`]) and performs those that are due in
/// their own HTTP contexts, then gives the effective context back to the root. The decisions are
/// made under the state, and their response edits left there for the contexts' response
/// callbacks, before any host call: a callback Envoy runs during a reply or a resume finds the
/// state free and its edits present.
pub fn resume_parked(shared: &Shared, root_id: u32) {
    let now = now_ms();
    let due = with_state(shared, |state| plan_resumes(state, now)).unwrap_or_default();
    for (context_id, outcome) in due {
        if host::set_effective_context(context_id).is_err() {
            // The client went away; its request is still counted, as it was decided.
            count(shared, &outcome);
            if let (Effect::Allow { .. }, Ok(state)) = (&outcome.effect, shared.try_borrow()) {
                state.metrics.inc(Counter::Allowed);
            }
            continue;
        }
        perform(shared, context_id, &mut Slot::default(), outcome, true);
    }
    let _ = host::set_effective_context(root_id);
}
