//! Plugin configuration → [`RuleSet`]: validate every object, normalise the valid ones, compile
//! their matchers and access checks, index their hosts, and list the JWKS URIs to fetch. Runs
//! once per `on_configure`, never on the request path.

use std::collections::HashMap;

use crate::callout::{target, Upstream};
use std::collections::BTreeMap;
use std::rc::Rc;

use crate::access::extauth::{compile_providers, Authorizers, ExtAuthRule};
use crate::access::introspection::IntrospectionRule;
use crate::access::istio_jwt::IstioRule;
use crate::access::ory_jwt::{OryJwtRule, ScopeStrategy};
use crate::config::model::{Access, ApiRule, Authenticator, PathSpec, Service, Source};
use crate::config::{ConfigError, PluginConfig};
use crate::cors::CompiledCors;
use crate::jwt::keystore::JwksPolicy;
use crate::matcher::host::HostIndex;
use crate::matcher::method::MethodSet;
use crate::matcher::path::PathMatcher;
use crate::mutate::id_token::SigningKey;
use crate::mutate::RuleMutators;
pub use crate::report::{Report, Status};
use crate::response::Flavor;
use crate::validate::{check_object, Context, Failure};

/// Everything the request path needs, immutable after configuration.
#[derive(Debug, Default)]
pub struct RuleSet {
    pub hosts: HostIndex,
    pub api_rules: Vec<CompiledApiRule>,
    /// JWKS URIs by id, and where to fetch each.
    pub jwks: Vec<(String, Upstream)>,
    pub jwks_policy: JwksPolicy,
    pub token_cache_size: usize,
    /// The RateLimit that selects this gateway, if one does.
    pub rate_limit: Option<crate::ratelimit::RateLimiter>,
}

#[derive(Debug)]
pub struct CompiledApiRule {
    pub name: String,
    pub namespace: String,
    pub source: Source,
    /// [`ApiRule::forwarded_host`](crate::config::model::ApiRule::forwarded_host): `None` sends
    /// the request's authority.
    pub forwarded_host: Option<String>,
    /// The routes set `x-forwarded-host` and the timeout (`routesSetUpstreamHeaders`).
    pub upstream_by_routes: bool,
    pub rules: Vec<CompiledRule>,
    pub cors: CompiledCors,
}

#[derive(Debug)]
pub struct CompiledRule {
    pub index: usize,
    pub path_text: String,
    pub path: PathMatcher,
    pub methods: MethodSet,
    pub service: Option<Service>,
    pub timeout_s: u32,
    /// `timeout_s` in milliseconds, ready to be written as `x-envoy-upstream-rq-timeout-ms`.
    pub timeout_ms_header: String,
    pub access: CompiledAccess,
    pub mutators: RuleMutators,
    /// For Ory templates' `.MatchContext.RegexpCaptureGroups`: `^(<path regex>)$`.
    pub captures: Option<regex_lite::Regex>,
}

#[derive(Debug)]
pub enum CompiledAccess {
    Public,
    Noop,
    /// Tried in order (Ory); v2 rules have exactly one.
    Authenticate(Vec<Check>),
}

#[derive(Debug)]
pub enum Check {
    IstioJwt(IstioRule),
    OryJwt(OryJwtRule),
    Introspection(Box<IntrospectionRule>),
    ExtAuth(ExtAuthRule),
    /// Accepted by Kyma, not enforced here yet: always denied.
    Unsupported(String, Flavor),
}

impl RuleSet {
    /// What the access checks of this rule set keep between requests, empty.
    pub fn auth_state(&self) -> crate::access::AuthState {
        crate::access::AuthState::new(&self.jwks_uris(), self.jwks_policy, self.token_cache_size)
    }

    pub fn len(&self) -> usize {
        self.api_rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.api_rules.is_empty()
    }

    pub fn rule_count(&self) -> usize {
        self.api_rules.iter().map(|a| a.rules.len()).sum()
    }

