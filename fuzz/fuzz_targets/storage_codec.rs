//! libFuzzer entry point; the body is shared with the CI smoke test.
#![no_main]

#[path = "../../tests/fuzz_targets/mod.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::storage_codec::run(data));
