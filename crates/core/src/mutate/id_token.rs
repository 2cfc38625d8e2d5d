//! Oathkeeper's `id_token` mutator: a short-lived JWT about the authenticated subject, signed with a
//! key from the plugin configuration, passed upstream as `Authorization: Bearer <jwt>`.
//!
//! Claims: the rendered `claims` template (a JSON object), then `iss` = `issuer_url`, `sub`,
//! `iat` = `nbf` = now, `exp` = now + `ttl` (Kyma's default 60 s), `jti`, overriding the template.
//! Minted tokens are reused until less than a tenth of their lifetime is left, as Oathkeeper does.

use jwt_simple::prelude::*;
use serde_json::{Map, Value};

use super::gotemplate::{Session, Template};
use crate::jwt::der;
use crate::jwt::jws::b64;

/// A private key from a JWK Set in the plugin configuration.
pub enum SigningKey {
    Rs256(Box<RS256KeyPair>),
    Es256(ES256KeyPair),
    EdDsa(Ed25519KeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.write_str(match self {
            SigningKey::Rs256(_) => "SigningKey(RS256)",
            SigningKey::Es256(_) => "SigningKey(ES256)",
            SigningKey::EdDsa(_) => "SigningKey(EdDSA)",
        })
    }
}

impl SigningKey {
    /// The first private key of a JWK Set (RSA → RS256, P-256 → ES256, Ed25519 → EdDSA).
    pub fn from_jwks(jwks: &Value) -> Result<SigningKey, String> {
        let keys = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("a JWK Set with `keys` is required")?;
        let key = keys
            .iter()
            .find(|k| k.get("d").is_some())
            .ok_or("the JWK Set holds no private key")?;
        let kid = key.get("kid").and_then(Value::as_str).map(str::to_owned);
        let m = |name: &str| -> Result<Vec<u8>, String> {
            key.get(name)
                .and_then(Value::as_str)
                .and_then(b64)
                .ok_or_else(|| format!("private key member {name:?} missing or not base64url"))
        };
        let signing = match key.get("kty").and_then(Value::as_str) {
            Some("RSA") => {
                let parts = [
                    m("n")?,
                    m("e")?,
                    m("d")?,
                    m("p")?,
                    m("q")?,
                    m("dp")?,
                    m("dq")?,
                    m("qi")?,
                ];
                let pair = RS256KeyPair::from_der(&der::rsa_private_pkcs1(&parts))
                    .map_err(|e| format!("RSA key: {e}"))?;
                SigningKey::Rs256(Box::new(match kid {
                    Some(k) => pair.with_key_id(&k),
                    None => pair,
                }))
            }
            Some("EC") if key.get("crv").and_then(Value::as_str) == Some("P-256") => {
                let pair =
                    ES256KeyPair::from_bytes(&m("d")?).map_err(|e| format!("EC key: {e}"))?;
                SigningKey::Es256(match kid {
                    Some(k) => pair.with_key_id(&k),
                    None => pair,
                })
            }
            Some("OKP") if key.get("crv").and_then(Value::as_str) == Some("Ed25519") => {
                let mut raw = m("d")?;
                raw.extend(m("x")?);
                let pair =
                    Ed25519KeyPair::from_bytes(&raw).map_err(|e| format!("Ed25519 key: {e}"))?;
                SigningKey::EdDsa(match kid {
                    Some(k) => pair.with_key_id(&k),
                    None => pair,
                })
            }
            _ => {
                return Err("only RSA, EC P-256 and Ed25519 private keys can sign id tokens".into())
            }
        };
        Ok(signing)
    }

    fn sign(&self, claims: JWTClaims<Map<String, Value>>) -> Result<String, String> {
        match self {
            SigningKey::Rs256(k) => k.sign(claims),
            SigningKey::Es256(k) => k.sign(claims),
            SigningKey::EdDsa(k) => k.sign(claims),
        }
        .map_err(|e| e.to_string())
    }
}

#[derive(Debug)]
pub struct IdToken {
    pub issuer: String,
    pub ttl_s: u64,
    pub claims: Option<Template>,
    pub key: std::rc::Rc<SigningKey>,
}

/// Minted tokens per VM: (issuer, ttl, signing key, subject, rendered claims) → (token, exp).
#[derive(Debug)]
pub struct MintCache {
    map: crate::cache::Bounded<(String, u64)>,
    counter: u64,
}

impl Default for MintCache {
    fn default() -> Self {
        MintCache {
            map: crate::cache::Bounded::new(4096),
            counter: 0,
        }
    }
}

impl IdToken {
    pub fn mint(
        &self,
        session: &Session<'_>,
        now_s: u64,
        cache: &mut MintCache,
    ) -> Result<String, String> {
        let rendered = match &self.claims {
            Some(t) => t.render(session)?,
            None => "{}".into(),
        };
        // Everything the token depends on, unambiguously (a JSON array): issuer, lifetime, the
        // signing key (one per `jwks_url`, made once at configure time), subject and claims.
        let key = serde_json::json!([
            self.issuer,
            self.ttl_s,
            std::rc::Rc::as_ptr(&self.key) as usize,
            session.subject,
            rendered
        ])
        .to_string();
        if let Some((token, exp)) = cache.map.get(&key) {
            // Reused until less than a tenth of the lifetime is left.
            if now_s + self.ttl_s / 10 < *exp {
                return Ok(token.clone());
            }
        }
        let custom: Map<String, Value> = match serde_json::from_str::<Value>(&rendered) {
            Ok(Value::Object(m)) => m,
            _ => return Err("id_token claims must render to a JSON object".into()),
        };
        let mut custom = custom;
        // Oathkeeper sets these itself, overriding the template.
        for reserved in ["iss", "sub", "exp", "iat", "nbf", "jti"] {
            custom.remove(reserved);
        }
        let audiences = custom.remove("aud");
        cache.counter += 1;
        let jti = format!(
            "{:016x}{:08x}",
            crate::jwt::keystore::fnv1a(key.as_bytes()) ^ now_s,
            cache.counter
        );
        let mut claims = Claims::with_custom_claims(custom, Duration::from_secs(self.ttl_s))
            .with_issuer(&self.issuer)
            .with_subject(session.subject)
            .with_jwt_id(jti);
        claims.issued_at = Some(UnixTimeStamp::from_secs(now_s));
        claims.invalid_before = Some(UnixTimeStamp::from_secs(now_s));
        claims.expires_at = Some(UnixTimeStamp::from_secs(now_s + self.ttl_s));
        match audiences {
            Some(Value::String(a)) => claims = claims.with_audience(a),
            Some(Value::Array(a)) => {
                let set: HashSet<String> = a
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect();
                claims = claims.with_audiences(set);
            }
            _ => {}
        }
        let token = self.key.sign(claims)?;
        cache.map.insert(&key, (token.clone(), now_s + self.ttl_s));
        Ok(token)
    }
}
