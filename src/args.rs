//! The command line, as clap reads it: every subcommand, flag and help text in one place.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Exit codes, shown under every `--help` and in the README.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  every object Ready (check, render), the request allowed (explain), the image written (oci)
  1  an object not Ready or not rendered, or the request refused
  2  a usage error, or an input that cannot be read or parsed (check still checks the others)";

pub const OK: i32 = 0;
pub const NOT_READY: i32 = 1;
pub const USAGE: i32 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "apirule",
    version,
    about = "Check, explain and render Kyma APIRules with the core of the apirule-wasm filter",
    long_about = "Check, explain and render Kyma APIRules with the core of the apirule-wasm filter.\n\n\
        Inputs are YAML (several documents allowed) or JSON: APIRule and RateLimit objects, Lists of \
        them (`kubectl get apirules -A -o yaml`), a plugin configuration ({\"apiRules\": [...]}), an \
        Istio WasmPlugin, an Envoy configuration carrying the filter, Istio's mesh ConfigMap (the \
        authorizers of extAuth rules) and Services (the pods an APIRule exposes).",
    after_help = EXIT_CODES,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Validate APIRules as the API server and Kyma's controller would, every failure at once
    #[command(after_help = EXIT_CODES)]
    Check(CheckArgs),
    /// Walk one request through the rules: route, rule, access strategy and decision
    #[command(after_help = EXIT_CODES)]
    Explain(ExplainArgs),
    /// Render the Istio objects (WasmPlugin, AuthorizationPolicies) or a local Envoy configuration
    #[command(after_help = EXIT_CODES)]
    Render(RenderArgs),
    /// Write the module as an OCI image layout that Istio's WasmPlugin can pull
    #[command(after_help = EXIT_CODES)]
    Oci(OciArgs),
    /// Print a shell completion script (e.g. `source <(apirule completion bash)`)
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Where objects come from, as kubectl takes them.
#[derive(Args, Debug, Clone)]
pub struct Inputs {
    /// Files or directories to read; `-` reads standard input
    #[arg(value_name = "FILE", value_hint = clap::ValueHint::AnyPath)]
    pub files: Vec<String>,
    /// A file or directory to read (repeatable; `-` is standard input)
    #[arg(
        short = 'f',
        long = "filename",
        visible_alias = "rules",
        value_name = "FILE",
        value_hint = clap::ValueHint::AnyPath
    )]
    pub filename: Vec<String>,
    /// Read directories recursively (otherwise only their own .yaml, .yml and .json files)
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Both of the above in command-line order (filled after parsing).
    #[arg(skip)]
    pub ordered: Vec<String>,
}

impl Inputs {
    pub fn all(&self) -> Vec<String> {
        if self.ordered.is_empty() {
            self.filename.iter().chain(&self.files).cloned().collect()
        } else {
            self.ordered.clone()
        }
    }
}

/// What a cluster would tell the filter beyond the objects.
#[derive(Args, Debug, Clone)]
pub struct Cluster {
    /// The domain of the gateway's `*.DOMAIN` host, completing short hosts (`httpbin` →
    /// `httpbin.DOMAIN`)
    #[arg(long, value_name = "DOMAIN", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub default_domain: Option<String>,
    /// Kyma's handler of v1beta1 `jwt` rules (the api-gateway-config ConfigMap)
    #[arg(long, value_enum, default_value_t = JwtHandler::Ory)]
    pub jwt_handler: JwtHandler,
    /// Serve only APIRules bound to this gateway
    #[arg(long, value_name = "NS/NAME", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub gateway: Option<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum JwtHandler {
    Ory,
    Istio,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Yaml,
}

