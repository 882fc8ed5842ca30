//! The library's layering, checked on its source (as rust-analyzer's tidy tests guard their
//! repository): every module names only modules of lower layers, and the invariants that are
//! absences ("lint never starts a render", "the pure middle does no IO") hold. A new import
//! against the direction fails here with the file, the line and what to do instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Layers from the bottom. A module may name modules of lower layers only; modules of one
/// layer do not know each other. ARCHITECTURE.md ("Layers") says why each sits where it does.
const LAYERS: &[&[&str]] = &[
    &["error"],
    &["par", "yaml"],
    &["fieldpath", "model", "load"],
    &["object", "tag", "crd", "chart", "patch"],
    &["resolve"],
    &["render"],
    &[
        "lint", "diff", "explain", "write", "git", "edit", "scaffold",
    ],
    &["release"],
    &["workflow"],
    &["present"],
];

/// Modules that may touch the file system or start processes: IO stays at the edges.
const IO_MODULES: &[&str] = &[
    "load", "git", "write", "edit", "scaffold", "chart", "workflow",
];

/// Names a module must never use, whatever its layer, with the reason.
const ABSENCES: &[(&str, &str, &str)] = &[
    (
        "lint",
        "render_each",
        "lint receives rendered files; `workflow` starts renders",
    ),
    (
        "lint",
        "render::render",
        "lint receives rendered files; `workflow` starts renders",
    ),
    (
        "render",
        "lint",
        "render knows nothing about lint: it returns files with their origin",
    ),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file below `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The top-level module a file belongs to: `lint/policy.rs` -> `lint`.
fn module_of(rel: &Path) -> String {
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

/// The code lines of a file, numbered, without comments and without its unit tests (which
/// may use anything to set up a case).
fn code_lines(text: &str) -> Vec<(usize, &str)> {
    text.lines()
        .enumerate()
        .take_while(|(_, l)| l.trim() != "#[cfg(test)]")
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l))
        .collect()
}

/// The crate modules a line names: `crate::a::b`, `use crate::{a, b::c}`.
fn named_modules(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name = part.trim().split("::").next().unwrap_or_default();
                if !name.is_empty() {
                    out.push(name.to_owned());
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            out.push(name);
        }
    }
    out
}

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// Each violation: `file:line: message`.
fn violations(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for path in rust_files(root) {
        let rel = path.strip_prefix(root).unwrap();
        let module = module_of(rel);
        // The crate root, and unit-test modules kept in their own file (`#[cfg(test)] mod
        // tests;`), which may use anything to set up a case.
        if module == "lib" || rel.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let Some(own) = layer(&module) else {
            out.push(format!(
                "{}: module `{module}` has no layer: add it to LAYERS in tests/layers.rs and to ARCHITECTURE.md",
                rel.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in code_lines(&text) {
            let at = format!("{}:{n}", rel.display());
            for name in named_modules(line) {
                if name == module {
                    continue;
                }
                match layer(&name) {
                    // Items of the crate root (`crate::Result`, `crate::load(..)` re-exports).
                    None => {}
                    Some(theirs) if theirs < own => {}
                    Some(_) => out.push(format!(
                        "{at}: `{module}` names `{name}`, which is not below it; move the shared \
                         piece down (see ARCHITECTURE.md, Layers)"
                    )),
                }
            }
            for (who, needle, why) in ABSENCES {
                if *who == module && line.contains(needle) {
                    out.push(format!("{at}: `{module}` names `{needle}`: {why}"));
                }
            }
            let io = ["std::fs", "std::process", "Command::new", "File::open"];
            if !IO_MODULES.contains(&module.as_str()) && io.iter().any(|s| line.contains(s)) {
                out.push(format!(
                    "{at}: `{module}` does IO; only {} may (IO at the edges)",
                    IO_MODULES.join(", ")
                ));
            }
        }
    }
    out
}

#[test]
fn modules_import_only_downwards() {
    let found = violations(&src());
    assert!(
        found.is_empty(),
        "layering violations:\n{}",
        found.join("\n")
    );
}

#[test]
fn every_layer_is_a_module() {
    let modules: BTreeMap<String, ()> = rust_files(&src())
        .iter()
        .map(|p| (module_of(p.strip_prefix(src()).unwrap()), ()))
        .collect();
    for name in LAYERS.iter().flat_map(|l| l.iter()) {
        assert!(
            modules.contains_key(*name),
            "LAYERS names `{name}`, which is not a module"
        );
    }
}

/// The check itself: a copy of the sources with one forbidden import fails, naming the line.
#[test]
fn a_forbidden_import_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    for path in rust_files(&src()) {
        let rel = path.strip_prefix(src()).unwrap();
        let to = tmp.path().join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&path, &to).unwrap();
    }
    assert!(violations(tmp.path()).is_empty());
    for (file, line, want) in [
        (
            "render.rs",
            "use crate::lint::LintReport;\n",
            "render.rs:1: `render` names `lint`, which is not below it",
        ),
        (
            "model/mod.rs",
            "use crate::{error::Error, resolve::Platform};\n",
            "model/mod.rs:1: `model` names `resolve`, which is not below it",
        ),
        ("diff.rs", "use std::fs;\n", "diff.rs:1: `diff` does IO"),
    ] {
        let path = tmp.path().join(file);
        let original = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{line}{original}")).unwrap();
        let found = violations(tmp.path());
        assert!(
            found.iter().any(|v| v.starts_with(want)),
            "adding `{}` to {file} was not caught: {found:?}",
            line.trim()
        );
        std::fs::write(&path, original).unwrap();
    }
}
