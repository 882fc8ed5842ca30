//! Text from the fuzzer, read as template output (`kiln::yaml::parse_values`): kiln must answer
//! with values or an error, never a panic or a hang. Built with debug assertions (`cargo fuzz
//! run -a read_values`), every text the fast line reader accepts is also read by the full
//! parser, and the two must agree.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = kiln::yaml::parse_values(text, std::path::Path::new("fuzz.yaml"));
});
