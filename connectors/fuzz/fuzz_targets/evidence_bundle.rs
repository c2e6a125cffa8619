#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| trustloop_fuzz::evidence_bundle(data));
