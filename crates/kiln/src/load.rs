//! Reading a platform directory into memory: the only place kiln reads its inputs.
//!
//! Everything after this works on [`Sources`] without touching the file system. Reading refuses
//! symlinks, FIFOs, devices and anything that is not a regular file, files over a size cap, and
//! text that is not UTF-8, each with the file's path.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Location, Result};

/// The largest `kiln.yaml` or environment file kiln reads.
pub const MAX_DATA_FILE: u64 = 1024 * 1024;
/// The largest CustomResourceDefinition file kiln reads (real CRDs run to a few hundred KiB).
pub const MAX_CRD_FILE: u64 = 4 * 1024 * 1024;
/// The largest template kiln reads.
pub const MAX_TEMPLATE_FILE: u64 = 256 * 1024;
/// The most templates (or data files) a platform may have.
pub const MAX_TEMPLATES: usize = 10_000;

/// A file read from the platform, with its path relative to the platform root.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The file's path: relative to the platform root, or to `templates/` or `files/` for the
    /// [`Sources`] that say so.
    pub path: PathBuf,
    /// The file's contents.
    pub text: String,
}

/// Everything a render reads, in memory.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The platform directory (only for messages and to locate the output tree).
    pub root: PathBuf,
    /// `kiln.yaml`.
    pub platform: SourceFile,
    /// Sorted by path.
    pub environments: Vec<SourceFile>,
    /// Paths relative to `templates/`, with `/` separators; sorted.
    pub templates: Vec<SourceFile>,
    /// Data files templates may read (`files/`, e.g. an env file for a ConfigMap); paths
    /// relative to `files/`, sorted.
    pub files: Vec<SourceFile>,
    /// CustomResourceDefinition manifests under `crds/`, paths relative to `crds/`; sorted.
    pub crds: Vec<SourceFile>,
}

pub const PLATFORM_FILE: &str = "kiln.yaml";
pub const ENVIRONMENTS_DIR: &str = "environments";
pub const TEMPLATES_DIR: &str = "templates";
pub const FILES_DIR: &str = "files";
/// CustomResourceDefinition manifests the platform keeps: the schemas its custom resources are
/// checked against.
pub const CRDS_DIR: &str = "crds";

/// Reads `kiln.yaml`, `environments/*.yaml` and `templates/**` under `root`.
pub fn load(root: &Path) -> Result<Sources> {
    let platform_path = root.join(PLATFORM_FILE);
    if !platform_path.exists() && fs::symlink_metadata(&platform_path).is_err() {
        return Err(Error::new(
            ErrorKind::Io,
            format!(
                "no {PLATFORM_FILE} in {}; is this a kiln platform? (`kiln init` creates one)",
                root.display()
            ),
        ));
    }
    let platform = read_text(root, Path::new(PLATFORM_FILE), MAX_DATA_FILE)?;

    let mut environments = Vec::new();
    for rel in list_dir(root, Path::new(ENVIRONMENTS_DIR))? {
        let Some(name) = rel.file_name().and_then(|n| n.to_str()) else {
            return Err(Error::new(
                ErrorKind::Model,
                "the file name is not UTF-8; an environment's name (its file name) is a \
                 DNS-1123 label",
            )
            .at(Location::file(&rel)));
        };
        let is_yaml = name.ends_with(".yaml") || name.ends_with(".yml");
        // Dot-files (`.gitkeep`, editor swap files) are skipped, but a hidden `.yaml` file is
        // an environment whose name (`.yaml` -> ``, `...yaml` -> `..`) resolve refuses, rather
        // than an environment silently left out.
        if name.starts_with('.') && !is_yaml {
            continue;
        }
        if !is_yaml {
            return Err(Error::new(
                ErrorKind::Model,
                "environment files are `<name>.yaml`; move other files out of environments/",
            )
            .at(Location::file(&rel)));
        }
        environments.push(read_text(root, &rel, MAX_DATA_FILE)?);
    }

    let templates = read_tree_texts(root, TEMPLATES_DIR, MAX_TEMPLATE_FILE)?;
    let files = read_tree_texts(root, FILES_DIR, MAX_DATA_FILE)?;
    let crds = read_tree_texts(root, CRDS_DIR, MAX_CRD_FILE)?;

    Ok(Sources {
        root: root.to_path_buf(),
        platform,
        environments,
        templates,
        files,
        crds,
    })
}

