//! The request as the core sees it, and how its parts are read: header values, query
//! parameters, cookies. The bottom of the decision: every strategy reads requests through here,
//! and this module imports nothing above it.

use std::borrow::Cow;

/// The parts of a request the decision reads. Borrowed from the shell; nothing is copied.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `:authority` as received (port and case are normalised here).
    pub authority: &'a str,
    pub method: &'a str,
    /// `:path` as received, query included.
    pub path: &'a str,
    /// `:scheme`, for `WWW-Authenticate` realms.
    pub scheme: &'a str,
    /// All request headers but the pseudo-headers, which are the fields above (lower-case names,
    /// repeated headers repeated). The shell reads them only when the matched rule needs them;
    /// empty otherwise.
    pub headers: &'a HeaderList,
    /// Names (lower case) of headers whose value was not UTF-8. `headers` holds those values
    /// decoded lossily, so they can be found, but they are never copied anywhere (a mutator or
    /// an authorizer would get other bytes than the client sent) and never taken as an origin.
    pub non_utf8: &'a [String],
    /// `source.address` and `request.protocol`, for mutators (empty unless they are needed).
    pub remote_address: &'a str,
    pub protocol: &'a str,
    /// The client sent `x-envoy-upstream-rq-timeout-ms` (known whether or not `headers` were
    /// read): where the routes set the timeout, the filter must still overwrite the client's.
    pub sent_upstream_timeout: bool,
}

static NO_HEADERS: HeaderList = HeaderList::new();

impl Default for Request<'_> {
    fn default() -> Self {
        Request {
            authority: "",
            method: "",
            path: "",
            scheme: "",
            headers: &NO_HEADERS,
            non_utf8: &[],
            remote_address: "",
            protocol: "",
            sent_upstream_timeout: false,
        }
    }
}

/// A request's headers (pseudo-headers aside) as one text and the place of each name and value
/// in it, in the order received, repeated names repeated. The shell hands over the host's buffer
/// as it came (one allocation for the whole map, none per header) with [`HeaderList::over`];
/// where that buffer is not all text, and in tests and the CLI, one is built with
/// [`HeaderList::push`].
#[derive(Clone, Default)]
pub struct HeaderList {
    text: String,
    /// (name start, name end, value start, value end) in `text`, each on a character boundary.
    spans: Vec<[usize; 4]>,
}

impl HeaderList {
    pub const fn new() -> HeaderList {
        HeaderList {
            text: String::new(),
            spans: Vec::new(),
        }
    }

    /// A list over `text` as the shell read it, with the spans of each (name, value) in it,
    /// pseudo-headers left out; both handed back when a span is not a slice of `text` (off its
    /// end, or inside a character), for the shell to read the pairs another way.
    pub fn over(
        text: String,
        mut spans: Vec<[usize; 4]>,
    ) -> Result<HeaderList, (String, Vec<[usize; 4]>)> {
        let fits = |a: usize, b: usize| text.get(a..b).is_some();
        if !spans.iter().all(|&[a, b, c, d]| fits(a, b) && fits(c, d)) {
            return Err((text, spans));
        }
        // The name itself: an empty one is followed by a separator the host may have set to ':'.
        spans.retain(|&[a, b, ..]| !text.get(a..b).is_some_and(|n| n.starts_with(':')));
        Ok(HeaderList { text, spans })
    }

    /// The list of these pairs, in this order.
    pub fn of<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> HeaderList {
        let mut list = HeaderList::new();
        for (k, v) in pairs {
            list.push(k.as_ref(), v.as_ref());
        }
        list
    }

    pub fn push(&mut self, name: &str, value: &str) {
        let a = self.text.len();
        self.text.push_str(name);
        let b = self.text.len();
        self.text.push_str(value);
        self.spans.push([a, b, b, self.text.len()]);
    }

    /// Every (name, value), in the order received.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + Clone + '_ {
        // `over` and `push` made every span a slice of `text`.
        self.spans.iter().map(|&[a, b, c, d]| {
            (
                self.text.get(a..b).unwrap_or_default(),
                self.text.get(c..d).unwrap_or_default(),
            )
        })
    }

    /// Every value of `name` (any case): names compared as bytes, only matches sliced as text.
    pub fn values<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a str> + Clone + use<'a, 'n> {
        let bytes = self.text.as_bytes();
        self.spans
            .iter()
            .filter(move |&&[a, b, ..]| {
                bytes
                    .get(a..b)
                    .is_some_and(|k| k.eq_ignore_ascii_case(name.as_bytes()))
            })
            .map(|&[.., c, d]| self.text.get(c..d).unwrap_or_default())
    }

    /// The pairs, owned (a test's expectation).
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        self.iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }
}

