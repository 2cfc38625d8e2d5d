//! CORS as Envoy's CORS filter applies a Kyma VirtualService `corsPolicy`:
//!
//! - a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) from an allowed
//!   origin is answered here with 200 and the policy, before any authentication (the gateway
//!   answers it; the workload's policies never see it);
//! - other requests from an allowed origin get `Access-Control-Allow-Origin` (the origin),
//!   `-Allow-Credentials` and `-Expose-Headers` on the response;
//! - a disallowed origin gets no CORS header at all;
//! - v2, and v1beta1 with an explicit policy, remove the upstream's own CORS headers.

use crate::config::model::{Cors, CorsPolicy, OriginMatch};
use crate::request::Request;
use crate::response::{Deny, DenyReason};

pub const UPSTREAM_CORS_HEADERS: [&str; 6] = [
    "access-control-allow-origin",
    "access-control-expose-headers",
    "access-control-allow-headers",
    "access-control-allow-credentials",
    "access-control-allow-methods",
    "access-control-max-age",
];

#[derive(Debug, Default)]
pub struct CompiledCors {
    policy: Option<Compiled>,
    strip_upstream: bool,
    /// The routes remove them instead (`routesSetUpstreamHeaders`).
    stripped_by_routes: bool,
}

#[derive(Debug)]
struct Compiled {
    origins: Vec<Origin>,
    methods: String,
    headers: String,
    expose: String,
    credentials: bool,
    max_age: Option<String>,
}

#[derive(Debug)]
enum Origin {
    Exact(String),
    Prefix(String),
    Regex(regex_lite::Regex),
}

/// Response header edits for an allowed request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ResponseEdits {
    pub strip_upstream_cors: bool,
    pub set: crate::response::Headers,
}

impl ResponseEdits {
    pub fn is_empty(&self) -> bool {
        !self.strip_upstream_cors && self.set.is_empty()
    }
}

impl CompiledCors {
    /// `by_routes`: the routes remove the upstream's CORS headers (`routesSetUpstreamHeaders`,
    /// as Kyma's VirtualService does), so the filter leaves them.
    pub fn compile(cors: &Cors, by_routes: bool) -> Result<CompiledCors, String> {
        let stripped_by_routes = cors.strips_upstream() && by_routes;
        let policy = match cors {
            Cors::None | Cors::Passthrough => None,
            Cors::V1beta1Default => Some(CorsPolicy::v1beta1_default()),
            Cors::Policy(p) => Some(p.clone()),
        };
        let policy = match policy {
            None => None,
            Some(p) => Some(Compiled {
                origins: p
                    .allow_origins
                    .iter()
                    .map(|o| match o {
                        OriginMatch::Exact(s) => Ok(Origin::Exact(s.clone())),
                        OriginMatch::Prefix(s) => Ok(Origin::Prefix(s.clone())),
                        OriginMatch::Regex(r) => regex_lite::Regex::new(&format!("^(?:{r})$"))
                            .map(Origin::Regex)
                            .map_err(|e| format!("corsPolicy.allowOrigins regex {r:?}: {e}")),
                    })
                    .collect::<Result<_, String>>()?,
                methods: p.allow_methods.join(","),
                headers: p.allow_headers.join(","),
                expose: p.expose_headers.join(","),
                credentials: p.allow_credentials == Some(true),
                max_age: p.max_age_s.map(|s| s.to_string()),
            }),
        };
        Ok(CompiledCors {
            policy,
            strip_upstream: cors.strips_upstream() && !by_routes,
            stripped_by_routes,
        })
    }

