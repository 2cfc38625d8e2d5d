//! Test harness: real Envoy with the built module, real httpbin, on free loopback ports. Every
//! process is started here and stopped by its own pid when its handle drops.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file under `tests/fixtures/` (APIRules in `apirules/`, broken ones in `invalid/`). Tests read
/// only what the repository holds: nothing beside it (`make test` checks, see the Makefile).
pub fn fixture(path: &str) -> PathBuf {
    let p = repo().join("tests/fixtures").join(path);
    assert!(p.is_file(), "{} is missing", p.display());
    p
}

/// A CRD schema under `tests/crds/` (upstream's, descriptions removed by `tests/crds/strip.py`).
pub fn crd(name: &str) -> PathBuf {
    let p = repo().join("tests/crds").join(name);
    assert!(p.is_file(), "{} is missing", p.display());
    p
}

pub fn envoy_bin() -> PathBuf {
    std::env::var_os("ENVOY")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/envoy"))
}

/// The default module (`make build`), or APIRULE_WASM.
pub fn wasm_path() -> PathBuf {
    module("APIRULE_WASM", "target/apirule_wasm.wasm", "build")
}

/// The portable module (`make portable`): every algorithm in software; or APIRULE_WASM_PORTABLE.
pub fn portable_wasm_path() -> PathBuf {
    module(
        "APIRULE_WASM_PORTABLE",
        "target/apirule_wasm_portable.wasm",
        "portable",
    )
}

fn module(var: &str, default: &str, make: &str) -> PathBuf {
    let p = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(default));
    assert!(
        p.is_file(),
        "{} is missing: run `make {make}` (make test does)",
        p.display()
    );
    p
}

