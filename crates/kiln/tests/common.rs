//! Shared helpers for the integration tests: where the repository's platforms are.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// (name, directory) of every platform in the repository: the root one, then `examples/*`.
pub fn platforms() -> Vec<(String, PathBuf)> {
    let root = repo_root();
    let mut out = vec![("hansenexus".to_owned(), root.clone())];
    if let Ok(entries) = std::fs::read_dir(root.join("examples")) {
        let mut examples: Vec<(String, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .filter(|(_, p)| p.join("kiln.yaml").is_file())
            .collect();
        examples.sort();
        out.extend(examples);
    }
    out
}
