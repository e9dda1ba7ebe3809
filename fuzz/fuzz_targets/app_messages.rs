//! Any bytes, as a script (crates/hilt-fuzzing/src/input.rs) that picks a
//! reference app and drives its firmware node with broker packets, link
//! drops, resets, part changes and virtual time: no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| hilt_fuzzing::fuzz_app_messages(data));
