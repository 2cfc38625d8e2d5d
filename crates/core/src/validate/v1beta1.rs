//! v1beta1 validation (v1alpha1 arrives here converted): the CRD, then Kyma's
//! `internal/validation/v1beta1` with its Istio- or Ory-handler validators.

use std::collections::HashSet;

use serde_json::Value;

use super::{
    crd_methods, crd_required, crd_service, crd_timeout, jwt_authentications, jwt_authorizations,
    jwt_consistency, paths, spec_of, stages, uri_error, Context, Failure,
};
use crate::config::model::{ApiRule, Source};
use crate::config::read;
use crate::config::v1beta1::{Handler, IstioJwtConfig, OryJwtConfig, Rule, Spec};
use crate::config::v2::expand_host;
use crate::config::JwtHandler;
use crate::matcher::path::PathMatcher;

const HOST_PATTERN: &str =
    r"^([a-zA-Z0-9][a-zA-Z0-9\-_]*\.)*[a-zA-Z0-9]*[a-zA-Z0-9\-_]*[\[a-zA-Z0-9]+$";
const HOST_PATTERN_SHOWN: &str =
    r"^([a-zA-Z0-9][a-zA-Z0-9-_]*\.)*[a-zA-Z0-9]*[a-zA-Z0-9-_]*[[a-zA-Z0-9]+$";
const GATEWAY_PATTERN: &str = r"^[0-9a-z\-_]+(/[0-9a-z\-_]+|(\.[0-9a-z\-_]+)*)$";
const GATEWAY_PATTERN_SHOWN: &str = r"^[0-9a-z-_]+(\/[0-9a-z-_]+|(\.[0-9a-z-_]+)*)$";

const SECURE: [&str; 4] = [
    "oauth2_client_credentials",
    "oauth2_introspection",
    "jwt",
    "cookie_session",
];
const UNSECURE: [&str; 5] = ["noop", "no_auth", "allow", "unauthorized", "anonymous"];

pub fn check(
    spec: Option<&Value>,
    name: &str,
    namespace: &str,
    source: Source,
    ctx: &Context,
) -> (Option<String>, Result<ApiRule, Vec<Failure>>) {
    let spec: Spec = match spec_of(spec, true) {
        Ok(s) => s.unwrap_or_default(),
        Err(f) => return (None, Err(f)),
    };
    let gateway = spec
        .gateway
        .as_deref()
        .map(|g| translate_gateway(g, namespace));
    let failures = stages(
        crd_stage(&spec),
        || controller_stage(&spec, ctx),
        ctx.every_stage,
    );
    if !failures.is_empty() {
        return (gateway, Err(failures));
    }
    (
        gateway,
        Ok(spec.to_model(name, namespace, source, ctx.default_domain, ctx.jwt_handler)),
    )
}

/// Kyma's gateway translator: `name.namespace.svc.cluster.local` (and shorter forms) → `namespace/name`;
/// a bare name is in the APIRule's namespace.
pub fn translate_gateway(gateway: &str, namespace: &str) -> String {
    if gateway.contains('/') {
        return gateway.to_owned();
    }
    let parts: Vec<&str> = gateway.split('.').collect();
    match parts.as_slice() {
        [name] => format!("{namespace}/{name}"),
        [name, ns, ..] => format!("{ns}/{name}"),
        [] => gateway.to_owned(),
    }
}