/// The pairs only: the rest of the shell's buffer holds the pseudo-headers, and `:path` may
/// carry a token in its query.
impl std::fmt::Debug for HeaderList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The same pairs in the same order, wherever they sit in the text.
impl PartialEq for HeaderList {
    fn eq(&self, other: &HeaderList) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for HeaderList {}

impl From<HeaderList> for Vec<(String, String)> {
    fn from(list: HeaderList) -> Self {
        list.to_pairs()
    }
}

/// A request kept while it waits for keys or a call's answer.
#[derive(Debug, Clone, Default)]
pub struct OwnedRequest {
    pub authority: String,
    pub method: String,
    pub path: String,
    pub scheme: String,
    pub headers: HeaderList,
    pub non_utf8: Vec<String>,
    pub remote_address: String,
    pub protocol: String,
    pub sent_upstream_timeout: bool,
    /// When the request arrived (it waits for at most one key refetch after that).
    pub start_ms: u64,
}

impl OwnedRequest {
    pub fn of(req: &Request<'_>, start_ms: u64) -> OwnedRequest {
        OwnedRequest {
            authority: req.authority.to_owned(),
            method: req.method.to_owned(),
            path: req.path.to_owned(),
            scheme: req.scheme.to_owned(),
            headers: req.headers.clone(),
            non_utf8: req.non_utf8.to_vec(),
            remote_address: req.remote_address.to_owned(),
            protocol: req.protocol.to_owned(),
            sent_upstream_timeout: req.sent_upstream_timeout,
            start_ms,
        }
    }

    pub fn view(&self) -> Request<'_> {
        Request {
            authority: &self.authority,
            method: &self.method,
            path: &self.path,
            scheme: &self.scheme,
            headers: &self.headers,
            non_utf8: &self.non_utf8,
            remote_address: &self.remote_address,
            protocol: &self.protocol,
            sent_upstream_timeout: self.sent_upstream_timeout,
        }
    }
}

/// The path without its query or fragment.
pub fn path_without_query(path: &str) -> &str {
    // A byte search: both are ASCII, so the cut is on a character boundary (`find` with a
    // character set costs four times as much, and this runs twice per request).
    match path.bytes().position(|b| b == b'?' || b == b'#') {
        Some(end) => path.get(..end).unwrap_or(path),
        None => path,
    }
}

/// Every value of a header (names compared case-insensitively; Envoy lower-cases them anyway).
pub fn header_values<'a, 'n>(
    headers: &'a HeaderList,
    name: &'n str,
) -> impl Iterator<Item = &'a str> + Clone + use<'a, 'n> {
    headers.values(name)
}

/// The first value of a header as the proxy's header map answers it (`proxy_get_header_map_value`):
/// the pseudo-headers are the request line's fields, the rest come from `headers`. A RateLimit
/// bucket keyed on `:method` or `:path` finds them here as the filter finds them in Envoy.
pub fn first_header<'a>(req: &Request<'a>, name: &str) -> Option<&'a str> {
    match name {
        ":authority" => Some(req.authority),
        ":method" => Some(req.method),
        ":path" => Some(req.path),
        ":scheme" => Some(req.scheme),
        _ => header_values(req.headers, name).next(),
    }
}

/// Every value of a query parameter, percent-decoded (`+` is a space, as in forms).
pub fn query_values<'a, 'n>(path: &'a str, name: &'n str) -> QueryValues<'a, 'n> {
    let query = path.split_once('?').map_or("", |(_, q)| q);
    let query = query.split('#').next().unwrap_or("");
    QueryValues {
        pairs: query.split('&'),
        name,
    }
}

pub struct QueryValues<'a, 'n> {
    pairs: std::str::Split<'a, char>,
    name: &'n str,
}

impl<'a> Iterator for QueryValues<'a, '_> {
    type Item = Cow<'a, str>;
    fn next(&mut self) -> Option<Cow<'a, str>> {
        for pair in self.pairs.by_ref() {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if percent_decode(k) == self.name {
                return Some(percent_decode(v));
            }
        }
        None
    }
}

/// The first value of a cookie, read as Go's `Request.Cookie` reads it (Oathkeeper's
/// `token_from.cookie`): malformed parts are skipped, not guessed at.
pub fn cookie_value<'a>(headers: &'a HeaderList, name: &str) -> Option<&'a str> {
    crate::headers::parse_cookies(header_values(headers, "cookie"))
        .into_iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Percent-decoding for what is only compared or checked (keys, tokens): bytes that are not
