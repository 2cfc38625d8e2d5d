//! What a rule writes into the upstream request once access is granted: Istio-style header and
//! cookie values with Envoy command operators, or Oathkeeper mutators (`header`, `cookie`,
//! `id_token`, `noop`) with Go templates over the authentication session. Every value is parsed
//! when the configuration loads; a value the filter cannot honour is a configuration error.

pub mod gotemplate;
pub mod id_token;
pub mod operators;

use std::collections::BTreeMap;
use std::rc::Rc;

use serde_json::Value;

use self::gotemplate::{Session, Template};
use self::id_token::{IdToken, MintCache, SigningKey};
use crate::config::model::Mutators;

#[derive(Debug, Default)]
pub struct RuleMutators {
    headers: Vec<(String, operators::Value)>,
    cookies: Vec<(String, operators::Value)>,
    ory: Vec<OryMutator>,
}

#[derive(Debug)]
enum OryMutator {
    Header(Vec<(String, Template)>),
    Cookie(Vec<(String, Template)>),
    IdToken(IdToken),
    Noop,
}

/// What the mutators read besides the session.
pub struct Context<'a> {
    pub request: operators::Env<'a>,
    /// The client's `Cookie` header values.
    pub cookie_headers: Vec<&'a str>,
}

fn templates(
    config: &Value,
    key: &str,
    at: &str,
) -> Result<Vec<(String, Template)>, (String, String)> {
    let map = match config.get(key) {
        Some(Value::Object(m)) => m,
        // Oathkeeper's global defaults (`X-Server: oathkeeper`, `processedWith=oathkeeper`) are
        // not implied: a mutator needs its own values.
        _ => {
            return Err((
                format!("{at}.config.{key}"),
                format!("{key} must be a map of name to template"),
            ))
        }
    };
    map.iter()
        .map(|(name, v)| {
            // Go would write any name; a header or cookie name that is not a token is refused here.
            let valid = if key == "cookies" {
                crate::headers::valid_cookie_name(name)
            } else {
                crate::headers::settable_name(name)
            };
            if !valid {
                return Err((
                    format!("{at}.config.{key}.{name}"),
                    format!("invalid {} name", key.trim_end_matches('s')),
                ));
            }
            let text = v.as_str().ok_or_else(|| {
                (
                    format!("{at}.config.{key}.{name}"),
                    "must be a string".to_owned(),
                )
            })?;
            Template::parse(text)
                .map(|t| (name.clone(), t))
                .map_err(|e| (format!("{at}.config.{key}.{name}"), e))
        })
        .collect()
}

impl RuleMutators {
    /// `signing_keys` maps an `id_token` `jwks_url` to its private key. Errors are
    /// (attribute path under the rule, message).
    pub fn compile(
        model: &Mutators,
        signing_keys: &BTreeMap<String, Rc<SigningKey>>,
    ) -> Result<RuleMutators, (String, String)> {
        let values = |list: &[(String, String)],
                      what: &str|
         -> Result<Vec<(String, operators::Value)>, (String, String)> {
            list.iter()
                .map(|(name, v)| {
                    let cookie = what.ends_with("cookies");
                    if cookie && !crate::headers::valid_cookie_name(name) {
                        return Err((format!("{what}.{name}"), "invalid cookie name".into()));
                    }
                    if !crate::headers::settable_name(name) {
                        return Err((
                            format!("{what}.{name}"),
                            "not a header a rule may set (a token, not a pseudo-header or host)"
                                .into(),
                        ));
                    }
                    operators::Value::parse(v)
                        .map(|v| (name.clone(), v))
                        .map_err(|e| (format!("{what}.{name}"), e))
                })
                .collect()
        };
        let mut out = RuleMutators {
            headers: values(&model.headers, ".request.headers")?,
            cookies: values(&model.cookies, ".request.cookies")?,
            ory: Vec::new(),
        };
        for (k, (handler, config)) in model.ory.iter().enumerate() {
            let at = format!(".mutators[{k}]");
            out.ory.push(match handler.as_str() {
                "header" => OryMutator::Header(templates(config, "headers", &at)?),
                "cookie" => OryMutator::Cookie(templates(config, "cookies", &at)?),
                "noop" => OryMutator::Noop,
                "id_token" => {
                    let field = |name: &str| config.get(name).and_then(Value::as_str).map(str::to_owned);
                    let issuer = field("issuer_url").ok_or_else(|| (format!("{at}.config.issuer_url"), "required".to_owned()))?;
                    let jwks_url = field("jwks_url").ok_or_else(|| (format!("{at}.config.jwks_url"), "required".to_owned()))?;
                    let key = signing_keys.get(&jwks_url).cloned().ok_or_else(|| {
                        (
                            format!("{at}.config.jwks_url"),
                            format!("no signing key for {jwks_url:?}: add it to `signingKeys` in the plugin configuration"),
                        )
                    })?;
                    let ttl_s = match config.get("ttl") {
                        None => 60, // Kyma's global id_token ttl
                        Some(v) => crate::config::num::duration_ms(v).map_err(|e| (format!("{at}.config.ttl"), e))? / 1000,
                    };
                    let claims = match config.get("claims") {
                        None => None,
                        Some(Value::String(t)) => Some(Template::parse(t).map_err(|e| (format!("{at}.config.claims"), e))?),
                        Some(_) => return Err((format!("{at}.config.claims"), "must be a template string".into())),
                    };
                    OryMutator::IdToken(IdToken { issuer, ttl_s: ttl_s.max(1), claims, key })
                }
                other => {
                    return Err((
                        format!("{at}.handler"),
                        format!("mutator {other:?} is not supported by this filter (header, cookie, id_token, noop are)"),
                    ))
                }
            });
        }
        Ok(out)
    }

