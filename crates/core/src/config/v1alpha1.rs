//! `gateway.kyma-project.io/v1alpha1` (removed from Kyma in 2023). Converted as Kyma's conversion
//! webhook did: the spec is copied to v1beta1 field by field and `spec.service.host` becomes
//! `spec.host`. Everything after that is v1beta1.

use serde_json::Value;

/// The v1beta1 spec (as JSON) of a v1alpha1 spec.
pub fn to_v1beta1_spec(spec: &Value) -> Value {
    let mut out = spec.clone();
    if let Some(obj) = out.as_object_mut() {
        let host = obj
            .get_mut("service")
            .and_then(Value::as_object_mut)
            .and_then(|svc| svc.remove("host"));
        // A missing host stays missing: v1beta1 validation then reports `.spec.host: Host was nil`,
        // which is what a converted object showed in Kyma.
        if let Some(host) = host {
            obj.insert("host".into(), host);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_host_becomes_host() {
        let spec = serde_json::json!({"service": {"name": "a", "port": 80, "host": "a.example.com"}, "rules": []});
        let out = to_v1beta1_spec(&spec);
        assert_eq!(out["host"], "a.example.com");
        assert!(out["service"].get("host").is_none());
        let out = to_v1beta1_spec(&serde_json::json!({"service": {"name": "a"}}));
        assert!(out.get("host").is_none());
    }
}
