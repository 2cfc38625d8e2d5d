//! Kyma's `RateLimit` (local buckets), enforced in the filter.
//!
//! Which RateLimit: the one whose `selectorLabels` select the pods the filter runs in (the
//! plugin configuration's `workload`). Which bucket: the first of `local.buckets` whose `path`
//! equals the request's `:path` (query included, no wildcards, as Kyma) and whose `headers` are
//! all present with exactly those values; otherwise `defaultBucket`. Only requests that match an
//! APIRule rule are counted (Kyma patches routes; a request without a route has none), and they
//! are counted before authentication, as Envoy's local_ratelimit runs first.
//!
//! The buckets themselves live in Envoy's shared data, so all worker threads draw from one
//! bucket. This module holds the arithmetic ([`take`]), pure; the shell does the
//! compare-and-swap around it.

use std::borrow::Cow;

use crate::config::ratelimit::Workload;
use crate::config::{object_identity, ConfigError, PluginConfig};
use crate::report::{Report, Status};
use crate::response::{Deny, DenyReason, Headers};
use crate::validate::ratelimit::{check, Bucket, Model};
use crate::validate::Failure;

/// The RateLimit this filter enforces.
#[derive(Debug)]
pub struct RateLimiter {
    pub name: String,
    pub namespace: String,
    pub enforce: bool,
    pub response_headers: bool,
    /// `[0]` is the default bucket, then `local.buckets` in order.
    buckets: Vec<CompiledBucket>,
}

#[derive(Debug)]
struct CompiledBucket {
    path: Option<String>,
    headers: Vec<(String, String)>,
    spec: Bucket,
    /// The shared-data key; it names the spec, so a changed bucket starts full.
    key: String,
}

/// The bucket a request draws from.
#[derive(Debug, Clone, Copy)]
pub struct BucketRef<'a> {
    /// 0: `defaultBucket`; `i + 1`: `local.buckets[i]`.
    pub index: usize,
    pub key: &'a str,
    pub spec: &'a Bucket,
}

/// What drawing one token gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    pub allowed: bool,
    pub remaining: u64,
    /// Milliseconds until the next fill.
    pub reset_ms: u64,
}

/// What the request's limit means for it.
#[derive(Debug, PartialEq, Eq)]
pub enum Limit {
    /// Within the limit, or over it in shadow mode; these headers go on the response.
    Pass { headers: Headers, shadowed: bool },
    /// Over the limit: this reply.
    Deny(Deny),
}

/// The RateLimit objects of a configuration → the one that applies, with a report per object.
pub fn compile(config: &PluginConfig) -> Result<(Option<RateLimiter>, Vec<Report>), ConfigError> {
    let workload = config.workload.clone().unwrap_or_default();
    let mut reports = Vec::new();
    let mut selecting = Vec::new();
    for obj in config.rate_limit_objects()? {
        let (name, namespace) = object_identity(obj);
        let api_version = obj
            .get("apiVersion")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned();
        let mut report = Report {
            name,
            namespace,
            api_version,
            kind: crate::config::ratelimit::KIND.into(),
            status: Status::Ready,
        };
        if report.api_version != crate::config::ratelimit::API_VERSION {
            report.status = Status::Error(vec![Failure::new(
                ".apiVersion",
                format!(
                    "unsupported apiVersion {:?}: expected {}",
                    report.api_version,
                    crate::config::ratelimit::API_VERSION
                ),
            )]);
        } else {
            match check(obj.get("spec")) {
                Err(f) => report.status = Status::Error(f),
                Ok(model) if !selects(&model, &report.namespace, &workload) => {
                    report.status = Status::Ignored(format!(
                        "selects other pods than this filter's (namespace {}, labels {})",
                        workload.namespace,
                        go_map(&workload.labels)
                    ));
                }
                Ok(model) => selecting.push((reports.len(), model)),
            }
        }
        reports.push(report);
    }
    // Kyma: a pod may be selected by one RateLimit only; each of several is in error.
    if selecting.len() > 1 {
        for (i, _) in &selecting {
            let others: Vec<&str> = selecting
                .iter()
                .filter(|(j, _)| j != i)
                .map(|(j, _)| reports[*j].name.as_str())
                .collect();
            let message = format!(
                "conflicting with the following RateLimit CRs: {}",
                others.join(", ")
            );
            reports[*i].status = Status::Error(vec![Failure::new(".spec.selectorLabels", message)]);
        }
        return Ok((None, reports));
    }
    let limiter = selecting.pop().map(|(i, model)| {
        let r = &reports[i];
        RateLimiter::new(&r.namespace, &r.name, model)
    });
    Ok((limiter, reports))
}

