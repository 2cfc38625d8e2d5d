//! Rate-limit buckets in Envoy's shared data, one per bucket for all worker threads: read,
//! draw a token with the core's arithmetic, write back with compare-and-swap, retry on a race.

use super::host::{self, CAS_MISMATCH};
use log::warn;

use apirule_core::ratelimit::{full, take, BucketRef, RateLimiter, Taken};

/// Races lost in a row before giving up on a draw (then the request counts as over the limit).
const MAX_RACES: usize = 32;

/// Creates the buckets that do not exist yet, full, so that the first requests of two workers
/// race on a compare-and-swap (Envoy cannot CAS a key that is not there yet).
pub fn create(limiter: &RateLimiter, now_ms: u64) {
    for bucket in limiter.all() {
        if let Ok((None, _)) = host::shared_data(bucket.key) {
            let _ = host::set_shared_data(bucket.key, &full(bucket.spec, now_ms), 0);
        }
    }
}

/// Draws one token from `bucket` (`None`: the draw could not be made; the core then counts the
/// request as over the limit).
pub fn draw(bucket: BucketRef<'_>, now_ms: u64) -> Option<Taken> {
    for _ in 0..MAX_RACES {
        let (state, cas) = host::shared_data(bucket.key).ok()?;
        let (next, taken) = take(state.as_deref(), bucket.spec, now_ms);
        match host::set_shared_data(bucket.key, &next, cas) {
            Ok(()) => return Some(taken),
            Err(CAS_MISMATCH) => continue,
            Err(code) => {
                warn!("rate-limit bucket not writable (status {code})");
                return None;
            }
        }
    }
    warn!("rate-limit bucket contended {MAX_RACES} times in a row");
    None
}
