//! `apirule render`: the configuration that serves APIRules without Kyma's controller.
//!
//! - `--istio`: the `WasmPlugin` carrying the plugin configuration, and per APIRule the
//!   `VirtualService` that routes its hosts and paths to its services with its timeouts (what
//!   Kyma's controller generated; headers and CORS are the filter's job).
//! - `--envoy`: a complete Envoy bootstrap: listener, the wasm filter, routes per host and path to
//!   the services' clusters, and the JWKS and introspection clusters (TLS for `https`).
//!
//! Both work from the same validated model the filter compiles.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::callout::Upstream;
use crate::compile::{compile, Check, CompiledAccess, RuleSet, Status};
use crate::config::model::{ApiRule, PathSpec, Rule, Service};
use crate::config::{ConfigError, PluginConfig};
use crate::cors::UPSTREAM_CORS_HEADERS;
use crate::validate::{check_object, Context};

/// A valid APIRule and the gateway it is bound to.
pub type Model = (ApiRule, Option<String>);

/// The plugin configuration as rendered: its routes set `x-forwarded-host` and the timeouts and
/// remove the upstream's CORS headers, so the filter leaves them to the routes
/// (`routesSetUpstreamHeaders`).
fn routed(config_json: &Value) -> Value {
    let mut config = config_json.clone();
    if let Value::Object(m) = &mut config {
        m.insert("routesSetUpstreamHeaders".into(), Value::Bool(true));
    }
    config
}

/// `x-forwarded-host` as Kyma's VirtualService sets it on every route: the APIRule's first host,
/// or the request's own under a wildcard; the rule's own value where its header mutator writes
/// one (an Envoy format string, as Kyma's VirtualService carries it). None where an Ory header
/// mutator writes it: only the filter renders Go templates, and the route must not overwrite it.
fn forwarded_host(api: &ApiRule, rule: &Rule) -> Option<String> {
    let name = crate::decide::X_FORWARDED_HOST;
    if rule.mutators.ory_writes_header(name) {
        return None;
    }
    if let Some(own) = rule.mutators.istio_header(name) {
        return Some(own.to_owned());
    }
    Some(
        api.forwarded_host()
            .map_or_else(|| "%REQ(:AUTHORITY)%".into(), str::to_owned),
    )
}

/// The valid APIRules of a configuration, with their gateways, and the compiled rule set.
pub fn models(config: &PluginConfig) -> Result<(Vec<Model>, RuleSet), ConfigError> {
    let (set, reports) = compile(config)?;
    let mut out = Vec::new();
    for (obj, report) in config.objects()?.into_iter().zip(&reports) {
        if report.status != Status::Ready {
            continue;
        }
        // Already known valid and without host clashes: validate again only to get the model.
        let free = |_: &str| false;
        let defined = |_: &str| Some(true);
        let ctx = Context {
            default_domain: config.default_domain.as_deref(),
            jwt_handler: config.jwt_handler,
            host_taken: &free,
            authorizer: &defined,
            every_stage: false,
        };
        let checked = check_object(obj, &ctx);
        if let Ok(model) = checked.result {
            out.push((model, checked.gateway));
        }
    }
    Ok((out, set))
}

/// The plugin configuration with only the objects that are rendered: invalid APIRules and
/// RateLimits are left out of the `pluginConfig` as they are left out of the routes, so the
/// gateway never sees (nor logs again) what `render` already reported.
pub fn without_invalid(
    config_json: &Value,
    config: &PluginConfig,
    reports: &[crate::compile::Report],
) -> Result<Value, ConfigError> {
    let objects = config.objects()?;
    let limits = config.rate_limit_objects()?;
    let valid = |r: &crate::compile::Report| !matches!(r.status, Status::Error(_));
    let api_rules: Vec<Value> = objects
        .iter()
        .zip(reports)
        .filter(|(_, r)| valid(r))
        .map(|(o, _)| (*o).clone())
        .collect();
    let rate_limits: Vec<Value> = limits
        .iter()
        .zip(reports.iter().skip(objects.len()))
        .filter(|(_, r)| valid(r))
        .map(|(o, _)| (*o).clone())
        .collect();
    let mut out = config_json.clone();
    out["apiRules"] = Value::Array(api_rules);
    match out.as_object_mut() {
        Some(m) if rate_limits.is_empty() => {
            m.remove("rateLimits");
        }
        Some(m) => {
            m.insert("rateLimits".into(), Value::Array(rate_limits));
        }
        None => {}
    }
    Ok(out)
}