fn selects(model: &Model, namespace: &str, workload: &Workload) -> bool {
    namespace == workload.namespace
        && model
            .selector_labels
            .iter()
            .all(|(k, v)| workload.labels.get(k) == Some(v))
}

/// Go's `%v` of a map, as Kyma's messages print selectors: `map[a:b c:d]`.
fn go_map(m: &std::collections::BTreeMap<String, String>) -> String {
    let inner: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    format!("map[{}]", inner.join(" "))
}

impl RateLimiter {
    fn new(namespace: &str, name: &str, model: Model) -> RateLimiter {
        let key = |i: usize, b: &Bucket| {
            format!(
                "apirule.ratelimit/{namespace}/{name}/{i}/{}/{}/{}",
                b.max_tokens, b.tokens_per_fill, b.fill_interval_ms
            )
        };
        let mut buckets = vec![CompiledBucket {
            path: None,
            headers: Vec::new(),
            spec: model.default_bucket,
            key: key(0, &model.default_bucket),
        }];
        for (i, b) in model.buckets.into_iter().enumerate() {
            buckets.push(CompiledBucket {
                key: key(i + 1, &b.bucket),
                path: b.path,
                headers: b.headers,
                spec: b.bucket,
            });
        }
        RateLimiter {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            enforce: model.enforce,
            response_headers: model.response_headers,
            buckets,
        }
    }

    /// Header names a bucket reads (the shell fetches only these).
    pub fn header_names(&self) -> impl Iterator<Item = &str> {
        self.buckets
            .iter()
            .flat_map(|b| b.headers.iter().map(|(k, _)| k.as_str()))
    }

    /// Every bucket, for creating them at configuration time.
    pub fn all(&self) -> impl Iterator<Item = BucketRef<'_>> {
        self.buckets.iter().enumerate().map(|(index, b)| BucketRef {
            index,
            key: &b.key,
            spec: &b.spec,
        })
    }

    /// The bucket of a request: `path` is `:path` as received, `header` gives a request header's
    /// first value by lower-case name.
    pub fn bucket_for<'s>(
        &'s self,
        path: &str,
        header: &dyn Fn(&str) -> Option<Vec<u8>>,
    ) -> BucketRef<'s> {
        let found = self.buckets.iter().enumerate().skip(1).find(|(_, b)| {
            b.path.as_deref().is_none_or(|p| p == path)
                && b.headers
                    .iter()
                    .all(|(k, v)| header(k).as_deref() == Some(v.as_bytes()))
        });
        let (index, b) = found.unwrap_or((0, &self.buckets[0]));
        BucketRef {
            index,
            key: &b.key,
            spec: &b.spec,
        }
    }

    /// The verdict for a token draw from `bucket` (`None`: the draw could not be made, so the
    /// request is treated as over the limit).
    pub fn limit(&self, bucket: BucketRef<'_>, taken: Option<Taken>) -> Limit {
        let taken = taken.unwrap_or(Taken {
            allowed: false,
            remaining: 0,
            reset_ms: bucket.spec.fill_interval_ms,
        });
        let headers = if self.response_headers {
            vec![
                (
                    Cow::Borrowed("x-ratelimit-limit"),
                    bucket.spec.max_tokens.to_string(),
                ),
                (
                    Cow::Borrowed("x-ratelimit-remaining"),
                    taken.remaining.to_string(),
                ),
                // Whole seconds, rounded up: a client waiting this long finds a fill.
                (
                    Cow::Borrowed("x-ratelimit-reset"),
                    taken.reset_ms.div_ceil(1000).to_string(),
                ),
            ]
        } else {
            Vec::new()
        };
        if taken.allowed || !self.enforce {
            return Limit::Pass {
                headers,
                shadowed: !taken.allowed,
            };
        }
        let mut headers = headers;
        headers.push((Cow::Borrowed("content-type"), "text/plain".into()));
        // Envoy's local_ratelimit reply.
        Limit::Deny(Deny {
            status: 429,
            headers,
            body: "local_rate_limited".into(),
            reason: DenyReason::RateLimited,
        })
    }
}

