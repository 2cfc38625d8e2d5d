//! JWT claims, parsed once per token. Registered claims are type-checked as Envoy does; every
//! claim is kept for later use (Ory mutator templates read `.Extra`).

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::JwtError;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Claims {
    pub iss: Option<String>,
    pub sub: Option<String>,
    /// `aud` as a list (a string becomes one element).
    pub aud: Vec<String>,
    pub exp: Option<u64>,
    pub nbf: Option<u64>,
    pub iat: Option<u64>,
    pub all: Map<String, Value>,
}

impl Claims {
    pub fn parse(payload: &[u8]) -> Result<Claims, JwtError> {
        let all = object_without_duplicates(payload).ok_or(JwtError::PayloadBadJson)?;
        // The registered claims in one pass over the members, not one lookup each (this runs
        // for every token not yet in the cache); errors are still reported in Envoy's order.
        let [mut iss, mut sub, mut aud, mut exp, mut nbf, mut iat] = [None; 6];
        for (name, value) in &all {
            let slot = match name.as_str() {
                "iss" => &mut iss,
                "sub" => &mut sub,
                "aud" => &mut aud,
                "exp" => &mut exp,
                "nbf" => &mut nbf,
                "iat" => &mut iat,
                _ => continue,
            };
            *slot = Some(value);
        }
        let string = |claim: Option<&Value>, err: JwtError| match claim {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(err),
        };
        let time = |claim: Option<&Value>, err: JwtError| match claim {
            None => Ok(None),
            Some(Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
                (Some(u), _) if u <= i64::MAX as u64 => Ok(Some(u)),
                // NumericDate may have a fraction; Envoy truncates.
                (None, Some(f)) if f >= 0.0 && f < i64::MAX as f64 => Ok(Some(f as u64)),
                _ => Err(err),
            },
            Some(_) => Err(err),
        };
        let aud = match aud {
            None => Vec::new(),
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or(JwtError::BadAud))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(JwtError::BadAud),
        };
        Ok(Claims {
            iss: string(iss, JwtError::BadIss)?,
            sub: string(sub, JwtError::BadSub)?,
            aud,
            exp: time(exp, JwtError::BadExp)?,
            nbf: time(nbf, JwtError::BadNbf)?,
            iat: time(iat, JwtError::BadIat)?,
            all,
        })
    }

    /// The values of a scope claim: array elements (strings only), or a string split on spaces
    /// when `split` (Istio splits only `scope`; Oathkeeper splits all three).
    pub fn scope_values(&self, name: &str, split: bool) -> Option<Vec<&str>> {
        match self.all.get(name)? {
            Value::String(s) if split => Some(s.split(' ').filter(|p| !p.is_empty()).collect()),
            Value::String(s) => Some(vec![s.as_str()]),
            Value::Array(items) => Some(items.iter().filter_map(Value::as_str).collect()),
            _ => Some(Vec::new()),
        }
    }

    /// Whether the scope claim `name` grants `wanted`: `scope_values(name, split)` contains it,
    /// without building the list (it is asked on every request). `None` when the claim is absent.
    pub fn scope_grants(&self, name: &str, split: bool, wanted: &str) -> Option<bool> {
        Some(match self.all.get(name)? {
            Value::String(s) if split => s.split(' ').any(|p| !p.is_empty() && p == wanted),
            Value::String(s) => s == wanted,
            Value::Array(items) => items.iter().any(|v| v.as_str() == Some(wanted)),
            _ => false,
        })
    }

    /// Envoy's time check with a clock skew: `nbf` not after `now + skew`, `exp` not before
    /// `now - skew`. `iat` is not checked (Envoy ignores it).
    pub fn check_time(&self, now: u64, skew: u64) -> Result<(), JwtError> {
        if self.nbf.is_some_and(|nbf| now.saturating_add(skew) < nbf) {
            return Err(JwtError::NotYetValid);
        }
        if self.exp.is_some_and(|exp| now > exp.saturating_add(skew)) {
            return Err(JwtError::Expired);
        }
        Ok(())
    }
}

