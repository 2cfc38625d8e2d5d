//! Host matching: `:authority` → the APIRule that owns the host.
//!
//! Exact hosts win over wildcards, and a longer wildcard suffix wins over a shorter one, as Envoy
//! picks virtual hosts. Lookups cost one hash probe per label of the request host, whatever the
//! number of APIRules.

use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct HostIndex {
    exact: HashMap<String, usize>,
    /// `*.example.com` is stored under `example.com`.
    wildcard: HashMap<String, usize>,
}

impl HostIndex {
    /// Registers `host` (already lower case) for entry `id`. Returns false when it was taken.
    pub fn insert(&mut self, host: &str, id: usize) -> bool {
        let (map, key) = match host.strip_prefix("*.") {
            Some(suffix) => (&mut self.wildcard, suffix),
            None => (&mut self.exact, host),
        };
        if map.contains_key(key) {
            return false;
        }
        map.insert(key.to_owned(), id);
        true
    }

    pub fn contains(&self, host: &str) -> bool {
        match host.strip_prefix("*.") {
            Some(suffix) => self.wildcard.contains_key(suffix),
            None => self.exact.contains_key(host),
        }
    }

    /// The entry for a normalised request host (see [`normalize_authority`]).
    pub fn lookup(&self, host: &str) -> Option<usize> {
        if let Some(id) = self.exact.get(host) {
            return Some(*id);
        }
        if self.wildcard.is_empty() {
            return None;
        }
        // `*.example.com` needs at least one label before the suffix: try every suffix after a dot,
        // longest first.
        let mut rest = host;
        while let Some(dot) = rest.find('.') {
            rest = &rest[dot + 1..];
            if let Some(id) = self.wildcard.get(rest) {
                return Some(*id);
            }
        }
        None
    }
}

/// `:authority` → host for matching: port dropped, one trailing dot dropped, lower case.
/// Borrows when the header is already in normal form (the common case), so the request path does
/// not allocate.
pub fn normalize_authority(authority: &str) -> std::borrow::Cow<'_, str> {
    let host = strip_port(authority);
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(host.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(host)
    }
}

fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        // IPv6 literal: `[::1]:8080`.
        return match authority.find(']') {
            Some(end) => &authority[..=end],
            None => authority,
        };
    }
    match authority.rfind(':') {
        Some(colon) if authority[colon + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            &authority[..colon]
        }
        _ => authority,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> HostIndex {
        let mut idx = HostIndex::default();
        assert!(idx.insert("api.example.com", 0));
        assert!(idx.insert("*.example.com", 1));
        assert!(idx.insert("*.deep.example.com", 2));
        idx
    }

    #[test]
    fn exact_beats_wildcard_and_longest_wildcard_wins() {
        let idx = index();
        assert_eq!(idx.lookup("api.example.com"), Some(0));
        assert_eq!(idx.lookup("other.example.com"), Some(1));
        assert_eq!(idx.lookup("a.b.example.com"), Some(1));
        assert_eq!(idx.lookup("x.deep.example.com"), Some(2));
        assert_eq!(
            idx.lookup("example.com"),
            None,
            "a wildcard needs one label"
        );
        assert_eq!(idx.lookup("example.org"), None);
    }

    #[test]
    fn duplicates_are_refused() {
        let mut idx = index();
        assert!(!idx.insert("api.example.com", 5));
        assert!(!idx.insert("*.example.com", 5));
    }

    #[test]
    fn authority_normalisation() {
        assert_eq!(
            normalize_authority("API.Example.com:443"),
            "api.example.com"
        );
        assert_eq!(normalize_authority("api.example.com."), "api.example.com");
        assert_eq!(
            normalize_authority("api.example.com.:80"),
            "api.example.com"
        );
        assert_eq!(normalize_authority("[::1]:8080"), "[::1]");
        assert_eq!(normalize_authority("host:notaport"), "host:notaport");
        assert!(matches!(
            normalize_authority("plain.example.com"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
