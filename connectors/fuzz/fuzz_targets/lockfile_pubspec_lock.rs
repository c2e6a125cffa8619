#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| trustloop_fuzz::lockfile(
    trustloop_formats::lockfile::Kind::PubspecLock,
    data
));