    fn allowed<'r>(&self, req: &Request<'r>) -> Option<(&Compiled, &'r str)> {
        let p = self.policy.as_ref()?;
        let origin = crate::request::header_values(req.headers, "origin").next()?;
        // An Origin that was not UTF-8 is no origin: echoing it would send other bytes back.
        if req.non_utf8.iter().any(|b| b == "origin") {
            return None;
        }
        let ok = p.origins.iter().any(|o| match o {
            Origin::Exact(s) => s == origin,
            Origin::Prefix(s) => origin.starts_with(s.as_str()),
            Origin::Regex(r) => r.is_match(origin),
        });
        ok.then_some((p, origin))
    }

    /// The routes remove the upstream's CORS headers, not the filter.
    pub fn stripped_by_routes(&self) -> bool {
        self.stripped_by_routes
    }

    /// Needs the request headers (`Origin`) to decide?
    pub fn active(&self) -> bool {
        self.policy.is_some()
    }

    /// The answer to a preflight from an allowed origin.
    pub fn preflight(&self, req: &Request<'_>) -> Option<Deny> {
        if req.method != "OPTIONS"
            || crate::request::header_values(req.headers, "access-control-request-method")
                .next()
                .is_none()
        {
            return None;
        }
        let (p, origin) = self.allowed(req)?;
        let mut headers: crate::response::Headers =
            vec![("access-control-allow-origin".into(), origin.to_owned())];
        for (name, value) in [
            ("access-control-allow-methods", &p.methods),
            ("access-control-allow-headers", &p.headers),
            ("access-control-expose-headers", &p.expose),
        ] {
            if !value.is_empty() {
                headers.push((name.into(), value.clone()));
            }
        }
        if let Some(age) = &p.max_age {
            headers.push(("access-control-max-age".into(), age.clone()));
        }
        if p.credentials {
            headers.push(("access-control-allow-credentials".into(), "true".into()));
        }
        Some(Deny {
            status: 200,
            headers,
            body: String::new(),
            reason: DenyReason::CorsPreflight,
        })
    }

    /// What to change on the response of an allowed request.
    pub fn response_edits(&self, req: &Request<'_>) -> ResponseEdits {
        let mut edits = ResponseEdits {
            strip_upstream_cors: self.strip_upstream,
            set: Vec::new(),
        };
        if let Some((p, origin)) = self.allowed(req) {
            edits
                .set
                .push(("access-control-allow-origin".into(), origin.to_owned()));
            if p.credentials {
                edits
                    .set
                    .push(("access-control-allow-credentials".into(), "true".into()));
            }
            if !p.expose.is_empty() {
                edits
                    .set
                    .push(("access-control-expose-headers".into(), p.expose.clone()));
            }
        }
        edits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(method: &'a str, headers: &'a crate::request::HeaderList) -> Request<'a> {
        Request {
            authority: "a",
            method,
            path: "/",
            scheme: "http",
            headers,
            non_utf8: &[],
            remote_address: "",
            protocol: "",
            sent_upstream_timeout: false,
        }
    }

    use crate::test_headers as h;

    #[test]
    fn kyma_e2e_policy() {
        // tests/e2e/tests/cors: regex .*local.kyma.dev, GET,POST, custom headers, maxAge 300.
        let cors = CompiledCors::compile(
            &Cors::Policy(CorsPolicy {
                allow_origins: vec![OriginMatch::Regex(".*local.kyma.dev".into())],
                allow_methods: vec!["GET".into(), "POST".into()],
                allow_headers: vec!["x-custom-allow-headers".into()],
                expose_headers: vec!["x-custom-expose-headers".into()],
                allow_credentials: Some(false),
                max_age_s: Some(300),
            }),
            false,
        )
        .unwrap_or_default();
        let pre = h(&[
            ("origin", "test.local.kyma.dev"),
            ("access-control-request-method", "GET"),
        ]);
        let d = cors.preflight(&req("OPTIONS", &pre));
        let d = d.map(|d| d.headers).unwrap_or_default();
        assert!(d.contains(&(
            "access-control-allow-origin".into(),
            "test.local.kyma.dev".into()
        )));
        assert!(d.contains(&("access-control-allow-methods".into(), "GET,POST".into())));
        assert!(d.contains(&("access-control-max-age".into(), "300".into())));
        let other = h(&[
            ("origin", "localhost"),
            ("access-control-request-method", "GET"),
        ]);
        assert!(
            cors.preflight(&req("OPTIONS", &other)).is_none(),
            "disallowed: passes on, no CORS"
        );
        let e = cors.response_edits(&req("GET", &other));
        assert!(e.set.is_empty() && e.strip_upstream_cors);
    }

    #[test]
    fn modes() {
        let none = CompiledCors::compile(&Cors::None, false).unwrap_or_default();
        let any = h(&[("origin", "x"), ("access-control-request-method", "GET")]);
        assert!(none.preflight(&req("OPTIONS", &any)).is_none());
        assert!(none.response_edits(&req("GET", &any)).strip_upstream_cors);
        let default = CompiledCors::compile(&Cors::V1beta1Default, false).unwrap_or_default();
        let d = default
            .preflight(&req("OPTIONS", &any))
            .map(|d| d.headers)
            .unwrap_or_default();
        assert!(d.contains(&(
            "access-control-allow-methods".into(),
            "GET,POST,PUT,DELETE,PATCH".into()
        )));
        assert!(d.contains(&(
            "access-control-allow-headers".into(),
            "Authorization,Content-Type,*".into()
        )));
        assert!(
            !default
                .response_edits(&req("GET", &any))
                .strip_upstream_cors,
            "v1beta1 default keeps upstream"
        );
    }

    /// Where the routes remove the upstream's CORS headers the filter never does, and what it
    /// sets on the response is the same.
    #[test]
    fn routes_remove_the_upstream_headers_instead_of_the_filter() {
        let policy = Cors::Policy(CorsPolicy {
            allow_origins: vec![OriginMatch::Exact("https://a.example".into())],
            allow_credentials: Some(true),
            ..CorsPolicy::default()
        });
        let origins = [
            h(&[]),
            h(&[("origin", "https://a.example")]),
            h(&[("origin", "https://b.example")]),
        ];
        for cors in [Cors::None, Cors::V1beta1Default, policy, Cors::Passthrough] {
            let (filter, routes) = (
                CompiledCors::compile(&cors, false).unwrap_or_default(),
                CompiledCors::compile(&cors, true).unwrap_or_default(),
            );
            for headers in &origins {
                let (a, b) = (
                    filter.response_edits(&req("GET", headers)),
                    routes.response_edits(&req("GET", headers)),
                );
                assert_eq!(a.strip_upstream_cors, cors.strips_upstream(), "{cors:?}");
                assert!(!b.strip_upstream_cors, "{cors:?}");
                assert_eq!(routes.stripped_by_routes(), cors.strips_upstream());
                assert!(!filter.stripped_by_routes());
                assert_eq!(a.set, b.set, "{cors:?}");
            }
        }
    }
}
