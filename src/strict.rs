//! What `kubectl apply` refuses before Kyma sees an object: fields the CRD does not declare
//! (strict field validation, kubectl's default since 1.27) and values of the wrong type (the
//! API server's OpenAPI validation). Every such field is reported, with kubectl's wording, and
//! pruned from the object, so the rest of the object can still be checked.
//!
//! The schemas are Kyma's CRDs as the repository keeps them for its tests (`tests/crds/`,
//! upstream's without descriptions). Only their structure is used here (`type`, `properties`,
//! `items`, `additionalProperties`, `x-kubernetes-preserve-unknown-fields`); value rules
//! (patterns, ranges, CEL) are checked by the core with Kyma's messages.

use std::sync::OnceLock;

use apirule_core::validate::Failure;
use serde_json::{json, Map, Value};

const CRDS: [&str; 2] = [
    include_str!("../tests/crds/kyma-apirules.yaml"),
    include_str!("../tests/crds/kyma-ratelimits.yaml"),
];

/// The schema of an object of this apiVersion and kind; `None` for kinds without one here
/// (Lists, v1alpha1 APIRules, other APIs).
fn schema_of(api_version: &str, kind: &str) -> Option<&'static Value> {
    static SCHEMAS: OnceLock<Map<String, Value>> = OnceLock::new();
    let schemas = SCHEMAS.get_or_init(|| {
        let mut all = Map::new();
        for text in CRDS {
            let crd: Value = serde_norway::from_str(text).unwrap_or_default();
            let group = crd
                .pointer("/spec/group")
                .and_then(Value::as_str)
                .unwrap_or("");
            let kind = crd
                .pointer("/spec/names/kind")
                .and_then(Value::as_str)
                .unwrap_or("");
            let versions = crd.pointer("/spec/versions").and_then(Value::as_array);
            for v in versions.into_iter().flatten() {
                let name = v.get("name").and_then(Value::as_str).unwrap_or("");
                let Some(mut schema) = v.pointer("/schema/openAPIV3Schema").cloned() else {
                    continue;
                };
                if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
                    props.insert("metadata".into(), object_meta());
                }
                all.insert(format!("{group}/{name} {kind}"), schema);
            }
        }
        all
    });
    schemas.get(&format!("{api_version} {kind}"))
}

/// Kubernetes' ObjectMeta, as strict validation knows it.
fn object_meta() -> Value {
    let s = json!({"type": "string"});
    let i = json!({"type": "integer"});
    let strings = json!({"type": "object", "additionalProperties": {"type": "string"}});
    let free = json!({"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}});
    json!({"type": "object", "properties": {
        "name": s, "generateName": s, "namespace": s, "selfLink": s, "uid": s,
        "resourceVersion": s, "generation": i, "creationTimestamp": s, "deletionTimestamp": s,
        "deletionGracePeriodSeconds": i, "labels": strings, "annotations": strings,
        "ownerReferences": free, "managedFields": free,
        "finalizers": {"type": "array", "items": s}}})
}

/// What strict validation found in one object.
#[derive(Default, Debug)]
pub struct Found {
    /// Fields the schema does not declare: `unknown field "spec.servce"`.
    pub unknown: Vec<Failure>,
    /// Values the core cannot read (wrong type, an integer out of reach), in the API server's
    /// words.
    pub invalid: Vec<Failure>,
    /// What the API server refuses of `metadata` (names).
    pub meta: Vec<Failure>,
    /// Where a value was replaced by a neutral one of the right type, so the rest of the
    /// object can be checked: the core's complaints there are about the stand-in.
    pub set_aside: Vec<String>,
    /// `path` → a suggestion for an unknown field (`did you mean "service"?`).
    pub hints: Vec<(String, String)>,
}

/// Checks `obj` against its CRD: unknown fields are removed (as the API server prunes them),
/// values the core cannot read are replaced by stand-ins. `None` when the kind has no schema
/// here (Lists, v1alpha1 APIRules, other APIs).
pub fn check(obj: &mut Value) -> Option<Found> {
    let api = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let schema = schema_of(api, kind)?;
    let mut found = Found::default();
    walk(obj, schema, "", &mut found);
    names(obj, &mut found);
    Some(found)
}

fn walk(v: &mut Value, schema: &Value, path: &str, found: &mut Found) {
    // The API server drops nulls of non-nullable fields before validating.
    if v.is_null() {
        return;
    }
    let at = path.trim_start_matches('.');
    if let Some(want) = schema.get("type").and_then(Value::as_str) {
        let got = type_of(v);
        if got != want && !(want == "number" && got == "integer") {
            found.invalid.push(Failure::new(
                path,
                format!("Invalid value: {got:?}: {at} in body must be of type {want}: {got:?}"),
            ));
            found.set_aside.push(path.to_owned());
            *v = stand_in(want, v, schema);
            return;
        }
    }
    if let Some(n) = v.as_f64().filter(|_| v.is_number()) {
        // The core reads integers as unsigned 32 bits: what lies beyond and breaks a bound of
        // the schema is reported here, with the bound.
        let out_of_reach = n < 0.0 || n > f64::from(u32::MAX);
        let bound = |key: &str| schema.get(key).and_then(Value::as_f64);
        let broken = match (bound("minimum"), bound("maximum")) {
            (Some(min), _) if n < min => Some(format!("greater than or equal to {min}")),
            (_, Some(max)) if n > max => Some(format!("less than or equal to {max}")),
            _ => None,
        };
        if let (true, Some(broken)) = (out_of_reach, broken) {
            found.invalid.push(Failure::new(
                path,
                format!("Invalid value: {v}: {at} in body should be {broken}"),
            ));
            found.set_aside.push(path.to_owned());
            *v = stand_in("integer", v, schema);
            return;
        }
    }
    match v {
        Value::Object(map) => walk_object(map, schema, path, found),
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(item, item_schema, &format!("{path}[{i}]"), found);
                }
            }
        }
        _ => {}
    }
}