/// Client-side `kubectl apply` keeps the whole object in an annotation, and annotations are
/// limited to 256 KiB; etcd refuses requests over 1.5 MiB by default.
pub const ANNOTATION_LIMIT: usize = 256 * 1024;
pub const ETCD_LIMIT: usize = 1536 * 1024;

/// What to tell a user about the size of one rendered object (its JSON), if anything.
pub fn size_notes(kind: &str, bytes: usize, compact: bool) -> Vec<String> {
    let kib = |n: usize| format!("{:.0} KiB", n as f64 / 1024.0);
    let hint = if compact {
        "split the APIRules over several gateways or raise etcd's --max-request-bytes"
    } else {
        "render with --compact (the APIRules gzip-compressed in pluginConfig.apiRulesGzip)"
    };
    let mut notes = Vec::new();
    if bytes > ETCD_LIMIT {
        notes.push(format!(
            "error: the {kind} is {} of JSON, over etcd's default 1.5 MiB object limit: the API server will refuse it; {hint}",
            kib(bytes)
        ));
    } else if bytes > ETCD_LIMIT * 8 / 10 {
        notes.push(format!(
            "warning: the {kind} is {} of JSON, near etcd's default 1.5 MiB object limit; {hint}",
            kib(bytes)
        ));
    }
    if bytes > ANNOTATION_LIMIT {
        notes.push(format!(
            "warning: the {kind} is {} of JSON: client-side `kubectl apply` keeps a copy in the \
             last-applied-configuration annotation, limited to 256 KiB, and will fail; use \
             `kubectl apply --server-side`{}",
            kib(bytes),
            if compact { "" } else { ", or --compact" }
        ));
    } else if bytes > ANNOTATION_LIMIT * 8 / 10 {
        notes.push(format!(
            "warning: the {kind} is {} of JSON, near the 256 KiB limit of client-side `kubectl \
             apply` (its last-applied-configuration annotation); prefer `kubectl apply --server-side`{}",
            kib(bytes),
            if compact { "" } else { " or --compact" }
        ));
    }
    notes
}

/// The plugin configuration with `apiRules` in compact form (`apiRulesGzip`).
pub fn compacted(config_json: &Value) -> Value {
    let mut out = config_json.clone();
    if let Some(m) = out.as_object_mut() {
        if let Some(Value::Array(rules)) = m.remove("apiRules") {
            m.insert(
                "apiRulesGzip".into(),
                Value::String(crate::config::compact::encode(&rules)),
            );
        }
    }
    out
}

