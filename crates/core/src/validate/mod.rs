//! Validation with Kyma's attribute paths and messages.
//!
//! Two stages, as in a cluster: first what the API server rejects (CRD schema and CEL rules;
//! an object failing them never exists, so only these are reported), then what Kyma's controller
//! reports in the APIRule status. Checks that need a cluster (sidecar injection, foreign
//! VirtualServices, Gateway objects, the mesh ConfigMap) are out of scope: see the README.

/// True when `value` matches `pattern`; the pattern is compiled once per process (configuring
/// 10,000 APIRules must not compile the same regex 10,000 times). A pattern that does not compile
/// matches nothing, so the check fails closed.
macro_rules! regex_is_match {
    ($pattern:expr, $value:expr) => {{
        static RE: std::sync::OnceLock<Option<regex_lite::Regex>> = std::sync::OnceLock::new();
        RE.get_or_init(|| regex_lite::Regex::new($pattern).ok())
            .as_ref()
            .is_some_and(|re| re.is_match($value))
    }};
}

pub mod legacy_api;
pub mod paths;
pub mod ratelimit;
pub mod uri;
pub mod v1beta1;
pub mod v2;

use serde_json::Value;

use crate::config::model::{ApiRule, Source};
use crate::config::{object_identity, typed, JwtHandler};
use crate::matcher::method::METHODS;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub path: String,
    pub message: String,
}

impl Failure {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Failure {
        Failure {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Attribute '{}': {}", self.path, self.message)
    }
}

/// Kyma's v2 status description: `Validation errors: Attribute '<path>': <msg>` lines.
/// (Kyma cuts the list after three; we keep every line.)
pub fn describe(failures: &[Failure]) -> String {
    let lines: Vec<String> = failures.iter().map(Failure::to_string).collect();
    format!("Validation errors: {}", lines.join("\n"))
}

/// What validation needs from outside the object.
pub struct Context<'a> {
    pub default_domain: Option<&'a str>,
    pub jwt_handler: JwtHandler,
    /// True when an earlier valid APIRule already owns this expanded host.
    pub host_taken: &'a dyn Fn(&str) -> bool,
    /// Is this `extAuth` authorizer defined? `Some(false)`: defined, but not `envoyExtAuthzHttp`.
    pub authorizer: &'a dyn Fn(&str) -> Option<bool>,
    /// Also run the controller's checks on an object the API server would refuse (`apirule
    /// check` reports every failure at once); the filter stops at the API server's, as a cluster.
    pub every_stage: bool,
}

