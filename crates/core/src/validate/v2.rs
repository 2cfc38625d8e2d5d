//! v2 / v2alpha1 validation: the CRD's schema and CEL rules, then Kyma's
//! `internal/validation/v2alpha1` in its order (rules, path conflicts, JWT consistency, hosts,
//! gateway).

use serde_json::Value;

use super::{
    crd_methods, crd_required, crd_service, crd_timeout, jwt_authentications, jwt_authorizations,
    jwt_consistency, paths, spec_of, stages, Context, Failure,
};
use crate::config::model::{ApiRule, Source};
use crate::config::v2::{expand_host, JwtConfig, Spec};

const HOST_CEL: &str = r"^(?:\*\.(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]{2,63}|(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*(?:\.[a-z0-9]{2,63}))?)$";
const HOST_CEL_MESSAGE: &str = "Host must be a lowercase RFC 1123 label (must consist of lowercase alphanumeric characters or '-', and must start and end with an lowercase alphanumeric character), a fully qualified domain name, or a wildcard domain name (e.g. *.local.kyma.dev)";
const GATEWAY_CEL: &str =
    r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?/([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)$";
const SHORT_HOST: &str = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$";
const FQDN_HOST: &str = r"^(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]{2,63}$";

pub fn check(
    spec: Option<&Value>,
    name: &str,
    namespace: &str,
    source: Source,
    ctx: &Context,
) -> (Option<String>, Result<ApiRule, Vec<Failure>>) {
    let spec: Option<Spec> = match spec_of(spec, source == Source::V2) {
        Ok(s) => s,
        Err(f) => return (None, Err(f)),
    };
    let Some(spec) = spec else {
        // v2alpha1 without a spec: Kyma names the hub version whatever the object said.
        return (
            None,
            Err(vec![Failure::new(
                ".spec",
                "APIRule in version v2alpha1 contains an empty spec. To troubleshoot, see https://kyma-project.io/#/api-gateway/user/troubleshooting-guides/03-70-empty-apirule-spec.",
            )]),
        );
    };
    let gateway = spec
        .gateway
        .clone()
        .or_else(|| spec.external_gateway.clone());

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
        Ok(spec.to_model(name, namespace, source, ctx.default_domain)),
    )
}

/// What the API server rejects (CRD OpenAPI schema and CEL rules).
fn crd_stage(spec: &Spec) -> Vec<Failure> {
    let mut out = Vec::new();
    match &spec.hosts {
        None => out.push(Failure::new(".spec.hosts", "Required value")),
        Some(h) if h.is_empty() => {
            out.push(Failure::new(".spec.hosts", "should have at least 1 items"))
        }
        Some(h) if h.len() > 1 => out.push(Failure::new(
            ".spec.hosts",
            format!("Too many: {}: must have at most 1 items", h.len()),
        )),
        Some(h) => {
            for (i, host) in h.iter().enumerate() {
                if host.len() > 255 {
                    out.push(Failure::new(
                        format!(".spec.hosts[{i}]"),
                        "Too long: may not be longer than 255",
                    ));
                } else if !regex_is_match!(HOST_CEL, host) {
                    out.push(Failure::new(format!(".spec.hosts[{i}]"), HOST_CEL_MESSAGE));
                }
            }
        }
    }
    if let Some(svc) = &spec.service {
        crd_service(&mut out, ".spec.service", svc);
    }
    for (field, value, message) in [
        (
            "gateway",
            &spec.gateway,
            "Gateway must be in the namespace/name format",
        ),
        (
            "externalGateway",
            &spec.external_gateway,
            "ExternalGateway must be in the namespace/name format",
        ),
    ] {
        if let Some(g) = value {
            if g.len() > 127 {
                out.push(Failure::new(
                    format!(".spec.{field}"),
                    "Too long: may not be longer than 127",
                ));
            } else if !regex_is_match!(GATEWAY_CEL, g) {
                out.push(Failure::new(format!(".spec.{field}"), message));
            }
        }
    }
    crd_timeout(&mut out, ".spec.timeout", spec.timeout);
    if let Some(age) = spec.cors_policy.as_ref().and_then(|c| c.max_age) {
        if age < 1 {
            out.push(Failure::new(
                ".spec.corsPolicy.maxAge",
                "Invalid value: 0: should be greater than or equal to 1",
            ));
        }
    }
    match &spec.rules {
        None => out.push(Failure::new(".spec.rules", "Required value")),
        Some(r) if r.is_empty() => {
            out.push(Failure::new(".spec.rules", "should have at least 1 items"))
        }
        Some(rules) => {
            for (i, rule) in rules.iter().enumerate() {
                let at = format!(".spec.rules[{i}]");
                match &rule.path {
                    None => out.push(Failure::new(format!("{at}.path"), "Required value")),
                    Some(p) => {
                        if let Some(m) = paths::v2_path_crd(p) {
                            out.push(Failure::new(format!("{at}.path"), m));
                        }
                    }
                }
                crd_methods(&mut out, &format!("{at}.methods"), &rule.methods);
                let strategies = usize::from(rule.ext_auth.is_some())
                    + usize::from(rule.jwt.is_some())
                    + usize::from(rule.no_auth == Some(true));
                if strategies != 1 {
                    out.push(Failure::new(
                        at.clone(),
                        r#"Invalid value: "object": One of the following fields must be set: noAuth, jwt, extAuth"#,
                    ));
                }
                crd_timeout(&mut out, &format!("{at}.timeout"), rule.timeout);
                if let Some(svc) = &rule.service {
                    crd_service(&mut out, &format!("{at}.service"), svc);
                }
                if let Some(jwt) = &rule.jwt {
                    crd_jwt(&mut out, &format!("{at}.jwt"), jwt);
                }
                if let Some(ext) = &rule.ext_auth {
                    match &ext.authorizers {
                        None => out.push(Failure::new(
                            format!("{at}.extAuth.authorizers"),
                            "Required value",
                        )),
                        Some(a) if a.is_empty() => out.push(Failure::new(
                            format!("{at}.extAuth.authorizers"),
                            "should have at least 1 items",
                        )),
                        _ => {}
                    }
                    if let Some(r) = &ext.restrictions {
                        crd_jwt(&mut out, &format!("{at}.extAuth.restrictions"), r);
                    }
                }
            }
        }
    }
    out
}

