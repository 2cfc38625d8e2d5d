//! `apirule check`: every object of the inputs as a cluster would judge it. First what
//! `kubectl apply` refuses (unknown fields, wrong types: [`crate::strict`]), then the API
//! server's value rules and Kyma's controller (the core's `compile`, asked for every stage), all
//! at once; hints follow Kyma's messages. Printed as text, JSON or YAML with a summary.

use apirule_core::compile::{compile, Report, Status};
use apirule_core::validate::{path_within, Failure};
use serde::Serialize;
use serde_json::Value;

use crate::args::{CheckArgs, Format, Validate, NOT_READY, OK, USAGE};
use crate::hints::{hint, Scene};
use crate::input::{self, key_of, objects_mut, take, InputError, Key};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub objects: Vec<Object>,
    pub input_errors: Vec<InputError>,
    pub summary: Summary,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub objects: usize,
    pub ready: usize,
    pub error: usize,
    pub ignored: usize,
    pub input_errors: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Object {
    pub file: Option<String>,
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// `Ready`, `Error` or `Ignored` (valid, but bound to another gateway).
    pub status: &'static str,
    /// Why an object is Ignored; null otherwise.
    pub reason: Option<String>,
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

#[derive(Serialize, Clone)]
pub struct Problem {
    /// `.spec.rules[0].path`
    pub path: String,
    pub message: String,
    /// Who says so: `strict` (kubectl's field validation), `schema` (the API server's type
    /// check) or `kyma` (the CRD's value rules and Kyma's controller, in Kyma's words).
    pub source: &'static str,
    pub hint: Option<String>,
}

pub fn run(args: &CheckArgs) -> Result<i32, String> {
    let names = args.inputs.all();
    if names.is_empty() {
        return Err("no input: name files or directories, or `-` for standard input".into());
    }
    let mut base = crate::base_config(&args.cluster)?;
    base.every_stage = true;
    let (docs, errors) = input::read(&names, args.inputs.recursive);
    let loaded = input::load(docs, base, errors);
    let output = judge(loaded, args.validate);
    print(&output, args.output, args.quiet)?;
    Ok(if output.summary.input_errors > 0 {
        USAGE
    } else if output.summary.error > 0 {
        NOT_READY
    } else {
        OK
    })
}

/// Strict validation per object, then `compile` on what remains, merged per object.
fn judge(loaded: input::Loaded, validate: Validate) -> Output {
    let mut input_errors = loaded.errors;
    let mut objects = Vec::new();
    for input::Config {
        mut config,
        origins,
        plugin,
    } in loaded.configs
    {
        let mut found: Vec<(Key, Option<crate::strict::Found>)> = Vec::new();
        let mut pruned: Vec<(Key, Option<Value>)> = Vec::new();
        for doc in config
            .api_rules
            .iter_mut()
            .chain(config.rate_limits.iter_mut())
        {
            for obj in objects_mut(doc) {
                let key = key_of(obj);
                found.push((
                    key.clone(),
                    Some(crate::strict::check(obj).unwrap_or_default()),
                ));
                pruned.push((key, Some(obj.clone())));
            }
        }
        let (rules, reports) = match compile(&config) {
            Ok(r) => r,
            Err(e) => {
                let file = origins.first().map_or("-".into(), |(_, f)| f.clone());
                input_errors.push(InputError {
                    file,
                    message: e.to_string(),
                });
                continue;
            }
        };
        let authorizers: Vec<String> = config
            .extension_providers
            .iter()
            .map(|p| p.name.clone())
            .collect();
        let mut files: Vec<(Key, Option<String>)> = origins
            .iter()
            .map(|(k, f)| (k.clone(), Some(f.clone())))
            .collect();
        let origin_of = |ns: &str, name: &str| {
            origins
                .iter()
                .find(|((_, n, m), _)| n == ns && m == name)
                .map(|(_, f)| f.clone())
        };
        for report in reports {
            let key = (
                report.kind.clone(),
                report.namespace.clone(),
                report.name.clone(),
            );
            let strict = take(&mut found, &key).unwrap_or_default();
            let object = take(&mut pruned, &key).unwrap_or(Value::Null);
            let scene = Scene {
                object: &object,
                rules: &rules,
                default_domain: config.default_domain.as_deref(),
                in_plugin_config: plugin,
                origin_of: &origin_of,
                authorizers: &authorizers,
            };
            let file = take(&mut files, &key);
            objects.push(merge(report, strict, validate, &scene, file));
        }
    }
    let mut summary = Summary {
        objects: objects.len(),
        input_errors: input_errors.len(),
        ..Summary::default()
    };
    for o in &objects {
        match o.status {
            "Ready" => summary.ready += 1,
            "Ignored" => summary.ignored += 1,
            _ => summary.error += 1,
        }
    }
    Output {
        objects,
        input_errors,
        summary,
    }
}

fn merge(
    report: Report,
    strict: crate::strict::Found,
    validate: Validate,
    scene: &Scene,
    file: Option<String>,
) -> Object {
    let problem = |f: Failure, source: &'static str, hint: Option<String>| Problem {
        path: f.path,
        message: f.message,
        source,
        hint,
    };
    let hint_at = |path: &str| {
        strict
            .hints
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, h)| h.clone())
    };
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    // A plugin configuration never went through the API server: what it would refuse of
    // fields and names, the filter ignores; there it is a warning.
    let unknown = match validate {
        Validate::Strict if scene.in_plugin_config => Validate::Warn,
        other => other,
    };
    for f in strict.unknown {
        let h = hint_at(&f.path);
        match unknown {
            Validate::Strict => errors.push(problem(f, "strict", h)),
            Validate::Warn => warnings.push(problem(f, "strict", h)),
            Validate::Ignore => {}
        }
    }
    for f in strict.meta {
        if scene.in_plugin_config {
            warnings.push(problem(f, "schema", None));
        } else {
            errors.push(problem(f, "schema", None));
        }
    }
    errors.extend(
        strict
            .invalid
            .into_iter()
            .map(|f| problem(f, "schema", None)),
    );
    let (status, reason) = match report.status {
        Status::Ready => ("Ready", None),
        Status::Ignored(why) => ("Ignored", Some(why)),
        Status::Error(failures) => {
            for f in failures {
                // A complaint about a stand-in is not the user's.
                if strict.set_aside.iter().any(|p| path_within(&f.path, p)) {
                    continue;
                }
                let h = hint(&f, scene);
                errors.push(problem(f, "kyma", h));
            }
            ("Error", None)
        }
    };
    let (status, reason) = if errors.is_empty() {
        (status, reason)
    } else {
        ("Error", None)
    };
    Object {
        file,
        api_version: report.api_version,
        kind: report.kind,
        namespace: report.namespace,
        name: report.name,
        status,
        reason,
        errors,
        warnings,
    }
}

