//! JWK Sets → public keys a token may be verified with.
//!
//! Accepted: RSA 2048–4096 bits (odd modulus, exponent 65537), EC P-256 and P-384 (full-size
//! coordinates, point on the curve), Ed25519. Refused and skipped: symmetric (`oct`) keys,
//! unknown `kty` or `crv`, keys whose `alg` does not fit their type, keys marked for another use
//! than signatures, malformed members. A set with no usable key is an error (fail closed).

use serde_json::Value;

use super::jws::{b64, Alg};

/// A JWKS document larger than this is refused: no identity provider needs it, and parsing it
/// would be paid by every worker.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
pub const MAX_KEYS: usize = 64;

/// A verification key. RSA and EC keys are built with [`PublicKey::rsa`] and [`PublicKey::ec`]
/// only, so the encoded form the host verifies with is always the key's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// Big-endian modulus and exponent, leading zeros stripped.
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
        /// The key's SubjectPublicKeyInfo, as Envoy's `verify_signature` takes it: encoded once
        /// when the key is read, not for every token.
        spki: Vec<u8>,
    },
    /// Uncompressed SEC1 point `04 || x || y`.
    Ec {
        curve: Curve,
        sec1: Vec<u8>,
        spki: Vec<u8>,
    },
    Ed25519 {
        x: Vec<u8>,
    },
}

impl PublicKey {
    pub fn rsa(n: Vec<u8>, e: Vec<u8>) -> PublicKey {
        let spki = super::der::rsa_spki(&n, &e);
        PublicKey::Rsa { n, e, spki }
    }

    pub fn ec(curve: Curve, sec1: Vec<u8>) -> PublicKey {
        let spki = super::der::ec_spki(curve, &sec1);
        PublicKey::Ec { curve, sec1, spki }
    }

    /// SubjectPublicKeyInfo of an RSA or EC key, encoded when the key was read; `None` for
    /// Ed25519 (not offered by Envoy's `verify_signature`).
    pub fn spki(&self) -> Option<&[u8]> {
        match self {
            PublicKey::Rsa { spki, .. } | PublicKey::Ec { spki, .. } => Some(spki),
            PublicKey::Ed25519 { .. } => None,
        }
    }
}

pub use super::der::Curve;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwk {
    pub kid: Option<String>,
    pub alg: Option<Alg>,
    /// `use` as published (`None` when absent); only `sig` or absent keys are kept.
    pub use_sig: Option<bool>,
    pub key: PublicKey,
}

impl Jwk {
    /// Can this key verify a token signed with `alg` (type, curve and the key's own `alg`)?
    pub fn fits(&self, alg: Alg) -> bool {
        if self.alg.is_some_and(|a| a != alg) {
            return false;
        }
        matches!(
            (&self.key, alg),
            (
                PublicKey::Rsa { .. },
                Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512
            ) | (
                PublicKey::Ec {
                    curve: Curve::P256,
                    ..
                },
                Alg::ES256
            ) | (
                PublicKey::Ec {
                    curve: Curve::P384,
                    ..
                },
                Alg::ES384
            ) | (PublicKey::Ed25519 { .. }, Alg::EdDSA)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwksError {
    TooLarge,
    Json,
    NoKeysField,
    KeysNotArray,
    NoValidKeys,
}

impl std::fmt::Display for JwksError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JwksError::TooLarge => "Jwks is too large",
            JwksError::Json => "Jwks is an invalid JSON",
            JwksError::NoKeysField => "Jwks does not have [keys] field",
            JwksError::KeysNotArray => "[keys] in Jwks is not an array",
            JwksError::NoValidKeys => "Jwks doesn't have any valid public key",
        })
    }
}

/// The usable keys of a JWKS document, in document order.
pub fn parse_jwks(bytes: &[u8]) -> Result<Vec<Jwk>, JwksError> {
    if bytes.len() > MAX_JWKS_BYTES {
        return Err(JwksError::TooLarge);
    }
    let doc: Value = serde_json::from_slice(bytes).map_err(|_| JwksError::Json)?;
    let keys = match doc.get("keys") {
        None => return Err(JwksError::NoKeysField),
        Some(Value::Array(keys)) => keys,
        Some(_) => return Err(JwksError::KeysNotArray),
    };
    let out: Vec<Jwk> = keys.iter().take(MAX_KEYS).filter_map(parse_jwk).collect();
    if out.is_empty() {
        return Err(JwksError::NoValidKeys);
    }
    Ok(out)
}

