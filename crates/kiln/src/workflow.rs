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

use std::collections::BTreeMap;

use crate::chart::{self, Cache, ChartRequest, Helm, Lock};
use crate::diff::{
    diff, diff_with, Committed, CommittedFile, CommittedState, Diff, DiffOptions, LintNote,
};
use crate::error::Result;
use crate::error::{Error, Location};
use crate::git::Ignored;
use crate::lint::{LintReport, Linter};
use crate::release::TagPlan;
use crate::render::{chart_jobs, render_each, render_with, ChartOutputs, Rendered};
use crate::resolve::Platform;
use crate::write::{compare_listing, list_tree, write_tree, Drift, WriteOptions, WriteReport};

/// Renders and lints the platform environment by environment, keeping only the files' bytes:
/// what writing or checking the tree needs. The returned files carry no `objects`.
pub fn render_and_lint(platform: &Platform) -> Result<(Rendered, LintReport)> {
    let charts = run_charts(platform, &platform.root)?;
    let mut linter = Linter::new(platform);
    let rendered = render_each(platform, &charts, false, |files| linter.add_env(files))?;
    Ok((rendered, linter.finish()))
}

/// Renders every environment of the platform, its chart bundles through helm (from the cache
/// when it holds the same render). A platform without charts never looks for helm.
pub fn render(platform: &Platform) -> Result<Rendered> {
    let charts = run_charts(platform, &platform.root)?;
    render_with(platform, &charts)
}

/// The objects of the platform's chart bundles, with the charts read from
/// `chart_root/charts/<name>/` (the platform's directory, or a revision's charts written out
/// by `git`). A vendored chart (one `kiln.lock` names) must match its lock entry. Renders that
/// miss the cache run on every core.
fn run_charts(platform: &Platform, chart_root: &Path) -> Result<ChartOutputs> {
    let jobs = chart_jobs(platform)?;
    if jobs.is_empty() {
        return Ok(ChartOutputs::new());
    }
    let lock = chart::read_lock(chart_root)?;
    let used: std::collections::BTreeSet<&str> = jobs.iter().map(|j| j.chart.as_str()).collect();
    let vendored = Lock {
        charts: lock
            .charts
            .iter()
            .filter(|e| used.contains(e.name.as_str()))
            .cloned()
            .collect(),
    };
    chart::verify(chart_root, &vendored)?;
    let helm = Helm::find()?;
    let cache = Cache::new(Cache::default_dir(&platform.root));
    let kube_version = platform
        .cluster
        .version
        .as_deref()
        .map(kube_version)
        .unwrap_or_else(|| "1.34.0".to_owned());
    let mut requests = Vec::with_capacity(jobs.len());
    for job in &jobs {
        let rel = Path::new(chart::VENDOR_DIR).join(&job.chart);
        let dir = chart::chart_dir(chart_root, &rel).map_err(|e| in_job(job, e))?;
        requests.push(ChartRequest::new(
            dir,
            job.values.clone(),
            &job.release,
            &job.namespace,
            &kube_version,
        ));
    }
    let outputs = crate::par::par_map(&requests, |request| {
        chart::render_chart(&helm, &cache, request)
    });
    let mut charts = ChartOutputs::new();
    for (job, output) in jobs.iter().zip(outputs) {
        let objects = output.map_err(|e| in_job(job, e))?;
        charts.insert((job.env.clone(), job.bundle), objects);
    }
    Ok(charts)
}

/// `kiln vendor`: pulls a chart from its repository into `charts/<name>/` of the platform at
/// `root` and pins it in `kiln.lock` (version and content digest); the one command that uses
/// the network. Rendering reads only the vendored copy.
pub fn vendor_chart(root: &Path, spec: &chart::ChartSpec) -> Result<chart::LockEntry> {
    let helm = Helm::find()?;
    chart::vendor(&helm, root, spec)
}