pub fn free_port() -> u16 {
    // The kernel may hand the same ephemeral port to two back-to-back binds
    // once the first is released, so never give out a port twice per process.
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Every `port_value` equal to `from` under `v` becomes `to`.
fn replace_port(v: &mut Value, from: u16, to: u16) {
    match v {
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                if k == "port_value" && item.as_u64() == Some(u64::from(from)) {
                    *item = Value::from(to);
                } else {
                    replace_port(item, from, to);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| replace_port(i, from, to)),
        _ => {}
    }
}

/// A scratch directory under target/, unique per call.
pub fn scratch(name: &str) -> PathBuf {
    let dir =
        repo()
            .join("target/e2e")
            .join(format!("{name}-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A child process stopped with SIGTERM (then SIGKILL) by its pid on drop.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(cmd: &mut Command, log: &Path) -> Child {
    let out = std::fs::File::create(log).unwrap();
    let err = out.try_clone().unwrap();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {cmd:?}: {e} (run `make test`, which installs it)")
        })
}

/// httpbin under gunicorn, threaded so slow requests do not block others.
pub struct Upstream {
    pub port: u16,
    _proc: Proc,
}

impl Upstream {
    pub fn start() -> Upstream {
        let port = free_port();
        let dir = scratch("httpbin");
        let log = dir.join("httpbin.log");
        let child = spawn(
            Command::new(repo().join(".venv/bin/gunicorn"))
                .args([
                    "-b",
                    &format!("127.0.0.1:{port}"),
                    "--threads",
                    "16",
                    "--no-control-socket",
                ])
                .arg("httpbin:app"),
            &log,
        );
        let proc = Proc { child, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = try_request(port, "GET", "127.0.0.1", "/status/200", &[], "") {
                if r.status == 200 {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "httpbin did not start: {}",
                proc.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Upstream { port, _proc: proc }
    }
}

/// Envoy's wasm log level for tests: debug, so a failure shows the filter's reasoning.
fn wasm_log() -> String {
    std::env::var("APIRULE_ENVOY_LOG").unwrap_or_else(|_| "wasm:debug".into())
}

/// Envoy from `envoy/envoy.yaml`, with free ports, the built module and the given plugin config.
pub struct Envoy {
    pub port: u16,
    pub admin: u16,
    pub proc: Proc,
}

#[derive(Clone)]
pub struct EnvoyOptions {
    pub concurrency: u32,
    /// Port of the test identity provider behind the `idp` cluster.
    pub idp_port: u16,
    /// More static clusters on loopback: `(name, port)`.
    pub clusters: Vec<(String, u16)>,
    /// The portable module instead of the default one.
    pub portable: bool,
}

impl Default for EnvoyOptions {
    fn default() -> Self {
        EnvoyOptions {
            concurrency: 2,
            idp_port: 9,
            clusters: Vec::new(),
            portable: false,
        }
    }
}

/// The shipped config, as JSON.
pub fn shipped_config() -> Value {
    let text = std::fs::read_to_string(repo().join("envoy/envoy.yaml")).unwrap();
    let yaml: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    serde_json::to_value(yaml).unwrap()
}

/// The plugin configuration embedded in the shipped config.
pub fn shipped_plugin_config() -> String {
    let mut cfg = shipped_config();
    wasm_filter_mut(&mut cfg)["typed_config"]["config"]["configuration"]["value"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub fn wasm_filter_mut(cfg: &mut Value) -> &mut Value {
    cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        ["http_filters"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|f| f["name"] == "envoy.filters.http.wasm")
        .unwrap()
}

/// Renders the shipped config with the given ports and plugin configuration.
pub fn render(port: u16, admin: u16, upstream: u16, idp: u16, plugin_config: &str) -> Value {
    let mut cfg = shipped_config();
    cfg["admin"]["address"]["socket_address"]["port_value"] = admin.into();
    cfg["static_resources"]["listeners"][0]["address"]["socket_address"]["port_value"] =
        port.into();
    for cluster in cfg["static_resources"]["clusters"].as_array_mut().unwrap() {
        let port = match cluster["name"].as_str() {
            Some("httpbin") => upstream,
            Some("idp") => idp,
            _ => continue,
        };
        cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
            ["socket_address"]["port_value"] = port.into();
    }
    let wasm = wasm_filter_mut(&mut cfg);
    wasm["typed_config"]["config"]["vm_config"]["code"]["local"]["filename"] =
        wasm_path().to_string_lossy().into_owned().into();
    wasm["typed_config"]["config"]["configuration"]["value"] = plugin_config.into();
    cfg
}

impl Envoy {
    pub fn start(upstream: &Upstream, plugin_config: &str) -> Envoy {
        Self::start_with(upstream, plugin_config, EnvoyOptions::default())
    }

    pub fn start_with(upstream: &Upstream, plugin_config: &str, opts: EnvoyOptions) -> Envoy {
        // Another process may take a "free" port before Envoy binds it; retry
        // only that failure.
        let mut attempt = 0;
        loop {
            match Self::try_start(upstream.port, plugin_config, opts.clone()) {
                Ok(e) => return e,
                Err(log) if attempt < 2 && log.contains("Address already in use") => attempt += 1,
                Err(log) => panic!("envoy did not start:\n{log}"),
            }
        }
    }

    /// Starts Envoy; `Err(log)` when it exits or does not become ready.
    pub fn try_start(
        upstream_port: u16,
        plugin_config: &str,
        opts: EnvoyOptions,
    ) -> Result<Envoy, String> {
        let (port, admin) = (free_port(), free_port());
        let mut cfg = render(port, admin, upstream_port, opts.idp_port, plugin_config);
        if opts.portable {
            wasm_filter_mut(&mut cfg)["typed_config"]["config"]["vm_config"]["code"]["local"]
                ["filename"] = portable_wasm_path().to_string_lossy().into_owned().into();
        }
        let clusters = cfg["static_resources"]["clusters"].as_array_mut().unwrap();
        for (name, port) in &opts.clusters {
            clusters.push(serde_json::json!({
                "name": name, "type": "STATIC", "connect_timeout": "2s",
                "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
                    {"endpoint": {"address": {"socket_address":
                        {"address": "127.0.0.1", "port_value": port}}}}]}]}
            }));
        }
        Self::launch(port, admin, &cfg, opts.concurrency, &wasm_log())
    }

    /// Starts Envoy on a complete configuration.
    pub fn start_raw(port: u16, admin: u16, cfg: &Value, concurrency: u32) -> Envoy {
        Self::start_logged(port, admin, cfg, concurrency, &wasm_log())
    }

    /// `wasm_log` is Envoy's `--component-log-level`, e.g. `wasm:warn` for benchmarks, where
    /// debug logging would cost the filter real time per request.
    pub fn start_logged(
        port: u16,
        admin: u16,
        cfg: &Value,
        concurrency: u32,
        wasm_log: &str,
    ) -> Envoy {
        Self::launch(port, admin, cfg, concurrency, wasm_log)
            .unwrap_or_else(|log| panic!("envoy did not start:\n{log}"))
    }

    /// Starts Envoy, and again on fresh ports when its listener or admin port was taken between
    /// [`free_port`] and the bind (another process's outgoing connection may take any ephemeral
    /// port): the returned `Envoy` has the ports it bound.
    fn launch(
        port: u16,
        admin: u16,
        cfg: &Value,
        concurrency: u32,
        wasm_log: &str,
    ) -> Result<Envoy, String> {
        let (mut cfg, mut port, mut admin) = (cfg.clone(), port, admin);
        for _ in 0..3 {
            match Self::launch_once(port, admin, &cfg, concurrency, wasm_log) {
                Err(log) if log.contains("Address already in use") => {
                    let (p, a) = (free_port(), free_port());
                    for listener in cfg["static_resources"]["listeners"]
                        .as_array_mut()
                        .into_iter()
                        .flatten()
                    {
                        replace_port(listener, port, p);
                    }
                    replace_port(&mut cfg["admin"], admin, a);
                    (port, admin) = (p, a);
                }
                other => return other,
            }
        }
        Self::launch_once(port, admin, &cfg, concurrency, wasm_log)
    }

    fn launch_once(
        port: u16,
        admin: u16,
        cfg: &Value,
        concurrency: u32,
        wasm_log: &str,
    ) -> Result<Envoy, String> {
        let dir = scratch("envoy");
        let cfg_path = dir.join("envoy.json");
        std::fs::write(&cfg_path, serde_json::to_string_pretty(cfg).unwrap()).unwrap();
        let log = dir.join("envoy.log");
        let child = spawn(
            Command::new(envoy_bin())
                .arg("-c")
                .arg(&cfg_path)
                .args([
                    "--disable-hot-restart",
                    "--log-level",
                    "info",
                    "--component-log-level",
                ])
                .arg(wasm_log)
                .args(["--concurrency", &concurrency.to_string()]),
            &log,
        );
        let mut proc = Proc { child, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = proc.child.try_wait() {
                return Err(format!("exited with {status}\n{}", proc.log_text()));
            }
            if let Ok(r) = try_request(admin, "GET", "127.0.0.1", "/ready", &[], "") {
                if r.status == 200 {
                    return Ok(Envoy { port, admin, proc });
                }
            }
            if Instant::now() > deadline {
                return Err(format!("not ready after 30 s\n{}", proc.log_text()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn get(&self, host: &str, path: &str) -> Response {
        self.send("GET", host, path, &[], "")
    }

    pub fn send(
        &self,
        method: &str,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Response {
        try_request(self.port, method, host, path, headers, body).unwrap()
    }

    pub fn log(&self) -> String {
        self.proc.log_text()
    }

    /// One of the filter's counters (`apirule_...`) from `/stats/prometheus`; 0 until defined.
    /// The filter flushes them on its tick, so this polls for up to `wait` until `ready` holds.
    pub fn metric_when(&self, name: &str, wait: Duration, ready: impl Fn(u64) -> bool) -> u64 {
        let deadline = Instant::now() + wait;
        loop {
            let value = try_request(self.admin, "GET", "127.0.0.1", "/stats/prometheus", &[], "")
                .ok()
                .and_then(|r| {
                    r.body
                        .lines()
                        .filter(|l| !l.starts_with('#'))
                        .find(|l| {
                            l.split(['{', ' '])
                                .next()
                                .is_some_and(|n| n.ends_with(name))
                        })
                        .and_then(|l| l.rsplit(' ').next())
                        .and_then(|v| v.parse().ok())
                })
                .unwrap_or(0);
            if ready(value) || Instant::now() > deadline {
                return value;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A counter or gauge from the admin `/stats` endpoint.
    pub fn stat(&self, name: &str) -> Option<u64> {
        let r = try_request(
            self.admin,
            "GET",
            "127.0.0.1",
            &format!("/stats?filter=^{name}$"),
            &[],
            "",
        )
        .ok()?;
        r.body.lines().find_map(|l| {
            l.strip_prefix(&format!("{name}: "))
                .and_then(|v| v.trim().parse().ok())
        })
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// httpbin's echo of the request headers the upstream received.
    pub fn upstream_header(&self, name: &str) -> Option<String> {
        let v: Value = serde_json::from_str(&self.body).ok()?;
        v["headers"]
            .as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str().map(str::to_owned))
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), read to the end.
pub fn try_request(
    port: u16,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<Response> {
    let headers: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
    request_bytes(port, method, host, path, &headers, body)
}

/// The same with header values as raw bytes (obs-text, control characters: anything).
pub fn request_bytes(
    port: u16,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &[u8])],
    body: &str,
) -> std::io::Result<Response> {
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n").into_bytes();
    for (k, v) in headers {
        req.extend_from_slice(k.as_bytes());
        req.extend_from_slice(b": ");
        req.extend_from_slice(v);
        req.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        req.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    req.extend_from_slice(body.as_bytes());
    raw_request(port, &req, method == "HEAD")
}

/// Writes `request` as it is on a fresh connection and reads the response to its end.
pub fn raw_request(port: u16, request: &[u8], head: bool) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.write_all(request)?;
    // Read until the response is complete, not until EOF: Envoy keeps a closing connection
    // open for its delayed-close timeout (1 s).
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if response_complete(&raw, head) {
            break;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    parse_response(&raw, head).ok_or_else(|| {
        std::io::Error::other(format!("bad response: {:?}", String::from_utf8_lossy(&raw)))
    })
}

/// One request over h2c (HTTP/2 with prior knowledge) by curl, header values as raw bytes:
/// the status, or `None` when curl got no HTTP answer.
pub fn h2c_status(port: u16, host: &str, path: &str, headers: &[(&str, &[u8])]) -> Option<u16> {
    use std::os::unix::ffi::OsStringExt;
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--http2-prior-knowledge",
    ])
    .args(["-m", "20", "-H", &format!("Host: {host}")]);
    for (k, v) in headers {
        let mut h = format!("{k}: ").into_bytes();
        h.extend_from_slice(v);
        cmd.arg("-H").arg(std::ffi::OsString::from_vec(h));
    }
    let out = cmd
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .ok()
        .filter(|s| *s != 0)
}

fn response_complete(raw: &[u8], head: bool) -> bool {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head_text = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let body = &raw[split + 4..];
    if head || head_text.starts_with("http/1.1 204") || head_text.starts_with("http/1.1 304") {
        return true;
    }
    if let Some(len) = head_text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        return body.len() >= len;
    }
    if head_text.contains("transfer-encoding: chunked") {
        return body.ends_with(b"0\r\n\r\n");
    }
    false
}

fn parse_response(raw: &[u8], head: bool) -> Option<Response> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head_text = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head_text.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked && !head {
        body = dechunk(&body)?;
    }
    Some(Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// A plugin configuration from APIRule objects (JSON values).
pub fn plugin_config(api_rules: &[Value], default_domain: Option<&str>) -> String {
    let mut cfg = serde_json::json!({ "apiRules": api_rules });
    if let Some(d) = default_domain {
        cfg["defaultDomain"] = d.into();
    }
    cfg.to_string()
}

/// The documents of a YAML file, as JSON.
pub fn yaml_documents(path: &Path) -> Vec<Value> {
    use serde::Deserialize;
    let text = std::fs::read_to_string(path).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

/// Waits until a peer logs `ready `.
fn ready(proc: Proc, what: &str) -> Proc {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !proc.log_text().contains("ready ") {
        assert!(
            Instant::now() < deadline,
            "{what} did not start: {}",
            proc.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    proc
}

/// The test external authorizer (tests/authz/server.py), a separate process on loopback.
pub struct Authz {
    pub port: u16,
    _proc: Proc,
}

impl Authz {
    pub fn start() -> Authz {
        let port = free_port();
        let log = scratch("authz").join("authz.log");
        let child = spawn(
            Command::new(repo().join(".venv/bin/python"))
                .arg("-u")
                .arg(repo().join("tests/authz/server.py"))
                .arg(port.to_string()),
            &log,
        );
        Authz {
            port,
            _proc: ready(Proc { child, log }, "authorizer"),
        }
    }
}

/// The test identity provider (node-oidc-provider, tests/idp/server.mjs).
pub struct Idp {
    pub port: u16,
    pub keys_file: PathBuf,
    ttl: u32,
    proc: Option<Proc>,
}

impl Idp {
    pub fn start(token_ttl_s: u32) -> Idp {
        let dir = scratch("idp");
        let mut idp = Idp {
            port: free_port(),
            keys_file: dir.join("keys.json"),
            ttl: token_ttl_s,
            proc: None,
        };
        idp.spawn();
        idp
    }

    fn spawn(&mut self) {
        let log = self
            .keys_file
            .with_file_name(format!("idp-{}.log", free_port()));
        let child = spawn(
            Command::new("node")
                .arg(repo().join("tests/idp/server.mjs"))
                .env("PORT", self.port.to_string())
                .env("KEYS_FILE", &self.keys_file)
                .env("TOKEN_TTL", self.ttl.to_string()),
            &log,
        );
        self.proc = Some(ready(Proc { child, log }, "idp"));
    }

    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.issuer())
    }

    /// A client-credentials access token for `resource` (`https://api.test/<rs256|ps256|es256|eddsa|opaque>`).
    pub fn token(&self, kind: &str, scope: &str) -> String {
        let body = format!(
            "grant_type=client_credentials&scope={}&resource=https://api.test/{kind}",
            scope.replace(' ', "+")
        );
        let r = try_request(
            self.port,
            "POST",
            &format!("127.0.0.1:{}", self.port),
            "/token",
            &[
                ("Authorization", "Basic dGVzdC1jbGllbnQ6dGVzdC1zZWNyZXQ="),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            &body,
        )
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        let v: Value = serde_json::from_str(&r.body).unwrap();
        v["access_token"].as_str().unwrap().to_owned()
    }

    /// A token signed with the provider's own key for `alg`, with any header and claims.
    pub fn sign(&self, alg: &str, header: Value, payload: Value) -> String {
        let body =
            serde_json::json!({"alg": alg, "header": header, "payload": payload}).to_string();
        let r = try_request(
            self.port,
            "POST",
            "127.0.0.1",
            "/test/sign",
            &[("Content-Type", "application/json")],
            &body,
        )
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }

    /// Revokes a token (RFC 7009).
    pub fn revoke(&self, token: &str) {
        let r = try_request(
            self.port,
            "POST",
            &format!("127.0.0.1:{}", self.port),
            "/token/revocation",
            &[
                ("Authorization", "Basic dGVzdC1jbGllbnQ6dGVzdC1zZWNyZXQ="),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            &format!("token={token}"),
        )
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
    }

    /// Restarts the provider; with `rotate`, on new signing keys (new kids).
    pub fn restart(&mut self, rotate: bool) {
        self.proc = None; // stops it
        if rotate {
            let _ = std::fs::remove_file(&self.keys_file);
        }
        self.spawn();
    }

    pub fn stop(&mut self) {
        self.proc = None;
    }
}

pub fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `token` with one signature character changed, in the middle so the base64url stays canonical:
/// well-formed, signed by nobody.
pub fn forge_signature(token: &str) -> String {
    let at = token.len() - 20;
    let flipped = if &token[at..at + 1] == "A" { "B" } else { "A" };
    format!("{}{flipped}{}", &token[..at], &token[at + 1..])
}

/// `envoy --mode validate` accepts the configuration at `path`.
pub fn assert_envoy_validates(path: &Path) {
    let out = Command::new(envoy_bin())
        .args(["--mode", "validate", "-c"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The hostile peer (tests/chaos/server.py): every answer drawn at random from `seed`.
pub struct Chaos {
    pub port: u16,
    _proc: Proc,
}

impl Chaos {
    pub fn start(seed: u64) -> Chaos {
        let port = free_port();
        let log = scratch("chaos").join("chaos.log");
        let child = spawn(
            Command::new(repo().join(".venv/bin/python"))
                .arg("-u")
                .arg(repo().join("tests/chaos/server.py"))
                .arg(port.to_string())
                .arg(seed.to_string()),
            &log,
        );
        Chaos {
            port,
            _proc: ready(Proc { child, log }, "chaos peer"),
        }
    }
}

/// A small deterministic generator (splitmix64): the same seed gives the same run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Between `min` and `max` bytes of any value.
    pub fn bytes(&mut self, min: usize, max: usize) -> Vec<u8> {
        let n = min + self.below(max.saturating_sub(min) + 1);
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A throwaway certificate authority and a server certificate for `localhost` it signed
/// (openssl): `(ca.pem, server.pem, server.key)` in `dir`.
pub fn test_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=apirule-wasm test CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(dir.join("san.cnf"), "subjectAltName=DNS:localhost\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.cnf",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// tests/tls/server.py: https://localhost:PORT in front of `upstream` (plain HTTP).
pub struct TlsFront {
    pub port: u16,
    _proc: Proc,
}

impl TlsFront {
    pub fn start(cert: &Path, key: &Path, upstream: &str) -> TlsFront {
        let port = free_port();
        let log = scratch("tls-front").join("tls.log");
        let child = spawn(
            Command::new(repo().join(".venv/bin/python"))
                .arg("-u")
                .arg(repo().join("tests/tls/server.py"))
                .arg(port.to_string())
                .arg(cert)
                .arg(key)
                .arg(upstream),
            &log,
        );
        TlsFront {
            port,
            _proc: ready(Proc { child, log }, "tls front"),
        }
    }
}

/// The filter never panicked: no panic message of ours, no trap of the VM in Envoy's log.
pub fn assert_no_wasm_failure(envoy: &Envoy) {
    let log = envoy.log();
    for marker in [
        "panicked",
        "Function: proxy_on",
        "RuntimeError",
        "unreachable",
    ] {
        assert!(
            !log.contains(marker),
            "Envoy's log shows a wasm failure ({marker}):\n{log}"
        );
    }
}

/// A v1beta1 APIRule as API Gateway 2.x stores it and `kubectl get apirules -o json` returns it:
/// a v2 object whose spec holds only what converts (hosts, service, gateway, timeout), the whole
/// v1beta1 spec in the `gateway.kyma-project.io/v1beta1-spec` annotation and
/// `original-version: v1beta1` (Kyma's `apis/gateway/v1beta1/apirule_conversion.go`).
pub fn as_stored(v1beta1: &serde_json::Value) -> serde_json::Value {
    use serde_json::json;
    let spec = &v1beta1["spec"];
    let mut metadata = v1beta1["metadata"].clone();
    metadata["annotations"] = json!({
        "gateway.kyma-project.io/original-version": "v1beta1",
        "gateway.kyma-project.io/v1beta1-spec": spec.to_string(),
    });
    metadata["generation"] = json!(1);
    metadata["resourceVersion"] = json!("48213");
    metadata["uid"] = json!("7f6c2a1e-0b7d-4c38-9d51-3c2f1e0a9b44");
    let mut partial = json!({"hosts": [spec["host"]], "service": spec["service"],
                             "gateway": spec["gateway"]});
    if let Some(t) = spec.get("timeout") {
        partial["timeout"] = t.clone();
    }
    json!({"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule", "metadata": metadata,
           "spec": partial, "status": {"state": "Ready", "lastProcessedTime": "2026-11-30T10:00:00Z"}})
}