/// A neutral value of the type the schema wants, standing in for one the core cannot read (so
/// a wrong-typed `service` does not also make every rule lack a service).
fn stand_in(want: &str, was: &Value, schema: &Value) -> Value {
    let bound = |key: &str| schema.get(key).and_then(Value::as_f64);
    match want {
        "object" => json!({}),
        "array" => json!([]),
        "string" => json!(""),
        "boolean" => json!(
            matches!(was, Value::String(s) if s.eq_ignore_ascii_case("true"))
                || was.as_f64().is_some_and(|n| n != 0.0)
        ),
        _ => {
            let asked = match was {
                Value::String(s) => s.trim().parse::<f64>().ok(),
                other => other.as_f64(),
            };
            let (min, max) = (
                bound("minimum").unwrap_or(1.0),
                bound("maximum").unwrap_or(f64::from(u32::MAX)),
            );
            let n = asked.unwrap_or(min).trunc().clamp(min.max(0.0), max);
            json!(n as u64)
        }
    }
}

fn walk_object(map: &mut Map<String, Value>, schema: &Value, path: &str, found: &mut Found) {
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return;
    }
    let props = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        let at = format!("{path}.{key}");
        match (
            props.and_then(|p| p.get(&key)).or(additional),
            map.get_mut(&key),
        ) {
            (Some(child), Some(value)) => walk(value, child, &at, found),
            _ => {
                found.unknown.push(Failure::new(
                    &at,
                    format!("unknown field {:?}", at.trim_start_matches('.')),
                ));
                if let Some(best) = props.and_then(|p| closest(&key, p.keys())) {
                    found
                        .hints
                        .push((at.clone(), format!("did you mean {best:?}?")));
                }
                map.remove(&key);
            }
        }
    }
}

/// The API server's rules for `metadata.name` (a DNS subdomain, required) and
/// `metadata.namespace` (a DNS label).
fn names(obj: &Value, found: &mut Found) {
    let meta = |k: &str| {
        obj.pointer(&format!("/metadata/{k}"))
            .and_then(Value::as_str)
    };
    match meta("name") {
        None if meta("generateName").is_none() => found.meta.push(Failure::new(
            ".metadata.name",
            "Required value: name or generateName is required",
        )),
        Some(name) if !is_subdomain(name) => found.meta.push(Failure::new(
            ".metadata.name",
            format!(
                "Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case \
                 alphanumeric characters, '-' or '.', and must start and end with an alphanumeric \
                 character (e.g. 'example.com', regex used for validation is \
                 '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ),
        )),
        _ => {}
    }
    if let Some(ns) = meta("namespace").filter(|ns| !is_label(ns)) {
        found.meta.push(Failure::new(
            ".metadata.namespace",
            format!(
                "Invalid value: {ns:?}: a lowercase RFC 1123 label must consist of lower case \
                 alphanumeric characters or '-', and must start and end with an alphanumeric \
                 character (e.g. 'my-name',  or '123-abc', regex used for validation is \
                 '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
            ),
        ));
    }
}

fn is_label(s: &str) -> bool {
    s.len() <= 63 && is_label_unbounded(s)
}

fn is_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.')
            .all(|part| !part.is_empty() && is_label_unbounded(part))
}

fn is_label_unbounded(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    s.starts_with(alnum) && s.ends_with(alnum) && s.chars().all(|c| alnum(c) || c == '-')
}

