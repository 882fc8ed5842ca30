//! Finding kubectl for the kustomize build tests, shared by `crates/kiln/tests/kustomize.rs` and
//! `crates/kiln-cli/tests/experience.rs` (included with `#[path]`).
//!
//! Looked for in `KILN_KUBECTL`, then `kubectl` on PATH, then the cache of
//! `../shared/tools/install-kubectl`. Without it a test says so loudly and passes, unless
//! `KILN_REQUIRE_KUBECTL=1` (CI sets it), which turns a missing kubectl into a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// kubectl, or `None` (after saying loudly that `what` did not run) when it is not installed.
///
/// Panics when `KILN_REQUIRE_KUBECTL=1` and there is no kubectl.
pub fn kubectl_or_skip(what: &str) -> Option<PathBuf> {
    let found = kubectl();
    if found.is_none() {
        if std::env::var("KILN_REQUIRE_KUBECTL").is_ok_and(|v| v == "1") {
            panic!("KILN_REQUIRE_KUBECTL=1 but no kubectl found (install: ../shared/tools/install-kubectl)");
        }
        eprintln!("\n*** SKIPPED: kubectl not found; {what} did not run ***");
        eprintln!("*** install it with ../shared/tools/install-kubectl, or set KILN_KUBECTL ***\n");
    }
    found
}

fn kubectl() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("KILN_KUBECTL") {
        return Some(PathBuf::from(path));
    }
    if Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return Some(PathBuf::from("kubectl"));
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?
        .join("kiln-tools/bin/kubectl");
    cache.is_file().then_some(cache)
}

/// An object's identity: apiVersion, kind, namespace, name.
pub type Key = (String, String, String, String);

pub fn key(o: &Value) -> Key {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    (
        s(&o["apiVersion"]),
        s(&o["kind"]),
        s(&o["metadata"]["namespace"]),
        s(&o["metadata"]["name"]),
    )
}
