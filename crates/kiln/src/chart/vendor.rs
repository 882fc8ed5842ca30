//! Vendoring charts from repositories into the platform, pinned in `kiln.lock`.
//!
//! `kiln vendor` runs `helm pull` (the only network access of the chart runtime) into a staging
//! directory inside `charts/`, checks the chart it got, and renames it to `charts/<name>/`.
//! Render and check then read only that directory, and [`verify`] proves it still matches the
//! lock.
//!
//! `kiln.lock` (YAML, written by kiln only, byte-for-byte deterministic: entries sorted by
//! name, files sorted by path):
//!
//! ```yaml
//! # kiln.lock: charts vendored into charts/<name>/ by kiln; written by kiln, do not edit.
//! charts:
//! - name: web                       # the directory charts/web/
//!   repository: https://charts.example.com   # or oci://registry.example.com/charts
//!   chart: web                      # the chart's name in that repository
//!   version: 1.2.3                  # exact SemVer version
//!   digest: sha256:<hex>            # over the `files` lines below, see `digest`
//!   files:                          # every file of charts/web/, relative path: sha256
//!     Chart.yaml: sha256:<hex>
//!     templates/deployment.yaml: sha256:<hex>
//! ```
//!
//! The per-file digests make the lock longer, but they let [`verify`] name the files that
//! changed, and make a chart upgrade's review diff show which files moved.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::cache::write_atomic;
use super::helm::{hex, Helm};
use super::{chart_files, unsafe_path};
use crate::error::{Error, ErrorKind, Location, Result};

/// The lock file, at the platform root.
pub const LOCK_FILE: &str = "kiln.lock";
/// Where vendored charts live, relative to the platform root: `charts/<name>/`.
pub const VENDOR_DIR: &str = "charts";

const LOCK_HEADER: &str =
    "# kiln.lock: charts vendored into charts/<name>/ by kiln; written by kiln, do not edit.\n";

/// What to vendor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartSpec {
    /// The directory under `charts/` (a DNS label).
    pub name: String,
    /// `http(s)://` chart repository (with an `index.yaml`) or `oci://` registry path.
    pub repository: String,
    /// The chart's name in the repository.
    pub chart: String,
    /// An exact SemVer version (no ranges: the lock pins one).
    pub version: String,
}

/// One vendored chart as the lock records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockEntry {
    /// The directory under `charts/` ([`ChartSpec::name`]).
    pub name: String,
    /// The repository it was fetched from ([`ChartSpec::repository`]).
    pub repository: String,
    /// The chart's name in the repository.
    pub chart: String,
    /// The exact version vendored.
    pub version: String,
    /// `sha256:<hex>`, see [`digest`].
    pub digest: String,
    /// Relative path (with `/`) -> `sha256:<hex>` of its content.
    pub files: BTreeMap<String, String>,
}

/// `kiln.lock`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// The vendored charts, one entry per name (written sorted by name).
    pub charts: Vec<LockEntry>,
}

impl Lock {
    /// The entry of the chart vendored as `name`; `None` when there is none.
    pub fn get(&self, name: &str) -> Option<&LockEntry> {
        self.charts.iter().find(|e| e.name == name)
    }

    /// Adds `entry`, replacing the one of the same name.
    pub fn upsert(&mut self, entry: LockEntry) {
        self.charts.retain(|e| e.name != entry.name);
        self.charts.push(entry);
        self.charts.sort_by(|a, b| a.name.cmp(&b.name));
    }

    /// The file's bytes (deterministic: entries by name, files by path).
    pub fn to_yaml(&self) -> String {
        let mut lock = self.clone();
        lock.charts.sort_by(|a, b| a.name.cmp(&b.name));
        let value = serde_json::to_value(&lock).expect("the lock serializes");
        let mut out = String::from(LOCK_HEADER);
        crate::yaml::emit_document(&value, &mut out);
        out
    }

    /// Reads the file's text; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Lock> {
        let value = crate::yaml::parse_document(text, file)?.into_json();
        let lock: Lock = serde_json::from_value(value).map_err(|e| {
            Error::new(ErrorKind::Model, format!("not a kiln lock file: {e}"))
                .at(Location::file(file))
        })?;
        let mut names: Vec<&str> = lock.charts.iter().map(|e| e.name.as_str()).collect();
        names.sort();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::new(
                ErrorKind::Model,
                format!("chart `{}` is locked twice", w[0]),
            )
            .at(Location::file(file).with_key("charts")));
        }
        Ok(lock)
    }
}

