//! The one writer: puts a rendered tree on disk atomically, and compares a tree with the disk.
//!
//! Writing never mixes old and new: the new tree (rendered files plus every file kiln did not
//! generate; files that stay as they are hard-linked from the old tree) is built in a sibling
//! directory and swapped in with one `renameat2(RENAME_EXCHANGE)`, so a reader, a crash or a
//! full disk sees either the old tree or the new one. Only files that start with
//! [`GENERATED_MARKER`] count as kiln's: they are replaced or pruned; every other file is
//! carried over untouched, and a rendered path that would overwrite one is an error. Symlinks anywhere in the output tree are refused. An
//! exclusive lock on the directory holding the output root makes a concurrent render fail fast.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Location, Result};
use crate::render::{Rendered, GENERATED_MARKER};

/// What is on disk under an output root.
#[derive(Debug, Default)]
pub struct DiskTree {
    /// Files kiln generated, by relative path, with their text.
    pub generated: BTreeMap<String, String>,
    /// Files kiln did not generate (kept as they are).
    pub foreign: BTreeSet<String>,
    /// Directories, relative (without the root itself).
    pub dirs: BTreeSet<String>,
}

/// What a write did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Generated files new to the tree, by path relative to the output root, sorted.
    pub added: Vec<String>,
    /// Generated files whose text changed, by path relative to the output root, sorted.
    pub changed: Vec<String>,
    /// Generated files deleted as no longer rendered, by path relative to the output root, sorted.
    pub removed: Vec<String>,
    /// How many generated files were already as rendered.
    pub unchanged: usize,
}

impl WriteReport {
    /// Whether the write added, changed and removed nothing.
    pub fn is_noop(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

/// Reads the tree under `root` (which may not exist), refusing symlinks and special files.
pub fn read_tree(root: &Path) -> Result<DiskTree> {
    read_listing(list_tree(root)?, None).map(|(tree, _)| tree)
}

/// Reads the files of a walked tree on every core. With `rendered`, each file is read against
/// the rendered one: a generated file whose text equals it is kept with an empty text and named
/// in the returned set, so an up-to-date tree is not held in memory a second time.
///
/// A failure of the walk is reported only after the files before it were read, so the first
/// error in walk order wins, as when reading one by one.
fn read_listing(
    listing: Listing,
    rendered: Option<&Rendered>,
) -> Result<(DiskTree, HashSet<String>)> {
    let Listing {
        files,
        dirs,
        walked,
    } = listing;
    let mut tree = DiskTree {
        dirs,
        ..DiskTree::default()
    };
    let texts = crate::par::par_map(&files, |(rel, path)| {
        let expected = rendered
            .and_then(|r| r.files.get(rel))
            .map(|f| f.text.as_str());
        Ok(
            match read_if_generated(path, expected.map_or(4096, str::len))? {
                Some((text, true)) if Some(text.as_str()) == expected => {
                    Some((String::new(), true))
                }
                Some((text, _)) => Some((text, false)),
                None => None,
            },
        )
    });
    let mut unchanged = HashSet::new();
    for ((rel, _), text) in files.into_iter().zip(texts) {
        match text? {
            Some((text, same)) => {
                if same {
                    unchanged.insert(rel.clone());
                }
                tree.generated.insert(rel, text);
            }
            None => {
                tree.foreign.insert(rel);
            }
        }
    }
    walked?;
    Ok((tree, unchanged))
}

/// The tree under an output root, walked but not read.
pub(crate) struct Listing {
    /// Files (relative and full path), in walk order.
    files: Vec<(String, PathBuf)>,
    /// Directories, relative (without the root itself).
    dirs: BTreeSet<String>,
    /// How the walk ended: an error is reported after the files listed before it were read.
    walked: Result<()>,
}

/// Walks the tree under `root` (which may not exist) without reading files, refusing what
/// [`read_tree`] refuses.
pub(crate) fn list_tree(root: &Path) -> Result<Listing> {
    let mut listing = Listing {
        files: Vec::new(),
        dirs: BTreeSet::new(),
        walked: Ok(()),
    };
    match fs::symlink_metadata(root) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(listing),
        Err(e) => return Err(Error::io("read", root, e)),
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(Error::new(
                ErrorKind::Unsafe,
                "the output root is a symbolic link; kiln does not write through symlinks",
            )
            .at(Location::file(root)))
        }
        Ok(meta) if !meta.is_dir() => {
            return Err(
                Error::new(ErrorKind::Unsafe, "the output root is not a directory")
                    .at(Location::file(root)),
            )
        }
        Ok(_) => {}
    }
    listing.walked = walk(root, &mut listing.dirs, &mut listing.files);
    Ok(listing)
}

