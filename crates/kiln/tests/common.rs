//! Shared helpers for the integration tests: where the repository's platforms are.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// (name, directory) of every platform in the repository: the root one, then `examples/*`.
/// The name is the platform's own (`name:` in its kiln.yaml).
pub fn platforms() -> Vec<(String, PathBuf)> {
    let root = repo_root();
    let mut dirs = vec![root.clone()];
    if let Ok(entries) = std::fs::read_dir(root.join("examples")) {
        let mut examples: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.join("kiln.yaml").is_file())
            .collect();
        examples.sort();
        dirs.extend(examples);
    }
    dirs.into_iter()
        .map(|dir| {
            let platform =
                kiln::Platform::load(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            (platform.name, dir)
        })
        .collect()
}

/// Copies a directory tree (fixtures into a temporary directory).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Runs git in `root` as a fixed test identity, without signing; panics if it fails.
pub fn git(root: &Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args([
            "-c",
            "user.name=kiln",
            "-c",
            "user.email=kiln@example.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

/// Commits everything in `root` (an empty commit if nothing changed).
pub fn git_commit(root: &Path, message: &str) {
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "--allow-empty", "-m", message]);
}
