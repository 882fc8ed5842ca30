//! The commands' workflows: each is the one place its steps are put together, so the CLI,
//! `cargo xtask` and tests cannot assemble them differently.
//!
//! | workflow | steps | used by |
//! |---|---|---|
//! | [`render_to_disk`] | render, lint, refuse on lint errors, write atomically, report | `kiln render`, `cargo xtask render` |
//! | [`apply_plan`] | the same, with a tag plan's environment files written just before the tree | `kiln set-image`, `kiln promote` |
//! | [`check`] | render, lint, compare with the tree on disk; never writes | `kiln check`, `cargo xtask check` |
//! | [`lint_platform`] | render and lint | `kiln lint` |
//! | [`diff_revisions`] | render two revisions and compare them | `kiln diff`, `kiln affected` |
//!
//! Rendering and linting go environment by environment ([`render_and_lint`]): each
//! environment's objects are linted, then dropped, so a 1000-app fleet holds one environment's
//! objects at a time (BENCHMARKS.md).

use std::path::Path;

use crate::diff::{diff, Diff};
use crate::error::Result;
use crate::git::Ignored;
use crate::lint::{LintReport, Linter};
use crate::release::TagPlan;
use crate::render::{render, render_each, Rendered};
use crate::resolve::Platform;
use crate::write::{compare_listing, list_tree, write_tree, Drift, WriteOptions, WriteReport};

/// Renders and lints the platform environment by environment, keeping only the files' bytes:
/// what writing or checking the tree needs. The returned files carry no `objects`.
pub fn render_and_lint(platform: &Platform) -> Result<(Rendered, LintReport)> {
    let mut linter = Linter::new(platform);
    let rendered = render_each(platform, false, |files| linter.add_env(files))?;
    Ok((rendered, linter.finish()))
}

/// `kiln lint`: the lint report of a fresh render.
pub fn lint_platform(platform: &Platform) -> Result<LintReport> {
    Ok(render_and_lint(platform)?.1)
}

/// What [`render_to_disk`] and [`apply_plan`] did.
#[derive(Debug)]
pub enum Rendering {
    /// Lint found errors: nothing was written.
    Refused(LintReport),
    /// The tree was written (or was already up to date); `lint` has warnings and exceptions
    /// at most.
    Written {
        lint: LintReport,
        report: WriteReport,
    },
}

/// `kiln render`: renders and lints every environment and, unless lint finds errors, writes
/// the tree atomically. `options.only_envs` must name environments of the platform.
pub fn render_to_disk(platform: &Platform, options: &WriteOptions) -> Result<Rendering> {
    for env in options.only_envs.iter().flatten() {
        platform.environment_or_err(env)?;
    }
    render_lint_write(platform, options, || Ok(()))
}

/// `kiln set-image` and `kiln promote`: renders and lints the platform as the plan leaves it
/// and, unless lint finds errors, writes the plan's environment files and then the tree. A
/// tag change that fails lint writes nothing.
pub fn apply_plan(plan: &TagPlan) -> Result<Rendering> {
    render_lint_write(&plan.after, &WriteOptions::default(), || {
        plan.write_sources(&plan.after.root)
    })
}

fn render_lint_write(
    platform: &Platform,
    options: &WriteOptions,
    before_write: impl FnOnce() -> Result<()>,
) -> Result<Rendering> {
    let (rendered, lint) = render_and_lint(platform)?;
    if lint.errors() > 0 {
        return Ok(Rendering::Refused(lint));
    }
    before_write()?;
    let report = write_tree(&platform.output_root(), &rendered, options)?;
    Ok(Rendering::Written { lint, report })
}

/// What [`check`] found.
#[derive(Debug)]
pub struct Checked {
    pub lint: LintReport,
    /// The differences between the tree on disk and the render, by path; not looked for (empty)
    /// when lint found errors, since such a render is not a tree kiln would write.
    pub drift: Vec<Drift>,
    /// How many files the render has.
    pub files: usize,
    /// Rendered files git ignores (and does not track): rendering and committing would not
    /// put them in the repository, so a clean clone never has them.
    pub ignored: Vec<Ignored>,
}

impl Checked {
    /// Whether the tree passes: no lint errors, no drift, no rendered file hidden from git.
    pub fn is_clean(&self) -> bool {
        self.lint.errors() == 0 && self.drift.is_empty() && self.ignored.is_empty()
    }
}

/// `kiln check`: renders and lints the platform and compares the render with the tree on disk,
/// never writing. Each file on disk is read and compared on every core; only differences are
/// kept.
pub fn check(platform: &Platform) -> Result<Checked> {
    let root = platform.output_root();
    // The walk comes after the render, not beside it: overlapping them saved ~70 ms at 1000
    // apps but raised peak memory above 150 MB (BENCHMARKS.md).
    let (rendered, lint) = render_and_lint(platform)?;
    let drift = if lint.errors() > 0 {
        Vec::new()
    } else {
        compare_listing(&root, list_tree(&root)?, &rendered)?
    };
    let paths: Vec<String> = rendered
        .files
        .keys()
        .map(|p| format!("{}/{p}", platform.output))
        .collect();
    let ignored = crate::git::ignored(&platform.root, &paths)?;
    Ok(Checked {
        lint,
        drift,
        files: rendered.files.len(),
        ignored,
    })
}

/// Renders the platform at `root` as it is in git revision `rev` (read from git's object
/// store; the working tree is not touched). A revision without the platform renders empty.
///
/// Tags are not held to today's tag rules here: an older revision was valid under the rules of
/// its day, and a diff compares what was rendered; `render`, `check` and `lint` enforce them.
pub fn render_at(root: &Path, rev: &str) -> Result<Rendered> {
    match crate::git::load_at(root, rev)? {
        Some(sources) => render(&crate::resolve::resolve_lenient(&sources)?),
        None => Ok(Rendered::default()),
    }
}

/// `kiln diff` and `kiln affected`: the rendered objects of `base` against those of `head`
/// (a revision, or the working tree when `None`).
pub fn diff_revisions(root: &Path, base: &str, head: Option<&str>) -> Result<Diff> {
    let base_tree = render_at(root, base)?;
    let (head_label, head_tree) = match head {
        Some(rev) => (rev.to_owned(), render_at(root, rev)?),
        None => ("working tree".to_owned(), render(&Platform::load(root)?)?),
    };
    Ok(diff(base, &base_tree, &head_label, &head_tree))
}
