//! Compact JWS parsing and JWKS parsing. Input: a token, a newline, a JWKS document.
#![no_main]

use apirule_core::jwt::{jwks, jws};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (token, doc) = data.split_at(split);
    if let Ok(token) = std::str::from_utf8(token) {
        let _ = jws::parse(token);
    }
    let _ = jwks::parse_jwks(doc);
});
