//! Host matching: `:authority` → the APIRule that owns the host.
//!
//! Exact hosts win over wildcards, and a longer wildcard suffix wins over a shorter one, as Envoy
//! picks virtual hosts. A lookup costs one hash probe, plus one per distinct length of the
//! configured wildcard suffixes, whatever the request host (an attacker's `:authority` of
//! thousands of labels must not cost a probe, and a hash of its suffix, per label: that was
//! quadratic in the header's length) and whatever the number of APIRules.

use std::collections::HashMap;

use crate::cache::Quick;

#[derive(Debug, Default)]
pub struct HostIndex {
    /// Keyed by the configuration's hosts only (see [`Quick`]).
    exact: HashMap<String, usize, Quick>,
    /// `*.example.com` is stored under `example.com`.
    wildcard: HashMap<String, usize, Quick>,
    /// The lengths of the keys of `wildcard`, longest first, each once.
    wildcard_lengths: Vec<usize>,
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
        if host.starts_with("*.") {
            // Longest first, each length once; placed by search (a sort here would be the
            // module's only sort of numbers, 4 KB of code).
            let lengths = &mut self.wildcard_lengths;
            if let Err(at) = lengths.binary_search_by(|probe| key.len().cmp(probe)) {
                lengths.insert(at, key.len());
            }
        }
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
        // `*.example.com` matches what follows a dot in the host, the longest such suffix first:
        // only suffixes as long as a configured one can match.
        self.wildcard_lengths.iter().find_map(|&len| {
            let dot = host.len().checked_sub(len)?.checked_sub(1)?;
            if host.as_bytes().get(dot) != Some(&b'.') {
                return None;
            }
            self.wildcard.get(host.get(dot + 1..)?).copied()
        })
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

    /// The same answers as trying every suffix after a dot, longest first (the lookup before it
    /// took only the configured lengths), on hosts built from the index's own labels.
    #[test]
    fn wildcards_by_length_answer_as_every_suffix_would() {
        let mut idx = index();
        assert!(idx.insert("*.com", 3));
        assert!(idx.insert("*.b.c", 4));
        let every_suffix = |host: &str| -> Option<usize> {
            if let Some(id) = idx.exact.get(host) {
                return Some(*id);
            }
            let mut rest = host;
            while let Some(dot) = rest.find('.') {
                rest = &rest[dot + 1..];
                if let Some(id) = idx.wildcard.get(rest) {
                    return Some(*id);
                }
            }
            None
        };
        let labels = ["", "a", "b", "c", "com", "example", "deep", "api", "ü"];
        let mut hosts = vec![String::new()];
        for _ in 0..4 {
            let mut longer = Vec::new();
            for h in &hosts {
                for l in labels {
                    longer.push(if h.is_empty() {
                        l.to_owned()
                    } else {
                        format!("{l}.{h}")
                    });
                }
            }
            hosts.extend(longer);
        }
        for h in &hosts {
            assert_eq!(idx.lookup(h), every_suffix(h), "{h:?}");
        }
        // An attacker's host of many labels costs a probe per configured length, not per label.
        let long = "a.".repeat(30_000) + "example.com";
        assert_eq!(idx.lookup(&long), Some(1));
    }

    /// The wildcard lengths stay longest first and unique whatever order hosts come in.
    #[test]
    fn wildcard_lengths_longest_first() {
        let mut idx = HostIndex::default();
        let mut x: u32 = 7;
        let mut want = Vec::new();
        for id in 0..300 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let len = 1 + (x >> 16) as usize % 40;
            let host = format!("*.{}{id}", "a".repeat(len));
            assert!(idx.insert(&host, id));
            want.push(host.len() - 2);
        }
        want.sort_unstable_by(|a, b| b.cmp(a));
        want.dedup();
        assert_eq!(idx.wildcard_lengths, want);
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
