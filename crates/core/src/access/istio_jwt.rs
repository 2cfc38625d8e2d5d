//! Istio-style JWT (v2 `jwt`, v1beta1 `jwt` with the Istio handler, the legacy `Api`), as a
//! Kyma RequestAuthentication + AuthorizationPolicy pair behaves in Envoy:
//!
//! - tokens come from each authentication's `fromHeaders` / `fromParams`, or by default from
//!   `Authorization: Bearer` and the `access_token` query parameter;
//! - no token: 403 `RBAC: access denied`; more than one: 401 `Found multiple Jwt tokens`;
//! - checks in Envoy's order: format, issuer, time (60 s skew), signature; any failure is 401
//!   with Envoy's message and `WWW-Authenticate: Bearer realm=..., error="invalid_token"`;
//! - then Kyma's authorizations, ORed: all `requiredScopes` in one of `scp`/`scope`/`scopes`
//!   (only `scope` strings are split on spaces, as Istio ≥ 1.21), all `audiences` in `aud`;
//!   otherwise 403 `RBAC: access denied`.
//!
//! The token is forwarded upstream untouched (Kyma sets `forwardOriginalToken: true`).

use std::borrow::Cow;
use std::rc::Rc;

use super::env::{verify_with, AuthEnv, KeyResult, Outcome, Presented};
use crate::config::model::{IstioJwt, JwtAuthorization};
use crate::jwt::claims::Claims;
use crate::jwt::jws::JwtError;
use crate::request::Request;
use crate::request::{header_values, query_values};
use crate::response::Deny;

/// Envoy's default `clock_skew_seconds`.
pub const CLOCK_SKEW_S: u64 = 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Header {
        name: String,
        prefix: Option<String>,
    },
    Param(String),
}

#[derive(Debug, Clone)]
pub struct Authn {
    pub issuer: String,
    pub jwks: usize,
}

#[derive(Debug, Clone)]
pub struct IstioRule {
    pub authns: Vec<Authn>,
    /// Distinct token locations, each with the authentications that read it.
    pub locations: Vec<(Location, Vec<usize>)>,
    pub authorizations: Vec<JwtAuthorization>,
    /// The legacy `Api` (Istio authentication policy) answered a missing token with 401.
    pub missing_is_401: bool,
}

impl IstioRule {
    /// `jwks_id` maps a JWKS URI to the store's id.
    pub fn compile(
        model: &IstioJwt,
        jwks_id: &mut dyn FnMut(&str) -> usize,
        missing_is_401: bool,
    ) -> IstioRule {
        let mut locations: Vec<(Location, Vec<usize>)> = Vec::new();
        let mut add = |loc: Location, i: usize| match locations.iter_mut().find(|(l, _)| *l == loc)
        {
            Some((_, ids)) => ids.push(i),
            None => locations.push((loc, vec![i])),
        };
        let mut authns = Vec::new();
        for (i, a) in model.authentications.iter().enumerate() {
            authns.push(Authn {
                issuer: a.issuer.clone(),
                jwks: jwks_id(&a.jwks_uri),
            });
            if a.from_headers.is_empty() && a.from_params.is_empty() {
                add(
                    Location::Header {
                        name: "authorization".into(),
                        prefix: Some("Bearer ".into()),
                    },
                    i,
                );
                add(Location::Param("access_token".into()), i);
            }
            for h in &a.from_headers {
                add(
                    Location::Header {
                        name: h.name.to_ascii_lowercase(),
                        prefix: h.prefix.clone().filter(|p| !p.is_empty()),
                    },
                    i,
                );
            }
            for p in &a.from_params {
                add(Location::Param(p.clone()), i);
            }
        }
        IstioRule {
            authns,
            locations,
            authorizations: model.authorizations.clone(),
            missing_is_401,
        }
    }

