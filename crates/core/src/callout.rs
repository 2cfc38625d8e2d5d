//! Where an HTTP callout (JWKS, later introspection) goes: an Envoy cluster and the request line.
//!
//! `dispatch_http_call` takes a cluster name, not a URL. Istio names the cluster of a
//! ServiceEntry host `outbound|<port>||<host>`; the plugin configuration's `clusters` map
//! (`"https://idp.example.com": "idp"`, keyed by origin) overrides that, e.g. for a local Envoy.
//! The callout itself is plain HTTP from the VM: for `https` the cluster must originate TLS.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub cluster: String,
    /// `:authority`: the URI's host, with its port when it was given.
    pub authority: String,
    /// `:path`: path and query.
    pub path: String,
}

pub fn target(uri: &str, clusters: &BTreeMap<String, String>) -> Result<Upstream, String> {
    let (scheme, rest) = uri
        .split_once("://")
        .ok_or_else(|| format!("{uri:?} is not an absolute http(s) URL"))?;
    let default_port = match scheme {
        "https" => 443,
        "http" => 80,
        _ => return Err(format!("{uri:?}: only http and https can be fetched")),
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    let path = path.split('#').next().unwrap_or("/").to_owned();
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("{uri:?}: a host is required (and no user info)"));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => match p.parse::<u16>() {
            Ok(port) => (h, port),
            Err(_) => return Err(format!("{uri:?}: invalid port")),
        },
        _ => (authority, default_port),
    };
    let origin = format!("{scheme}://{authority}");
    let cluster = clusters
        .get(&origin)
        .cloned()
        .unwrap_or_else(|| format!("outbound|{port}||{host}"));
    Ok(Upstream {
        cluster,
        authority: authority.to_owned(),
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn istio_names_and_overrides() {
        let none = BTreeMap::new();
        let t = target("https://idp.example.com/oauth2/certs?x=1", &none);
        assert_eq!(
            t,
            Ok(Upstream {
                cluster: "outbound|443||idp.example.com".into(),
                authority: "idp.example.com".into(),
                path: "/oauth2/certs?x=1".into()
            })
        );
        let t = target("http://keycloak.auth.svc.cluster.local:8080/certs", &none);
        assert_eq!(
            t.map(|u| u.cluster),
            Ok("outbound|8080||keycloak.auth.svc.cluster.local".into())
        );
        let mut map = BTreeMap::new();
        map.insert("http://127.0.0.1:3000".to_owned(), "idp".to_owned());
        let t = target("http://127.0.0.1:3000/jwks", &map);
        assert_eq!(
            t.map(|u| (u.cluster, u.authority)),
            Ok(("idp".into(), "127.0.0.1:3000".into()))
        );
        assert!(target("/relative", &none).is_err());
        assert!(target("file:///etc/jwks.json", &none).is_err());
        assert!(target("https://user@host/x", &none).is_err());
        assert!(target("https://host:99999/x", &none).is_err());
        assert_eq!(
            target("https://host", &none).map(|u| u.path),
            Ok("/".into())
        );
    }
}

/// An HTTP call the core needs answered before it can decide (introspection, a client-credentials
/// token). The shell dispatches it and hands the [`Answer`] back under `key`.
#[derive(Clone)]
pub struct CallRequest {
    pub key: String,
    pub upstream: Upstream,
    pub method: std::borrow::Cow<'static, str>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout_ms: u64,
}

impl std::fmt::Debug for CallRequest {
    // Bodies and headers carry tokens and client secrets: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CallRequest({} {} via {})",
            self.method, self.upstream.path, self.upstream.cluster
        )
    }
}

/// The answer to a [`CallRequest`]; `status: None` when the call failed (no response).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: Option<u16>,
    /// Response headers, names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Some header of the answer was not UTF-8 and is missing from `headers`: an answer whose
    /// headers are copied (an authorizer's) is then refused, as the bytes cannot be reproduced.
    pub non_utf8_headers: bool,
}

impl Answer {
    /// No answer: the call could not be made, or failed before a response.
    pub fn none() -> Answer {
        Answer {
            status: None,
            headers: Vec::new(),
            body: Vec::new(),
            non_utf8_headers: false,
        }
    }
}

pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
