//! The core pipeline's [`Proxy`], with host calls: the request line, headers and connection
//! properties as bytes, a token from a shared bucket, this worker's keys and caches. Reads only:
//! what the pipeline decides is carried out by `perform.rs`.
//!
//! The request's headers, pseudo-headers included, come in one host call (each call is a VM exit,
//! and each buffer the host hands over a VM entry to allocate it), read once per request, and
//! that buffer is what the core reads them from.

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

/// The request's headers for the core, pseudo-headers left out: the core has them as the
/// request line and scheme, and neither an authorizer nor a mutator template sees them as
/// headers (Oathkeeper's Go `http.Header` never holds them).
///
/// When the whole map is text (always, from Envoy's codecs) the host's buffer becomes the list
/// as it is: no copy and no allocation per header. Otherwise names must be text (the ABI promises
/// nothing), and a value that is not UTF-8 (obs-text, legal in HTTP) is decoded lossily and its
/// name listed, so the core can find it but never copies or trusts it.
fn request_headers(block: Block, reads: &mut Reads) -> Result<(), Unreadable> {
    let block = match block.into_headers() {
        Ok(list) => {
            reads.headers = list;
            return Ok(());
        }
        Err(block) => block,
    };
    for (name, value) in block.pairs() {
        let name = std::str::from_utf8(name).map_err(|_| Unreadable::NotText)?;
        if name.starts_with(':') {
            continue;
        }
        let value = String::from_utf8_lossy(value);
        if let Cow::Owned(_) = value {
            let lower = name.to_ascii_lowercase();
            if !reads.non_utf8.contains(&lower) {
                reads.non_utf8.push(lower);
            }
        }
        reads.headers.push(name, &value);
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

    /// Hands the header map over to the core: after it, [`Proxy::header`] asks the host, and
    /// [`Proxy::line`] would read the map again (the pipeline calls neither).
    fn read(&mut self, needs: Needs) -> Result<Reads, Unreadable> {
        let mut reads = Reads {
            scheme: self.pseudo_token(":scheme")?,
            ..Reads::default()
        };
        if needs.connection {
            reads.remote_address = property(&["source", "address"]);
            reads.protocol = property(&["request", "protocol"]);
        }
        if needs.headers {
            self.block()?;
            if let Some(Ok(block)) = self.block.take() {
                request_headers(block, &mut reads)?;
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::encode_pairs;

    type Seen = Result<(Vec<(String, String)>, Vec<String>), Unreadable>;

    /// What the core was given before it read the host's buffer in place: every pair copied,
    /// values that are not UTF-8 decoded lossily and named.
    fn copied(block: &Block) -> Seen {
        let mut headers = Vec::new();
        let mut non_utf8: Vec<String> = Vec::new();
        for (name, value) in block.pairs() {
            let name = std::str::from_utf8(name).map_err(|_| Unreadable::NotText)?;
            if name.starts_with(':') {
                continue;
            }
            if std::str::from_utf8(value).is_err() && !non_utf8.contains(&name.to_ascii_lowercase())
            {
                non_utf8.push(name.to_ascii_lowercase());
            }
            headers.push((name.to_owned(), String::from_utf8_lossy(value).into_owned()));
        }
        Ok((headers, non_utf8))
    }

    fn handed(block: Block) -> Seen {
        let mut reads = Reads::default();
        request_headers(block, &mut reads)?;
        Ok((reads.headers.to_pairs(), reads.non_utf8))
    }

    /// Differential: for maps of every mix of names and values (pseudo-headers, multi-byte and
    /// broken UTF-8), and every single-byte corruption of some of them (sizes, separators, text),
    /// the core sees exactly what copying each pair gave it.
    #[test]
    fn the_hosts_buffer_reads_as_every_pair_copied() {
        let names = ["x-a", ":path", "Authorization", "caf\u{e9}", ":authority"];
        let values: [&[u8]; 7] = [
            b"",
            b"v",
            "caf\u{e9}".as_bytes(),
            b"caf\xe9",
            b"\xff\xfe",
            "\u{65e5}\u{672c}".as_bytes(),
            b"Bearer a.b.c",
        ];
        // An empty name whose separator is ':' (found by an attack review): not a pseudo-header.
        let mut maps: Vec<Vec<u8>> = vec![
            Vec::new(),
            encode_pairs(&[]),
            vec![1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, b':', b'v', 0],
        ];
        for n1 in names {
            for v1 in values {
                maps.push(encode_pairs(&[(n1, v1)]));
                for n2 in names {
                    for v2 in values {
                        maps.push(encode_pairs(&[(n1, v1), (n2, v2), (n1, v2)]));
                    }
                }
            }
        }
        let samples = [
            encode_pairs(&[
                (":path", b"/p"),
                ("x-a", "\u{e9}".as_bytes()),
                ("b", b"\xc3"),
            ]),
            encode_pairs(&[("a", b"\xc3\xa9"), ("x", b"")]),
        ];
        for sample in &samples {
            for i in 0..sample.len() {
                for b in [0u8, b' ', b':', b'a', 0x7f, 0x80, 0xa9, 0xc3, 0xe6, 0xff] {
                    let mut m = sample.clone();
                    m[i] = b;
                    maps.push(m);
                }
            }
            for cut in 0..sample.len() {
                maps.push(sample[..cut].to_vec());
            }
            maps.push([sample.as_slice(), b"\0x\xff"].concat());
        }
        let mut fast = 0;
        for map in maps {
            let (Some(a), Some(b)) = (Block::decode(map.clone()), Block::decode(map.clone()))
            else {
                continue;
            };
            fast +=
                usize::from(Block::decode(map.clone()).is_some_and(|b| b.into_headers().is_ok()));
            assert_eq!(handed(a), copied(&b), "{map:?}");
        }
        assert!(fast > 500, "the in-place path was taken {fast} times");
    }

    /// Sizes of 128 and more are not UTF-8 bytes: the in-place path must still be taken for a
    /// token-sized value and for a map of 195 headers (count 0xC3), with the same pairs.
    #[test]
    fn binary_sizes_do_not_push_a_map_off_the_in_place_path() {
        let token = "e".repeat(200);
        let many: Vec<(String, &[u8])> = (0..195).map(|i| (format!("x-{i}"), &b"v"[..])).collect();
        let many: Vec<(&str, &[u8])> = many.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        for map in [
            encode_pairs(&[(":path", b"/"), ("authorization", token.as_bytes())]),
            encode_pairs(&many),
        ] {
            let in_place = Block::decode(map.clone()).map(|b| b.into_headers().is_ok());
            assert_eq!(in_place, Some(true));
            let (Some(a), Some(b)) = (Block::decode(map.clone()), Block::decode(map)) else {
                unreachable!()
            };
            assert_eq!(handed(a), copied(&b));
        }
    }
}
