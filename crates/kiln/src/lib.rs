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

pub mod chart;
mod diff;
mod edit;
mod error;
mod explain;
mod git;
pub mod lint;
mod load;
mod model;
mod release;
mod render;
mod resolve;
mod scaffold;
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
pub use git::resolve_rev;
pub use load::{load, SourceFile, Sources};
pub use model::{
    check_dns_label, Channel, Cluster, ComponentChannel, EnvState, ReleaseConfig, Workload,
};
pub use release::{
    alpha_tag, check_progression, next_versions, parse_version_file, plan_promote, plan_set_image,
    promoted_tag, Progression, Skipped, TagChange, TagPlan, TagRule, MUTABLE_TAGS,
};
pub use render::{app_context, render, Rendered, RenderedFile, GENERATED_MARKER};
pub use resolve::{
    derive, resolve, BundleUnit, CatalogueApp, Component, Derived, Environment, NotDeployed, Pdb,
    Platform, Source,
};
pub use scaffold::{init, scaffold_files, InitReport, DEFAULT_PLATFORM_NAME, SCAFFOLD};
pub use semver::Version;
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

/// What [`check`] found.
#[derive(Debug)]
pub struct Checked {
    pub lint: lint::LintReport,
    /// The differences between the tree on disk and the render, by path; not looked for (empty)
    /// when lint found errors, since such a render is not a tree kiln would write.
    pub drift: Vec<Drift>,
    /// How many files the render has.
    pub files: usize,
}

/// `kiln check`: renders and lints the platform and compares the render with the tree on disk,
/// never writing. Each file on disk is read and compared on every core; only differences are
/// kept.
pub fn check(platform: &Platform) -> Result<Checked> {
    let root = platform.output_root();
    // The walk comes after the render, not beside it: overlapping them saved ~70 ms at 1000
    // apps but raised peak memory above 150 MB (BENCHMARKS.md).
    let (rendered, lint) = lint::render_and_lint(platform)?;
    let drift = if lint.errors() > 0 {
        Vec::new()
    } else {
        write::compare_listing(&root, write::list_tree(&root)?, &rendered)?
    };
    Ok(Checked {
        lint,
        drift,
        files: rendered.files.len(),
    })
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

/// Renders the platform at `root` as it is in git revision `rev` (read from git's object
/// store; the working tree is not touched). A revision without the platform renders empty.
///
/// Tags are not held to today's tag rules here: an older revision was valid under the rules of
/// its day, and a diff compares what was rendered; `render`, `check` and `lint` enforce them.
pub fn render_at(root: &Path, rev: &str) -> Result<Rendered> {
    match git::load_at(root, rev)? {
        Some(sources) => render(&resolve::resolve_lenient(&sources)?),
        None => Ok(Rendered::default()),
    }
}
