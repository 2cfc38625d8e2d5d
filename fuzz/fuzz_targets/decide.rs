//! The whole decision on fixed rules: a `jwt` rule (Istio pipeline), an `oauth2_introspection`
//! rule with a header mutator (Ory pipeline) and an `extAuth` rule with restrictions. Input: the
//! Authorization header value, a newline, the endpoint's answer (for the authorizer: a status
//! line, `name: value` header lines, an empty line, the body). Every outcome is a decision;
//! nothing panics.
#![no_main]

use std::collections::HashMap;

use apirule_core::callout::Answer;
use apirule_core::compile::{compile, RuleSet};
use apirule_core::config::PluginConfig;
use apirule_core::decide::{decide, Decision, Request, Wait};
use apirule_core::jwt::crypto::Software;
use apirule_core::request::HeaderList;
use libfuzzer_sys::fuzz_target;

const CONFIG: &str = r#"{
 "extensionProviders": [{"name": "authz", "envoyExtAuthzHttp": {"service": "authz.fuzz.test", "port": 80,
   "headersToUpstreamOnAllow": ["*"], "headersToDownstreamOnAllow": ["x-*"], "headersToDownstreamOnDeny": ["*-d"]}}],
 "apiRules": [
  {"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
   "metadata": {"name": "ext", "namespace": "fuzz"},
   "spec": {"hosts": ["c.fuzz.test"], "gateway": "kyma-system/kyma-gateway",
            "service": {"name": "s", "port": 80},
            "rules": [{"path": "/ext", "methods": ["GET"],
                       "extAuth": {"authorizers": ["authz"],
                                   "restrictions": {"authentications": [{"issuer": "https://issuer.fuzz.test", "jwksUri": "https://issuer.fuzz.test/jwks"}]}}}]}},
  {"apiVersion": "gateway.kyma-project.io/v2", "kind": "APIRule",
   "metadata": {"name": "jwt", "namespace": "fuzz"},
   "spec": {"hosts": ["a.fuzz.test"], "gateway": "kyma-system/kyma-gateway",
            "service": {"name": "s", "port": 80},
            "rules": [{"path": "/jwt", "methods": ["GET"],
                       "jwt": {"authentications": [{"issuer": "https://issuer.fuzz.test", "jwksUri": "https://issuer.fuzz.test/jwks"}],
                               "authorizations": [{"requiredScopes": ["read"], "audiences": ["api"]}]}}]}},
  {"apiVersion": "gateway.kyma-project.io/v1beta1", "kind": "APIRule",
   "metadata": {"name": "ory", "namespace": "fuzz"},
   "spec": {"host": "b.fuzz.test", "gateway": "kyma-system/kyma-gateway",
            "service": {"name": "s", "port": 80},
            "rules": [{"path": "/intro", "methods": ["GET"],
                       "accessStrategies": [{"handler": "oauth2_introspection",
                         "config": {"introspection_url": "https://idp.fuzz.test/introspect", "required_scope": ["read"]}}],
                       "mutators": [{"handler": "header", "config": {"headers": {"X-User": "{{ print .Subject }}", "X-Extra": "{{ .Extra.name }}"}}}]}]}}
]}"#;

thread_local! {
    // Compiled once per fuzzing thread (RuleSet holds Rc: not Sync, as in the VM).
    static RULES: RuleSet = {
        let config = PluginConfig::from_json(CONFIG.as_bytes()).expect("fuzz config parses");
        compile(&config).expect("fuzz config compiles").0
    };
}

fn jwks() -> String {
    // A well-formed 2048-bit key nobody holds: tokens reach signature verification and fail it.
    let n: String = std::iter::repeat('w')
        .take(341)
        .chain(std::iter::once('M'))
        .collect();
    format!(
        r#"{{"keys":[{{"kty":"RSA","kid":"k1","alg":"RS256","use":"sig","n":"{n}","e":"AQAB"}}]}}"#
    )
}

fuzz_target!(|data: &[u8]| RULES.with(|set| run(set, data)));

fn run(set: &RuleSet, data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (auth, answer) = text.split_once('\n').unwrap_or((&text, ""));
    let mut state = set.auth_state();
    for id in 0..state.keys.len() {
        let _ = state.keys.install(id, jwks().as_bytes(), 1_000);
    }
    let headers = HeaderList::of(&[("authorization", auth)]);
    for (host, path) in [
        ("a.fuzz.test", "/jwt"),
        ("b.fuzz.test", "/intro"),
        ("c.fuzz.test", "/ext"),
    ] {
        let req = Request {
            authority: host,
            method: "GET",
            path,
            scheme: "https",
            headers: &headers,
            non_utf8: &[],
            remote_address: "127.0.0.1:1",
            protocol: "HTTP/1.1",
            sent_upstream_timeout: headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("x-envoy-upstream-rq-timeout-ms")),
        };
        let mut answers: HashMap<String, Answer> = HashMap::new();
        for _ in 0..3 {
            let now = 1_700_000_000_000;
            let mut env = state.env(&Software, &answers, now, now);
            let key = match decide(set, &req, &mut env) {
                Decision::Pending(p) => match p.wait {
                    Wait::Call(call) => call.key,
                    Wait::Keys(_) => break,
                },
                _ => break,
            };
            answers.insert(
                key,
                if path == "/ext" {
                    http_answer(answer)
                } else {
                    Answer {
                        status: Some(200),
                        headers: Vec::new(),
                        body: answer.as_bytes().to_vec(),
                        non_utf8_headers: false,
                    }
                },
            );
        }
    }
}

/// `status\nname: value\n...\n\nbody`; an unparsable status is no answer (a failed call).
fn http_answer(text: &str) -> Answer {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|s| s.trim().parse().ok());
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.as_bytes().to_vec(),
        non_utf8_headers: false,
    }
}
