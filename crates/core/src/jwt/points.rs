//! Whether public key material from a key set is usable, below both the key set reader
//! (`jwks`) and the verifiers (`crypto`), with the same crates the verifiers use.

/// Whether a P-256 point (SEC1, uncompressed) is on the curve: invalid-curve inputs are refused
/// when a key set is read (RFC 8725 §3.4).
pub fn p256_point_valid(sec1: &[u8]) -> bool {
    p256::ecdsa::VerifyingKey::from_sec1_bytes(sec1).is_ok()
}

/// Whether an Ed25519 public key is usable (not of small order).
pub fn ed25519_key_valid(x: &[u8]) -> bool {
    ed25519_compact::PublicKey::from_slice(x).is_ok_and(|k| k.validate().is_ok())
}

/// Whether a P-384 point is on the curve. Only the portable module carries P-384 arithmetic; the
/// default one keeps a well-formed point and lets BoringSSL refuse it at verification, which
/// gives the same decision: a point off the curve verifies nothing.
pub fn p384_point_valid(sec1: &[u8]) -> bool {
    #[cfg(feature = "portable")]
    {
        jwt_simple::algorithms::ES384PublicKey::from_bytes(sec1).is_ok()
    }
    #[cfg(not(feature = "portable"))]
    {
        sec1.len() == 97 && sec1.first() == Some(&4)
    }
}
