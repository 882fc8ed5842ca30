//! kiln renders a Kubernetes platform described as data (`kiln.yaml`, `environments/`,
//! `templates/`) into a committed, standalone, plain-YAML kustomize tree, and guards that tree.
//!
//! The pipeline, IO only at its ends:
//!
//! ```text
//! load (read files) -> resolve (model, layers) -> render (templates, layout) -> write | check
//! ```
//!
//! ```no_run
//! let platform = kiln::Platform::load(std::path::Path::new("."))?;
//! let rendered = kiln::render(&platform)?;
//! kiln::write_tree(&platform.output_root(), &rendered, &Default::default())?;
//! # Ok::<(), kiln::Error>(())
//! ```

mod diff;
mod error;
mod git;
mod load;
mod model;
mod render;
mod resolve;
mod write;
pub mod yaml;

use std::path::{Path, PathBuf};

pub use diff::{
    affected, diff, to_markdown, to_text, Affected, AffectedApp, ChangeKind, Diff, EnvDiff,
    FieldChange, ImageChange, ObjectChange, GITHUB_COMMENT_LIMIT,
};
pub use error::{Error, ErrorKind, Location, Result};
pub use git::resolve_rev;
pub use load::{load, SourceFile, Sources};
pub use model::{check_dns_label, Channel, Cluster, EnvState, Workload};
pub use render::{app_context, render, Rendered, RenderedFile, GENERATED_MARKER};
pub use resolve::{
    derive, resolve, BundleUnit, CatalogueApp, Component, Derived, Environment, NotDeployed, Pdb,
    Platform, Source,
};
pub use write::{
    check_tree, format_drift, read_tree, write_tree, DiskTree, Drift, WriteOptions, WriteReport,
};

impl Platform {
    /// Reads and resolves the platform in `root`.
    pub fn load(root: &Path) -> Result<Platform> {
        resolve(&load(root)?)
    }

    /// Where the rendered tree lives.
    pub fn output_root(&self) -> PathBuf {
        self.root.join(&self.output)
    }

    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.name == name)
    }
}

/// Renders the platform at `root` as it is in git revision `rev` (read from git's object
/// store; the working tree is not touched). A revision without the platform renders empty.
pub fn render_at(root: &Path, rev: &str) -> Result<Rendered> {
    match git::load_at(root, rev)? {
        Some(sources) => render(&resolve(&sources)?),
        None => Ok(Rendered::default()),
    }
}
