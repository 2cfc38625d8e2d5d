//! Plugin configuration and APIRule parsing, validation and compilation: any bytes either compile
//! or are refused with an error; nothing panics.
#![no_main]

use apirule_core::compile::compile;
use apirule_core::config::PluginConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(config) = PluginConfig::from_json(data) {
        let _ = compile(&config);
    }
});