/// `kiln.lock` of the platform at `root`; an empty lock when there is no such file.
pub fn read_lock(root: &Path) -> Result<Lock> {
    let path = root.join(LOCK_FILE);
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Lock::default()),
        Err(e) => return Err(Error::io("read the lock file", Path::new(LOCK_FILE), e)),
        Ok(m) if !m.is_file() => {
            return Err(unsafe_path(Path::new(LOCK_FILE), "is not a regular file"))
        }
        Ok(_) => {}
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::io("read the lock file", Path::new(LOCK_FILE), e))?;
    Lock::parse(&text, Path::new(LOCK_FILE))
}

/// Writes `kiln.lock` atomically.
pub fn write_lock(root: &Path, lock: &Lock) -> Result<()> {
    write_atomic(root, LOCK_FILE, lock.to_yaml().as_bytes())
        .map_err(|e| Error::io("write the lock file", &root.join(LOCK_FILE), e))
}

/// A chart directory's digest and the digest of each of its files. Each file's digest is
/// `sha256:` and the hex sha256 of its bytes; the chart's digest is `sha256:` and the hex
/// sha256 of the lines `<file hex>  <relative path>\n` in path order (what `sha256sum` prints,
/// sorted). Symlinks and special files are refused.
pub fn digest(dir: &Path) -> Result<(String, BTreeMap<String, String>)> {
    let mut files = BTreeMap::new();
    let mut listing = Sha256::new();
    for (rel, path) in chart_files(dir)? {
        let bytes = std::fs::read(&path).map_err(|e| Error::io("read a chart file", &path, e))?;
        let file_hex = hex(&Sha256::digest(&bytes));
        listing.update(format!("{file_hex}  {rel}\n").as_bytes());
        files.insert(rel, format!("sha256:{file_hex}"));
    }
    Ok((format!("sha256:{}", hex(&listing.finalize())), files))
}

/// `root/rel`, checked: `rel` is relative and plain (no `..`), no part of it is a symlink, and
/// it is a directory.
pub fn chart_dir(root: &Path, rel: &Path) -> Result<PathBuf> {
    let plain = rel.components().all(|c| matches!(c, Component::Normal(_)));
    if !plain || rel.as_os_str().is_empty() {
        return Err(Error::new(
            ErrorKind::Unsafe,
            format!(
                "chart path `{}` must be a plain relative path inside the platform (no `..`, \
                 not absolute)",
                rel.display()
            ),
        )
        .at(Location::file(rel)));
    }
    let mut path = root.to_owned();
    let mut shown = PathBuf::new();
    for c in rel.components() {
        path.push(c);
        shown.push(c);
        let meta = std::fs::symlink_metadata(&path)
            .map_err(|e| Error::io("read the chart directory", &shown, e))?;
        if meta.file_type().is_symlink() {
            return Err(unsafe_path(
                &shown,
                "is a symlink; charts are read only through real directories in the platform",
            ));
        }
    }
    if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
        return Err(unsafe_path(&shown, "is not a directory"));
    }
    Ok(path)
}

