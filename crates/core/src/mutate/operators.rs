//! Envoy command operators in Istio-style header and cookie values (`%REQ(Authorization)%`),
//! parsed once at configure time. Unknown operators are refused there, with the list of supported
//! ones, instead of reaching a request as literal text.

use std::fmt::Write;

use crate::request::HeaderList;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    /// `%REQ(a?b):n%`, `%REQ_WITHOUT_QUERY(a?b):n%`: header `a`, else `b`; at most `n` chars.
    Req {
        names: Vec<String>,
        without_query: bool,
        max: Option<usize>,
    },
    RemoteAddress {
        with_port: bool,
    },
    StartTime(Option<String>),
    Protocol,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Value {
    parts: Vec<Part>,
}

/// What operators read from the request.
pub struct Env<'a> {
    pub headers: &'a HeaderList,
    /// Headers whose value was not UTF-8: copying one is refused (see `decide::Request`).
    pub non_utf8: &'a [String],
    pub authority: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub scheme: &'a str,
    pub remote_address: &'a str,
    pub protocol: &'a str,
    pub now_ms: u64,
}

const SUPPORTED: &str =
    "%REQ(header?alt):max%, %REQ_WITHOUT_QUERY(header):max%, %DOWNSTREAM_REMOTE_ADDRESS%, \
%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%, %START_TIME%, %START_TIME(format)%, %PROTOCOL%, %%";

impl Value {
    pub fn parse(text: &str) -> Result<Value, String> {
        if text.contains(['\r', '\n', '\0']) {
            return Err("a header value cannot contain CR, LF or NUL".into());
        }
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(start) = rest.find('%') {
            lit.push_str(&rest[..start]);
            rest = &rest[start + 1..];
            if let Some(after) = rest.strip_prefix('%') {
                lit.push('%');
                rest = after;
                continue;
            }
            let end = operator_end(rest).ok_or_else(|| {
                format!("unterminated command operator in {text:?}: supported are {SUPPORTED}")
            })?;
            let op = &rest[..end];
            rest = &rest[end + 1..];
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(&mut lit)));
            }
            parts.push(parse_operator(op)?);
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Value { parts })
    }

    pub fn needs_headers(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Req { .. }))
    }

    /// The value for this request; `Err` when it would copy a header that was not UTF-8 (its
    /// bytes cannot be reproduced, and other bytes must not be sent in its name).
    pub fn render(&self, env: &Env<'_>) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Req {
                    names,
                    without_query,
                    max,
                } => {
                    let name = names.iter().find(|n| request_value(env, n).is_some());
                    if let Some(n) =
                        name.filter(|n| env.non_utf8.iter().any(|b| b.eq_ignore_ascii_case(n)))
                    {
                        return Err(format!("header {n} is not UTF-8; not copied"));
                    }
                    let value = name.and_then(|n| request_value(env, n)).unwrap_or_default();
                    let value = if *without_query {
                        value.split('?').next().unwrap_or_default()
                    } else {
                        value
                    };
                    match max {
                        Some(n) => out.extend(value.chars().take(*n)),
                        None => out.push_str(value),
                    }
                }
                Part::RemoteAddress { with_port: true } => out.push_str(env.remote_address),
                Part::RemoteAddress { with_port: false } => {
                    out.push_str(strip_port(env.remote_address))
                }
                Part::StartTime(format) => {
                    out.push_str(&format_time(env.now_ms, format.as_deref()))
                }
                Part::Protocol => out.push_str(env.protocol),
            }
        }
        Ok(out)
    }
}

/// The `%` that closes an operator, skipping `%` inside `(...)` (a `START_TIME` format).
fn operator_end(s: &str) -> Option<usize> {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            '%' if depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

fn parse_operator(op: &str) -> Result<Part, String> {
    let (head, max) = match op.rsplit_once("):") {
        Some((h, m)) => (
            format!("{h})"),
            Some(
                m.parse::<usize>()
                    .map_err(|_| format!("%{op}%: the length after ':' must be a number"))?,
            ),
        ),
        None => (op.to_owned(), None),
    };
    let arg = |name: &str| {
        head.strip_prefix(name)
            .and_then(|r| r.strip_prefix('('))
            .and_then(|r| r.strip_suffix(')'))
            .map(str::to_owned)
    };
    if let Some(a) = arg("REQ_WITHOUT_QUERY").or_else(|| arg("REQ")) {
        let names: Vec<String> = a
            .split('?')
            .map(|n| n.trim().to_ascii_lowercase())
            .collect();
        if names.iter().any(String::is_empty) || names.len() > 2 {
            return Err(format!(
                "%{op}%: expected %REQ(header)% or %REQ(header?alternative)%"
            ));
        }
        return Ok(Part::Req {
            names,
            without_query: head.starts_with("REQ_WITHOUT_QUERY"),
            max,
        });
    }
    if let Some(f) = arg("START_TIME") {
        check_time_format(&f)?;
        return Ok(Part::StartTime(Some(f)));
    }
    match head.as_str() {
        "DOWNSTREAM_REMOTE_ADDRESS" => Ok(Part::RemoteAddress { with_port: true }),
        "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT" => Ok(Part::RemoteAddress { with_port: false }),
        "START_TIME" => Ok(Part::StartTime(None)),
        "PROTOCOL" => Ok(Part::Protocol),
        _ => Err(format!(
            "unsupported command operator %{op}%: supported are {SUPPORTED}"
        )),
    }
}

fn request_value<'a>(env: &Env<'a>, name: &str) -> Option<&'a str> {
    match name {
        ":authority" | "host" => Some(env.authority),
        ":method" => Some(env.method),
        ":path" => Some(env.path),
        ":scheme" => Some(env.scheme),
        _ => crate::request::header_values(env.headers, name).next(),
    }
}