/// Lists the tree under `root`: directories into `dirs`, files (relative and full path) into
/// `files`, in walk order; refuses what [`read_tree`] refuses.
fn walk(
    root: &Path,
    dirs: &mut BTreeSet<String>,
    files: &mut Vec<(String, PathBuf)>,
) -> Result<()> {
    // The top level in one pass, then each top-level directory's subtree on its own core
    // (an environment's tree, usually); the parts are joined in the order one sequential walk
    // gives, and that walk's first error is the one kept, after what it listed before it.
    let top: Vec<walkdir::Result<walkdir::DirEntry>> = walkdir::WalkDir::new(root)
        .follow_links(false)
        .min_depth(1)
        .max_depth(1)
        .sort_by_file_name()
        .into_iter()
        .collect();
    let parts = crate::par::par_map(&top, |entry| {
        let (mut part_dirs, mut part_files) = (Vec::new(), Vec::new());
        let walked = walk_entry(root, entry, &mut part_dirs, &mut part_files).and_then(|dir| {
            let Some(dir) = dir else {
                return Ok(());
            };
            for entry in walkdir::WalkDir::new(dir)
                .follow_links(false)
                .min_depth(1)
                .sort_by_file_name()
            {
                walk_entry(root, &entry, &mut part_dirs, &mut part_files)?;
            }
            Ok(())
        });
        Ok((part_dirs, part_files, walked))
    });
    for part in parts {
        let (part_dirs, part_files, walked) = part?;
        dirs.extend(part_dirs);
        files.extend(part_files);
        walked?;
    }
    Ok(())
}

/// Records one entry of the walk, refusing what the tree may not hold; returns the path of a
/// directory (whose contents come next).
fn walk_entry(
    root: &Path,
    entry: &walkdir::Result<walkdir::DirEntry>,
    dirs: &mut Vec<String>,
    files: &mut Vec<(String, PathBuf)>,
) -> Result<Option<PathBuf>> {
    let entry = entry.as_ref().map_err(|e| {
        let path = e
            .path()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| root.to_path_buf());
        Error::new(ErrorKind::Io, format!("cannot read the output tree: {e}"))
            .at(Location::file(path))
    })?;
    if entry.file_name().to_str().is_none() {
        return Err(Error::new(
            ErrorKind::Unsafe,
            "the name is not UTF-8; kiln cannot carry this file into the new tree, rename it",
        )
        .at(Location::file(entry.path())));
    }
    let rel = relative(root, entry.path());
    let kind = entry.file_type();
    if kind.is_symlink() {
        return Err(Error::new(
            ErrorKind::Unsafe,
            "is a symbolic link inside the output tree; kiln does not write through symlinks",
        )
        .at(Location::file(entry.path())));
    }
    if kind.is_dir() {
        dirs.push(rel);
        Ok(Some(entry.path().to_path_buf()))
    } else if kind.is_file() {
        files.push((rel, entry.path().to_path_buf()));
        Ok(None)
    } else {
        Err(Error::new(
            ErrorKind::Unsafe,
            "is not a regular file or directory (FIFO, socket or device) inside the output tree",
        )
        .at(Location::file(entry.path())))
    }
}

