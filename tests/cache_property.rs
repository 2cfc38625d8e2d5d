//! Property: a cache only makes a decision faster, never different (issue 12).
//!
//! Random sequences of requests go to rules that differ in flavour (Istio-style and Ory jwt,
//! Oathkeeper introspection), key sets, `kid` and `use` requirements, algorithms, issuers,
//! scopes, audiences and cache settings. Each request is decided twice, in lockstep: once with
//! the caches one worker keeps (warm), once with empty caches (cold). The key store is shared
//! the same way by both runs, so only the caches differ. Every decision must be the same.
//!
//! The introspection endpoint is simulated: what it answers depends on the token, on the
//! `scope` it is asked for (Hydra checks scopes itself when `scope_strategy` is `none`) and on a
//! request header the rule sends (a tenant), as a real endpoint's answer may.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

mod common;

use common::Rng;

use apirule_core::access::AuthEnv;
use apirule_core::access::IntrospectionCache;
use apirule_core::callout::{Answer, CallRequest};
use apirule_core::compile::{compile, RuleSet, Status};
use apirule_core::config::PluginConfig;
use apirule_core::decide::{decide, Decision, Request, Wait};
use apirule_core::jwt::cache::TokenCache;
use apirule_core::jwt::crypto::Software;
use apirule_core::jwt::keystore::KeyStore;
use apirule_core::request::HeaderList;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_simple::prelude::*;
use serde_json::{json, Value};

const ISS1: &str = "https://idp-one.test";
const ISS2: &str = "https://idp-two.test";
const JWKS1: &str = "https://idp-one.test/jwks";
const JWKS2: &str = "https://idp-two.test/jwks";
const INTROSPECT: &str = "https://idp-one.test/introspect";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn ec_jwk(sec1: &[u8], crv: &str, kid: Option<&str>, use_sig: bool) -> Value {
    let n = (sec1.len() - 1) / 2;
    let mut k =
        json!({"kty": "EC", "crv": crv, "x": b64(&sec1[1..1 + n]), "y": b64(&sec1[1 + n..])});
    if let Some(kid) = kid {
        k["kid"] = json!(kid);
    }
    if use_sig {
        k["use"] = json!("sig");
    }
    k
}

/// Signing keys: two P-256 keys, a P-384 key and an Ed25519 key.
struct Keys {
    a: ES256KeyPair,
    b: ES256KeyPair,
    d: ES384KeyPair,
    e: Ed25519KeyPair,
}

impl Keys {
    fn new() -> Keys {
        Keys {
            a: ES256KeyPair::generate(),
            b: ES256KeyPair::generate(),
            d: ES384KeyPair::generate(),
            e: Ed25519KeyPair::generate(),
        }
    }

    /// JWKS 1: A (kid a, use sig), B (no kid, no use), D (kid d, no use).
    /// JWKS 2: A again (kid a2, use sig), E (kid e, use sig).
    fn documents(&self) -> (String, String) {
        let a = self.a.key_pair().public_key().to_bytes_uncompressed();
        let b = self.b.key_pair().public_key().to_bytes_uncompressed();
        let d = self.d.key_pair().public_key().to_bytes_uncompressed();
        let e = json!({"kty": "OKP", "crv": "Ed25519", "kid": "e", "use": "sig",
                       "x": b64(&self.e.public_key().to_bytes())});
        let one = json!({"keys": [ec_jwk(&a, "P-256", Some("a"), true), ec_jwk(&b, "P-256", None, false),
                                  ec_jwk(&d, "P-384", Some("d"), false)]});
        let two = json!({"keys": [ec_jwk(&a, "P-256", Some("a2"), true), e]});
        (one.to_string(), two.to_string())
    }

    fn sign(
        &self,
        key: usize,
        kid: Option<&str>,
        claims: JWTClaims<serde_json::Map<String, Value>>,
    ) -> String {
        let signed =
            match key {
                0 => copy(ES256KeyPair::from_bytes(&self.a.to_bytes()), kid)
                    .and_then(|k| k.sign(claims)),
                1 => copy(ES256KeyPair::from_bytes(&self.b.to_bytes()), kid)
                    .and_then(|k| k.sign(claims)),
                2 => copy(ES384KeyPair::from_bytes(&self.d.to_bytes()), kid)
                    .and_then(|k| k.sign(claims)),
                _ => with_kid(self.e.clone(), kid, |k, id| k.with_key_id(id)).sign(claims),
            };
        signed.unwrap_or_default()
    }
}