/// Pulls `spec` with helm into `root/charts/<name>/` (replacing what was there) and records it
/// in `root/kiln.lock`. Returns the new lock entry.
pub fn vendor(helm: &Helm, root: &Path, spec: &ChartSpec) -> Result<LockEntry> {
    check_spec(spec)?;
    let vendor_root = root.join(VENDOR_DIR);
    match std::fs::symlink_metadata(&vendor_root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(unsafe_path(
                Path::new(VENDOR_DIR),
                "is not a directory (a symlink?)",
            ))
        }
        Err(_) => std::fs::create_dir_all(&vendor_root)
            .map_err(|e| Error::io("create the vendor directory", &vendor_root, e))?,
    }
    let staging = tempfile::Builder::new()
        .prefix(".kiln-staging-")
        .tempdir_in(&vendor_root)
        .map_err(|e| Error::io("create a staging directory", &vendor_root, e))?;
    let (repo, chart_ref) = if spec.repository.starts_with("oci://") {
        let base = spec.repository.trim_end_matches('/');
        (None, format!("{base}/{}", spec.chart))
    } else {
        (Some(spec.repository.as_str()), spec.chart.clone())
    };
    helm.pull(repo, &chart_ref, &spec.version, staging.path())?;
    let pulled = staging.path().join("untar").join(&spec.chart);
    check_pulled(&pulled, spec)?;
    let (digest, files) = digest(&pulled)?;

    let target = vendor_root.join(&spec.name);
    let shown = Path::new(VENDOR_DIR).join(&spec.name);
    match std::fs::symlink_metadata(&target) {
        Ok(m) if m.is_dir() => {
            // The old chart goes into the staging directory and is deleted with it.
            std::fs::rename(&target, staging.path().join("old"))
                .map_err(|e| Error::io("move the old chart aside", &shown, e))?;
        }
        Ok(_) => return Err(unsafe_path(&shown, "exists and is not a directory")),
        Err(_) => {}
    }
    std::fs::rename(&pulled, &target)
        .map_err(|e| Error::io("move the chart into place", &shown, e))?;

    let entry = LockEntry {
        name: spec.name.clone(),
        repository: spec.repository.clone(),
        chart: spec.chart.clone(),
        version: spec.version.clone(),
        digest,
        files,
    };
    let mut lock = read_lock(root)?;
    lock.upsert(entry.clone());
    write_lock(root, &lock)?;
    Ok(entry)
}

fn check_spec(spec: &ChartSpec) -> Result<()> {
    let bad = |msg: String| Err(Error::new(ErrorKind::Model, msg));
    if let Err(e) = crate::model::check_dns_label(&spec.name) {
        return bad(format!("chart name `{}`: {e}", spec.name));
    }
    if !["http://", "https://", "oci://"]
        .iter()
        .any(|s| spec.repository.starts_with(s))
    {
        return bad(format!(
            "chart `{}`: repository `{}` must start with https://, http:// or oci://",
            spec.name, spec.repository
        ));
    }
    let chart_ok = !spec.chart.is_empty()
        && spec
            .chart
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c))
        && !spec.chart.starts_with('.');
    if !chart_ok {
        return bad(format!(
            "chart `{}`: `{}` is not a chart name",
            spec.name, spec.chart
        ));
    }
    if semver::Version::parse(&spec.version).is_err() {
        return bad(format!(
            "chart `{}`: version `{}` must be one exact SemVer version like 1.2.3 (the lock \
             pins it; ranges are not allowed)",
            spec.name, spec.version
        ));
    }
    Ok(())
}

/// The pulled directory holds the chart and version asked for.
fn check_pulled(dir: &Path, spec: &ChartSpec) -> Result<()> {
    let chart_yaml = dir.join("Chart.yaml");
    let text = std::fs::read_to_string(&chart_yaml).map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!(
                "helm pull of `{}` {} did not give a chart directory `{}` with a Chart.yaml: {e}",
                spec.chart, spec.version, spec.chart
            ),
        )
    })?;
    let meta = crate::yaml::parse_document(&text, Path::new("Chart.yaml"))?.into_json();
    let (name, version) = (meta["name"].as_str(), meta["version"].as_str());
    if name != Some(spec.chart.as_str()) || version != Some(spec.version.as_str()) {
        return Err(Error::new(
            ErrorKind::Model,
            format!(
                "asked {} for chart `{}` version {} but got `{}` version {}",
                spec.repository,
                spec.chart,
                spec.version,
                name.unwrap_or("?"),
                version.unwrap_or("?")
            ),
        ));
    }
    Ok(())
}