/// Reads the platform's version file (`release.version_file` of kiln.yaml, relative to `root`)
/// with the rules of every input: a regular file, at most [`MAX_DATA_FILE`], UTF-8.
/// No directory on the way may be a symlink either.
pub fn read_version_file(root: &Path, rel: &Path) -> Result<SourceFile> {
    let mut dir = PathBuf::new();
    for part in rel.parent().into_iter().flat_map(Path::components) {
        dir.push(part);
        let meta = fs::symlink_metadata(root.join(&dir)).map_err(|e| Error::io("read", &dir, e))?;
        if meta.file_type().is_symlink() {
            return Err(refuse_symlink(&dir));
        }
    }
    read_text(root, rel, MAX_DATA_FILE)
}

/// Reads every file under `root/dir` (recursively, dot-files skipped), with paths relative to
/// `dir` and `/` separators, sorted.
fn read_tree_texts(root: &Path, dir: &str, cap: u64) -> Result<Vec<SourceFile>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::from(dir)];
    while let Some(current) = stack.pop() {
        for rel in list_dir(root, &current)? {
            if rel
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
            {
                continue;
            }
            let meta = fs::symlink_metadata(root.join(&rel))
                .map_err(|e| Error::io("read metadata of", &rel, e))?;
            if meta.is_dir() {
                stack.push(rel);
                continue;
            }
            let mut file = read_text(root, &rel, cap)?;
            let name = rel.strip_prefix(dir).expect("listed under its directory");
            file.path = PathBuf::from(
                name.components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/"),
            );
            out.push(file);
            if out.len() > MAX_TEMPLATES {
                return Err(Error::new(
                    ErrorKind::Model,
                    format!("more than {MAX_TEMPLATES} files"),
                )
                .at(Location::file(dir)));
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Lists a directory's entries (relative to `root`), sorted, refusing symlinks. A missing
/// directory lists as empty.
fn list_dir(root: &Path, rel: &Path) -> Result<Vec<PathBuf>> {
    let abs = root.join(rel);
    match fs::symlink_metadata(&abs) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read", rel, e)),
        Ok(meta) if meta.file_type().is_symlink() => return Err(refuse_symlink(rel)),
        Ok(meta) if !meta.is_dir() => {
            return Err(
                Error::new(ErrorKind::Unsafe, "expected a directory").at(Location::file(rel))
            )
        }
        Ok(_) => {}
    }
    let mut entries = Vec::new();
    for entry in fs::read_dir(&abs).map_err(|e| Error::io("list", rel, e))? {
        let entry = entry.map_err(|e| Error::io("list", rel, e))?;
        entries.push(rel.join(entry.file_name()));
    }
    entries.sort();
    Ok(entries)
}

fn refuse_symlink(rel: &Path) -> Error {
    Error::new(
        ErrorKind::Unsafe,
        "is a symbolic link; kiln reads only regular files inside the platform directory",
    )
    .at(Location::file(rel))
}

/// Reads one regular file as UTF-8 text, refusing symlinks, special files and oversized files.
fn read_text(root: &Path, rel: &Path, cap: u64) -> Result<SourceFile> {
    let abs = root.join(rel);
    let meta = fs::symlink_metadata(&abs).map_err(|e| Error::io("read", rel, e))?;
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Err(refuse_symlink(rel));
    }
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "a directory"
        } else {
            "not a regular file (FIFO, socket or device)"
        };
        return Err(
            Error::new(ErrorKind::Unsafe, format!("is {what}; expected a file"))
                .at(Location::file(rel)),
        );
    }
    if meta.len() > cap {
        return Err(too_big(rel, cap));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The file may have been swapped since the check: open without following a symlink and
    // without blocking on a FIFO, and check again what was opened. `take` guards against a
    // file that grows in the meantime.
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(&abs)
        .map_err(|e| Error::io("read", rel, e))?;
    if !file
        .metadata()
        .map_err(|e| Error::io("read", rel, e))?
        .is_file()
    {
        return Err(Error::new(
            ErrorKind::Unsafe,
            "changed into something other than a regular file while kiln read it",
        )
        .at(Location::file(rel)));
    }
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("read", rel, e))?;
    if bytes.len() as u64 > cap {
        return Err(too_big(rel, cap));
    }
    decode(rel, bytes)
}

/// UTF-8 text or an error naming the line and column of the first bad byte.
pub(crate) fn decode(rel: &Path, bytes: Vec<u8>) -> Result<SourceFile> {
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let prefix = &e.as_bytes()[..at];
        let line = prefix.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = at
            - prefix
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1)
            + 1;
        Error::new(ErrorKind::Yaml, "the file is not valid UTF-8")
            .at(Location::at(rel, line, column))
    })?;
    Ok(SourceFile {
        path: rel.to_path_buf(),
        text,
    })
}

pub(crate) fn too_big(rel: &Path, cap: u64) -> Error {
    Error::new(
        ErrorKind::Unsafe,
        format!("is larger than the {} KiB kiln reads", cap / 1024),
    )
    .at(Location::file(rel))
}
