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
    /// Values of the wrong type, in the API server's words.
    pub invalid: Vec<Failure>,
    /// Where a wrong-typed value was removed: the core's complaints there are about the removal.
    pub pruned: Vec<String>,
    /// `path` → a suggestion for an unknown field (`did you mean "service"?`).
    pub hints: Vec<(String, String)>,
}

/// Checks `obj` against its CRD and prunes what the API server would not store. `None` when
/// the kind has no schema here (Lists, v1alpha1 APIRules, other APIs).
pub fn check(obj: &mut Value) -> Option<Found> {
    let api = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let schema = schema_of(api, kind)?;
    let mut found = Found::default();
    walk(obj, schema, "", &mut found);
    Some(found)
}

/// Returns false when `v` has the wrong type and must be removed by the caller.
fn walk(v: &mut Value, schema: &Value, path: &str, found: &mut Found) -> bool {
    // The API server drops nulls of non-nullable fields before validating.
    if v.is_null() {
        return true;
    }
    if let Some(want) = schema.get("type").and_then(Value::as_str) {
        let got = type_of(v);
        if got != want && !(want == "number" && got == "integer") {
            let at = path.trim_start_matches('.');
            found.invalid.push(Failure::new(
                path,
                format!("Invalid value: {got:?}: {at} in body must be of type {want}: {got:?}"),
            ));
            found.pruned.push(path.to_owned());
            return false;
        }
    }
    match v {
        Value::Object(map) => walk_object(map, schema, path, found),
        Value::Array(items) => {
            let Some(item_schema) = schema.get("items") else {
                return true;
            };
            let mut keep = true;
            for (i, item) in items.iter_mut().enumerate() {
                keep &= walk(item, item_schema, &format!("{path}[{i}]"), found);
            }
            // One bad item removes the list: removing the item alone would renumber the rest.
            if !keep {
                found.pruned.push(path.to_owned());
            }
            keep
        }
        _ => true,
    }
}

fn walk_object(
    map: &mut Map<String, Value>,
    schema: &Value,
    path: &str,
    found: &mut Found,
) -> bool {
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return true;
    }
    let props = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        let at = format!("{path}.{key}");
        let child = props.and_then(|p| p.get(&key)).or(additional);
        let keep = match (child, map.get_mut(&key)) {
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
                false
            }
        };
        if !keep {
            map.remove(&key);
        }
    }
    true
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
    fn unknown_fields_and_wrong_types_are_all_reported_and_pruned() {
        let (f, pruned) = found(json!({
            "apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
            "metadata": {"name": "a", "nmespace": "x", "labels": {"k": "v"}},
            "spec": {"hosts": ["h"], "servce": {}, "service": {"name": "s", "port": "8000"},
                     "timeout": 1.5, "rules": [{"path": "/", "methods": ["GET", 7], "noAuth": true}]}
        }));
        let paths = |v: &[Failure]| v.iter().map(|f| f.path.clone()).collect::<Vec<_>>();
        assert_eq!(paths(&f.unknown), [".metadata.nmespace", ".spec.servce"]);
        assert_eq!(
            paths(&f.invalid),
            [
                ".spec.rules[0].methods[1]",
                ".spec.service.port",
                ".spec.timeout"
            ]
        );
        assert_eq!(
            f.invalid[1].message,
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
        assert!(f.pruned.contains(&".spec.rules[0].methods".to_owned()));
        assert_eq!(pruned["spec"]["service"], json!({"name": "s"}));
        assert!(pruned["spec"].get("servce").is_none() && pruned["spec"].get("timeout").is_none());
        assert!(pruned["spec"]["rules"][0].get("methods").is_none());
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
