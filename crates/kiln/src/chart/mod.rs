//! Helm charts as a source of objects: rendering a local chart directory with `helm template`,
//! caching the result, and vendoring charts from repositories under a lock file.
//!
//! ```text
//! helm.rs    find helm, read its version, run `template` and `pull` isolated    IO
//! split.rs   helm output -> ChartObjects; test hooks, duplicates, determinism    pure
//! cache.rs   key over everything that decides output; atomic entries           IO
//! vendor.rs  `helm pull` into charts/<name>/, kiln.lock, digests, verify        IO
//! ```
//!
//! Rendering never uses the network: only local chart directories are rendered (a chart from
//! a repository is [vendored](vendor) first), with a cleared environment for helm.
//!
//! Decisions:
//! - CRDs: `--include-crds`, so a chart's `crds/` are part of its output (committed with the
//!   rest, and available to validate custom resources). Their `source_template` is
//!   `<chart>/crds/<file>`.
//! - Hooks: test hooks (`helm.sh/hook: test`, `test-success`, `test-failure`) are dropped, they
//!   belong to `helm test`, not to the cluster's desired state. Every other hook is kept with its
//!   annotation: Argo CD maps `helm.sh/hook` install and upgrade hooks to its PreSync/PostSync
//!   phases, so the committed tree behaves as the chart intends.
//! - Determinism: on a cache miss a chart whose templates call something that varies between
//!   runs (`rand*`, `uuid*`, `gen*` keys and certificates, `now`/`date`, salted hashes,
//!   `lookup`; see `may_vary`), or that packs subchart archives, is rendered twice (in
//!   parallel) and the two outputs must hold the same objects, else the error names each object
//!   and field that changed. A nondeterministic chart is never cached. Other charts are
//!   rendered once.
//! - helm's output goes through kiln's own YAML reader, which is strict: duplicate keys,
//!   YAML 1.1/1.2-ambiguous scalars (`yes`, `on`, `1e3`), anchors and tags are errors naming
//!   the template and the line of its output. A third-party chart that writes such YAML cannot
//!   be fixed by the platform; whether to read chart output more leniently is still open.
//! - `.Release.Namespace` is the namespace given; helm does not add `metadata.namespace` to
//!   objects whose templates leave it out, and neither does this module.
//!
//! ```no_run
//! use kiln::chart::{render_chart, Cache, ChartRequest, Helm};
//! let helm = Helm::find()?;
//! let cache = Cache::new(Cache::default_dir(std::path::Path::new(".")));
//! let request = ChartRequest::new("charts/web", serde_json::json!({"replicas": 2}), "web", "shop", "1.31.0");
//! for o in render_chart(&helm, &cache, &request)? {
//!     println!("{}: {}", o.source_template, o.object["kind"]);
//! }
//! # Ok::<(), kiln::Error>(())
//! ```

mod cache;
mod helm;
mod split;
mod vendor;

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde_json::Value;

use crate::error::{Error, ErrorKind, Location, Result};

pub use cache::Cache;
pub use helm::{Helm, MIN_HELM_VERSION};
pub use split::{split_output, ChartObject};
pub use vendor::{
    chart_dir, digest, read_lock, vendor, verify, write_lock, ChartSpec, Lock, LockEntry,
    LOCK_FILE, VENDOR_DIR,
};

/// One render of one chart: what `helm template` needs, and nothing else.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartRequest {
    /// A local chart directory (see [`chart_dir`] to resolve one inside a platform safely).
    pub chart_dir: PathBuf,
    /// The values, as the chart's `values.yaml` would be overridden (`--values`).
    pub values: Value,
    /// The release name (`.Release.Name`).
    pub release: String,
    /// The release namespace (`--namespace`, `.Release.Namespace`).
    pub namespace: String,
    /// `--kube-version`, like `1.31.0` (`.Capabilities.KubeVersion`).
    pub kube_version: String,
    /// `--api-versions` (`.Capabilities.APIVersions`), in addition to helm's built-in ones.
    pub api_versions: Vec<String>,
}

