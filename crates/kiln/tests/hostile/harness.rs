//! The hostile-input harness, shared by the library's runner (`crates/kiln/tests/hostile.rs`)
//! and the binary's (`crates/kiln-cli/tests/hostile.rs`).
//!
//! Each folder `tests/hostile/<case>/` is one case: a `case.yaml` saying what to do to a fresh
//! copy of `tests/fixtures/mini` after it has been rendered once (so an output tree exists that
//! must survive), plus files copied over the platform. What git cannot hold portably (symlinks,
//! FIFOs, devices, files over a size cap, names that are not UTF-8) is made by `setup` actions
//! here. `case.yaml`:
//!
//! ```yaml
//! about: what the case proves          # required
//! prerender: false                     # default true: render the pristine platform first
//! each: ["yes", "on"]                  # run once per value; `{each}` in edits and texts
//! edit:                                # text replacements in the platform; each must match
//!   - { file: kiln.yaml, from: "a", to: "b" }
//! setup:                               # actions, in order
//!   - { symlink: environments/prod.yaml, to: ../../outside/prod.yaml }
//!   - { fifo: PATH }  - { device: PATH }  - { dir: PATH }  - { remove: PATH }
//!   - { big: PATH, bytes: N }  - { write: PATH, text: TEXT }  - { copy: FROM, to: TO }
//!   - { rename: FROM, to: TO }  - { bom_crlf: PATH }  - { non_utf8_name: DIR, suffix: .yaml }
//!   - { occupy_staging: k8s }          # a file where this process would stage the new tree
//! output_root: blocker/k8s             # write here instead (relative to the temporary dir)
//! show: [k8s/apps/shop/config.yaml]    # files whose text goes into the snapshot
//! cli: { skip: true }                  # library only (`output_root`, this process's pid)
//! cli: { only: true, fsize_bytes: 512 } # binary only, snapshotted by the CLI runner
//! ```
//!
//! Paths are relative to the platform directory; `../outside/` next to it holds a copy of
//! `prod.yaml` and a `secret.txt` to point symlinks at.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::TempDir;

pub fn kiln_tests_dir() -> PathBuf {
    // Both crates are siblings under crates/.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../kiln/tests")
        .canonicalize()
        .unwrap()
}

pub struct Case {
    pub name: String,
    pub dir: PathBuf,
    pub spec: Value,
}

impl Case {
    pub fn about(&self) -> &str {
        self.spec["about"].as_str().unwrap_or_default()
    }

