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

#![warn(missing_docs)]

pub mod chart;
mod crd;
pub mod diff;
mod edit;
mod error;
pub mod explain;
mod fieldpath;
mod git;
pub mod lint;
mod load;
pub mod model;
mod object;
mod par;
mod patch;
pub mod present;
mod release;
mod render;
mod resolve;
mod scaffold;
pub mod tag;
mod workflow;
mod write;
pub mod yaml;

use std::path::{Path, PathBuf};

pub use diff::{affected, diff, Diff};
pub use error::{Error, ErrorKind, Location, Result};
pub use explain::{envs, explain, Explanation, Query};
pub use git::Ignored;
pub use load::{load, SourceFile, Sources};
pub use release::{plan_promote, plan_set_image, Skipped, TagChange, TagPlan};
pub use render::{FileOrigin, Rendered, RenderedFile, GENERATED_MARKER};
pub use resolve::{resolve, Component, Environment, Platform};
pub use scaffold::{init, InitReport, DEFAULT_PLATFORM_NAME, SCAFFOLD};
pub use semver::Version;
pub use workflow::{
    apply_plan, check, diff_revisions, diff_revisions_with, lint_platform, render, render_and_lint,
    render_at, render_to_disk, vendor_chart, verify_charts, Checked, Rendering,
};
pub use write::{check_tree, write_tree, Drift, WriteOptions, WriteReport};

impl Platform {
    /// Reads and resolves the platform in `root`.
    pub fn load(root: &Path) -> Result<Platform> {
        resolve(&load(root)?)
    }

    /// Where the rendered tree lives.
    pub fn output_root(&self) -> PathBuf {
        self.root.join(&self.output)
    }

    /// The environment called `name`; `None` when there is none.
    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.name == name)
    }

    /// [`Platform::environment`], or an error that lists the environments there are.
    pub fn environment_or_err(&self, name: &str) -> Result<&Environment> {
        self.environment(name).ok_or_else(|| {
            let known: Vec<&str> = self.environments.iter().map(|e| e.name.as_str()).collect();
            Error::new(
                ErrorKind::Model,
                format!(
                    "no environment `{name}` (environments: {})",
                    known.join(", ")
                ),
            )
        })
    }
}

/// The platform version: `release.version_file` of kiln.yaml, read from the working tree (a
/// regular UTF-8 file of at most 1 MiB, JSON with a top-level `version`). Returns the file's
/// path (relative to the platform root) and the version, which may be any SemVer version; the
/// release commands decide whether it must be stable.
pub fn release_version(platform: &Platform) -> Result<(PathBuf, Version)> {
    let rel = version_file(platform)?;
    let file = load::read_version_file(&platform.root, &rel)?;
    Ok((rel, tag::parse_version_file(&file)?))
}

/// [`release_version`] as of git revision `rev`; `None` when the file does not exist there.
pub fn release_version_at(platform: &Platform, rev: &str) -> Result<Option<Version>> {
    let rel = version_file(platform)?;
    match git::read_file_at(&platform.root, rev, &rel)? {
        Some(file) => tag::parse_version_file(&file).map(Some),
        None => Ok(None),
    }
}

fn version_file(platform: &Platform) -> Result<PathBuf> {
    match &platform.release {
        Some(release) => Ok(PathBuf::from(&release.version_file)),
        None => Err(Error::new(
            ErrorKind::Model,
            "the platform declares no version file; add `release: { version_file: package.json }` \
             (a JSON file with a top-level `version`, relative to the platform directory)",
        )
        .at(Location::file(load::PLATFORM_FILE).with_key("release"))),
    }
}
