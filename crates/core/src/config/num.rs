//! Integers as Istio delivers them. A WasmPlugin's `pluginConfig` is a `google.protobuf.Struct`,
//! whose numbers are doubles: `8000` may arrive as `8000.0`, and a million as `1e+06`. Accept any
//! number with an integral value in range; refuse fractions, negatives and strings.

use serde::de::{Deserializer, Error, Unexpected};
use serde::Deserialize;

pub(crate) fn integral(value: &serde_json::Number) -> Result<u64, String> {
    if let Some(u) = value.as_u64() {
        return Ok(u);
    }
    match value.as_f64() {
        Some(f) if f >= 0.0 && f.fract() == 0.0 && f <= u64::MAX as f64 => Ok(f as u64),
        _ => Err(format!("expected a non-negative integer, found {value}")),
    }
}

pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<serde_json::Number>::deserialize(d)? {
        None => Ok(None),
        Some(n) => integral(&n).map(Some).map_err(D::Error::custom),
    }
}

pub fn opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    match opt_u64(d)? {
        None => Ok(None),
        Some(v) => u32::try_from(v).map(Some).map_err(|_| {
            D::Error::invalid_value(Unexpected::Unsigned(v), &"an integer below 2^32")
        }),
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct T {
        #[serde(default, deserialize_with = "super::opt_u32")]
        port: Option<u32>,
    }

    fn port(json: &str) -> Result<Option<u32>, String> {
        serde_json::from_str::<T>(json)
            .map(|t| t.port)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn accepts_protobuf_struct_numbers() {
        assert_eq!(port(r#"{"port": 8000}"#), Ok(Some(8000)));
        assert_eq!(port(r#"{"port": 8000.0}"#), Ok(Some(8000)));
        assert_eq!(port(r#"{"port": 1e+06}"#), Ok(Some(1_000_000)));
        assert_eq!(port(r#"{"port": null}"#), Ok(None));
        assert_eq!(port(r#"{}"#), Ok(None));
        assert!(port(r#"{"port": 1.5}"#).is_err());
        assert!(port(r#"{"port": -1}"#).is_err());
        assert!(port(r#"{"port": "80"}"#).is_err());
        assert!(port(r#"{"port": 1e20}"#).is_err());
    }
}

/// A duration in milliseconds from `"300s"`, `"5m"`, `"1h30m"`, `"250ms"`, or a number of seconds.
pub fn duration_ms(value: &serde_json::Value) -> Result<u64, String> {
    match value {
        serde_json::Value::Number(n) => n
            .as_f64()
            .filter(|f| *f >= 0.0 && f.is_finite())
            .map(|f| (f * 1000.0) as u64)
            .ok_or_else(|| format!("invalid duration {n}")),
        // Go's time.ParseDuration, as Oathkeeper and Kubernetes read durations; never negative.
        serde_json::Value::String(s) => match super::ratelimit::go_duration_ns(s) {
            Ok(ns) if ns >= 0 => Ok(u64::try_from(ns / 1_000_000).unwrap_or(u64::MAX)),
            Ok(_) => Err(format!("invalid duration {s:?}: negative")),
            Err(e) => Err(e),
        },
        other => Err(format!("invalid duration {other}")),
    }
}

#[cfg(test)]
mod duration_tests {
    use super::duration_ms;
    use serde_json::json;

    #[test]
    fn durations() {
        assert_eq!(duration_ms(&json!("300s")), Ok(300_000));
        assert_eq!(duration_ms(&json!("1h30m")), Ok(5_400_000));
        assert_eq!(duration_ms(&json!("250ms")), Ok(250));
        assert_eq!(duration_ms(&json!(2)), Ok(2000));
        assert_eq!(duration_ms(&json!("1.5s")), Ok(1500), "Go's fractions");
        assert!(duration_ms(&json!("-1s")).is_err());
        assert!(duration_ms(&json!("5 s")).is_err());
        assert!(duration_ms(&json!("")).is_err());
        assert!(duration_ms(&json!("10")).is_err());
        assert!(duration_ms(&json!(true)).is_err());
    }
}
