//! `apirule explain`: the decision the filter would make for one request, step by step: the
//! route and the rate limit traced, then the filter's own pipeline (`pipeline::run`) run offline.
//! Keys come from files, calls are not made.

use crate::access::AuthEnv;
use crate::compile::{Check, CompiledAccess, RuleSet};
use crate::decide::Request;
use crate::matcher::host::normalize_authority;
use crate::pipeline::{Effect, Offline};

pub fn explain(rules: &RuleSet, req: &Request<'_>, env: &mut AuthEnv<'_>) -> Vec<String> {
    let mut out = Vec::new();
    if !trace_route(rules, req, &mut out) {
        return out;
    }
    // The decision is the filter's own pipeline, with the request given whole and a bucket that
    // has a token.
    let outcome = crate::pipeline::run(rules, &mut Offline { request: req, env });
    describe_effect(outcome.effect, env, &mut out);
    out
}

/// The route, the matched rule and its rate limit, step by step; false when the request is
/// refused before any rule (the reason is the last line).
fn trace_route(rules: &RuleSet, req: &Request<'_>, out: &mut Vec<String>) -> bool {
    let host = normalize_authority(req.authority);
    let path = crate::request::path_without_query(req.path);
    if let Some(why) = crate::matcher::canonical::ambiguity(path) {
        out.push(format!(
            "path {path}: ambiguous ({why}); refused before any rule"
        ));
        out.push("decision: 400 (ambiguous path)".into());
        return false;
    }
    let Some(api) = rules
        .hosts
        .lookup(&host)
        .and_then(|i| rules.api_rules.get(i))
    else {
        out.push(format!("host {host}: no APIRule serves it"));
        out.push("decision: 404 (no route)".into());
        return false;
    };
    out.push(format!(
        "host {host}: APIRule {}/{} ({})",
        api.namespace,
        api.name,
        api.source.api_version()
    ));
    let mut matched = false;
    for r in &api.rules {
        let methods: Vec<&str> = r.methods.names().collect();
        let what = format!("rule[{}] {} [{}]", r.index, r.path_text, methods.join(","));
        if !r.methods.contains(req.method) {
            out.push(format!("  {what}: method {} not listed", req.method));
        } else if !r.path.matches(path) {
            out.push(format!("  {what}: path {path} does not match"));
        } else {
            out.push(format!("  {what}: matches (timeout {} s)", r.timeout_s));
            if api.upstream_by_routes {
                out.push(
                    "  the route sets x-forwarded-host and the timeout (routesSetUpstreamHeaders)"
                        .into(),
                );
            }
            if api.cors.stripped_by_routes() {
                out.push(
                    "  the route removes the upstream's CORS headers from the response".into(),
                );
            }
            out.push(format!("access: {}", describe(&r.access)));
            matched = true;
            break;
        }
    }
    if !matched {
        out.push("decision: 404 (no rule matches this path and method)".into());
        return false;
    }
    if let Some(limit) = &rules.rate_limit {
        let header =
            |name: &str| crate::request::first_header(req, name).map(|v| v.as_bytes().to_vec());
        let b = limit.bucket_for(req.path, &header);
        out.push(format!(
            "rate limit {}/{}: {} ({} tokens, +{} every {} ms){}; 429 when empty",
            limit.namespace,
            limit.name,
            match b.index {
                0 => "defaultBucket".to_owned(),
                i => format!("local.buckets[{}]", i - 1),
            },
            b.spec.max_tokens,
            b.spec.tokens_per_fill,
            b.spec.fill_interval_ms,
            if limit.enforce { "" } else { ", shadow mode" }
        ));
    }
    true
}

fn describe_effect(effect: Effect, env: &AuthEnv<'_>, out: &mut Vec<String>) {
    match effect {
        Effect::Allow { headers, response } => {
            out.push("decision: allow, forwarded upstream".into());
            for (k, v) in &headers {
                out.push(format!("  sets {k}: {v}"));
            }
            for (k, v) in &response.set {
                out.push(format!("  response gets {k}: {v}"));
            }
            if response.strip_upstream_cors {
                out.push("  upstream CORS headers are removed from the response".into());
            }
        }
        Effect::Reply(r) => {
            out.push(format!("decision: {} ({})", r.status, r.reason.as_str()));
            for (k, v) in &r.headers {
                out.push(format!("  {k}: {v}"));
            }
            if !r.body.is_empty() {
                out.push(format!("  body: {}", r.body.trim_end()));
            }
        }
        Effect::Park(_, ids) => {
            for id in ids {
                out.push(format!(
                    "decision: needs the keys of {} (offline: pass --jwks {}=FILE)",
                    env.keys.uri(id),
                    env.keys.uri(id)
                ));
            }
        }
        Effect::Call(c, _) => out.push(format!(
            "decision: needs a call {} {} through cluster {} (not made offline)",
            c.method, c.upstream.path, c.upstream.cluster
        )),
    }
}

fn describe(access: &CompiledAccess) -> String {
    match access {
        CompiledAccess::Public => "public (noAuth / allow / no_auth)".into(),
        CompiledAccess::Noop => "noop (no authentication; Ory mutators run)".into(),
        CompiledAccess::Authenticate(checks) => checks
            .iter()
            .map(|c| match c {
                Check::IstioJwt(r) => format!(
                    "jwt, Istio semantics: issuers {}; {} authorization(s)",
                    r.authns
                        .iter()
                        .map(|a| a.issuer.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    r.authorizations.len()
                ),
                Check::OryJwt(r) => format!(
                    "jwt, Oathkeeper semantics: {} JWKS, issuers [{}], scopes [{}], audiences [{}]",
                    r.jwks.len(),
                    r.trusted_issuers.join(", "),
                    r.required_scope.join(", "),
                    r.target_audience.join(", ")
                ),
                Check::Introspection(r) => format!("oauth2_introspection at {}", r.url),
                Check::ExtAuth(r) => format!(
                    "extAuth: authorizers {}{}",
                    r.authorizers
                        .iter()
                        .map(|a| a.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    if r.restrictions.is_some() {
                        ", then jwt restrictions"
                    } else {
                        ""
                    }
                ),
                Check::Unsupported(name, _) => format!("{name} (not enforced: always 401)"),
            })
            .collect::<Vec<_>>()
            .join(", then "),
    }
}