/// kubectl's `--validate`: what unknown fields are.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validate {
    /// An unknown field is an error (kubectl's default since 1.27)
    #[value(alias = "true")]
    Strict,
    /// An unknown field is a warning
    Warn,
    /// Unknown fields are dropped silently, as the API server prunes them
    #[value(alias = "false")]
    Ignore,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub inputs: Inputs,
    #[command(flatten)]
    pub cluster: Cluster,
    /// Output format; json and yaml print one document with every object, error and a summary
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// Print only the objects that are not Ready (text), no summary
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// How to treat unknown fields, as kubectl does (`true` is strict, `false` ignore)
    #[arg(long, value_enum, default_value_t = Validate::Strict, num_args = 0..=1,
          require_equals = true, default_missing_value = "strict")]
    pub validate: Validate,
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub inputs: Inputs,
    #[command(flatten)]
    pub cluster: Cluster,
    /// The request: a method and a URL, e.g. 'GET https://httpbin.local.kyma.dev/headers'
    #[arg(long, value_name = "'METHOD URL'")]
    pub request: String,
    /// A request header (repeatable)
    #[arg(short = 'H', long = "header", value_name = "'NAME: VALUE'", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,
    /// The key set a JWKS URI serves, read from a file (repeatable)
    #[arg(long, value_name = "URI=FILE", value_parser = parse_pair::<'='>)]
    pub jwks: Vec<(String, String)>,
    /// Output format; json and yaml give the steps, the decision and the status
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// Print only the decision (text)
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("target").required(true).args(["istio", "envoy"]))]
pub struct RenderArgs {
    #[command(flatten)]
    pub inputs: Inputs,
    #[command(flatten)]
    pub cluster: Cluster,
    /// Render a WasmPlugin and AuthorizationPolicies for the kyma-gateway
    #[arg(long)]
    pub istio: bool,
    /// Render a local Envoy configuration with the filter
    #[arg(long)]
    pub envoy: bool,
    /// (--istio) The module's image, e.g. oci://REGISTRY/NAME@sha256:DIGEST
    #[arg(long, value_name = "oci://REF")]
    pub image: Option<String>,
    /// (--istio) The image manifest digest: 64 lower-case hex digits, without `sha256:`
    #[arg(long, value_name = "HEX", value_parser = parse_sha256)]
    pub sha256: Option<String>,
    /// (--istio) Carry the APIRules gzip-compressed (large rule sets)
    #[arg(long)]
    pub compact: bool,
    /// (--istio) A Service's pod labels, when no Service object is given (repeatable)
    #[arg(long, value_name = "NAME.NS=LABEL=VALUE,...", value_parser = parse_selector)]
    pub service_selector: Vec<(String, std::collections::BTreeMap<String, String>)>,
    /// (--istio) The gateway's identity that exposed services admit
    #[arg(long, value_name = "PRINCIPAL", default_value = apirule_core::render::GATEWAY_PRINCIPAL)]
    pub gateway_principal: String,
    /// (--envoy) Listener port
    #[arg(long, default_value_t = 10000)]
    pub port: u16,
    /// (--envoy) Admin port
    #[arg(long, default_value_t = 9901)]
    pub admin_port: u16,
    /// (--envoy) The module Envoy loads
    #[arg(long, value_name = "PATH", default_value = "target/apirule_wasm.wasm")]
    pub wasm: String,
    /// (--envoy) Where a Service answers (repeatable)
    #[arg(long, value_name = "NAME.NS=HOST:PORT", value_parser = parse_pair::<'='>)]
    pub service: Vec<(String, String)>,
    /// (--envoy) A CA that https clusters trust besides the system bundle
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<String>,
    /// (--envoy) The system CA bundle
    #[arg(long, value_name = "PEM", default_value = apirule_core::render::SYSTEM_CA_BUNDLE)]
    pub system_ca: String,
}

#[derive(Args, Debug)]
pub struct OciArgs {
    /// The module to package
    #[arg(long, value_name = "MODULE")]
    pub wasm: String,
    /// The OCI image layout directory to write
    #[arg(long, value_name = "DIR")]
    pub out: String,
    /// The tag of the image
    #[arg(long, default_value = "latest")]
    pub tag: String,
}

fn parse_pair<const SEP: char>(s: &str) -> Result<(String, String), String> {
    match s.split_once(SEP) {
        Some((k, v)) if !k.is_empty() && !v.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY{SEP}VALUE, got {s:?}")),
    }
}

fn parse_header(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once(':')
        .ok_or_else(|| format!("expected 'Name: value', got {s:?}"))?;
    Ok((k.trim().to_ascii_lowercase(), v.trim().to_owned()))
}

fn parse_sha256(s: &str) -> Result<String, String> {
    // The WasmPlugin CRD's pattern: 64 lower-case hex digits.
    let hex = s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if hex {
        Ok(s.to_owned())
    } else {
        Err("expected 64 lower-case hex digits (the image manifest digest `make push` prints, without `sha256:`)".into())
    }
}

type Selector = (String, std::collections::BTreeMap<String, String>);

fn parse_selector(s: &str) -> Result<Selector, String> {
    let bad = || format!("expected NAME.NS=LABEL=VALUE[,LABEL=VALUE]..., got {s:?}");
    let (svc, labels) = s.split_once('=').ok_or_else(bad)?;
    if !svc.contains('.') {
        return Err(bad());
    }
    let mut map = std::collections::BTreeMap::new();
    for pair in labels.split(',') {
        let (k, v) = pair.split_once('=').ok_or_else(bad)?;
        map.insert(k.to_owned(), v.to_owned());
    }
    Ok((svc.to_owned(), map))
}