/// The JSON type as the API server names it (a number with an integral value is an integer,
/// as Kubernetes decodes it).
fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The declared field nearest to a misspelled one, when it is near enough to be a typo.
fn closest<'a>(key: &str, known: impl Iterator<Item = &'a String>) -> Option<&'a String> {
    let lower = key.to_ascii_lowercase();
    known
        .map(|k| (distance(&lower, &k.to_ascii_lowercase()), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance over characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn found(obj: Value) -> (Found, Value) {
        let mut obj = obj;
        let f = check(&mut obj).unwrap();
        (f, obj)
    }

    #[test]
    fn unknown_fields_and_wrong_types_are_all_reported_and_set_aside() {
        let (f, checked) = found(json!({
            "apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
            "metadata": {"name": "a", "nmespace": "x", "labels": {"k": "v"}},
            "spec": {"hosts": ["h"], "servce": {}, "service": {"name": "s", "port": "8000"},
                     "timeout": 1.5, "corsPolicy": {"maxAge": -3},
                     "rules": [{"path": "/", "methods": ["GET", 7], "noAuth": "true"}]}
        }));
        let paths = |v: &[Failure]| v.iter().map(|f| f.path.clone()).collect::<Vec<_>>();
        assert_eq!(paths(&f.unknown), [".metadata.nmespace", ".spec.servce"]);
        assert_eq!(
            paths(&f.invalid),
            [
                ".spec.corsPolicy.maxAge",
                ".spec.rules[0].methods[1]",
                ".spec.rules[0].noAuth",
                ".spec.service.port",
                ".spec.timeout"
            ]
        );
        assert_eq!(
            f.invalid[0].message,
            "Invalid value: -3: spec.corsPolicy.maxAge in body should be greater than or equal to 1"
        );
        assert_eq!(
            f.invalid[3].message,
            r#"Invalid value: "string": spec.service.port in body must be of type integer: "string""#
        );
        assert_eq!(f.unknown[1].message, r#"unknown field "spec.servce""#);
        assert_eq!(
            f.hints,
            [
                (
                    ".metadata.nmespace".into(),
                    "did you mean \"namespace\"?".into()
                ),
                (".spec.servce".into(), "did you mean \"service\"?".into())
            ]
        );
        assert_eq!(f.set_aside, paths(&f.invalid));
        // Stand-ins of the right type keep the rest of the object checkable.
        assert_eq!(
            checked["spec"]["service"],
            json!({"name": "s", "port": 8000})
        );
        assert_eq!(checked["spec"]["rules"][0]["methods"], json!(["GET", ""]));
        assert_eq!(checked["spec"]["rules"][0]["noAuth"], json!(true));
        assert_eq!(checked["spec"]["corsPolicy"]["maxAge"], json!(1));
        assert!(checked["spec"].get("servce").is_none());
        assert!(f.meta.is_empty());
    }

    #[test]
    fn names_as_the_api_server_wants_them() {
        let meta = |m: Value| {
            let (f, _) = found(
                json!({"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule", "metadata": m}),
            );
            f.meta.iter().map(|f| f.path.clone()).collect::<Vec<_>>()
        };
        assert_eq!(meta(json!({})), [".metadata.name"]);
        assert!(meta(json!({"generateName": "x-"})).is_empty());
        assert!(meta(json!({"name": "a.b-c", "namespace": "ns-1"})).is_empty());
        assert_eq!(
            meta(json!({"name": "My_Rule", "namespace": "Test_NS"})),
            [".metadata.name", ".metadata.namespace"]
        );
        assert_eq!(
            meta(json!({"name": "a..b", "namespace": "x".repeat(64)})),
            [".metadata.name", ".metadata.namespace"]
        );
    }

    #[test]
    fn what_the_api_server_accepts_passes_untouched() {
        let obj = json!({
            "apiVersion": "gateway.kyma-project.io/v1beta1", "kind": "APIRule",
            "metadata": {"name": "a", "managedFields": [{"any": 1}], "generation": 2},
            "spec": {"host": "h", "service": {"name": "s", "port": 8000.0}, "gateway": "g/g",
                     "rules": [{"path": "/.*", "methods": ["GET"], "accessStrategies": [
                         {"handler": "jwt", "config": {"anything": {"goes": [1]}}}]}]},
            "status": {"APIRuleStatus": {"code": "OK"}}
        });
        let (f, pruned) = found(obj.clone());
        assert!(f.unknown.is_empty() && f.invalid.is_empty(), "{f:?}");
        assert_eq!(pruned, obj);
        assert!(check(&mut json!({"apiVersion": "v1", "kind": "Service"})).is_none());
    }

    #[test]
    fn every_served_version_has_its_schema() {
        for version in ["v2", "v2alpha1", "v1beta1"] {
            assert!(schema_of(&format!("gateway.kyma-project.io/{version}"), "APIRule").is_some());
        }
        assert!(schema_of("gateway.kyma-project.io/v1alpha1", "RateLimit").is_some());
        assert!(schema_of("gateway.kyma-project.io/v1alpha1", "APIRule").is_none());
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        let known = [
            "service".to_owned(),
            "hosts".to_owned(),
            "corsPolicy".to_owned(),
        ];
        assert_eq!(closest("servce", known.iter()).unwrap(), "service");
        assert_eq!(closest("host", known.iter()).unwrap(), "hosts");
        assert_eq!(closest("corspolicy", known.iter()).unwrap(), "corsPolicy");
        assert!(closest("banana", known.iter()).is_none());
    }
}
