//! Who a request was authenticated as: the session Ory mutators template over and Istio-style
//! rules pass on. Below the strategies that make sessions (jwt, introspection, extAuth) and the
//! mutators that read them.

use std::borrow::Cow;
use std::rc::Rc;

use serde_json::{Map, Value};

use crate::config::read;
use crate::jwt::claims::{self, object_without_duplicates};

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
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(default))]
pub struct Introspected {
    pub active: bool,
    pub sub: Option<String>,
    pub username: Option<String>,
    pub client_id: Option<String>,
    pub scope: Option<String>,
    #[cfg_attr(test, serde(deserialize_with = "string_or_list_serde"))]
    pub aud: Vec<String>,
    pub iss: Option<String>,
    pub exp: Option<f64>,
    pub token_use: Option<String>,
    pub ext: Option<Map<String, Value>>,
}

impl read::FromJson for Introspected {
    fn from_json(v: &Value) -> Result<Self, read::ReadError> {
        let map = read::object(v, "struct Introspected")?;
        Ok(Introspected {
            active: read::field(map, "active")?,
            sub: read::field(map, "sub")?,
            username: read::field(map, "username")?,
            client_id: read::field(map, "client_id")?,
            scope: read::field(map, "scope")?,
            aud: match map.get("aud") {
                None => Vec::new(),
                Some(aud) => string_or_list(aud).map_err(|e| e.at_key("aud"))?,
            },
            iss: read::field(map, "iss")?,
            exp: read::field(map, "exp")?,
            token_use: read::field(map, "token_use")?,
            ext: read::field(map, "ext")?,
        })
    }
}

/// `aud` as a string or a list of strings (RFC 7662 §2.2 allows both).
fn string_or_list(v: &Value) -> Result<Vec<String>, read::ReadError> {
    let bad = |what: &str| read::ReadError::new(what.to_owned());
    match v {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad("aud must hold strings"))
            })
            .collect(),
        _ => Err(bad("aud must be a string or a list")),
    }
}

#[cfg(test)]
fn string_or_list_serde<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    use serde::Deserialize;
    string_or_list(&Value::deserialize(d)?).map_err(|e| serde::de::Error::custom(e.message()))
}

impl Introspected {
    /// An endpoint's answer: one JSON object, each member once (a repeated `active` must not
    /// let two parsers disagree on whether the token is valid).
    pub fn parse(body: &[u8]) -> Option<Introspected> {
        let members = object_without_duplicates(body)?;
        read::read(&Value::Object(members)).ok()
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The same answer as serde's derive for every field in every JSON shape; a repeated member
    /// or a non-object is no answer (serde's derive refused a repeated known field and read an
    /// array positionally).
    #[test]
    fn an_answer_reads_as_the_derive_would_and_once() {
        use crate::config::read::tests::all_agree;
        use serde_json::json;
        all_agree::<Introspected>(&json!({
            "active": true, "sub": "s", "username": "u", "client_id": "c", "scope": "a b",
            "aud": ["x", "y"], "iss": "https://i", "exp": 1700000000, "token_use": "access_token",
            "ext": {"k": [1]},
        }));
        let parse = |b: &str| Introspected::parse(b.as_bytes());
        assert!(
            parse(r#"{"active": true, "aud": "x"}"#).is_some_and(|r| r.active && r.aud == ["x"])
        );
        assert_eq!(parse(r#"{"active": false, "active": true}"#), None);
        assert_eq!(parse(r#"{"active": true, "x": 1, "x": 2}"#), None);
        assert_eq!(parse(r#"[true]"#), None);
        assert_eq!(parse(r#"{"active": "true"}"#), None);
        assert_eq!(parse(r#"{"active": true} x"#), None);
    }
}
