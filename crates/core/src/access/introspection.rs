//! Ory Oathkeeper's `oauth2_introspection` authenticator (RFC 7662), merged with Kyma's global
//! config (`scope_strategy: exact`), with Oathkeeper's statuses and JSON bodies:
//! missing token 401; endpoint error, non-200 or unreadable answer 500; `token_use` other than
//! `access_token` 403; inactive or expired 401; audience, issuer or scope not satisfied 403.
//!
//! Results are cached per worker when `cache.enabled`, for `cache.ttl` and never past the token's
//! `exp`, so a reused token costs no callout. With `pre_authorization`, the introspection call
//! carries a client-credentials token from `token_url`, cached until it expires.

use std::collections::BTreeMap;
use std::rc::Rc;

use base64::Engine;
use serde_json::Value;

use super::env::Cached;
use super::env::{AuthEnv, Outcome};
use super::ory_jwt::{scope_matches, ScopeStrategy, TokenFrom};
use super::session::{Identity, Introspected};
use crate::callout::{form_encode, target, Answer, CallRequest, Upstream};
use crate::config::read;
use crate::jwt::claims::object_without_duplicates;
use crate::response::{ory, DenyReason};

#[derive(Debug, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(default))]
struct RawConfig {
    introspection_url: Option<String>,
    scope_strategy: Option<String>,
    required_scope: Vec<String>,
    target_audience: Vec<String>,
    trusted_issuers: Vec<String>,
    token_from: Option<TokenFrom>,
    introspection_request_headers: BTreeMap<String, String>,
    pre_authorization: Option<RawPreAuth>,
    cache: Option<RawCache>,
    retry: Option<RawRetry>,
}
read::from_json_struct!(RawConfig {
    introspection_url: "introspection_url",
    scope_strategy: "scope_strategy",
    required_scope: "required_scope",
    target_audience: "target_audience",
    trusted_issuers: "trusted_issuers",
    token_from: "token_from",
    introspection_request_headers: "introspection_request_headers",
    pre_authorization: "pre_authorization",
    cache: "cache",
    retry: "retry",
});

#[derive(Debug, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(default))]
struct RawPreAuth {
    enabled: bool,
    client_id: String,
    client_secret: String,
    token_url: String,
    scope: Vec<String>,
    audience: Option<String>,
}
read::from_json_struct!(RawPreAuth {
    enabled: "enabled",
    client_id: "client_id",
    client_secret: "client_secret",
    token_url: "token_url",
    scope: "scope",
    audience: "audience",
});

#[derive(Debug, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(default))]
struct RawCache {
    enabled: bool,
    ttl: Option<Value>,
}
read::from_json_struct!(RawCache {
    enabled: "enabled",
    ttl: "ttl",
});

#[derive(Debug, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(default))]
struct RawRetry {
    give_up_after: Option<Value>,
}
read::from_json_struct!(RawRetry {
    give_up_after: "give_up_after",
});

#[derive(Debug)]
pub struct IntrospectionRule {
    pub url: String,
    /// `None`: no endpoint at all (Kyma's global default not configured): every request is 500.
    upstream: Option<Upstream>,
    strategy: ScopeStrategy,
    required_scope: Vec<String>,
    target_audience: Vec<String>,
    trusted_issuers: Vec<String>,
    token_from: Option<TokenFrom>,
    request_headers: Vec<(String, String)>,
    pre_auth: Option<PreAuth>,
    /// `Some(ttl)` when this rule may read and write the cache (`None` ttl: until the token's
    /// `exp`). Off when `cache.enabled` is false, and when the endpoint itself checks the
    /// scopes (`scope_strategy: none` with `required_scope`), as Oathkeeper's `TokenFromCache`
    /// and `TokenToCache` are off then.
    cache: Option<Option<u64>>,
    /// Everything the endpoint's answer depends on besides the token: endpoint, request headers,
    /// the client it authenticates as. Cached answers are found only under the same scope.
    cache_scope: String,
    timeout_ms: u64,
}

struct PreAuth {
    upstream: Upstream,
    token_url: String,
    client_id: String,
    client_secret: String,
    scope: Vec<String>,
    audience: Option<String>,
}

