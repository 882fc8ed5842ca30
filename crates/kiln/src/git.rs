//! Reading a platform as it was at a git revision, from git's object store: the working tree
//! is never touched. Used by `kiln diff` and `kiln affected`.
//!
//! The same rules as [`crate::load`] apply: symlinks are refused, size caps hold, text must be
//! UTF-8. A revision where the platform does not exist yet reads as `None`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, ErrorKind, Location, Result};
use crate::load::{
    decode, too_big, SourceFile, Sources, CRDS_DIR, ENVIRONMENTS_DIR, FILES_DIR, MAX_CRD_FILE,
    MAX_DATA_FILE, MAX_TEMPLATE_FILE, PLATFORM_FILE, TEMPLATES_DIR,
};

fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot run git: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(Error::new(
            ErrorKind::Io,
            format!("git {} failed: {}", args.join(" "), stderr.trim()),
        ));
    }
    Ok(output.stdout)
}

/// Resolves `rev` to a commit id.
pub fn resolve_rev(root: &Path, rev: &str) -> Result<String> {
    let spec = format!("{rev}^{{commit}}");
    let out = git(root, &["rev-parse", "--verify", "--quiet", &spec]).map_err(|_| {
        Error::new(
            ErrorKind::Io,
            format!(
                "`{rev}` is not a commit in the repository at {}",
                root.display()
            ),
        )
    })?;
    Ok(String::from_utf8_lossy(&out).trim().to_owned())
}

/// Reads the platform at `root` as it is in commit `rev`, or `None` if it has no `kiln.yaml`
/// there.
pub fn load_at(root: &Path, rev: &str) -> Result<Option<Sources>> {
    let commit = resolve_rev(root, rev)?;
    let prefix = String::from_utf8_lossy(&git(root, &["rev-parse", "--show-prefix"])?)
        .trim()
        .to_owned();
    let mut args = vec!["ls-tree", "-r", "-z", "--full-tree", &commit];
    if !prefix.is_empty() {
        args.extend(["--", &prefix]);
    }
    let listing = git(root, &args)?;

    let mut entries: Vec<(PathBuf, String, u64)> = Vec::new();
    for record in listing.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let record = String::from_utf8_lossy(record);
        let Some((meta, path)) = record.split_once('\t') else {
            continue;
        };
        let Some(rel) = path.strip_prefix(&prefix) else {
            continue;
        };
        let rel = PathBuf::from(rel);
        let wanted = rel == Path::new(PLATFORM_FILE)
            || [ENVIRONMENTS_DIR, TEMPLATES_DIR, FILES_DIR, CRDS_DIR]
                .iter()
                .any(|d| rel.starts_with(d));
        if !wanted
            || rel
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
        {
            continue;
        }
        let fields: Vec<&str> = meta.split(' ').collect();
        let (mode, kind, id) = (fields[0], fields[1], fields[2]);
        if mode == "120000" {
            return Err(Error::new(
                ErrorKind::Unsafe,
                format!("is a symbolic link at {rev}; kiln reads only regular files"),
            )
            .at(Location::file(&rel)));
        }
        if kind != "blob" {
            continue;
        }
        let cap = if rel.starts_with(TEMPLATES_DIR) {
            MAX_TEMPLATE_FILE
        } else if rel.starts_with(CRDS_DIR) {
            MAX_CRD_FILE
        } else {
            MAX_DATA_FILE
        };
        entries.push((rel, id.to_owned(), cap));
    }
    if !entries
        .iter()
        .any(|(rel, _, _)| rel == Path::new(PLATFORM_FILE))
    {
        return Ok(None);
    }

    let blobs = cat_blobs(root, entries.iter().map(|(_, id, _)| id.as_str()))?;
    let mut platform = None;
    let mut environments = Vec::new();
    let mut templates = Vec::new();
    let mut files = Vec::new();
    let mut crds = Vec::new();
    for ((rel, _, cap), bytes) in entries.into_iter().zip(blobs) {
        if bytes.len() as u64 > cap {
            return Err(too_big(&rel, cap));
        }
        let mut file = decode(&rel, bytes)?;
        if rel == Path::new(PLATFORM_FILE) {
            platform = Some(file);
        } else if rel.starts_with(ENVIRONMENTS_DIR) {
            let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if rel.parent() == Some(Path::new(ENVIRONMENTS_DIR))
                && (name.ends_with(".yaml") || name.ends_with(".yml"))
            {
                environments.push(file);
            }
        } else {
            let (dir, list) = if rel.starts_with(TEMPLATES_DIR) {
                (TEMPLATES_DIR, &mut templates)
            } else if rel.starts_with(CRDS_DIR) {
                (CRDS_DIR, &mut crds)
            } else {
                (FILES_DIR, &mut files)
            };
            file.path = rel.strip_prefix(dir).expect("filtered above").to_path_buf();
            list.push(file);
        }
    }
    let sort = |v: &mut Vec<SourceFile>| v.sort_by(|a, b| a.path.cmp(&b.path));
    sort(&mut environments);
    sort(&mut templates);
    sort(&mut files);
    sort(&mut crds);
    Ok(Some(Sources {
        root: root.to_path_buf(),
        platform: platform.expect("checked above"),
        environments,
        templates,
        files,
        crds,
    }))
}

