//! Compact JWS parsing, strict, with Envoy's `jwt_verify_lib` status strings as errors.
//!
//! Only what a verifier may trust is read from the header: `alg`, `kid`, `crit`. `jku`, `x5u`,
//! `jwk`, `x5c` are never used to find a key (RFC 8725 §3.10). Base64url must be canonical and
//! unpadded. Duplicate JSON members in the header or in the claims are an error (RFC 7515 §5.2).

use super::claims::{object_without_duplicates, Claims};
pub use super::error::JwtError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Tokens longer than this are refused before any decoding (Envoy caches only ≤ 4 KiB; real
/// access tokens are far below 16 KiB).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Signature algorithms a token may name. `none` and the HMAC family are refused at parse time:
/// this verifier holds only public keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

impl Alg {
    pub fn parse(s: &str) -> Option<Alg> {
        Some(match s {
            "RS256" => Alg::RS256,
            "RS384" => Alg::RS384,
            "RS512" => Alg::RS512,
            "PS256" => Alg::PS256,
            "PS384" => Alg::PS384,
            "PS512" => Alg::PS512,
            "ES256" => Alg::ES256,
            "ES384" => Alg::ES384,
            "EdDSA" | "Ed25519" => Alg::EdDSA,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::EdDSA => "EdDSA",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub alg: Alg,
    pub kid: Option<String>,
}

/// A parsed token: header, claims, and what the signature covers.
#[derive(Debug, Clone)]
pub struct Jws<'t> {
    pub token: &'t str,
    pub header: Header,
    pub claims: Claims,
    /// `base64(header) "." base64(payload)`.
    pub signing_input: &'t str,
    pub signature: Vec<u8>,
}

pub fn b64(segment: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(segment).ok()
}

pub fn parse(token: &str) -> Result<Jws<'_>, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::TooLong);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::BadFormat);
    };
    if h.is_empty() || p.is_empty() || s.is_empty() {
        return Err(JwtError::BadFormat);
    }
    let header_bytes = b64(h).ok_or(JwtError::HeaderBadBase64)?;
    let header = object_without_duplicates(&header_bytes).ok_or(JwtError::HeaderBadJson)?;
    // The members that matter in one pass, not one lookup each; errors in a fixed order.
    let (mut alg, mut kid, mut crit, mut typ) = (None, None, false, None);
    for (name, value) in &header {
        match name.as_str() {
            "alg" => alg = Some(value),
            "kid" => kid = Some(value),
            "crit" => crit = true,
            "typ" => typ = Some(value),
            _ => {}
        }
    }
    let alg = match alg {
        Some(serde_json::Value::String(a)) => Alg::parse(a).ok_or(JwtError::AlgNotImplemented)?,
        _ => return Err(JwtError::HeaderBadAlg),
    };
    let kid = match kid {
        None => None,
        Some(serde_json::Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(JwtError::HeaderBadKid),
    };
    // No extension is understood, so any `crit` makes the token invalid (RFC 7515 §4.1.11).
    if crit {
        return Err(JwtError::UnknownCritical);
    }
    // Explicit typing (RFC 8725 §3.11): absent, `JWT`, or a `+jwt` media type such as `at+jwt`.
    match typ {
        None => {}
        Some(serde_json::Value::String(t))
            if t.eq_ignore_ascii_case("jwt") || t.to_ascii_lowercase().ends_with("+jwt") => {}
        Some(_) => return Err(JwtError::BadTyp),
    }
    let payload = b64(p).ok_or(JwtError::PayloadBadBase64)?;
    let claims = Claims::parse(&payload)?;
    let signature = b64(s).ok_or(JwtError::SignatureBadBase64)?;
    Ok(Jws {
        token,
        header: Header { alg, kid },
        claims,
        signing_input: &token[..h.len() + 1 + p.len()],
        signature,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    pub fn enc(v: &str) -> String {
        URL_SAFE_NO_PAD.encode(v)
    }

    pub fn unsigned(header: &str, payload: &str) -> String {
        format!("{}.{}.{}", enc(header), enc(payload), enc("sig"))
    }

    #[test]
    fn parses_a_well_formed_token() {
        let t = unsigned(
            r#"{"alg":"RS256","kid":"k1","typ":"at+jwt"}"#,
            r#"{"iss":"https://i","exp":10}"#,
        );
        let jws = parse(&t).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(jws.header.alg, Alg::RS256);
        assert_eq!(jws.header.kid.as_deref(), Some("k1"));
        assert_eq!(jws.claims.iss.as_deref(), Some("https://i"));
        assert_eq!(jws.signature, b"sig");
        assert!(t.starts_with(jws.signing_input));
    }

    #[test]
    fn refuses_none_and_hmac_in_any_case() {
        for alg in [
            "none", "None", "NONE", "nOnE", "HS256", "HS512", "ES512", "",
        ] {
            let t = unsigned(&format!(r#"{{"alg":"{alg}"}}"#), "{}");
            assert_eq!(parse(&t).err(), Some(JwtError::AlgNotImplemented), "{alg}");
        }
        let h = enc(r#"{"alg":"none"}"#);
        let p = enc("{}");
        assert_eq!(
            parse(&format!("{h}.{p}.")).err(),
            Some(JwtError::BadFormat),
            "empty signature"
        );
        assert_eq!(
            parse(&format!("{h}.{p}")).err(),
            Some(JwtError::BadFormat),
            "two parts"
        );
    }

    #[test]
    fn shape_and_encoding_errors() {
        let h = enc(r#"{"alg":"RS256"}"#);
        let p = enc("{}");
        assert_eq!(parse("").err(), Some(JwtError::BadFormat));
        assert_eq!(parse("a.b.c.d").err(), Some(JwtError::BadFormat));
        assert_eq!(parse(&format!("{h}..x")).err(), Some(JwtError::BadFormat));
        assert_eq!(
            parse(&format!("{h}.{p}.a.b.c")).err(),
            Some(JwtError::BadFormat),
            "JWE-like"
        );
        assert_eq!(
            parse(&format!("!!.{p}.c2ln")).err(),
            Some(JwtError::HeaderBadBase64)
        );
        assert_eq!(
            parse(&format!("{h}=.{p}.c2ln")).err(),
            Some(JwtError::HeaderBadBase64),
            "padding"
        );
        assert_eq!(
            parse(&format!("{h}.{p}.c2ln=")).err(),
            Some(JwtError::SignatureBadBase64)
        );
        assert_eq!(
            parse(&format!("{h}.{p}.c2l+")).err(),
            Some(JwtError::SignatureBadBase64),
            "not url-safe"
        );
        assert_eq!(
            parse(&format!("{h}.{p}.c2lo")).ok().map(|j| j.signature),
            Some(b"sih".to_vec())
        );
        // Non-canonical trailing bits: `c2` carries the same byte as `cw` plus four stray bits.
        assert_eq!(
            parse(&format!("{h}.{p}.cw")).ok().map(|j| j.signature),
            Some(b"s".to_vec())
        );
        assert_eq!(
            parse(&format!("{h}.{p}.c2")).err(),
            Some(JwtError::SignatureBadBase64)
        );
        assert_eq!(
            parse(&format!("{}.{p}.c2ln", enc("[1]"))).err(),
            Some(JwtError::HeaderBadJson)
        );
        assert_eq!(
            parse(&format!("{h}.{}.c2ln", enc("[1]"))).err(),
            Some(JwtError::PayloadBadJson)
        );
        let long = format!("{h}.{}.c2ln", "a".repeat(MAX_TOKEN_LEN));
        assert_eq!(parse(&long).err(), Some(JwtError::TooLong));
    }

    #[test]
    fn header_members() {
        let dup = unsigned(r#"{"alg":"RS256","alg":"none"}"#, "{}");
        assert_eq!(
            parse(&dup).err(),
            Some(JwtError::HeaderBadJson),
            "duplicate alg"
        );
        let bad_kid = unsigned(r#"{"alg":"RS256","kid":7}"#, "{}");
        assert_eq!(parse(&bad_kid).err(), Some(JwtError::HeaderBadKid));
        let no_alg = unsigned(r#"{"kid":"a"}"#, "{}");
        assert_eq!(parse(&no_alg).err(), Some(JwtError::HeaderBadAlg));
        let crit = unsigned(r#"{"alg":"RS256","crit":["exp"],"exp":1}"#, "{}");
        assert_eq!(parse(&crit).err(), Some(JwtError::UnknownCritical));
        // Any `crit`, whatever its value.
        for value in ["null", "false", "{}", "[]", r#""b64""#] {
            let crit = unsigned(&format!(r#"{{"alg":"RS256","crit":{value}}}"#), "{}");
            assert_eq!(
                parse(&crit).err(),
                Some(JwtError::UnknownCritical),
                "{value}"
            );
        }
        for not_an_object in ["[]", "null", "1", "1.5", r#""x""#, "true"] {
            let token = unsigned(not_an_object, "{}");
            assert_eq!(
                parse(&token).err(),
                Some(JwtError::HeaderBadJson),
                "{not_an_object}"
            );
        }
        // Embedded-key headers are tolerated and ignored.
        let typ = unsigned(r#"{"alg":"RS256","typ":"JOSE"}"#, "{}");
        assert_eq!(parse(&typ).err(), Some(JwtError::BadTyp));
        let jku = unsigned(
            r#"{"alg":"RS256","jku":"https://evil/jwks","x5u":"https://evil","jwk":{"kty":"RSA"}}"#,
            "{}",
        );
        assert!(parse(&jku).is_ok());
    }

    /// With several bad header members, the error is the first in the order they are checked
    /// (alg, kid, crit, typ), whatever order the members come in; a bad header is reported
    /// before any bad claim.
    #[test]
    fn first_bad_header_member_in_a_fixed_order() {
        // A missing or non-string `alg` comes first too (HeaderBadAlg).
        for alg in ["", r#""alg":7,"#, r#""alg":null,"#] {
            let token = unsigned(&format!(r#"{{{alg}"kid":7,"crit":1,"typ":"JOSE"}}"#), "{}");
            assert_eq!(parse(&token).err(), Some(JwtError::HeaderBadAlg), "{alg}");
        }
        let bad = [
            (r#""alg":"none""#, JwtError::AlgNotImplemented),
            (r#""kid":7"#, JwtError::HeaderBadKid),
            (r#""crit":["b64"]"#, JwtError::UnknownCritical),
            (r#""typ":"JOSE""#, JwtError::BadTyp),
        ];
        for mask in 1u32..16 {
            let picked: Vec<usize> = (0..4).filter(|i| mask & (1 << i) != 0).collect();
            for reversed in [false, true] {
                let mut members: Vec<&str> = picked.iter().map(|&i| bad[i].0).collect();
                if !picked.contains(&0) {
                    members.push(r#""alg":"RS256""#);
                }
                if reversed {
                    members.reverse();
                }
                let token = unsigned(&format!("{{{}}}", members.join(",")), r#"{"iss":1}"#);
                assert_eq!(parse(&token).err(), Some(bad[picked[0]].1), "{members:?}");
            }
        }
    }
}
