#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| trustloop_fuzz::feed_document(data));
