//! Any bytes, as (lossy) UTF-8 scenario text, parsed and validated against
//! the bundled apps: parsed or rejected with placed diagnostics, no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| hilt_fuzzing::fuzz_scenario_parser(data));