/// Removed before the upstream: frameworks that honour them would run another method than the
/// one a rule allowed.
const METHOD_OVERRIDE_HEADERS: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// The VirtualService regex of a path (literal text escaped, unlike Kyma's controller).
pub fn route_match(path: &PathSpec) -> Value {
    const SEG: &str = "([A-Za-z0-9-._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})";
    const ANY: &str = "([A-Za-z0-9-._~!$&'()*+,;=:@/]|%[0-9a-fA-F]{2})";
    match path {
        PathSpec::Any => json!({"prefix": "/"}),
        PathSpec::Regex(re) => json!({"regex": re}),
        PathSpec::Template(t) => {
            let segments: Vec<&str> = t.trim_start_matches('/').split('/').collect();
            let last_double = segments.iter().rposition(|s| *s == "{**}");
            let mut re = String::from("^");
            for (i, seg) in segments.iter().enumerate() {
                re.push('/');
                match *seg {
                    "{*}" => re.push_str(&format!("{SEG}+")),
                    // Last: zero or more characters; in the middle: at least one.
                    "{**}" if Some(i) == last_double && i == segments.len() - 1 => {
                        re.push_str(&format!("{ANY}*"))
                    }
                    "{**}" => re.push_str(&format!("{ANY}+")),
                    lit => re.push_str(&escape(lit)),
                }
            }
            re.push('$');
            json!({"regex": re})
        }
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn methods_regex(rule: &crate::config::model::Rule) -> String {
    format!("^({})$", rule.methods.names().collect::<Vec<_>>().join("|"))
}

/// `--istio`: the WasmPlugin, then one VirtualService per valid APIRule.
pub fn istio(
    config_json: &Value,
    config: &PluginConfig,
    image: &str,
    sha256: Option<&str>,
) -> Result<Vec<Value>, ConfigError> {
    let (models, _) = models(config)?;
    let mut spec = json!({
        "selector": {"matchLabels": {"istio": "ingressgateway"}},
        "url": image,
        "phase": "AUTHN",
        // Fail closed when the module cannot be fetched or configured; a VM that dies while
        // serving is replaced (Istio >= 1.25 maps this to Envoy's FAIL_RELOAD; older proxies
        // fail closed).
        "failStrategy": "FAIL_RELOAD",
        "pluginConfig": routed(config_json),
    });
    if let Some(sum) = sha256 {
        spec["sha256"] = json!(sum);
    }
    let mut docs = vec![json!({
        "apiVersion": "extensions.istio.io/v1alpha1",
        "kind": "WasmPlugin",
        "metadata": {"name": "apirule-wasm", "namespace": "istio-system"},
        "spec": spec,
    })];
    for (api, gateway) in models {
        let http: Vec<Value> = api
            .rules
            .iter()
            .filter_map(|r| {
                let svc = r.service.as_ref()?;
                let mut request = json!({"remove": METHOD_OVERRIDE_HEADERS});
                if let Some(host) = forwarded_host(&api, r) {
                    request["set"] = json!({crate::decide::X_FORWARDED_HOST: host});
                }
                let mut headers = json!({"request": request});
                if api.cors.strips_upstream() {
                    headers["response"] = json!({"remove": UPSTREAM_CORS_HEADERS});
                }
                Some(json!({
                    "name": format!("rule-{}", r.index),
                    "match": [{"uri": route_match(&r.path), "method": {"regex": methods_regex(r)}}],
                    "route": [{"destination": {"host": svc.fqdn(), "port": {"number": svc.port}}, "weight": 100}],
                    "timeout": format!("{}s", r.timeout_s),
                    "headers": headers,
                }))
            })
            .collect();
        docs.push(json!({
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {
                "name": api.name,
                "namespace": api.namespace,
                "labels": {"apirule.gateway.kyma-project.io/v1beta1": format!("{}.{}", api.name, api.namespace)},
            },
            "spec": {
                "hosts": api.hosts,
                "gateways": [gateway.unwrap_or_else(|| "kyma-system/kyma-gateway".into())],
                "http": http,
            },
        }));
    }
    Ok(docs)
}

/// The identity of Istio's ingress gateway, the only caller Kyma's workload policies allow.
pub const GATEWAY_PRINCIPAL: &str =
    "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account";

/// Pod selectors of the exposed services, by `name.namespace` (a Service's `spec.selector`).
pub type Selectors = BTreeMap<String, BTreeMap<String, String>>;

/// The gateway as the only way in, as Kyma's v2 AuthorizationPolicies make it: for every service
/// a valid APIRule exposes, an ALLOW policy on its pods for the gateway's principal alone, so an
/// in-cluster caller (which the filter never sees) is refused. A service whose selector is not in
/// `selectors` gets no policy, and a note that says so.
pub fn gateway_only_policies(
    config: &PluginConfig,
    selectors: &Selectors,
    principal: &str,
) -> Result<(Vec<Value>, Vec<String>), ConfigError> {
    let (models, _) = models(config)?;
    let mut services: BTreeMap<String, (&str, &str)> = BTreeMap::new();
    let mut exposed_by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (api, _) in &models {
        for svc in api.rules.iter().filter_map(|r| r.service.as_ref()) {
            let key = format!("{}.{}", svc.name, svc.namespace);
            services.insert(key.clone(), (&svc.name, &svc.namespace));
            let by = exposed_by.entry(key).or_default();
            let who = format!("{}/{}", api.namespace, api.name);
            if !by.contains(&who) {
                by.push(who);
            }
        }
    }
    let (mut docs, mut notes) = (Vec::new(), Vec::new());
    for (key, (name, namespace)) in services {
        let by = exposed_by
            .get(&key)
            .map(|v| v.join(", "))
            .unwrap_or_default();
        match selectors.get(&key) {
            Some(labels) if !labels.is_empty() => docs.push(json!({
                "apiVersion": "security.istio.io/v1",
                "kind": "AuthorizationPolicy",
                "metadata": {
                    "name": format!("{name}-gateway-only"),
                    "namespace": namespace,
                    "labels": {"apirule.gateway.kyma-project.io/service": key},
                    "annotations": {"apirule.gateway.kyma-project.io/exposed-by": by},
                },
                "spec": {
                    "selector": {"matchLabels": labels},
                    "action": "ALLOW",
                    "rules": [{"from": [{"source": {"principals": [principal]}}]}],
                },
            })),
            Some(_) => notes.push(format!(
                "service {key} (exposed by {by}) has no pod selector: no AuthorizationPolicy \
                 written; its pods are reachable in the cluster without the gateway"
            )),
            None => notes.push(format!(
                "service {key} (exposed by {by}): no Service object or --service-selector given, so no \
                 AuthorizationPolicy written; in-cluster callers reach it without the gateway's checks"
            )),
        }
    }
    Ok((docs, notes))
}

pub struct EnvoyOptions<'a> {
    pub listen: &'a str,
    pub port: u16,
    pub admin_port: u16,
    pub wasm: &'a str,
    /// `name.namespace` → `host:port` for services outside a cluster.
    pub services: BTreeMap<String, String>,
    /// What https callouts (JWKS, introspection) trust: an Envoy `DataSource` for `trusted_ca`.
    pub trusted_ca: Value,
}

/// The system's trust bundle (Debian, Ubuntu, Alpine; Fedora links it too).
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

fn cluster_for(svc: &Service) -> String {
    format!("outbound|{}||{}", svc.port, svc.fqdn())
}

/// A cluster for one host. With `trusted_ca`, TLS that verifies the server: its chain against
/// that CA, its certificate against the host name (or IP), SNI set to the host name. Without a
/// validation context Envoy would accept any certificate.
fn static_cluster(name: &str, host: &str, port: u16, trusted_ca: Option<&Value>) -> Value {
    let ip = host.parse::<std::net::IpAddr>().is_ok();
    let mut c = json!({
        "name": name,
        "type": if ip { "STATIC" } else { "LOGICAL_DNS" },
        "dns_lookup_family": "V4_PREFERRED",
        "connect_timeout": "5s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {"address":
            {"socket_address": {"address": host, "port_value": port}}}}]}]},
    });
    if let Some(ca) = trusted_ca {
        let mut tls = json!({
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            "common_tls_context": {"validation_context": {
                "trusted_ca": ca,
                "match_typed_subject_alt_names": [
                    {"san_type": if ip { "IP_ADDRESS" } else { "DNS" }, "matcher": {"exact": host}}
                ],
            }},
        });
        if !ip {
            tls["sni"] = json!(host);
        }
        c["transport_socket"] = json!({"name": "envoy.transport_sockets.tls", "typed_config": tls});
    }
    c
}

