//! Typed views of the JSON the APIRules and handler configs arrive as, read field by field from a
//! `serde_json::Value`.
//!
//! serde's derive builds a deserializer for every type and every JSON source it is read from; for
//! these specs that was about 100 KB of the module, and V8 keeps every KB of it compiled in every
//! Envoy (BENCHMARKS.md "Memory"). Here each struct is one small function over the object's map,
//! the per-type work shared by all fields of that type. The messages are serde_json's own (the
//! tests compare them with the derive's), and the error names the failing field in the module too.
//! For the same reason the core parses JSON text with `serde_json::from_slice` only: each other
//! entry point (`from_str`, `from_value`) is another copy of the parser.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde_json::{Map, Value};

/// A value that did not have the expected shape, with the field it was found at.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadError {
    /// Innermost step first: errors are built where they happen and gain a step per level.
    steps: Vec<Step>,
    message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

impl ReadError {
    pub fn new(message: String) -> ReadError {
        ReadError {
            steps: Vec::new(),
            message,
        }
    }

    pub fn at_key(mut self, key: &str) -> ReadError {
        self.steps.push(Step::Key(key.to_owned()));
        self
    }

    fn at_index(mut self, index: usize) -> ReadError {
        self.steps.push(Step::Index(index));
        self
    }

    /// `rules[0].timeout`, or `.` for the value itself (serde_path_to_error's notation).
    pub fn path(&self) -> String {
        if self.steps.is_empty() {
            return ".".into();
        }
        let mut out = String::new();
        for step in self.steps.iter().rev() {
            match step {
                Step::Index(i) => out.push_str(&format!("[{i}]")),
                Step::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
            }
        }
        out
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// How serde_json names a JSON value in "invalid type" messages. Written out rather than taken
/// from serde's `Unexpected`, whose `Display` brings core's float formatting (about 20 KB) into
/// the module; the differential tests below hold the wording to serde_json's.
fn unexpected(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean `{b}`"),
        Value::Number(n) if n.is_f64() => format!("floating point `{n}`"),
        Value::Number(n) => format!("integer `{n}`"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "sequence".into(),
        Value::Object(_) => "map".into(),
    }
}

/// "invalid type: string \"x\", expected a boolean", as serde_json words it.
pub fn invalid_type(v: &Value, expected: &str) -> ReadError {
    ReadError::new(format!(
        "invalid type: {}, expected {expected}",
        unexpected(v)
    ))
}

fn invalid_value(found: &str, expected: &str) -> ReadError {
    ReadError::new(format!("invalid value: {found}, expected {expected}"))
}

/// A type read from a JSON value.
pub trait FromJson: Sized {
    fn from_json(v: &Value) -> Result<Self, ReadError>;
}

/// Reads `value` as `T`; the error's path is relative to `value`.
pub fn read<T: FromJson>(value: &Value) -> Result<T, ReadError> {
    T::from_json(value)
}

/// The members of an object that is read as the struct `name` (`"struct Spec"`).
pub fn object<'a>(v: &'a Value, name: &str) -> Result<&'a Map<String, Value>, ReadError> {
    v.as_object().ok_or_else(|| invalid_type(v, name))
}

/// One member of a struct: its type's default when absent (every field these structs have is an
/// `Option` or a `#[serde(default)]` one), read as `T` when present.
pub fn field<T: FromJson + Default>(map: &Map<String, Value>, key: &str) -> Result<T, ReadError> {
    match map.get(key) {
        None => Ok(T::default()),
        Some(v) => T::from_json(v).map_err(|e| e.at_key(key)),
    }
}

impl FromJson for String {
    fn from_json(v: &Value) -> Result<Self, ReadError> {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| invalid_type(v, "a string"))
    }
}

impl FromJson for bool {
    fn from_json(v: &Value) -> Result<Self, ReadError> {
        v.as_bool().ok_or_else(|| invalid_type(v, "a boolean"))
    }
}

impl FromJson for Value {
    fn from_json(v: &Value) -> Result<Self, ReadError> {
        Ok(v.clone())
    }
}

