//! Finding helm for the chart tests (`crates/kiln/tests/charts.rs`), after the pattern of
//! `support/kubectl.rs`.
//!
//! Looked for in `KILN_HELM`, then `helm` on PATH, then the cache of
//! `../shared/tools/install-kubectl` (which installs helm beside kubectl). Without it a test says
//! so loudly and passes, unless `KILN_REQUIRE_KUBECTL=1` (CI sets it), which turns a missing
//! helm into a failure.

use std::path::{Path, PathBuf};

/// helm's absolute path, or `None` (after saying loudly that `what` did not run) when it is not
/// installed.
///
/// Panics when `KILN_REQUIRE_KUBECTL=1` and there is no helm.
pub fn helm_or_skip(what: &str) -> Option<PathBuf> {
    let found = helm();
    if found.is_none() {
        if std::env::var("KILN_REQUIRE_KUBECTL").is_ok_and(|v| v == "1") {
            panic!("KILN_REQUIRE_KUBECTL=1 but no helm found (install: ../shared/tools/install-kubectl)");
        }
        eprintln!("\n*** SKIPPED: helm not found; {what} did not run ***");
        eprintln!("*** install it with ../shared/tools/install-kubectl, or set KILN_HELM ***\n");
    }
    found
}

fn helm() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("KILN_HELM") {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("helm"))
            .find(|p| p.is_file())
    });
    if on_path.is_some() {
        return on_path;
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?
        .join("kiln-tools/bin/helm");
    cache.is_file().then_some(cache)
}
