//! `apirule`: check APIRule files before deploying them, with the same core the filter runs.
//!
//! ```text
//! apirule check [--default-domain DOMAIN] [--jwt-handler ory|istio] [--gateway NS/NAME] FILE...
//! ```
//! Files are YAML (several documents allowed) or JSON: APIRule objects, `List`s of them, or a
//! whole plugin configuration (`{"apiRules": [...]}`), which is checked with its own settings.
//! Exit status: 0 when every APIRule is Ready, 1 when one is not, 2 on a usage or read error.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    std::process::exit(cli::run(std::env::args().skip(1).collect()));
}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use apirule_wasm::compile::{compile, Report, Status};
    use apirule_wasm::config::{JwtHandler, PluginConfig};

    use apirule_wasm::validate::describe;
    use serde::Deserialize;
    use serde_json::Value;

    const USAGE: &str = "usage: apirule check [--default-domain DOMAIN] [--jwt-handler ory|istio] [--gateway NS/NAME] FILE...";

    pub fn run(args: Vec<String>) -> i32 {
        match args.first().map(String::as_str) {
            Some("check") => match check(&args[1..]) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("apirule: {e}");
                    2
                }
            },
            Some("-h" | "--help" | "help") => {
                println!("{USAGE}");
                0
            }
            _ => {
                eprintln!("{USAGE}");
                2
            }
        }
    }

    fn check(args: &[String]) -> Result<i32, String> {
        let mut base: PluginConfig =
            serde_json::from_str(r#"{"apiRules": []}"#).map_err(|e| e.to_string())?;
        let mut files = Vec::new();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = |flag: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
            };
            match arg.as_str() {
                "--default-domain" => base.default_domain = Some(value(arg)?),
                "--gateway" => base.gateway = Some(value(arg)?),
                "--jwt-handler" => {
                    base.jwt_handler = match value(arg)?.as_str() {
                        "ory" => JwtHandler::Ory,
                        "istio" => JwtHandler::Istio,
                        other => {
                            return Err(format!(
                                "--jwt-handler must be ory or istio, not {other:?}"
                            ))
                        }
                    }
                }
                flag if flag.starts_with("--") => {
                    return Err(format!("unknown option {flag}\n{USAGE}"))
                }
                file => files.push(file.to_owned()),
            }
        }
        if files.is_empty() {
            return Err(format!("no files given\n{USAGE}"));
        }

        let mut configs = Vec::new();
        for file in &files {
            for doc in read_documents(file)? {
                if doc.get("apiRules").is_some() {
                    let bytes = serde_json::to_vec(&doc).map_err(|e| e.to_string())?;
                    let cfg =
                        PluginConfig::from_json(&bytes).map_err(|e| format!("{file}: {e}"))?;
                    configs.push(cfg);
                } else {
                    base.api_rules.push(doc);
                }
            }
        }
        if !base.api_rules.is_empty() {
            configs.insert(0, base);
        }

        let mut failed = false;
        for cfg in &configs {
            let (_, reports) = compile(cfg).map_err(|e| e.to_string())?;
            for r in &reports {
                failed |= matches!(r.status, Status::Error(_));
                print_report(r);
            }
        }
        Ok(i32::from(failed))
    }

    fn print_report(r: &Report) {
        let who = format!("{}/{} ({} {})", r.namespace, r.name, r.api_version, r.kind);
        match &r.status {
            Status::Ready => println!("{who}: Ready"),
            Status::Ignored(why) => println!("{who}: Ignored: {why}"),
            Status::Error(failures) => {
                println!("{who}: Error");
                for line in describe(failures).lines() {
                    println!("    {line}");
                }
            }
        }
    }

    /// Every non-empty document of a YAML or JSON file, as JSON values.
    fn read_documents(file: &str) -> Result<Vec<Value>, String> {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
        let mut docs = Vec::new();
        for (i, doc) in serde_norway::Deserializer::from_str(&text).enumerate() {
            let value =
                Value::deserialize(doc).map_err(|e| format!("{file}: document {}: {e}", i + 1))?;
            match value {
                Value::Null => {}
                v @ Value::Object(_) => docs.push(v),
                _ => return Err(format!("{file}: document {} is not an object", i + 1)),
            }
        }
        Ok(docs)
    }
}
