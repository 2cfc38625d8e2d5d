//! Rate-limit buckets in Envoy's shared data, one per bucket for all worker threads: read,
//! draw a token with the core's arithmetic, write back with compare-and-swap, retry on a race.

use log::warn;
use proxy_wasm::hostcalls;
use proxy_wasm::types::{MapType, Status};

use crate::ratelimit::{full, take, BucketRef, Limit, RateLimiter, Taken};

/// Races lost in a row before giving up on a draw (then the request counts as over the limit).
const MAX_RACES: usize = 32;

/// Creates the buckets that do not exist yet, full, so that the first requests of two workers
/// race on a compare-and-swap (Envoy cannot CAS a key that is not there yet).
pub fn create(limiter: &RateLimiter, now_ms: u64) {
    for bucket in limiter.all() {
        if let Ok((None, _)) = hostcalls::get_shared_data(bucket.key) {
            let _ = hostcalls::set_shared_data(bucket.key, Some(&full(bucket.spec, now_ms)), None);
        }
    }
}

fn draw(bucket: BucketRef<'_>, now_ms: u64) -> Option<Taken> {
    for _ in 0..MAX_RACES {
        let (state, cas) = hostcalls::get_shared_data(bucket.key).ok()?;
        let (next, taken) = take(state.as_deref(), bucket.spec, now_ms);
        match hostcalls::set_shared_data(bucket.key, Some(&next), cas) {
            Ok(()) => return Some(taken),
            Err(Status::CasMismatch) => continue,
            Err(e) => {
                warn!("rate-limit bucket not writable ({e:?})");
                return None;
            }
        }
    }
    warn!("rate-limit bucket contended {MAX_RACES} times in a row");
    None
}

/// The request's limit: picks its bucket (reading only the headers buckets name) and draws.
pub fn check(limiter: &RateLimiter, path: &str, now_ms: u64) -> Limit {
    let header = |name: &str| {
        hostcalls::get_map_value(MapType::HttpRequestHeaders, name)
            .ok()
            .flatten()
    };
    let bucket = limiter.bucket_for(path, &header);
    limiter.limit(bucket, draw(bucket, now_ms))
}