fn relative(root: &Path, path: &Path) -> String {
    let rel = path
        .strip_prefix(root)
        .expect("walkdir stays under its root");
    // The walk refuses names that are not UTF-8, and on Unix the separator is already `/`.
    if cfg!(unix) {
        if let Some(rel) = rel.to_str() {
            return rel.to_owned();
        }
    }
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// The text of a file kiln generated (one that starts with [`GENERATED_MARKER`]), or `None` for
/// any other file, of which only the first `expected + 1` bytes are read. `expected` is the
/// size the caller expects (the rendered file's): a file of that size then costs one read and
/// the one that finds its end, where a marker read, `read_to_end`'s size probe and its reads
/// took seven system calls a file (a fifth of `kiln check` at 1000 apps).
///
/// The text comes with whether the bytes were UTF-8: a file that was not is shown lossily and
/// never counts as equal to a rendered one (which would be linked into the next tree as it is).
fn read_if_generated(path: &Path, expected: usize) -> Result<Option<(String, bool)>> {
    let io = |e| Error::io("read", path, e);
    let marker = GENERATED_MARKER.as_bytes();
    let mut file = fs::File::open(path).map_err(io)?;
    let mut buf = vec![0u8; expected.max(marker.len()) + 1];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(e)),
        };
        len += n;
        if len >= marker.len() && !buf.starts_with(marker) {
            return Ok(None);
        }
    }
    buf.truncate(len);
    if !buf.starts_with(marker) {
        return Ok(None);
    }
    // A tree read whole is held in memory: keep no slack beyond the one spare byte.
    if buf.capacity() > len + 64 {
        buf.shrink_to_fit();
    }
    Ok(Some(match String::from_utf8(buf) {
        Ok(text) => (text, true),
        Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), false),
    }))
}

/// Options for [`write_tree`].
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Write only the files of these environments (and the layout); keep the rest as on disk.
    pub only_envs: Option<BTreeSet<String>>,
    /// Write every file of the new tree anew (copy the hand-written ones) instead of linking
    /// the ones that stay as they are from the old tree. kiln falls back to this by itself
    /// where the file system refuses a link.
    pub no_links: bool,
}

/// Writes `rendered` to `root` atomically.
pub fn write_tree(root: &Path, rendered: &Rendered, options: &WriteOptions) -> Result<WriteReport> {
    let parent = root
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = root
        .file_name()
        .ok_or_else(|| {
            Error::new(ErrorKind::Unsafe, "the output root has no name").at(Location::file(root))
        })?
        .to_string_lossy()
        .into_owned();
    fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, e))?;
    let _lock = Lock::acquire(parent)?;
    clean_leftovers(parent, &name)?;

    // A full render needs the disk's text of no file, only whether it equals the rendered one;
    // reading with the comparison keeps one copy of the tree in memory instead of two.
    let (disk, unchanged) = match options.only_envs {
        None => read_listing(list_tree(root)?, Some(rendered))?,
        Some(_) => (read_tree(root)?, HashSet::new()),
    };
    let in_scope = |env: &Option<String>| match (&options.only_envs, env) {
        (None, _) | (Some(_), None) => true,
        (Some(envs), Some(env)) => envs.contains(env),
    };

    // The new tree: rendered files in scope, generated files out of scope as they are on disk.
    let mut next: BTreeMap<&str, &str> = BTreeMap::new();
    for (path, file) in &rendered.files {
        if in_scope(&file.env) {
            next.insert(path, &file.text);
        } else if let Some(text) = disk.generated.get(path) {
            next.insert(path, text);
        }
    }
    if options.only_envs.is_some() {
        // Out-of-scope generated files that are no longer rendered stay until a full render.
        for (path, text) in &disk.generated {
            let env = rendered.files.get(path).and_then(|f| f.env.clone());
            if !rendered.files.contains_key(path) || !in_scope(&env) {
                next.entry(path).or_insert(text);
            }
        }
    }

    for path in next.keys() {
        if disk.foreign.contains(*path) {
            return Err(Error::new(
                ErrorKind::Unsafe,
                "kiln would overwrite this file, which it did not generate; move it away or \
                 rename the rendered file",
            )
            .at(Location::file(root.join(path))));
        }
        if disk.dirs.contains(*path) {
            return Err(Error::new(
                ErrorKind::Unsafe,
                "kiln would write a file where a directory is",
            )
            .at(Location::file(root.join(path))));
        }
        let mut dir = *path;
        while let Some((d, _)) = dir.rsplit_once('/') {
            if disk.foreign.contains(d) {
                return Err(Error::new(
                    ErrorKind::Unsafe,
                    "kiln needs a directory where this file is",
                )
                .at(Location::file(root.join(d))));
            }
            dir = d;
        }
    }

    refuse_case_twins(root, &disk, next.keys().copied())?;

    let mut report = WriteReport::default();
    // Files whose disk text is the text of the new tree: linked into it, not written again.
    let mut same: HashSet<&str> = HashSet::new();
    for (path, text) in &next {
        match disk.generated.get(*path) {
            None => report.added.push(path.to_string()),
            Some(old) if unchanged.contains(*path) || old == text => {
                report.unchanged += 1;
                same.insert(path);
            }
            Some(_) => report.changed.push(path.to_string()),
        }
    }
    report.removed = disk
        .generated
        .keys()
        .filter(|p| !next.contains_key(p.as_str()))
        .cloned()
        .collect();
    if report.is_noop() && root.exists() {
        return Ok(report);
    }

    let staging = parent.join(format!(".{name}.kiln-new-{}", std::process::id()));
    let links = Links::new(!options.no_links);
    let result = build_and_swap(root, &staging, &disk, &next, &same, &links, &name);
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result.map(|()| report)
}

