//! An environment file from the fuzzer, parsed and resolved against the `mini` platform (and
//! rendered when it resolves): kiln must answer with a value or an error, never a panic, a hang
//! or unbounded memory. A parsed document must survive kiln's emitter unchanged.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

#[path = "mini.rs"]
mod mini;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(docs) = kiln::yaml::parse_documents(text, Path::new("environments/prod.yaml")) {
        for doc in docs {
            let value = doc.to_json();
            let mut out = String::new();
            kiln::yaml::emit_document(&value, &mut out);
            let again = kiln::yaml::parse_document(&out, Path::new("emitted.yaml"))
                .unwrap_or_else(|e| panic!("emitted YAML does not read back: {e}\n{out}"));
            assert_eq!(again.to_json(), value, "emitted YAML reads back differently:\n{out}");
        }
    }
    let sources = mini::sources(Some(text), None);
    if let Ok(platform) = kiln::resolve(&sources) {
        if let Ok(rendered) = kiln::render(&platform) {
            mini::check_rendered(&rendered);
        }
    }
});