fn member(key: &Value, name: &str) -> Option<Vec<u8>> {
    b64(key.get(name)?.as_str()?)
}

fn strip_zeros(mut v: Vec<u8>) -> Vec<u8> {
    let first = v.iter().position(|b| *b != 0).unwrap_or(v.len());
    v.drain(..first);
    v
}

fn parse_jwk(key: &Value) -> Option<Jwk> {
    let use_sig = match key.get("use") {
        None => None,
        Some(Value::String(u)) if u == "sig" => Some(true),
        // An encryption key (or a malformed `use`) never verifies a signature.
        Some(_) => return None,
    };
    let alg = match key.get("alg") {
        None => None,
        Some(Value::String(a)) => Some(Alg::parse(a)?),
        Some(_) => return None,
    };
    let kid = match key.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return None,
    };
    let public = match key.get("kty")?.as_str()? {
        "RSA" => rsa(key)?,
        "EC" => ec(key)?,
        "OKP" => okp(key)?,
        _ => return None, // `oct` (symmetric) included: this verifier holds public keys only.
    };
    let jwk = Jwk {
        kid,
        alg,
        use_sig,
        key: public,
    };
    // A key whose published `alg` does not fit its type is unusable.
    if let Some(a) = alg {
        if !jwk.fits(a) {
            return None;
        }
    }
    Some(jwk)
}

fn rsa(key: &Value) -> Option<PublicKey> {
    let n = strip_zeros(member(key, "n")?);
    let e = strip_zeros(member(key, "e")?);
    // `strip_zeros` leaves no leading zero byte; an all-zero modulus leaves nothing (0 bits).
    let bits = n
        .first()
        .map_or(0, |b| n.len() * 8 - b.leading_zeros() as usize);
    let e_value = e.iter().fold(0u64, |acc, b| {
        acc.saturating_mul(256).saturating_add(u64::from(*b))
    });
    let odd = |v: &[u8]| v.last().is_some_and(|b| b & 1 == 1);
    // 2048 to 4096 bits, odd, and e = 65537: what the portable module's verifier takes, so a
    // key works the same on every crypto path and in both modules.
    if !(2048..=4096).contains(&bits) || !odd(&n) || e_value != 65537 {
        return None;
    }
    Some(PublicKey::rsa(n, e))
}

fn ec(key: &Value) -> Option<PublicKey> {
    let (curve, len) = match key.get("crv")?.as_str()? {
        "P-256" => (Curve::P256, 32),
        "P-384" => (Curve::P384, 48),
        _ => return None,
    };
    let x = member(key, "x")?;
    let y = member(key, "y")?;
    if x.len() != len || y.len() != len {
        return None;
    }
    let mut sec1 = Vec::with_capacity(1 + 2 * len);
    sec1.push(4);
    sec1.extend_from_slice(&x);
    sec1.extend_from_slice(&y);
    // Rejects points that are not on the curve (invalid-curve inputs, RFC 8725 §3.4).
    let valid = match curve {
        Curve::P256 => super::points::p256_point_valid(&sec1),
        Curve::P384 => super::points::p384_point_valid(&sec1),
    };
    valid.then(|| PublicKey::ec(curve, sec1))
}

