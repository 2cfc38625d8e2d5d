//! A JWKS endpoint that fails in every way it can, through the real Envoy: the filter must deny
//! with Envoy's status and message, never accept a token, never panic, and recover by itself once
//! the endpoint is healthy again. Also: the upstream service down.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const HOST: &str = "faults.local.kyma.dev";

#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(u8)]
enum Mode {
    Healthy,
    Status500,
    InvalidJson,
    /// An 8 MiB document.
    Huge,
    /// Answers after 3 s, past the 500 ms fetch timeout.
    Slow,
    /// Accepts and closes the connection.
    Down,
}

const MODES: [Mode; 6] = [
    Mode::Healthy,
    Mode::Status500,
    Mode::InvalidJson,
    Mode::Huge,
    Mode::Slow,
    Mode::Down,
];

/// A JWKS endpoint on loopback whose behaviour the test switches; it serves the IdP's real keys
/// when healthy. Its threads end with the test process.
struct FaultyJwks {
    port: u16,
    mode: Arc<AtomicU8>,
}

impl FaultyJwks {
    fn start(jwks: String, mode: Mode) -> FaultyJwks {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(AtomicU8::new(mode as u8));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mode = MODES[shared.load(Ordering::SeqCst) as usize];
                let jwks = jwks.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                    let _ = stream.read(&mut buf);
                    let (status, body) = match mode {
                        Mode::Healthy => ("200 OK", jwks),
                        Mode::Status500 => ("500 Internal Server Error", "oops".into()),
                        Mode::InvalidJson => ("200 OK", "{\"keys\": [".into()),
                        Mode::Huge => (
                            "200 OK",
                            format!("{{\"keys\": [], \"pad\": \"{}\"}}", "x".repeat(8 << 20)),
                        ),
                        Mode::Slow => {
                            std::thread::sleep(Duration::from_secs(3));
                            ("200 OK", jwks)
                        }
                        Mode::Down => return,
                    };
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
        FaultyJwks { port, mode: state }
    }

    fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }
}

/// Envoy with the filter and one jwt rule on `/headers` whose keys come from `jwks`, fetched
/// with the `jwks` settings `policy`.
fn envoy_with_faulty_jwks(
    idp: &Idp,
    upstream: &Upstream,
    jwks: &FaultyJwks,
    policy: serde_json::Value,
) -> Envoy {
    let origin = format!("http://127.0.0.1:{}", jwks.port);
    let cfg = json!({
        "clusters": {origin.clone(): "idp"},
        "jwks": policy,
        "apiRules": [{
            "apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
            "metadata": {"name": "faults", "namespace": "test"},
            "spec": {"hosts": [HOST], "gateway": "kyma-system/kyma-gateway",
                     "service": {"name": "httpbin", "port": 8000},
                     "rules": [{"path": "/headers", "methods": ["GET"],
                                "jwt": {"authentications": [{"issuer": idp.issuer(),
                                                             "jwksUri": format!("{origin}/jwks")}]}}]}
        }]
    });
    Envoy::start_with(
        upstream,
        &cfg.to_string(),
        EnvoyOptions {
            idp_port: jwks.port,
            ..Default::default()
        },
    )
}

