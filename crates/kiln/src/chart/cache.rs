//! The render cache: helm's output stored by a key over everything that decides it.
//!
//! Layout of a cache directory:
//!
//! ```text
//! <dir>/<key>.yaml                  one render: a header line, then helm's output
//! <dir>/helm-<identity>.version     the version of one helm binary (path, size, mtime, inode)
//! ```
//!
//! The header is `# kiln helm cache v1 sha256:<hex of the rest>`; an entry that cannot be
//! read, is not UTF-8 or whose body does not match its header is a miss, never an error.
//! Entries are written to a temporary file in the same directory and renamed into place, so
//! readers see a whole entry or none. Failing to write the cache is not an error either (the
//! render is still correct, only slower next time). Nothing prunes old entries yet.
//!
//! The helm version memo is what lets a hit run no process at all. It is keyed on the binary
//! (symlinks resolved), so replacing helm in place or switching symlinks misses; a version
//! manager's shim script that picks a different helm without itself changing would keep the
//! old version in the key (delete the cache, or point KILN_HELM at the real binary).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::helm::{check_version, hex, Helm};
use super::ChartRequest;
use crate::error::Result;

const HEADER: &str = "# kiln helm cache v1 sha256:";

/// Where rendered charts are kept between runs; [`Cache::disabled`] keeps nothing.
#[derive(Debug, Clone, Default)]
pub struct Cache {
    dir: Option<PathBuf>,
}

impl Cache {
    /// A cache in `dir` (created on the first write).
    pub fn new(dir: impl Into<PathBuf>) -> Cache {
        Cache {
            dir: Some(dir.into()),
        }
    }

    /// No cache: every render runs helm (twice).
    pub fn disabled() -> Cache {
        Cache { dir: None }
    }

    /// The proposed default: `<platform root>/.kiln/cache/helm` (to be git-ignored). Next to
    /// the platform, so it needs no home directory and goes away with the checkout; CI keeps it
    /// between runs only if it caches that directory (keyed on `kiln.lock` and the chart
    /// directories, say). `$XDG_CACHE_HOME/kiln/helm` would be shared by every checkout of a
    /// developer, at the price of growing without bound and of being one more thing CI must
    /// know about.
    pub fn default_dir(platform_root: &Path) -> PathBuf {
        platform_root.join(".kiln").join("cache").join("helm")
    }

    /// The cache directory; `None` when the cache is disabled.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The cached output for `key`, if there is a sound entry.
    pub(crate) fn get(&self, key: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.dir.as_ref()?.join(format!("{key}.yaml"))).ok()?;
        let (header, body) = text.split_once('\n')?;
        let digest = header.strip_prefix(HEADER)?;
        (digest == hex(&Sha256::digest(body.as_bytes()))).then(|| body.to_owned())
    }

    /// Stores `body` under `key`, atomically; failures are ignored.
    pub(crate) fn put(&self, key: &str, body: &str) {
        if let Some(dir) = &self.dir {
            let text = format!("{HEADER}{}\n{body}", hex(&Sha256::digest(body.as_bytes())));
            let _ = write_atomic(dir, &format!("{key}.yaml"), text.as_bytes());
        }
    }

    /// helm's version, from the memo of this binary when there is one (so a cache hit runs no
    /// process at all), else by running it once and remembering.
    pub(crate) fn helm_version(&self, helm: &Helm) -> Result<String> {
        let memo = self.dir.as_ref().and_then(|dir| {
            helm.identity()
                .map(|id| dir.join(format!("helm-{id}.version")))
        });
        if let Some(memo) = &memo {
            if let Ok(v) = std::fs::read_to_string(memo) {
                let v = v.trim();
                if check_version(v).is_ok() {
                    helm.remember_version(v);
                    return helm.version();
                }
            }
        }
        let v = helm.version()?;
        if let Some(memo) = &memo {
            let name = memo.file_name().expect("a file name").to_string_lossy();
            let _ = write_atomic(memo.parent().expect("in a dir"), &name, v.as_bytes());
        }
        Ok(v)
    }
}

/// Writes `dir/name` through a temporary file and a rename.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(dir.join(name)).map_err(|e| e.error)?;
    Ok(())
}

/// The cache key: sha256 over everything that decides helm's output, each part length-prefixed.
pub(crate) fn key(
    request: &ChartRequest,
    files: &[(String, Vec<u8>)],
    helm_version: &str,
) -> String {
    let mut h = Sha256::new();
    let mut part = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    part(b"kiln helm render v1");
    part(env!("CARGO_PKG_VERSION").as_bytes());
    part(helm_version.as_bytes());
    // The flags kiln passes: a change to them must miss.
    part(b"--include-crds; test hooks dropped after");
    part(request.release.as_bytes());
    part(request.namespace.as_bytes());
    part(request.kube_version.as_bytes());
    part(&(request.api_versions.len() as u64).to_le_bytes());
    for v in &request.api_versions {
        part(v.as_bytes());
    }
    part(canonical_json(&request.values).as_bytes());
    part(&(files.len() as u64).to_le_bytes());
    for (path, content) in files {
        part(path.as_bytes());
        part(content);
    }
    hex(&h.finalize())
}

/// JSON with object keys sorted, no whitespace: equal values give equal text.
pub(crate) fn canonical_json(value: &Value) -> String {
    fn write(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).expect("a string serializes"));
                    out.push(':');
                    write(&map[k.as_str()], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(v, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys() {
        let a = json!({"b": 1, "a": {"y": [1, "x"], "x": null}});
        let b = json!({"a": {"x": null, "y": [1, "x"]}, "b": 1});
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(canonical_json(&a), r#"{"a":{"x":null,"y":[1,"x"]},"b":1}"#);
    }

    #[test]
    fn key_depends_on_every_input() {
        let req = ChartRequest::new("charts/web", json!({"a": 1}), "web", "shop", "1.31.0");
        let files = vec![("Chart.yaml".to_owned(), b"name: web".to_vec())];
        let base = key(&req, &files, "v4.1.4");
        assert_eq!(base, key(&req, &files, "v4.1.4"));
        let mut other = req.clone();
        other.values = json!({"a": 2});
        assert_ne!(base, key(&other, &files, "v4.1.4"));
        let mut other = req.clone();
        other.namespace = "shop2".into();
        assert_ne!(base, key(&other, &files, "v4.1.4"));
        let mut other = req.clone();
        other.api_versions = vec!["monitoring.coreos.com/v1".into()];
        assert_ne!(base, key(&other, &files, "v4.1.4"));
        assert_ne!(base, key(&req, &files, "v3.19.0"));
        let renamed = vec![("chart.yaml".to_owned(), b"name: web".to_vec())];
        assert_ne!(base, key(&req, &renamed, "v4.1.4"));
        // The chart directory's location does not matter, only its content.
        let mut moved = req.clone();
        moved.chart_dir = "elsewhere/web".into();
        assert_eq!(base, key(&moved, &files, "v4.1.4"));
    }

    #[test]
    fn corrupt_entries_are_misses() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        assert_eq!(cache.get("k"), None);
        cache.put("k", "---\nkind: A\n");
        assert_eq!(cache.get("k").as_deref(), Some("---\nkind: A\n"));
        let path = dir.path().join("k.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("kind: A", "kind: B")).unwrap();
        assert_eq!(cache.get("k"), None);
        std::fs::write(&path, [0xff, 0xfe, b'\n']).unwrap();
        assert_eq!(cache.get("k"), None);
        assert_eq!(Cache::disabled().get("k"), None);
    }
}