fn okp(key: &Value) -> Option<PublicKey> {
    if key.get("crv")?.as_str()? != "Ed25519" {
        return None;
    }
    let x = member(key, "x")?;
    if x.len() != 32 {
        return None;
    }
    super::points::ed25519_key_valid(&x).then_some(PublicKey::Ed25519 { x })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    pub(crate) fn e(b: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(b)
    }

    /// A 2048-bit odd modulus; not a real key, but structurally valid for parsing.
    pub(crate) fn modulus(bits: usize) -> Vec<u8> {
        let mut n = vec![0xc3u8; bits / 8];
        n[0] = 0xd1;
        if let Some(last) = n.last_mut() {
            *last |= 1;
        }
        n
    }

    fn rsa_jwk(extra: &str, bits: usize, exp: &[u8]) -> String {
        format!(
            r#"{{"kty":"RSA","n":"{}","e":"{}"{extra}}}"#,
            e(&modulus(bits)),
            e(exp)
        )
    }

    #[test]
    fn rsa_key_quality() {
        let ok = format!(
            r#"{{"keys":[{}]}}"#,
            rsa_jwk(r#","kid":"a","alg":"RS256","use":"sig""#, 2048, &[1, 0, 1])
        );
        let keys = parse_jwks(ok.as_bytes());
        assert_eq!(keys.as_ref().map(Vec::len), Ok(1));
        for (bits, exp, why) in [
            (1024, vec![1, 0, 1], "too small"),
            (2048, vec![1], "e = 1"),
            (2048, vec![2], "even e"),
            (
                8192,
                vec![1, 0, 1],
                "larger than the pure-Rust path accepts",
            ),
        ] {
            let doc = format!(r#"{{"keys":[{}]}}"#, rsa_jwk("", bits, &exp));
            assert_eq!(
                parse_jwks(doc.as_bytes()),
                Err(JwksError::NoValidKeys),
                "{why}"
            );
        }
        let mut even = modulus(2048);
        if let Some(l) = even.last_mut() {
            *l &= 0xfe;
        }
        let doc = format!(
            r#"{{"keys":[{{"kty":"RSA","n":"{}","e":"AQAB"}}]}}"#,
            e(&even)
        );
        assert_eq!(
            parse_jwks(doc.as_bytes()),
            Err(JwksError::NoValidKeys),
            "even modulus"
        );
    }

    #[test]
    fn refused_kinds_are_skipped_not_fatal() {
        let good = rsa_jwk("", 2048, &[1, 0, 1]);
        let doc = format!(
            r#"{{"keys":[
                {{"kty":"oct","k":"c2VjcmV0","alg":"HS256"}},
                {},
                {},
                {},
                {{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}},
                {{"kty":"OKP","crv":"X25519","x":"{}"}},
                {{"kty":"XYZ"}},
                {good}
            ]}}"#,
            rsa_jwk(r#","use":"enc""#, 2048, &[1, 0, 1]),
            rsa_jwk(r#","alg":"ES256""#, 2048, &[1, 0, 1]),
            rsa_jwk(r#","alg":"none""#, 2048, &[1, 0, 1]),
            e(&[9; 32])
        );
        let keys = parse_jwks(doc.as_bytes()).unwrap_or_default();
        assert_eq!(keys.len(), 1, "only the plain RSA key survives");
    }

    #[test]
    fn all_zero_or_empty_modulus_is_skipped() {
        // Found by `make fuzz` (tokens): an all-zero `n` underflowed the bit count.
        for n in ["AAAAAAAAAAAAAAAA", "AA", ""] {
            let doc = format!(r#"{{"keys":[{{"kty":"RSA","kid":"k1","n":"{n}","e":"AQAB"}}]}}"#);
            assert_eq!(
                parse_jwks(doc.as_bytes()),
                Err(JwksError::NoValidKeys),
                "n = {n:?}"
            );
        }
        // The fuzzer's own input, whole: still no panic.
        let crash = include_bytes!("../../../../fuzz/regressions/tokens-zero-modulus");
        let split = crash
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(crash.len());
        let _ = parse_jwks(&crash[split + 1..]);
    }

    #[test]
    fn document_errors() {
        assert_eq!(parse_jwks(b"nope"), Err(JwksError::Json));
        assert_eq!(parse_jwks(b"{}"), Err(JwksError::NoKeysField));
        assert_eq!(parse_jwks(br#"{"keys":{}}"#), Err(JwksError::KeysNotArray));
        assert_eq!(parse_jwks(br#"{"keys":[]}"#), Err(JwksError::NoValidKeys));
        let huge = vec![b' '; MAX_JWKS_BYTES + 1];
        assert_eq!(parse_jwks(&huge), Err(JwksError::TooLarge));
    }
}