fn strip_port(addr: &str) -> &str {
    if let Some(v6) = addr.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => addr,
    }
}

const TIME_SPECIFIERS: &str = "%Y %m %d %H %M %S %s %3f %6f %9f %z %%";

fn check_time_format(f: &str) -> Result<(), String> {
    let mut chars = f.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        match chars.next() {
            Some('Y' | 'm' | 'd' | 'H' | 'M' | 'S' | 's' | 'z' | '%') => {}
            Some(d @ ('3' | '6' | '9')) if chars.next() == Some('f') => {
                let _ = d;
            }
            other => {
                return Err(format!(
                    "%START_TIME({f})%: unsupported specifier %{}; supported are {TIME_SPECIFIERS}",
                    other.map(String::from).unwrap_or_default()
                ))
            }
        }
    }
    Ok(())
}

/// UTC civil time from Unix milliseconds (Howard Hinnant's days-to-civil).
fn civil(ms: u64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let secs = (ms / 1000) as i64;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        (ms % 1000) as u32,
    )
}

/// Envoy's default `START_TIME` is `%Y-%m-%dT%H:%M:%S.%3fZ`.
pub fn format_time(ms: u64, format: Option<&str>) -> String {
    let (y, mo, d, h, mi, s, milli) = civil(ms);
    let format = format.unwrap_or("%Y-%m-%dT%H:%M:%S.%3fZ");
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let _ = match chars.next() {
            Some('Y') => write!(out, "{y:04}"),
            Some('m') => write!(out, "{mo:02}"),
            Some('d') => write!(out, "{d:02}"),
            Some('H') => write!(out, "{h:02}"),
            Some('M') => write!(out, "{mi:02}"),
            Some('S') => write!(out, "{s:02}"),
            Some('s') => write!(out, "{}", ms / 1000),
            Some('z') => write!(out, "+0000"),
            Some('%') => write!(out, "%"),
            Some(digits @ ('3' | '6' | '9')) => {
                chars.next(); // the `f`
                match digits {
                    '3' => write!(out, "{milli:03}"),
                    '6' => write!(out, "{:06}", milli * 1000),
                    _ => write!(out, "{:09}", milli * 1_000_000),
                }
            }
            _ => Ok(()),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(headers: &'a HeaderList) -> Env<'a> {
        Env {
            headers,
            non_utf8: &[],
            authority: "api.example.com",
            method: "GET",
            path: "/a/b?x=1",
            scheme: "https",
            remote_address: "10.1.2.3:5555",
            protocol: "HTTP/1.1",
            now_ms: 1_795_317_608_123,
        }
    }

    #[test]
    fn a_header_that_was_not_utf8_is_not_copied() {
        let h = HeaderList::of(&[("x-note", "caf\u{fffd}")]);
        let binary = vec!["x-note".to_owned()];
        let e = Env {
            non_utf8: &binary,
            ..env(&h)
        };
        let r = |t: &str| Value::parse(t).and_then(|v| v.render(&e));
        assert!(r("%REQ(X-Note)%").is_err());
        assert!(r("%REQ(missing?x-note)%").is_err());
        assert_eq!(r("%REQ(:method)%-%REQ(other)%"), Ok("GET-".into()));
    }

    #[test]
    fn operators() {
        let h = HeaderList::of(&[("authorization", "Bearer abc")]);
        let e = env(&h);
        let r = |t: &str| Value::parse(t).and_then(|v| v.render(&e));
        assert_eq!(r("%REQ(Authorization)%"), Ok("Bearer abc".into()));
        assert_eq!(
            r("x-%REQ(missing?Authorization):6%-y"),
            Ok("x-Bearer-y".into())
        );
        assert_eq!(r("%REQ(missing)%"), Ok("".into()));
        assert_eq!(r("%REQ_WITHOUT_QUERY(:path)%"), Ok("/a/b".into()));
        assert_eq!(r("%REQ(:authority)%"), Ok("api.example.com".into()));
        assert_eq!(r("%DOWNSTREAM_REMOTE_ADDRESS%"), Ok("10.1.2.3:5555".into()));
        assert_eq!(
            r("%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"),
            Ok("10.1.2.3".into())
        );
        assert_eq!(r("%START_TIME%"), Ok("2026-11-22T03:20:08.123Z".into()));
        assert_eq!(r("%START_TIME(%s)%"), Ok("1795317608".into()));
        assert_eq!(r("100%% sure"), Ok("100% sure".into()));
        assert_eq!(r("plain"), Ok("plain".into()));
        assert!(r("%UPSTREAM_HOST%")
            .is_err_and(|e| e.contains("unsupported command operator %UPSTREAM_HOST%")));
        assert!(r("50%").is_err());
        assert!(r("%START_TIME(%Q)%").is_err());
        assert!(r("a\\r\\nb").is_ok(), "escaped text is fine");
        assert!(r("a\rb").is_err());
    }

    #[test]
    fn civil_dates() {
        assert_eq!(format_time(0, None), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_time(951_782_400_000, Some("%Y-%m-%d")), "2000-02-29");
    }
}