/// `kiln vendor --verify`: every chart `kiln.lock` pins matches its vendored files.
pub fn verify_charts(root: &Path) -> Result<Lock> {
    let lock = chart::read_lock(root)?;
    chart::verify(root, &lock)?;
    Ok(lock)
}

/// `v1.34.5+k3s1` (kiln.yaml `cluster.version`) as helm's `--kube-version` wants it.
fn kube_version(version: &str) -> String {
    let plain = version.trim_start_matches('v');
    plain.split(['+', '-']).next().unwrap_or(plain).to_owned()
}

/// A chart error with the environment and bundle it happened in; its location stays the
/// chart's, else the values template.
fn in_job(job: &crate::render::ChartJob, e: Error) -> Error {
    let located = e.location().cloned();
    Error::new(
        e.kind(),
        format!(
            "{} (chart `{}`, release `{}`, environment `{}`)",
            e.message(),
            job.chart,
            job.release,
            job.env
        ),
    )
    .at(located.unwrap_or_else(|| Location::file(&job.values_template)))
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
        /// The lint report: warnings and exceptions at most.
        lint: LintReport,
        /// What the write did.
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
    /// The lint report of the render.
    pub lint: LintReport,
    /// The differences between the tree on disk and the render, by path; not looked for (empty)
    /// when lint found errors, since such a render is not a tree kiln would write.
    pub drift: Vec<Drift>,
    /// How many files the render has.
    pub files: usize,
    /// Rendered files git ignores (and does not track): rendering and committing would not
    /// put them in the repository, so a clean clone never has them.
    pub ignored: Vec<Ignored>,
    /// Files kiln did not generate inside directories it generates (hand-added next to
    /// rendered files), relative to the output root, sorted. A warning, not drift: no
    /// generated `kustomization.yaml` lists them, so they are never applied, and kiln keeps
    /// them as they are.
    pub unowned: Vec<String>,
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
    let (drift, unowned) = if lint.errors() > 0 {
        (Vec::new(), Vec::new())
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
        unowned,
    })
}

/// Renders the platform at `root` as it is in git revision `rev` (read from git's object
/// store; the working tree is not touched). A revision without the platform renders empty.
///
/// Tags are not held to today's tag rules here: an older revision was valid under the rules of
/// its day, and a diff compares what was rendered; `render`, `check` and `lint` enforce them.
pub fn render_at(root: &Path, rev: &str) -> Result<Rendered> {
    match crate::git::load_at(root, rev)? {
        Some(sources) => {
            let platform = crate::resolve::resolve_lenient(&sources)?;
            if chart_jobs(&platform)?.is_empty() {
                return render_with(&platform, &ChartOutputs::new());
            }
            // Charts are rendered from their files as they are at `rev`.
            let charts_at = tempfile::tempdir()
                .map_err(|e| Error::io("create a directory for", Path::new("charts"), e))?;
            crate::git::write_dir_at(root, rev, Path::new(chart::VENDOR_DIR), charts_at.path())?;
            // The directory is new: a revision without a lock leaves it without one.
            if let Some(lock) = crate::git::read_file_at(root, rev, Path::new(chart::LOCK_FILE))? {
                std::fs::write(charts_at.path().join(chart::LOCK_FILE), lock.text)
                    .map_err(|e| Error::io("write", Path::new(chart::LOCK_FILE), e))?;
            }
            let charts = run_charts(&platform, charts_at.path())?;
            render_with(&platform, &charts)
        }
        None => Ok(Rendered::default()),
    }
}

/// `kiln diff` and `kiln affected`: the rendered objects of `base` against those of `head`
/// (a revision, or the working tree when `None`), with the head platform's `diff.ignore`.
pub fn diff_revisions(root: &Path, base: &str, head: Option<&str>) -> Result<Diff> {
    diff_revisions_with(root, base, head, &[])
}

