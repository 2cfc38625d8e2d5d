//! Kyma's conformance, translated: `tests/integration/testsuites/{v2,v2alpha1}/features/validation.feature`
//! of kyma-project/api-gateway (commit 64d110d6), scenario by scenario. The APIRule is the
//! feature's manifest (`validation-error.yaml`) with its template values filled in. The status
//! Kyma's controller writes is what `apirule check` prints; through Envoy with the filter, an
//! APIRule in error exposes nothing.
//! Shared by `v2_validation.rs` and `v2alpha1_validation.rs` (the feature files are the same;
//! `super::API_VERSION` is the version under test).

use std::process::Command;

use crate::common::*;
use serde_json::{json, Value};

const HOST: &str = "httpbin-kyma.local.kyma.dev";
const ISSUER: &str = "https://oauth2.local.kyma.dev";

/// `validation-error.yaml`: two authentications of one issuer and JWKS URI that read the token
/// from different headers.
fn apirule() -> Value {
    let authn = |header: &str, prefix: &str| {
        json!({"issuer": ISSUER, "jwksUri": format!("{ISSUER}/oauth2/certs"),
               "fromHeaders": [{"name": header, "prefix": prefix}]})
    };
    json!({"apiVersion": super::API_VERSION, "kind": "APIRule",
    "metadata": {"name": "validation-error-kyma", "namespace": "default"},
    "spec": {"gateway": "kyma-system/kyma-gateway", "hosts": [HOST],
             "service": {"name": "httpbin-kyma", "port": 8000},
             "rules": [{"path": "/headers", "methods": ["GET"], "jwt": {"authentications": [
                 authn("JWT_TOKEN_1", "JwtToken1 "),
                 authn("JWT_TOKEN_2", "JwtToken2 ")
             ]}}]}})
}

/// Scenario: Validation errors on misconfigured APIRule. "APIRule has status "Error" with
/// description containing "multiple jwt configurations"".
pub fn validation_errors_on_misconfigured_apirule() {
    let dir = scratch("kyma-validation");
    let file = dir.join("apirule.json");
    std::fs::write(&file, apirule().to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_apirule"))
        .arg("check")
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            format!(
                "default/validation-error-kyma ({} APIRule): Error",
                super::API_VERSION
            )
            .as_str()
        ),
        "{text}"
    );
    let description: Vec<&str> = lines.collect();
    assert!(
        description
            .iter()
            .any(|l| l.contains("multiple jwt configurations")),
        "{text}"
    );

    // Through the gateway: the host answers the filter's empty 404; httpbin is never asked.
    let upstream = Upstream::start();
    let envoy = Envoy::start(&upstream, &json!({"apiRules": [apirule()]}).to_string());
    let r = envoy.get(HOST, "/headers");
    assert_eq!((r.status, r.body.as_str()), (404, ""), "{r:?}");
    assert!(
        envoy.log().contains("validation-error-kyma"),
        "the invalid APIRule is logged"
    );
}