// The token bucket of Envoy's local_ratelimit (1.40): tokens accrue continuously at
// `tokensPerFill` per `fillInterval`, up to `maxTokens`. Its whole state is one instant: when the
// bucket would have been empty, had nothing been drawn since. Tokens held now are the time since
// then (capped at a full bucket) over the time one token takes; drawing one moves it forward.

/// A bucket's state in shared data: that instant, in nanoseconds since the epoch.
pub const STATE_LEN: usize = 8;

fn encode(empty_at_ns: u64) -> [u8; STATE_LEN] {
    empty_at_ns.to_le_bytes()
}

fn decode(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

/// Nanoseconds one token takes to accrue, and a full bucket's worth.
fn pace(spec: &Bucket) -> (u64, u64) {
    let fill_ns = u128::from(spec.fill_interval_ms) * 1_000_000;
    let per_token = (fill_ns / u128::from(spec.tokens_per_fill.max(1))).max(1);
    let full = per_token.saturating_mul(u128::from(spec.max_tokens));
    (
        u64::try_from(per_token).unwrap_or(u64::MAX),
        u64::try_from(full).unwrap_or(u64::MAX),
    )
}

/// The state of a full bucket at `now_ms`.
pub fn full(spec: &Bucket, now_ms: u64) -> [u8; STATE_LEN] {
    encode(
        now_ms
            .saturating_mul(1_000_000)
            .saturating_sub(pace(spec).1),
    )
}

/// Draws one token at `now_ms` from a bucket in state `state` (`None` or unreadable: a full
/// bucket). Returns the new state and what was drawn: as Envoy reports it, `remaining` whole
/// tokens, and `reset_ms` 0 while a token is left, else the time until the next one.
pub fn take(state: Option<&[u8]>, spec: &Bucket, now_ms: u64) -> ([u8; STATE_LEN], Taken) {
    let now = now_ms.saturating_mul(1_000_000);
    let (per_token, full) = pace(spec);
    let empty_at = state
        .and_then(decode)
        .unwrap_or_else(|| now.saturating_sub(full));
    // Another worker's clock may be behind the one that last drew: then nothing is held.
    let held = now.saturating_sub(empty_at).min(full);
    let allowed = spec.max_tokens > 0 && held >= per_token;
    let (next, left) = if allowed {
        let left = held - per_token;
        (now - left, left)
    } else {
        (empty_at, held)
    };
    let remaining = left / per_token;
    let reset_ms = if remaining > 0 {
        0
    } else {
        (per_token - left).div_ceil(1_000_000)
    };
    (
        encode(next),
        Taken {
            allowed,
            remaining,
            reset_ms,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(rate_limits: &str) -> PluginConfig {
        let json = format!(r#"{{"apiRules": [], "rateLimits": [{rate_limits}]}}"#);
        match PluginConfig::from_json(json.as_bytes()) {
            Ok(c) => c,
            Err(e) => unreachable!("{e}"),
        }
    }

    fn rate_limit(name: &str, spec: &str) -> String {
        format!(
            r#"{{"apiVersion": "gateway.kyma-project.io/v1alpha1", "kind": "RateLimit",
                "metadata": {{"name": "{name}", "namespace": "istio-system"}}, "spec": {spec}}}"#
        )
    }

    const SPEC: &str = r#"{"selectorLabels": {"app": "istio-ingressgateway"},
        "enableResponseHeaders": true,
        "local": {"defaultBucket": {"maxTokens": 3, "tokensPerFill": 2, "fillInterval": "1s"},
                  "buckets": [
                    {"path": "/headers", "bucket": {"maxTokens": 1, "tokensPerFill": 1, "fillInterval": "2s"}},
                    {"headers": {"X-Tier": "gold"}, "bucket": {"maxTokens": 100, "tokensPerFill": 100, "fillInterval": "1s"}},
                    {"path": "/ip", "headers": {"x-tier": "gold", "x-user": "a"},
                     "bucket": {"maxTokens": 5, "tokensPerFill": 5, "fillInterval": "3s"}}
                  ]}}"#;

    fn limiter(spec: &str) -> RateLimiter {
        match compile(&config(&rate_limit("rl", spec))) {
            Ok((Some(l), _)) => l,
            other => unreachable!("{other:?}"),
        }
    }

    #[test]
    fn picks_the_first_matching_bucket() {
        let l = limiter(SPEC);
        let headers = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.as_bytes().to_vec())
            }
        };
        let none = headers(&[]);
        let gold = headers(&[("x-tier", "gold"), ("x-user", "a")]);
        let max =
            |path: &str, h: &dyn Fn(&str) -> Option<Vec<u8>>| l.bucket_for(path, h).spec.max_tokens;
        assert_eq!(max("/headers", &none), 1);
        assert_eq!(
            max("/headers?x=1", &none),
            3,
            "the query is part of the path"
        );
        assert_eq!(max("/headers", &gold), 1, "first match wins");
        assert_eq!(
            max("/anything", &gold),
            100,
            "a header bucket matches any path"
        );
        assert_eq!(
            max("/anything", &headers(&[("x-tier", "Gold")])),
            3,
            "values are exact"
        );
        assert_eq!(max("/ip", &gold), 100, "an earlier bucket matches first");
        assert_eq!(max("/anything", &none), 3, "the default bucket");
        assert_eq!(
            l.header_names().collect::<Vec<_>>(),
            ["x-tier", "x-tier", "x-user"]
        );
    }

    #[test]
    fn token_bucket_matches_envoys_local_ratelimit() {
        // The sequence Envoy 1.40's local_ratelimit answers for max_tokens 2, tokens_per_fill 2,
        // fill_interval 10s (one token per 5 s), as observed with curl: (status, remaining,
        // reset) at t = 0, 0, 0, 2.6 s, 5.2 s, 5.2 s, 10.4 s, 10.4 s.
        let spec = Bucket {
            max_tokens: 2,
            tokens_per_fill: 2,
            fill_interval_ms: 10_000,
        };
        let t0 = 1_700_000_000_000;
        let mut state = Some(full(&spec, t0 - 1));
        let mut draw = |ms: u64| {
            let (s, t) = take(state.as_ref().map(|s| &s[..]), &spec, t0 + ms);
            state = Some(s);
            (
                if t.allowed { 200 } else { 429 },
                t.remaining,
                t.reset_ms.div_ceil(1000),
            )
        };
        let seen: Vec<_> = [0, 0, 0, 2_600, 5_200, 5_200, 10_400, 10_400]
            .into_iter()
            .map(&mut draw)
            .collect();
        assert_eq!(
            seen,
            [
                (200, 1, 0),
                (200, 0, 5),
                (429, 0, 5),
                (429, 0, 3),
                (200, 0, 5),
                (429, 0, 5),
                (200, 0, 5),
                (429, 0, 5),
            ]
        );
        // Idle long enough, the bucket is full again, never fuller.
        assert_eq!(draw(100_000), (200, 1, 0));
        // No state, or garbage in shared data: a full bucket.
        assert_eq!(take(None, &spec, t0).1.remaining, 1);
        assert_eq!(take(Some(b"garbage!?"), &spec, t0).1.remaining, 1);
    }

    #[test]
    fn arithmetic_survives_extremes() {
        let edges = [0, 1, 50, u64::MAX / 2, u64::MAX - 1, u64::MAX];
        for max_tokens in edges {
            for tokens_per_fill in edges {
                for fill_interval_ms in edges {
                    let spec = Bucket {
                        max_tokens,
                        tokens_per_fill,
                        fill_interval_ms,
                    };
                    for empty_at in edges {
                        for now in edges {
                            let (_, t) = take(Some(&encode(empty_at)), &spec, now);
                            assert!(t.remaining <= max_tokens);
                            assert!(!t.allowed || max_tokens > 0);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn limit_headers_shadow_mode_and_429() {
        let l = limiter(SPEC);
        let b = l.bucket_for("/x", &|_| None);
        let over = Taken {
            allowed: false,
            remaining: 0,
            reset_ms: 1,
        };
        let Limit::Deny(d) = l.limit(b, Some(over)) else {
            unreachable!("enforced")
        };
        assert_eq!((d.status, d.body.as_str()), (429, "local_rate_limited"));
        assert_eq!(
            d.headers[..3],
            [
                ("x-ratelimit-limit".into(), "3".into()),
                ("x-ratelimit-remaining".into(), "0".into()),
                ("x-ratelimit-reset".into(), "1".into()),
            ]
        );
        assert!(matches!(l.limit(b, None), Limit::Deny(_)), "no draw: deny");
        let shadow =
            limiter(&SPEC.replace(r#""enableResponseHeaders": true"#, r#""enforce": false"#));
        let b = shadow.bucket_for("/x", &|_| None);
        assert_eq!(
            shadow.limit(b, Some(over)),
            Limit::Pass {
                headers: vec![],
                shadowed: true
            }
        );
    }

    #[test]
    fn kyma_validation_messages() {
        let status = |spec: &str| match compile(&config(&rate_limit("rl", spec))) {
            Ok((_, reports)) => reports.into_iter().map(|r| r.status).next(),
            Err(e) => unreachable!("{e}"),
        };
        let errors = |spec: &str| match status(spec) {
            Some(Status::Error(f)) => f.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
            other => unreachable!("{other:?}"),
        };
        let bucket = |fill: &str| {
            format!(r#"{{"maxTokens": 1, "tokensPerFill": 1, "fillInterval": "{fill}"}}"#)
        };
        let spec = |default: &str, buckets: &str| {
            format!(
                r#"{{"selectorLabels": {{"app": "istio-ingressgateway"}},
                    "local": {{"defaultBucket": {default}, "buckets": [{buckets}]}}}}"#
            )
        };
        assert_eq!(
            errors(&spec(&bucket("49ms"), "")),
            ["Attribute '.spec.local': defaultBucket: fillInterval must be greater or equal 50ms"]
        );
        let keyed = |fill: &str| format!(r#"{{"path": "/a", "bucket": {}}}"#, bucket(fill));
        assert_eq!(
            errors(&spec(&bucket("100ms"), &keyed("250ms"))),
            ["Attribute '.spec.local': bucket '[0]': fillInterval must be a multiple of defaultBucket fillInterval"]
        );
        assert_eq!(
            errors(&spec(
                &bucket("50ms"),
                &format!("{},{}", keyed("1s"), keyed("10ms"))
            )),
            ["Attribute '.spec.local': bucket '[1]': fillInterval must be greater or equal 50ms"]
        );
        assert_eq!(
            status(&spec(&bucket("100ms"), &keyed("1s"))),
            Some(Status::Ready)
        );
        assert_eq!(
            errors(&spec(&bucket("1 s"), r#"{"bucket": {"maxTokens": 0, "tokensPerFill": 1}}"#)),
            [
                r#"Attribute '.spec.local.defaultBucket.fillInterval': Invalid value: "1 s": must be of type duration"#,
                r#"Attribute '.spec.local.buckets[0]': Invalid value: "object": At least one of 'path' or 'headers' must be set"#,
                "Attribute '.spec.local.buckets[0].bucket.maxTokens': Invalid value: 0: must be at least 1 (Envoy's token bucket refuses less)",
                "Attribute '.spec.local.buckets[0].bucket.fillInterval': Required value",
            ]
        );
        assert_eq!(
            errors(r#"{"selectorLabels": {}}"#),
            [
                "Attribute '.spec.selectorLabels': Invalid value: 0: should have at least 1 properties",
                "Attribute '.spec.local': Required value"
            ]
        );
    }

    #[test]
    fn selection_and_conflicts() {
        let other = r#"{"selectorLabels": {"app": "orders"},
            "local": {"defaultBucket": {"maxTokens": 1, "tokensPerFill": 1, "fillInterval": "1s"}}}"#;
        let (l, reports) = match compile(&config(&rate_limit("orders", other))) {
            Ok(r) => r,
            Err(e) => unreachable!("{e}"),
        };
        assert!(l.is_none());
        assert!(matches!(&reports[0].status, Status::Ignored(why)
            if why.contains("map[app:istio-ingressgateway istio:ingressgateway]")));
        let two = format!("{},{}", rate_limit("a", SPEC), rate_limit("b", SPEC));
        let (l, reports) = match compile(&config(&two)) {
            Ok(r) => r,
            Err(e) => unreachable!("{e}"),
        };
        assert!(
            l.is_none(),
            "Kyma enforces neither of two conflicting RateLimits"
        );
        assert_eq!(
            reports
                .iter()
                .map(|r| format!("{:?}", r.status))
                .collect::<Vec<_>>()
                .join("\n")
                .matches("conflicting with the following RateLimit CRs:")
                .count(),
            2
        );
        // A RateLimit among the APIRules (one pasted List) is found too.
        let json = format!(
            r#"{{"apiRules": [{{"kind": "List", "items": [{}]}}]}}"#,
            rate_limit("a", SPEC)
        );
        let cfg = PluginConfig::from_json(json.as_bytes()).map_err(|e| e.0);
        assert!(cfg.is_ok_and(|c| c.objects().is_ok_and(|o| o.is_empty())
            && compile(&c).is_ok_and(|(l, _)| l.is_some())));
    }
}
