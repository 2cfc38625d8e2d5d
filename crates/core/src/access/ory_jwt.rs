//! Ory Oathkeeper's `jwt` authenticator (v0.38.25, what Kyma runs), merged with Kyma's global
//! config (`scope_strategy: wildcard`). Every failure is 401 with Oathkeeper's JSON body.
//!
//! Order: token from `token_from` (default `Authorization: Bearer`, scheme case-insensitive);
//! `alg` in `allowed_algorithms` (default RS256); a `kid` is required and found among the keys
//! with `use: sig` of `jwks_urls`, in order; signature; `exp`/`nbf`/`iat` with no leeway (an
//! `iat` in the future is refused); all `target_audience` in `aud`; `iss` among
//! `trusted_issuers`; each `required_scope` granted by the first of `scp`/`scope`/`scopes`.

use crate::config::read;
use std::borrow::Cow;
use std::rc::Rc;

use serde_json::Value;

use super::env::{verify_with, AuthEnv, KeyResult, Outcome, Presented};
use crate::jwt::claims::Claims;
use crate::jwt::jws::Alg;
use crate::request::Request;
use crate::request::{cookie_value, header_values, query_values};
use crate::response::{ory, DenyReason};

#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(default))]
struct RawConfig {
    jwks_urls: Vec<String>,
    trusted_issuers: Vec<String>,
    required_scope: Vec<String>,
    target_audience: Vec<String>,
    allowed_algorithms: Vec<String>,
    scope_strategy: Option<String>,
    token_from: Option<TokenFrom>,
}
read::from_json_struct!(RawConfig {
    jwks_urls: "jwks_urls",
    trusted_issuers: "trusted_issuers",
    required_scope: "required_scope",
    target_audience: "target_audience",
    allowed_algorithms: "allowed_algorithms",
    scope_strategy: "scope_strategy",
    token_from: "token_from",
});

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(rename_all = "snake_case"))]
pub enum TokenFrom {
    Header(String),
    QueryParameter(String),
    Cookie(String),
}

impl read::FromJson for TokenFrom {
    fn from_json(v: &Value) -> Result<Self, read::ReadError> {
        const VARIANTS: &[&str] = &["header", "query_parameter", "cookie"];
        read::string_variant(v, VARIANTS, |at, name| match at {
            0 => TokenFrom::Header(name),
            1 => TokenFrom::QueryParameter(name),
            _ => TokenFrom::Cookie(name),
        })
    }
}

