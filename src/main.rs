//! `apirule`: check APIRule files before deploying them, see what the filter would decide, and
//! render what deploys it, with the same core the filter runs. `apirule --help` lists the
//! subcommands; each has its own `--help`. The command line is defined in `args.rs`.
//!
//! ```text
//! apirule check [-f FILE|DIR|-]... [-R] [--default-domain DOMAIN] [-o text|json|yaml] [-q] FILE...
//! apirule explain --rules FILE... --request 'GET https://host/path' [-H 'Name: value']... [--jwks URI=FILE]...
//! apirule render (--istio --image oci://REF [--sha256 HEX] | --envoy [--port P] ...) FILE...
//! apirule oci --wasm MODULE --out DIR [--tag TAG]
//! apirule completion bash|zsh|fish|powershell|elvish
//! ```
//! Exit codes: see [`args::EXIT_CODES`] (0 Ready or allowed, 1 not, 2 usage or input error).

mod args;
mod check;
mod explain;
mod hints;
mod input;
mod oci;
mod render;
mod strict;

use apirule_core::config::{JwtHandler, PluginConfig};
use clap::{CommandFactory, Parser};

use args::{Cli, Command};

fn main() {
    std::process::exit(run());
}

fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version print to stdout and succeed; a usage error exits 2.
            let code = if e.use_stderr() {
                args::USAGE
            } else {
                args::OK
            };
            let _ = e.print();
            return code;
        }
    };
    let result = match &cli.command {
        Command::Check(a) => check::run(a),
        Command::Explain(a) => explain::run(a),
        Command::Render(a) => render::run(a),
        Command::Oci(a) => oci_run(a),
        Command::Completion { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "apirule",
                &mut std::io::stdout(),
            );
            Ok(args::OK)
        }
    };
    result.unwrap_or_else(|e| {
        eprintln!("apirule: {e}");
        args::USAGE
    })
}

/// The settings a cluster gives every APIRule, from the flags.
fn base_config(cluster: &args::Cluster) -> Result<PluginConfig, String> {
    let mut base = PluginConfig::from_json(br#"{"apiRules": []}"#).map_err(|e| e.to_string())?;
    base.default_domain = cluster.default_domain.clone();
    base.gateway = cluster.gateway.clone();
    base.jwt_handler = match cluster.jwt_handler {
        args::JwtHandler::Ory => JwtHandler::Ory,
        args::JwtHandler::Istio => JwtHandler::Istio,
    };
    Ok(base)
}

/// Prints `value` as one JSON or YAML document; false for text, which the caller words itself.
fn print_document<T: serde::Serialize>(value: &T, format: args::Format) -> Result<bool, String> {
    match format {
        args::Format::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(value).map_err(|e| e.to_string())?
            )
        }
        args::Format::Yaml => print!(
            "{}",
            serde_norway::to_string(value).map_err(|e| e.to_string())?
        ),
        args::Format::Text => return Ok(false),
    }
    Ok(true)
}

fn oci_run(a: &args::OciArgs) -> Result<i32, String> {
    let digest = oci::build(
        std::path::Path::new(&a.wasm),
        std::path::Path::new(&a.out),
        &a.tag,
    )?;
    println!("{}:{} {digest}", a.out, a.tag);
    Ok(args::OK)
}
