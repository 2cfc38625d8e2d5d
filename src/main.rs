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

/// `print!` to standard output, quietly ending the program when the reader went away (`| head`).
macro_rules! out {
    ($($arg:tt)*) => { $crate::write_out(format_args!($($arg)*)) };
}

/// `println!` the same way.
macro_rules! outln {
    () => { $crate::write_out(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::write_out(format_args!("{}\n", format_args!($($arg)*))) };
}

mod args;
mod check;
mod explain;
mod hints;
mod input;
mod oci;
mod render;
mod strict;

use apirule_core::config::{JwtHandler, PluginConfig};
use clap::{ArgMatches, CommandFactory, FromArgMatches};

use args::{Cli, Command};

fn main() {
    std::process::exit(run());
}

fn run() -> i32 {
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|m| Ok((Cli::from_arg_matches(&m)?, m)));
    let (mut cli, matches) = match parsed {
        Ok(p) => p,
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
    if let Some((_, sub)) = matches.subcommand() {
        let inputs = match &mut cli.command {
            Command::Check(a) => Some(&mut a.inputs),
            Command::Explain(a) => Some(&mut a.inputs),
            Command::Render(a) => Some(&mut a.inputs),
            Command::Oci(_) | Command::Completion { .. } => None,
        };
        if let Some(inputs) = inputs {
            inputs.ordered = in_given_order(sub);
        }
    }
    let result = match &cli.command {
        Command::Check(a) => check::run(a),
        Command::Explain(a) => explain::run(a),
        Command::Render(a) => render::run(a),
        Command::Oci(a) => oci_run(a),
        Command::Completion { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "apirule", &mut script);
            out!("{}", String::from_utf8_lossy(&script));
            Ok(args::OK)
        }
    };
    result.unwrap_or_else(|e| {
        eprintln!("apirule: {e}");
        args::USAGE
    })
}

/// The inputs named as arguments and with `-f`, in the order given on the command line (which
/// decides, as in a cluster, which of two APIRules claims a host first).
fn in_given_order(m: &ArgMatches) -> Vec<String> {
    let mut named: Vec<(usize, String)> = Vec::new();
    for id in ["files", "filename"] {
        if let (Some(at), Some(values)) = (m.indices_of(id), m.get_many::<String>(id)) {
            named.extend(at.zip(values.cloned()));
        }
    }
    named.sort_by_key(|(i, _)| *i);
    named.into_iter().map(|(_, name)| name).collect()
}

/// Writes to standard output. A closed pipe ends the program with the status the default
/// SIGPIPE gives (128 + 13), without a panic; any other failure is an error of the run.
pub fn write_out(args: std::fmt::Arguments) {
    use std::io::Write;
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        eprintln!("apirule: standard output: {e}");
        std::process::exit(args::USAGE);
    }
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
            outln!(
                "{}",
                serde_json::to_string_pretty(value).map_err(|e| e.to_string())?
            )
        }
        args::Format::Yaml => out!(
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
    outln!("{}:{} {digest}", a.out, a.tag);
    Ok(args::OK)
}
