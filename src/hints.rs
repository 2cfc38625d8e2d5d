//! Hints printed after Kyma's messages where the fix is not obvious from them: which flag to
//! pass, which APIRule already holds a host, what a path may look like. Kyma's own text is
//! never changed; a hint is an extra line (`hint` in JSON).

use apirule_core::compile::RuleSet;
use apirule_core::validate::Failure;
use serde_json::Value;

/// What a hint may look at besides the failure.
pub struct Scene<'a> {
    /// The object as checked (after strict pruning).
    pub object: &'a Value,
    pub rules: &'a RuleSet,
    pub default_domain: Option<&'a str>,
    /// The object came from a plugin configuration (whose settings are keys, not flags).
    pub in_plugin_config: bool,
    /// The input an APIRule came from, by namespace and name.
    pub origin_of: &'a dyn Fn(&str, &str) -> Option<String>,
    /// The authorizers the inputs define (the mesh config's extension providers).
    pub authorizers: &'a [String],
}

pub fn hint(f: &Failure, scene: &Scene) -> Option<String> {
    let m = f.message.as_str();
    let setting = |flag: &str, key: &str| {
        if scene.in_plugin_config {
            format!("set {key:?} in the plugin configuration")
        } else {
            format!("pass {flag}")
        }
    };
    if m.contains("(short host)") || m.contains("no default domain name is configured") {
        return Some(format!(
            "a short host is completed with the domain of the gateway's `*.DOMAIN` host: {} \
             (Kyma's default gateway serves *.local.kyma.dev locally), or write the full host",
            setting("--default-domain DOMAIN", "defaultDomain")
        ));
    }
    if m.contains("host is occupied by another Virtual Service")
        || m.contains("Host is occupied by another Virtual Service")
    {
        return occupied(f, scene);
    }
    if f.path.ends_with(".path") && m.contains("should match '") {
        return Some(if m.contains(r"\{\*{1,2}\}") {
            "a v2 path is `/*`, or `/`-separated segments of letters, digits, -._~!$&'()+,;=:@ \
             and %XX escapes, where a whole segment may be `{*}` (exactly one segment) or `{**}` \
             (any number of segments): /headers, /anything/{*}, /static/{**}"
                .into()
        } else {
            "a v1beta1 path is a regular expression matched against the whole request path and \
             starts with letters, digits or ./*()?!\\_-: /.*, /headers, /img/[a-z]+"
                .into()
        });
    }
    if m.contains("with Ory handler") {
        return Some(format!(
            "this is the Istio handler's configuration: {} if Kyma's api-gateway-config sets \
             jwtHandler: istio",
            setting("--jwt-handler istio", "jwtHandler")
        ));
    }
    if m.contains("with Istio handler") {
        return Some(format!(
            "this is Ory Oathkeeper's configuration: {} if Kyma's api-gateway-config sets \
             jwtHandler: ory (its default)",
            setting("--jwt-handler ory", "jwtHandler")
        ));
    }
    if m.contains("Authorizer not found in Istio ConfigMap mesh data") {
        if !scene.authorizers.is_empty() {
            return Some(format!(
                "the mesh config given defines the authorizers {}",
                scene.authorizers.join(", ")
            ));
        }
        return Some(format!(
            "authorizers are Istio's extensionProviders: {}",
            if scene.in_plugin_config {
                "set \"extensionProviders\" in the plugin configuration"
            } else {
                "add the mesh ConfigMap as an input (`kubectl get configmap istio -n istio-system -o yaml`)"
            }
        ));
    }
    None
}

/// Which APIRule holds the host a failure names.
fn occupied(f: &Failure, scene: &Scene) -> Option<String> {
    // A v1beta1 APIRule stored as v2 keeps the spec Kyma reads in an annotation.
    let stored: Option<Value> = scene
        .object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(apirule_core::validate::V1BETA1_SPEC))
        .and_then(Value::as_str)
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .map(|spec| serde_json::json!({ "spec": spec }));
    let at = pointer(&f.path);
    let host = scene
        .object
        .pointer(&at)
        .or_else(|| stored.as_ref()?.pointer(&at))?
        .as_str()?;
    let full = match scene.default_domain {
        Some(domain) if !host.contains('.') => format!("{host}.{domain}"),
        _ => host.to_owned(),
    };
    let holder = scene
        .rules
        .hosts
        .lookup(&full)
        .and_then(|i| scene.rules.api_rules.get(i))?;
    let from = (scene.origin_of)(&holder.namespace, &holder.name)
        .map(|file| format!(" (from {file})"))
        .unwrap_or_default();
    Some(format!(
        "{full} is already exposed by APIRule {}/{}{from}; a host belongs to one APIRule: \
         add these rules to it, or choose another host",
        holder.namespace, holder.name
    ))
}

/// `.spec.hosts[0]` → `/spec/hosts/0`.
fn pointer(path: &str) -> String {
    path.replace('[', ".")
        .replace(']', "")
        .split('.')
        .filter(|s| !s.is_empty())
        .map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1")))
        .collect()
}