    /// The values of `each`, or one run without a value.
    pub fn runs(&self) -> Vec<Option<String>> {
        match self.spec.get("each").and_then(Value::as_array) {
            Some(values) => values
                .iter()
                .map(|v| Some(v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                .collect(),
            None => vec![None],
        }
    }

    pub fn prerender(&self) -> bool {
        self.spec["prerender"].as_bool().unwrap_or(true)
    }

    pub fn output_root(&self) -> Option<&str> {
        self.spec["output_root"].as_str()
    }

    pub fn show(&self) -> Vec<String> {
        self.spec["show"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    }

    pub fn cli(&self) -> &Value {
        &self.spec["cli"]
    }
}

/// Every case folder, sorted by name.
pub fn cases() -> Vec<Case> {
    let root = kiln_tests_dir().join("hostile");
    let mut cases: Vec<Case> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|dir| {
            let spec_path = dir.join("case.yaml");
            let text = fs::read_to_string(&spec_path)
                .unwrap_or_else(|e| panic!("{}: {e}", spec_path.display()));
            let spec = kiln::yaml::parse_document(&text, &spec_path)
                .unwrap_or_else(|e| panic!("{e}"))
                .to_json();
            assert!(
                spec["about"].is_string(),
                "{}: `about` is required",
                spec_path.display()
            );
            Case {
                name: dir.file_name().unwrap().to_string_lossy().into_owned(),
                dir,
                spec,
            }
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(cases.len() > 10, "the hostile cases are missing");
    cases
}

/// A case made real in a temporary directory.
pub struct Prepared {
    pub tmp: TempDir,
    /// The platform directory (`<tmp>/mini`).
    pub root: PathBuf,
}

impl Prepared {
    /// Where the case writes: its `output_root` (relative to the temporary directory) or the
    /// platform's own output root.
    pub fn output_root(&self, case: &Case) -> Option<PathBuf> {
        case.output_root().map(|p| self.tmp.path().join(p))
    }

    /// Replaces the temporary directory (and a process id in kiln's staging names) in text.
    pub fn redact(&self, text: &str) -> String {
        let text = text.replace(&self.tmp.path().display().to_string(), "<tmp>");
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some((i, len)) = [".kiln-new-", ".kiln-old-"]
            .iter()
            .filter_map(|m| rest.find(m).map(|i| (i, m.len())))
            .min()
        {
            out.push_str(&rest[..i + len]);
            rest = &rest[i + len..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0 {
                out.push_str("<pid>");
            }
            rest = &rest[digits..];
        }
        out.push_str(rest);
        out
    }
}

/// Copies the mini platform, renders it with `render` when the case wants a tree, then applies
/// the case's edits, files and setup actions.
pub fn prepare(case: &Case, each: Option<&str>, render: impl FnOnce(&Path)) -> Prepared {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("mini");
    copy_dir(&kiln_tests_dir().join("fixtures/mini"), &root);
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::copy(
        root.join("environments/prod.yaml"),
        outside.join("prod.yaml"),
    )
    .unwrap();
    fs::write(outside.join("secret.txt"), "not for kiln\n").unwrap();
    if case.prerender() {
        render(&root);
    }

    let subst = |s: &str| match each {
        Some(v) => s.replace("{each}", v),
        None => s.to_owned(),
    };
    for edit in case.spec["edit"].as_array().into_iter().flatten() {
        let path = root.join(edit["file"].as_str().unwrap());
        let from = subst(edit["from"].as_str().unwrap());
        let to = subst(edit["to"].as_str().unwrap());
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(&from),
            "{}: {} lacks {from:?}",
            case.name,
            path.display()
        );
        fs::write(&path, text.replacen(&from, &to, 1)).unwrap();
    }

    let mut files = Vec::new();
    walk(&case.dir, &mut files);
    for path in files {
        let rel = path.strip_prefix(&case.dir).unwrap();
        if rel == Path::new("case.yaml") || path.is_dir() {
            continue;
        }
        let to = root.join(rel);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(&path, &to).unwrap();
    }

    for action in case.spec["setup"].as_array().into_iter().flatten() {
        let mut action = action.clone();
        if let Some(text) = action.get("text").and_then(Value::as_str) {
            action["text"] = Value::String(subst(text));
        }
        apply(&root, &action, &case.name);
    }
    Prepared { tmp, root }
}

fn apply(root: &Path, action: &Value, case: &str) {
    let arg = |key: &str| action[key].as_str().map(|s| root.join(s));
    let clear = |path: &Path| match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).unwrap(),
        Ok(_) => fs::remove_file(path).unwrap(),
        Err(_) => {}
    };
    if let Some(path) = arg("symlink") {
        clear(&path);
        std::os::unix::fs::symlink(action["to"].as_str().unwrap(), &path).unwrap();
    } else if let Some(path) = arg("fifo") {
        clear(&path);
        run("mkfifo", &[path.as_os_str()]);
    } else if let Some(path) = arg("device") {
        clear(&path);
        // /dev/null's numbers. Without the privilege to make a device, a socket is the other
        // special file kiln refuses with the same message.
        let made = std::process::Command::new("mknod")
            .arg(&path)
            .args(["c", "1", "3"])
            .status()
            .is_ok_and(|s| s.success());
        if !made {
            drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        }
    } else if let Some(path) = arg("dir") {
        clear(&path);
        fs::create_dir_all(&path).unwrap();
        fs::write(path.join("inside.yaml.j2"), "").unwrap();
    } else if let Some(path) = arg("remove") {
        clear(&path);
    } else if let Some(path) = arg("big") {
        let bytes = action["bytes"].as_u64().unwrap() as usize;
        let mut text = String::with_capacity(bytes);
        while text.len() < bytes {
            text.push_str("# padding padding padding padding padding padding padding pad\n");
        }
        text.truncate(bytes);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    } else if let Some(path) = arg("write") {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, action["text"].as_str().unwrap()).unwrap();
    } else if let Some(from) = arg("copy") {
        fs::copy(from, root.join(action["to"].as_str().unwrap())).unwrap();
    } else if let Some(from) = arg("rename") {
        fs::rename(from, root.join(action["to"].as_str().unwrap())).unwrap();
    } else if let Some(path) = arg("bom_crlf") {
        let text = fs::read_to_string(&path).unwrap();
        fs::write(path, format!("\u{feff}{}", text.replace('\n', "\r\n"))).unwrap();
    } else if let Some(output) = arg("occupy_staging") {
        // The name kiln gives its staging directory in this process, taken by a file.
        let name = output.file_name().unwrap().to_string_lossy().into_owned();
        let staging = output.with_file_name(format!(".{name}.kiln-new-{}", std::process::id()));
        fs::write(staging, "in the way\n").unwrap();
    } else if let Some(dir) = arg("non_utf8_name") {
        use std::os::unix::ffi::OsStrExt;
        let suffix = action["suffix"].as_str().unwrap_or_default();
        let mut name = b"\xff".to_vec();
        name.extend_from_slice(suffix.as_bytes());
        fs::write(dir.join(std::ffi::OsStr::from_bytes(&name)), "").unwrap();
    } else {
        panic!("{case}: unknown setup action {action}");
    }
}

fn run(program: &str, args: &[&std::ffi::OsStr]) {
    let status = std::process::Command::new(program)
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "{program} {args:?}: {status}");
}

/// Every path under `dir` (itself first), depth first in name order, without following links.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    if fs::symlink_metadata(dir).unwrap().is_dir() {
        let mut entries: Vec<PathBuf> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for entry in entries {
            walk(&entry, out);
        }
    }
}

pub use crate::common::copy_dir;

/// Everything under `dir`, without following symlinks: each path with its kind and content
/// (file bytes, link target), for "nothing changed" comparisons.
pub fn dir_state(dir: &Path) -> Vec<(PathBuf, String)> {
    use std::os::unix::fs::FileTypeExt;
    let mut paths = Vec::new();
    walk(dir, &mut paths);
    paths
        .into_iter()
        .map(|path| {
            let kind = fs::symlink_metadata(&path).unwrap().file_type();
            let what = if kind.is_symlink() {
                format!("link -> {}", fs::read_link(&path).unwrap().display())
            } else if kind.is_dir() {
                "dir".to_owned()
            } else if kind.is_file() {
                let bytes = fs::read(&path).unwrap();
                format!("file {} {:x}", bytes.len(), fnv(&bytes))
            } else if kind.is_fifo() {
                "fifo".to_owned()
            } else {
                "special".to_owned()
            };
            (path.strip_prefix(dir).unwrap().to_path_buf(), what)
        })
        .collect()
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}

/// The entries directly in `dir`, sorted (shows staging directories left behind, or not).
pub fn listing(dir: &Path) -> String {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.join(" ")
}