/// True when `path` is `ancestor` or lies under it (`.spec.a` is within `.spec` and `.spec.a`,
/// `.spec.a[0]` within `.spec.a`; `.spec.ab` is not within `.spec.a`).
pub fn path_within(path: &str, ancestor: &str) -> bool {
    path.strip_prefix(ancestor)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

/// The API server's failures, and when asked for every stage, the controller's failures that
/// do not concern a field the API server already refused.
pub(crate) fn stages(
    crd: Vec<Failure>,
    controller: impl FnOnce() -> Vec<Failure>,
    every_stage: bool,
) -> Vec<Failure> {
    if !crd.is_empty() && !every_stage {
        return crd;
    }
    let mut out = crd;
    let refused: Vec<String> = out.iter().map(|f| f.path.clone()).collect();
    out.extend(
        controller()
            .into_iter()
            .filter(|f| !refused.iter().any(|r| path_within(&f.path, r))),
    );
    out
}

/// The identity of an object and the outcome of its validation.
pub struct Checked {
    pub name: String,
    pub namespace: String,
    pub api_version: String,
    pub kind: String,
    pub gateway: Option<String>,
    pub result: Result<ApiRule, Vec<Failure>>,
}

/// Validates one object of any supported version and normalises it when valid.
pub fn check_object(obj: &Value, ctx: &Context) -> Checked {
    let (name, namespace) = object_identity(obj);
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let source = match (api_version.as_str(), kind.as_str()) {
        ("gateway.kyma-project.io/v2", "APIRule") => Some(Source::V2),
        ("gateway.kyma-project.io/v2alpha1", "APIRule") => Some(Source::V2Alpha1),
        ("gateway.kyma-project.io/v1beta1", "APIRule") => Some(Source::V1Beta1),
        ("gateway.kyma-project.io/v1alpha1", "APIRule") => Some(Source::V1Alpha1),
        ("gateway.kyma-project.io/v1alpha2", "Api") => Some(Source::LegacyApi),
        _ => None,
    };
    let stored;
    let mut spec = obj.get("spec");
    let mut source = source;
    // API Gateway 2.x stores every APIRule as v2; a v1beta1 one keeps its real spec in an
    // annotation and is reconciled as v1beta1 (Kyma's `isAPIRuleV2`). `kubectl get -o json`
    // returns it in this form.
    if matches!(source, Some(Source::V2 | Source::V2Alpha1)) && stored_as_v1beta1(obj) {
        source = Some(Source::V1Beta1);
        match v1beta1_spec_annotation(obj) {
            Ok(v) => {
                stored = v;
                spec = Some(&stored);
            }
            Err(failure) => {
                return Checked {
                    name,
                    namespace,
                    api_version,
                    kind,
                    gateway: None,
                    result: Err(vec![failure]),
                }
            }
        }
    }
    let (gateway, result) = match source {
        None => (
            None,
            Err(vec![Failure::new(
                ".apiVersion",
                format!(
                    "unsupported apiVersion/kind {api_version:?}/{kind:?}: expected an APIRule of gateway.kyma-project.io/v2, v2alpha1, v1beta1 or v1alpha1, or an Api of v1alpha2"
                ),
            )]),
        ),
        Some(source @ (Source::V2 | Source::V2Alpha1)) => {
            v2::check(spec, &name, &namespace, source, ctx)
        }
        Some(source @ (Source::V1Beta1 | Source::V1Alpha1)) => {
            let converted;
            let spec = if source == Source::V1Alpha1 {
                converted = spec.map(crate::config::v1alpha1::to_v1beta1_spec);
                converted.as_ref()
            } else {
                spec
            };
            v1beta1::check(spec, &name, &namespace, source, ctx)
        }
        Some(Source::LegacyApi) => (None, legacy_api::check(spec, &name, &namespace, ctx)),
    };
    Checked {
        name,
        namespace,
        api_version,
        kind,
        gateway,
        result,
    }
}

pub const ORIGINAL_VERSION: &str = "gateway.kyma-project.io/original-version";
pub const V1BETA1_SPEC: &str = "gateway.kyma-project.io/v1beta1-spec";

fn annotation<'v>(obj: &'v Value, key: &str) -> Option<&'v Value> {
    obj.get("metadata")?.get("annotations")?.get(key)
}

/// Kyma reconciles an object as v1beta1 when its original version says so. Its admission
/// conversion rewrites that annotation to v2 when a v2 object with rules is applied
/// (`apis/gateway/v2/apirule_conversion.go`), so such an object without the v1beta1 spec is a
/// v2 one; an object converted from v1beta1 carries that spec.
fn stored_as_v1beta1(obj: &Value) -> bool {
    if annotation(obj, ORIGINAL_VERSION).and_then(Value::as_str) != Some("v1beta1") {
        return false;
    }
    let has_rules = obj
        .pointer("/spec/rules")
        .and_then(Value::as_array)
        .is_some_and(|r| !r.is_empty());
    annotation(obj, V1BETA1_SPEC).is_some() || !has_rules
}

/// The v1beta1 spec a v2-stored object carries, as Kyma's conversion reads it.
fn v1beta1_spec_annotation(obj: &Value) -> Result<Value, Failure> {
    let path = format!(".metadata.annotations[{V1BETA1_SPEC:?}]");
    let text = annotation(obj, V1BETA1_SPEC)
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Failure::new(
                &path,
                format!("Required value: {ORIGINAL_VERSION} is v1beta1, so the v1beta1 spec must be here"),
            )
        })?;
    serde_json::from_slice(text.as_bytes())
        .map_err(|e| Failure::new(&path, format!("Invalid value: not a v1beta1 spec: {e}")))
}