impl std::fmt::Debug for PreAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PreAuth({} as {})", self.token_url, self.client_id)
    }
}

impl IntrospectionRule {
    /// `default_url`: Oathkeeper's global `introspection_url` from the plugin configuration.
    pub fn compile(
        config: &Value,
        clusters: &BTreeMap<String, String>,
        default_url: Option<&str>,
    ) -> Result<IntrospectionRule, String> {
        let raw: RawConfig = read::read(config).map_err(|e| e.to_string())?;
        let url = raw
            .introspection_url
            .filter(|u| !u.is_empty())
            .or_else(|| default_url.map(str::to_owned))
            .unwrap_or_default();
        // Kyma's global configuration sets `exact` for introspection.
        let strategy = ScopeStrategy::parse(raw.scope_strategy.as_deref(), ScopeStrategy::Exact);
        let pre_auth = match raw.pre_authorization {
            Some(p) if p.enabled => Some(PreAuth {
                upstream: target(&p.token_url, clusters)
                    .map_err(|e| format!("pre_authorization.token_url: {e}"))?,
                token_url: p.token_url,
                client_id: p.client_id,
                client_secret: p.client_secret,
                scope: p.scope,
                audience: p.audience,
            }),
            _ => None,
        };
        let endpoint_checks_scopes =
            strategy == ScopeStrategy::None && !raw.required_scope.is_empty();
        let cache = match raw.cache.filter(|_| !endpoint_checks_scopes) {
            Some(c) if c.enabled => Some(match c.ttl {
                Some(t) => Some(
                    crate::config::num::duration_ms(&t).map_err(|e| format!("cache.ttl: {e}"))?,
                ),
                None => None,
            }),
            _ => None,
        };
        let timeout_ms = match raw.retry.and_then(|r| r.give_up_after) {
            Some(t) => crate::config::num::duration_ms(&t)
                .map_err(|e| format!("retry.give_up_after: {e}"))?,
            None => 1000, // Oathkeeper's give_up_after
        };
        let cache_scope = serde_json::json!([
            url,
            raw.introspection_request_headers,
            pre_auth.as_ref().map(|p: &PreAuth| {
                (
                    &p.token_url,
                    &p.client_id,
                    &p.client_secret,
                    &p.scope,
                    &p.audience,
                )
            }),
        ])
        .to_string();
        Ok(IntrospectionRule {
            cache_scope,
            upstream: if url.is_empty() {
                None
            } else {
                Some(target(&url, clusters).map_err(|e| format!("introspection_url: {e}"))?)
            },
            url,
            strategy,
            required_scope: raw.required_scope,
            target_audience: raw.target_audience,
            trusted_issuers: raw.trusted_issuers,
            token_from: raw.token_from,
            request_headers: raw.introspection_request_headers.into_iter().collect(),
            pre_auth,
            cache,
            timeout_ms: timeout_ms.max(1),
        })
    }

    /// The endpoints this rule calls (introspection, token), as (URI, upstream).
    pub fn upstreams(&self) -> Vec<(String, Upstream)> {
        let mut out: Vec<(String, Upstream)> = self
            .upstream
            .iter()
            .map(|u| (self.url.clone(), u.clone()))
            .collect();
        if let Some(p) = &self.pre_auth {
            out.push((p.token_url.clone(), p.upstream.clone()));
        }
        out
    }