/// A JSON object whose top-level members are unique (RFC 7515 §5.2 / RFC 7519 §4: reject
/// duplicates rather than let parsers disagree on which one wins).
pub fn object_without_duplicates(bytes: &[u8]) -> Option<Map<String, Value>> {
    struct Unique(Map<String, Value>);
    impl<'de> Deserialize<'de> for Unique {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Unique;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                // Every other shape is refused here, not by serde's default answer, whose
                // wording (`Unexpected`) brings core's float formatting into the module.
                fn visit_unit<E: serde::de::Error>(self) -> Result<Unique, E> {
                    Err(E::custom("not an object"))
                }
                fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Unique, E> {
                    self.visit_unit()
                }
                fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Unique, E> {
                    self.visit_unit()
                }
                fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Unique, E> {
                    self.visit_unit()
                }
                fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Unique, E> {
                    self.visit_unit()
                }
                fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Unique, E> {
                    self.visit_unit()
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<Unique, A::Error> {
                    Err(serde::de::Error::custom("not an object"))
                }
                fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Unique, A::Error> {
                    let mut map = Map::new();
                    while let Some((k, v)) = access.next_entry::<String, Value>()? {
                        // One search per member: the entry, not a lookup and then an insert.
                        match map.entry(k) {
                            serde_json::map::Entry::Vacant(slot) => {
                                slot.insert(v);
                            }
                            serde_json::map::Entry::Occupied(_) => {
                                return Err(serde::de::Error::custom("duplicate member"));
                            }
                        }
                    }
                    Ok(Unique(map))
                }
            }
            d.deserialize_any(V)
        }
    }
    serde_json::from_slice::<Unique>(bytes).ok().map(|u| u.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(json: &str) -> Result<Claims, JwtError> {
        Claims::parse(json.as_bytes())
    }

    #[test]
    fn registered_claim_types() {
        let ok = c(r#"{"iss":"i","sub":"s","aud":["a","b"],"exp":10,"nbf":1.7,"iat":0}"#);
        let ok = ok.unwrap_or_default();
        assert_eq!(ok.aud, ["a", "b"]);
        assert_eq!((ok.exp, ok.nbf, ok.iat), (Some(10), Some(1), Some(0)));
        assert_eq!(c(r#"{"aud":"x"}"#).map(|c| c.aud), Ok(vec!["x".to_owned()]));
        assert_eq!(c(r#"{"iss":1}"#), Err(JwtError::BadIss));
        assert_eq!(c(r#"{"sub":{}}"#), Err(JwtError::BadSub));
        assert_eq!(c(r#"{"aud":1}"#), Err(JwtError::BadAud));
        assert_eq!(c(r#"{"aud":["a",1]}"#), Err(JwtError::BadAud));
        assert_eq!(c(r#"{"exp":"10"}"#), Err(JwtError::BadExp));
        assert_eq!(c(r#"{"exp":-1}"#), Err(JwtError::BadExp));
        assert_eq!(c(r#"{"exp":1e300}"#), Err(JwtError::BadExp));
        assert_eq!(c(r#"{"nbf":true}"#), Err(JwtError::BadNbf));
        assert_eq!(c(r#"{"iat":[1]}"#), Err(JwtError::BadIat));
        assert_eq!(
            c(r#"{"exp":1,"exp":2}"#),
            Err(JwtError::PayloadBadJson),
            "duplicate"
        );
        for not_an_object in ["[]", "null", "1", "1.5", r#""x""#, "true", "{} {}", ""] {
            assert_eq!(
                c(not_an_object),
                Err(JwtError::PayloadBadJson),
                "{not_an_object}"
            );
        }
        assert_eq!(c("\u{feff}{}"), Err(JwtError::PayloadBadJson), "BOM");
    }

    /// With several claims of the wrong type, the error is the first in the order they are
    /// checked (aud, iss, sub, exp, nbf, iat), whatever order the members come in.
    #[test]
    fn first_bad_claim_in_a_fixed_order() {
        let bad = [
            (r#""aud":1"#, JwtError::BadAud),
            (r#""iss":1"#, JwtError::BadIss),
            (r#""sub":1"#, JwtError::BadSub),
            (r#""exp":"x""#, JwtError::BadExp),
            (r#""nbf":"x""#, JwtError::BadNbf),
            (r#""iat":"x""#, JwtError::BadIat),
        ];
        for mask in 1u32..64 {
            let picked: Vec<_> = (0..6).filter(|i| mask & (1 << i) != 0).collect();
            for reversed in [false, true] {
                let mut members: Vec<&str> = picked.iter().map(|&i| bad[i].0).collect();
                if reversed {
                    members.reverse();
                }
                let json = format!("{{{},\"x\":1}}", members.join(","));
                assert_eq!(c(&json), Err(bad[picked[0]].1), "{json}");
            }
        }
    }

    #[test]
    fn time_with_skew() {
        let t = c(r#"{"exp":100,"nbf":50}"#).unwrap_or_default();
        assert_eq!(t.check_time(100, 60), Ok(()));
        assert_eq!(t.check_time(160, 60), Ok(()), "expired by exactly the skew");
        assert_eq!(t.check_time(161, 60), Err(JwtError::Expired));
        let t = c(r#"{"nbf":100}"#).unwrap_or_default();
        assert_eq!(t.check_time(39, 60), Err(JwtError::NotYetValid));
        assert_eq!(t.check_time(40, 60), Ok(()), "nbf within the skew");
    }

    #[test]
    fn scopes() {
        let t = c(r#"{"scope":"read  write","scp":"read write","scopes":["a",1,"b"],"num":5}"#)
            .unwrap_or_default();
        assert_eq!(t.scope_values("scope", true), Some(vec!["read", "write"]));
        assert_eq!(t.scope_values("scp", false), Some(vec!["read write"]));
        assert_eq!(t.scope_values("scopes", false), Some(vec!["a", "b"]));
        assert_eq!(t.scope_values("missing", true), None);
        // scope_grants answers as scope_values' list would, for every claim, split or not.
        let all = t.all.clone();
        for name in all.keys().map(String::as_str).chain(["missing"]) {
            for split in [true, false] {
                for wanted in ["read", "write", "read write", "", "a", "b", "c", " "] {
                    assert_eq!(
                        t.scope_grants(name, split, wanted),
                        t.scope_values(name, split).map(|v| v.contains(&wanted)),
                        "{name} {split} {wanted:?}"
                    );
                }
            }
        }
    }
}
