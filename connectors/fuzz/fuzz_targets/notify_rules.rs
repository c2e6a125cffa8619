#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| trustloop_fuzz::notify_rules(data));