#[test]
fn jwks_faults_deny_and_recover() {
    let idp = Idp::start(3600);
    let upstream = Upstream::start();
    let keys = try_request(idp.port, "GET", "127.0.0.1", "/jwks", &[], "").unwrap();
    assert_eq!(keys.status, 200);
    let token = idp.token("rs256", "read");
    let forged = forge_signature(&token);

    for mode in [
        Mode::Status500,
        Mode::InvalidJson,
        Mode::Huge,
        Mode::Slow,
        Mode::Down,
    ] {
        let jwks = FaultyJwks::start(keys.body.clone(), mode);
        let jwks_policy = json!({"retryInterval": "200ms", "fetchTimeout": "500ms", "maxWait": "1s",
                                 "minRefetchInterval": "500ms"});
        let envoy = envoy_with_faulty_jwks(&idp, &upstream, &jwks, jwks_policy);
        let get = |t: &str| {
            envoy.send(
                "GET",
                HOST,
                "/headers",
                &[("Authorization", &format!("Bearer {t}"))],
                "",
            )
        };

        // Broken keys: what Istio answers (istiod inlines a fake key set, kid "abc", and the
        // provider's tokens name another kid), bounded in time, for the valid and the forged
        // token alike.
        for t in [&token, &forged] {
            let started = Instant::now();
            let r = get(t);
            assert_eq!(r.status, 401, "{mode:?}: {}", r.body);
            assert_eq!(
                r.body, "Jwks doesn't have key to match kid or alg from Jwt",
                "{mode:?}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(4),
                "{mode:?}: took {:?}",
                started.elapsed()
            );
        }

        // Healthy again: the retry picks the keys up without a restart.
        jwks.set(Mode::Healthy);
        let deadline = Instant::now() + Duration::from_secs(8);
        loop {
            let r = get(&token);
            if r.status == 200 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{mode:?}: no recovery: {} {}",
                r.status,
                r.body
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let r = get(&forged);
        assert_eq!(r.status, 401, "{mode:?}: forged token after recovery");
        assert_eq!(r.body, "Jwt verification fails");

        let log = envoy.proc.log_text();
        assert!(!log.contains("panicked"), "{mode:?}: wasm panic");
    }
}

#[test]
fn upstream_down_is_envoys_503_and_auth_still_runs_first() {
    // An upstream that is not there: a port nothing listens on.
    let envoy = Envoy::try_start(
        free_port(),
        &shipped_plugin_config(),
        EnvoyOptions::default(),
    )
    .unwrap();
    let r = envoy.get("httpbin.local.kyma.dev", "/headers");
    assert_eq!(r.status, 503, "{}", r.body);
    // A protected rule still refuses before any upstream is tried.
    let r = envoy.get("httpbin.local.kyma.dev", "/anything/admin/x");
    assert_eq!(r.status, 403);
}

#[test]
fn introspection_faults_fail_closed_and_recover() {
    let upstream = Upstream::start();
    let active =
        json!({"active": true, "scope": "read", "sub": "user", "client_id": "c"}).to_string();
    let endpoint = FaultyJwks::start(active, Mode::Status500);
    let origin = format!("http://127.0.0.1:{}", endpoint.port);
    let cfg = json!({
        "clusters": {origin.clone(): "idp"},
        "apiRules": [{
            "apiVersion": "gateway.kyma-project.io/v1beta1", "kind": "APIRule",
            "metadata": {"name": "intro-faults", "namespace": "test"},
            "spec": {"host": HOST, "gateway": "kyma-system/kyma-gateway",
                     "service": {"name": "httpbin", "port": 8000},
                     "rules": [{"path": "/headers", "methods": ["GET"], "accessStrategies": [{
                        "handler": "oauth2_introspection",
                        "config": {"introspection_url": format!("{origin}/introspect"),
                                   "required_scope": ["read"],
                                   "retry": {"give_up_after": "500ms"}}}]}]}
        }]
    });
    let envoy = Envoy::start_with(
        &upstream,
        &cfg.to_string(),
        EnvoyOptions {
            idp_port: endpoint.port,
            ..Default::default()
        },
    );
    let get = || {
        envoy.send(
            "GET",
            HOST,
            "/headers",
            &[("Authorization", "Bearer opaque-token")],
            "",
        )
    };
    // Oathkeeper answers an introspection endpoint it cannot use with 500; the 8 MiB document is
    // valid JSON without `active: true`, so the token is not active: 401. Never a pass.
    for (mode, status) in [
        (Mode::Status500, 500),
        (Mode::InvalidJson, 500),
        (Mode::Huge, 401),
        (Mode::Slow, 500),
        (Mode::Down, 500),
    ] {
        endpoint.set(mode);
        let r = get();
        assert_eq!(r.status, status, "{mode:?}: {}", r.body);
        assert!(
            r.body.contains(&format!("\"code\":{status}")),
            "{mode:?}: {}",
            r.body
        );
    }
    endpoint.set(Mode::Healthy);
    let r = get();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!envoy.proc.log_text().contains("panicked"));
}

