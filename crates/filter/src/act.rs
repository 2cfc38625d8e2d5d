//! What the shell does with a decision, owned, so no borrow of the shared state outlives it: the
//! one vocabulary of both places that carry decisions out (a request's own context in `http.rs`,
//! and the root resuming parked requests in `state.rs`).

use apirule_core::callout::CallRequest;
use apirule_core::cors::ResponseEdits;
use apirule_core::decide::{Decision, Matched, Wait};
use apirule_core::response::{Deny, DenyReason};

/// What to do, owned, so no borrow of the shared state outlives the decision.
pub enum Act {
    Allow(Vec<(String, String)>, ResponseEdits, String),
    Reply(Deny, String),
    Park,
    Call(Box<CallRequest>),
}

pub fn act_of(decision: Decision<'_>) -> Act {
    // The label is only for the debug log, and for the warning a mutator failure earns.
    let warned =
        matches!(&decision, Decision::Deny(d) if d.response.reason == DenyReason::MutatorFailed);
    let label = |m: Option<Matched<'_>>| {
        if !warned && !log::log_enabled!(log::Level::Debug) {
            return String::new();
        }
        m.map_or_else(|| "-".to_owned(), |m| m.label())
    };
    match decision {
        Decision::Allow(a) => Act::Allow(
            a.set_headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            a.response,
            label(Some(a.matched)),
        ),
        Decision::Deny(d) => Act::Reply(d.response, label(d.matched)),
        Decision::Pending(p) => match p.wait {
            Wait::Keys(_) => Act::Park,
            Wait::Call(c) => Act::Call(c),
        },
    }
}
