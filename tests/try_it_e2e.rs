//! README's "Try it", run as written against the setup `make run` starts (envoy/envoy.yaml, the
//! test identity provider, the test authorizer, httpbin), so the README cannot drift from what
//! the filter does. Only the ports differ: the same processes are started on free ports and the
//! commands' `localhost:10000` and `localhost:3000` are pointed at them. `make run` prints the
//! same block (it reads it from README.md).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::*;
use serde_json::json;

/// The commands of the README's "Try it" block, continuation lines joined, each with the
/// statuses its comment promises.
fn try_it() -> Vec<(String, Vec<u16>)> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = readme.split("## Try it").nth(1).expect("a Try it section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("a sh block");
    let mut commands: Vec<(String, Vec<u16>)> = Vec::new();
    let mut pending = String::new();
    for line in block.lines() {
        if line.trim_start().starts_with('#') {
            // A comment on its own line: the expectation of the command above.
            if let Some(last) = commands.last_mut() {
                last.1 = statuses(line);
            }
            continue;
        }
        pending.push_str(line.trim_end_matches('\\'));
        pending.push(' ');
        if line.ends_with('\\') {
            continue;
        }
        let (command, comment) = match pending.split_once(" # ") {
            Some((c, e)) => (c.trim().to_owned(), statuses(e)),
            None => (pending.trim().to_owned(), Vec::new()),
        };
        commands.push((command, comment));
        pending.clear();
    }
    commands
}

/// The statuses at the start of a comment: `# 200 200 429: RateLimit` gives [200, 200, 429].
fn statuses(comment: &str) -> Vec<u16> {
    comment
        .trim_start_matches([' ', '#'])
        .split([' ', ':'])
        .map_while(|w| w.parse().ok().filter(|s| (100..600).contains(s)))
        .collect()
}

#[test]
fn readme_try_it_answers_as_documented() {
    let upstream = Upstream::start();
    let idp = Idp::start(300);
    let authz = Authz::start();
    let plugin = shipped_plugin_config()
        .replace("127.0.0.1:3000", &format!("127.0.0.1:{}", idp.port))
        .replace("127.0.0.1:3001", &format!("127.0.0.1:{}", authz.port))
        .replace("\"port\": 3001", &format!("\"port\": {}", authz.port));
    let (port, admin) = (free_port(), free_port());
    let mut cfg = render(port, admin, upstream.port, idp.port, &plugin);
    for cluster in cfg["static_resources"]["clusters"].as_array_mut().unwrap() {
        if cluster["name"] == "ext-authz" {
            cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
                ["socket_address"]["port_value"] = json!(authz.port);
        }
    }
    let envoy = Envoy::start_raw(port, admin, &cfg, 2);

    let commands = try_it();
    assert!(
        commands.len() >= 10,
        "the Try it block was not found whole: {commands:?}"
    );
    let mut token = String::new();
    for (command, expected) in &commands {
        let local = command
            .replace("localhost:10000", &format!("127.0.0.1:{port}"))
            .replace("localhost:3000", &format!("127.0.0.1:{}", idp.port));
        if let Some(assignment) = local.strip_prefix("TOKEN=") {
            let out = Command::new("bash")
                .arg("-c")
                .arg(format!("echo {assignment}"))
                .output()
                .unwrap();
            token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            assert_eq!(
                token.split('.').count(),
                3,
                "the recipe gives a JWT: {token:?}"
            );
            continue;
        }
        assert!(!expected.is_empty(), "no expected status for {command}");
        let out = Command::new("bash")
            .arg("-c")
            .arg(&local)
            .env("TOKEN", &token)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let got: Vec<u16> = if text.starts_with("HTTP/") {
            text.split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .into_iter()
                .collect()
        } else {
            text.split_whitespace()
                .filter_map(|s| s.parse().ok())
                .collect()
        };
        assert_eq!(
            &got,
            expected,
            "README's `{command}`\n{text}\n{}",
            envoy.log()
        );
    }
}