impl ChartRequest {
    /// A request with no extra `api_versions`.
    pub fn new(
        chart_dir: impl Into<PathBuf>,
        values: Value,
        release: impl Into<String>,
        namespace: impl Into<String>,
        kube_version: impl Into<String>,
    ) -> ChartRequest {
        ChartRequest {
            chart_dir: chart_dir.into(),
            values,
            release: release.into(),
            namespace: namespace.into(),
            kube_version: kube_version.into(),
            api_versions: Vec::new(),
        }
    }
}

/// Renders one chart: from the cache when it holds this exact render (helm is not run), else
/// with `helm template` twice to prove the output deterministic, then cached.
pub fn render_chart(
    helm: &Helm,
    cache: &Cache,
    request: &ChartRequest,
) -> Result<Vec<ChartObject>> {
    render_objects(helm, cache, request)
}

/// [`render_chart`] for several charts; cache misses run on every core. Results are in input
/// order, and the first error in input order wins, so the outcome never depends on scheduling.
pub fn render_charts(
    helm: &Helm,
    cache: &Cache,
    requests: &[ChartRequest],
) -> Result<Vec<Vec<ChartObject>>> {
    let results: Vec<Result<Vec<ChartObject>>> = requests
        .par_iter()
        .map(|r| render_chart(helm, cache, r))
        .collect();
    results.into_iter().collect()
}

/// The objects of `request`'s render, from the cache or from two deterministic helm runs.
fn render_objects(helm: &Helm, cache: &Cache, request: &ChartRequest) -> Result<Vec<ChartObject>> {
    crate::model::check_dns_label(&request.namespace).map_err(|e| {
        Error::new(
            ErrorKind::Model,
            format!(
                "chart {}: namespace `{}`: {}",
                request.chart_dir.display(),
                request.namespace,
                e
            ),
        )
    })?;
    let files = read_chart(&request.chart_dir)?;
    let version = cache.helm_version(helm)?;
    let key = cache::key(request, &files, &version);
    if let Some(text) = cache.get(&key) {
        // An entry kiln wrote was split before; one that no longer splits is a miss.
        if let Ok(objects) = split_output(&text, &request.chart_dir, &request.namespace) {
            return Ok(objects);
        }
    }
    let values = serde_json::to_string(&request.values).expect("JSON values serialize");
    let template = || {
        helm.template(
            &request.chart_dir,
            &values,
            &request.release,
            &request.namespace,
            &request.kube_version,
            &request.api_versions,
        )
    };
    if !may_vary(&files) {
        // No template can call anything that varies between runs: one render is the render.
        let first = template()?;
        let objects = split_output(&first, &request.chart_dir, &request.namespace)?;
        cache.put(&key, &first);
        return Ok(objects);
    }
    let (first, second) = rayon::join(template, template);
    let (first, second) = (first?, second?);
    // Checks the objects (and names a bad template) before comparing the renders.
    let objects = split_output(&first, &request.chart_dir, &request.namespace)?;
    if let Some(err) =
        split::nondeterminism(&first, &second, &request.chart_dir, &request.namespace)?
    {
        return Err(err);
    }
    cache.put(&key, &first);
    Ok(objects)
}

/// The template functions (Helm's and Sprig's) whose result can differ from one run to the
/// next: randomness, the clock, fresh keys and certificates, salted hashes, random IVs, and
/// what the cluster or the network answers.
const VARYING_FUNCTIONS: &[&str] = &[
    "rand",
    "shuffle",
    "uuid",
    "genCA",
    "genPrivateKey",
    "genSelfSigned",
    "genSigned",
    "now",
    "date",
    "ago",
    "unixEpoch",
    "bcrypt",
    "htpasswd",
    "encryptAES",
    "lookup",
    "getHostByName",
];