#[test]
fn keys_rotated_during_load() {
    let mut idp = Idp::start(3600);
    let upstream = Upstream::start();
    let cfg = json!({
        "clusters": {idp.issuer(): "idp"},
        "apiRules": [{
            "apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
            "metadata": {"name": "rotation", "namespace": "test"},
            "spec": {"hosts": [HOST], "gateway": "kyma-system/kyma-gateway",
                     "service": {"name": "httpbin", "port": 8000},
                     "rules": [{"path": "/headers", "methods": ["GET"],
                                "jwt": {"authentications": [{"issuer": idp.issuer(), "jwksUri": idp.jwks_uri()}]}}]}
        }]
    });
    let envoy = Arc::new(Envoy::start_with(
        &upstream,
        &cfg.to_string(),
        EnvoyOptions {
            idp_port: idp.port,
            ..Default::default()
        },
    ));
    fn get(envoy: &Envoy, t: &str) -> u16 {
        envoy
            .send(
                "GET",
                HOST,
                "/headers",
                &[("Authorization", &format!("Bearer {t}"))],
                "",
            )
            .status
    }
    let old = idp.token("rs256", "read");
    assert_eq!(get(&envoy, &old), 200);

    // Four clients keep sending the old token while the provider rotates its keys.
    let stop = Arc::new(AtomicU8::new(0));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (envoy, stop, old) = (Arc::clone(&envoy), Arc::clone(&stop), old.clone());
            std::thread::spawn(move || {
                let mut seen = std::collections::BTreeMap::<u16, u64>::new();
                while stop.load(Ordering::SeqCst) == 0 {
                    *seen.entry(get(&envoy, &old)).or_default() += 1;
                }
                seen
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    idp.restart(true);
    // Tokens from the new keys are accepted at once, on both workers, under that load.
    for i in 0..20 {
        let fresh = idp.token(if i % 2 == 0 { "rs256" } else { "es256" }, "read");
        assert_eq!(get(&envoy, &fresh), 200, "fresh token {i} during load");
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(1, Ordering::SeqCst);
    let mut seen = std::collections::BTreeMap::<u16, u64>::new();
    for t in load {
        for (status, n) in t.join().unwrap() {
            *seen.entry(status).or_default() += n;
        }
    }
    // The old token works until the refetch drops its key, then 401; nothing else, ever.
    assert!(
        seen.keys().all(|s| *s == 200 || *s == 401),
        "statuses under load: {seen:?}"
    );
    assert!(seen.get(&200).copied().unwrap_or(0) > 0, "{seen:?}");
    assert_eq!(get(&envoy, &old), 401, "old key still accepted");
    assert!(!envoy.proc.log_text().contains("panicked"));
    println!("statuses of the old token under load: {seen:?}");
}

/// A request parked while the keys are fetched, whose client leaves before they arrive, is
/// forgotten when Envoy deletes its stream: when the keys come, it is neither resumed nor
/// counted, and the filter goes on serving. (The filter forgets it when the SDK drops the
/// stream's context, since it no longer exports `proxy_on_log`; a context never dropped, or a
/// request never forgotten, would be counted as allowed when the keys arrive.)
#[test]
fn a_parked_request_whose_client_left_is_forgotten() {
    let idp = Idp::start(3600);
    let upstream = Upstream::start();
    let keys = try_request(idp.port, "GET", "127.0.0.1", "/jwks", &[], "").unwrap();
    let token = idp.token("rs256", "read");
    // Every fetch answers after 3 s; the filter waits up to 10 s for it.
    let jwks = FaultyJwks::start(keys.body.clone(), Mode::Slow);
    let envoy = envoy_with_faulty_jwks(
        &idp,
        &upstream,
        &jwks,
        json!({"fetchTimeout": "10s", "maxWait": "10s"}),
    );
    let started = Instant::now();
    {
        let mut client = std::net::TcpStream::connect(("127.0.0.1", envoy.port)).unwrap();
        write!(
            client,
            "GET /headers HTTP/1.1\r\nhost: {HOST}\r\nauthorization: Bearer {token}\r\n\r\n"
        )
        .unwrap();
        // Parked: no answer while the keys are on their way.
        client
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut buf = [0u8; 64];
        assert!(
            client.read(&mut buf).is_err(),
            "answered before the keys came"
        );
    } // the client leaves
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the keys may have come already"
    );
    let r = envoy.send(
        "GET",
        HOST,
        "/headers",
        &[("Authorization", &format!("Bearer {token}"))],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // Counters are flushed on the filter's tick: only the request that stayed is counted.
    let allowed = envoy.metric_when("apirule_requests_allowed", Duration::from_secs(3), |n| {
        n >= 2
    });
    assert_eq!(allowed, 1, "the abandoned request was resumed or counted");
    assert!(!envoy.log().contains("panicked"));
}
