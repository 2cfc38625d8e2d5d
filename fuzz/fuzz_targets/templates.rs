//! Oathkeeper mutator templates (Go text/template subset) and Envoy command operators.
#![no_main]

use apirule_core::mutate::{gotemplate::Template, operators};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Template::parse(text);
        let _ = operators::Value::parse(text);
    }
});