/// Reads one file of the platform at `root` (`rel` relative to it) as it is in commit `rev`,
/// with the rules of [`crate::load`]: a regular file (no symlink), at most [`MAX_DATA_FILE`],
/// UTF-8. `None` when the file does not exist there.
pub fn read_file_at(root: &Path, rev: &str, rel: &Path) -> Result<Option<SourceFile>> {
    let commit = resolve_rev(root, rev)?;
    let prefix = String::from_utf8_lossy(&git(root, &["rev-parse", "--show-prefix"])?)
        .trim()
        .to_owned();
    let rel_text = rel.to_str().ok_or_else(|| {
        Error::new(ErrorKind::Model, "the path is not UTF-8").at(Location::file(rel))
    })?;
    let full = format!("{prefix}{rel_text}");
    let listing = git(
        root,
        &["ls-tree", "-l", "-z", "--full-tree", &commit, "--", &full],
    )?;
    let Some(record) = listing.split(|&b| b == 0).find(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let record = String::from_utf8_lossy(record);
    let Some((meta, path)) = record.split_once('\t') else {
        return Ok(None);
    };
    if path != full {
        return Ok(None);
    }
    let fields: Vec<&str> = meta.split_whitespace().collect();
    let (mode, kind, id) = (fields[0], fields[1], fields[2]);
    if mode == "120000" {
        return Err(Error::new(
            ErrorKind::Unsafe,
            format!("is a symbolic link at {rev}; kiln reads only regular files"),
        )
        .at(Location::file(rel)));
    }
    // `ls-tree -l` gives the size first: an oversized blob is never read.
    if fields
        .get(3)
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0)
        > MAX_DATA_FILE
    {
        return Err(too_big(rel, MAX_DATA_FILE));
    }
    if kind != "blob" {
        return Err(Error::new(
            ErrorKind::Unsafe,
            format!("is not a regular file at {rev}; expected a file"),
        )
        .at(Location::file(rel)));
    }
    let bytes = cat_blobs(root, std::iter::once(id))?
        .pop()
        .unwrap_or_default();
    if bytes.len() as u64 > MAX_DATA_FILE {
        return Err(too_big(rel, MAX_DATA_FILE));
    }
    decode(rel, bytes).map(Some)
}

/// The largest file of a directory [`write_dir_at`] writes out (a chart's packaged subcharts
/// are the largest files it holds).
const MAX_DIR_FILE: u64 = 16 * 1024 * 1024;

/// Writes the files under `rel_dir` of the platform at `root` as they are in commit `rev` into
/// `dest` (at `dest/rel_dir/...`): what a chart bundle of an older revision renders from. A
/// symbolic link is refused; a revision without the directory writes nothing.
pub fn write_dir_at(root: &Path, rev: &str, rel_dir: &Path, dest: &Path) -> Result<()> {
    let mut entries = Vec::new();
    for entry in tree_entries(root, rev, &rel_dir.to_string_lossy())? {
        let rel = rel_dir.join(&entry.rel);
        if entry.mode == "120000" {
            return Err(Error::new(
                ErrorKind::Unsafe,
                format!("is a symbolic link at {rev}; kiln reads only regular files"),
            )
            .at(Location::file(&rel)));
        }
        if entry.kind != "blob" {
            continue;
        }
        if entry.size > MAX_DIR_FILE {
            return Err(too_big(&rel, MAX_DIR_FILE));
        }
        let plain = rel
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !plain {
            return Err(
                Error::new(ErrorKind::Unsafe, "is not a plain relative path")
                    .at(Location::file(&rel)),
            );
        }
        entries.push((rel, entry.id));
    }
    let blobs = cat_blobs(root, entries.iter().map(|(_, id)| id.as_str()))?;
    for ((rel, _), bytes) in entries.iter().zip(blobs) {
        let path = dest.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("create", rel, e))?;
        }
        std::fs::write(&path, bytes).map_err(|e| Error::io("write", rel, e))?;
    }
    Ok(())
}

/// One file of a directory at a revision, as `git ls-tree -r -l` lists it.
struct TreeEntry {
    /// Relative to the directory listed.
    rel: String,
    mode: String,
    /// `blob` for a file.
    kind: String,
    id: String,
    size: u64,
}