    pub fn is_empty(&self) -> bool {
        self.headers.is_empty() && self.cookies.is_empty() && self.ory.is_empty()
    }

    pub fn needs_headers(&self) -> bool {
        !self.ory.is_empty()
            || self
                .headers
                .iter()
                .chain(&self.cookies)
                .any(|(_, v)| v.needs_headers())
    }

    /// Header writes, in order; each overwrites what the client sent.
    pub fn apply(
        &self,
        ctx: &Context<'_>,
        session: &Session<'_>,
        mints: &mut MintCache,
        now_s: u64,
    ) -> Result<Vec<(String, String)>, String> {
        let mut out: Vec<(String, String)> = Vec::with_capacity(self.headers.len() + 1);
        for (k, v) in &self.headers {
            out.push((k.clone(), v.render(&ctx.request)?));
        }
        if !self.cookies.is_empty() {
            let mut cookie = String::new();
            for (k, v) in &self.cookies {
                let value = v.render(&ctx.request)?;
                // A copied value with `;` would add a cookie of the client's choosing.
                if !crate::headers::valid_cookie_value(&value) {
                    return Err(format!("cookie {k}: not a valid cookie value"));
                }
                if !cookie.is_empty() {
                    cookie.push_str("; ");
                }
                cookie.push_str(k);
                cookie.push('=');
                cookie.push_str(&value);
            }
            out.push(("cookie".into(), cookie));
        }
        // The Cookie header as the previous cookie mutator left it (`None`: the client's).
        let mut cookie_header: Option<String> = None;
        for m in &self.ory {
            match m {
                OryMutator::Noop => {}
                OryMutator::Header(list) => {
                    for (name, t) in list {
                        out.push((name.clone(), t.render(session)?));
                    }
                }
                OryMutator::Cookie(list) => {
                    // As Oathkeeper builds it with Go's net/http: the rule's cookies with their
                    // values sanitised, then the client's cookies (parsed strictly) that the
                    // rule does not set.
                    let mut cookies: Vec<String> = Vec::new();
                    for (name, t) in list {
                        let value = crate::headers::sanitize_cookie_value(&t.render(session)?);
                        cookies.push(format!("{name}={value}"));
                    }
                    let client = match &cookie_header {
                        Some(h) => crate::headers::parse_cookies(std::iter::once(h.as_str())),
                        None => crate::headers::parse_cookies(ctx.cookie_headers.iter().copied()),
                    };
                    for (name, value) in client {
                        if !list.iter().any(|(n, _)| n == name) {
                            let value = crate::headers::sanitize_cookie_value(value);
                            cookies.push(format!("{name}={value}"));
                        }
                    }
                    let value = cookies.join("; ");
                    cookie_header = Some(value.clone());
                    out.push(("cookie".into(), value));
                }
                OryMutator::IdToken(t) => {
                    out.push((
                        "authorization".into(),
                        format!("Bearer {}", t.mint(session, now_s, mints)?),
                    ));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compile(
        headers: &[(&str, &str)],
        cookies: &[(&str, &str)],
        ory: Vec<(&str, Value)>,
    ) -> Result<RuleMutators, (String, String)> {
        let pairs = |l: &[(&str, &str)]| {
            l.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let model = Mutators {
            headers: pairs(headers),
            cookies: pairs(cookies),
            ory: ory.into_iter().map(|(h, c)| (h.to_owned(), c)).collect(),
        };
        RuleMutators::compile(&model, &BTreeMap::new())
    }

    #[test]
    fn names_a_rule_may_not_set_are_refused_at_load() {
        for name in [":path", ":authority", "host", "a b", "x\ny"] {
            let e = compile(&[(name, "v")], &[], vec![]).err();
            assert_eq!(
                e.map(|e| e.0),
                Some(format!(".request.headers.{name}")),
                "{name}"
            );
            let ory = json!({"headers": {name: "v"}});
            let e = compile(&[], &[], vec![("header", ory)]).err();
            assert_eq!(
                e.map(|e| e.0),
                Some(format!(".mutators[0].config.headers.{name}")),
                "{name}"
            );
        }
        for name in ["a b", "a;b", "a=b", ""] {
            assert!(compile(&[], &[(name, "v")], vec![]).is_err(), "{name}");
            let ory = json!({"cookies": {name: "v"}});
            assert!(compile(&[], &[], vec![("cookie", ory)]).is_err(), "{name}");
        }
        assert!(compile(&[("x-user", "%REQ(x)%")], &[("session", "s")], vec![]).is_ok());
    }
}