fn crd_jwt(out: &mut Vec<Failure>, at: &str, jwt: &JwtConfig) {
    for (n, a) in jwt.authentications.iter().flatten().enumerate() {
        crd_required(out, &format!("{at}.authentications[{n}].issuer"), &a.issuer);
        crd_required(
            out,
            &format!("{at}.authentications[{n}].jwksUri"),
            &a.jwks_uri,
        );
        for (h, header) in a.from_headers.iter().flatten().enumerate() {
            crd_required(
                out,
                &format!("{at}.authentications[{n}].fromHeaders[{h}].name"),
                &header.name,
            );
        }
    }
}

/// What Kyma's controller reports in the status.
fn controller_stage(spec: &Spec, ctx: &Context) -> Vec<Failure> {
    let mut out = Vec::new();
    let rules = spec.rules.as_deref().unwrap_or_default();
    if rules.is_empty() {
        out.push(Failure::new(".spec.rules", "No rules defined"));
    }
    for (i, rule) in rules.iter().enumerate() {
        let at = format!(".spec.rules[{i}]");
        if spec.service.is_none() && rule.service.is_none() {
            out.push(Failure::new(
                format!("{at}.service"),
                "The rule must define a service, because no service is defined on spec level",
            ));
            out.push(Failure::new(
                at.clone(),
                "Failed to execute sidecar injection validation, err: service name is required but missing",
            ));
        }
        let jwt = match (&rule.jwt, &rule.ext_auth) {
            (Some(jwt), _) => Some((format!("{at}.jwt"), jwt)),
            // Kyma's paths for restrictions have no "restrictions" segment.
            (None, Some(ext)) => ext
                .restrictions
                .as_ref()
                .map(|r| (format!("{at}.extAuth"), r)),
            _ => None,
        };
        if let Some((base, jwt)) = jwt {
            jwt_authorizations(
                &mut out,
                &format!("{base}.authorizations"),
                &jwt.authorizations,
                "authorizations defined, but no configuration exists",
            );
            let list = format!("{base}.authentications");
            jwt_authentications(
                &mut out,
                &list,
                &jwt.authentications,
                (&list, "A JWT config must have at least one authentication"),
            );
        }
        if let Some(ext) = &rule.ext_auth {
            // The plugin configuration's `extensionProviders` stand in for the mesh ConfigMap.
            for name in ext.authorizers.iter().flatten() {
                let message = match (ctx.authorizer)(name) {
                    Some(true) => continue,
                    Some(false) => {
                        "EnvoyExtAuthzHttp not found in Istio ConfigMap mesh data for authorizer"
                    }
                    None => "Authorizer not found in Istio ConfigMap mesh data",
                };
                out.push(Failure::new(
                    format!("{at}.extAuth.externalAuthorizers.{name}"),
                    message,
                ));
            }
        }
        if let Some(f) =
            paths::v2_operators(&format!("{at}.path"), rule.path.as_deref().unwrap_or(""))
        {
            out.push(f);
        }
    }

    let by_method: Vec<(&str, Vec<&str>)> = rules
        .iter()
        .map(|r| {
            (
                r.path.as_deref().unwrap_or(""),
                r.methods.iter().flatten().map(String::as_str).collect(),
            )
        })
        .collect();
    out.extend(paths::v2_conflict(&by_method));

    jwt_consistency(
        &mut out,
        rules.iter().enumerate().flat_map(|(i, r)| {
            r.jwt
                .iter()
                .flat_map(|j| j.authentications.iter().flatten())
                .enumerate()
                .map(move |(n, a)| (format!(".spec.rules[{i}].jwt.authentications[{n}]"), a))
        }),
    );

    let hosts = spec.hosts.as_deref().unwrap_or_default();
    if hosts.is_empty() {
        out.push(Failure::new(".spec.hosts", "No hosts defined"));
    }
    for (i, host) in hosts.iter().enumerate() {
        let at = format!(".spec.hosts[{i}]");
        if regex_is_match!(SHORT_HOST, host) {
            // Kyma completes a short host from its Gateway's `*.<domain>`; here `defaultDomain`
            // plays that role.
            if ctx.default_domain.is_none() {
                out.push(Failure::new(
                    at.clone(),
                    "Lowercase RFC 1123 label (short host) is only supported as the APIRule host when selected Gateway has a single host definition matching *.<fqdn> format",
                ));
            }
        } else if host.len() > 255 || !regex_is_match!(FQDN_HOST, host) {
            out.push(Failure::new(
                at.clone(),
                "Host must be a valid FQDN or short host name",
            ));
        }
        if (ctx.host_taken)(&expand_host(host, ctx.default_domain)) {
            out.push(Failure::new(
                at,
                "Host is occupied by another Virtual Service",
            ));
        }
    }

    match (&spec.gateway, &spec.external_gateway) {
        (None, None) => out.push(Failure::new(
            ".spec",
            "Either gateway or externalGateway must be specified",
        )),
        (Some(_), Some(_)) => out.push(Failure::new(
            ".spec",
            "Only one of gateway or externalGateway can be specified",
        )),
        _ => {}
    }
    out
}