/// Typed spec, or the API server's complaint about its shape.
pub(crate) fn spec_of<T: crate::config::read::FromJson + Default>(
    spec: Option<&Value>,
    required: bool,
) -> Result<Option<T>, Vec<Failure>> {
    match spec {
        None | Some(Value::Null) if required => Err(vec![Failure::new(".spec", "Required value")]),
        None | Some(Value::Null) => Ok(None),
        Some(v) => typed::<T>(v, ".spec")
            .map(Some)
            .map_err(|(path, msg)| vec![Failure::new(path, format!("Invalid value: {msg}"))]),
    }
}

// ---- CRD-level helpers shared by the versions -------------------------------------------------

pub(crate) fn crd_required<T>(out: &mut Vec<Failure>, path: &str, v: &Option<T>) {
    if v.is_none() {
        out.push(Failure::new(path, "Required value"));
    }
}

pub(crate) fn crd_methods(out: &mut Vec<Failure>, path: &str, methods: &Option<Vec<String>>) {
    match methods {
        None => out.push(Failure::new(path, "Required value")),
        Some(m) if m.is_empty() => out.push(Failure::new(path, "should have at least 1 items")),
        Some(m) => {
            let supported: Vec<String> = METHODS.iter().map(|m| format!("{m:?}")).collect();
            for (i, method) in m.iter().enumerate() {
                if !METHODS.contains(&method.as_str()) {
                    out.push(Failure::new(
                        format!("{path}[{i}]"),
                        format!(
                            "Unsupported value: {method:?}: supported values: {}",
                            supported.join(", ")
                        ),
                    ));
                }
            }
        }
    }
}

pub(crate) fn crd_timeout(out: &mut Vec<Failure>, path: &str, timeout: Option<u32>) {
    match timeout {
        Some(0) => out.push(Failure::new(
            path,
            "Invalid value: 0: should be greater than or equal to 1",
        )),
        Some(t) if t > 3900 => out.push(Failure::new(
            path,
            format!("Invalid value: {t}: should be less than or equal to 3900"),
        )),
        _ => {}
    }
}