/// A copy of a key pair, with `kid` in the tokens it signs.
fn copy<K: WithKid>(
    key: Result<K, jwt_simple::Error>,
    kid: Option<&str>,
) -> Result<K, jwt_simple::Error> {
    key.map(|k| match kid {
        Some(id) => k.kid(id),
        None => k,
    })
}

trait WithKid {
    fn kid(self, id: &str) -> Self;
}

impl WithKid for ES256KeyPair {
    fn kid(self, id: &str) -> Self {
        self.with_key_id(id)
    }
}

impl WithKid for ES384KeyPair {
    fn kid(self, id: &str) -> Self {
        self.with_key_id(id)
    }
}

fn with_kid<K>(key: K, kid: Option<&str>, set: impl Fn(K, &str) -> K) -> K {
    match kid {
        Some(id) => set(key, id),
        None => key,
    }
}

/// A pool of tokens that covers the cases the rules tell apart.
fn tokens(keys: &Keys, now_s: u64, rng: &mut Rng) -> Vec<String> {
    let kids = [
        None,
        Some("a"),
        Some("a2"),
        Some("d"),
        Some("e"),
        Some("zz"),
        Some(""),
    ];
    let scope_sets: [&[&str]; 4] = [&[], &["read"], &["read", "admin"], &["admin"]];
    let mut out = Vec::new();
    for _ in 0..48 {
        let key = rng.below(4);
        let kid = *rng.pick(&kids);
        let scopes = *rng.pick(&scope_sets);
        let mut custom = serde_json::Map::new();
        let claim = *rng.pick(&["scp", "scope", "scopes"]);
        if claim == "scope" {
            custom.insert(claim.into(), json!(scopes.join(" ")));
        } else {
            custom.insert(claim.into(), json!(scopes));
        }
        let mut claims = Claims::with_custom_claims(custom, Duration::from_secs(600))
            .with_issuer(*rng.pick(&[ISS1, ISS1, ISS2]))
            .with_subject("robot");
        claims = match rng.below(3) {
            0 => claims.with_audience("api"),
            1 => claims.with_audiences(["api", "other"].into_iter().map(String::from).collect()),
            _ => claims,
        };
        if rng.below(6) == 0 {
            claims.expires_at = Some(UnixTimeStamp::from_secs(now_s - 3600));
        }
        let mut token = keys.sign(key, kid, claims);
        if rng.below(8) == 0 {
            // A forged signature on an otherwise fine token.
            token.truncate(token.len() - 4);
            token.push_str("AAAA");
        }
        out.push(token);
    }
    out
}

