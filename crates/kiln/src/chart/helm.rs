//! Running helm: finding the binary, reading its version once, and running `helm template`
//! and `helm pull` in a controlled environment.
//!
//! Every helm process gets a cleared environment: `HOME`, `HELM_CACHE_HOME`,
//! `HELM_CONFIG_HOME`, `HELM_DATA_HOME`, `HELM_PLUGINS`, the repository and registry configs and
//! `TMPDIR` all point into one temporary directory owned by the [`Helm`] value, `KUBECONFIG`
//! names a file that does not exist and `HELM_NO_PLUGINS=1`. A user's repositories, plugins,
//! registry logins and cluster never leak into a render. `helm pull` (the only command that
//! uses the network) additionally sees the proxy variables and `SSL_CERT_FILE`/`SSL_CERT_DIR`.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};

use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind, Result};

/// The oldest helm kiln runs (`--kube-version`, `helm pull oci://` without the experimental flag).
pub const MIN_HELM_VERSION: (u64, u64) = (3, 8);

const NEEDED: &str = "kiln needs helm v3.8 or later to render charts \
    (https://helm.sh/docs/intro/install/); put `helm` on PATH or set KILN_HELM to its path";

/// Variables `helm pull` may see besides the isolated homes: proxies and CA bundles.
const NETWORK_ENV: &[&str] = &[
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// A helm binary. Its version is read at most once per value (and, through the render cache,
/// at most once per binary: see [`crate::chart::Cache`]).
#[derive(Debug)]
pub struct Helm {
    path: PathBuf,
    version: Mutex<Option<String>>,
    home: OnceLock<tempfile::TempDir>,
}

impl Helm {
    /// The helm named by `KILN_HELM`, else the first `helm` on `PATH`, else the one `cargo
    /// xtask` installs into the tools cache (`$XDG_CACHE_HOME/kiln-tools/bin`, by default
    /// `~/.cache/kiln-tools/bin`). Nothing is run yet.
    pub fn find() -> Result<Helm> {
        let kiln_helm = std::env::var_os("KILN_HELM");
        let explicit = kiln_helm.as_ref().is_some_and(|p| !p.is_empty());
        match find_in(kiln_helm, std::env::var_os("PATH")) {
            Err(e) if !explicit => {
                let cache = std::env::var_os("XDG_CACHE_HOME")
                    .map(PathBuf::from)
                    .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")));
                let tools = cache.map(|c| c.join("kiln-tools").join("bin").join("helm"));
                match tools.filter(|p| is_executable(p)) {
                    Some(p) => Ok(Helm::at(p)),
                    None => Err(e),
                }
            }
            found => found,
        }
    }

    /// The helm at `path` (not checked until it is first run).
    pub fn at(path: impl Into<PathBuf>) -> Helm {
        Helm {
            path: path.into(),
            version: Mutex::new(None),
            home: OnceLock::new(),
        }
    }

    /// The helm binary this runs.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// helm's version (like `v4.1.4`), read once with `helm version --template {{.Version}}`.
    /// An error when helm cannot be run or is older than v3.8.
    pub fn version(&self) -> Result<String> {
        let mut known = self.version.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = &*known {
            return Ok(v.clone());
        }
        let out = self.run(&os(&["version", "--template", "{{.Version}}"]), false)?;
        if !out.status.success() {
            return Err(Error::new(
                ErrorKind::Io,
                format!(
                    "`{} version` failed: {}; {NEEDED}",
                    self.path.display(),
                    stderr(&out)
                ),
            ));
        }
        let v = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        check_version(&v).map_err(|msg| {
            Error::new(
                ErrorKind::Io,
                format!("{} is {msg}; {NEEDED}", self.path.display()),
            )
        })?;
        *known = Some(v.clone());
        Ok(v)
    }

    /// Sets the version without running helm (it came from the cache's memo of this binary).
    pub(crate) fn remember_version(&self, v: &str) {
        let mut known = self.version.lock().unwrap_or_else(|e| e.into_inner());
        if known.is_none() {
            *known = Some(v.to_owned());
        }
    }

    /// What identifies this binary without running it: its canonical path, size, modification
    /// time, device and inode, hashed. `None` when it cannot be looked at.
    pub(crate) fn identity(&self) -> Option<String> {
        use std::os::unix::fs::MetadataExt;
        let path = resolve_program(&self.path)?;
        let path = path.canonicalize().ok()?;
        let meta = std::fs::metadata(&path).ok()?;
        let mut h = Sha256::new();
        h.update(path.as_os_str().as_encoded_bytes());
        for n in [
            meta.len(),
            meta.mtime() as u64,
            meta.mtime_nsec() as u64,
            meta.dev(),
            meta.ino(),
        ] {
            h.update(n.to_le_bytes());
        }
        Some(hex(&h.finalize()))
    }

    /// `helm template` of a local chart directory: the raw multi-document output.
    ///
    /// `--include-crds`: the chart's `crds/` land in the output (so they are committed and can
    /// feed validation of custom resources). Hooks are rendered (helm's default); dropping test
    /// hooks is the caller's business ([`crate::chart::split_output`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn template(
        &self,
        chart_dir: &Path,
        values_json: &str,
        release: &str,
        namespace: &str,
        kube_version: &str,
        api_versions: &[String],
    ) -> Result<String> {
        let home = self.home()?;
        let mut values = tempfile::Builder::new()
            .prefix("values-")
            .suffix(".json")
            .tempfile_in(home)
            .map_err(|e| Error::io("create a values file for helm", home, e))?;
        values
            .write_all(values_json.as_bytes())
            .map_err(|e| Error::io("write a values file for helm", values.path(), e))?;
        let chart = std::path::absolute(chart_dir)
            .map_err(|e| Error::io("resolve the chart directory", chart_dir, e))?;
        let mut args = os(&["template", release]);
        args.push(chart.into_os_string());
        args.extend(os(&[
            "--namespace",
            namespace,
            "--kube-version",
            kube_version,
            "--include-crds",
            "--values",
        ]));
        args.push(values.path().into());
        for v in api_versions {
            args.extend(os(&["--api-versions", v]));
        }
        let out = self.run(&args, false)?;
        if !out.status.success() {
            return Err(Error::new(
                ErrorKind::Template,
                format!(
                    "helm template failed for chart {}: {}",
                    chart_dir.display(),
                    stderr(&out)
                ),
            ));
        }
        String::from_utf8(out.stdout).map_err(|_| {
            Error::new(
                ErrorKind::Template,
                format!(
                    "helm template wrote output that is not UTF-8 for chart {}",
                    chart_dir.display()
                ),
            )
        })
    }

    /// `helm pull` of `chart_ref` (a chart name with `--repo URL`, or an `oci://` reference),
    /// untarred into `dest/untar/`.
    pub(crate) fn pull(
        &self,
        repo: Option<&str>,
        chart_ref: &str,
        version: &str,
        dest: &Path,
    ) -> Result<()> {
        let mut args = os(&["pull", chart_ref]);
        if let Some(repo) = repo {
            args.extend(os(&["--repo", repo]));
        }
        args.extend(os(&["--version", version, "--untar", "--destination"]));
        args.push(dest.into());
        args.extend(os(&["--untardir", "untar"]));
        let out = self.run(&args, true)?;
        if !out.status.success() {
            let from = repo.map(|r| format!(" from {r}")).unwrap_or_default();
            return Err(Error::new(
                ErrorKind::Io,
                format!(
                    "helm pull of chart `{chart_ref}` version {version}{from} failed: {}",
                    stderr(&out)
                ),
            ));
        }
        Ok(())
    }

    /// The temporary directory every helm process runs in and uses as its home.
    fn home(&self) -> Result<&Path> {
        if let Some(home) = self.home.get() {
            return Ok(home.path());
        }
        let dir = tempfile::Builder::new()
            .prefix("kiln-helm-")
            .tempdir()
            .map_err(|e| Error::io("create helm's home", &std::env::temp_dir(), e))?;
        std::fs::create_dir_all(dir.path().join("tmp"))
            .map_err(|e| Error::io("create helm's home", dir.path(), e))?;
        // Another thread may have won the race; either directory is as good.
        let _ = self.home.set(dir);
        Ok(self.home.get().expect("set above").path())
    }

    fn run(&self, args: &[OsString], network: bool) -> Result<Output> {
        let home = self.home()?;
        let mut cmd = Command::new(&self.path);
        cmd.args(args)
            .env_clear()
            .current_dir(home)
            .stdin(Stdio::null())
            .env("HOME", home)
            .env("TMPDIR", home.join("tmp"))
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_DATA_HOME", home.join("data"))
            .env("HELM_PLUGINS", home.join("plugins"))
            .env("HELM_NO_PLUGINS", "1")
            .env("HELM_REPOSITORY_CONFIG", home.join("repositories.yaml"))
            .env("HELM_REPOSITORY_CACHE", home.join("repository"))
            .env("HELM_REGISTRY_CONFIG", home.join("registry.json"))
            .env("KUBECONFIG", home.join("no-kubeconfig"))
            .env("NO_COLOR", "1");
        if network {
            for name in NETWORK_ENV {
                if let Some(v) = std::env::var_os(name) {
                    cmd.env(name, v);
                }
            }
        }
        cmd.output().map_err(|e| {
            let msg = if e.kind() == std::io::ErrorKind::NotFound {
                format!("helm not found at {}; {NEEDED}", self.path.display())
            } else {
                format!("cannot run helm at {}: {e}; {NEEDED}", self.path.display())
            };
            Error::new(ErrorKind::Io, msg)
        })
    }
}