pub(crate) fn crd_service(out: &mut Vec<Failure>, path: &str, svc: &crate::config::v2::Service) {
    crd_required(out, &format!("{path}.name"), &svc.name);
    match svc.port {
        None => out.push(Failure::new(format!("{path}.port"), "Required value")),
        Some(p) if !(1..=65535).contains(&p) => out.push(Failure::new(
            format!("{path}.port"),
            format!("Invalid value: {p}: should be between 1 and 65535"),
        )),
        _ => {}
    }
    if let Some(ns) = &svc.namespace {
        let ok = regex_is_match!(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", ns);
        if !ok {
            out.push(Failure::new(
                format!("{path}.namespace"),
                format!("Invalid value: {ns:?}: should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'"),
            ));
        }
    }
}

/// Kyma's `validateJwtIssuer` + `IsInvalidURI`, as one message.
pub(crate) fn issuer_error(issuer: &str) -> Option<String> {
    if issuer.is_empty() {
        return Some("value is empty or not a valid uri err=value is empty".into());
    }
    if issuer.contains(':') {
        return uri::invalid_uri(issuer)
            .map(|e| format!("value is empty or not a valid uri err={e}"));
    }
    None
}

pub(crate) fn uri_error(value: &str) -> Option<String> {
    uri::invalid_uri(value).map(|e| format!("value is empty or not a valid uri err={e}"))
}

/// Istio JWT `authorizations` (W10–W13 / V26–V29). `base` is the path of the list itself.
pub(crate) fn jwt_authorizations(
    out: &mut Vec<Failure>,
    base: &str,
    authorizations: &Option<Vec<Option<crate::config::v2::JwtAuthorization>>>,
    empty_list_message: &str,
) {
    let Some(list) = authorizations else { return };
    if list.is_empty() {
        out.push(Failure::new(base, empty_list_message));
        return;
    }
    for (i, a) in list.iter().enumerate() {
        let Some(a) = a else {
            out.push(Failure::new(
                format!("{base}[{i}]"),
                "authorization is empty",
            ));
            continue;
        };
        let values = |v: &Option<Vec<String>>, empty_item: &str| match v {
            Some(v) if v.is_empty() => Some("value is empty".to_owned()),
            Some(v) if v.iter().any(String::is_empty) => Some(empty_item.to_owned()),
            _ => None,
        };
        if let Some(m) = values(&a.required_scopes, "scope value is empty") {
            out.push(Failure::new(format!("{base}[{i}].requiredScopes"), m));
        }
        if let Some(m) = values(&a.audiences, "audience value is empty") {
            out.push(Failure::new(format!("{base}[{i}].audiences"), m));
        }
    }
}

/// Istio JWT `authentications` (W4–W9 / V21–V25). `base` is the path of the list itself;
/// `empty` is the (path, message) for a missing or empty list.
pub(crate) fn jwt_authentications(
    out: &mut Vec<Failure>,
    base: &str,
    authentications: &Option<Vec<crate::config::v2::JwtAuthentication>>,
    empty: (&str, &str),
) {
    let list = match authentications {
        Some(l) if !l.is_empty() => l,
        _ => {
            out.push(Failure::new(empty.0, empty.1));
            return;
        }
    };
    let (mut has_headers, mut has_params) = (false, false);
    for (i, a) in list.iter().enumerate() {
        let at = |field: &str| format!("{base}[{i}].{field}");
        if let Some(m) = issuer_error(a.issuer.as_deref().unwrap_or("")) {
            out.push(Failure::new(at("issuer"), m));
        }
        if let Some(m) = uri_error(a.jwks_uri.as_deref().unwrap_or("")) {
            out.push(Failure::new(at("jwksUri"), m));
        }
        let headers = a.from_headers.as_ref().map_or(0, Vec::len);
        let params = a.from_params.as_ref().map_or(0, Vec::len);
        let mixture = "mixture of multiple fromHeaders and fromParams is not supported";
        if headers > 0 {
            if has_params {
                out.push(Failure::new(at("fromHeaders"), mixture));
            }
            has_headers = true;
        }
        if params > 0 {
            if has_headers {
                out.push(Failure::new(at("fromParams"), mixture));
            }
            has_params = true;
        }
        if headers > 1 {
            out.push(Failure::new(
                at("fromHeaders"),
                "multiple fromHeaders are not supported",
            ));
        }
        if params > 1 {
            out.push(Failure::new(
                at("fromParams"),
                "multiple fromParams are not supported",
            ));
        }
    }
}

/// W25 / V30: the same issuer + JWKS URI must read the token from the same place everywhere.
/// `auths` are (attribute path, authentication) in document order.
pub(crate) fn jwt_consistency<'a>(
    out: &mut Vec<Failure>,
    auths: impl Iterator<Item = (String, &'a crate::config::v2::JwtAuthentication)>,
) {
    let mut seen: std::collections::HashMap<String, &crate::config::v2::JwtAuthentication> =
        std::collections::HashMap::new();
    for (path, a) in auths {
        let key = format!(
            "{}{}",
            a.issuer.as_deref().unwrap_or(""),
            a.jwks_uri.as_deref().unwrap_or("")
        );
        match seen.get(&key) {
            Some(first)
                if first.from_headers.clone().unwrap_or_default()
                    != a.from_headers.clone().unwrap_or_default()
                    || first.from_params.clone().unwrap_or_default()
                        != a.from_params.clone().unwrap_or_default() =>
            {
                out.push(Failure::new(
                    path,
                    "multiple jwt configurations that differ for the same issuer",
                ));
            }
            Some(_) => {}
            None => {
                seen.insert(key, a);
            }
        }
    }
}
