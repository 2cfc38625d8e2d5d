//! Plugin configuration → [`RuleSet`]: validate every object, normalise the valid ones, compile
//! their matchers and index their hosts. Runs once per `on_configure`, never on the request path.

use crate::config::model::{Access, PathSpec, Service, Source};
use crate::config::{ConfigError, PluginConfig};
use crate::matcher::host::HostIndex;
use crate::matcher::method::MethodSet;
use crate::matcher::path::PathMatcher;
use crate::validate::{check_object, Context, Failure};

/// Everything the request path needs, immutable after configuration.
#[derive(Debug, Default)]
pub struct RuleSet {
    pub(crate) hosts: HostIndex,
    pub(crate) api_rules: Vec<CompiledApiRule>,
}

#[derive(Debug)]
pub struct CompiledApiRule {
    pub name: String,
    pub namespace: String,
    pub source: Source,
    /// Kyma v2 sets `x-forwarded-host` to the first host, or to the request's authority when that
    /// host is a wildcard.
    pub forwarded_host: Option<String>,
    pub rules: Vec<CompiledRule>,
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
    pub access: Access,
}

/// The outcome for one object of the configuration, in Kyma's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub name: String,
    pub namespace: String,
    pub api_version: String,
    pub kind: String,
    pub status: Status,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Ready,
    Error(Vec<Failure>),
    /// Valid, but bound to another gateway than the one this filter serves.
    Ignored(String),
}

impl RuleSet {
    pub fn len(&self) -> usize {
        self.api_rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.api_rules.is_empty()
    }

    pub fn rule_count(&self) -> usize {
        self.api_rules.iter().map(|a| a.rules.len()).sum()
    }
}

/// Compiles a plugin configuration. Fails only when the configuration itself is malformed; an
/// invalid APIRule is reported and left out (its hosts answer 404), the others are served.
pub fn compile(config: &PluginConfig) -> Result<(RuleSet, Vec<Report>), ConfigError> {
    let objects = config.objects()?;
    let mut set = RuleSet::default();
    let mut reports = Vec::with_capacity(objects.len());
    let mut seen = std::collections::HashSet::new();
    for obj in objects {
        let checked = {
            let hosts = &set.hosts;
            let taken = |h: &str| hosts.contains(h);
            let ctx = Context {
                default_domain: config.default_domain.as_deref(),
                jwt_handler: config.jwt_handler,
                host_taken: &taken,
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
                let served_gateway = config.gateway.as_deref();
                let own_gateway = checked.gateway.as_deref();
                if let (Some(served), Some(own)) = (served_gateway, own_gateway) {
                    if served != own {
                        report.status = Status::Ignored(format!(
                            "bound to gateway {own}; this filter serves {served}"
                        ));
                        reports.push(report);
                        continue;
                    }
                }
                match compile_api_rule(api_rule) {
                    Ok((compiled, hosts)) => {
                        let id = set.api_rules.len();
                        for host in &hosts {
                            set.hosts.insert(host, id);
                        }
                        set.api_rules.push(compiled);
                    }
                    Err(failures) => report.status = Status::Error(failures),
                }
            }
        }
        reports.push(report);
    }
    Ok((set, reports))
}

fn compile_api_rule(
    api_rule: crate::config::model::ApiRule,
) -> Result<(CompiledApiRule, Vec<String>), Vec<Failure>> {
    let mut failures = Vec::new();
    let mut rules = Vec::with_capacity(api_rule.rules.len());
    for rule in api_rule.rules {
        let path_text = match &rule.path {
            PathSpec::Any => "/*".to_owned(),
            PathSpec::Template(t) | PathSpec::Regex(t) => t.clone(),
        };
        match PathMatcher::compile(&rule.path) {
            Ok(path) => rules.push(CompiledRule {
                index: rule.index,
                path_text,
                path,
                methods: rule.methods,
                service: rule.service,
                timeout_s: rule.timeout_s,
                timeout_ms_header: (u64::from(rule.timeout_s) * 1000).to_string(),
                access: rule.access,
            }),
            Err(e) => failures.push(Failure::new(format!(".spec.rules[{}].path", rule.index), e)),
        }
    }
    if !failures.is_empty() {
        return Err(failures);
    }
    let forwarded_host = api_rule
        .hosts
        .first()
        .filter(|h| !h.starts_with("*."))
        .cloned();
    Ok((
        CompiledApiRule {
            name: api_rule.name,
            namespace: api_rule.namespace,
            source: api_rule.source,
            forwarded_host,
            rules,
        },
        api_rule.hosts,
    ))
}