/// Builds the new tree at `staging` and swaps it in.
///
/// Files that stay as they are (`same`, and every file kiln did not generate) are hard links to
/// the old tree's files, not copies: kiln never changes a file in place, so the two trees can
/// share them, and a one-line change to a large platform costs a link per file instead of a new
/// file each. New files also burden the file system when the old tree goes: on ext4, inodes
/// freed moments ago are skipped by the allocator one by one (`recently_deleted`), which made a
/// one-line change at 25,000 files take 7-25 s of kernel time (BENCHMARKS.md). Where hard links
/// fail (a file system without them, a link limit), the file is written or copied instead.
fn build_and_swap(
    root: &Path,
    staging: &Path,
    disk: &DiskTree,
    next: &BTreeMap<&str, &str>,
    same: &HashSet<&str>,
    links: &Links,
    name: &str,
) -> Result<()> {
    // The staging tree is a sibling of the output root.
    let parent = staging.parent().unwrap_or(Path::new("."));
    let _ = fs::remove_dir_all(staging);
    fs::create_dir(staging).map_err(|e| Error::io("create", staging, e))?;
    for dir in &disk.dirs {
        fs::create_dir_all(staging.join(dir))
            .map_err(|e| Error::io("create", &staging.join(dir), e))?;
    }
    for path in &disk.foreign {
        let (from, to) = (root.join(path), staging.join(path));
        if !links.link(&from, &to, None)? {
            fs::copy(&from, &to).map_err(|e| Error::io("copy", &from, e))?;
        }
    }
    // Each directory once, not once per file, and all of them before the files.
    let mut created: HashSet<&str> = disk.dirs.iter().map(String::as_str).collect();
    for path in next.keys() {
        if let Some((dir, _)) = path.rsplit_once('/') {
            if created.insert(dir) {
                let dir = staging.join(dir);
                fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
            }
        }
    }
    // The files on every core, in runs of neighbours (sorted paths: mostly one directory's).
    let files: Vec<(&str, &str)> = next.iter().map(|(path, text)| (*path, *text)).collect();
    let runs: Vec<&[(&str, &str)]> = files.chunks(256).collect();
    for result in crate::par::par_map(&runs, |run| {
        for (path, text) in *run {
            let to = staging.join(path);
            if same.contains(path) && links.link(&root.join(path), &to, Some(text.len()))? {
                continue;
            }
            let mut file = fs::File::create(&to).map_err(|e| Error::io("write", &to, e))?;
            file.write_all(text.as_bytes())
                .map_err(|e| Error::io("write", &to, e))?;
        }
        Ok(())
    }) {
        result?;
    }
    remove_empty_generated_dirs(staging, disk, next);
    let dir = fs::File::open(staging).map_err(|e| Error::io("open", staging, e))?;
    rustix::fs::syncfs(&dir).map_err(|e| Error::io("sync", staging, e.into()))?;

    if !root.exists() {
        return fs::rename(staging, root).map_err(|e| Error::io("move the new tree into", root, e));
    }
    match rustix::fs::renameat_with(
        rustix::fs::CWD,
        staging,
        rustix::fs::CWD,
        root,
        rustix::fs::RenameFlags::EXCHANGE,
    ) {
        Ok(()) => {
            // `staging` now holds the old tree.
            fs::remove_dir_all(staging).map_err(|e| Error::io("remove the old tree at", staging, e))
        }
        Err(_) => {
            // No atomic exchange on this file system: two renames, the old tree kept until the
            // new one is in place (a crash in between leaves it at `.NAME.kiln-old-PID`).
            let old = parent.join(format!(".{name}.kiln-old-{}", std::process::id()));
            fs::rename(root, &old).map_err(|e| Error::io("move the old tree from", root, e))?;
            if let Err(e) = fs::rename(staging, root) {
                let _ = fs::rename(&old, root);
                return Err(Error::io("move the new tree into", root, e));
            }
            fs::remove_dir_all(&old).map_err(|e| Error::io("remove the old tree at", &old, e))
        }
    }
}

