//! Envoy's `verify_signature` foreign function, the pure half: argument encoding and result
//! decoding. The protobuf messages are tiny, so they are written by hand:
//!
//! `VerifySignatureArguments { string hash_function = 1; bytes public_key = 2; bytes signature = 3;
//! bytes text = 4; }` → `VerifySignatureResult { bool result = 1; string error = 2; }`.

use std::borrow::Cow;

use super::der;
use super::jwks::PublicKey;
use super::jws::{Alg, Jws};

pub const FUNCTION: &str = "verify_signature";

/// The encoded arguments, or `None` when the function does not cover this algorithm (RSA-PSS,
/// EdDSA) or the signature is malformed for it.
pub fn arguments(jws: &Jws<'_>, key: &PublicKey) -> Option<Vec<u8>> {
    let (hash, signature) = match (jws.header.alg, key) {
        (Alg::RS256, PublicKey::Rsa { .. }) => ("sha256", Cow::Borrowed(&jws.signature[..])),
        (Alg::RS384, PublicKey::Rsa { .. }) => ("sha384", Cow::Borrowed(&jws.signature[..])),
        (Alg::RS512, PublicKey::Rsa { .. }) => ("sha512", Cow::Borrowed(&jws.signature[..])),
        (Alg::ES256 | Alg::ES384, PublicKey::Ec { curve, .. }) => {
            let hash = if jws.header.alg == Alg::ES256 {
                "sha256"
            } else {
                "sha384"
            };
            (
                hash,
                Cow::Owned(der::ecdsa_signature(&jws.signature, *curve)?),
            )
        }
        _ => return None,
    };
    let spki = key.spki()?;
    let mut out = Vec::with_capacity(spki.len() + signature.len() + jws.signing_input.len() + 32);
    field(&mut out, 1, hash.as_bytes());
    field(&mut out, 2, spki);
    field(&mut out, 3, &signature);
    field(&mut out, 4, jws.signing_input.as_bytes());
    Some(out)
}

/// `Some(verified)` from a `VerifySignatureResult`; `None` when it cannot be read.
pub fn result(bytes: &[u8]) -> Option<bool> {
    let mut i = 0;
    let mut verified = false;
    while i < bytes.len() {
        let (tag, n) = varint(&bytes[i..])?;
        i += n;
        match (tag >> 3, tag & 7) {
            (1, 0) => {
                let (v, n) = varint(&bytes[i..])?;
                verified = v == 1;
                i += n;
            }
            (_, 0) => i += varint(&bytes[i..])?.1,
            (_, 2) => {
                let (len, n) = varint(&bytes[i..])?;
                i = i.checked_add(n)?.checked_add(usize::try_from(len).ok()?)?;
            }
            _ => return None,
        }
    }
    (i == bytes.len()).then_some(verified)
}

fn field(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
    put_varint(out, number << 3 | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_decoding() {
        assert_eq!(result(&[0x08, 0x01]), Some(true));
        assert_eq!(result(&[]), Some(false));
        // result=false, error="bad"
        assert_eq!(
            result(&[0x08, 0x00, 0x12, 0x03, b'b', b'a', b'd']),
            Some(false)
        );
        assert_eq!(result(&[0x12, 0x05, b'x']), None, "truncated");
        assert_eq!(result(&[0x80]), None);
    }

    #[test]
    fn varints() {
        let mut out = Vec::new();
        put_varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        assert_eq!(varint(&out), Some((300, 2)));
    }
}
