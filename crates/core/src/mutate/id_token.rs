//! Oathkeeper's `id_token` mutator: a short-lived JWT about the authenticated subject, signed with a
//! key from the plugin configuration, passed upstream as `Authorization: Bearer <jwt>`.
//!
//! Claims: the rendered `claims` template (a JSON object), then `iss` = `issuer_url`, `sub`,
//! `iat` = `nbf` = now, `exp` = now + `ttl` (Kyma's default 60 s), `jti`, overriding the template.
//! Minted tokens are reused until less than a tenth of their lifetime is left, as Oathkeeper does.

use serde_json::{Map, Value};

use super::gotemplate::{Session, Template};
use crate::jwt::jws::b64;

/// A private key from a JWK Set in the plugin configuration, with the `kid` its tokens carry.
pub struct SigningKey {
    kid: Option<String>,
    signer: Signer,
}

enum Signer {
    Es256(p256::ecdsa::SigningKey),
    EdDsa(ed25519_compact::KeyPair),
    /// RSA signing needs big-number arithmetic that only the portable module carries.
    #[cfg(feature = "portable")]
    Rs256(Box<superboring::pkey::PKey<superboring::pkey::Private>>),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        write!(f, "SigningKey({})", self.alg())
    }
}

/// Why an RSA key cannot sign here, as the configuration error says it.
pub const RSA_NEEDS_PORTABLE: &str = "RSA keys sign id tokens only in the portable module \
     (apirule_wasm_portable.wasm); use an EC P-256 or Ed25519 key with this one";

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
        let crv = key.get("crv").and_then(Value::as_str);
        let signer = match key.get("kty").and_then(Value::as_str) {
            Some("RSA") => rsa(&m)?,
            Some("EC") if crv == Some("P-256") => {
                let d = p256::ecdsa::SigningKey::from_slice(&m("d")?)
                    .map_err(|_| "EC key: `d` is not a P-256 private scalar")?;
                // The public half, when given, must be the private key's: a mismatch would
                // mint tokens nobody can verify with the published set.
                if let (Ok(x), Ok(y)) = (m("x"), m("y")) {
                    let point = d.verifying_key().to_sec1_point(false);
                    if point.as_bytes().get(1..) != Some(&[x, y].concat()[..]) {
                        return Err("EC key: `x`/`y` do not belong to `d`".into());
                    }
                }
                Signer::Es256(d)
            }
            Some("OKP") if crv == Some("Ed25519") => {
                let seed = ed25519_compact::Seed::from_slice(&m("d")?)
                    .map_err(|_| "Ed25519 key: `d` must be 32 bytes")?;
                let pair = ed25519_compact::KeyPair::from_seed(seed);
                if pair.pk.as_slice() != m("x")?.as_slice() {
                    return Err("Ed25519 key: `x` does not belong to `d`".into());
                }
                Signer::EdDsa(pair)
            }
            _ => {
                return Err("only RSA, EC P-256 and Ed25519 private keys can sign id tokens".into())
            }
        };
        Ok(SigningKey { kid, signer })
    }

    fn alg(&self) -> &'static str {
        match self.signer {
            Signer::Es256(_) => "ES256",
            Signer::EdDsa(_) => "EdDSA",
            #[cfg(feature = "portable")]
            Signer::Rs256(_) => "RS256",
        }
    }

    /// A compact JWS of `claims`: header `{"alg", "typ": "JWT", "kid"}`.
    fn sign(&self, claims: &Map<String, Value>) -> Result<String, String> {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let mut header = serde_json::json!({"alg": self.alg(), "typ": "JWT"});
        if let Some(kid) = &self.kid {
            header["kid"] = Value::String(kid.clone());
        }
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string())
        );
        let signature = match &self.signer {
            Signer::Es256(k) => {
                use p256::ecdsa::signature::Signer as _;
                let s: p256::ecdsa::Signature = k.sign(input.as_bytes());
                s.to_bytes().to_vec()
            }
            // Deterministic (no noise), as RFC 8032 defines Ed25519.
            Signer::EdDsa(k) => k.sk.sign(input.as_bytes(), None).to_vec(),
            #[cfg(feature = "portable")]
            Signer::Rs256(k) => rs256(k, &input)?,
        };
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

#[cfg(feature = "portable")]
fn rsa(m: &dyn Fn(&str) -> Result<Vec<u8>, String>) -> Result<Signer, String> {
    use jwt_simple::prelude::RSAKeyPairLike;
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
    // jwt-simple checks the key (2048 to 4096 bits, e = 65537, consistent primes).
    let der = crate::jwt::der::rsa_private_pkcs1(&parts);
    let pair = jwt_simple::algorithms::RS256KeyPair::from_der(&der)
        .map_err(|e| format!("RSA key: {e}"))?;
    let pkey = superboring::pkey::PKey::from_rsa(pair.key_pair().as_ref().clone())
        .map_err(|_| "RSA key: not usable for signing")?;
    Ok(Signer::Rs256(Box::new(pkey)))
}