    pub fn check(&self, req: &Request<'_>, env: &mut AuthEnv<'_>) -> Outcome {
        // The one token the request carries, in any location: none is missing, more than one
        // is refused (no list is built: this runs on every request).
        let mut first: Option<(Cow<'_, str>, &[usize])> = None;
        let mut more = false;
        for (loc, ids) in &self.locations {
            extract(loc, req, &mut |token| {
                if first.is_none() {
                    first = Some((token, ids));
                } else {
                    more = true;
                }
            });
        }
        let (token, ids) = match (first, more) {
            (None, _) => return Outcome::Denied(self.missing(req)),
            (Some(found), false) => found,
            (Some(_), true) => {
                return Outcome::Denied(Deny::jwt_invalid(JwtError::MultipleTokens, req))
            }
        };
        match self.verify(&token, ids, env) {
            Ok(claims) => {
                if authorized(&claims, &self.authorizations) {
                    Outcome::Allowed(super::session::Identity::Jwt { claims, ory: false })
                } else {
                    Outcome::Denied(Deny::rbac())
                }
            }
            Err(Step::Pending(ids)) => Outcome::Pending(ids),
            Err(Step::Invalid(e)) => Outcome::Denied(Deny::jwt_invalid(e, req)),
        }
    }

    fn missing(&self, req: &Request<'_>) -> Deny {
        if self.missing_is_401 {
            Deny::jwt_invalid(JwtError::Missing, req)
        } else {
            Deny {
                reason: crate::response::DenyReason::NoToken,
                ..Deny::rbac()
            }
        }
    }

    fn verify(
        &self,
        token: &str,
        ids: &[usize],
        env: &mut AuthEnv<'_>,
    ) -> Result<Rc<Claims>, Step> {
        let now_s = env.now_ms / 1000;
        let mut token = Presented::parse(token, env.cache).map_err(Step::Invalid)?;
        let claims = Rc::clone(&token.claims);
        // The authentications of this token's issuer (no allocation: two passes).
        let issuers = || {
            ids.iter()
                .filter_map(|i| self.authns.get(*i))
                .filter(|a| Some(a.issuer.as_str()) == claims.iss.as_deref())
        };
        if issuers().next().is_none() {
            return Err(Step::Invalid(JwtError::UnknownIssuer));
        }
        claims
            .check_time(now_s, CLOCK_SKEW_S)
            .map_err(Step::Invalid)?;
        let header = Rc::clone(&token.header);
        let kid = header.kid.as_deref();
        let mut pending = Vec::new();
        let mut outcome = JwtError::KidAlgMismatch;
        for a in issuers() {
            // Envoy: a key is skipped only when both it and the token name a kid and they differ.
            let r = verify_with(env, &mut token, a.jwks, |k| match (kid, k.kid.as_deref()) {
                (Some(t), Some(k)) => t == k,
                _ => true,
            });
            match r {
                KeyResult::Verified => return Ok(claims),
                KeyResult::Pending(id) => pending.push(id),
                KeyResult::BadSignature => outcome = JwtError::VerificationFails,
                // istiod's fake key set in its place: its one key (kid "abc") is tried unless
                // the token names another kid, and verifies nothing.
                KeyResult::Failed if kid.is_none_or(|k| k == ISTIOD_FAKE_KID) => {
                    if outcome != JwtError::VerificationFails {
                        outcome = JwtError::KeysUnavailable { kid_matched: true };
                    }
                }
                KeyResult::Failed if outcome == JwtError::KidAlgMismatch => {
                    outcome = JwtError::KeysUnavailable { kid_matched: false };
                }
                KeyResult::Failed | KeyResult::NoMatchingKey => {}
            }
        }
        if !pending.is_empty() {
            return Err(Step::Pending(pending));
        }
        Err(Step::Invalid(outcome))
    }
}

/// The `kid` of the key istiod inlines when it cannot fetch a JWKS (`CreateFakeJwks`).
const ISTIOD_FAKE_KID: &str = "abc";

enum Step {
    Invalid(JwtError),
    Pending(Vec<usize>),
}

/// Hands every token `loc` holds in `req` to `found`, in order.
fn extract<'r>(loc: &Location, req: &Request<'r>, found: &mut impl FnMut(Cow<'r, str>)) {
    match loc {
        Location::Header { name, prefix } => {
            for v in header_values(req.headers, name) {
                let token = match prefix {
                    // Envoy: the prefix is case-sensitive; a value without it is not a token.
                    Some(p) => match v.strip_prefix(p.as_str()) {
                        Some(rest) => rest.trim_start_matches(' '),
                        None => continue,
                    },
                    // No prefix configured: the raw value, tolerating a `Bearer ` scheme.
                    None => v.strip_prefix("Bearer ").unwrap_or(v).trim(),
                };
                if !token.is_empty() {
                    found(Cow::Borrowed(token));
                }
            }
        }
        Location::Param(name) => {
            for t in query_values(req.path, name) {
                if !t.is_empty() {
                    found(t);
                }
            }
        }
    }
}

/// Kyma's AuthorizationPolicies for a jwt rule: any authorization, each requiring all its scopes
/// in one scope claim and all its audiences in `aud`.
pub fn authorized(claims: &Claims, authorizations: &[JwtAuthorization]) -> bool {
    authorizations.is_empty()
        || authorizations.iter().any(|a| {
            scopes_satisfied(claims, &a.required_scopes)
                && a.audiences
                    .iter()
                    .all(|aud| claims.aud.iter().any(|t| t == aud))
        })
}

fn scopes_satisfied(claims: &Claims, required: &[String]) -> bool {
    required.is_empty()
        || ["scp", "scope", "scopes"].iter().any(|claim| {
            // An absent claim grants nothing (`None`), as an empty one.
            required
                .iter()
                .all(|r| claims.scope_grants(claim, *claim == "scope", r) == Some(true))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: &str) -> Claims {
        Claims::parse(json.as_bytes()).unwrap_or_default()
    }

    fn authz(scopes: &[&str], auds: &[&str]) -> JwtAuthorization {
        JwtAuthorization {
            required_scopes: scopes.iter().map(|s| s.to_string()).collect(),
            audiences: auds.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn kyma_authorizations() {
        let c = claims(r#"{"scope":"read write","scp":"read write","aud":["goats","sheep"]}"#);
        assert!(authorized(&c, &[]));
        assert!(
            authorized(&c, &[authz(&["read", "write"], &[])]),
            "`scope` is split"
        );
        assert!(authorized(&c, &[authz(&[], &["goats", "sheep"])]));
        assert!(
            !authorized(&c, &[authz(&[], &["goats", "cows"])]),
            "all audiences"
        );
        assert!(!authorized(&c, &[authz(&["admin"], &[])]));
        assert!(
            authorized(&c, &[authz(&["admin"], &[]), authz(&["read"], &["goats"])]),
            "ORed"
        );
        let scp = claims(r#"{"scp":"read write"}"#);
        assert!(
            !authorized(&scp, &[authz(&["read"], &[])]),
            "`scp` strings are not split"
        );
        let arr = claims(r#"{"scp":["read","write"],"scopes":["admin"]}"#);
        assert!(authorized(&arr, &[authz(&["read", "write"], &[])]));
        assert!(
            !authorized(&arr, &[authz(&["read", "admin"], &[])]),
            "all scopes in one claim"
        );
    }
}
