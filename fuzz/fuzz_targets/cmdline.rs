//! libFuzzer entry for [`sparsek_fuzz::cmdline`]; built by `qemu/fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sparsek_fuzz::cmdline(data));
