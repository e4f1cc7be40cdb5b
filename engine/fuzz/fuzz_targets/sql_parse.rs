#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| advisor_engine_fuzz::sql_parse(data));