    pub fn jwks_uris(&self) -> Vec<String> {
        self.jwks.iter().map(|(u, _)| u.clone()).collect()
    }
}

/// JWKS URIs seen so far, by id; rolled back when an APIRule fails to compile.
struct Registry<'c> {
    uris: Vec<(String, Upstream)>,
    index: HashMap<String, usize>,
    clusters: &'c BTreeMap<String, String>,
    errors: Vec<String>,
    signing_keys: BTreeMap<String, Rc<SigningKey>>,
    defaults: &'c crate::config::OathkeeperDefaults,
    authorizers: Authorizers,
    upstream_by_routes: bool,
}

impl Registry<'_> {
    fn id(&mut self, uri: &str) -> usize {
        if let Some(id) = self.index.get(uri) {
            return *id;
        }
        let upstream = target(uri, self.clusters).unwrap_or_else(|e| {
            self.errors.push(e);
            Upstream {
                cluster: String::new(),
                authority: String::new(),
                path: String::new(),
            }
        });
        let id = self.uris.len();
        self.uris.push((uri.to_owned(), upstream));
        self.index.insert(uri.to_owned(), id);
        id
    }

    fn truncate(&mut self, len: usize) {
        for (uri, _) in self.uris.drain(len..) {
            self.index.remove(&uri);
        }
        self.errors.clear();
    }
}

/// Compiles a plugin configuration. Fails only when the configuration itself is malformed; an
/// invalid APIRule is reported and left out (its hosts answer 404), the others are served.
pub fn compile(config: &PluginConfig) -> Result<(RuleSet, Vec<Report>), ConfigError> {
    let objects = config.objects()?;
    if config.native_crypto == Some(false) && !crate::jwt::crypto::Software::complete() {
        return Err(ConfigError(
            "plugin configuration: .nativeCrypto: false verifies RSA and P-384 in software, \
             which only the portable module (apirule_wasm_portable.wasm) carries"
                .into(),
        ));
    }
    let mut set = RuleSet {
        jwks_policy: config.jwks.policy()?,
        token_cache_size: config
            .token_cache_size
            .map_or(crate::jwt::cache::DEFAULT_CAPACITY, |n| {
                n.clamp(1, 1 << 20) as usize
            }),
        ..Default::default()
    };
    let mut registry = Registry {
        uris: Vec::new(),
        index: HashMap::new(),
        clusters: &config.clusters,
        errors: Vec::new(),
        signing_keys: signing_keys(config)?,
        defaults: &config.oathkeeper,
        authorizers: compile_providers(&config.extension_providers, &config.clusters)
            .map_err(|e| ConfigError(format!("plugin configuration: {e}")))?,
        upstream_by_routes: config.routes_set_upstream_headers,
    };
    let mut reports = Vec::with_capacity(objects.len());
    let mut seen = std::collections::HashSet::new();
    for obj in objects {
        let checked = {
            let hosts = &set.hosts;
            let taken = |h: &str| hosts.contains(h);
            let authorizers = &registry.authorizers;
            let authorizer = |name: &str| authorizers.get(name).map(Option::is_some);
            let ctx = Context {
                default_domain: config.default_domain.as_deref(),
                jwt_handler: config.jwt_handler,
                host_taken: &taken,
                authorizer: &authorizer,
                every_stage: config.every_stage,
            };
            check_object(obj, &ctx)
        };
        let mut report = Report {
            name: checked.name,
            namespace: checked.namespace,
            api_version: checked.api_version,
            kind: checked.kind,
            status: Status::Ready,
        };
        // The same object twice (one name in one namespace): only the first is served.
        if !seen.insert((
            report.kind.clone(),
            report.namespace.clone(),
            report.name.clone(),
        )) {
            report.status = Status::Error(vec![Failure::new(
                ".metadata.name",
                format!(
                    "{} {}/{} is defined more than once; only the first definition is served",
                    report.kind, report.namespace, report.name
                ),
            )]);
            reports.push(report);
            continue;
        }
        match checked.result {
            Err(failures) => report.status = Status::Error(failures),
            Ok(api_rule) => {
                if let (Some(served), Some(own)) =
                    (config.gateway.as_deref(), checked.gateway.as_deref())
                {
                    if served != own {
                        report.status = Status::Ignored(format!(
                            "bound to gateway {own}; this filter serves {served}"
                        ));
                        reports.push(report);
                        continue;
                    }
                }
                let mark = registry.uris.len();
                match compile_api_rule(api_rule, &mut registry) {
                    Ok((compiled, hosts)) => {
                        let id = set.api_rules.len();
                        for host in &hosts {
                            set.hosts.insert(host, id);
                        }
                        set.api_rules.push(compiled);
                    }
                    Err(failures) => {
                        registry.truncate(mark);
                        report.status = Status::Error(failures);
                    }
                }
            }
        }
        reports.push(report);
    }
    set.jwks = registry.uris;
    // RateLimit reports come after the APIRules' (whose order follows `config.objects()`).
    let (limiter, limit_reports) = crate::ratelimit::compile(config)?;
    set.rate_limit = limiter;
    reports.extend(limit_reports);
    Ok((set, reports))
}

