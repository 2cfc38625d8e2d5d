//! Attempts to reach a protected rule without credentials through the real Envoy, with the
//! shipped configuration: `/anything/admin/{**}` needs a JWT with the `admin` scope, while
//! `/anything/{**}` next to it is public. No trick may turn into a 200 from the protected rule.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

const HOST: &str = "httpbin.local.kyma.dev";

#[test]
fn no_path_or_host_trick_reaches_a_protected_rule() {
    let upstream = Upstream::start();
    let envoy = Envoy::start(&upstream, &shipped_plugin_config());
    // Without a token, Kyma's v2 jwt rule answers 403 (RBAC), with a bad one 401.
    assert_eq!(envoy.get(HOST, "/anything/admin/users").status, 403);
    assert_eq!(envoy.get(HOST, "/anything/public").status, 200);

    // Envoy normalises these onto the protected rule, which then refuses them.
    for path in [
        "/anything/public/../admin/users",
        "/anything/./admin/users",
        "//anything/admin/users",
        "/anything//admin/users",
        "/anything%2Fadmin%2Fusers",
        "/anything%2fadmin/users",
        "/anything/public/%2e%2e/admin/users",
        "/anything/public/%2E%2E/admin/users",
        "/anything/admin/users?x=/../public",
        "/anything/admin/users#/../public",
        "/anything/public\\..\\admin/users",
        "/anything/public/..%5Cadmin/users",
    ] {
        let r = envoy.get(HOST, path);
        assert!(
            matches!(r.status, 400 | 403),
            "{path}: {} {}",
            r.status,
            r.body
        );
    }

    // What normalisation leaves ambiguous the filter refuses before any rule.
    for path in [
        "/anything/admin;a=b/users",
        "/anything/admin/users;jsessionid=1",
        "/anything/admin%00/users",
    ] {
        let r = envoy.get(HOST, path);
        assert_eq!(r.status, 400, "{path}: {} {}", r.status, r.body);
    }

    // Case, a trailing dot, a port, the absolute form: never the public rule for an admin path.
    for (host, path) in [
        (HOST, "/ANYTHING/admin/users"),
        ("httpbin.local.kyma.dev.", "/anything/admin/users"),
        ("httpbin.local.kyma.dev:80", "/anything/admin/users"),
        (HOST, "http://httpbin.local.kyma.dev/anything/admin/users"),
        (
            "evil.example",
            "http://httpbin.local.kyma.dev/anything/admin/users",
        ),
    ] {
        let r = envoy.get(host, path);
        assert_ne!(r.status, 200, "{host} {path}: {}", r.body);
    }

    // Paths are case-sensitive, as in Envoy and Kyma: `/anything/ADMIN` is another resource, the
    // public rule's, and the service is asked for exactly that path (README: Path normalisation).
    let r = envoy.get(HOST, "/anything/ADMIN/users");
    assert_eq!(r.status, 200);
    let url: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert!(url["url"]
        .as_str()
        .unwrap()
        .ends_with("/anything/ADMIN/users"));

    // A method override header never reaches the service.
    let r = envoy.send(
        "GET",
        HOST,
        "/anything/public",
        &[
            ("X-HTTP-Method-Override", "DELETE"),
            ("X-HTTP-Method", "DELETE"),
            ("X-Method-Override", "DELETE"),
        ],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    for h in [
        "X-Http-Method-Override",
        "X-Http-Method",
        "X-Method-Override",
    ] {
        assert_eq!(r.upstream_header(h), None, "{h} reached the upstream");
    }

    // Oversized, repeated and folded headers are refused by Envoy or the filter, never passed.
    let big = "a".repeat(100 * 1024);
    let r = envoy.send("GET", HOST, "/anything/admin/users", &[("X-Big", &big)], "");
    assert_ne!(r.status, 200);
    let r = envoy.send(
        "GET",
        HOST,
        "/anything/admin/users",
        &[
            ("Authorization", "Bearer a.b.c"),
            ("Authorization", "Bearer d.e.f"),
        ],
        "",
    );
    assert_eq!(r.status, 401, "{}", r.body);
    let r = envoy.send(
        "GET",
        HOST,
        "/anything/admin/users",
        &[("X-Folded", "a\r\n Authorization: Bearer x")],
        "",
    );
    assert_ne!(r.status, 200, "obs-fold: {}", r.body);

    // Still serving after all of it.
    assert_eq!(envoy.get(HOST, "/headers").status, 200);
    let log = envoy.proc.log_text();
    assert!(!log.contains("panicked"), "wasm panic in Envoy's log");
}