/// Hard links from the old tree into the new one, given up after the first failure.
struct Links {
    work: std::sync::atomic::AtomicBool,
}

impl Links {
    fn new(work: bool) -> Links {
        Links { work: work.into() }
    }

    /// Links `from` at `to`; false if that failed, and from then on without trying. A failed
    /// link leaves nothing at `to`, so the caller writes or copies the file there instead, and
    /// an error that is not about links (a full disk) is reported by that write.
    ///
    /// What was linked is looked at: the walk refused symlinks and read the file, but another
    /// process may have changed the old tree since. A symlink (`link(2)` links the symlink
    /// itself) or, given `len`, a generated file of another length is taken out again, and
    /// the caller writes the rendered text instead; a hand-written file that became a symlink
    /// is an error, as the walk would have made it.
    fn link(&self, from: &Path, to: &Path, len: Option<usize>) -> Result<bool> {
        use std::sync::atomic::Ordering::Relaxed;
        if !self.work.load(Relaxed) {
            return Ok(false);
        }
        if fs::hard_link(from, to).is_err() {
            self.work.store(false, Relaxed);
            return Ok(false);
        }
        let meta = fs::symlink_metadata(to).map_err(|e| Error::io("read", to, e))?;
        let as_read = meta.file_type().is_file() && len.is_none_or(|n| meta.len() == n as u64);
        if !as_read {
            fs::remove_file(to).map_err(|e| Error::io("remove", to, e))?;
            if len.is_none() {
                return Err(Error::new(
                    ErrorKind::Unsafe,
                    "became a symbolic link or special file during the render; kiln does not \
                     write through symlinks",
                )
                .at(Location::file(from)));
            }
        }
        Ok(as_read)
    }
}

/// Refuses a rendered file, or a directory leading to one, whose path differs only in case from
/// a file or directory on disk that kiln did not generate: on a case-insensitive file system
/// (macOS, Windows) the two are one, and writing one would overwrite the other.
fn refuse_case_twins<'a>(
    root: &Path,
    disk: &DiskTree,
    rendered: impl Iterator<Item = &'a str>,
) -> Result<()> {
    // Rendered paths are lower case (DNS-1123 labels), so only paths on disk with upper case can
    // be twins; usually there are none and this costs one scan.
    let mut on_disk: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for path in disk.foreign.iter().chain(&disk.dirs) {
        let lower = path.to_lowercase();
        if lower != *path {
            on_disk.entry(lower).or_default().push(path);
        }
    }
    if on_disk.is_empty() {
        return Ok(());
    }
    for path in rendered {
        let mut prefix = path;
        loop {
            if let Some(twin) = on_disk
                .get(&prefix.to_lowercase())
                .and_then(|twins| twins.first())
            {
                return Err(Error::new(
                    ErrorKind::Unsafe,
                    format!(
                        "differs only in case from the rendered `{prefix}`; on a \
                         case-insensitive file system they are one, so kiln would overwrite \
                         it: rename or move it"
                    ),
                )
                .at(Location::file(root.join(twin))));
            }
            match prefix.rsplit_once('/') {
                Some((dir, _)) => prefix = dir,
                None => break,
            }
        }
    }
    Ok(())
}

