//! Deny responses in the shapes clients of Kyma already handle: Envoy/Istio for v2 rules,
//! Ory Oathkeeper's JSON error for v1beta1 rules.

use std::borrow::Cow;

use crate::jwt::jws::JwtError;
use crate::request::Request;

/// Why a request was refused; also the label of the deny metric and log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// No APIRule host, or no rule whose path and method match.
    NoRoute,
    /// The rule's access strategy is not enforced by this build: refused, never passed.
    Unsupported,
    /// No credential where the rule reads one.
    NoToken,
    /// A credential that fails verification (format, issuer, time, signature).
    InvalidToken,
    /// A valid credential without the scopes or audiences the rule requires.
    Forbidden,
    /// The keys needed to verify could not be fetched in time.
    KeysUnavailable,
    /// The introspection endpoint failed or answered something unreadable.
    IntrospectionFailed,
    /// A mutator could not render its value.
    MutatorFailed,
    /// Not a denial: a CORS preflight answered by the gateway.
    CorsPreflight,
    /// A path the service could read differently from the gateway (see `matcher::canonical`).
    AmbiguousPath,
    /// An external authorizer said no; its answer is the response.
    ExtAuthDenied,
    /// An external authorizer did not answer, timed out or failed (5xx).
    ExtAuthFailed,
    /// The request's rate-limit bucket is empty.
    RateLimited,
    /// The request line or a header name is not text: nothing can be decided on it.
    BadRequest,
    /// The filter could not do its work (host refused a call, state in use): fail closed.
    Internal,
}

impl DenyReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DenyReason::NoRoute => "no_route",
            DenyReason::Unsupported => "unsupported_strategy",
            DenyReason::NoToken => "no_token",
            DenyReason::InvalidToken => "invalid_token",
            DenyReason::Forbidden => "forbidden",
            DenyReason::KeysUnavailable => "keys_unavailable",
            DenyReason::IntrospectionFailed => "introspection_failed",
            DenyReason::MutatorFailed => "mutator_failed",
            DenyReason::CorsPreflight => "cors_preflight",
            DenyReason::AmbiguousPath => "ambiguous_path",
            DenyReason::ExtAuthDenied => "ext_authz_denied",
            DenyReason::ExtAuthFailed => "ext_authz_failed",
            DenyReason::RateLimited => "rate_limited",
            DenyReason::BadRequest => "bad_request",
            DenyReason::Internal => "internal_error",
        }
    }
}

/// Response headers: mostly fixed names, some (an authorizer's) read at run time.
pub type Headers = Vec<(Cow<'static, str>, String)>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deny {
    pub status: u32,
    pub headers: Headers,
    pub body: String,
    pub reason: DenyReason,
}

/// Which product's error shape a rule answers with.
/// Whose answers a rule gives: Ory-era rules (v1beta1 behind Oathkeeper) answer as Oathkeeper
/// does, the rest as Envoy and Istio do.
pub fn flavor(source: crate::config::model::Source) -> Flavor {
    if source.is_ory_era() {
        Flavor::Ory
    } else {
        Flavor::Istio
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Istio,
    Ory,
}

impl Deny {
    /// Envoy's answer when no route matches: 404, empty body.
    pub fn no_route() -> Deny {
        Deny {
            status: 404,
            headers: Vec::new(),
            body: String::new(),
            reason: DenyReason::NoRoute,
        }
    }

    /// Envoy's answer to a path it cannot normalise: 400, empty body.
    pub fn ambiguous_path() -> Deny {
        Deny {
            status: 400,
            headers: Vec::new(),
            body: String::new(),
            reason: DenyReason::AmbiguousPath,
        }
    }

    /// The filter cannot do what the rule asks (a header it would write is invalid).
    pub fn internal(reason: DenyReason) -> Deny {
        Deny {
            status: 500,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: "Internal Server Error".into(),
            reason,
        }
    }

    /// 400 before any rule: `:authority`, `:method`, `:path` or a header name is not UTF-8.
    pub fn bad_request() -> Deny {
        Deny {
            status: 400,
            headers: Vec::new(),
            body: String::new(),
            reason: DenyReason::BadRequest,
        }
    }

    pub fn unauthorized(flavor: Flavor, reason: DenyReason) -> Deny {
        match flavor {
            Flavor::Ory => ory(401, reason),
            Flavor::Istio => Deny {
                status: 401,
                headers: vec![("content-type".into(), "text/plain".into())],
                body: "Unauthorized".into(),
                reason,
            },
        }
    }
}

impl Deny {
    /// Envoy jwt_authn's 401: the status text as body, and RFC 6750's challenge. The realm is the
    /// request URI without its query (Envoy keeps the query; it may carry the token itself).
    pub fn jwt_invalid(error: JwtError, req: &Request<'_>) -> Deny {
        let path = crate::request::path_without_query(req.path);
        let mut realm = format!(
            "{}://{}{}",
            if req.scheme.is_empty() {
                "http"
            } else {
                req.scheme
            },
            req.authority,
            path
        );
        if realm.len() > 256 {
            let mut cut = 256;
            while !realm.is_char_boundary(cut) {
                cut -= 1;
            }
            realm.truncate(cut);
        }
        let realm = realm.replace('"', "%22");
        let challenge = if error == JwtError::Missing {
            format!("Bearer realm=\"{realm}\"")
        } else {
            format!("Bearer realm=\"{realm}\", error=\"invalid_token\"")
        };
        let reason = match error {
            JwtError::Missing => DenyReason::NoToken,
            JwtError::KeysUnavailable { .. } => DenyReason::KeysUnavailable,
            _ => DenyReason::InvalidToken,
        };
        Deny {
            status: 401,
            headers: vec![
                ("content-type".into(), "text/plain".into()),
                ("www-authenticate".into(), challenge),
            ],
            body: error.to_string(),
            reason,
        }
    }

    /// Envoy's RBAC filter: no ALLOW policy matched (no token, or scopes/audiences missing).
    pub fn rbac() -> Deny {
        Deny {
            status: 403,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: "RBAC: access denied".into(),
            reason: DenyReason::Forbidden,
        }
    }
}

/// Oathkeeper's non-verbose JSON error (herodot): generic message per status, newline-terminated.
pub fn ory(status: u32, reason: DenyReason) -> Deny {
    let (text, message) = match status {
        400 => (
            "Bad Request",
            "The request was malformed or contained invalid parameters",
        ),
        401 => ("Unauthorized", "The request could not be authorized"),
        403 => ("Forbidden", "The requested action was forbidden"),
        404 => ("Not Found", "The requested resource could not be found"),
        _ => (
            "Internal Server Error",
            "An internal server error occurred, please contact the system administrator",
        ),
    };
    let code = if matches!(status, 400 | 401 | 403 | 404) {
        status
    } else {
        500
    };
    Deny {
        status: code,
        headers: vec![("content-type".into(), "application/json".into())],
        body: format!(r#"{{"error":{{"code":{code},"status":"{text}","message":"{message}"}}}}"#)
            + "\n",
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ory_body_is_oathkeepers() {
        let d = ory(401, DenyReason::Unsupported);
        assert_eq!(
            d.body,
            "{\"error\":{\"code\":401,\"status\":\"Unauthorized\",\"message\":\"The request could not be authorized\"}}\n"
        );
        let parsed: serde_json::Value = serde_json::from_str(&d.body).unwrap_or_default();
        assert_eq!(parsed["error"]["code"], 401);
        assert_eq!(ory(502, DenyReason::Unsupported).status, 500);
    }
}