    pub fn check(&self, req: &crate::request::Request<'_>, env: &mut AuthEnv<'_>) -> Outcome {
        let Some(token) = crate::access::ory_jwt::extract(self.token_from.as_ref(), req) else {
            return Outcome::NotResponsible;
        };
        // No endpoint calls a token with spaces, control or non-ASCII characters active; it is
        // not sent on (nor cached under a lossy spelling).
        if !crate::headers::valid_token(&token) {
            return Outcome::Denied(ory(401, DenyReason::InvalidToken));
        }
        let Some(upstream) = &self.upstream else {
            return Outcome::Denied(ory(500, DenyReason::IntrospectionFailed));
        };
        let now = env.now_ms;
        let key = format!("{}|{token}", self.cache_scope);
        if let Some(ttl) = self.cache {
            if let Some(hit) = env.introspection.results.get(&key) {
                let fresh = ttl.is_none_or(|t| now < hit.fetched_ms.saturating_add(t))
                    && hit.exp_ms.is_none_or(|e| now < e)
                    && (ttl.is_some() || hit.exp_ms.is_some());
                if fresh {
                    env.introspection.hits += 1;
                    return self.evaluate(Rc::clone(&hit.result), now);
                }
            }
        }
        let call_key = format!("introspect|{}|{token}", self.url);
        match env.answers.get(&call_key) {
            Some(answer) => {
                let result = match parse_answer(answer) {
                    Some(r) => Rc::new(r),
                    None => return Outcome::Denied(ory(500, DenyReason::IntrospectionFailed)),
                };
                let outcome = self.evaluate(Rc::clone(&result), now);
                if let (Some(ttl), Outcome::Allowed(_)) = (self.cache, &outcome) {
                    let exp_ms = result.exp.map(|e| (e.max(0.0) as u64).saturating_mul(1000));
                    // No lifetime known (no ttl, no exp): not cached.
                    if ttl.is_some() || exp_ms.is_some() {
                        env.introspection.results.insert(
                            &key,
                            Cached {
                                result,
                                fetched_ms: now,
                                exp_ms,
                            },
                        );
                    }
                }
                outcome
            }
            None => match self.request(&token, upstream, env) {
                Ok(call) => Outcome::Call(Box::new(call)),
                Err(outcome) => *outcome,
            },
        }
    }

    /// The introspection call, or first the client-credentials call it needs.
    fn request(
        &self,
        token: &str,
        upstream: &Upstream,
        env: &mut AuthEnv<'_>,
    ) -> Result<CallRequest, Box<Outcome>> {
        let mut headers: Vec<(String, String)> = self
            .request_headers
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("content-type"))
            .cloned()
            .collect();
        if let Some(pre) = &self.pre_auth {
            headers.retain(|(k, _)| !k.eq_ignore_ascii_case("authorization"));
            headers.push((
                "authorization".into(),
                format!("Bearer {}", self.client_token(pre, env)?),
            ));
        }
        headers.push((
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        ));
        let mut form = vec![("token", token)];
        let scopes = self.required_scope.join(" ");
        if self.strategy == ScopeStrategy::None && !scopes.is_empty() {
            // Hydra's extension: the endpoint itself checks the scopes.
            form.push(("scope", &scopes));
        }
        Ok(CallRequest {
            key: format!("introspect|{}|{token}", self.url),
            upstream: upstream.clone(),
            method: "POST".into(),
            headers,
            body: form_encode(&form).into_bytes(),
            timeout_ms: self.timeout_ms,
        })
    }

    fn client_token(&self, pre: &PreAuth, env: &mut AuthEnv<'_>) -> Result<String, Box<Outcome>> {
        // Everything the token endpoint's answer depends on, the secret included: a rule with
        // a wrong secret must get the endpoint's refusal, not another rule's token.
        let key = serde_json::json!([
            pre.token_url,
            pre.client_id,
            pre.client_secret,
            pre.scope,
            pre.audience
        ])
        .to_string();
        if let Some((token, until)) = env.introspection.client_tokens.get(&key) {
            if env.now_ms < *until {
                return Ok(token.clone());
            }
        }
        let call_key = format!("client-credentials|{key}");
        if let Some(answer) = env.answers.get(&call_key) {
            let parsed = (answer.status == Some(200))
                .then(|| TokenResponse::parse(&answer.body))
                .flatten();
            let Some(t) = parsed else {
                return Err(Box::new(Outcome::Denied(ory(
                    500,
                    DenyReason::IntrospectionFailed,
                ))));
            };
            // Renewed a little before it expires.
            let lifetime_ms = t.expires_in.map_or(60_000, |s| (s.max(0.0) * 900.0) as u64);
            env.introspection.client_tokens.insert(
                &key,
                (
                    t.access_token.clone(),
                    env.now_ms.saturating_add(lifetime_ms),
                ),
            );
            return Ok(t.access_token);
        }
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            crate::callout::url_encode(&pre.client_id),
            crate::callout::url_encode(&pre.client_secret)
        ));
        let scope = pre.scope.join(" ");
        let mut form = vec![("grant_type", "client_credentials")];
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        if let Some(a) = &pre.audience {
            form.push(("audience", a));
        }
        Err(Box::new(Outcome::Call(Box::new(CallRequest {
            key: call_key,
            upstream: pre.upstream.clone(),
            method: "POST".into(),
            headers: vec![
                ("authorization".into(), format!("Basic {basic}")),
                (
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                ),
            ],
            body: form_encode(&form).into_bytes(),
            timeout_ms: self.timeout_ms,
        }))))
    }

    fn evaluate(&self, r: Rc<Introspected>, now_ms: u64) -> Outcome {
        let deny = |status| {
            Outcome::Denied(ory(
                status,
                if status == 401 {
                    DenyReason::InvalidToken
                } else {
                    DenyReason::Forbidden
                },
            ))
        };
        if r.token_use
            .as_deref()
            .is_some_and(|u| !u.is_empty() && u != "access_token")
        {
            return deny(403);
        }
        if !r.active {
            return deny(401);
        }
        if r.exp
            .is_some_and(|e| e > 0.0 && (e * 1000.0) < now_ms as f64)
        {
            return deny(401);
        }
        if !self.target_audience.iter().all(|a| r.aud.contains(a)) {
            return deny(403);
        }
        if !self.trusted_issuers.is_empty()
            && !r
                .iss
                .as_ref()
                .is_some_and(|i| self.trusted_issuers.contains(i))
        {
            return deny(403);
        }
        if self.strategy != ScopeStrategy::None {
            let granted: Vec<&str> = r.scope.as_deref().unwrap_or("").split(' ').collect();
            if !self
                .required_scope
                .iter()
                .all(|s| scope_matches(self.strategy, &granted, s))
            {
                return deny(403);
            }
        }
        Outcome::Allowed(Identity::Introspection(r))
    }
}