/// Directories that held only generated files which are gone now are removed too.
fn remove_empty_generated_dirs(staging: &Path, disk: &DiskTree, next: &BTreeMap<&str, &str>) {
    for dir in disk.dirs.iter().rev() {
        let prefix = format!("{dir}/");
        // Sorted paths: the first one at or after the prefix tells (a lookup, not a scan).
        let under = |first: Option<&str>| first.is_some_and(|p| p.starts_with(&prefix));
        let used = under(next.range(prefix.as_str()..).next().map(|(p, _)| *p))
            || under(
                disk.foreign
                    .range(prefix.clone()..)
                    .next()
                    .map(String::as_str),
            );
        let had_generated = under(
            disk.generated
                .range(prefix.clone()..)
                .next()
                .map(|(p, _)| p.as_str()),
        );
        if !used && had_generated {
            let _ = fs::remove_dir(staging.join(dir));
        }
    }
}

/// Cleans up after a render that was killed: staging trees (`.NAME.kiln-new-*`) are removed,
/// and an old tree that was moved aside (`.NAME.kiln-old-*`, only where the file system has no
/// atomic exchange) is put back if the output root is missing, else removed. Only kiln's own
/// names are touched; the caller holds the lock.
fn clean_leftovers(parent: &Path, name: &str) -> Result<()> {
    let new_prefix = format!(".{name}.kiln-new-");
    let old_prefix = format!(".{name}.kiln-old-");
    let Ok(entries) = fs::read_dir(parent) else {
        return Ok(());
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    let root = parent.join(name);
    for path in entries {
        let file_name = path.file_name().unwrap_or_default().to_string_lossy();
        if file_name.starts_with(&new_prefix) {
            let _ = fs::remove_dir_all(&path);
        } else if file_name.starts_with(&old_prefix) {
            if fs::symlink_metadata(&root).is_err() {
                fs::rename(&path, &root)
                    .map_err(|e| Error::io("put back the previous tree from", &path, e))?;
            } else {
                let _ = fs::remove_dir_all(&path);
            }
        }
    }
    Ok(())
}

/// An exclusive `flock` on the directory that holds the output root: no lock file to leave
/// behind, released by the kernel when the process ends however it ends.
struct Lock {
    _dir: fs::File,
}

impl Lock {
    fn acquire(dir: &Path) -> Result<Lock> {
        let file = fs::File::open(dir).map_err(|e| Error::io("open", dir, e))?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Lock { _dir: file }),
            Err(_) => Err(Error::new(
                ErrorKind::Locked,
                "another kiln process is writing this output tree; wait for it and run again",
            )
            .at(Location::file(dir))),
        }
    }
}

/// One file's difference between the rendered tree and the disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// Rendered, but not on disk.
    Missing {
        /// The file, relative to the output root.
        path: String,
    },
    /// Generated by kiln on disk, but no longer rendered.
    Stale {
        /// The file, relative to the output root.
        path: String,
    },
    /// On disk with other content; `diff` is a unified diff from disk to rendered.
    Changed {
        /// The file, relative to the output root.
        path: String,
        /// A unified diff from the file on disk to the rendered one.
        diff: String,
    },
    /// A rendered path is taken by a file that does not start with [`GENERATED_MARKER`]: a
    /// generated file whose header was edited away, or a hand-written file. Reported as
    /// "modified": a render refuses to overwrite it until the header line is back or the file
    /// is gone.
    Foreign {
        /// The file, relative to the output root.
        path: String,
        /// The first line the rendered file has (kiln's header), to put back.
        header: String,
    },
}

/// Compares a rendered tree with the disk, never writing.
pub fn check_tree(root: &Path, rendered: &Rendered) -> Result<Vec<Drift>> {
    compare_listing(root, list_tree(root)?, rendered).map(|(drift, _)| drift)
}