/// [`Helm::find`] with the environment passed in.
pub(crate) fn find_in(kiln_helm: Option<OsString>, path: Option<OsString>) -> Result<Helm> {
    if let Some(p) = kiln_helm.filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if !p.is_file() {
            return Err(Error::new(
                ErrorKind::Io,
                format!(
                    "KILN_HELM is {}, which is not a file; {NEEDED}",
                    p.display()
                ),
            ));
        }
        return Ok(Helm::at(p));
    }
    let found = path
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("helm"))
        .find(|p| is_executable(p));
    match found {
        Some(p) => Ok(Helm::at(p)),
        None => Err(Error::new(
            ErrorKind::Io,
            format!("helm not found on PATH; {NEEDED}"),
        )),
    }
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A bare program name is looked up on PATH, as `Command` would.
fn resolve_program(p: &Path) -> Option<PathBuf> {
    if p.components().count() > 1 {
        return Some(p.to_owned());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(p))
        .find(|c| is_executable(c))
}

/// Accepts `v3.8.0` and later (`v` optional, pre-release and build suffixes allowed).
pub(crate) fn check_version(v: &str) -> std::result::Result<(), String> {
    let bare = v.strip_prefix('v').unwrap_or(v);
    let parsed = semver::Version::parse(bare)
        .map_err(|_| format!("helm of unknown version `{v}` (expected like v3.8.0)"))?;
    if (parsed.major, parsed.minor) < MIN_HELM_VERSION {
        return Err(format!("helm {v}, which is too old"));
    }
    Ok(())
}

fn stderr(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stderr);
    let text = text.trim();
    if text.is_empty() {
        format!("exit status {} and nothing on stderr", out.status)
    } else {
        text.to_owned()
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(check_version("v3.8.0").is_ok());
        assert!(check_version("v4.1.4").is_ok());
        assert!(check_version("3.15.2").is_ok());
        assert!(check_version("v3.7.2").unwrap_err().contains("too old"));
        assert!(check_version("v2.17.0").unwrap_err().contains("too old"));
        assert!(check_version("garbage").unwrap_err().contains("unknown"));
    }

    #[test]
    fn finding() {
        let err = find_in(Some("/nonexistent/helm".into()), None).unwrap_err();
        assert!(err.message().contains("KILN_HELM"), "{err}");
        assert!(err.message().contains("v3.8"), "{err}");
        let err = find_in(None, Some("/nonexistent-dir".into())).unwrap_err();
        assert!(err.message().contains("not found on PATH"), "{err}");
        assert!(err.message().contains("v3.8"), "{err}");
    }
}