fn parse_answer(a: &Answer) -> Option<Introspected> {
    if a.status != Some(200) {
        return None;
    }
    Introspected::parse(&a.body)
}

/// The token endpoint's answer to a client-credentials grant (RFC 6749 §5.1).
struct TokenResponse {
    access_token: String,
    expires_in: Option<f64>,
}

impl TokenResponse {
    fn parse(body: &[u8]) -> Option<TokenResponse> {
        let members = object_without_duplicates(body)?;
        Some(TokenResponse {
            access_token: read::required(&members, "access_token").ok()?,
            expires_in: read::field(&members, "expires_in").ok()?,
        })
    }
}

#[cfg(test)]
mod reads {
    use super::RawConfig;
    use crate::config::read::tests::all_agree;
    use serde_json::json;

    #[test]
    fn a_token_answer_is_one_object_with_each_member_once() {
        use super::TokenResponse;
        let parse =
            |b: &str| TokenResponse::parse(b.as_bytes()).map(|t| (t.access_token, t.expires_in));
        assert_eq!(
            parse(r#"{"access_token": "t", "expires_in": 60}"#),
            Some(("t".into(), Some(60.0)))
        );
        assert_eq!(
            parse(r#"{"access_token": "t", "expires_in": null}"#),
            Some(("t".into(), None))
        );
        assert_eq!(parse(r#"{"access_token": "t", "access_token": "u"}"#), None);
        assert_eq!(parse(r#"{"expires_in": 60}"#), None);
        assert_eq!(parse(r#"{"access_token": "t", "expires_in": "60"}"#), None);
        assert_eq!(parse(r#"["t", 60]"#), None);
    }

    #[test]
    fn the_config_reads_as_the_derive_would() {
        all_agree::<RawConfig>(&json!({
            "introspection_url": "https://i/introspect", "scope_strategy": "exact",
            "required_scope": ["s"], "target_audience": ["a"], "trusted_issuers": ["i"],
            "token_from": {"query_parameter": "t"},
            "introspection_request_headers": {"x": "y"},
            "pre_authorization": {"enabled": true, "client_id": "c", "client_secret": "s",
                "token_url": "https://i/token", "scope": ["a"], "audience": "b"},
            "cache": {"enabled": true, "ttl": "5m"},
            "retry": {"give_up_after": "2s"},
        }));
    }
}
