//! Path matching for the three dialects an APIRule path can be written in.
//!
//! - v2 templates are matched segment by segment, without a regex: exact segments compare bytes,
//!   `{*}` takes one non-empty segment, `{**}` takes the rest (last operator: zero or more
//!   segments after the slash; in the middle: one or more). Text taken by an operator must be
//!   made of the characters Kyma's VirtualService regex allows (RFC 3986 `pchar`s or `%XX`).
//! - `/*` matches everything (VirtualService `prefix: /`).
//! - v1beta1 paths are RE2 regular expressions that must match the whole path, as Envoy's
//!   `safe_regex` does.
//!
//! The path given to [`PathMatcher::matches`] has no query string.

use crate::config::model::PathSpec;

#[derive(Debug)]
pub enum PathMatcher {
    Any,
    Exact(String),
    Template(Template),
    Regex(regex_lite::Regex),
}

#[derive(Debug)]
pub struct Template {
    head: Vec<Seg>,
    /// `Some` when the template has a `{**}`: the segments after it.
    tail: Option<Vec<Seg>>,
}

#[derive(Debug)]
enum Seg {
    Literal(String),
    One,
}

impl PathMatcher {
    pub fn compile(spec: &PathSpec) -> Result<PathMatcher, String> {
        match spec {
            PathSpec::Any => Ok(PathMatcher::Any),
            PathSpec::Regex(re) => regex_lite::Regex::new(&format!("^(?:{re})$"))
                .map(PathMatcher::Regex)
                .map_err(|e| format!("invalid regular expression: {e}")),
            PathSpec::Template(t) if !t.contains('{') => Ok(PathMatcher::Exact(t.clone())),
            PathSpec::Template(t) => Template::parse(t).map(PathMatcher::Template),
        }
    }

    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathMatcher::Any => true,
            PathMatcher::Exact(p) => p == path,
            PathMatcher::Template(t) => t.matches(path),
            PathMatcher::Regex(re) => re.is_match(path),
        }
    }
}

impl Template {
    fn parse(template: &str) -> Result<Template, String> {
        let body = template
            .strip_prefix('/')
            .ok_or_else(|| format!("path template {template:?} must start with '/'"))?;
        let mut head = Vec::new();
        let mut tail: Option<Vec<Seg>> = None;
        for segment in body.split('/') {
            let seg = match segment {
                "{**}" => {
                    if tail.is_some() {
                        return Err("Only one {**} operator is allowed in the path.".into());
                    }
                    tail = Some(Vec::new());
                    continue;
                }
                "{*}" => Seg::One,
                literal => Seg::Literal(literal.to_owned()),
            };
            match tail.as_mut() {
                Some(t) => t.push(seg),
                None => head.push(seg),
            }
        }
        Ok(Template { head, tail })
    }

    fn matches(&self, path: &str) -> bool {
        let Some(body) = path.strip_prefix('/') else {
            return false;
        };
        let segments: SmallSegments = SmallSegments::split(body);
        let segs = segments.as_slice();
        match &self.tail {
            None => {
                segs.len() == self.head.len()
                    && self.head.iter().zip(segs).all(|(t, s)| t.matches(s))
            }
            Some(tail) => {
                let fixed = self.head.len() + tail.len();
                if segs.len() < fixed + 1 {
                    return false;
                }
                let (front, rest) = segs.split_at(self.head.len());
                let (middle, back) = rest.split_at(rest.len() - tail.len());
                if !self.head.iter().zip(front).all(|(t, s)| t.matches(s))
                    || !tail.iter().zip(back).all(|(t, s)| t.matches(s))
                {
                    return false;
                }
                // Last operator: zero or more segments after the slash. In the middle: at least
                // one character, so `/a/{**}/b` does not match `/a//b`.
                let middle_empty = middle.iter().all(|s| s.is_empty()) && middle.len() == 1;
                if !tail.is_empty() && middle_empty {
                    return false;
                }
                middle.iter().all(|s| s.is_empty() || is_pchars(s))
            }
        }
    }
}

impl Seg {
    fn matches(&self, segment: &str) -> bool {
        match self {
            Seg::Literal(l) => l == segment,
            Seg::One => !segment.is_empty() && is_pchars(segment),
        }
    }
}

/// Path segments without a heap allocation for the usual short paths.
struct SmallSegments<'a> {
    inline: [&'a str; 16],
    len: usize,
    spilled: Vec<&'a str>,
}

impl<'a> SmallSegments<'a> {
    fn split(body: &'a str) -> Self {
        let mut s = SmallSegments {
            inline: [""; 16],
            len: 0,
            spilled: Vec::new(),
        };
        for part in body.split('/') {
            if s.len < s.inline.len() {
                s.inline[s.len] = part;
                s.len += 1;
            } else {
                if s.spilled.is_empty() {
                    s.spilled.extend_from_slice(&s.inline);
                }
                s.spilled.push(part);
            }
        }
        s
    }