/// Whether a chart may render differently on two runs, judged from its files: a template
/// (`.yaml`, `.yml`, `.tpl`, `.txt`, `.json` under `templates/`, or any file a template could
/// `include` through `.Files`) names one of [`VARYING_FUNCTIONS`], or the chart packs a
/// subchart archive this scan cannot read. Only such charts are rendered twice on a cache
/// miss; for the others the double render could find nothing, and costs a helm run.
fn may_vary(files: &[(String, Vec<u8>)]) -> bool {
    files.iter().any(|(rel, content)| {
        if rel.ends_with(".tgz") || rel.ends_with(".tar.gz") {
            return true;
        }
        let text = String::from_utf8_lossy(content);
        text.contains("{{")
            && VARYING_FUNCTIONS.iter().any(|f| {
                text.match_indices(f).any(|(i, _)| {
                    // A function name, not part of a longer identifier before it.
                    !text[..i]
                        .chars()
                        .next_back()
                        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
                })
            })
    })
}

/// Every file of a chart directory as (relative path with `/`, content), sorted by path.
/// Symlinks and special files are refused: helm would follow a link out of the chart.
pub(crate) fn read_chart(dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    chart_files(dir)?
        .into_iter()
        .map(|(rel, path)| {
            let content =
                std::fs::read(&path).map_err(|e| Error::io("read a chart file", &path, e))?;
            Ok((rel, content))
        })
        .collect()
}

/// The files of a chart directory: (relative path with `/`, full path), sorted by relative path.
pub(crate) fn chart_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(m) if m.file_type().is_symlink() => return Err(unsafe_path(dir, "is a symlink")),
        Ok(_) => return Err(unsafe_path(dir, "is not a directory")),
        Err(e) => return Err(Error::io("read the chart directory", dir, e)),
    }
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(false) {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(dir).to_owned();
            Error::new(
                ErrorKind::Io,
                format!("cannot read the chart directory: {e}"),
            )
            .at(Location::file(path))
        })?;
        let kind = entry.file_type();
        if kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            let what = if kind.is_symlink() {
                "is a symlink (charts must hold regular files only)"
            } else {
                "is not a regular file"
            };
            return Err(unsafe_path(entry.path(), what));
        }
        let rel = entry
            .path()
            .strip_prefix(dir)
            .expect("walkdir stays under its root");
        let rel: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        files.push((rel.join("/"), entry.into_path()));
    }
    files.sort();
    Ok(files)
}

fn unsafe_path(path: &Path, what: &str) -> Error {
    Error::new(ErrorKind::Unsafe, format!("{} {what}", path.display())).at(Location::file(path))
}

#[cfg(test)]
mod determinism_scan {
    use super::may_vary;

    fn chart(files: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        files
            .iter()
            .map(|(p, t)| ((*p).to_owned(), t.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn only_charts_that_call_varying_functions_are_rendered_twice() {
        for (files, want) in [
            (
                &[("templates/s.yaml", "p: {{ randAlphaNum 16 | b64enc }}")][..],
                true,
            ),
            (
                &[("templates/_h.tpl", "{{- $ca := genCA \"x\" 365 -}}")][..],
                true,
            ),
            (
                &[("templates/c.yaml", "at: {{ now | date \"2006\" }}")][..],
                true,
            ),
            (
                &[(
                    "templates/l.yaml",
                    "{{ (lookup \"v1\" \"Secret\" \"ns\" \"n\") }}",
                )][..],
                true,
            ),
            (&[("charts/sub-1.0.0.tgz", "\u{1f}binary")][..], true),
            (
                &[("templates/d.yaml", "replicas: {{ .Values.replicas }}")][..],
                false,
            ),
            // `.Values.nowhere` and `operand` name no function.
            (
                &[(
                    "templates/d.yaml",
                    "a: {{ .Values.nowhere }}\nb: {{ .Values.operand }}",
                )][..],
                false,
            ),
            // A README that mentions `now` renders nothing.
            (&[("README.md", "run it now")][..], false),
        ] {
            assert_eq!(may_vary(&chart(files)), want, "{files:?}");
        }
    }
}