impl FromJson for f64 {
    fn from_json(v: &Value) -> Result<Self, ReadError> {
        v.as_f64().ok_or_else(|| invalid_type(v, "f64"))
    }
}

impl FromJson for Map<String, Value> {
    fn from_json(v: &Value) -> Result<Self, ReadError> {
        v.as_object()
            .cloned()
            .ok_or_else(|| invalid_type(v, "a map"))
    }
}

/// Integers as Istio delivers them (`config::num`): any number with an integral value in range.
impl FromJson for u64 {
    fn from_json(v: &Value) -> Result<Self, ReadError> {
        let Value::Number(n) = v else {
            return Err(invalid_type(v, "a JSON number"));
        };
        super::num::integral(n).map_err(ReadError::new)
    }
}

impl FromJson for u32 {
    fn from_json(v: &Value) -> Result<Self, ReadError> {
        let wide = u64::from_json(v)?;
        u32::try_from(wide)
            .map_err(|_| invalid_value(&format!("integer `{wide}`"), "an integer below 2^32"))
    }
}

/// Absent and `null` are `None`.
impl<T: FromJson> FromJson for Option<T> {
    fn from_json(v: &Value) -> Result<Self, ReadError> {
        match v {
            Value::Null => Ok(None),
            v => T::from_json(v).map(Some),
        }
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(v: &Value) -> Result<Self, ReadError> {
        let items = v.as_array().ok_or_else(|| invalid_type(v, "a sequence"))?;
        // A plain loop: this is instantiated for every item type, and an iterator chain
        // collected into a `Result` costs several times the code per type.
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            out.push(T::from_json(item).map_err(|e| e.at_index(i))?);
        }
        Ok(out)
    }
}

impl<T: FromJson> FromJson for BTreeMap<String, T> {
    fn from_json(v: &Value) -> Result<Self, ReadError> {
        let map = v.as_object().ok_or_else(|| invalid_type(v, "a map"))?;
        // Inserted one by one: `collect` would sort the (already sorted) pairs first, and each
        // map type would bring its own copy of the sort into the module.
        let mut out = BTreeMap::new();
        for (k, item) in map {
            out.insert(k.clone(), T::from_json(item).map_err(|e| e.at_key(k))?);
        }
        Ok(out)
    }
}

/// A serde externally tagged enum: `"name"` or `{"name": content}`, as the variant's index, its
/// name and its content.
fn variant<'a>(
    v: &'a Value,
    variants: &'static [&'static str],
) -> Result<(usize, &'a str, Option<&'a Value>), ReadError> {
    let (key, content) = match v {
        Value::String(key) => (key.as_str(), None),
        Value::Object(map) => {
            let mut members = map.iter();
            let (Some((key, content)), None) = (members.next(), members.next()) else {
                return Err(invalid_value("map", "map with a single key"));
            };
            (key.as_str(), Some(content))
        }
        other => return Err(invalid_type(other, "string or map")),
    };
    let at = variants.iter().position(|&n| n == key).ok_or_else(|| {
        ReadError::new(serde_json::Error::unknown_variant(key, variants).to_string())
    })?;
    Ok((at, key, content))
}

/// An enum whose variants each carry one string (`{"header": "x"}`).
pub fn string_variant<T>(
    v: &Value,
    variants: &'static [&'static str],
    make: impl Fn(usize, String) -> T,
) -> Result<T, ReadError> {
    match variant(v, variants)? {
        (at, key, Some(content)) => Ok(make(
            at,
            String::from_json(content).map_err(|e| e.at_key(key))?,
        )),
        (_, key, None) => Err(ReadError::new(
            "invalid type: unit variant, expected newtype variant".into(),
        )
        .at_key(key)),
    }
}

/// A member without a default: absent is serde's "missing field".
pub fn required<T: FromJson>(map: &Map<String, Value>, key: &'static str) -> Result<T, ReadError> {
    match map.get(key) {
        None => Err(ReadError::new(
            serde_json::Error::missing_field(key).to_string(),
        )),
        Some(v) => T::from_json(v).map_err(|e| e.at_key(key)),
    }
}