    fn as_slice(&self) -> &[&'a str] {
        if self.spilled.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.spilled
        }
    }
}

/// True when `s` is made of `[A-Za-z0-9-._~!$&'()*+,;=:@]` and well-formed `%XX` escapes: what
/// Kyma's VirtualService regex lets `{*}` and `{**}` take.
pub fn is_pchars(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => {}
            b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+'
            | b',' | b';' | b'=' | b':' | b'@' => {}
            b'%' => {
                let hex = |j: usize| b.get(j).is_some_and(|c| c.is_ascii_hexdigit());
                if !(hex(i + 1) && hex(i + 2)) {
                    return false;
                }
                i += 2;
            }
            _ => return false,
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(template: &str) -> PathMatcher {
        match PathMatcher::compile(&PathSpec::Template(template.into())) {
            Ok(m) => m,
            Err(e) => unreachable!("{template}: {e}"),
        }
    }

    #[test]
    fn exact_paths() {
        let m = t("/abc");
        assert!(m.matches("/abc"));
        assert!(!m.matches("/abc/"));
        assert!(!m.matches("/abcd"));
        assert!(t("/").matches("/"));
        assert!(!t("/").matches("/a"));
    }

    #[test]
    fn single_segment_operator() {
        // Kyma regex_test.go: `/{*}` does not match `/`, matches a segment, not several.
        let m = t("/{*}");
        assert!(!m.matches("/"));
        assert!(m.matches("/segment"));
        assert!(m.matches("/segment-._~!$&'()*+,;=:@"));
        assert!(m.matches("/segment%20"));
        assert!(!m.matches("/segment%2"));
        assert!(!m.matches("/a/b"));
        let m = t("/example/{*}");
        assert!(m.matches("/example/anything"));
        assert!(!m.matches("/example/"));
        assert!(!m.matches("/example/anything/"));
    }

    #[test]
    fn trailing_double_operator() {
        let m = t("/{**}");
        assert!(m.matches("/"));
        assert!(m.matches("/a"));
        assert!(m.matches("/a/b/c/"));
        assert!(!m.matches("/segment%2"));
        let m = t("/example/{**}");
        assert!(m.matches("/example/"));
        assert!(m.matches("/example/anything"));
        assert!(m.matches("/example/anything/more/"));
        assert!(!m.matches("/example"));
        assert!(!m.matches("/examples/x"));
    }

    #[test]
    fn middle_double_operator_needs_one_segment() {
        let m = t("/example/{**}/one");
        assert!(m.matches("/example/anything/one"));
        assert!(m.matches("/example/anything/two/one"));
        assert!(!m.matches("/example//one"));
        assert!(!m.matches("/example/one"));
        assert!(!m.matches("/example/anything/one/"));
    }

    #[test]
    fn kyma_asterisk_fixture() {
        // tests/e2e/tests/asterisk: the paths of asterisk_paths.yaml against the requests of
        // asterisk_test.go that expect 200.
        let rules = [
            "/anything/one",
            "/anything/one/two",
            "/anything/{*}/one",
            "/anything/{*}/one/{**}/two",
            "/anything/{*}/{*}/two",
            "/anything/{**}/two",
            "/anything/",
            "/anything/{**}",
        ];
        let matchers: Vec<PathMatcher> = rules.iter().map(|r| t(r)).collect();
        let any = |p: &str| matchers.iter().any(|m| m.matches(p));
        for p in [
            "/anything/one",
            "/anything/one/two",
            "/anything/random/one",
            "/anything/rand*m/one",
            "/anything/random/one/any/random/two",
            "/anything/any/random/two",
            "/anything/",
            "/anything/a+b",
            "/anything/a%20b",
            "/anything/rand*m",
            "/anything/any/random",
        ] {
            assert!(any(p), "{p} should match one of the fixture rules");
        }
    }

    #[test]
    fn literal_text_is_not_a_regex() {
        // Kyma's VirtualService regex leaves `.` unescaped; we match literally (README table).
        let m = t("/file.txt");
        assert!(m.matches("/file.txt"));
        assert!(!m.matches("/fileXtxt"));
    }

    #[test]
    fn any_and_regex() {
        let any = PathMatcher::compile(&PathSpec::Any).ok();
        assert!(any.is_some_and(|m| m.matches("/whatever/%zz")));
        let re = PathMatcher::compile(&PathSpec::Regex("/status/.*".into()));
        let re = re.unwrap_or(PathMatcher::Any);
        assert!(re.matches("/status/200"));
        assert!(
            !re.matches("/x/status/200"),
            "full match, anchored at start"
        );
        let bad = PathMatcher::compile(&PathSpec::Regex("/(".into()));
        assert!(bad.is_err());
    }

    #[test]
    fn long_paths_spill() {
        let long: String = (0..40).map(|i| format!("/s{i}")).collect();
        assert!(t("/s0/{**}").matches(&long));
        assert!(t("/{**}/s39").matches(&long));
        assert!(!t("/{**}/s38").matches(&long));
    }
}
