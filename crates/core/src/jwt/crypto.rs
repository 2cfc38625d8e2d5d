//! Signature verification behind one trait, so the core never calls the host.
//!
//! Two artifacts are built from this code (README "Two modules"):
//! - the default module verifies RS256/384/512, ES256 and ES384 through Envoy's `verify_signature`
//!   foreign function (BoringSSL, in the shell), and EdDSA and ES256 here in software, with small
//!   crates (`ed25519-compact`, `p256`). PS256/384/512 tokens, and RS or ES384 tokens on a host
//!   without the foreign function, fail closed: their software verifier is not in this build.
//! - the portable module (Cargo feature `portable`) adds jwt-simple's pure-Rust RSA and P-384, so
//!   every algorithm verifies on any Proxy-Wasm host. It is about 300 KB larger.

use super::jwks::{Curve, PublicKey};
use super::jws::{Alg, Jws};

pub trait Crypto {
    /// True when the token's signature verifies with `key` under the token's `alg`. The caller
    /// has already checked that the key fits the algorithm.
    fn verify(&self, jws: &Jws<'_>, key: &PublicKey) -> bool;
}

/// Verification in software, with what this build holds ([`Software::covers`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct Software;

impl Software {
    /// Whether this build verifies `alg` without the host.
    pub const fn covers(alg: Alg) -> bool {
        matches!(alg, Alg::EdDSA | Alg::ES256) || cfg!(feature = "portable")
    }

    /// Whether this build verifies every algorithm without the host (the portable module).
    pub const fn complete() -> bool {
        cfg!(feature = "portable")
    }
}

impl Crypto for Software {
    fn verify(&self, jws: &Jws<'_>, key: &PublicKey) -> bool {
        let input = jws.signing_input.as_bytes();
        match (jws.header.alg, key) {
            (Alg::EdDSA, PublicKey::Ed25519 { x }) => ed25519(x, input, &jws.signature),
            (
                Alg::ES256,
                PublicKey::Ec {
                    curve: Curve::P256,
                    sec1,
                    ..
                },
            ) => es256(sec1, input, &jws.signature),
            #[cfg(feature = "portable")]
            _ => portable::verify(jws, key),
            #[cfg(not(feature = "portable"))]
            _ => false,
        }
    }
}

fn ed25519(x: &[u8], input: &[u8], signature: &[u8]) -> bool {
    let (Ok(key), Ok(sig)) = (
        ed25519_compact::PublicKey::from_slice(x),
        ed25519_compact::Signature::from_slice(signature),
    ) else {
        return false;
    };
    // Weak (small-order) keys are refused when the key set is read; checked again here because
    // a signature under one proves nothing.
    key.validate().is_ok() && key.verify(input, &sig).is_ok()
}

fn es256(sec1: &[u8], input: &[u8], signature: &[u8]) -> bool {
    use p256::ecdsa::signature::Verifier;
    let (Ok(key), Ok(sig)) = (
        p256::ecdsa::VerifyingKey::from_sec1_bytes(sec1),
        p256::ecdsa::Signature::from_slice(signature),
    ) else {
        return false;
    };
    key.verify(input, &sig).is_ok()
}

#[cfg(feature = "portable")]
mod portable {
    use jwt_simple::prelude::*;

    use super::super::jwks::{Curve, PublicKey};
    use super::super::jws::{Alg, Jws};

