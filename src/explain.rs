//! `apirule explain`: one request through the rules, offline, with the filter's own pipeline.

use apirule_core::compile::{compile, Status};
use apirule_core::decide::Request;
use apirule_core::jwt::crypto::Software;
use apirule_core::request::HeaderList;
use apirule_core::validate::describe;
use serde::Serialize;

use crate::args::{ExplainArgs, Format, NOT_READY, OK};
use crate::input;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Output {
    request: String,
    /// Objects that are not served, and why (they answer as if absent).
    not_served: Vec<NotServed>,
    steps: Vec<String>,
    /// `allow`, `deny`, or `undecided` (keys or a call the offline walk does not have).
    decision: &'static str,
    /// The status of a refusal (`404`, `401`, ...); null when allowed or undecided.
    status: Option<u16>,
    detail: String,
}

#[derive(Serialize)]
struct NotServed {
    object: String,
    reason: String,
}

pub fn run(args: &ExplainArgs) -> Result<i32, String> {
    let names = args.inputs.all();
    if names.is_empty() {
        return Err(
            "no rules: name files with --rules FILE (or as arguments), `-` for standard input"
                .into(),
        );
    }
    let (method, url) = args
        .request
        .split_once(' ')
        .ok_or_else(|| format!("--request {:?}: expected 'METHOD URL'", args.request))?;
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('?') => (&rest[..i], format!("/{}", &rest[i..])),
        Some(i) => (&rest[..i], rest[i..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    let base = crate::base_config(&args.cluster)?;
    let (docs, errors) = input::read(&names, args.inputs.recursive);
    let loaded = input::load(docs, base, errors);
    if let Some(e) = loaded.errors.first() {
        return Err(format!("{}: {}", e.file, e.message));
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut not_served = Vec::new();
    let mut steps = Vec::new();
    for cfg in &loaded.configs {
        let (rules, reports) = compile(&cfg.config).map_err(|e| e.to_string())?;
        for r in &reports {
            let reason = match &r.status {
                Status::Ready => continue,
                Status::Error(f) => describe(f),
                Status::Ignored(why) => why.clone(),
            };
            not_served.push(NotServed {
                object: format!("{}/{} ({} {})", r.namespace, r.name, r.api_version, r.kind),
                reason,
            });
        }
        let uris = rules.jwks_uris();
        let mut auth = rules.auth_state();
        for (uri, file) in &args.jwks {
            let id = uris
                .iter()
                .position(|u| u == uri)
                .ok_or_else(|| format!("--jwks {uri}: no rule uses this JWKS URI"))?;
            let body = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
            auth.keys
                .install(id, &body, now_ms)
                .map_err(|e| format!("{file}: {e}"))?;
        }
        let answers = Default::default();
        let mut env = auth.env(&Software, &answers, now_ms, now_ms);
        let headers = HeaderList::of(&args.headers);
        let req = Request {
            authority,
            method,
            path: &path,
            scheme,
            headers: &headers,
            non_utf8: &[],
            remote_address: "127.0.0.1:0",
            protocol: "HTTP/1.1",
            // The pipeline finds it in `headers` itself.
            sent_upstream_timeout: false,
        };
        steps.extend(apirule_core::explain::explain(&rules, &req, &mut env));
    }
    // With several configurations, the request is allowed only when each allows it.
    let decisions: Vec<&str> = steps
        .iter()
        .filter_map(|l| l.strip_prefix("decision: "))
        .collect();
    let last = decisions
        .iter()
        .find(|d| !d.starts_with("allow"))
        .or(decisions.first())
        .map_or("404 (no rules)".to_owned(), |d| (*d).to_owned());
    let (decision, status) = if last.starts_with("allow") {
        ("allow", None)
    } else {
        match last.split(' ').next().and_then(|s| s.parse::<u16>().ok()) {
            Some(code) => ("deny", Some(code)),
            None => ("undecided", None),
        }
    };
    let out = Output {
        request: args.request.clone(),
        not_served,
        steps,
        decision,
        status,
        detail: last,
    };
    print(&out, args.output, args.quiet)?;
    Ok(if decision == "allow" { OK } else { NOT_READY })
}

fn print(out: &Output, format: Format, quiet: bool) -> Result<(), String> {
    if crate::print_document(out, format)? {
        return Ok(());
    }
    if quiet {
        outln!("decision: {}", out.detail);
        return Ok(());
    }
    for n in &out.not_served {
        outln!("{}: not served: {}", n.object, n.reason.replace('\n', "; "));
    }
    for line in &out.steps {
        outln!("{line}");
    }
    Ok(())
}