/// [`diff_revisions`] with more field paths to ignore (`kiln diff --ignore`). Besides the
/// object diff it records the commit ids, the head's lint errors (what `kiln render` would
/// refuse) and how the head's committed output tree differs from its render (what Argo CD
/// applies). Environments come in the platform's order: those `environments:` of kiln.yaml
/// lists, in its order, then the others by channel (`sha`, `alpha`, `rc`, `stable`: the
/// promotion order) and name; closed environments are marked.
pub fn diff_revisions_with(
    root: &Path,
    base: &str,
    head: Option<&str>,
    ignore: &[String],
) -> Result<Diff> {
    let base_commit = crate::git::resolve_rev(root, base)?;
    let base_tree = render_at(root, base)?;
    let (head_label, head_commit, head_sources) = match head {
        Some(rev) => (
            rev.to_owned(),
            Some(crate::git::resolve_rev(root, rev)?),
            crate::git::load_at(root, rev)?,
        ),
        None => (
            "working tree".to_owned(),
            None,
            Some(crate::load::load(root)?),
        ),
    };
    let Some(sources) = head_sources else {
        let mut d = diff(base, &base_tree, &head_label, &Rendered::default());
        d.base_commit = Some(base_commit);
        d.head_commit = head_commit;
        return Ok(d);
    };
    let platform = match head {
        Some(_) => crate::resolve::resolve_lenient(&sources)?,
        None => crate::resolve::resolve(&sources)?,
    };
    let head_tree = render(&platform)?;
    let mut options = DiffOptions {
        ignore: ignore_list(&sources)?,
        ..DiffOptions::default()
    };
    options.ignore.extend(ignore.iter().cloned());
    for (i, p) in ignore.iter().enumerate() {
        check_ignore(p).map_err(|m| {
            crate::error::Error::new(
                crate::error::ErrorKind::Model,
                format!("--ignore `{p}` (#{}): {m}", i + 1),
            )
        })?;
    }
    // `environments:` of kiln.yaml first (already first in `platform.environments`), then the
    // rest in promotion order.
    let listed = platform.environment_order.len();
    let mut envs: Vec<&crate::resolve::Environment> = platform.environments.iter().collect();
    envs[listed..].sort_by_key(|e| (e.channel as u8, e.name.clone()));
    options.environments = envs
        .iter()
        .map(|e| (e.name.clone(), e.state == crate::model::EnvState::Closed))
        .collect();
    options.singletons = singletons(&platform);
    let mut d = diff_with(base, &base_tree, &head_label, &head_tree, &options);
    d.base_commit = Some(base_commit);
    d.head_commit = head_commit;
    d.lint_errors = crate::lint::lint(&platform, &head_tree)
        .findings
        .into_iter()
        .filter(|f| f.severity == crate::lint::Severity::Error)
        .map(|f| LintNote {
            environment: f.env,
            rule: f.rule.to_owned(),
            object: f.object,
            path: f.path,
            message: mask_message(&f.message),
        })
        .collect();
    let committed = match head {
        Some(rev) => crate::git::read_output_at(root, rev, &platform.output)?,
        None => read_output_dir(&platform.output_root())?,
    };
    d.committed = Some(compare_committed(committed, &head_tree));
    Ok(d)
}

/// A lint message may quote the value it judges: mask anything that looks like a credential.
fn mask_message(message: &str) -> String {
    let mut v = serde_json::Value::String(message.to_owned());
    crate::object::mask_secrets(&mut v);
    let masked = v.as_str().unwrap_or_default().to_owned();
    // A quoted value after a credential-sounding word is masked whole.
    if crate::object::is_credential_name(message) && message.contains('"') {
        let mut out = String::new();
        for (i, part) in masked.split('"').enumerate() {
            out.push_str(if i % 2 == 1 {
                crate::object::HIDDEN
            } else {
                part
            });
            out.push('"');
        }
        out.pop();
        return out;
    }
    masked
}

