//! The `Api` kind of v1alpha2. Kyma's controller of that era left a service *unsecured* when an
//! authentication entry lacked its type, issuer or JWKS URI; we refuse such an object instead
//! (fail closed) and say which field is missing.

use serde_json::Value;

use super::{crd_required, issuer_error, spec_of, uri_error, Context, Failure};
use crate::config::legacy_api::Spec;
use crate::config::model::ApiRule;
use crate::config::v2::expand_host;

pub fn check(
    spec: Option<&Value>,
    name: &str,
    namespace: &str,
    ctx: &Context,
) -> Result<ApiRule, Vec<Failure>> {
    let spec: Spec = spec_of(spec, true)?.unwrap_or_default();
    let mut out = Vec::new();
    crd_required(&mut out, ".spec.hostname", &spec.hostname);
    match &spec.service {
        None => out.push(Failure::new(".spec.service", "Required value")),
        Some(s) => {
            crd_required(&mut out, ".spec.service.name", &s.name);
            match s.port {
                None => out.push(Failure::new(".spec.service.port", "Required value")),
                Some(p) if !(1..=65535).contains(&p) => out.push(Failure::new(
                    ".spec.service.port",
                    format!("Invalid value: {p}: should be between 1 and 65535"),
                )),
                _ => {}
            }
        }
    }
    for (i, a) in spec.authentication.iter().flatten().enumerate() {
        let at = format!(".spec.authentication[{i}]");
        match a.kind.as_deref() {
            Some("JWT") => {}
            None => out.push(Failure::new(format!("{at}.type"), "Required value")),
            Some(other) => out.push(Failure::new(
                format!("{at}.type"),
                format!("Unsupported value: {other:?}: supported values: \"JWT\""),
            )),
        }
        match &a.jwt {
            None => out.push(Failure::new(format!("{at}.jwt"), "Required value")),
            Some(jwt) => {
                if let Some(m) = issuer_error(jwt.issuer.as_deref().unwrap_or("")) {
                    out.push(Failure::new(format!("{at}.jwt.issuer"), m));
                }
                if let Some(m) = uri_error(jwt.jwks_uri.as_deref().unwrap_or("")) {
                    out.push(Failure::new(format!("{at}.jwt.jwksUri"), m));
                }
            }
        }
    }
    if let Some(host) = &spec.hostname {
        if !host.contains('.') && ctx.default_domain.is_none() {
            out.push(Failure::new(
                ".spec.hostname",
                "Host does not contain a domain name and no default domain name is configured",
            ));
        }
        if (ctx.host_taken)(&expand_host(host, ctx.default_domain)) {
            out.push(Failure::new(
                ".spec.hostname",
                "This host is occupied by another Virtual Service",
            ));
        }
    }
    if !out.is_empty() {
        return Err(out);
    }
    Ok(spec.to_model(name, namespace, ctx.default_domain))
}