fn api_rules() -> Value {
    let v2_jwt = |name: &str, auths: Value, authz: Value| {
        let jwt = if authz == json!([]) {
            json!({"authentications": auths})
        } else {
            json!({"authentications": auths, "authorizations": authz})
        };
        json!({"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
               "metadata": {"name": name, "namespace": "prop"},
               "spec": {"hosts": [format!("{name}.example.com")], "gateway": "kyma-system/kyma-gateway",
                        "service": {"name": "svc", "namespace": "prop", "port": 80},
                        "rules": [{"path": "/{**}", "methods": ["GET"],
                                   "jwt": jwt}]}})
    };
    let v1 = |name: &str, handler: &str, config: Value| {
        json!({"apiVersion": "gateway.kyma-project.io/v1beta1", "kind": "APIRule",
               "metadata": {"name": name, "namespace": "prop"},
               "spec": {"host": format!("{name}.example.com"), "gateway": "kyma-system/kyma-gateway",
                        "service": {"name": "svc", "namespace": "prop", "port": 80},
                        "rules": [{"path": "/.*", "methods": ["GET"],
                                   "accessStrategies": [{"handler": handler, "config": config}]}]}})
    };
    let one = json!([{"issuer": ISS1, "jwksUri": JWKS1}]);
    let two = json!([{"issuer": ISS2, "jwksUri": JWKS2}]);
    let both = json!([{"issuer": ISS1, "jwksUri": JWKS1}, {"issuer": ISS2, "jwksUri": JWKS2}]);
    let cache = |ttl: &str| json!({"enabled": true, "ttl": ttl});
    json!([
        v2_jwt("istio-any", one.clone(), json!([])),
        v2_jwt(
            "istio-read",
            one.clone(),
            json!([{"requiredScopes": ["read"]}])
        ),
        v2_jwt(
            "istio-admin-api",
            both.clone(),
            json!([{"requiredScopes": ["admin"], "audiences": ["api"]}])
        ),
        v2_jwt(
            "istio-two",
            two.clone(),
            json!([{"requiredScopes": ["read"]}, {"audiences": ["other"]}])
        ),
        v1(
            "ory-default",
            "jwt",
            json!({"jwks_urls": [JWKS1], "trusted_issuers": [ISS1]})
        ),
        v1(
            "ory-read",
            "jwt",
            json!({"jwks_urls": [JWKS1, JWKS2], "required_scope": ["read"],
                                     "allowed_algorithms": ["ES256", "ES384", "EdDSA"]})
        ),
        v1(
            "ory-admin",
            "jwt",
            json!({"jwks_urls": [JWKS2, JWKS1], "required_scope": ["admin"],
                                      "target_audience": ["api"], "scope_strategy": "hierarchic",
                                      "allowed_algorithms": ["ES256", "EdDSA"]})
        ),
        v1(
            "ory-none",
            "jwt",
            json!({"jwks_urls": [JWKS1], "scope_strategy": "none"})
        ),
        v1(
            "intro-cached",
            "oauth2_introspection",
            json!({"introspection_url": INTROSPECT,
            "required_scope": ["read"], "cache": cache("60s")})
        ),
        v1(
            "intro-uncached",
            "oauth2_introspection",
            json!({"introspection_url": INTROSPECT,
            "required_scope": ["read"]})
        ),
        v1(
            "intro-admin-hydra",
            "oauth2_introspection",
            json!({"introspection_url": INTROSPECT,
            "required_scope": ["admin"], "scope_strategy": "none", "cache": cache("60s")})
        ),
        v1(
            "intro-tenant-b",
            "oauth2_introspection",
            json!({"introspection_url": INTROSPECT,
            "introspection_request_headers": {"x-tenant": "b"}, "cache": cache("60s")})
        ),
        v1(
            "intro-audience",
            "oauth2_introspection",
            json!({"introspection_url": INTROSPECT,
            "target_audience": ["api"], "cache": cache("5s")})
        ),
    ])
}

fn rule_set() -> RuleSet {
    let config = json!({"apiRules": api_rules(), "jwtHandler": "ory"}).to_string();
    let config = PluginConfig::from_json(config.as_bytes()).expect("plugin configuration");
    let (rules, reports) = compile(&config).expect("compiles");
    for r in &reports {
        assert_eq!(r.status, Status::Ready, "{}/{}", r.namespace, r.name);
    }
    rules
}

/// The simulated introspection endpoint.
fn introspect(call: &CallRequest) -> Answer {
    let form = String::from_utf8_lossy(&call.body).into_owned();
    let field = |name: &str| {
        form.split('&')
            .find_map(|p| p.strip_prefix(&format!("{name}=")))
            .map(|v| v.replace("%20", " ").replace('+', " "))
    };
    let token = field("token").unwrap_or_default();
    let tenant_b = call
        .headers
        .iter()
        .any(|(k, v)| k == "x-tenant" && v == "b");
    let (active, scopes, aud): (bool, &[&str], &[&str]) = match token.as_str() {
        "opaque-read" => (true, &["read"], &["api"]),
        "opaque-admin" => (true, &["read", "admin"], &[]),
        "opaque-b-only" => (tenant_b, &["read"], &["api"]),
        _ => (false, &[], &[]),
    };
    // Hydra: asked for scopes the token lacks, the token is inactive.
    let asked = field("scope").unwrap_or_default();
    let active = active
        && asked
            .split(' ')
            .filter(|s| !s.is_empty())
            .all(|s| scopes.contains(&s));
    let body = if active {
        json!({"active": true, "sub": "robot", "scope": scopes.join(" "), "aud": aud,
               "iss": ISS1, "client_id": "c"})
    } else {
        json!({"active": false})
    };
    Answer {
        status: Some(200),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
        non_utf8_headers: false,
    }
}