#[cfg(not(feature = "portable"))]
fn rsa(_: &dyn Fn(&str) -> Result<Vec<u8>, String>) -> Result<Signer, String> {
    Err(RSA_NEEDS_PORTABLE.into())
}

/// RSASSA-PKCS1-v1_5 with SHA-256 (RS256), blinded, as jwt-simple signs.
#[cfg(feature = "portable")]
fn rs256(
    k: &superboring::pkey::PKey<superboring::pkey::Private>,
    input: &str,
) -> Result<Vec<u8>, String> {
    use superboring::{hash::MessageDigest, rsa::Padding, sign::Signer};
    let failed = |_| "RSA signing failed".to_owned();
    let mut signer = Signer::new(MessageDigest::sha256(), k).map_err(failed)?;
    signer.set_rsa_padding(Padding::PKCS1).map_err(failed)?;
    signer.update(input.as_bytes()).map_err(failed)?;
    signer.sign_to_vec().map_err(failed)
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
        let custom: Map<String, Value> = match serde_json::from_slice::<Value>(rendered.as_bytes())
        {
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
        let mut claims = custom;
        claims.insert("iss".into(), self.issuer.clone().into());
        claims.insert("sub".into(), session.subject.into());
        claims.insert("iat".into(), now_s.into());
        claims.insert("nbf".into(), now_s.into());
        claims.insert("exp".into(), (now_s + self.ttl_s).into());
        claims.insert("jti".into(), jti.into());
        match audiences {
            Some(Value::String(a)) => {
                claims.insert("aud".into(), a.into());
            }
            Some(Value::Array(a)) => {
                // Strings only, each once, in the template's order.
                let mut set: Vec<Value> = Vec::with_capacity(a.len());
                for v in a.into_iter().filter(Value::is_string) {
                    if !set.contains(&v) {
                        set.push(v);
                    }
                }
                claims.insert("aud".into(), Value::Array(set));
            }
            _ => {}
        }
        let token = self.key.sign(&claims)?;
        cache.map.insert(&key, (token.clone(), now_s + self.ttl_s));
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use jwt_simple::prelude::*;
    use serde_json::json;

    fn e(b: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(b)
    }

    fn claims() -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("sub".into(), "alice".into());
        m.insert("exp".into(), (u64::MAX >> 12).into());
        m
    }

    /// Tokens minted with the default module's signers verify with an independent library.
    #[test]
    fn es256_and_eddsa_tokens_verify_elsewhere() {
        let es = ES256KeyPair::generate();
        let p = es.public_key().public_key().to_bytes_uncompressed();
        let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "d": e(&es.to_bytes()),
                                    "x": e(&p[1..33]), "y": e(&p[33..])}]});
        let key = SigningKey::from_jwks(&jwks).unwrap_or_else(|e| unreachable!("{e}"));
        let token = key.sign(&claims()).unwrap_or_else(|e| unreachable!("{e}"));
        let got = es.public_key().verify_token::<Value>(&token, None);
        assert_eq!(got.ok().and_then(|c| c.subject).as_deref(), Some("alice"));

        let ed = Ed25519KeyPair::generate();
        let raw = ed.to_bytes();
        let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "d": e(&raw[..32]), "x": e(&raw[32..])}]});
        let key = SigningKey::from_jwks(&jwks).unwrap_or_else(|e| unreachable!("{e}"));
        let token = key.sign(&claims()).unwrap_or_else(|e| unreachable!("{e}"));
        let got = ed.public_key().verify_token::<Value>(&token, None);
        assert_eq!(got.ok().and_then(|c| c.subject).as_deref(), Some("alice"));
    }

    /// A public half that is not the private key's would mint tokens no one can verify.
    #[test]
    fn mismatched_halves_and_rsa_without_the_portable_module_are_refused() {
        let (a, b) = (ES256KeyPair::generate(), ES256KeyPair::generate());
        let p = b.public_key().public_key().to_bytes_uncompressed();
        let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "d": e(&a.to_bytes()),
                                    "x": e(&p[1..33]), "y": e(&p[33..])}]});
        let err = SigningKey::from_jwks(&jwks).err();
        assert_eq!(err.as_deref(), Some("EC key: `x`/`y` do not belong to `d`"));
        let (a, b) = (Ed25519KeyPair::generate(), Ed25519KeyPair::generate());
        let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "d": e(&a.to_bytes()[..32]),
                                    "x": e(&b.to_bytes()[32..])}]});
        let err = SigningKey::from_jwks(&jwks).err();
        assert_eq!(
            err.as_deref(),
            Some("Ed25519 key: `x` does not belong to `d`")
        );

        let rsa = json!({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB", "d": "AQAB", "p": "AQAB",
                                   "q": "AQAB", "dp": "AQAB", "dq": "AQAB", "qi": "AQAB"}]});
        let err = SigningKey::from_jwks(&rsa).err().unwrap_or_default();
        if cfg!(feature = "portable") {
            assert!(err.starts_with("RSA key: "), "{err}");
        } else {
            assert_eq!(err, RSA_NEEDS_PORTABLE);
        }
    }
}