fn print(output: &Output, format: Format, quiet: bool) -> Result<(), String> {
    for e in &output.input_errors {
        eprintln!("apirule: {}: {}", e.file, e.message);
    }
    if crate::print_document(output, format)? {
        return Ok(());
    }
    for o in &output.objects {
        if !(quiet && o.status == "Ready") {
            out!("{}", text(o));
        }
    }
    if !quiet {
        outln!("{}", summary_line(&output.summary));
    }
    Ok(())
}

/// One object in text: its status line, then each problem in the words of whoever raises it.
pub fn text(o: &Object) -> String {
    use std::fmt::Write;
    let mut out = format!(
        "{}/{} ({} {}): {}",
        o.namespace, o.name, o.api_version, o.kind, o.status
    );
    if let Some(why) = &o.reason {
        let _ = write!(out, ": {why}");
    }
    out.push('\n');
    let mut kyma_first = true;
    let warnings = o.warnings.iter().map(|p| (p, true));
    for (p, warning) in warnings.chain(o.errors.iter().map(|p| (p, false))) {
        let at = p.path.trim_start_matches('.');
        let line = match p.source {
            "strict" if warning => p.message.clone(),
            "strict" => format!("strict decoding error: {}", p.message),
            "schema" => format!("{at}: {}", p.message),
            _ => {
                let prefix = if std::mem::take(&mut kyma_first) {
                    "Validation errors: "
                } else {
                    ""
                };
                format!("{prefix}Attribute '{}': {}", p.path, p.message)
            }
        };
        let line = if warning {
            format!("Warning: {line}")
        } else {
            line
        };
        for l in line.lines() {
            let _ = writeln!(out, "    {l}");
        }
        if let Some(h) = &p.hint {
            let _ = writeln!(out, "        hint: {h}");
        }
    }
    out
}

fn summary_line(s: &Summary) -> String {
    let mut line = format!(
        "{} object{} checked: {} Ready, {} Error",
        s.objects,
        if s.objects == 1 { "" } else { "s" },
        s.ready,
        s.error
    );
    if s.ignored > 0 {
        line += &format!(", {} Ignored", s.ignored);
    }
    if s.input_errors > 0 {
        line += &format!(
            "; {} input error{}",
            s.input_errors,
            if s.input_errors == 1 { "" } else { "s" }
        );
    }
    line
}
