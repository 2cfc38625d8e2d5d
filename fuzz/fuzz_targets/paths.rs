//! Path templates and regex paths against request paths, and the ambiguity guard. Input: the
//! pattern, a newline, the request path.
#![no_main]

use apirule_core::config::model::PathSpec;
use apirule_core::matcher::canonical::ambiguity;
use apirule_core::matcher::path::PathMatcher;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (pattern, path) = text.split_once('\n').unwrap_or((&text, "/"));
    let _ = ambiguity(path);
    for spec in [
        PathSpec::Template(pattern.to_owned()),
        PathSpec::Regex(pattern.to_owned()),
    ] {
        if let Ok(m) = PathMatcher::compile(&spec) {
            let _ = m.matches(path);
        }
    }
});
