//! The little DER that Envoy's `verify_signature` needs: SubjectPublicKeyInfo for RSA and EC
//! keys, and ECDSA signatures as `SEQUENCE { r INTEGER, s INTEGER }` (JWS carries raw `r || s`).

/// The NIST curves of JWKS `EC` keys (RFC 7518 §6.2.1.1) that this filter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
}

const OID_RSA: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const NULL: &[u8] = &[0x05, 0x00];

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 4);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(bytes.len() - 1);
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// A non-negative INTEGER from big-endian bytes.
fn integer(value: &[u8]) -> Vec<u8> {
    let first = value.iter().position(|b| *b != 0).unwrap_or(value.len());
    let trimmed = &value[first..];
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(trimmed);
    tlv(0x02, &content)
}

fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn bit_string(bytes: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(bytes.len() + 1);
    content.push(0); // no unused bits
    content.extend_from_slice(bytes);
    tlv(0x03, &content)
}

/// PKCS#1 `RSAPrivateKey` from a JWK's big-endian members (n, e, d, p, q, dp, dq, qi).
pub fn rsa_private_pkcs1(parts: &[Vec<u8>; 8]) -> Vec<u8> {
    let ints: Vec<Vec<u8>> = std::iter::once(integer(&[0]))
        .chain(parts.iter().map(|p| integer(p)))
        .collect();
    let refs: Vec<&[u8]> = ints.iter().map(Vec::as_slice).collect();
    sequence(&refs)
}

/// SubjectPublicKeyInfo of an RSA key from its big-endian modulus and exponent.
pub fn rsa_spki(n: &[u8], e: &[u8]) -> Vec<u8> {
    let rsa_key = sequence(&[&integer(n), &integer(e)]);
    sequence(&[&sequence(&[OID_RSA, NULL]), &bit_string(&rsa_key)])
}

/// SubjectPublicKeyInfo of an EC key from its uncompressed SEC1 point.
pub fn ec_spki(curve: Curve, sec1: &[u8]) -> Vec<u8> {
    let oid = match curve {
        Curve::P256 => OID_P256,
        Curve::P384 => OID_P384,
    };
    sequence(&[&sequence(&[OID_EC_PUBLIC_KEY, oid]), &bit_string(sec1)])
}

/// JWS `r || s` → DER. `None` when the length is wrong for the curve or `r` or `s` is zero
/// (the "psychic signature" of CVE-2022-21449 is refused before any library sees it).
pub fn ecdsa_signature(raw: &[u8], curve: Curve) -> Option<Vec<u8>> {
    let half = match curve {
        Curve::P256 => 32,
        Curve::P384 => 48,
    };
    if raw.len() != 2 * half {
        return None;
    }
    let (r, s) = raw.split_at(half);
    if r.iter().all(|b| *b == 0) || s.iter().all(|b| *b == 0) {
        return None;
    }
    Some(sequence(&[&integer(r), &integer(s)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_lengths() {
        assert_eq!(integer(&[0x00, 0x7f]), [0x02, 0x01, 0x7f]);
        assert_eq!(integer(&[0x80]), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(integer(&[]), [0x02, 0x01, 0x00]);
        let long = tlv(0x04, &[0u8; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
    }

    #[test]
    fn ecdsa_refuses_zero_and_wrong_length() {
        assert!(ecdsa_signature(&[0; 64], Curve::P256).is_none());
        let mut sig = [1u8; 64];
        sig[32..].fill(0);
        assert!(ecdsa_signature(&sig, Curve::P256).is_none(), "s = 0");
        assert!(ecdsa_signature(&[1; 63], Curve::P256).is_none());
        assert!(ecdsa_signature(&[1; 96], Curve::P384).is_some());
    }

    #[test]
    fn ec_spki_parses_back() {
        use jwt_simple::prelude::ECDSAP256KeyPairLike;
        let pair = jwt_simple::algorithms::ES256KeyPair::generate();
        let sec1 = pair.key_pair().public_key().to_bytes_uncompressed();
        let der = ec_spki(Curve::P256, &sec1);
        assert!(jwt_simple::algorithms::ES256PublicKey::from_der(&der).is_ok());
    }
}
