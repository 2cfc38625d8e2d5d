//! HTTP methods as a bit set: a rule's methods are checked with one AND on the request path.

/// The methods an APIRule may list (the CRD's `HttpMethod` enum), in the CRD's order.
pub const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MethodSet(u16);

impl MethodSet {
    pub const ALL: MethodSet = MethodSet((1 << METHODS.len()) - 1);

    /// The bit of a method name; exact and case-sensitive, as Envoy's `^(GET|POST)$` header match.
    pub fn bit(method: &str) -> Option<u16> {
        METHODS.iter().position(|m| *m == method).map(|i| 1 << i)
    }

    pub fn insert(&mut self, method: &str) -> bool {
        match Self::bit(method) {
            Some(bit) => {
                self.0 |= bit;
                true
            }
            None => false,
        }
    }

    pub fn contains(self, method: &str) -> bool {
        Self::bit(method).is_some_and(|bit| self.0 & bit != 0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn names(self) -> impl Iterator<Item = &'static str> {
        METHODS
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, m)| *m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_case_sensitive() {
        let mut set = MethodSet::default();
        assert!(set.insert("GET"));
        assert!(!set.insert("get"));
        assert!(!set.insert("PROPFIND"));
        assert!(set.contains("GET"));
        assert!(!set.contains("HEAD"), "HEAD is not GET, as in Istio");
        assert!(!set.contains("get"));
        assert_eq!(MethodSet::ALL.names().count(), 9);
    }
}
