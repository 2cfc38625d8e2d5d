//! JWT access strategies end to end: real Envoy, the built module, httpbin, and a real OpenID
//! provider (node-oidc-provider) whose keys sign every token here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::{json, Value};

const HOST: &str = "api.local.kyma.dev";

fn jwt(idp: &Idp, jwks_suffix: &str, extra: Value) -> Value {
    let mut auth =
        json!({"issuer": idp.issuer(), "jwksUri": format!("{}{jwks_suffix}", idp.jwks_uri())});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            auth[k] = v;
        }
    }
    json!({"authentications": [auth]})
}

/// A v2 APIRule with the Istio-style rules the tests below exercise.
fn istio_rules(idp: &Idp) -> Value {
    let mut scoped = jwt(idp, "", json!({}));
    scoped["authorizations"] = json!([{"requiredScopes": ["read", "write"]}]);
    let mut admin = jwt(idp, "", json!({}));
    admin["authorizations"] =
        json!([{"requiredScopes": ["admin"]}, {"audiences": ["https://api.test/eddsa"]}]);
    let mut aud = jwt(idp, "", json!({}));
    aud["authorizations"] = json!([{"audiences": ["https://api.test/es256"]}]);
    json!({
        "apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
        "metadata": {"name": "api", "namespace": "test"},
        "spec": {"hosts": ["api"], "gateway": "kyma-system/kyma-gateway",
                 "service": {"name": "httpbin", "port": 8000},
                 "rules": [
                    {"path": "/headers", "methods": ["GET"], "jwt": jwt(idp, "", json!({}))},
                    {"path": "/anything/scoped", "methods": ["GET"], "jwt": scoped},
                    {"path": "/anything/admin", "methods": ["GET"], "jwt": admin},
                    {"path": "/anything/aud", "methods": ["GET"], "jwt": aud},
                    // Same issuer, another JWKS URI: Kyma allows a different token location then.
                    {"path": "/anything/custom", "methods": ["GET"],
                     "jwt": jwt(idp, "?custom", json!({"fromHeaders": [{"name": "X-JWT-Assertion", "prefix": "Kyma "}]}))},
                    {"path": "/anything/param", "methods": ["GET"],
                     "jwt": jwt(idp, "?param", json!({"fromParams": ["jwt_token"]}))},
                    {"path": "/anything/open", "methods": ["GET"], "noAuth": true}
                 ]}
    })
}

fn plugin(idp: &Idp, rules: &[Value], extra: Value) -> String {
    let mut cfg = json!({
        "defaultDomain": "local.kyma.dev",
        "clusters": {idp.issuer(): "idp"},
        "apiRules": rules,
    });
    if let Value::Object(m) = extra {
        for (k, v) in m {
            cfg[k] = v;
        }
    }
    cfg.to_string()
}

fn start(idp: &Idp, upstream: &Upstream, rules: &[Value], extra: Value) -> Envoy {
    start_module(idp, upstream, rules, extra, false)
}