/// `signingKeys`: inline JWK Sets, or `{"fromEnv": "VAR"}` read from the proxy's environment.
fn signing_keys(config: &PluginConfig) -> Result<BTreeMap<String, Rc<SigningKey>>, ConfigError> {
    let mut out = BTreeMap::new();
    for (url, value) in &config.signing_keys {
        let err =
            |e: String| ConfigError(format!("plugin configuration: .signingKeys[{url:?}]: {e}"));
        let jwks = match value.get("fromEnv").and_then(|v| v.as_str()) {
            Some(var) => {
                let text = std::env::var(var)
                    .map_err(|_| err(format!("environment variable {var} is not set")))?;
                serde_json::from_slice(text.as_bytes())
                    .map_err(|e| err(format!("{var} is not a JWK Set: {e}")))?
            }
            None => value.clone(),
        };
        out.insert(
            url.clone(),
            Rc::new(SigningKey::from_jwks(&jwks).map_err(err)?),
        );
    }
    Ok(out)
}

/// Access strategy `j` of a rule (`at`: `.spec.rules[i]`, for error paths).
fn compile_check(
    a: &Authenticator,
    j: usize,
    registry: &mut Registry<'_>,
    source: Source,
    at: &str,
) -> Result<Check, Failure> {
    let config_at = format!("{at}.accessStrategies[{j}].config");
    Ok(match a {
        Authenticator::IstioJwt(jwt) => {
            let mut id = |uri: &str| registry.id(uri);
            Check::IstioJwt(IstioRule::compile(
                jwt,
                &mut id,
                source == Source::LegacyApi,
            ))
        }
        Authenticator::OAuth2Introspection(config) => {
            match IntrospectionRule::compile(
                config,
                registry.clusters,
                registry.defaults.introspection_url.as_deref(),
            ) {
                Ok(r) => Check::Introspection(Box::new(r)),
                Err(e) => return Err(Failure::new(config_at, e)),
            }
        }
        Authenticator::OryJwt(config) => {
            let where_ = config_at;
            let mut config = config.clone();
            let has_urls = config
                .get("jwks_urls")
                .and_then(|v| v.as_array())
                .is_some_and(|a| !a.is_empty());
            if !has_urls && !registry.defaults.jwks_urls.is_empty() {
                // Oathkeeper merges the rule over its global config.
                config["jwks_urls"] = serde_json::json!(registry.defaults.jwks_urls);
            } else if !has_urls {
                return Err(Failure::new(
                    format!("{where_}.jwks_urls"),
                    "jwks_urls is required: set it, or oathkeeper.jwksUrls in the plugin configuration",
                ));
            }
            let mut id = |uri: &str| registry.id(uri);
            match OryJwtRule::compile(&config, &mut id, ScopeStrategy::Wildcard) {
                Ok(r) => Check::OryJwt(r),
                Err(e) => {
                    return Err(Failure::new(where_, e));
                }
            }
        }
        Authenticator::ExtAuth(ext) => {
            // Validation has checked that every name is an HTTP authorizer.
            let authorizers = ext
                .authorizers
                .iter()
                .filter_map(|n| registry.authorizers.get(n).cloned().flatten())
                .collect::<Vec<_>>();
            if authorizers.len() != ext.authorizers.len() {
                return Err(Failure::new(
                    format!("{at}.extAuth.authorizers"),
                    "Authorizer not found in Istio ConfigMap mesh data",
                ));
            }
            let mut id = |uri: &str| registry.id(uri);
            Check::ExtAuth(ExtAuthRule {
                authorizers,
                restrictions: ext
                    .restrictions
                    .as_ref()
                    .map(|r| IstioRule::compile(r, &mut id, false)),
            })
        }
        other => Check::Unsupported(other.name().to_owned(), crate::response::flavor(source)),
    })
}

