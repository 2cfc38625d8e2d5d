//! Paths that mean one thing to the gateway and another to the service behind it.
//!
//! Envoy normalises paths when `normalize_path`, `merge_slashes` and
//! `path_with_escaped_slashes_action` are set (they are in `envoy/envoy.yaml`; Istio's mesh default
//! sets only the first). A path that still has dot segments, doubled slashes, encoded dots or
//! slashes, backslashes or `;` parameters after that would be matched here as written but may be
//! resolved differently upstream (`/public/..%2Fadmin`, `/admin;x` in servlet containers), which is
//! how a `noAuth` rule becomes a way around a `jwt` rule. Such paths are refused with 400 before
//! any rule is tried.

/// Why `path` (without its query) is ambiguous, or `None` when it is canonical.
pub fn ambiguity(path: &str) -> Option<&'static str> {
    if !path.starts_with('/') {
        return Some("not an absolute path");
    }
    let bytes = path.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\\' => return Some("backslash"),
            b';' => return Some("path parameter"),
            b'/' if bytes.get(i + 1) == Some(&b'/') => return Some("empty segment"),
            b'%' => {
                let code = bytes.get(i + 1..i + 3).map(|h| h.to_ascii_lowercase());
                match code.as_deref() {
                    Some(b"2e") => return Some("encoded dot"),
                    Some(b"2f") | Some(b"5c") => return Some("encoded slash"),
                    Some(b"00") => return Some("encoded NUL"),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Some("dot segment");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::ambiguity;

    #[test]
    fn canonical_paths_pass() {
        for p in [
            "/",
            "/headers",
            "/anything/a/b.txt",
            "/a/.well-known/x",
            "/a..b/c.",
            "/%20space",
            "/a%41",
            "/files/...",
        ] {
            assert_eq!(ambiguity(p), None, "{p}");
        }
    }

    #[test]
    fn tricks_are_refused() {
        for (p, why) in [
            ("/public/../admin", "dot segment"),
            ("/public/..", "dot segment"),
            ("/./admin", "dot segment"),
            ("/public/%2e%2e/admin", "encoded dot"),
            ("/public/%2E%2E/admin", "encoded dot"),
            ("/public/.%2e/admin", "encoded dot"),
            ("/public%2Fadmin", "encoded slash"),
            ("/public%2fadmin", "encoded slash"),
            ("/public%5cadmin", "encoded slash"),
            ("/public\\admin", "backslash"),
            ("//admin", "empty segment"),
            ("/public//admin", "empty segment"),
            ("/admin;jsessionid=1", "path parameter"),
            ("/admin%00.json", "encoded NUL"),
            ("admin", "not an absolute path"),
            ("", "not an absolute path"),
        ] {
            assert_eq!(ambiguity(p), Some(why), "{p}");
        }
    }
}
