#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| trustloop_fuzz::sbom_spdx_tag_value(data));
