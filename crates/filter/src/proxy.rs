//! The core pipeline's [`Proxy`], with host calls: the request line, headers and connection
//! properties as bytes, a token from a shared bucket, this worker's keys and caches. Reads only:
//! what the pipeline decides is carried out by `perform.rs`.

use log::error;

use apirule_core::access::AuthEnv;
use apirule_core::pipeline::{Answers, Needs, Proxy, Reads, Unreadable};
use apirule_core::ratelimit::{BucketRef, Taken};

use super::host::{self, Map};
use super::jwks;
use super::state::{with_state, Shared};

pub struct HostProxy<'s> {
    pub shared: &'s Shared,
}

/// A pseudo-header the decision interprets (`:path`, ...): missing is empty, bytes that are
/// not UTF-8 are a bad request.
fn pseudo(name: &str) -> Result<String, Unreadable> {
    match host::map_value(Map::Request, name) {
        Ok(None) => Ok(String::new()),
        Ok(Some(bytes)) => String::from_utf8(bytes).map_err(|_| Unreadable::NotText),
        Err(code) => {
            error!("could not read {name} (status {code}); denying");
            Err(Unreadable::Host)
        }
    }
}

/// All request headers for the core: names must be text (Envoy's codecs only admit tokens, but
/// the ABI promises nothing); a value that is not UTF-8 (obs-text, legal in HTTP) is decoded
/// lossily and its name listed, so the core can find it but never copies or trusts it.
fn request_headers(reads: &mut Reads) -> Result<(), Unreadable> {
    let Some(pairs) = host::map(Map::Request) else {
        error!("could not read the request headers; denying");
        return Err(Unreadable::Host);
    };
    reads.headers.reserve(pairs.len());
    for (name, value) in pairs {
        let name = String::from_utf8(name).map_err(|_| Unreadable::NotText)?;
        let value = match String::from_utf8(value) {
            Ok(v) => v,
            Err(e) => {
                let lower = name.to_ascii_lowercase();
                if !reads.non_utf8.contains(&lower) {
                    reads.non_utf8.push(lower);
                }
                String::from_utf8_lossy(e.as_bytes()).into_owned()
            }
        };
        reads.headers.push((name, value));
    }
    Ok(())
}

/// Connection properties for mutators (peer address, protocol): informational, so lossy.
fn property(path: &[&str]) -> String {
    host::property(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

impl Proxy for HostProxy<'_> {
    fn line(&mut self) -> Result<(String, String, String), Unreadable> {
        Ok((pseudo(":authority")?, pseudo(":method")?, pseudo(":path")?))
    }

    fn header(&self, name: &str) -> Option<Vec<u8>> {
        host::map_value(Map::Request, name).ok().flatten()
    }

    fn now_ms(&mut self) -> u64 {
        host::now_ms()
    }

    fn draw(&mut self, bucket: BucketRef<'_>, now_ms: u64) -> Option<Taken> {
        super::ratelimit::draw(bucket, now_ms)
    }

    fn read(&mut self, needs: Needs) -> Result<Reads, Unreadable> {
        let mut reads = Reads::default();
        if needs.headers {
            request_headers(&mut reads)?;
        }
        if needs.connection {
            reads.remote_address = property(&["source", "address"]);
            reads.protocol = property(&["request", "protocol"]);
        }
        reads.scheme = pseudo(":scheme")?;
        Ok(reads)
    }

    fn with_env<R>(
        &mut self,
        now_ms: u64,
        since_ms: u64,
        answers: &Answers,
        f: impl FnOnce(&mut AuthEnv<'_>) -> R,
    ) -> Option<R> {
        with_state(self.shared, |state| {
            let mut env = state.env(now_ms, since_ms, answers);
            f(&mut env)
        })
    }

    fn sync_keys(&mut self, now_ms: u64) {
        let n = with_state(self.shared, |s| s.auth.keys.len()).unwrap_or(0);
        for id in 0..n {
            jwks::sync(self.shared, id, now_ms);
        }
    }
}