/// [`check_tree`] over a tree already walked: each file is read and compared on every core, and
/// the text is kept only of files that differ, never the whole tree's. Also returns the files
/// kiln does not own inside directories it generates (see [`unowned`]).
pub(crate) fn compare_listing(
    root: &Path,
    listing: Listing,
    rendered: &Rendered,
) -> Result<(Vec<Drift>, Vec<String>)> {
    let (disk, unchanged) = read_listing(listing, Some(rendered))?;
    refuse_case_twins(root, &disk, rendered.files.keys().map(String::as_str))?;
    let mut drift = Vec::new();
    for (path, file) in &rendered.files {
        match disk.generated.get(path) {
            None if disk.foreign.contains(path) => drift.push(Drift::Foreign {
                path: path.clone(),
                header: file.text.lines().next().unwrap_or_default().to_owned(),
            }),
            None => drift.push(Drift::Missing { path: path.clone() }),
            Some(_) if unchanged.contains(path) => {}
            Some(text) => {
                let diff = similar::TextDiff::from_lines(text.as_str(), file.text.as_str())
                    .unified_diff()
                    .context_radius(3)
                    .header(&format!("{path} (on disk)"), &format!("{path} (rendered)"))
                    .to_string();
                drift.push(Drift::Changed {
                    path: path.clone(),
                    diff,
                });
            }
        }
    }
    for path in disk.generated.keys() {
        if !rendered.files.contains_key(path) {
            drift.push(Drift::Stale { path: path.clone() });
        }
    }
    drift.sort_by(|a, b| drift_path(a).cmp(drift_path(b)));
    Ok((drift, unowned(&disk, rendered)))
}

/// Files kiln did not generate inside a directory it generates (below the output root, which
/// may hold a README and the like): hand-added files that no generated `kustomization.yaml`
/// lists, so they never reach the cluster. A file at a rendered path is drift
/// ([`Drift::Foreign`]), not listed here. Sorted.
fn unowned(disk: &DiskTree, rendered: &Rendered) -> Vec<String> {
    let mut generated_dirs: HashSet<&str> = HashSet::new();
    for path in rendered.files.keys() {
        let mut dir = path.as_str();
        while let Some((d, _)) = dir.rsplit_once('/') {
            if !generated_dirs.insert(d) {
                break;
            }
            dir = d;
        }
    }
    disk.foreign
        .iter()
        .filter(|path| !rendered.files.contains_key(*path))
        .filter(|path| {
            let mut dir = path.as_str();
            while let Some((d, _)) = dir.rsplit_once('/') {
                if generated_dirs.contains(d) {
                    return true;
                }
                dir = d;
            }
            false
        })
        .cloned()
        .collect()
}

fn drift_path(d: &Drift) -> &str {
    match d {
        Drift::Missing { path }
        | Drift::Stale { path }
        | Drift::Changed { path, .. }
        | Drift::Foreign { path, .. } => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_stop_trying_after_the_first_failure() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        fs::write(&a, "x").unwrap();
        let links = Links::new(true);
        assert!(links.link(&a, &tmp.path().join("a2"), Some(1)).unwrap());
        // A failed link (here: nothing to link) leaves nothing behind and turns links off, so
        // the caller writes every later file itself.
        assert!(!links.link(&tmp.path().join("missing"), &b, None).unwrap());
        assert!(!b.exists());
        assert!(!links.link(&a, &b, None).unwrap());
        assert!(!b.exists());
    }

    #[test]
    fn a_linked_file_that_is_not_what_was_read_is_taken_out() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a");
        fs::write(&a, "changed since").unwrap();
        let links = Links::new(true);
        // A generated file of another length than the one read: written anew by the caller.
        assert!(!links.link(&a, &tmp.path().join("b"), Some(1)).unwrap());
        assert!(!tmp.path().join("b").exists());
        // A symlink where the walk saw a file.
        let link = tmp.path().join("l");
        std::os::unix::fs::symlink(&a, &link).unwrap();
        assert!(!links.link(&link, &tmp.path().join("c"), Some(13)).unwrap());
        assert!(fs::symlink_metadata(tmp.path().join("c")).is_err());
        let err = links.link(&link, &tmp.path().join("d"), None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsafe);
        assert!(fs::symlink_metadata(tmp.path().join("d")).is_err());
        // Links keep working after a file was taken out.
        assert!(links.link(&a, &tmp.path().join("e"), Some(13)).unwrap());
    }
}