fn crd_stage(spec: &Spec) -> Vec<Failure> {
    let mut out = Vec::new();
    match &spec.host {
        None => out.push(Failure::new(".spec.host", "Required value")),
        Some(h) if h.len() < 3 => out.push(Failure::new(
            ".spec.host",
            format!("Invalid value: {h:?}: should be at least 3 chars long"),
        )),
        Some(h) if h.len() > 256 => out.push(Failure::new(
            ".spec.host",
            "Too long: may not be longer than 256",
        )),
        Some(h) if !regex_is_match!(HOST_PATTERN, h) => out.push(Failure::new(
            ".spec.host",
            format!("Invalid value: {h:?}: should match '{HOST_PATTERN_SHOWN}'"),
        )),
        _ => {}
    }
    match &spec.gateway {
        None => out.push(Failure::new(".spec.gateway", "Required value")),
        Some(g) if !regex_is_match!(GATEWAY_PATTERN, g) => out.push(Failure::new(
            ".spec.gateway",
            format!("Invalid value: {g:?}: should match '{GATEWAY_PATTERN_SHOWN}'"),
        )),
        _ => {}
    }
    if let Some(svc) = &spec.service {
        crd_service(&mut out, ".spec.service", svc);
    }
    crd_timeout(&mut out, ".spec.timeout", spec.timeout);
    match &spec.rules {
        None => out.push(Failure::new(".spec.rules", "Required value")),
        Some(r) if r.is_empty() => {
            out.push(Failure::new(".spec.rules", "should have at least 1 items"))
        }
        Some(rules) => {
            for (i, rule) in rules.iter().enumerate() {
                let at = format!(".spec.rules[{i}]");
                crd_required(&mut out, &format!("{at}.path"), &rule.path);
                if let Some(m) = rule.path.as_deref().and_then(paths::v1beta1_path_crd) {
                    out.push(Failure::new(format!("{at}.path"), m));
                }
                crd_methods(&mut out, &format!("{at}.methods"), &rule.methods);
                match &rule.access_strategies {
                    None => out.push(Failure::new(
                        format!("{at}.accessStrategies"),
                        "Required value",
                    )),
                    Some(a) if a.is_empty() => out.push(Failure::new(
                        format!("{at}.accessStrategies"),
                        "should have at least 1 items",
                    )),
                    _ => {}
                }
                crd_timeout(&mut out, &format!("{at}.timeout"), rule.timeout);
                if let Some(svc) = &rule.service {
                    crd_service(&mut out, &format!("{at}.service"), svc);
                }
            }
        }
    }
    out
}

fn controller_stage(spec: &Spec, ctx: &Context) -> Vec<Failure> {
    let mut out = Vec::new();

    // Host (V1, V2, V5).
    match &spec.host {
        None => out.push(Failure::new(".spec.host", "Host was nil")),
        Some(host) => {
            if !host.contains('.') && ctx.default_domain.is_none() {
                out.push(Failure::new(
                    ".spec.host",
                    "Host does not contain a domain name and no default domain name is configured",
                ));
            }
            if (ctx.host_taken)(&expand_host(host, ctx.default_domain)) {
                out.push(Failure::new(
                    ".spec.host",
                    "This host is occupied by another Virtual Service",
                ));
            }
        }
    }

    // Rules (V7–V39).
    let rules = spec.rules.as_deref().unwrap_or_default();
    if rules.is_empty() {
        out.push(Failure::new(".spec.rules", "No rules defined"));
        return out;
    }
    if has_path_method_duplicates(rules) {
        out.push(Failure::new(
            ".spec.rules",
            "multiple rules defined for the same path and method",
        ));
    }
    for (i, rule) in rules.iter().enumerate() {
        let at = format!(".spec.rules[{i}]");
        if spec.service.is_none() && rule.service.is_none() {
            out.push(Failure::new(
                format!("{at}.service"),
                "No service defined with no main service on spec level",
            ));
        } else {
            access_strategies(
                &mut out,
                &format!("{at}.accessStrategies"),
                rule,
                ctx.jwt_handler,
            );
        }
        if ctx.jwt_handler == JwtHandler::Istio {
            mutators(&mut out, &at, rule);
        }
        // Beyond Kyma: Istio would refuse a VirtualService whose regex does not compile.
        if let Some(path) = rule.path.as_deref().filter(|p| *p != "/*") {
            if let Err(e) =
                PathMatcher::compile(&crate::config::model::PathSpec::Regex(path.to_owned()))
            {
                out.push(Failure::new(format!("{at}.path"), e));
            }
        }
    }
    if ctx.jwt_handler == JwtHandler::Istio {
        istio_jwt_consistency(&mut out, rules);
    }
    out
}

fn has_path_method_duplicates(rules: &[Rule]) -> bool {
    if rules.len() < 2 {
        return false;
    }
    let mut seen = HashSet::new();
    for rule in rules {
        let path = rule.path.as_deref().unwrap_or("");
        match rule.methods.as_deref() {
            Some(methods) if !methods.is_empty() => {
                for m in methods {
                    if !seen.insert(format!("{path}:{m}")) {
                        return true;
                    }
                }
            }
            _ => {
                if !seen.insert(path.to_owned()) {
                    return true;
                }
            }
        }
    }
    false
}

