//! libFuzzer entry for [`sparsek_fuzz::expect`]; built by `qemu/fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sparsek_fuzz::expect(data));