/// Every file below `dir` (relative to the platform at `root`) in commit `rev`.
fn tree_entries(root: &Path, rev: &str, dir: &str) -> Result<Vec<TreeEntry>> {
    let commit = resolve_rev(root, rev)?;
    let prefix = String::from_utf8_lossy(&git(root, &["rev-parse", "--show-prefix"])?)
        .trim()
        .to_owned();
    let full = format!("{prefix}{dir}/");
    let listing = git(
        root,
        &[
            "ls-tree",
            "-r",
            "-l",
            "-z",
            "--full-tree",
            &commit,
            "--",
            &full,
        ],
    )?;
    let mut out = Vec::new();
    for record in listing.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let record = String::from_utf8_lossy(record);
        let Some((meta, path)) = record.split_once('\t') else {
            continue;
        };
        let Some(rel) = path.strip_prefix(&full) else {
            continue;
        };
        let fields: Vec<&str> = meta.split_whitespace().collect();
        if fields.len() < 3 {
            continue;
        }
        out.push(TreeEntry {
            rel: rel.to_owned(),
            mode: fields[0].to_owned(),
            kind: fields[1].to_owned(),
            id: fields[2].to_owned(),
            size: fields.get(3).and_then(|s| s.parse().ok()).unwrap_or(0),
        });
    }
    Ok(out)
}

/// Reads blobs in one `git cat-file --batch` process.
fn cat_blobs<'a>(root: &Path, ids: impl Iterator<Item = &'a str>) -> Result<Vec<Vec<u8>>> {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot run git: {e}")))?;
    let input: String = ids.map(|id| format!("{id}\n")).collect();
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child
        .wait_with_output()
        .map_err(|e| Error::new(ErrorKind::Io, format!("git cat-file failed: {e}")))?;
    let _ = writer.join();
    let mut out = output.stdout.as_slice();
    let mut blobs = Vec::new();
    while !out.is_empty() {
        let nl = out.iter().position(|&b| b == b'\n').unwrap_or(out.len());
        let header = String::from_utf8_lossy(&out[..nl]).into_owned();
        let size: usize = header
            .split(' ')
            .nth(2)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Io,
                    format!("unexpected git cat-file output: {header}"),
                )
            })?;
        let start = nl + 1;
        blobs.push(out[start..start + size].to_vec());
        out = &out[(start + size + 1).min(out.len())..];
    }
    Ok(blobs)
}

/// A rendered file that git ignores: committing the render would leave it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    /// Relative to the platform root.
    pub path: String,
    /// The ignore rule that hides it: `.gitignore:3: api`.
    pub rule: String,
}

/// Which of `paths` (relative to `root`) git ignores and does not track, with the rule that
/// hides each (seed 003: a `.gitignore` line `api` hid `deploy-k3s/manifests/api/`). Outside a
/// git work tree, or without git, nothing is ignored.
pub fn ignored(root: &Path, paths: &[String]) -> Result<Vec<Ignored>> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let Ok(mut child) = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["check-ignore", "--verbose", "-z", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    else {
        return Ok(Vec::new());
    };
    let input: Vec<u8> = paths.iter().flat_map(|p| p.bytes().chain([0])).collect();
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child
        .wait_with_output()
        .map_err(|e| Error::new(ErrorKind::Io, format!("git check-ignore failed: {e}")))?;
    let _ = writer.join();
    // 0: some paths are ignored, 1: none, anything else: not a work tree.
    if output.status.code() != Some(0) {
        return Ok(Vec::new());
    }
    // Records of four fields: source, line, pattern, path.
    let fields: Vec<String> = output
        .stdout
        .split(|&b| b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    let mut out = Vec::new();
    for record in fields.chunks_exact(4) {
        let [source, line, pattern, path] = record else {
            continue;
        };
        // A negated pattern matched: the path is not ignored.
        if pattern.starts_with('!') || source.is_empty() {
            continue;
        }
        out.push(Ignored {
            path: path.clone(),
            rule: format!("{source}:{line}: {pattern}"),
        });
    }
    Ok(out)
}

/// The committed output tree of the platform at `root` in commit `rev`: each file's path
/// relative to `output` and its bytes (lossily decoded; files over [`MAX_DATA_FILE`] read as
/// empty). `None` when the commit has no such directory.
pub fn read_output_at(
    root: &Path,
    rev: &str,
    output: &str,
) -> Result<Option<std::collections::BTreeMap<String, String>>> {
    let entries: Vec<TreeEntry> = tree_entries(root, rev, output)?
        .into_iter()
        .filter(|e| e.kind == "blob")
        .collect();
    if entries.is_empty() {
        return Ok(None);
    }
    let small: Vec<&TreeEntry> = entries.iter().filter(|e| e.size <= MAX_DATA_FILE).collect();
    let blobs = cat_blobs(root, small.iter().map(|e| e.id.as_str()))?;
    let mut out: std::collections::BTreeMap<String, String> = entries
        .iter()
        .map(|e| (e.rel.clone(), String::new()))
        .collect();
    for (e, bytes) in small.into_iter().zip(blobs) {
        out.insert(e.rel.clone(), String::from_utf8_lossy(&bytes).into_owned());
    }
    Ok(Some(out))
}
