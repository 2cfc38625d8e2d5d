//! Path checks: the CRD patterns, the `{*}`/`{**}` operator rules, and Kyma's v2 path/method
//! conflict check ("ordering rules"), a segment trie per method in which an earlier generic path
//! makes a later, more specific path with a shared method an error.

use std::collections::HashMap;

use super::Failure;

/// The v2 CRD pattern for `rules[].path` (a `-` escaped for regex-lite; same language).
const V2_PATH_PATTERN: &str =
    r"^((/([A-Za-z0-9\-._~!$&'()+,;=:@]|%[0-9a-fA-F]{2})*)|(/\{\*{1,2}\}))+$|^/\*$";
/// As printed by the API server (the CRD's own text).
const V2_PATH_PATTERN_SHOWN: &str =
    r"^((\/([A-Za-z0-9-._~!$&'()+,;=:@]|%[0-9a-fA-F]{2})*)|(\/\{\*{1,2}\}))+$|^\/\*$";
/// The v1beta1 CRD pattern: anchored at the start only.
const V1BETA1_PATH_PATTERN: &str = r"^([0-9a-zA-Z./*()?!\\_-]+)";

/// CRD check of a v2 path; `None` when it passes.
pub fn v2_path_crd(path: &str) -> Option<String> {
    let ok = regex_is_match!(V2_PATH_PATTERN, path);
    (!ok).then(|| format!("Invalid value: {path:?}: should match '{V2_PATH_PATTERN_SHOWN}'"))
}

/// CRD check of a v1beta1 path; `None` when it passes.
pub fn v1beta1_path_crd(path: &str) -> Option<String> {
    let ok = regex_is_match!(V1BETA1_PATH_PATTERN, path);
    (!ok).then(|| format!("Invalid value: {path:?}: should match '{V1BETA1_PATH_PATTERN}'"))
}

/// W22/W23: at most one `{**}`, and no operator after it.
pub fn v2_operators(attr: &str, path: &str) -> Option<Failure> {
    let doubles = path.matches("{**}").count();
    if doubles == 0 {
        return None;
    }
    if doubles > 1 {
        return Some(Failure::new(
            attr,
            "Only one {**} operator is allowed in the path.",
        ));
    }
    let mut after_double = false;
    for segment in path.trim_start_matches('/').split('/') {
        if segment == "{*}" || segment == "{**}" {
            if after_double {
                return Some(Failure::new(
                    attr,
                    "The {**} operator must be the last operator in the path.",
                ));
            }
            after_double = segment == "{**}";
        }
    }
    None
}

/// W24: the first path/method pair that an earlier rule's path already covers.
/// `rules` are (path, methods) in rule order.
pub fn v2_conflict(rules: &[(&str, Vec<&str>)]) -> Option<Failure> {
    // Methods in order of first appearance, so the reported method is deterministic.
    let mut order: Vec<&str> = Vec::new();
    let mut by_method: HashMap<&str, Vec<&str>> = HashMap::new();
    for (path, methods) in rules {
        for m in methods {
            if !by_method.contains_key(m) {
                order.push(m);
            }
            by_method.entry(m).or_default().push(path);
        }
    }
    for method in order {
        let mut trie = Node::default();
        for path in by_method.get(method).into_iter().flatten() {
            let path = if *path == "/*" { "/{**}" } else { *path };
            if trie.insert_and_check(&tokenize(path)) {
                return Some(Failure::new(
                    ".spec.rules",
                    format!(
                        "Path {path} with method {method} conflicts with at least one of the previous rule paths"
                    ),
                ));
            }
        }
    }
    None
}

fn tokenize(path: &str) -> Vec<&str> {
    path.trim_start_matches('/').split('/').collect()
}

fn list_string(tokens: &[&str]) -> String {
    tokens.iter().map(|t| format!("/{t}")).collect()
}

#[derive(Default)]
struct Node {
    end: bool,
    children: HashMap<String, Node>,
    /// On a `{**}` node: what follows `{**}` in each path that passed through it.
    suffixes: Vec<String>,
}

impl Node {
    /// Inserts a path; true when an earlier path already covers it.
    fn insert_and_check(&mut self, tokens: &[&str]) -> bool {
        if tokens.is_empty() {
            return false;
        }
        if !self.children.is_empty() && self.covers(tokens, 0) {
            return true;
        }
        let mut node = self;
        for (i, tok) in tokens.iter().enumerate() {
            let last = i == tokens.len() - 1;
            let child = node.children.entry((*tok).to_owned()).or_default();
            if *tok == "{**}" {
                child.suffixes.push(list_string(&tokens[i + 1..]));
            }
            // Kyma marks only new nodes as ends, so `/a/b`, `/a`, `/a` passes; an exact duplicate
            // is a conflict here whatever came before.
            child.end |= last;
            node = child;
        }
        false
    }

