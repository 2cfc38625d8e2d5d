//! Kyma's `RateLimit` resource (`gateway.kyma-project.io/v1alpha1`), as typed views. The CRD's
//! own schema checks live in `validate::ratelimit`; fields are optional here so that a missing
//! one is reported with Kyma's wording instead of a type error.

use std::collections::BTreeMap;

use serde_json::Value;

use super::read;

pub const API_VERSION: &str = "gateway.kyma-project.io/v1alpha1";
pub const KIND: &str = "RateLimit";

pub fn is_rate_limit(obj: &Value) -> bool {
    obj.get("kind").and_then(Value::as_str) == Some(KIND)
}

#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(rename_all = "camelCase"))]
pub struct Spec {
    pub selector_labels: Option<BTreeMap<String, String>>,
    pub local: Option<Local>,
    #[cfg_attr(test, serde(default))]
    pub enable_response_headers: bool,
    /// The CRD's default is `true`.
    pub enforce: Option<bool>,
}
read::from_json_struct!(Spec {
    selector_labels: "selectorLabels",
    local: "local",
    enable_response_headers: "enableResponseHeaders",
    enforce: "enforce",
});

#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(rename_all = "camelCase"))]
pub struct Local {
    pub default_bucket: Option<BucketSpec>,
    #[cfg_attr(test, serde(default))]
    pub buckets: Vec<BucketConfig>,
}
read::from_json_struct!(Local {
    default_bucket: "defaultBucket",
    buckets: "buckets",
});

#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub struct BucketConfig {
    pub path: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub bucket: Option<BucketSpec>,
}
read::from_json_struct!(BucketConfig {
    path: "path",
    headers: "headers",
    bucket: "bucket",
});

#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(rename_all = "camelCase"))]
pub struct BucketSpec {
    pub max_tokens: Option<Value>,
    pub tokens_per_fill: Option<Value>,
    pub fill_interval: Option<Value>,
}
read::from_json_struct!(BucketSpec {
    max_tokens: "maxTokens",
    tokens_per_fill: "tokensPerFill",
    fill_interval: "fillInterval",
});

/// The pods the filter runs in, as far as selecting RateLimits goes.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(test, serde(deny_unknown_fields))]
pub struct Workload {
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
}
read::from_json_struct!(strict Workload {
    namespace: "namespace" required,
    labels: "labels" required,
});

impl Default for Workload {
    fn default() -> Workload {
        // Inserted, not collected: `collect` into a map brings a sort into the module.
        let mut labels = BTreeMap::new();
        labels.insert("app".to_owned(), "istio-ingressgateway".to_owned());
        labels.insert("istio".to_owned(), "ingressgateway".to_owned());
        Workload {
            namespace: "istio-system".into(),
            labels,
        }
    }
}

/// A Go `time.ParseDuration` string in nanoseconds (`"1m30s"`, `"1.5s"`, `"250ms"`, `"-1s"`),
/// as Kubernetes reads `format: duration` fields.
pub fn go_duration_ns(s: &str) -> Result<i128, String> {
    let bad = || format!("time: invalid duration {s:?}");
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_part = "";
        if let Some(after) = rest.strip_prefix('.') {
            let n = after
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after.len());
            frac_part = &after[..n];
            rest = &after[n..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(bad());
        }
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit: i128 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("time: missing unit in duration {s:?}")),
            other => return Err(format!("time: unknown unit {other:?} in duration {s:?}")),
        };
        rest = &rest[unit_len..];
        let whole: i128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| bad())?
        };
        let mut value = whole.checked_mul(unit).ok_or_else(bad)?;
        let mut scale = unit;
        for d in frac_part.bytes().take(18) {
            scale /= 10;
            value += i128::from(d - b'0') * scale;
        }
        total = total.checked_add(value).ok_or_else(bad)?;
        if total > i128::from(i64::MAX) {
            return Err(bad());
        }
    }
    Ok(if negative { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::go_duration_ns;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration_ns("1s"), Ok(1_000_000_000));
        assert_eq!(go_duration_ns("50ms"), Ok(50_000_000));
        assert_eq!(go_duration_ns("1m30s"), Ok(90_000_000_000));
        assert_eq!(go_duration_ns("1.5s"), Ok(1_500_000_000));
        assert_eq!(go_duration_ns(".5s"), Ok(500_000_000));
        assert_eq!(go_duration_ns("-2ms"), Ok(-2_000_000));
        assert_eq!(go_duration_ns("10us"), Ok(10_000));
        assert_eq!(go_duration_ns("0"), Ok(0));
        for bad in ["", "10", "1x", "s", "1.s.", "-", "9999999999h"] {
            assert!(go_duration_ns(bad).is_err(), "{bad}");
        }
    }
}