/// UTF-8 become U+FFFD, which no real key or token contains.
pub fn percent_decode(s: &str) -> Cow<'_, str> {
    match percent_decode_bytes(s) {
        Cow::Borrowed(_) => Cow::Borrowed(s),
        Cow::Owned(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

/// Percent-decoding for what is copied on: `None` when the bytes are not UTF-8 (copying a lossy
/// spelling would send other bytes than the client sent).
pub fn percent_decode_exact(s: &str) -> Option<Cow<'_, str>> {
    match percent_decode_bytes(s) {
        Cow::Borrowed(_) => Some(Cow::Borrowed(s)),
        Cow::Owned(bytes) => String::from_utf8(bytes).ok().map(Cow::Owned),
    }
}

/// The first value of a query parameter, decoded exactly; `Err` when it is not UTF-8.
pub fn query_value_exact(path: &str, name: &str) -> Result<Option<String>, String> {
    let query = path.split_once('?').map_or("", |(_, q)| q);
    let query = query.split('#').next().unwrap_or("");
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if percent_decode(k) == name {
            return match percent_decode_exact(v) {
                Some(v) => Ok(Some(v.into_owned())),
                None => Err(format!("query parameter {name} is not UTF-8; not copied")),
            };
        }
    }
    Ok(None)
}

fn percent_decode_bytes(s: &str) -> Cow<'_, [u8]> {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(s.as_bytes());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() && hex(b[i + 1]).is_some() && hex(b[i + 2]).is_some() => {
                out.push(hex(b[i + 1]).unwrap_or(0) * 16 + hex(b[i + 2]).unwrap_or(0));
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    Cow::Owned(out)
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> HeaderList {
        HeaderList::of(pairs)
    }

    #[test]
    fn extraction() {
        let hs = h(&[
            ("authorization", "Bearer a"),
            ("Authorization", "Bearer b"),
            ("cookie", "x=1; tok=\"abc\"; y=2"),
        ]);
        assert_eq!(
            header_values(&hs, "authorization").collect::<Vec<_>>(),
            ["Bearer a", "Bearer b"]
        );
        assert_eq!(cookie_value(&hs, "tok"), Some("abc"));
        assert_eq!(cookie_value(&hs, "z"), None);
        let q: Vec<_> =
            query_values("/p?access_token=a%2Eb&x=1&access_token=c", "access_token").collect();
        assert_eq!(q, ["a.b", "c"]);
        assert_eq!(query_values("/p", "access_token").count(), 0);
        assert_eq!(percent_decode("a%zz%4"), "a%zz%4");
    }

    /// Pseudo-headers come from the request line, as the proxy's map has them; the rest from the
    /// header list, first value, any case.
    #[test]
    fn first_header_answers_as_the_proxys_map() {
        let hs = h(&[("x-plan", "basic"), ("X-Plan", "gold")]);
        let req = Request {
            authority: "a.dev",
            method: "POST",
            path: "/p?q",
            scheme: "https",
            headers: &hs,
            ..Request::default()
        };
        assert_eq!(first_header(&req, ":method"), Some("POST"));
        assert_eq!(first_header(&req, ":path"), Some("/p?q"));
        assert_eq!(first_header(&req, ":authority"), Some("a.dev"));
        assert_eq!(first_header(&req, ":scheme"), Some("https"));
        assert_eq!(first_header(&req, "X-PLAN"), Some("basic"));
        assert_eq!(first_header(&req, ":protocol"), None);
        assert_eq!(first_header(&req, "host"), None);
    }

    /// A list over a shell's buffer takes only spans that are slices of it; pairs read back in
    /// order, repeated names repeated, as pushed ones do; pseudo-headers are left out.
    #[test]
    fn a_header_list_reads_its_spans_and_refuses_others() {
        let text = "  x-a\0caf\u{e9}\0x-a\0b\0:path\0/\0".to_owned();
        let spans = vec![[2, 5, 6, 11], [12, 15, 16, 17], [18, 23, 24, 25]];
        let list = HeaderList::over(text.clone(), spans);
        let list = list.unwrap_or_else(|_| unreachable!("the spans fit"));
        assert_eq!(
            header_values(&list, "X-A").collect::<Vec<_>>(),
            ["caf\u{e9}", "b"]
        );
        assert_eq!(
            list.to_pairs(),
            HeaderList::of(&[("x-a", "caf\u{e9}"), ("x-a", "b")]).to_pairs()
        );
        for bad in [[2, 5, 6, 10], [2, 5, 6, 99], [5, 2, 6, 11], [2, 5, 11, 6]] {
            assert_eq!(
                HeaderList::over(text.clone(), vec![bad]).err(),
                Some((text.clone(), vec![bad])),
                "{bad:?}"
            );
        }
    }

    /// The same cut as a search for either character, on paths with multi-byte characters.
    #[test]
    fn path_without_query_cuts_at_the_first_question_mark_or_hash() {
        for path in [
            "", "/", "/a?b", "/a#b?c", "/a?b#c", "?", "#", "/ä?ö", "/€#", "/日本", "/x?",
        ] {
            let end = path.find(['?', '#']).unwrap_or(path.len());
            assert_eq!(path_without_query(path), &path[..end], "{path}");
        }
    }
}