/// serde's `deny_unknown_fields`: a member not in `known` is an error (a typo in the plugin
/// configuration must not silently change what is served).
pub fn only(map: &Map<String, Value>, known: &'static [&'static str]) -> Result<(), ReadError> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => {
            Err(ReadError::new(serde_json::Error::unknown_field(k, known).to_string()).at_key(k))
        }
    }
}

/// An enum of unit variants (`"ory"`).
pub fn unit_variant(v: &Value, variants: &'static [&'static str]) -> Result<usize, ReadError> {
    match variant(v, variants)? {
        (at, _, None | Some(Value::Null)) => Ok(at),
        (_, key, Some(other)) => Err(invalid_type(other, "unit").at_key(key)),
    }
}

/// `FromJson` for a struct whose fields are read with [`field`] (absent: the type's default) or,
/// marked `required`, with [`required`]: `from_json_struct!(Spec { host: "host", name: "name"
/// required })`. `strict` refuses unknown members; `skip { .. }` lists fields that are not read
/// (their default).
macro_rules! from_json_struct {
    ($ty:ident { $($field:ident: $key:literal $($how:ident)?),* $(,)? } $(skip { $($skip:ident),* })?) => {
        $crate::config::read::from_json_struct!(@impl $ty, false, { $($field: $key $($how)?),* } { $($($skip),*)? });
    };
    (strict $ty:ident { $($field:ident: $key:literal $($how:ident)?),* $(,)? } $(skip { $($skip:ident),* })?) => {
        $crate::config::read::from_json_struct!(@impl $ty, true, { $($field: $key $($how)?),* } { $($($skip),*)? });
    };
    (@impl $ty:ident, $strict:expr, { $($field:ident: $key:literal $($how:ident)?),* } { $($skip:ident),* }) => {
        impl $crate::config::read::FromJson for $ty {
            fn from_json(
                v: &serde_json::Value,
            ) -> Result<Self, $crate::config::read::ReadError> {
                let map = $crate::config::read::object(v, concat!("struct ", stringify!($ty)))?;
                if $strict {
                    $crate::config::read::only(map, &[$($key),*])?;
                }
                Ok($ty {
                    $($field: $crate::config::read::from_json_struct!(@how $($how)?)(map, $key)?,)*
                    $($skip: Default::default(),)*
                })
            }
        }
    };
    (@how) => { $crate::config::read::field };
    (@how required) => { $crate::config::read::required };
}
pub(crate) use from_json_struct;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde::de::DeserializeOwned;
    use serde_json::json;

    /// The same answer as serde's derive (with serde_path_to_error's path), or the one documented
    /// difference: an array is not read as a struct (serde's derive would fill the fields in order;
    /// Kubernetes and Go refuse it).
    pub fn agrees<T>(value: &Value) -> Result<(), String>
    where
        T: FromJson + DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        agrees_by(value, read::<T>)
    }

    /// [`agrees`] for a reader other than `FromJson`.
    pub fn agrees_by<T>(
        value: &Value,
        ours: impl Fn(&Value) -> Result<T, ReadError>,
    ) -> Result<(), String>
    where
        T: DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let ours = ours(value);
        let theirs: Result<T, _> = serde_path_to_error::deserialize(value);
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) if a == b => Ok(()),
            (Err(a), Err(b))
                if a.message == b.inner().to_string() && a.path() == b.path().to_string() =>
            {
                Ok(())
            }
            (Err(a), _)
                if a.message
                    .starts_with("invalid type: sequence, expected struct") =>
            {
                Ok(())
            }
            _ => Err(format!(
                "{value}\n  ours:  {:?}\n  serde: {:?}",
                ours.map_err(|e| (e.path(), e.message)),
                theirs.map_err(|e| (e.path().to_string(), e.into_inner().to_string()))
            )),
        }
    }

    /// `doc`, and `doc` with each of its values replaced by each of a set of odd ones, and with
    /// each member removed: every field of every type meets every JSON shape.
    pub fn variants(doc: &Value) -> Vec<Value> {
        let odd = [
            json!(null),
            json!(true),
            json!(0),
            json!(8000.0),
            json!(-1),
            json!(1.5),
            // Floats serde_json words in exponent form, and negative zero.
            json!(1e300),
            json!(-1e-7),
            json!(-0.0),
            json!(5_000_000_000u64),
            json!(""),
            json!("x"),
            json!([]),
            json!(["x"]),
            json!([null]),
            json!([{}]),
            json!({}),
            json!({"a": "b"}),
            json!({"header": "x"}),
        ];
        let mut out = vec![doc.clone()];
        let mut pointers = Vec::new();
        pointers_of(doc, String::new(), &mut pointers);
        for pointer in &pointers {
            for value in &odd {
                let mut changed = doc.clone();
                if let Some(slot) = changed.pointer_mut(pointer) {
                    *slot = value.clone();
                    out.push(changed);
                }
            }
            if let Some((parent, key)) = pointer.rsplit_once('/') {
                let mut changed = doc.clone();
                if let Some(Value::Object(m)) = changed.pointer_mut(parent) {
                    m.remove(key);
                    out.push(changed);
                }
            }
        }
        out
    }

    fn pointers_of(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, inner) in m {
                    pointers_of(inner, format!("{at}/{k}"), out);
                }
            }
            Value::Array(items) => {
                for (i, inner) in items.iter().enumerate() {
                    pointers_of(inner, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
        if !at.is_empty() {
            out.push(at);
        }
    }

    /// Every variant of `doc` reads as serde's derive reads it.
    pub fn all_agree<T>(doc: &Value)
    where
        T: FromJson + DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        all_agree_by(doc, read::<T>);
    }

    /// [`all_agree`] for a reader other than `FromJson`.
    pub fn all_agree_by<T>(doc: &Value, ours: impl Fn(&Value) -> Result<T, ReadError>)
    where
        T: DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let all = variants(doc);
        assert!(all.len() > 20, "{doc} has too few values to vary");
        for v in &all {
            assert_eq!(agrees_by(v, &ours), Ok(()));
        }
    }

    #[derive(Debug, Default, PartialEq, serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Sample {
        name: Option<String>,
        #[serde(default)]
        flag: bool,
        #[serde(default, deserialize_with = "crate::config::num::opt_u32")]
        port: Option<u32>,
        list: Option<Vec<Option<String>>>,
        labels: Option<BTreeMap<String, String>>,
        any_value: Option<Value>,
    }
    from_json_struct!(Sample {
        name: "name",
        flag: "flag",
        port: "port",
        list: "list",
        labels: "labels",
        any_value: "anyValue",
    });

    #[test]
    fn reads_as_the_derive_would() {
        let cases = [
            json!({}),
            json!({"name": "a", "flag": true, "port": 8080, "list": ["x", null], "labels": {"a": "b"}, "anyValue": [1]}),
            json!({"name": null, "port": null, "list": null, "anyValue": null}),
            json!({"port": 8000.0}),
            json!({"port": 1e6}),
            json!({"port": 1.5}),
            json!({"port": -1}),
            json!({"port": 5_000_000_000u64}),
            json!({"port": "80"}),
            json!({"flag": null}),
            json!({"flag": "yes"}),
            json!({"name": 5}),
            json!({"name": -5}),
            json!({"name": 0.25}),
            json!({"name": {}}),
            json!({"list": "x"}),
            json!({"list": ["x", 5]}),
            json!({"labels": {"a": 1}}),
            json!({"labels": []}),
            json!({"unknown": 1, "Name": "case matters"}),
            json!("text"),
            json!(null),
            json!(true),
            json!(7),
        ];
        for case in &cases {
            assert_eq!(agrees::<Sample>(case), Ok(()));
        }
        all_agree::<Sample>(&cases[1]);
    }

    /// The APIRule specs with every field set, as `kubectl get -o json` prints them.
    #[test]
    fn every_spec_reads_as_the_derive_would() {
        use crate::config::{legacy_api, ratelimit, v1beta1, v2};
        let jwt = json!({
            "authentications": [{"issuer": "https://i", "jwksUri": "https://i/jwks",
                "fromHeaders": [{"name": "x-jwt", "prefix": "Bearer "}], "fromParams": ["t"]}],
            "authorizations": [{"requiredScopes": ["read"], "audiences": ["a"]}, null],
        });
        all_agree::<v2::Spec>(&json!({
            "hosts": ["a.example.com", "b"], "gateway": "kyma-system/kyma-gateway",
            "externalGateway": "x", "timeout": 30,
            "service": {"name": "s", "namespace": "n", "port": 8080, "external": false},
            "corsPolicy": {"allowHeaders": ["h"], "allowMethods": ["GET"],
                "allowOrigins": [{"exact": "https://o"}, {"regex": ".*"}], "allowCredentials": true,
                "exposeHeaders": ["e"], "maxAge": 300},
            "rules": [
                {"path": "/a", "methods": ["GET"], "noAuth": true, "timeout": 5,
                 "service": {"name": "t", "port": 80},
                 "request": {"headers": {"x": "y"}, "cookies": {"c": "d"}}},
                {"path": "/b/{**}", "methods": ["POST"], "jwt": jwt},
                {"path": "/c", "methods": ["GET"],
                 "extAuth": {"authorizers": ["authz"], "restrictions": jwt}},
            ],
        }));
        all_agree::<v2::JwtConfig>(&jwt);
        let handler = |name: &str, config: Value| json!({"handler": name, "config": config});
        all_agree::<v1beta1::Spec>(&json!({
            "host": "h", "gateway": "g", "timeout": 20,
            "service": {"name": "s", "namespace": "n", "port": 80, "external": true},
            "corsPolicy": {"allowHeaders": ["h"], "allowMethods": ["GET"],
                "allowOrigins": [{"prefix": "https://"}], "allowCredentials": false,
                "exposeHeaders": ["e"], "maxAge": "1h"},
            "rules": [
                {"path": "/.*", "methods": ["GET"], "timeout": 3, "service": {"name": "t", "port": 81},
                 "accessStrategies": [handler("jwt", json!({"trusted_issuers": ["i"]})), null],
                 "mutators": [handler("header", json!({"headers": {"a": "b"}})), {"handler": "noop"}]},
            ],
        }));
        all_agree::<v1beta1::OryJwtConfig>(&json!({
            "trusted_issuers": ["i"], "jwks_urls": ["u"], "required_scope": ["s"],
            "target_audience": ["a"],
        }));
        all_agree::<legacy_api::Spec>(&json!({
            "hostname": "h", "service": {"name": "s", "port": 80},
            "authentication": [{"type": "JWT", "jwt": {"issuer": "i", "jwksUri": "u"}}],
        }));
        all_agree::<ratelimit::Spec>(&json!({
            "selectorLabels": {"app": "x"}, "enableResponseHeaders": true, "enforce": false,
            "local": {
                "defaultBucket": {"maxTokens": 10, "tokensPerFill": 5, "fillInterval": "30s"},
                "buckets": [{"path": "/a", "headers": {"x": "y"},
                    "bucket": {"maxTokens": 1, "tokensPerFill": 1, "fillInterval": "1m"}}],
            },
        }));
    }

    #[test]
    fn paths_name_the_field() {
        let e = read::<Sample>(&json!({"list": ["x", 5]})).err();
        assert_eq!(e.as_ref().map(ReadError::path).as_deref(), Some("list[1]"));
        let e = read::<Sample>(&json!({"labels": {"a.b": 1}})).err();
        assert_eq!(
            e.as_ref().map(ReadError::path).as_deref(),
            Some("labels.a.b")
        );
        let e = read::<Sample>(&json!(1)).err();
        assert_eq!(e.as_ref().map(ReadError::path).as_deref(), Some("."));
    }
}