fn access_strategies(out: &mut Vec<Failure>, at: &str, rule: &Rule, handler: JwtHandler) {
    let strategies: Vec<Option<&Handler>> = rule
        .access_strategies
        .iter()
        .flatten()
        .map(Option::as_ref)
        .collect();
    if strategies.is_empty() {
        out.push(Failure::new(at, "No accessStrategies defined"));
        return;
    }
    let names: Vec<&str> = strategies
        .iter()
        .map(|s| s.map_or("", |h| h.handler.as_str()))
        .collect();

    // V12: strategies that must stand alone.
    let exclusive: &[&str] = match handler {
        JwtHandler::Istio => &["allow", "no_auth", "jwt", "noop"],
        JwtHandler::Ory => &["allow", "no_auth", "noop"],
    };
    if names.len() > 1 {
        for ex in exclusive {
            if let Some(k) = names.iter().position(|n| n == ex) {
                out.push(Failure::new(
                    format!("{at}[{k}].handler"),
                    format!("{ex} access strategy is not allowed in combination with other access strategies"),
                ));
            }
        }
    }
    // V13.
    if names.iter().any(|n| SECURE.contains(n)) && names.iter().any(|n| UNSECURE.contains(n)) {
        out.push(Failure::new(
            at,
            "Secure access strategies cannot be used in combination with unsecure access strategies",
        ));
    }
    // V14–V29 per strategy.
    for (j, strategy) in strategies.iter().enumerate() {
        let at = format!("{at}[{j}]");
        let empty = Handler::default();
        let strategy = strategy.unwrap_or(&empty);
        match strategy.handler.as_str() {
            "allow" | "no_auth" | "noop" | "unauthorized" | "anonymous" | "cookie_session" => {
                if !strategy.config_is_empty() {
                    out.push(Failure::new(
                        format!("{at}.config"),
                        format!(
                            "strategy: {} does not support configuration",
                            strategy.handler
                        ),
                    ));
                }
            }
            // Kyma does not validate these configs.
            "oauth2_client_credentials" | "oauth2_introspection" => {}
            "jwt" => match handler {
                JwtHandler::Istio => istio_jwt(out, &at, strategy),
                JwtHandler::Ory => ory_jwt(out, &at, strategy),
            },
            other => out.push(Failure::new(
                format!("{at}.handler"),
                format!("Unsupported accessStrategy: {other}"),
            )),
        }
    }
}

/// Reads a handler config as Go's `json.Unmarshal` into `T` would, or Kyma's "Can't read json".
fn read_config<T: read::FromJson>(out: &mut Vec<Failure>, at: &str, h: &Handler) -> Option<T> {
    match read::read::<T>(h.config()) {
        Ok(t) => Some(t),
        Err(e) => {
            out.push(Failure::new(
                format!("{at}.config"),
                format!("Can't read json: {e}"),
            ));
            None
        }
    }
}

fn istio_jwt(out: &mut Vec<Failure>, at: &str, h: &Handler) {
    if h.config_is_empty() {
        out.push(Failure::new(
            format!("{at}.config"),
            "supplied config cannot be empty",
        ));
        return;
    }
    let Some(config) = read_config::<IstioJwtConfig>(out, at, h) else {
        return;
    };
    if let Some(ory) = read_config::<OryJwtConfig>(out, at, h) {
        for (present, key) in [
            (non_empty(&ory.jwks_urls), "jwks_urls"),
            (non_empty(&ory.required_scope), "required_scopes"),
            (non_empty(&ory.trusted_issuers), "trusted_issuers"),
        ] {
            if present {
                out.push(Failure::new(
                    format!("{at}.config.{key}"),
                    format!("Configuration for {key} is not supported with Istio handler"),
                ));
            }
        }
    }
    jwt_authorizations(
        out,
        &format!("{at}.config.authorizations"),
        &config.authorizations,
        "value is empty",
    );
    jwt_authentications(
        out,
        &format!("{at}.config.authentications"),
        &config.authentications,
        (
            at,
            "Authentications are required when using JWT access handler",
        ),
    );
}

