//! Kyma validates issuers and JWKS URIs with Go's `url.ParseRequestURI` and puts Go's error text
//! in its message (`value is empty or not a valid uri err=parse "no_url": invalid URI for
//! request`). This reproduces the accept/reject decision and the error texts users see.

/// `None` when Kyma's `IsInvalidURI` accepts `s`; otherwise the error text Kyma prints after `err=`.
pub fn invalid_uri(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("value is empty".into());
    }
    parse_request_uri(s)
        .err()
        .map(|e| format!("parse {}: {e}", go_quote(s)))
}

fn parse_request_uri(raw: &str) -> Result<(), String> {
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    if raw == "*" {
        return Ok(());
    }
    let (scheme, rest) = split_scheme(raw).map_err(str::to_owned)?;
    // A query is cut off before the path is examined.
    let rest = match rest.find('?') {
        Some(q) => &rest[..q],
        None => rest,
    };
    if !rest.starts_with('/') {
        if scheme.is_some() {
            return Ok(()); // opaque URI such as `mailto:x`
        }
        return Err("invalid URI for request".into());
    }
    let path = if scheme.is_some() && rest.starts_with("//") {
        let after = &rest[2..];
        let (authority, path) = match after.find('/') {
            Some(i) => after.split_at(i),
            None => (after, ""),
        };
        check_authority(authority)?;
        path
    } else {
        rest
    };
    check_escapes(path)
}

fn split_scheme(raw: &str) -> Result<(Option<&str>, &str), &'static str> {
    for (i, c) in raw.char_indices() {
        match c {
            'a'..='z' | 'A'..='Z' => {}
            '0'..='9' | '+' | '-' | '.' if i > 0 => {}
            ':' => {
                if i == 0 {
                    return Err("missing protocol scheme");
                }
                return Ok((Some(&raw[..i]), &raw[i + 1..]));
            }
            // Not a scheme character: the whole string is a path.
            _ => return Ok((None, raw)),
        }
    }
    Ok((None, raw))
}

fn check_authority(authority: &str) -> Result<(), String> {
    let host = match authority.rfind('@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    if let Some(v6) = host.strip_prefix('[') {
        let Some(end) = v6.find(']') else {
            return Err("missing ']' in host".into());
        };
        let after = &v6[end + 1..];
        return match after.strip_prefix(':') {
            None if after.is_empty() => Ok(()),
            Some(port) if port.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
            _ => Err(format!("invalid port {} after host", go_quote(after))),
        };
    }
    if let Some(colon) = host.rfind(':') {
        if !host[colon + 1..].bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "invalid port {} after host",
                go_quote(&host[colon..])
            ));
        }
    }
    if host.bytes().any(|b| {
        matches!(
            b,
            b' ' | b'<' | b'>' | b'"' | b'{' | b'}' | b'|' | b'\\' | b'^' | b'`'
        )
    }) {
        return Err("invalid character in host name".into());
    }
    check_escapes(host)
}

fn check_escapes(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok = b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                let end = (i + 3).min(s.len());
                return Err(format!(
                    "invalid URL escape {}",
                    go_quote(s.get(i..end).unwrap_or("%"))
                ));
            }
            i += 2;
        }
        i += 1;
    }
    Ok(())
}

/// Go's `strconv.Quote` for the printable ASCII that reaches here.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::invalid_uri;

    #[test]
    fn go_semantics() {
        assert_eq!(invalid_uri(""), Some("value is empty".into()));
        assert_eq!(
            invalid_uri("no_url"),
            Some(r#"parse "no_url": invalid URI for request"#.into())
        );
        assert_eq!(
            invalid_uri("://unsecured.or.not.valid.url"),
            Some(r#"parse "://unsecured.or.not.valid.url": missing protocol scheme"#.into())
        );
        assert_eq!(
            invalid_uri("https://example.com/.well-known/jwks.json"),
            None
        );
        assert_eq!(invalid_uri("http://issuer.test/"), None);
        assert_eq!(invalid_uri("/relative/path"), None);
        assert_eq!(invalid_uri("urn:opaque"), None);
        assert_eq!(
            invalid_uri("https://host:port/x"),
            Some(r#"parse "https://host:port/x": invalid port ":port" after host"#.into())
        );
        assert!(invalid_uri("https://host/%zz").is_some());
        assert!(invalid_uri("https://ho\tst/").is_some());
        assert!(invalid_uri("a t g o").is_some(), "Kyma's own test value");
    }
}