/// `--envoy`: a complete bootstrap for a local Envoy (func-e, or any Envoy binary).
pub fn envoy(
    config_json: &Value,
    config: &PluginConfig,
    o: &EnvoyOptions<'_>,
) -> Result<Value, ConfigError> {
    let (models, set) = models(config)?;
    let mut clusters: BTreeMap<String, Value> = BTreeMap::new();
    let mut vhosts = Vec::new();
    // Frameworks that honour these would run another method than the one a rule allowed.
    const METHOD_OVERRIDE_HEADERS: [&str; 3] = [
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
    ];
    for (api, _) in &models {
        let mut routes = Vec::new();
        for r in &api.rules {
            let Some(svc) = &r.service else { continue };
            let name = cluster_for(svc);
            let key = format!("{}.{}", svc.name, svc.namespace);
            let (host, port) = match o.services.get(&key).and_then(|a| a.rsplit_once(':')) {
                Some((h, p)) => (h.to_owned(), p.parse().unwrap_or(svc.port as u16)),
                None => (svc.fqdn(), svc.port as u16),
            };
            clusters
                .entry(name.clone())
                .or_insert_with(|| static_cluster(&name, &host, port, None));
            let mut m = match route_match(&r.path) {
                Value::Object(m) => m,
                _ => serde_json::Map::new(),
            };
            if let Some(re) = m.remove("regex") {
                m.insert("safe_regex".into(), json!({"regex": re}));
            }
            m.insert(
                "headers".into(),
                json!([{"name": ":method", "string_match": {"safe_regex": {"regex": methods_regex(r)}}}]),
            );
            let mut route = json!({
                "match": m,
                "route": {"cluster": name, "timeout": format!("{}s", r.timeout_s)},
            });
            if let Some(host) = forwarded_host(api, r) {
                route["request_headers_to_add"] = json!([{
                    "header": {"key": crate::decide::X_FORWARDED_HOST, "value": host},
                    "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                }]);
            }
            if api.cors.strips_upstream() {
                route["response_headers_to_remove"] = json!(UPSTREAM_CORS_HEADERS);
            }
            routes.push(route);
        }
        vhosts.push(
            json!({"name": format!("{}.{}", api.namespace, api.name), "domains": api.hosts,
            "request_headers_to_remove": METHOD_OVERRIDE_HEADERS, "routes": routes}),
        );
    }
    // The clusters the filter calls (JWKS, introspection), named as the filter names them.
    let mut callouts: Vec<(String, Upstream)> = set.jwks.clone();
    for api in &set.api_rules {
        for r in &api.rules {
            if let CompiledAccess::Authenticate(checks) = &r.access {
                for c in checks {
                    if let Check::Introspection(i) = c {
                        callouts.extend(i.upstreams());
                    }
                }
            }
        }
    }
    for (uri, up) in callouts {
        let tls = uri.starts_with("https://");
        let (host, port) = match up.authority.rsplit_once(':') {
            Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_owned(), p.parse().unwrap_or(443)),
            _ => (up.authority.clone(), if tls { 443 } else { 80 }),
        };
        let ca = tls.then_some(&o.trusted_ca);
        clusters
            .entry(up.cluster.clone())
            .or_insert_with(|| static_cluster(&up.cluster, &host, port, ca));
    }
    Ok(json!({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": o.admin_port}}},
        "static_resources": {
            "listeners": [{
                "name": "gateway",
                "address": {"socket_address": {"address": o.listen, "port_value": o.port}},
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                        "stat_prefix": "gateway",
                        "normalize_path": true,
                        "merge_slashes": true,
                        // `x_user` beside a mutator's `x-user` reaches servers that read `_` as `-`.
                        "common_http_protocol_options": {"headers_with_underscores_action": "REJECT_REQUEST"},
                        "path_with_escaped_slashes_action": "UNESCAPE_AND_FORWARD",
                        "strip_any_host_port": true,
                        "route_config": {"name": "apirules", "virtual_hosts": vhosts},
                        "http_filters": [
                            {"name": "envoy.filters.http.wasm", "typed_config": {
                                "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                                "config": {
                                    "name": "apirule", "root_id": "apirule", "failure_policy": "FAIL_RELOAD",
                                    "reload_config": {"backoff": {"base_interval": "0.5s", "max_interval": "10s"}},
                                    "vm_config": {"runtime": "envoy.wasm.runtime.v8", "code": {"local": {"filename": o.wasm}}},
                                    "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                                                      "value": routed(config_json).to_string()}
                                }
                            }},
                            {"name": "envoy.filters.http.router", "typed_config": {
                                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
                        ]
                    }
                }]}]
            }],
            "clusters": clusters.into_values().collect::<Vec<_>>(),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(t: &str) -> String {
        route_match(&PathSpec::Template(t.into()))["regex"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn templates_become_anchored_regexes() {
        assert_eq!(re("/file.txt"), "^/file\\.txt$");
        let r = regex_lite::Regex::new(&re("/a/{**}/b")).ok();
        assert!(r
            .as_ref()
            .is_some_and(|r| r.is_match("/a/x/y/b") && !r.is_match("/a//b")));
        let r = regex_lite::Regex::new(&re("/a/{**}")).ok();
        assert!(r
            .as_ref()
            .is_some_and(|r| r.is_match("/a/") && r.is_match("/a/x/y") && !r.is_match("/a")));
        let r = regex_lite::Regex::new(&re("/u/{*}")).ok();
        assert!(r
            .as_ref()
            .is_some_and(|r| r.is_match("/u/1") && !r.is_match("/u/1/2") && !r.is_match("/u/")));
        assert_eq!(route_match(&PathSpec::Any), json!({"prefix": "/"}));
    }

    /// Routes set Kyma's `x-forwarded-host` (the request's own under a wildcard), or the rule's
    /// own value where its header mutator writes one; none where an Ory header mutator does (the
    /// filter's write of its Go template must stand).
    #[test]
    fn routes_set_forwarded_host_or_the_rules_own() {
        let json = json!({"apiRules": [
            {"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
             "metadata": {"name": "a", "namespace": "t"},
             "spec": {"hosts": ["a.example.com"], "gateway": "kyma-system/kyma-gateway",
                      "service": {"name": "s", "port": 80},
                      "rules": [
                        {"path": "/plain", "methods": ["GET"], "noAuth": true},
                        {"path": "/own", "methods": ["GET"],
                         "jwt": {"authentications": [{"issuer": "https://idp", "jwksUri": "https://idp/jwks"}]},
                         "request": {"headers": {"X-Forwarded-Host": "mine.example.com"}}}]}},
            {"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
             "metadata": {"name": "w", "namespace": "t"},
             "spec": {"hosts": ["*.wild.example.com"], "gateway": "kyma-system/kyma-gateway",
                      "service": {"name": "s", "port": 80},
                      "rules": [{"path": "/*", "methods": ["GET"], "noAuth": true}]}},
            {"apiVersion": "gateway.kyma-project.io/v1beta1", "kind": "APIRule",
             "metadata": {"name": "o", "namespace": "t"},
             "spec": {"host": "o.example.com", "gateway": "kyma-system/kyma-gateway",
                      "service": {"name": "s", "port": 80},
                      "rules": [{"path": "/.*", "methods": ["GET"],
                                 "accessStrategies": [{"handler": "noop"}],
                                 "mutators": [{"handler": "header",
                                               "config": {"headers": {"x-forwarded-host": "ory"}}}]}]}}
        ]});
        let config = PluginConfig::from_json(json.to_string().as_bytes())
            .unwrap_or_else(|e| unreachable!("{e}"));
        let docs =
            istio(&json, &config, "oci://r/i:1", None).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            docs[0]["spec"]["pluginConfig"]["routesSetUpstreamHeaders"],
            true
        );
        let set = |name: &str, i: usize| {
            docs.iter()
                .find(|d| d["metadata"]["name"] == name)
                .map(|d| d["spec"]["http"][i]["headers"]["request"]["set"].clone())
                .unwrap_or_default()
        };
        assert_eq!(set("a", 0), json!({"x-forwarded-host": "a.example.com"}));
        assert_eq!(
            set("a", 1),
            json!({"x-forwarded-host": "mine.example.com"}),
            "the rule's own header wins"
        );
        assert_eq!(
            set("w", 0),
            json!({"x-forwarded-host": "%REQ(:AUTHORITY)%"})
        );
        assert_eq!(set("o", 0), Value::Null, "an Ory header mutator's too");
        // Kyma's `headers.response.remove`: v2 always, v1beta1 only with a corsPolicy.
        let removed = |name: &str| {
            docs.iter()
                .find(|d| d["metadata"]["name"] == name)
                .map(|d| d["spec"]["http"][0]["headers"]["response"]["remove"].clone())
                .unwrap_or_default()
        };
        assert_eq!(removed("a"), json!(UPSTREAM_CORS_HEADERS));
        assert_eq!(removed("w"), json!(UPSTREAM_CORS_HEADERS));
        assert_eq!(removed("o"), Value::Null);
        let mut with_policy = json.clone();
        with_policy["apiRules"][2]["spec"]["corsPolicy"] =
            json!({"allowOrigins": [{"exact": "x"}]});
        let config = PluginConfig::from_json(with_policy.to_string().as_bytes())
            .unwrap_or_else(|e| unreachable!("{e}"));
        let docs = istio(&with_policy, &config, "oci://r/i:1", None)
            .unwrap_or_else(|e| unreachable!("{e}"));
        let o = docs.iter().find(|d| d["metadata"]["name"] == "o");
        assert_eq!(
            o.map(|d| d["spec"]["http"][0]["headers"]["response"]["remove"].clone()),
            Some(json!(UPSTREAM_CORS_HEADERS))
        );
    }
}
