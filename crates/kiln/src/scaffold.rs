//! `kiln init`: writes a small working platform to start from: one web app (`hello`),
//! production and staging environments, templates, a README, a `.gitignore` and a CI workflow
//! that runs the drift check.
//!
//! The files are real files in `crates/kiln/scaffold/`, embedded at build time, so they can be
//! read and reviewed as they are. A test renders that directory and builds it with kustomize.
//!
//! Besides `write_tree`, this is the one writer of the library, and the most careful: it only
//! creates new files (`O_EXCL`), refuses to start when any of them exists or when a directory
//! on the way is a symlink or a file, and removes what it created if a write fails.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Location, Result};
use crate::model::check_dns_label;

/// The platform name written when the target directory's name is not a DNS-1123 label.
pub const DEFAULT_PLATFORM_NAME: &str = "my-platform";

/// The scaffold: path relative to the new platform's directory, and content. Sorted by path.
pub const SCAFFOLD: &[(&str, &str)] = &[
    (
        ".github/workflows/kiln.yml",
        include_str!("../scaffold/.github/workflows/kiln.yml"),
    ),
    (".gitignore", include_str!("../scaffold/.gitignore")),
    ("README.md", include_str!("../scaffold/README.md")),
    (
        "environments/production.yaml",
        include_str!("../scaffold/environments/production.yaml"),
    ),
    (
        "environments/staging.yaml",
        include_str!("../scaffold/environments/staging.yaml"),
    ),
    ("kiln.yaml", include_str!("../scaffold/kiln.yaml")),
    (
        "templates/_lib/k8s.j2",
        include_str!("../scaffold/templates/_lib/k8s.j2"),
    ),
    (
        "templates/namespace/namespace.yaml.j2",
        include_str!("../scaffold/templates/namespace/namespace.yaml.j2"),
    ),
    (
        "templates/web/deployment.yaml.j2",
        include_str!("../scaffold/templates/web/deployment.yaml.j2"),
    ),
    (
        "templates/web/ingress.yaml.j2",
        include_str!("../scaffold/templates/web/ingress.yaml.j2"),
    ),
    (
        "templates/web/pdb.yaml.j2",
        include_str!("../scaffold/templates/web/pdb.yaml.j2"),
    ),
    (
        "templates/web/service.yaml.j2",
        include_str!("../scaffold/templates/web/service.yaml.j2"),
    ),
    (
        "templates/web/serviceaccount.yaml.j2",
        include_str!("../scaffold/templates/web/serviceaccount.yaml.j2"),
    ),
];

/// What `init` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitReport {
    /// The platform's name (`name:` in kiln.yaml).
    pub name: String,
    /// The files created, relative to the platform directory, sorted.
    pub created: Vec<PathBuf>,
}

/// The scaffold's files as `init` would write them into `dir`: the platform is named after
/// `dir` when its name is a DNS-1123 label, else [`DEFAULT_PLATFORM_NAME`].
pub fn scaffold_files(dir: &Path) -> (String, Vec<(PathBuf, String)>) {
    let name = platform_name(dir);
    let files = SCAFFOLD
        .iter()
        .map(|(path, text)| {
            let text = if matches!(*path, "kiln.yaml" | "README.md") {
                text.replace(DEFAULT_PLATFORM_NAME, &name)
            } else {
                (*text).to_owned()
            };
            (PathBuf::from(path), text)
        })
        .collect();
    (name, files)
}

fn platform_name(dir: &Path) -> String {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let last = absolute
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => s.to_str(),
            _ => None,
        })
        .next_back();
    match last {
        Some(name) if check_dns_label(name).is_ok() => name.to_owned(),
        _ => DEFAULT_PLATFORM_NAME.to_owned(),
    }
}

/// Writes the scaffold into `dir` (created if missing). Refuses, writing nothing, when any of
/// its files exists already or a directory on the way is not a plain directory.
pub fn init(dir: &Path) -> Result<InitReport> {
    if let Ok(meta) = fs::symlink_metadata(dir) {
        if !meta.is_dir() {
            return Err(Error::new(
                ErrorKind::Unsafe,
                "not a directory (kiln init writes into a directory, and not through a symlink)",
            )
            .at(Location::file(dir)));
        }
    }
    let (name, files) = scaffold_files(dir);

    let mut existing = Vec::new();
    for (rel, _) in &files {
        let mut partial = PathBuf::new();
        for component in rel.components() {
            partial.push(component);
            match fs::symlink_metadata(dir.join(&partial)) {
                Err(_) => break,
                Ok(meta) if partial == *rel || !meta.is_dir() => {
                    if !existing.contains(&partial) {
                        existing.push(partial.clone());
                    }
                    break;
                }
                Ok(_) => {}
            }
        }
    }
    if !existing.is_empty() {
        let list: Vec<String> = existing.iter().map(|p| p.display().to_string()).collect();
        return Err(Error::new(
            ErrorKind::Unsafe,
            format!(
                "kiln init never overwrites, and {} already has {}: {}; nothing was written \
                 (choose a new or empty directory)",
                dir.display(),
                if existing.len() == 1 {
                    "this file".to_owned()
                } else {
                    format!("these {} files", existing.len())
                },
                list.join(", ")
            ),
        ));
    }

    let mut created: Vec<PathBuf> = Vec::new();
    let mut made_dirs: Vec<PathBuf> = Vec::new();
    let result = (|| -> Result<()> {
        for (rel, text) in &files {
            let path = dir.join(rel);
            let parent = path.parent().unwrap_or(dir);
            create_dirs(parent, &mut made_dirs)?;
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| Error::io("create", &path, e))?;
            created.push(rel.clone());
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| Error::io("write", &path, e))?;
        }
        Ok(())
    })();
    if let Err(err) = result {
        for rel in created.iter().rev() {
            let _ = fs::remove_file(dir.join(rel));
        }
        for made in made_dirs.iter().rev() {
            let _ = fs::remove_dir(made);
        }
        return Err(err);
    }
    Ok(InitReport { name, created })
}

/// `create_dir_all`, remembering the directories it made (to undo them on failure).
fn create_dirs(dir: &Path, made: &mut Vec<PathBuf>) -> Result<()> {
    if dir.as_os_str().is_empty() || fs::symlink_metadata(dir).is_ok() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dirs(parent, made)?;
    }
    fs::create_dir(dir).map_err(|e| Error::io("create directory", dir, e))?;
    made.push(dir.to_path_buf());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scaffold_lists_every_file_of_its_directory_sorted() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scaffold");
        let mut on_disk: Vec<String> = walkdir::WalkDir::new(&root)
            .into_iter()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                let rel = e.path().strip_prefix(&root).unwrap();
                rel.to_str().unwrap().to_owned()
            })
            .collect();
        on_disk.sort();
        let embedded: Vec<&str> = SCAFFOLD.iter().map(|(p, _)| *p).collect();
        assert_eq!(embedded, on_disk);
    }

    #[test]
    fn the_platform_is_named_after_its_directory_when_that_is_a_label() {
        assert_eq!(platform_name(Path::new("/tmp/shop-infra")), "shop-infra");
        assert_eq!(
            platform_name(Path::new("/tmp/Shop_Infra")),
            DEFAULT_PLATFORM_NAME
        );
        let (name, files) = scaffold_files(Path::new("/tmp/shop-infra"));
        assert_eq!(name, "shop-infra");
        let kiln_yaml = &files
            .iter()
            .find(|(p, _)| p == Path::new("kiln.yaml"))
            .unwrap()
            .1;
        assert!(kiln_yaml.contains("\nname: shop-infra\n"), "{kiln_yaml}");
    }
}
