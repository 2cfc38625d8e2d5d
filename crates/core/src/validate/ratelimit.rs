//! RateLimit validation: the CRD's schema and CEL rule, then Kyma's `internal/ratelimit/validate.go`
//! checks that need no cluster (fill intervals). Kyma stops at its first controller error; so do we.

use serde_json::Value;

use super::{spec_of, Failure};
use crate::config::ratelimit::{go_duration_ns, BucketSpec, Spec};

/// A valid RateLimit, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub selector_labels: Vec<(String, String)>,
    pub enforce: bool,
    pub response_headers: bool,
    pub default_bucket: Bucket,
    pub buckets: Vec<KeyedBucket>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub max_tokens: u64,
    pub tokens_per_fill: u64,
    pub fill_interval_ms: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeyedBucket {
    pub path: Option<String>,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub bucket: Bucket,
}

const MIN_FILL_NS: i128 = 50_000_000;

pub fn check(spec: Option<&Value>) -> Result<Model, Vec<Failure>> {
    let spec: Spec = spec_of(spec, true)?.unwrap_or_default();
    let mut out = Vec::new();
    match &spec.selector_labels {
        None => out.push(Failure::new(".spec.selectorLabels", "Required value")),
        Some(l) if l.is_empty() => out.push(Failure::new(
            ".spec.selectorLabels",
            "Invalid value: 0: should have at least 1 properties",
        )),
        _ => {}
    }
    let local = spec.local.clone().unwrap_or_default();
    if spec.local.is_none() {
        out.push(Failure::new(".spec.local", "Required value"));
    }
    let default = match &local.default_bucket {
        None if spec.local.is_some() => {
            out.push(Failure::new(".spec.local.defaultBucket", "Required value"));
            None
        }
        None => None,
        Some(b) => crd_bucket(&mut out, ".spec.local.defaultBucket", b),
    };
    let mut keyed = Vec::new();
    for (i, b) in local.buckets.iter().enumerate() {
        let at = format!(".spec.local.buckets[{i}]");
        if b.path.is_none() && b.headers.is_none() {
            out.push(Failure::new(
                at.clone(),
                r#"Invalid value: "object": At least one of 'path' or 'headers' must be set"#,
            ));
        }
        let bucket = match &b.bucket {
            None => {
                out.push(Failure::new(format!("{at}.bucket"), "Required value"));
                None
            }
            Some(spec) => crd_bucket(&mut out, &format!("{at}.bucket"), spec),
        };
        keyed.push((b, bucket));
    }
    if !out.is_empty() {
        return Err(out);
    }
    let Some((default, default_ns)) = default else {
        return Err(vec![Failure::new(
            ".spec.local.defaultBucket",
            "Required value",
        )]);
    };
    // Kyma's controller: the first failing interval is the error.
    let controller = |message: String| Err(vec![Failure::new(".spec.local", message)]);
    if default_ns < MIN_FILL_NS {
        return controller("defaultBucket: fillInterval must be greater or equal 50ms".into());
    }
    let mut buckets = Vec::with_capacity(keyed.len());
    for (i, (b, bucket)) in keyed.into_iter().enumerate() {
        let Some((bucket, ns)) = bucket else {
            return controller(format!("bucket '[{i}]': bucket is required"));
        };
        if ns < MIN_FILL_NS {
            return controller(format!(
                "bucket '[{i}]': fillInterval must be greater or equal 50ms"
            ));
        }
        if ns % default_ns != 0 {
            return controller(format!(
                "bucket '[{i}]': fillInterval must be a multiple of defaultBucket fillInterval"
            ));
        }
        buckets.push(KeyedBucket {
            path: b.path.clone(),
            headers: b
                .headers
                .iter()
                .flatten()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect(),
            bucket,
        });
    }
    Ok(Model {
        selector_labels: spec
            .selector_labels
            .unwrap_or_default()
            .into_iter()
            .collect(),
        enforce: spec.enforce.unwrap_or(true),
        response_headers: spec.enable_response_headers,
        default_bucket: default,
        buckets,
    })
}

/// The schema of one bucket; `Some` with the fill interval in nanoseconds when it holds.
fn crd_bucket(out: &mut Vec<Failure>, at: &str, b: &BucketSpec) -> Option<(Bucket, i128)> {
    let before = out.len();
    let mut count = |field: &str, v: &Option<Value>| -> u64 {
        let path = format!("{at}.{field}");
        match v {
            None => out.push(Failure::new(path, "Required value")),
            Some(Value::Number(n)) => match n.as_i64() {
                // int64 in the CRD; Envoy's token bucket refuses anything below 1.
                Some(t) if t >= 1 => return t as u64,
                Some(t) => out.push(Failure::new(
                    path,
                    format!("Invalid value: {t}: must be at least 1 (Envoy's token bucket refuses less)"),
                )),
                None => out.push(Failure::new(
                    path,
                    format!("Invalid value: {n}: must be of type integer"),
                )),
            },
            Some(other) => out.push(Failure::new(
                path,
                format!("Invalid value: {other}: must be of type integer"),
            )),
        }
        0
    };
    let max_tokens = count("maxTokens", &b.max_tokens);
    let tokens_per_fill = count("tokensPerFill", &b.tokens_per_fill);
    let path = format!("{at}.fillInterval");
    let fill_ns = match &b.fill_interval {
        None => {
            out.push(Failure::new(path, "Required value"));
            0
        }
        Some(Value::String(s)) => match go_duration_ns(s) {
            Ok(ns) => ns,
            Err(_) => {
                out.push(Failure::new(
                    path,
                    format!("Invalid value: {s:?}: must be of type duration"),
                ));
                0
            }
        },
        Some(other) => {
            out.push(Failure::new(
                path,
                format!("Invalid value: {other}: must be of type string"),
            ));
            0
        }
    };
    (out.len() == before).then(|| {
        (
            Bucket {
                max_tokens,
                tokens_per_fill,
                // Whole milliseconds; at least 50 ms once Kyma's check passed.
                fill_interval_ms: u64::try_from(fill_ns / 1_000_000).unwrap_or(0),
            },
            fill_ns,
        )
    })
}