/// Checks every chart of `lock` against its directory under `root/charts/`: an error naming
/// each chart whose content differs, with the files changed, added or missing.
pub fn verify(root: &Path, lock: &Lock) -> Result<()> {
    let mut problems = Vec::new();
    let mut first_file = None;
    for entry in &lock.charts {
        let rel = Path::new(VENDOR_DIR).join(&entry.name);
        let dir = match chart_dir(root, &rel) {
            Ok(dir) => dir,
            Err(e) if e.kind() == ErrorKind::Unsafe => return Err(e),
            Err(_) => {
                problems.push(format!(
                    "chart `{}`: {} is missing (run the vendor command again)",
                    entry.name,
                    rel.display()
                ));
                continue;
            }
        };
        let (digest, files) = digest(&dir)?;
        if digest == entry.digest && files == entry.files {
            continue;
        }
        let mut lines = Vec::new();
        for (path, sum) in &files {
            match entry.files.get(path) {
                Some(locked) if locked == sum => {}
                Some(_) => lines.push(format!("changed {path}")),
                None => lines.push(format!("added {path}")),
            }
            if lines.len() == 1 && first_file.is_none() {
                first_file = Some(rel.join(path));
            }
        }
        for path in entry.files.keys().filter(|p| !files.contains_key(*p)) {
            lines.push(format!("missing {path}"));
        }
        if lines.is_empty() {
            lines.push(format!(
                "the lock's digest {} is not the digest of the files it lists ({digest})",
                entry.digest
            ));
        }
        problems.push(format!(
            "chart `{}` ({} {} from {}) in {} does not match {LOCK_FILE}: {}",
            entry.name,
            entry.chart,
            entry.version,
            entry.repository,
            rel.display(),
            lines.join(", ")
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Model,
        format!(
            "{}; vendor the chart again, or restore the files (vendored charts are not edited \
             in place: set values instead)",
            problems.join("; ")
        ),
    )
    .at(Location::file(
        first_file.unwrap_or_else(|| PathBuf::from(LOCK_FILE)),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str) -> LockEntry {
        LockEntry {
            name: name.into(),
            repository: "https://charts.example.com".into(),
            chart: "web".into(),
            version: "1.0".into(),
            digest: "sha256:00".into(),
            files: BTreeMap::from([("Chart.yaml".into(), "sha256:11".into())]),
        }
    }

    #[test]
    fn lock_round_trips_deterministically() {
        let mut lock = Lock::default();
        lock.upsert(entry("b"));
        lock.upsert(entry("a"));
        lock.upsert(entry("b"));
        let text = lock.to_yaml();
        assert!(text.starts_with("# kiln.lock"), "{text}");
        // `1.0` stays a string.
        assert!(
            text.contains("version: '1.0'") || text.contains("version: \"1.0\""),
            "{text}"
        );
        let back = Lock::parse(&text, Path::new(LOCK_FILE)).unwrap();
        assert_eq!(back, lock);
        assert_eq!(back.to_yaml(), text);
        assert_eq!(
            back.charts
                .iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
    }

    #[test]
    fn lock_refuses_duplicates_and_unknown_keys() {
        let lock = Lock {
            charts: vec![entry("a"), entry("a")],
        };
        let err = Lock::parse(&lock.to_yaml(), Path::new(LOCK_FILE)).unwrap_err();
        assert!(err.message().contains("locked twice"), "{err}");
        let err = Lock::parse("charts: []\nextra: 1\n", Path::new(LOCK_FILE)).unwrap_err();
        assert!(err.message().contains("extra"), "{err}");
    }

    #[test]
    fn specs_are_checked() {
        let spec = ChartSpec {
            name: "web".into(),
            repository: "https://x".into(),
            chart: "web".into(),
            version: "1.2.3".into(),
        };
        assert!(check_spec(&spec).is_ok());
        for (field, value) in [
            ("name", "Web/.."),
            ("repository", "file:///etc"),
            ("chart", "../x"),
            ("version", "^1.2"),
        ] {
            let mut s = spec.clone();
            match field {
                "name" => s.name = value.into(),
                "repository" => s.repository = value.into(),
                "chart" => s.chart = value.into(),
                _ => s.version = value.into(),
            }
            assert!(check_spec(&s).is_err(), "{field} = {value}");
        }
    }

    #[test]
    fn chart_dirs_stay_inside_without_links() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("charts/web")).unwrap();
        std::os::unix::fs::symlink(
            root.path().join("charts/web"),
            root.path().join("charts/link"),
        )
        .unwrap();
        assert!(chart_dir(root.path(), Path::new("charts/web")).is_ok());
        for bad in ["../web", "/etc", "charts/../charts/web", "charts/link", ""] {
            let err = chart_dir(root.path(), Path::new(bad)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Unsafe, "{bad}: {err}");
        }
    }
}
