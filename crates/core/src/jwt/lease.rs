//! The JWKS fetch lease that Envoy's workers share, as a protocol over a compare-and-swap store.
//! One worker fetches a key set while the others wait; a failed fetch holds the lease until its
//! retry time and marks it, so every worker fails fast until then instead of piling up fetches.
//!
//! Sans-I/O: the shell's store is Envoy's shared data; the tests below use an in-memory store and
//! play workers against each other, races included.

/// A compare-and-swap key-value store shared by the workers.
pub trait SharedStore {
    /// The value and its version (version 0: no value yet); `None` when the store failed.
    fn get(&mut self, key: &str) -> Option<(Option<Vec<u8>>, u32)>;
    /// Writes when `cas` is the current version (0: unconditionally); false when another
    /// writer won or the store failed.
    fn set(&mut self, key: &str, value: &[u8], cas: u32) -> bool;
}

pub fn key(uri: &str) -> String {
    format!("apirule-wasm/jwks-lease/{uri}")
}

/// Creates the lease entry once, so later takes are real compare-and-swaps.
pub fn prepare(store: &mut dyn SharedStore, uri: &str) {
    if let Some((None, _)) = store.get(&key(uri)) {
        store.set(&key(uri), b"0", 0);
    }
}

/// The time a lease value holds until (`"<ms>"` or `"<ms>:fail"`; anything else: free).
fn held_until(value: &[u8]) -> u64 {
    String::from_utf8_lossy(value)
        .split(':')
        .next()
        .and_then(|u| u.parse().ok())
        .unwrap_or(0)
}

/// Takes the lease for `uri` until `until` when nobody holds it at `now`; false when another
/// worker holds it, or took it between our read and our write.
pub fn take(store: &mut dyn SharedStore, uri: &str, now: u64, until: u64) -> bool {
    let k = key(uri);
    let value = until.to_string();
    match store.get(&k) {
        Some((Some(current), cas)) => {
            held_until(&current) <= now && store.set(&k, value.as_bytes(), cas)
        }
        Some((None, _)) => store.set(&k, value.as_bytes(), 0),
        None => false,
    }
}

/// The fetch succeeded: the lease is free.
pub fn release(store: &mut dyn SharedStore, uri: &str) {
    store.set(&key(uri), b"0", 0);
}

/// The fetch failed: the lease is held until `retry_at` and marked, so others fail fast.
pub fn release_failed(store: &mut dyn SharedStore, uri: &str, retry_at: u64) {
    store.set(&key(uri), format!("{retry_at}:fail").as_bytes(), 0);
}

/// Until when another worker's failed fetch holds, if it still does at `now`.
pub fn failed_until(store: &mut dyn SharedStore, uri: &str, now: u64) -> Option<u64> {
    let (Some(value), _) = store.get(&key(uri))? else {
        return None;
    };
    let text = String::from_utf8_lossy(&value);
    let until: u64 = text.strip_suffix(":fail")?.parse().ok()?;
    (until > now).then_some(until)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Envoy's shared data in memory: values with versions that grow on every write. `meddle`
    /// runs before each conditional write: another worker acting between our read and our write.
    #[derive(Default)]
    struct Store {
        map: HashMap<String, (Vec<u8>, u32)>,
        version: u32,
        meddle: Vec<(String, Vec<u8>)>,
    }

    impl Store {
        fn write(&mut self, key: &str, value: &[u8]) {
            self.version += 1;
            self.map.insert(key.into(), (value.to_vec(), self.version));
        }
    }

    impl SharedStore for Store {
        fn get(&mut self, key: &str) -> Option<(Option<Vec<u8>>, u32)> {
            Some(match self.map.get(key) {
                Some((v, version)) => (Some(v.clone()), *version),
                None => (None, 0),
            })
        }

        fn set(&mut self, key: &str, value: &[u8], cas: u32) -> bool {
            for (k, v) in std::mem::take(&mut self.meddle) {
                self.write(&k, &v);
            }
            let current = self.map.get(key).map_or(0, |(_, version)| *version);
            if cas != 0 && cas != current {
                return false;
            }
            self.write(key, value);
            true
        }
    }

    const URI: &str = "https://idp.example.com/jwks";

    #[test]
    fn one_worker_fetches_while_the_other_waits() {
        let mut shared = Store::default();
        prepare(&mut shared, URI);
        assert!(
            take(&mut shared, URI, 1_000, 7_000),
            "worker A takes the lease"
        );
        assert!(!take(&mut shared, URI, 1_001, 7_001), "worker B waits");
        release(&mut shared, URI);
        assert!(
            take(&mut shared, URI, 2_000, 8_000),
            "free again after A's success"
        );
    }

    #[test]
    fn a_lease_whose_holder_died_expires() {
        let mut shared = Store::default();
        prepare(&mut shared, URI);
        assert!(take(&mut shared, URI, 1_000, 7_000));
        // Worker A never answers (its VM was replaced): B waits until the lease runs out.
        assert!(!take(&mut shared, URI, 6_999, 12_999));
        assert!(take(&mut shared, URI, 7_000, 13_000));
    }

    #[test]
    fn a_failed_fetch_makes_every_worker_fail_fast_until_the_retry() {
        let mut shared = Store::default();
        prepare(&mut shared, URI);
        assert!(take(&mut shared, URI, 1_000, 7_000));
        release_failed(&mut shared, URI, 2_000);
        assert_eq!(
            failed_until(&mut shared, URI, 1_500),
            Some(2_000),
            "B knows at once"
        );
        assert!(
            !take(&mut shared, URI, 1_500, 7_500),
            "nobody refetches before the retry"
        );
        assert_eq!(failed_until(&mut shared, URI, 2_000), None);
        assert!(
            take(&mut shared, URI, 2_000, 8_000),
            "the retry is taken once"
        );
        assert!(!take(&mut shared, URI, 2_000, 8_000));
    }

    #[test]
    fn two_workers_racing_for_a_free_lease_fetch_once() {
        let mut shared = Store::default();
        prepare(&mut shared, URI);
        // B reads the free lease; A takes it between B's read and B's write.
        shared.meddle.push((key(URI), b"7000".to_vec()));
        assert!(
            !take(&mut shared, URI, 1_000, 7_000),
            "B's stale compare-and-swap loses"
        );
        assert!(!take(&mut shared, URI, 1_000, 7_000), "and A holds it");
    }

    #[test]
    fn a_lease_never_prepared_is_created_by_the_first_taker() {
        let mut shared = Store::default();
        assert!(take(&mut shared, URI, 1_000, 7_000));
        assert!(!take(&mut shared, URI, 1_000, 7_000));
    }

    #[test]
    fn garbage_in_the_lease_reads_as_free_and_is_overwritten() {
        let mut shared = Store::default();
        shared.write(&key(URI), b"\xff\xfenonsense");
        assert_eq!(failed_until(&mut shared, URI, 0), None);
        assert!(take(&mut shared, URI, 1, 2));
    }
}