/// Caches a decision may read and write: the warm run keeps them, the cold run starts empty.
struct Caches {
    tokens: TokenCache,
    introspection: IntrospectionCache,
}

impl Caches {
    fn new() -> Caches {
        Caches {
            tokens: TokenCache::new(64),
            introspection: IntrospectionCache::default(),
        }
    }
}

/// Decides one request to the end (feeding call answers), as a short summary of what a client
/// and the upstream would see.
fn run(
    rules: &RuleSet,
    keys: &mut KeyStore,
    caches: &mut Caches,
    host: &str,
    token: &str,
    now_ms: u64,
) -> String {
    let headers = HeaderList::of(&[("authorization", format!("Bearer {token}"))]);
    let req = Request {
        authority: host,
        method: "GET",
        path: "/x",
        scheme: "https",
        headers: &headers,
        non_utf8: &[],
        remote_address: "",
        protocol: "",
        sent_upstream_timeout: false,
    };
    let mut answers: HashMap<String, Answer> = HashMap::new();
    for _ in 0..4 {
        let mut env = AuthEnv {
            keys,
            cache: &mut caches.tokens,
            crypto: &Software,
            introspection: &mut caches.introspection,
            mints: &mut Default::default(),
            answers: &answers,
            now_ms,
            since_ms: now_ms,
            overdue: false,
        };
        let call = match decide(rules, &req, &mut env) {
            Decision::Allow(a) => {
                let set: Vec<String> = a
                    .set_headers
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                return format!("allow {}", set.join(","));
            }
            Decision::Deny(d) => {
                return format!(
                    "deny {} {} {}",
                    d.response.status,
                    d.response.reason.as_str(),
                    d.response.body
                )
            }
            Decision::Pending(p) => match p.wait {
                Wait::Keys(ids) => return format!("wait for keys {ids:?}"),
                Wait::Call(call) => call,
            },
        };
        let answer = introspect(&call);
        answers.insert(call.key.clone(), answer);
    }
    "too many calls".into()
}

#[test]
fn warm_caches_decide_as_cold_ones() {
    let rules = rule_set();
    let keys = Keys::new();
    let (one, two) = keys.documents();
    let uris = rules.jwks_uris();
    let id = |uri: &str| {
        uris.iter()
            .position(|u| u == uri)
            .expect("jwks uri compiled")
    };
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let now_ms = now_s * 1000;
    let store = || {
        let mut store = KeyStore::new(&uris, rules.jwks_policy);
        store
            .install(id(JWKS1), one.as_bytes(), now_ms)
            .expect("jwks 1");
        store
            .install(id(JWKS2), two.as_bytes(), now_ms)
            .expect("jwks 2");
        store
    };
    let hosts: Vec<String> = api_rules()
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            r["metadata"]["name"]
                .as_str()
                .map(|n| format!("{n}.example.com"))
        })
        .collect();
    let opaque = [
        "opaque-read",
        "opaque-admin",
        "opaque-b-only",
        "opaque-unknown",
    ];

    let mut rng = Rng(0x1234_5678_9abc_def0);
    let pool = tokens(&keys, now_s, &mut rng);
    let (mut compared, mut allowed) = (0, 0);
    for sequence in 0..40 {
        let (mut warm_keys, mut cold_keys) = (store(), store());
        let mut warm = Caches::new();
        let mut clock = now_ms;
        for step in 0..30 {
            let host = rng.pick(&hosts).clone();
            let token = if host.starts_with("intro") {
                (*rng.pick(&opaque)).to_owned()
            } else {
                rng.pick(&pool).clone()
            };
            clock += rng.below(3000) as u64;
            let hot = run(&rules, &mut warm_keys, &mut warm, &host, &token, clock);
            let cold = run(
                &rules,
                &mut cold_keys,
                &mut Caches::new(),
                &host,
                &token,
                clock,
            );
            assert_eq!(
                hot, cold,
                "sequence {sequence} step {step}: {host} decided differently with warm caches"
            );
            compared += 1;
            allowed += usize::from(hot.starts_with("allow"));
        }
    }
    // The pool must exercise both outcomes, or the property says little.
    assert!(
        allowed > compared / 10 && allowed < compared * 9 / 10,
        "{allowed} of {compared} allowed"
    );
}
