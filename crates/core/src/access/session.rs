//! Who a request was authenticated as: the session Ory mutators template over and Istio-style
//! rules pass on. Below the strategies that make sessions (jwt, introspection, extAuth) and the
//! mutators that read them.

use std::borrow::Cow;
use std::rc::Rc;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::jwt::claims;

/// Who the request was authenticated as: the session Ory mutators template over.
#[derive(Debug, Clone)]
pub enum Identity {
    /// `noop`, `allow`, `noAuth`: no subject.
    Anonymous,
    /// A verified JWT. `ory`: Oathkeeper's session (scope claim normalised into `scp`).
    Jwt {
        claims: Rc<claims::Claims>,
        ory: bool,
    },
    Introspection(Rc<Introspected>),
    /// External authorizers allowed the request (with the restrictions' identity, if any).
    Authorized(Rc<Authorized>),
}

impl Identity {
    pub fn subject(&self) -> &str {
        match self {
            Identity::Anonymous => "",
            Identity::Jwt { claims, .. } => claims.sub.as_deref().unwrap_or(""),
            Identity::Introspection(r) => r.sub.as_deref().unwrap_or(""),
            Identity::Authorized(a) => a.inner.subject(),
        }
    }

    /// Oathkeeper's `session.Extra` (`None`: a nil map).
    pub fn extra(&self) -> Option<Map<String, Value>> {
        match self {
            Identity::Anonymous => None,
            Identity::Jwt { claims, ory } => {
                let mut m = claims.all.clone();
                if *ory {
                    // The first of scp/scope/scopes becomes `scp: [...]`, always present.
                    let found = ["scp", "scope", "scopes"]
                        .iter()
                        .find_map(|k| claims.scope_values(k, true).map(|v| (*k, v)));
                    let list: Vec<Value> = found
                        .as_ref()
                        .map(|(_, v)| v.iter().map(|s| Value::String((*s).to_owned())).collect())
                        .unwrap_or_default();
                    if let Some((k, _)) = found {
                        m.remove(k);
                    }
                    m.insert("scp".into(), Value::Array(list));
                }
                Some(m)
            }
            Identity::Introspection(r) => Some(r.extra()),
            Identity::Authorized(a) => a.inner.extra(),
        }
    }
}

/// What the endpoint said about a token (RFC 7662 §2.2).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Introspected {
    pub active: bool,
    pub sub: Option<String>,
    pub username: Option<String>,
    pub client_id: Option<String>,
    pub scope: Option<String>,
    #[serde(deserialize_with = "string_or_list")]
    pub aud: Vec<String>,
    pub iss: Option<String>,
    pub exp: Option<f64>,
    pub token_use: Option<String>,
    pub ext: Option<Map<String, Value>>,
}

fn string_or_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s]),
        Value::Array(a) => a
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(serde::de::Error::custom("aud must hold strings")),
            })
            .collect(),
        _ => Err(serde::de::Error::custom("aud must be a string or a list")),
    }
}

impl Introspected {
    /// Oathkeeper's session `Extra`: `ext` plus `username`, `client_id`, `scope`, `aud`.
    pub fn extra(&self) -> Map<String, Value> {
        let mut m = self.ext.clone().unwrap_or_default();
        let mut put = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                m.insert(k.into(), Value::String(v.clone()));
            }
        };
        put("username", &self.username);
        put("client_id", &self.client_id);
        put("scope", &self.scope);
        if !self.aud.is_empty() {
            m.insert(
                "aud".into(),
                Value::Array(self.aud.iter().cloned().map(Value::String).collect()),
            );
        }
        m
    }
}

/// An identity an authorizer vouched for, with the headers it asked to pass on.
#[derive(Debug)]
pub struct Authorized {
    pub inner: Identity,
    pub upstream: Vec<(Cow<'static, str>, String)>,
    pub downstream: Vec<(Cow<'static, str>, String)>,
}