impl ScopeStrategy {
    /// Oathkeeper's `scope_strategy`: absent means `default`; anything unknown acts as `none`.
    pub fn parse(name: Option<&str>, default: ScopeStrategy) -> ScopeStrategy {
        match name {
            None => default,
            Some("exact") => ScopeStrategy::Exact,
            Some("hierarchic") => ScopeStrategy::Hierarchic,
            Some("wildcard") => ScopeStrategy::Wildcard,
            Some(_) => ScopeStrategy::None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeStrategy {
    Exact,
    Hierarchic,
    Wildcard,
    None,
}

#[derive(Debug, Clone)]
pub struct OryJwtRule {
    pub jwks: Vec<usize>,
    pub trusted_issuers: Vec<String>,
    pub required_scope: Vec<String>,
    pub target_audience: Vec<String>,
    pub allowed: Vec<Alg>,
    pub strategy: ScopeStrategy,
    pub token_from: Option<TokenFrom>,
}

impl OryJwtRule {
    /// From the rule's raw config (validated by Kyma's rules before). `default_strategy` is the
    /// global one Kyma configures for this authenticator.
    pub fn compile(
        config: &Value,
        jwks_id: &mut dyn FnMut(&str) -> usize,
        default_strategy: ScopeStrategy,
    ) -> Result<OryJwtRule, String> {
        let raw: RawConfig = read::read(config).map_err(|e| format!("jwt config: {e}"))?;
        let strategy = ScopeStrategy::parse(raw.scope_strategy.as_deref(), default_strategy);
        let allowed: Vec<Alg> = if raw.allowed_algorithms.is_empty() {
            vec![Alg::RS256]
        } else {
            // Symmetric algorithms cannot be honoured (no shared secrets here): they match nothing.
            raw.allowed_algorithms
                .iter()
                .filter_map(|a| Alg::parse(a))
                .collect()
        };
        Ok(OryJwtRule {
            jwks: raw.jwks_urls.iter().map(|u| jwks_id(u)).collect(),
            trusted_issuers: raw.trusted_issuers,
            required_scope: raw.required_scope,
            target_audience: raw.target_audience,
            allowed,
            strategy,
            token_from: raw.token_from,
        })
    }

    pub fn check(&self, req: &Request<'_>, env: &mut AuthEnv<'_>) -> Outcome {
        let Some(token) = extract(self.token_from.as_ref(), req) else {
            return Outcome::NotResponsible;
        };
        match self.verify(&token, env) {
            Ok(claims) => Outcome::Allowed(super::session::Identity::Jwt { claims, ory: true }),
            Err(None) => Outcome::Denied(ory(401, DenyReason::InvalidToken)),
            Err(Some(ids)) => Outcome::Pending(ids),
        }
    }

    /// `Err(None)`: refused; `Err(Some(ids))`: waiting for keys.
    fn verify(&self, token: &str, env: &mut AuthEnv<'_>) -> Result<Rc<Claims>, Option<Vec<usize>>> {
        let now_s = env.now_ms / 1000;
        let claims = self.verify_signature(token, env)?;
        let ok = time_ok(&claims, now_s)
            && self.target_audience.iter().all(|a| claims.aud.contains(a))
            && (self.trusted_issuers.is_empty()
                || claims
                    .iss
                    .as_ref()
                    .is_some_and(|i| self.trusted_issuers.contains(i)))
            && self.scopes_ok(&claims);
        if ok {
            Ok(claims)
        } else {
            Err(None)
        }
    }

    fn verify_signature(
        &self,
        token: &str,
        env: &mut AuthEnv<'_>,
    ) -> Result<Rc<Claims>, Option<Vec<usize>>> {
        let mut token = Presented::parse(token, env.cache).map_err(|_| None)?;
        if !self.allowed.contains(&token.header.alg) {
            return Err(None);
        }
        let header = Rc::clone(&token.header);
        let kid = header
            .kid
            .as_deref()
            .filter(|k| !k.is_empty())
            .ok_or(None)?;
        let mut pending = Vec::new();
        for id in &self.jwks {
            match verify_with(env, &mut token, *id, |k| {
                k.kid.as_deref() == Some(kid) && k.use_sig == Some(true)
            }) {
                KeyResult::Verified => return Ok(Rc::clone(&token.claims)),
                KeyResult::Pending(id) => pending.push(id),
                // Oathkeeper stops at the first key set that has the kid.
                KeyResult::BadSignature => return Err(None),
                KeyResult::Failed | KeyResult::NoMatchingKey => {}
            }
        }
        Err((!pending.is_empty()).then_some(pending))
    }

    fn scopes_ok(&self, claims: &Claims) -> bool {
        if self.required_scope.is_empty() {
            return true;
        }
        if self.strategy == ScopeStrategy::None {
            // "Scope validation was requested but scope strategy is set to none".
            return false;
        }
        let granted = ["scp", "scope", "scopes"]
            .iter()
            .find_map(|c| claims.scope_values(c, true))
            .unwrap_or_default();
        self.required_scope
            .iter()
            .all(|needle| scope_matches(self.strategy, &granted, needle))
    }
}

/// golang-jwt v4 with no leeway: `now <= exp`, `now >= iat`, `now >= nbf`.
fn time_ok(c: &Claims, now_s: u64) -> bool {
    c.exp.is_none_or(|exp| now_s <= exp)
        && c.iat.is_none_or(|iat| now_s >= iat)
        && c.nbf.is_none_or(|nbf| now_s >= nbf)
}

/// Oathkeeper's token extraction (`helper/bearer.go`).
pub fn extract<'r>(from: Option<&TokenFrom>, req: &Request<'r>) -> Option<Cow<'r, str>> {
    let token = match from {
        None => bearer(header_values(req.headers, "authorization").next()?).map(Cow::Borrowed),
        // `header: Authorization` (exact case) gets the same Bearer stripping as the default.
        Some(TokenFrom::Header(h)) if h == "Authorization" => {
            bearer(header_values(req.headers, "authorization").next()?).map(Cow::Borrowed)
        }
        Some(TokenFrom::Header(h)) => header_values(req.headers, h).next().map(Cow::Borrowed),
        Some(TokenFrom::QueryParameter(q)) => query_values(req.path, q).next(),
        Some(TokenFrom::Cookie(c)) => cookie_value(req.headers, c).map(Cow::Borrowed),
    }?;
    (!token.is_empty()).then_some(token)
}

/// Oathkeeper splits once on a single space and compares the scheme case-insensitively.
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

/// ory/fosite's scope strategies: does one of `granted` satisfy `needle`?
pub fn scope_matches(strategy: ScopeStrategy, granted: &[&str], needle: &str) -> bool {
    match strategy {
        ScopeStrategy::None => true,
        ScopeStrategy::Exact => granted.contains(&needle),
        ScopeStrategy::Hierarchic => granted.iter().any(|g| {
            *g == needle
                || (needle.len() > g.len()
                    && needle.starts_with(g)
                    && needle.as_bytes()[g.len()] == b'.')
        }),
        ScopeStrategy::Wildcard => granted.iter().any(|g| wildcard(g, needle)),
    }
}

fn wildcard(granted: &str, needle: &str) -> bool {
    if granted == needle {
        return true;
    }
    if !granted.contains('*') {
        return false;
    }
    let g: Vec<&str> = granted.split('.').collect();
    let n: Vec<&str> = needle.split('.').collect();
    for (i, part) in g.iter().enumerate() {
        let Some(seg) = n.get(i) else { return false };
        if *part == "*" {
            if seg.is_empty() {
                return false;
            }
            // A trailing `*` absorbs the remaining segments.
            if i == g.len() - 1 {
                return n[i..].iter().all(|s| !s.is_empty());
            }
        } else if part != seg {
            return false;
        }
    }
    g.len() == n.len()
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_config_reads_as_the_derive_would() {
        use crate::config::read::tests::all_agree;
        all_agree::<RawConfig>(&serde_json::json!({
            "jwks_urls": ["u"], "trusted_issuers": ["i"], "required_scope": ["s"],
            "target_audience": ["a"], "allowed_algorithms": ["RS256"], "scope_strategy": "wildcard",
            "token_from": {"header": "x-token"},
        }));
        use crate::config::read::tests::agrees;
        use serde_json::json;
        for token_from in [
            json!("cookie"),
            json!("nope"),
            json!({"nope": "x"}),
            json!({"cookie": 5}),
            json!({"cookie": "c", "header": "h"}),
        ] {
            assert_eq!(
                agrees::<RawConfig>(&json!({ "token_from": token_from })),
                Ok(())
            );
        }
    }

    use super::*;

    #[test]
    fn strategies() {
        use ScopeStrategy::*;
        assert!(scope_matches(Exact, &["a", "b"], "b"));
        assert!(!scope_matches(Exact, &["a.*"], "a.b"));
        assert!(scope_matches(Hierarchic, &["foo"], "foo.bar.baz"));
        assert!(!scope_matches(Hierarchic, &["foo.bar"], "foo"));
        assert!(!scope_matches(Hierarchic, &["foo"], "foobar"));
        assert!(scope_matches(Wildcard, &["foo.*"], "foo.bar"));
        assert!(scope_matches(Wildcard, &["foo.*"], "foo.bar.baz"));
        assert!(!scope_matches(Wildcard, &["foo.*"], "foo"));
        assert!(scope_matches(Wildcard, &["*"], "anything"));
        assert!(scope_matches(Wildcard, &["foo.*.baz"], "foo.x.baz"));
        assert!(!scope_matches(Wildcard, &["foo.*.baz"], "foo.x.y.baz"));
        assert!(
            !scope_matches(Wildcard, &["foo"], "foo.*"),
            "`*` in the needle is literal"
        );
        assert!(scope_matches(Wildcard, &["read"], "read"));
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("Bearer  abc"), Some(" abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
    }
}
