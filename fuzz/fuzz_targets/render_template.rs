//! A template from the fuzzer, rendered as the `mini` platform's `web/deployment.yaml.j2`: kiln
//! must answer with a tree or an error, never a panic, a hang or unbounded memory, and whatever
//! it renders must read back as the objects it reports.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "mini.rs"]
mod mini;

fuzz_target!(|data: &[u8]| {
    let Ok(template) = std::str::from_utf8(data) else {
        return;
    };
    let sources = mini::sources(None, Some(template));
    let platform = kiln::resolve(&sources).expect("the mini platform resolves");
    if let Ok(rendered) = kiln::render(&platform) {
        mini::check_rendered(&rendered);
    }
});
