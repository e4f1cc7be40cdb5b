#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| advisor_engine_fuzz::avro_schema(data));