fn start_module(
    idp: &Idp,
    upstream: &Upstream,
    rules: &[Value],
    extra: Value,
    portable: bool,
) -> Envoy {
    let opts = EnvoyOptions {
        idp_port: idp.port,
        portable,
        ..Default::default()
    };
    Envoy::start_with(upstream, &plugin(idp, rules, extra), opts)
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

fn get(envoy: &Envoy, path: &str, token: &str) -> Response {
    envoy.send("GET", HOST, path, &[("Authorization", &bearer(token))], "")
}

/// The Istio-style suite, run once per module and crypto path: the default module (Envoy's
/// verify_signature), the portable one with it, and the portable one in software only.
fn istio_suite(portable: bool, native: bool) {
    let idp = Idp::start(300);
    let upstream = Upstream::start();
    let envoy = start_module(
        &idp,
        &upstream,
        &[istio_rules(&idp)],
        json!({"nativeCrypto": native}),
        portable,
    );

    // Every algorithm the provider signs with; RSA-PSS only where the module carries it
    // (Envoy's verify_signature is PKCS#1 only): elsewhere it fails closed, as a bad signature.
    for alg in ["rs256", "ps256", "es256", "eddsa"] {
        let token = idp.token(alg, "read");
        let r = get(&envoy, "/headers", &token);
        if alg == "ps256" && !portable {
            assert_eq!((r.status, r.body.as_str()), (401, "Jwt verification fails"));
            continue;
        }
        assert_eq!(r.status, 200, "{alg}: {r:?}");
        // The original token is forwarded upstream.
        assert_eq!(
            r.upstream_header("Authorization"),
            Some(bearer(&token)),
            "{alg}"
        );
    }

    // No token: the AuthorizationPolicy has no principal to match.
    let r = envoy.get(HOST, "/headers");
    assert_eq!((r.status, r.body.as_str()), (403, "RBAC: access denied"));
    // A lowercase scheme is not Envoy's `Bearer ` prefix: no token.
    let t = idp.token("rs256", "read");
    let r = envoy.send(
        "GET",
        HOST,
        "/headers",
        &[("Authorization", &format!("bearer {t}"))],
        "",
    );
    assert_eq!(r.status, 403);

    // Garbage: 401 with Envoy's message and challenge.
    let r = get(&envoy, "/headers?x=1", "not.good.token");
    assert_eq!(r.status, 401);
    assert_eq!(r.body, "Jwt header is an invalid Base64url encoded");
    assert_eq!(
        r.header("www-authenticate"),
        Some(format!("Bearer realm=\"http://{HOST}/headers\", error=\"invalid_token\"").as_str())
    );

    // Scopes: all required scopes in one claim; authorizations are ORed.
    assert_eq!(
        get(
            &envoy,
            "/anything/scoped",
            &idp.token("rs256", "read write")
        )
        .status,
        200
    );
    assert_eq!(
        get(&envoy, "/anything/scoped", &idp.token("rs256", "read")).status,
        403
    );
    assert_eq!(
        get(&envoy, "/anything/admin", &idp.token("es256", "read write")).status,
        403
    );
    assert_eq!(
        get(&envoy, "/anything/admin", &idp.token("es256", "admin")).status,
        200
    );
    assert_eq!(
        get(&envoy, "/anything/admin", &idp.token("eddsa", "read")).status,
        200,
        "second authorization: audience"
    );
    // Audiences.
    assert_eq!(
        get(&envoy, "/anything/aud", &idp.token("es256", "read")).status,
        200
    );
    let r = get(&envoy, "/anything/aud", &idp.token("rs256", "read"));
    assert_eq!((r.status, r.body.as_str()), (403, "RBAC: access denied"));

    // Custom header with prefix; the default location is then ignored.
    let t = idp.token("rs256", "read");
    let r = envoy.send(
        "GET",
        HOST,
        "/anything/custom",
        &[("X-JWT-Assertion", &format!("Kyma {t}"))],
        "",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        get(&envoy, "/anything/custom", &t).status,
        403,
        "token in the wrong location"
    );
    // Query parameters: the configured one, and `access_token` by default.
    assert_eq!(
        envoy
            .get(HOST, &format!("/anything/param?jwt_token={t}"))
            .status,
        200
    );
    assert_eq!(
        envoy
            .get(HOST, &format!("/anything/param?access_token={t}"))
            .status,
        403
    );
    assert_eq!(
        envoy
            .get(HOST, &format!("/headers?access_token={t}"))
            .status,
        200
    );

    // A noAuth rule next to jwt rules ignores tokens.
    assert_eq!(get(&envoy, "/anything/open", "garbage").status, 200);

    // Repeated tokens are served from the cache (both workers verify at most once each).
    let t = idp.token("rs256", "read");
    for _ in 0..10 {
        assert_eq!(get(&envoy, "/headers", &t).status, 200);
    }

    let log = envoy.log();
    if native {
        assert!(log.contains("verify_signature in use"), "{log}");
    } else {
        assert!(!log.contains("verify_signature in use"));
    }
    // The default module says once why PS256 tokens are refused.
    let refused = "PS256 tokens are refused: Envoy's verify_signature does not cover them; \
                   the portable module (apirule_wasm_portable.wasm) verifies them in software";
    assert_eq!(log.contains(refused), !portable, "{log}");
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn istio_jwt_with_envoy_verify_signature() {
    istio_suite(false, true);
}

#[test]
fn istio_jwt_portable_module_with_envoy_verify_signature() {
    istio_suite(true, true);
}

#[test]
fn istio_jwt_with_pure_rust_verification() {
    istio_suite(true, false);
}

#[test]
fn jwt_attack_list() {
    let idp = Idp::start(300);
    let upstream = Upstream::start();
    let mut scoped = jwt(&idp, "", json!({}));
    scoped["authorizations"] = json!([{"audiences": ["https://api.test/rs256"]}]);
    let rule = json!({
        "apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
        "metadata": {"name": "api", "namespace": "test"},
        "spec": {"hosts": ["api"], "gateway": "kyma-system/kyma-gateway",
                 "service": {"name": "httpbin", "port": 8000},
                 "rules": [{"path": "/headers", "methods": ["GET"], "jwt": scoped}]}
    });
    let envoy = start(
        &idp,
        &upstream,
        &[rule],
        json!({"jwks": {"minRefetchInterval": "1s"}}),
    );
    let now = now_s();
    let iss = idp.issuer();
    let aud = "https://api.test/rs256";
    let claims = |extra: Value| {
        let mut c =
            json!({"iss": iss, "sub": "attacker", "aud": aud, "exp": now + 300, "iat": now});
        if let Value::Object(m) = extra {
            for (k, v) in m {
                c[k] = v;
            }
        }
        c
    };
    let expect = |token: &str, status: u16, body: &str, case: &str| {
        let r = get(&envoy, "/headers", token);
        assert_eq!((r.status, r.body.as_str()), (status, body), "{case}");
    };
    let good = idp.sign("RS256", json!({}), claims(json!({})));
    assert_eq!(get(&envoy, "/headers", &good).status, 200, "baseline");
    let parts: Vec<&str> = good.split('.').collect();
    let enc = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let payload = enc(&claims(json!({})));

    // 1. alg none in any spelling, with and without a signature.
    for alg in ["none", "None", "NONE", "nOnE"] {
        let h = enc(&json!({"alg": alg, "typ": "JWT"}));
        expect(
            &format!("{h}.{payload}."),
            401,
            "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
            alg,
        );
        expect(
            &format!("{h}.{payload}.{}", parts[2]),
            401,
            "Jwt header [alg] is not supported",
            alg,
        );
    }
    // 2. Signature stripping and segment counts.
    expect(
        &format!("{}.{}", parts[0], parts[1]),
        401,
        "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
        "two parts",
    );
    expect(
        &format!("{good}.x"),
        401,
        "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
        "four parts",
    );
    expect(
        &format!("{good}.x.y"),
        401,
        "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
        "JWE-like",
    );
    // 3. RS256 → HS256 confusion: an HMAC over the token with the RSA public key as secret.
    let h = enc(&json!({"alg": "HS256", "typ": "JWT"}));
    expect(
        &format!("{h}.{payload}.{}", parts[2]),
        401,
        "Jwt header [alg] is not supported",
        "HS256",
    );
    // 4. ES256 psychic signature (r = s = 0).
    let es = idp.sign("ES256", json!({}), claims(json!({})));
    let es_parts: Vec<&str> = es.split('.').collect();
    let zero = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0u8; 64])
    };
    expect(
        &format!("{}.{}.{zero}", es_parts[0], es_parts[1]),
        401,
        "Jwt verification fails",
        "psychic signature",
    );
    // 5. Embedded keys are never used: an attacker-signed token naming its own key.
    let forged_header = enc(&json!({"alg": "RS256", "typ": "JWT", "kid": "attacker",
        "jku": "http://127.0.0.1:1/jwks", "x5u": "http://127.0.0.1:1/cert", "jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}}));
    expect(
        &format!("{forged_header}.{payload}.{}", parts[2]),
        401,
        "Jwks doesn't have key to match kid or alg from Jwt",
        "jku/x5u/jwk",
    );
    // A real signature with those headers added still verifies only with the provider's keys.
    let with_jku = idp.sign(
        "RS256",
        json!({"jku": "http://127.0.0.1:1/jwks", "x5u": "http://127.0.0.1:1/c"}),
        claims(json!({})),
    );
    assert_eq!(
        get(&envoy, "/headers", &with_jku).status,
        200,
        "jku ignored, provider key used"
    );
    // 6. kid injection and unknown kids (one rate-limited refetch, then refused).
    for kid in [
        "../../../../dev/null",
        "x' OR '1'='1",
        &"k".repeat(2000),
        "unknown-kid",
    ] {
        let t = idp.sign("RS256", json!({"kid": kid}), claims(json!({})));
        expect(
            &t,
            401,
            "Jwks doesn't have key to match kid or alg from Jwt",
            "kid injection",
        );
    }
    // 7. A kid naming the EC key while the token says RS256.
    let ec_kid: String = serde_json::from_str::<Value>(&String::from_utf8_lossy(&{
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(es_parts[0])
            .unwrap()
    }))
    .unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let t = idp.sign("RS256", json!({"kid": ec_kid}), claims(json!({})));
    expect(
        &t,
        401,
        "Jwks doesn't have key to match kid or alg from Jwt",
        "kid/alg mismatch",
    );
    // 9. Claim types.
    expect(
        &idp.sign("RS256", json!({}), claims(json!({"exp": "soon"}))),
        401,
        "Jwt payload [exp] field is not a positive 64 bit integer",
        "exp string",
    );
    expect(
        &idp.sign("RS256", json!({}), claims(json!({"exp": -5}))),
        401,
        "Jwt payload [exp] field is not a positive 64 bit integer",
        "exp negative",
    );
    expect(
        &idp.sign("RS256", json!({}), claims(json!({"aud": 7}))),
        401,
        "Jwt payload [aud] field is not a string or string list",
        "aud number",
    );
    expect(
        &idp.sign("RS256", json!({}), claims(json!({"iss": 1}))),
        401,
        "Jwt payload [iss] field is not a string",
        "iss number",
    );
    // 10. Time, with Envoy's 60 s skew.
    expect(
        &idp.sign("RS256", json!({}), claims(json!({"exp": now - 120}))),
        401,
        "Jwt is expired",
        "expired",
    );
    assert_eq!(
        get(
            &envoy,
            "/headers",
            &idp.sign("RS256", json!({}), claims(json!({"exp": now - 30})))
        )
        .status,
        200,
        "within skew"
    );
    expect(
        &idp.sign("RS256", json!({}), claims(json!({"nbf": now + 120}))),
        401,
        "Jwt not yet valid",
        "nbf",
    );
    let no_exp = idp.sign("RS256", json!({}), json!({"iss": iss, "aud": aud}));
    assert_eq!(
        get(&envoy, "/headers", &no_exp).status,
        200,
        "exp not required"
    );
    expect(
        &idp.sign("RS256", json!({}), claims(json!({"exp": null}))),
        401,
        "Jwt payload [exp] field is not a positive 64 bit integer",
        "exp null",
    );
    // 11. Issuer and audience.
    expect(
        &idp.sign(
            "RS256",
            json!({}),
            claims(json!({"iss": "https://evil.example"})),
        ),
        401,
        "Jwt issuer is not configured",
        "issuer",
    );
    expect(
        &idp.sign(
            "RS256",
            json!({}),
            claims(json!({"iss": format!("{iss}/")})),
        ),
        401,
        "Jwt issuer is not configured",
        "issuer slash",
    );
    expect(
        &idp.sign(
            "RS256",
            json!({}),
            claims(json!({"aud": "https://api.test/other"})),
        ),
        403,
        "RBAC: access denied",
        "audience",
    );
    // 13. Duplicate members, non-object payloads.
    let dup = idp.sign(
        "RS256",
        json!({}),
        Value::String(format!(
            r#"{{"iss":"{iss}","aud":"{aud}","exp":1,"exp":{}}}"#,
            now + 300
        )),
    );
    expect(&dup, 401, "Jwt payload is an invalid JSON", "duplicate exp");
    expect(
        &idp.sign("RS256", json!({}), json!([1, 2])),
        401,
        "Jwt payload is an invalid JSON",
        "array payload",
    );
    // Tampering.
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        enc(&claims(json!({"sub": "admin"}))),
        parts[2]
    );
    expect(&tampered, 401, "Jwt verification fails", "tampered payload");
    let mut sig = parts[2].to_owned();
    // A middle character: always a full 6 bits, so the result is still canonical base64url.
    let mid = sig.len() / 2;
    let flip = if &sig[mid..mid + 1] == "A" { "B" } else { "A" };
    sig.replace_range(mid..mid + 1, flip);
    expect(
        &format!("{}.{}.{sig}", parts[0], parts[1]),
        401,
        "Jwt verification fails",
        "tampered signature",
    );
    // 14. Base64url malleability.
    expect(
        &format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        401,
        "Jwt header is an invalid Base64url encoded",
        "padding",
    );
    expect(
        &format!("{}.{}+.{}", parts[0], parts[1], parts[2]),
        401,
        "Jwt payload is an invalid Base64url encoded",
        "std alphabet",
    );
    // 15. crit.
    expect(
        &idp.sign(
            "RS256",
            json!({"crit": ["exp"], "exp": 1}),
            claims(json!({})),
        ),
        401,
        "Jwt header [crit] lists an extension this verifier does not understand",
        "crit",
    );
    // 18. Oversized token.
    let big = idp.sign(
        "RS256",
        json!({}),
        claims(json!({"pad": "x".repeat(20_000)})),
    );
    expect(&big, 401, "Jwt is too long", "oversized");
    // 19. Two Authorization headers (Envoy joins them with a comma: one malformed token), or a
    // header and a query token.
    let r = envoy.send(
        "GET",
        HOST,
        "/headers",
        &[
            ("Authorization", &bearer(&good)),
            ("Authorization", &bearer(&good)),
        ],
        "",
    );
    assert_eq!(r.status, 401, "{r:?}");
    let r = envoy.send(
        "GET",
        HOST,
        &format!("/headers?access_token={good}"),
        &[("Authorization", &bearer(&good))],
        "",
    );
    assert_eq!(
        (r.status, r.body.as_str()),
        (401, "Found multiple Jwt tokens")
    );
    let r = envoy.send(
        "GET",
        HOST,
        "/headers",
        &[("Authorization", &format!("Basic {good}"))],
        "",
    );
    assert_eq!(r.status, 403, "Basic is not a bearer token");

    // A flood of random kids is not a flood of fetches: 40 concurrent requests share one
    // rate-limited refetch (each waits for it, then is refused).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let before = envoy.log().matches("fetched (").count();
    let started = std::time::Instant::now();
    let tokens: Vec<String> = (0..40)
        .map(|i| {
            idp.sign(
                "RS256",
                json!({"kid": format!("random-{i}")}),
                claims(json!({})),
            )
        })
        .collect();
    std::thread::scope(|s| {
        for chunk in tokens.chunks(4) {
            let envoy = &envoy;
            s.spawn(move || {
                for t in chunk {
                    assert_eq!(get(envoy, "/headers", t).status, 401);
                }
            });
        }
    });
    // At most one fetch per minRefetchInterval (1 s here), however many kids arrive.
    let fetches = envoy.log().matches("fetched (").count() - before;
    let windows = started.elapsed().as_secs_f64().ceil() as usize + 1;
    assert!(
        fetches <= windows,
        "{fetches} JWKS fetches in {windows} one-second windows for 40 random kids"
    );

    // The filter kept serving.
    assert_eq!(get(&envoy, "/headers", &good).status, 200);
    let log = envoy.log();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn ory_jwt_rules() {
    let idp = Idp::start(300);
    let upstream = Upstream::start();
    let rule = |path: &str, config: Value| json!({"path": path, "methods": ["GET"], "accessStrategies": [{"handler": "jwt", "config": config}]});
    let base = json!({"jwks_urls": [idp.jwks_uri()], "trusted_issuers": [idp.issuer()]});
    let with = |extra: Value| {
        let mut c = base.clone();
        if let Value::Object(m) = extra {
            for (k, v) in m {
                c[k] = v;
            }
        }
        c
    };
    let v1beta1 = json!({
        "apiVersion": "gateway.kyma-project.io/v1beta1", "kind": "APIRule",
        "metadata": {"name": "ory", "namespace": "test"},
        "spec": {"host": "api", "gateway": "kyma-system/kyma-gateway",
                 "service": {"name": "httpbin", "port": 8000},
                 "rules": [
                    rule("/headers", with(json!({}))),
                    rule("/anything/scoped", with(json!({"required_scope": ["read"], "target_audience": ["https://api.test/rs256"]}))),
                    rule("/anything/wild", with(json!({"required_scope": ["write"], "scope_strategy": "exact"}))),
                    rule("/anything/es", with(json!({"allowed_algorithms": ["ES256", "RS256"]}))),
                    rule("/anything/header", with(json!({"token_from": {"header": "X-Token"}}))),
                    rule("/anything/query", with(json!({"token_from": {"query_parameter": "token"}}))),
                    rule("/anything/cookie", with(json!({"token_from": {"cookie": "session"}})))
                 ]}
    });
    let envoy = start(&idp, &upstream, &[v1beta1], json!({}));
    let ory401 = json!({"error": {"code": 401, "status": "Unauthorized", "message": "The request could not be authorized"}});
    let denied = |r: Response, case: &str| {
        assert_eq!(r.status, 401, "{case}");
        assert_eq!(
            serde_json::from_str::<Value>(&r.body).unwrap(),
            ory401,
            "{case}"
        );
    };
    let rs = idp.token("rs256", "read");
    assert_eq!(get(&envoy, "/headers", &rs).status, 200);
    // Oathkeeper compares the scheme case-insensitively.
    let r = envoy.send(
        "GET",
        HOST,
        "/headers",
        &[("Authorization", &format!("bearer {rs}"))],
        "",
    );
    assert_eq!(r.status, 200);
    denied(envoy.get(HOST, "/headers"), "no token");
    denied(get(&envoy, "/headers", "opaque-token"), "not a JWT");
    // Default allowed_algorithms is RS256 only.
    denied(
        get(&envoy, "/headers", &idp.token("es256", "read")),
        "ES256 not allowed",
    );
    assert_eq!(
        get(&envoy, "/anything/es", &idp.token("es256", "read")).status,
        200
    );
    denied(
        get(&envoy, "/anything/es", &idp.token("eddsa", "read")),
        "EdDSA not supported by Oathkeeper",
    );
    // Scopes and audiences: every failure is 401 for the jwt authenticator.
    assert_eq!(get(&envoy, "/anything/scoped", &rs).status, 200);
    denied(
        get(&envoy, "/anything/scoped", &idp.token("rs256", "write")),
        "missing scope",
    );
    denied(
        get(&envoy, "/anything/scoped", &idp.token("ps256", "read")),
        "PS256 not allowed",
    );
    assert_eq!(
        get(&envoy, "/anything/wild", &idp.token("rs256", "read write")).status,
        200
    );
    denied(get(&envoy, "/anything/wild", &rs), "exact strategy");
    // Zero leeway: expired by a few seconds is refused (Istio would accept within 60 s).
    let now = now_s();
    let late = idp.sign(
        "RS256",
        json!({}),
        json!({"iss": idp.issuer(), "exp": now - 5}),
    );
    denied(get(&envoy, "/headers", &late), "expired, no leeway");
    let future_iat = idp.sign(
        "RS256",
        json!({}),
        json!({"iss": idp.issuer(), "iat": now + 30}),
    );
    denied(get(&envoy, "/headers", &future_iat), "iat in the future");
    let no_kid = idp.sign("RS256", json!({"kid": ""}), json!({"iss": idp.issuer()}));
    denied(get(&envoy, "/headers", &no_kid), "kid required");
    // token_from.
    assert_eq!(
        envoy
            .send("GET", HOST, "/anything/header", &[("X-Token", &rs)], "")
            .status,
        200
    );
    denied(
        get(&envoy, "/anything/header", &rs),
        "token in Authorization, rule reads X-Token",
    );
    assert_eq!(
        envoy
            .get(HOST, &format!("/anything/query?token={rs}"))
            .status,
        200
    );
    assert_eq!(
        envoy
            .send(
                "GET",
                HOST,
                "/anything/cookie",
                &[("Cookie", &format!("a=b; session={rs}"))],
                ""
            )
            .status,
        200
    );
}

#[test]
fn key_rotation_and_unreachable_jwks() {
    let mut idp = Idp::start(300);
    let upstream = Upstream::start();
    let dead = free_port();
    let broken = json!({
        "apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
        "metadata": {"name": "broken", "namespace": "test"},
        "spec": {"hosts": ["broken"], "gateway": "kyma-system/kyma-gateway",
                 "service": {"name": "httpbin", "port": 8000},
                 "rules": [{"path": "/headers", "methods": ["GET"],
                            "jwt": {"authentications": [{"issuer": idp.issuer(),
                                                         "jwksUri": format!("http://127.0.0.1:{dead}/jwks")}]}}]}
    });
    let cfg = json!({"jwks": {"minRefetchInterval": "500ms", "refreshInterval": "300s", "retryInterval": "200ms", "maxWait": "2s"}});
    let mut clusters = json!({});
    clusters[idp.issuer()] = json!("idp");
    // The dead origin maps to the idp cluster name of another port: nothing listens there.
    clusters[format!("http://127.0.0.1:{dead}")] = json!("httpbin-dead");
    let mut cfg_full: Value =
        serde_json::from_str(&plugin(&idp, &[istio_rules(&idp), broken], cfg)).unwrap();
    cfg_full["clusters"] = clusters;
    let envoy = Envoy::start_with(
        &upstream,
        &cfg_full.to_string(),
        EnvoyOptions {
            idp_port: idp.port,
            ..Default::default()
        },
    );

    let old = idp.token("rs256", "read");
    assert_eq!(get(&envoy, "/headers", &old).status, 200);

    // Rotate: the provider restarts on new keys. New tokens are accepted at once (one refetch
    // on their unknown kid), on both workers, with no failure in between.
    idp.restart(true);
    for i in 0..20 {
        let fresh = idp.token(if i % 2 == 0 { "rs256" } else { "es256" }, "read");
        let r = get(&envoy, "/headers", &fresh);
        assert_eq!(r.status, 200, "request {i} after rotation: {r:?}");
    }
    // The old key is no longer published: its tokens are refused now.
    assert_eq!(get(&envoy, "/headers", &old).status, 401);

    // An unreachable JWKS never lets a token through, never hangs past maxWait, and the rest keeps
    // serving.
    let started = std::time::Instant::now();
    let r = envoy.send(
        "GET",
        "broken.local.kyma.dev",
        "/headers",
        &[("Authorization", &bearer(&idp.token("rs256", "read")))],
        "",
    );
    // Istio's answer: istiod inlines a fake key set (one key, kid "abc") for a JWKS it cannot
    // fetch; the provider's tokens name another kid. The filter counts the real reason.
    assert_eq!(
        (r.status, r.body.as_str()),
        (401, "Jwks doesn't have key to match kid or alg from Jwt")
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(
        envoy.metric_when(
            "apirule_requests_denied_keys_unavailable",
            std::time::Duration::from_secs(2),
            |n| n >= 1
        ) >= 1
    );
    let log = envoy.log();
    assert!(
        log.contains("cannot fetch JWKS http://127.0.0.1:"),
        "the log keeps the reason: {log}"
    );
    assert_eq!(
        get(&envoy, "/headers", &idp.token("rs256", "read")).status,
        200
    );

    // The provider goes away: the last good keys keep serving.
    let t = idp.token("es256", "read");
    idp.stop();
    assert_eq!(get(&envoy, "/headers", &t).status, 200);
    let log = envoy.log();
    assert!(!log.contains("panicked"), "{log}");
}
