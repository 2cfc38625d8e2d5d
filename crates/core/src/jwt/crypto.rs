//! Signature verification behind one trait, so the core never calls the host.
//!
//! [`PureRust`] uses jwt-simple (RustCrypto) and works everywhere. The proxy-wasm shell wraps it
//! with Envoy's `verify_signature` foreign function (BoringSSL, ~45× faster for RS256 in wasm)
//! for RSA PKCS#1 and ECDSA, falling back to this for RSA-PSS, EdDSA and hosts without it.

use jwt_simple::prelude::*;

use super::jwks::{Curve, PublicKey};
use super::jws::{Alg, Jws};

pub trait Crypto {
    /// True when the token's signature verifies with `key` under the token's `alg`. The caller
    /// has already checked that the key fits the algorithm.
    fn verify(&self, jws: &Jws<'_>, key: &PublicKey) -> bool;
}

/// jwt-simple, pure Rust.
#[derive(Debug, Default, Clone, Copy)]
pub struct PureRust;

impl Crypto for PureRust {
    fn verify(&self, jws: &Jws<'_>, key: &PublicKey) -> bool {
        // Claims and times are checked by the caller with the flavour's own rules; jwt-simple is
        // asked for the signature only: its clock is pinned where no time check can fail.
        let options = VerificationOptions {
            accept_future: true,
            time_tolerance: Some(Duration::from_secs(0)),
            artificial_time: Some(UnixTimeStamp::from_secs(jws.claims.exp.unwrap_or(0))),
            max_token_length: Some(super::jws::MAX_TOKEN_LEN),
            ..Default::default()
        };
        let t = jws.token;
        let o = Some(options);
        type C = serde_json::Value;
        match (jws.header.alg, key) {
            (Alg::RS256, PublicKey::Rsa { n, e }) => RS256PublicKey::from_components(n, e)
                .is_ok_and(|k| k.verify_token::<C>(t, o).is_ok()),
            (Alg::RS384, PublicKey::Rsa { n, e }) => RS384PublicKey::from_components(n, e)
                .is_ok_and(|k| k.verify_token::<C>(t, o).is_ok()),
            (Alg::RS512, PublicKey::Rsa { n, e }) => RS512PublicKey::from_components(n, e)
                .is_ok_and(|k| k.verify_token::<C>(t, o).is_ok()),
            (Alg::PS256, PublicKey::Rsa { n, e }) => PS256PublicKey::from_components(n, e)
                .is_ok_and(|k| k.verify_token::<C>(t, o).is_ok()),
            (Alg::PS384, PublicKey::Rsa { n, e }) => PS384PublicKey::from_components(n, e)
                .is_ok_and(|k| k.verify_token::<C>(t, o).is_ok()),
            (Alg::PS512, PublicKey::Rsa { n, e }) => PS512PublicKey::from_components(n, e)
                .is_ok_and(|k| k.verify_token::<C>(t, o).is_ok()),
            (
                Alg::ES256,
                PublicKey::Ec {
                    curve: Curve::P256,
                    sec1,
                },
            ) => ES256PublicKey::from_bytes(sec1).is_ok_and(|k| k.verify_token::<C>(t, o).is_ok()),
            (
                Alg::ES384,
                PublicKey::Ec {
                    curve: Curve::P384,
                    sec1,
                },
            ) => ES384PublicKey::from_bytes(sec1).is_ok_and(|k| k.verify_token::<C>(t, o).is_ok()),
            (Alg::EdDSA, PublicKey::Ed25519 { x }) => {
                Ed25519PublicKey::from_bytes(x).is_ok_and(|k| k.verify_token::<C>(t, o).is_ok())
            }
            _ => false,
        }
    }
}
