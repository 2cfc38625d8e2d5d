//! The core pipeline's [`Proxy`], with host calls: the request line, headers and connection
//! properties as bytes, a token from a shared bucket, this worker's keys and caches. Reads only:
//! what the pipeline decides is carried out by `perform.rs`.
//!
//! The request's headers, pseudo-headers included, come in one host call (each call is a VM exit,
//! and each buffer the host hands over a VM entry to allocate it), read once per request.

use std::borrow::Cow;

use log::error;

use apirule_core::access::AuthEnv;
use apirule_core::pipeline::{Answers, Needs, Proxy, Reads, Unreadable};
use apirule_core::ratelimit::{BucketRef, Taken};

use super::host::{self, Block, Map};
use super::jwks;
use super::state::{with_state, Shared};

pub struct HostProxy<'s> {
    shared: &'s Shared,
    /// The request's header map, once read.
    block: Option<Result<Block, Unreadable>>,
}

impl<'s> HostProxy<'s> {
    pub fn new(shared: &'s Shared) -> Self {
        HostProxy {
            shared,
            block: None,
        }
    }

    fn block(&mut self) -> Result<&Block, Unreadable> {
        let block = self.block.get_or_insert_with(|| {
            host::map_block(Map::Request).ok_or_else(|| {
                error!("could not read the request headers; denying");
                Unreadable::Host
            })
        });
        block.as_ref().map_err(|e| *e)
    }

    /// A pseudo-header the decision interprets (`:path`, ...): missing is empty, bytes that are
    /// not UTF-8 are a bad request. Envoy lists pseudo-headers in the map; a host that does not
    /// is asked for the one header.
    fn pseudo(&mut self, name: &str) -> Result<String, Unreadable> {
        let bytes = match self.block()?.get(name) {
            Some(v) => Some(v.to_vec()),
            None => host::map_value(Map::Request, name).map_err(|code| {
                error!("could not read {name} (status {code}); denying");
                Unreadable::Host
            })?,
        };
        String::from_utf8(bytes.unwrap_or_default()).map_err(|_| Unreadable::NotText)
    }

    /// The same for `:method` and `:scheme`, whose usual values need no allocation.
    fn pseudo_token(&mut self, name: &str) -> Result<Cow<'static, str>, Unreadable> {
        const COMMON: [&str; 9] = [
            "GET", "POST", "https", "http", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS",
        ];
        if let Some(value) = self.block()?.get(name) {
            if let Some(common) = COMMON.iter().find(|c| c.as_bytes() == value) {
                return Ok(Cow::Borrowed(common));
            }
        }
        self.pseudo(name).map(Cow::Owned)
    }
}

/// The request's headers for the core: names must be text (Envoy's codecs only admit tokens,
/// but the ABI promises nothing); a value that is not UTF-8 (obs-text, legal in HTTP) is decoded
/// lossily and its name listed, so the core can find it but never copies or trusts it.
/// Pseudo-headers are left out: the core has them as the request line and scheme, and neither
/// an authorizer nor a mutator template sees them as headers (Oathkeeper's Go `http.Header`
/// never holds them); copying them cost four allocations per request.
fn request_headers(block: &Block, reads: &mut Reads) -> Result<(), Unreadable> {
    let pairs = block.pairs();
    reads.headers.reserve(pairs.len());
    for (name, value) in pairs {
        let name = std::str::from_utf8(name).map_err(|_| Unreadable::NotText)?;
        if name.starts_with(':') {
            continue;
        }
        let value = match std::str::from_utf8(value) {
            Ok(v) => v.to_owned(),
            Err(_) => {
                let lower = name.to_ascii_lowercase();
                if !reads.non_utf8.contains(&lower) {
                    reads.non_utf8.push(lower);
                }
                String::from_utf8_lossy(value).into_owned()
            }
        };
        reads.headers.push((name.to_owned(), value));
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
    fn line(&mut self) -> Result<(String, Cow<'static, str>, String), Unreadable> {
        Ok((
            self.pseudo(":authority")?,
            self.pseudo_token(":method")?,
            self.pseudo(":path")?,
        ))
    }

    fn header(&self, name: &str) -> Option<Vec<u8>> {
        match &self.block {
            Some(Ok(block)) => block.get(name).map(<[u8]>::to_vec),
            _ => host::map_value(Map::Request, name).ok().flatten(),
        }
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
            request_headers(self.block()?, &mut reads)?;
        }
        if needs.connection {
            reads.remote_address = property(&["source", "address"]);
            reads.protocol = property(&["request", "protocol"]);
        }
        reads.scheme = self.pseudo_token(":scheme")?;
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
