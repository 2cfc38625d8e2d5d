//! What may stand in a header or a cookie: the rules Envoy applies to header names and values,
//! and Go's net/http rules for cookies (which Oathkeeper's cookie mutator inherits). Everything
//! the filter writes upstream passes through here, so a claim or a client header can neither
//! break the request (CR, LF, NUL) nor smuggle a cookie (`;`, names with spaces).

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
        | b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~')
}

/// A header name Envoy accepts: a token, or a pseudo-header (`:path`).
pub fn valid_name(name: &str) -> bool {
    let token = name.strip_prefix(':').unwrap_or(name);
    !token.is_empty() && token.bytes().all(is_tchar)
}

/// A header a rule's mutator may set: a token, and neither a pseudo-header nor `host`. Setting
/// `:path` or `:authority` after the decision would route the request somewhere its rule never
/// allowed (Envoy refuses them in its own header mutations, too).
pub fn settable_name(name: &str) -> bool {
    valid_name(name) && !name.starts_with(':') && !name.eq_ignore_ascii_case("host")
}

/// A header value Envoy accepts (its `headerValueIsValid`): no control characters but HTAB, no
/// DEL. obs-text (bytes >= 0x80) is allowed, as RFC 9110 allows it.
pub fn valid_value(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// A token fit to be a credential (RFC 6750 `b64token`, a JWT, an opaque token): visible ASCII.
/// Anything else (a value that was not even UTF-8 included) is an invalid token, never sent on.
pub fn valid_token(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| (0x21..0x7f).contains(&b))
}

/// Go's `validCookieValueByte`.
fn cookie_value_byte(b: u8) -> bool {
    (0x20..0x7f).contains(&b) && b != b'"' && b != b';' && b != b'\\'
}

/// Go's `isCookieNameValid`: a non-empty token, untrimmed (`user ` is not a name).
pub fn valid_cookie_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(is_tchar)
}

/// Go's `sanitizeCookieValue` (Go 1.22, the Go of Oathkeeper v0.38): invalid bytes are dropped,
/// and a value with a space or a comma is quoted.
pub fn sanitize_cookie_value(value: &str) -> String {
    let kept: String = value
        .bytes()
        .filter(|b| cookie_value_byte(*b))
        .map(char::from)
        .collect();
    if kept.contains([' ', ',']) {
        format!("\"{kept}\"")
    } else {
        kept
    }
}

/// A cookie value as an Istio-style rule writes it, unquoted: RFC 6265 `cookie-octet`s only. No
/// space or comma either (Go allows them only because it then quotes the value), since servers
/// that split cookies on `,` would read `a,user=admin` as two.
pub fn valid_cookie_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| cookie_value_byte(b) && b != b' ' && b != b',')
}

/// ASCII white space as Go's `textproto.TrimString` trims it.
fn trim(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\n', '\r'])
}

/// The cookies of `Cookie` header values, parsed as Go's `readCookies` does: a part whose name
/// is not a token or whose value has a byte outside the cookie octets is dropped whole; one
/// pair of surrounding quotes is removed from a value.
pub fn parse_cookies<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<(&'a str, &'a str)> {
    let mut out = Vec::new();
    for line in lines {
        for part in trim(line).split(';') {
            let part = trim(part);
            if part.is_empty() {
                continue;
            }
            let (name, raw) = part.split_once('=').unwrap_or((part, ""));
            if !valid_cookie_name(name) {
                continue;
            }
            let value = match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
                Some(inner) if raw.len() > 1 => inner,
                _ => raw,
            };
            if value.bytes().all(cookie_value_byte) {
                out.push((name, value));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values() {
        assert!(valid_name("x-user") && valid_name(":path") && valid_name("X_A"));
        assert!(!valid_name("") && !valid_name(":") && !valid_name("a b") && !valid_name("a\n"));
        assert!(settable_name("x-user") && settable_name("Cookie"));
        for name in [":path", ":authority", "host", "Host", "a b", ""] {
            assert!(!settable_name(name), "{name}");
        }
        assert!(valid_value(b"bob \t caf\xE9"));
        for bad in [&b"a\rb"[..], b"a\nb", b"a\0b", b"a\x7fb", b"\x01"] {
            assert!(!valid_value(bad), "{bad:?}");
        }
    }

    #[test]
    fn tokens_are_visible_ascii() {
        assert!(valid_token("eyJ.a-b_c.~+/="));
        for bad in ["", "a b", "caf\u{e9}", "a\u{fffd}", "a\tb"] {
            assert!(!valid_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn cookie_values_as_go_writes_them() {
        assert_eq!(
            sanitize_cookie_value("bob; role=admin"),
            "\"bob role=admin\""
        );
        assert_eq!(sanitize_cookie_value("a\r\nb"), "ab");
        assert_eq!(sanitize_cookie_value("a,b"), "\"a,b\"");
        assert_eq!(sanitize_cookie_value("caf\u{e9}\"\\x"), "cafx");
        assert_eq!(sanitize_cookie_value(""), "");
    }

    #[test]
    fn unquoted_cookie_values_are_cookie_octets() {
        assert!(valid_cookie_value("abc-123_~!#$%&'()*+./:<=>?@[]^`{|}"));
        for bad in [
            "a b",
            "a,user=admin",
            "a;b",
            "a\"b",
            "a\\b",
            "caf\u{e9}",
            "a\tb",
        ] {
            assert!(!valid_cookie_value(bad), "{bad:?}");
        }
    }

    #[test]
    fn cookies_as_go_reads_them() {
        let lines = [
            "user =mallory; role =admin; a=1;b=\"2\" ; c=x y;d=caf\u{e9}; =e; f; g=\"",
            "h=3",
        ];
        assert_eq!(
            parse_cookies(lines.into_iter()),
            vec![("a", "1"), ("b", "2"), ("c", "x y"), ("f", ""), ("h", "3")]
        );
    }
}