/// The hook for declared singletons: `(environment, app)` pairs that must never run more
/// than one replica. The model has no such declaration yet, so the set is empty; when it has,
/// this is the one place to read it.
fn singletons(_platform: &Platform) -> std::collections::BTreeSet<(String, String)> {
    std::collections::BTreeSet::new()
}

fn check_ignore(pattern: &str) -> std::result::Result<(), String> {
    let bare = pattern.strip_prefix('*').unwrap_or(pattern);
    let bare = bare.strip_prefix('.').unwrap_or(bare);
    if bare.is_empty() {
        return Err("an empty path would ignore everything".to_owned());
    }
    crate::fieldpath::parse(bare).map(|_| ())
}

/// `diff.ignore` of the platform's kiln.yaml, each path checked.
fn ignore_list(sources: &crate::load::Sources) -> Result<Vec<String>> {
    let file = &sources.platform;
    let values = crate::yaml::parse_values(&file.text, &file.path)?;
    let mut out = Vec::new();
    for (line, doc) in values {
        for (i, p) in doc["diff"]["ignore"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let p = p.as_str().unwrap_or_default();
            check_ignore(p).map_err(|m| {
                crate::error::Error::new(crate::error::ErrorKind::Model, m)
                    .at(crate::error::Location::at(&file.path, line, 1)
                        .with_key(format!("diff.ignore[{i}]")))
            })?;
            out.push(p.to_owned());
        }
    }
    Ok(out)
}

fn read_output_dir(root: &Path) -> Result<Option<BTreeMap<String, String>>> {
    if !root.is_dir() {
        return Ok(None);
    }
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).map_err(|e| crate::error::Error::io("read", &dir, e))?
        {
            let entry = entry.map_err(|e| crate::error::Error::io("read", &dir, e))?;
            let path = entry.path();
            let kind = entry
                .file_type()
                .map_err(|e| crate::error::Error::io("read", &path, e))?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let rel = path
                    .strip_prefix(root)
                    .expect("under the root")
                    .to_string_lossy()
                    .replace('\\', "/");
                let text = std::fs::read(&path)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                out.insert(rel, text);
            }
        }
    }
    Ok(Some(out))
}

/// The committed files against the render: changed, missing and extra (generated by kiln but
/// no longer rendered) files, each with the environment and app it belongs to.
fn compare_committed(
    committed: Option<BTreeMap<String, String>>,
    rendered: &Rendered,
) -> Committed {
    let Some(committed) = committed else {
        return Committed::default();
    };
    let owner = |path: &str| -> (Option<String>, Option<String>) {
        if let Some(f) = rendered.files.get(path) {
            return (f.env.clone(), f.app().map(str::to_owned));
        }
        // The environment of the nearest rendered file in the same or a parent directory.
        let mut dir = path;
        while let Some((parent, _)) = dir.rsplit_once('/') {
            dir = parent;
            let prefix = format!("{dir}/");
            if let Some(f) = rendered
                .files
                .iter()
                .find(|(p, f)| p.starts_with(&prefix) && f.env.is_some())
            {
                return (f.1.env.clone(), None);
            }
        }
        (None, None)
    };
    let mut files = Vec::new();
    for (path, file) in &rendered.files {
        let state = match committed.get(path) {
            Some(text) if *text == file.text => continue,
            Some(_) => CommittedState::Changed,
            None => CommittedState::Missing,
        };
        let (environment, app) = owner(path);
        files.push(CommittedFile {
            path: path.clone(),
            state,
            environment,
            app,
        });
    }
    for (path, text) in &committed {
        if !rendered.files.contains_key(path) && text.starts_with(crate::render::GENERATED_MARKER) {
            let (environment, app) = owner(path);
            files.push(CommittedFile {
                path: path.clone(),
                state: CommittedState::Extra,
                environment,
                app,
            });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Committed {
        present: true,
        files,
    }
}