fn compile_api_rule(
    api_rule: ApiRule,
    registry: &mut Registry<'_>,
) -> Result<(CompiledApiRule, Vec<String>), Vec<Failure>> {
    let forwarded_host = api_rule.forwarded_host().map(str::to_owned);
    let mut failures = Vec::new();
    let mut rules = Vec::with_capacity(api_rule.rules.len());
    for rule in api_rule.rules {
        let path_text = match &rule.path {
            PathSpec::Any => "/*".to_owned(),
            PathSpec::Template(t) | PathSpec::Regex(t) => t.clone(),
        };
        let at = |field: &str| format!(".spec.rules[{}]{field}", rule.index);
        let path = match PathMatcher::compile(&rule.path) {
            Ok(p) => p,
            Err(e) => {
                failures.push(Failure::new(at(".path"), e));
                continue;
            }
        };
        let access = match &rule.access {
            Access::Public => CompiledAccess::Public,
            Access::Noop => CompiledAccess::Noop,
            Access::Authenticate(list) => {
                let mut checks = Vec::with_capacity(list.len());
                for (j, a) in list.iter().enumerate() {
                    match compile_check(a, j, registry, api_rule.source, &at("")) {
                        Ok(check) => checks.push(check),
                        Err(failure) => failures.push(failure),
                    }
                }
                CompiledAccess::Authenticate(checks)
            }
        };
        for e in registry.errors.drain(..) {
            failures.push(Failure::new(
                at(""),
                format!("JWKS URI cannot be fetched: {e}"),
            ));
        }
        let mutators = match RuleMutators::compile(&rule.mutators, &registry.signing_keys) {
            Ok(m) => m,
            Err((path, e)) => {
                failures.push(Failure::new(at(&path), e));
                continue;
            }
        };
        let captures = match &rule.path {
            PathSpec::Regex(re) if !rule.mutators.ory.is_empty() => {
                regex_lite::Regex::new(&format!("^({re})$")).ok()
            }
            _ => None,
        };
        rules.push(CompiledRule {
            index: rule.index,
            path_text,
            path,
            methods: rule.methods,
            service: rule.service,
            timeout_s: rule.timeout_s,
            timeout_ms_header: (u64::from(rule.timeout_s) * 1000).to_string(),
            access,
            mutators,
            captures,
        });
    }
    let cors = match CompiledCors::compile(&api_rule.cors, registry.upstream_by_routes) {
        Ok(c) => c,
        Err(e) => {
            failures.push(Failure::new(".spec.corsPolicy.allowOrigins", e));
            CompiledCors::default()
        }
    };
    if !failures.is_empty() {
        return Err(failures);
    }
    Ok((
        CompiledApiRule {
            name: api_rule.name,
            namespace: api_rule.namespace,
            source: api_rule.source,
            forwarded_host,
            upstream_by_routes: registry.upstream_by_routes,
            rules,
            cors,
        },
        api_rule.hosts,
    ))
}
