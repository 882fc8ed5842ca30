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
mod edit;
mod error;
mod explain;
mod fieldpath;
mod git;
pub mod lint;
mod load;
mod model;
mod object;
mod par;
mod release;
mod render;
mod resolve;
mod scaffold;
mod tag;
mod workflow;
mod write;
pub mod yaml;

use std::path::{Path, PathBuf};

pub use diff::{
    affected, diff, to_markdown, to_text, Affected, AffectedApp, ChangeKind, Diff, EnvDiff,
    FieldChange, ImageChange, ObjectChange, GITHUB_COMMENT_LIMIT,
};
pub use edit::{replace_scalar, write_source};
pub use error::{Error, ErrorKind, Location, Result};
pub use explain::{
    envs, explain, AppExplanation, AppSummary, BundleExplanation, ComponentExplanation,
    EnvExplanation, EnvSummary, Explanation, FieldExplanation, FieldHit, Layer, Origin, Query,
    Reference, Setting, TemplateLine,
};
pub use git::{resolve_rev, Ignored};
pub use load::{load, SourceFile, Sources};
pub use model::{
    check_dns_label, Channel, Cluster, ComponentChannel, EnvState, ReleaseConfig, Workload,
};
pub use release::{plan_promote, plan_set_image, Skipped, TagChange, TagPlan};
pub use render::{app_context, render, FileOrigin, Rendered, RenderedFile, GENERATED_MARKER};
pub use resolve::{
    derive, resolve, BundleUnit, CatalogueApp, Component, Derived, Environment, NotDeployed, Pdb,
    Platform, Source,
};
pub use scaffold::{init, scaffold_files, InitReport, DEFAULT_PLATFORM_NAME, SCAFFOLD};
pub use semver::Version;
pub use tag::{
    alpha_tag, check_progression, next_versions, parse_version_file, promoted_tag, Progression,
    TagRule, MUTABLE_TAGS,
};
pub use workflow::{
    apply_plan, check, diff_revisions, lint_platform, render_and_lint, render_at, render_to_disk,
    Checked, Rendering,
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
    Ok((rel, parse_version_file(&file)?))
}

/// [`release_version`] as of git revision `rev`; `None` when the file does not exist there.
pub fn release_version_at(platform: &Platform, rev: &str) -> Result<Option<Version>> {
    let rel = version_file(platform)?;
    match git::read_file_at(&platform.root, rev, &rel)? {
        Some(file) => parse_version_file(&file).map(Some),
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