    /// Does an inserted path match `tokens[cur..]`? The new path's operators are literals here.
    fn covers(&self, tokens: &[&str], cur: usize) -> bool {
        let Some(tok) = tokens.get(cur) else {
            return self.end;
        };
        if self
            .children
            .get(*tok)
            .is_some_and(|next| next.covers(tokens, cur + 1))
        {
            return true;
        }
        if self
            .children
            .get("{*}")
            .is_some_and(|next| next.covers(tokens, cur + 1))
        {
            return true;
        }
        if let Some(next) = self.children.get("{**}") {
            for i in cur..=tokens.len() {
                let tail = list_string(&tokens[i..]);
                if next.suffixes.iter().any(|s| s.is_empty() || *s == tail) {
                    return true;
                }
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conflicts(paths: &[&str]) -> Option<String> {
        let rules: Vec<(&str, Vec<&str>)> = paths.iter().map(|p| (*p, vec!["GET"])).collect();
        v2_conflict(&rules).map(|f| f.message)
    }

    #[test]
    fn generic_then_specific_conflicts() {
        assert!(conflicts(&["/abc/{*}", "/abc/def"]).is_some());
        assert!(conflicts(&["/abc/{**}", "/abc/def"]).is_some());
        assert!(conflicts(&["/{**}", "/anything"]).is_some());
        assert!(conflicts(&["/abc/{**}/ghi", "/abc/{*}/ghi"]).is_some());
        assert!(conflicts(&["/abc", "/abc"]).is_some());
        assert!(conflicts(&["/abc/def", "/abc", "/abc"]).is_some());
        assert_eq!(
            conflicts(&["/*", "/x"]),
            Some(
                "Path /x with method GET conflicts with at least one of the previous rule paths"
                    .into()
            )
        );
        assert_eq!(
            conflicts(&["/x", "/*", "/*"]),
            Some(
                "Path /{**} with method GET conflicts with at least one of the previous rule paths"
                    .into()
            ),
            "`/*` is reported as `/{{**}}`"
        );
    }

    #[test]
    fn specific_then_generic_is_fine() {
        assert!(conflicts(&["/abc/def", "/abc/{*}"]).is_none());
        assert!(conflicts(&["/abc", "/abc/{**}"]).is_none());
        assert!(conflicts(&["/abc/", "/abc/{*}"]).is_none());
        assert!(conflicts(&["/abc/{**}/def/ghi", "/abc/{**}/ghi", "/abc/{**}"]).is_none());
        // Kyma's long segment_trie fixture (without its final `/*`).
        assert!(conflicts(&[
            "/anything/one",
            "/anything/one/two",
            "/anything/{*}/one",
            "/anything/{*}/one/{**}/two",
            "/anything/{*}/{*}/two",
            "/anything/{**}/two",
            "/anything/",
            "/anything/{**}",
            "/one/{**}/two",
            "/{**}/one",
        ])
        .is_none());
    }

    #[test]
    fn disjoint_methods_do_not_conflict() {
        let rules = vec![("/abc", vec!["GET"]), ("/abc", vec!["POST"])];
        assert!(v2_conflict(&rules).is_none());
        let rules = vec![("/abc", vec!["GET", "PUT"]), ("/abc", vec!["POST", "PUT"])];
        assert_eq!(
            v2_conflict(&rules).map(|f| f.message),
            Some(
                "Path /abc with method PUT conflicts with at least one of the previous rule paths"
                    .into()
            )
        );
    }

    #[test]
    fn operators() {
        assert!(v2_operators("p", "/a/{**}").is_none());
        assert!(v2_operators("p", "/a/{*}/{**}").is_none());
        assert_eq!(
            v2_operators("p", "/{**}/{**}").map(|f| f.message),
            Some("Only one {**} operator is allowed in the path.".into())
        );
        assert_eq!(
            v2_operators("p", "/{**}/{*}").map(|f| f.message),
            Some("The {**} operator must be the last operator in the path.".into())
        );
    }

    #[test]
    fn crd_patterns() {
        for ok in [
            "/", "/*", "/abc", "/a/{*}/b", "/{**}", "/a%20b", "/a:b@c", "//x",
        ] {
            assert!(v2_path_crd(ok).is_none(), "{ok}");
        }
        for bad in ["/a/*", "/.*", "*", "/a?b", "/a b", "abc", "/a{*}", "/{***}"] {
            assert!(v2_path_crd(bad).is_some(), "{bad}");
        }
        assert!(v1beta1_path_crd("/.*").is_none());
        assert!(v1beta1_path_crd("/headers").is_none());
        assert!(v1beta1_path_crd("").is_some());
        assert!(v1beta1_path_crd("[x]").is_some());
    }
}