    /// jwt-simple (RustCrypto): RSA PKCS#1 v1.5, RSA-PSS and P-384.
    pub(super) fn verify(jws: &Jws<'_>, key: &PublicKey) -> bool {
        // Claims and times are checked by the caller with the flavour's own rules; jwt-simple
        // is asked for the signature only: its clock is pinned where no time check can fail.
        let options = VerificationOptions {
            accept_future: true,
            time_tolerance: Some(Duration::from_secs(0)),
            artificial_time: Some(UnixTimeStamp::from_secs(jws.claims.exp.unwrap_or(0))),
            max_token_length: Some(super::super::jws::MAX_TOKEN_LEN),
            ..Default::default()
        };
        let t = jws.token;
        let o = Some(options);
        type C = serde_json::Value;
        match (jws.header.alg, key) {
            (Alg::RS256, PublicKey::Rsa { n, e, .. }) => RS256PublicKey::from_components(n, e)
                .is_ok_and(|k| k.verify_token::<C>(t, o).is_ok()),
            (Alg::RS384, PublicKey::Rsa { n, e, .. }) => RS384PublicKey::from_components(n, e)
                .is_ok_and(|k| k.verify_token::<C>(t, o).is_ok()),
            (Alg::RS512, PublicKey::Rsa { n, e, .. }) => RS512PublicKey::from_components(n, e)
                .is_ok_and(|k| k.verify_token::<C>(t, o).is_ok()),
            (Alg::PS256, PublicKey::Rsa { n, e, .. }) => PS256PublicKey::from_components(n, e)
                .is_ok_and(|k| k.verify_token::<C>(t, o).is_ok()),
            (Alg::PS384, PublicKey::Rsa { n, e, .. }) => PS384PublicKey::from_components(n, e)
                .is_ok_and(|k| k.verify_token::<C>(t, o).is_ok()),
            (Alg::PS512, PublicKey::Rsa { n, e, .. }) => PS512PublicKey::from_components(n, e)
                .is_ok_and(|k| k.verify_token::<C>(t, o).is_ok()),
            (
                Alg::ES384,
                PublicKey::Ec {
                    curve: Curve::P384,
                    sec1,
                    ..
                },
            ) => ES384PublicKey::from_bytes(sec1).is_ok_and(|k| k.verify_token::<C>(t, o).is_ok()),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::jws::parse;
    use jwt_simple::prelude::*;

    /// Differential: the default build's own verifiers (p256, ed25519-compact) give jwt-simple's
    /// answer on real tokens, on every one-bit change of their signature, and on tokens signed by
    /// another key.
    #[test]
    fn software_es256_and_eddsa_agree_with_jwt_simple() {
        let es = ES256KeyPair::generate();
        let es_other = ES256KeyPair::generate();
        let ed = Ed25519KeyPair::generate();
        let ed_other = Ed25519KeyPair::generate();
        let point = es.public_key().public_key().to_bytes_uncompressed();
        let es_key = PublicKey::ec(Curve::P256, point.clone());
        let ed_key = PublicKey::Ed25519 {
            x: ed.public_key().to_bytes(),
        };
        let claims = || Claims::create(Duration::from_mins(5)).with_issuer("https://i");
        let sign = |r: Result<String, jwt_simple::Error>| r.unwrap_or_else(|e| unreachable!("{e}"));
        let cases = [
            (sign(es.sign(claims())), &es_key, true),
            (sign(es_other.sign(claims())), &es_key, false),
            (sign(ed.sign(claims())), &ed_key, true),
            (sign(ed_other.sign(claims())), &ed_key, false),
        ];
        for (token, key, valid) in cases {
            let jws = parse(&token).unwrap_or_else(|e| unreachable!("{e}"));
            assert_eq!(Software.verify(&jws, key), valid, "{token}");
            // Every one-bit change of the signature is refused, as jwt-simple refuses it.
            for bit in 0..jws.signature.len() * 8 {
                let mut tampered = jws.signature.clone();
                tampered[bit / 8] ^= 1 << (bit % 8);
                let forged = Jws {
                    signature: tampered,
                    ..parse(&token).unwrap_or_else(|e| unreachable!("{e}"))
                };
                assert!(!Software.verify(&forged, key), "bit {bit} of {token}");
            }
        }
        // A signature cut short, or padded, is refused rather than read.
        let token = sign(es.sign(claims()));
        let mut jws = parse(&token).unwrap_or_else(|e| unreachable!("{e}"));
        jws.signature.pop();
        assert!(!Software.verify(&jws, &es_key));
        jws.signature.extend([0, 0]);
        assert!(!Software.verify(&jws, &es_key));
    }

    /// What the build covers is what it verifies; the rest fails closed.
    #[test]
    fn what_software_covers() {
        assert!(Software::covers(Alg::EdDSA) && Software::covers(Alg::ES256));
        for alg in [Alg::RS256, Alg::PS256, Alg::ES384] {
            assert_eq!(Software::covers(alg), cfg!(feature = "portable"), "{alg:?}");
        }
        let rsa = RS256KeyPair::generate(2048).unwrap_or_else(|e| unreachable!("{e}"));
        let c = rsa.public_key().to_components();
        let key = PublicKey::rsa(c.n, c.e);
        let token = rsa
            .sign(Claims::create(Duration::from_mins(5)))
            .unwrap_or_else(|e| unreachable!("{e}"));
        let jws = parse(&token).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(Software.verify(&jws, &key), cfg!(feature = "portable"));
    }
}