fn ory_jwt(out: &mut Vec<Failure>, at: &str, h: &Handler) {
    if h.config_is_empty() {
        out.push(Failure::new(
            format!("{at}.config"),
            "supplied config cannot be empty",
        ));
        return;
    }
    let Some(config) = read_config::<OryJwtConfig>(out, at, h) else {
        return;
    };
    if let Some(istio) = read_config::<IstioJwtConfig>(out, at, h) {
        if istio
            .authentications
            .as_ref()
            .is_some_and(|a| !a.is_empty())
        {
            out.push(Failure::new(
                format!("{at}.config.authentications"),
                "Configuration for authentications is not supported with Ory handler",
            ));
        }
    }
    for (key, list) in [
        ("trusted_issuers", &config.trusted_issuers),
        ("jwks_urls", &config.jwks_urls),
    ] {
        for (n, value) in list.iter().flatten().enumerate() {
            if let Some(m) = uri_error(value) {
                out.push(Failure::new(format!("{at}.config.{key}[{n}]"), m));
            }
        }
    }
}

fn non_empty(v: &Option<Vec<String>>) -> bool {
    v.as_ref().is_some_and(|v| !v.is_empty())
}

/// V31–V37: Istio header/cookie mutators, checked only on jwt-secured rules.
fn mutators(out: &mut Vec<Failure>, at: &str, rule: &Rule) {
    let jwt_secured = rule
        .access_strategies
        .iter()
        .flatten()
        .flatten()
        .any(|s| s.handler == "jwt");
    if !jwt_secured {
        return;
    }
    let list: Vec<Handler> = rule
        .mutators
        .iter()
        .flatten()
        .map(|m| m.clone().unwrap_or_default())
        .collect();
    let base = format!("{at}.mutators");
    let mut seen = HashSet::new();
    for (k, m) in list.iter().enumerate() {
        if !seen.insert(m.handler.clone()) {
            out.push(Failure::new(
                format!("{base}[{k}].handler.{}", m.handler),
                "mutator for same handler already exists",
            ));
        }
    }
    for (k, m) in list.iter().enumerate() {
        let handler_path = format!("{base}[{k}].handler");
        let config_path = format!("{handler_path}.config");
        let (key, empty_message) = match m.handler.as_str() {
            "" => {
                out.push(Failure::new(
                    handler_path,
                    "mutator handler cannot be empty",
                ));
                continue;
            }
            "header" => ("headers", "headers cannot be empty"),
            "cookie" => ("cookies", "cookies cannot be empty"),
            other => {
                out.push(Failure::new(
                    handler_path,
                    format!("unsupported mutator: {other}"),
                ));
                continue;
            }
        };
        let Some(config) = m.config.as_ref().filter(|c| !c.is_null()) else {
            out.push(Failure::new(config_path, empty_message));
            continue;
        };
        let entries = match config.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => Some(map),
            Some(other) => {
                out.push(Failure::new(
                    config_path,
                    format!("Can't read json: json: cannot unmarshal {} into Go value of type map[string]string", json_type(other)),
                ));
                continue;
            }
        };
        match entries {
            Some(map) if !map.is_empty() => {
                if map.keys().any(String::is_empty) {
                    out.push(Failure::new(
                        format!("{config_path}.{key}.name"),
                        "cannot be empty",
                    ));
                }
            }
            _ => out.push(Failure::new(config_path, empty_message)),
        }
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// V30 (Istio handler): the same issuer must read tokens from the same place in every rule.
fn istio_jwt_consistency(out: &mut Vec<Failure>, rules: &[Rule]) {
    let mut parsed = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        for (j, s) in rule.access_strategies.iter().flatten().enumerate() {
            let Some(s) = s else { continue };
            if s.config_is_empty() {
                continue;
            }
            if let Ok(c) = read::read::<IstioJwtConfig>(s.config()) {
                parsed.push((format!(".spec.rules[{i}].accessStrategy[{j}]"), c));
            }
        }
    }
    jwt_consistency(
        out,
        parsed.iter().flat_map(|(path, c)| {
            c.authentications
                .iter()
                .flatten()
                .enumerate()
                .map(move |(k, a)| (format!("{path}.config.authentications[{k}]"), a))
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::translate_gateway;

    #[test]
    fn old_gateway_formats() {
        assert_eq!(
            translate_gateway("kyma-gateway.kyma-system.svc.cluster.local", "x"),
            "kyma-system/kyma-gateway"
        );
        assert_eq!(
            translate_gateway("kyma-system/kyma-gateway", "x"),
            "kyma-system/kyma-gateway"
        );
        assert_eq!(
            translate_gateway("gateway", "test-namespace"),
            "test-namespace/gateway"
        );
    }
}
