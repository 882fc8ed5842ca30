//! Repository tasks: `cargo xtask render` and `cargo xtask check` over every platform in this
//! repository (the root platform and each `examples/<name>/`), and the fleet benchmark
//! (`cargo xtask fleet`, `cargo xtask bench-peers`).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};

mod bench;
mod fleet;
mod tools;

const HELP: &str = "\
cargo xtask <task>

Tasks:
  render       render every platform in the repository (the root and examples/*)
  check        the CI gate: every committed tree equals a fresh render, snapshots match,
               formatting and clippy are clean
  fleet        write a synthetic fleet platform (and its helm/kustomize peers) for benchmarks
  bench-peers  time kiln against helm template and kubectl kustomize on fleets; see BENCHMARKS.md
";

fn main() -> ExitCode {
    let task = std::env::args().nth(1);
    let result = match task.as_deref() {
        Some("render") => render(),
        Some("check") => check(),
        Some("fleet") => fleet::main(&std::env::args().skip(2).collect::<Vec<_>>()),
        Some("bench-peers") => bench::main(&std::env::args().skip(2).collect::<Vec<_>>()),
        Some("help" | "--help" | "-h") | None => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => {
            eprint!("unknown task `{other}`\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the repository")
        .to_path_buf()
}

/// The root platform and every `examples/<name>/` that holds a `kiln.yaml`, sorted.
fn platforms() -> Result<Vec<PathBuf>> {
    let root = repo_root();
    let mut found = vec![root.clone()];
    let examples = root.join("examples");
    if examples.is_dir() {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&examples)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("kiln.yaml").is_file())
            .collect();
        dirs.sort();
        found.extend(dirs);
    }
    Ok(found)
}

fn shown(path: &Path) -> String {
    let rel = path.strip_prefix(repo_root()).unwrap_or(path);
    if rel.as_os_str().is_empty() {
        ".".into()
    } else {
        rel.display().to_string()
    }
}

fn render() -> Result<()> {
    tools::ensure()?;
    render_platforms(&platforms()?)
}

/// `kiln render` for each platform: a platform that fails lint stops the task with nothing of
/// its tree written.
fn render_platforms(dirs: &[PathBuf]) -> Result<()> {
    for dir in dirs {
        let platform =
            kiln::Platform::load(dir).with_context(|| format!("loading {}", shown(dir)))?;
        let report = match kiln::render_to_disk(&platform, &Default::default())? {
            kiln::Rendering::Written { report, .. } => report,
            kiln::Rendering::Refused(lint) => {
                print!("{}", kiln::present::lint_text(&lint, false));
                bail!(
                    "{} fails lint, so nothing was written: fix the errors above (see `kiln --root {} lint`)",
                    shown(dir),
                    shown(dir)
                );
            }
        };
        println!(
            "{}: {} added, {} changed, {} removed, {} unchanged",
            shown(&platform.output_root()),
            report.added.len(),
            report.changed.len(),
            report.removed.len(),
            report.unchanged
        );
    }
    Ok(())
}

fn check() -> Result<()> {
    tools::ensure()?;
    let mut failed = Vec::new();
    for dir in platforms()? {
        let platform =
            kiln::Platform::load(&dir).with_context(|| format!("loading {}", shown(&dir)))?;
        let checked = kiln::check(&platform)?;
        let out = platform.output_root();
        let report = &checked.lint;
        for i in &checked.ignored {
            println!("ignored: {} ({})", i.path, i.rule);
        }
        if !checked.ignored.is_empty() {
            failed.push(format!(
                "{}: {} rendered file(s) are ignored by git and would never be committed",
                shown(&out),
                checked.ignored.len()
            ));
        }
        if report.errors() > 0 {
            // A render that fails lint is not a tree kiln would write: drift is not looked at.
        } else if checked.drift.is_empty() {
            print!(
                "{}",
                kiln::present::unowned_text(&shown(&out), &checked.unowned)
            );
            println!("drift: {} clean ({} files)", shown(&out), checked.files);
        } else {
            print!(
                "{}",
                kiln::present::unowned_text(&shown(&out), &checked.unowned)
            );
            print!(
                "{}",
                kiln::present::drift_text(&shown(&out), &checked.drift, false)
            );
            let modified = checked
                .drift
                .iter()
                .any(|d| matches!(d, kiln::Drift::Foreign { .. }));
            failed.push(if modified {
                format!(
                    "{} drifted from its sources: put kiln's header back in the modified \
                     file(s) (or delete them), then run `cargo xtask render` and commit",
                    shown(&out)
                )
            } else {
                format!(
                    "{} drifted from its sources: run `cargo xtask render` and commit",
                    shown(&out)
                )
            });
        }
        if report.errors() == 0 {
            println!(
                "lint: {} clean ({} exception(s))",
                shown(&dir),
                report.exceptions.len()
            );
        } else {
            print!("{}", kiln::present::lint_text(report, false));
            failed.push(format!(
                "{} fails lint: see `kiln --root {} lint`",
                shown(&dir),
                shown(&dir)
            ));
        }
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let steps: [(&str, &[&str], &str); 3] = [
        (
            "snapshots",
            &[
                "test",
                "--quiet",
                "--package",
                "kiln",
                "--test",
                "platforms",
            ],
            "review with `cargo insta review` (or run with INSTA_UPDATE=always) and commit",
        ),
        (
            "format",
            &["fmt", "--all", "--check"],
            "run `cargo fmt --all`",
        ),
        (
            "clippy",
            &[
                "clippy",
                "--quiet",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
            "fix the warnings clippy printed",
        ),
    ];
    for (name, args, fix) in steps {
        let status = Command::new(&cargo)
            .args(args)
            .current_dir(repo_root())
            .env("INSTA_UPDATE", "no")
            .status()
            .with_context(|| format!("running cargo {}", args.join(" ")))?;
        if status.success() {
            println!("{name}: ok");
        } else {
            failed.push(format!("{name} failed: {fix}"));
        }
    }
    if !failed.is_empty() {
        bail!("{}", failed.join("\n       "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file below `dir` with its bytes.
    fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    out.push((path.clone(), std::fs::read(&path).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            let target = to.join(path.file_name().unwrap());
            if path.is_dir() {
                copy_dir(&path, &target);
            } else {
                std::fs::copy(&path, &target).unwrap();
            }
        }
    }

    #[test]
    fn render_refuses_a_platform_that_fails_lint_and_writes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("mini");
        copy_dir(&repo_root().join("crates/kiln/tests/fixtures/mini"), &dir);
        render_platforms(std::slice::from_ref(&dir)).expect("the fixture lints clean");
        let out = kiln::Platform::load(&dir).unwrap().output_root();
        let before = tree(&out);
        assert!(!before.is_empty());

        // Pods naming a ServiceAccount nothing provides: a lint error (`service-account`).
        let template = dir.join("templates/web/deployment.yaml.j2");
        let text = std::fs::read_to_string(&template).unwrap();
        let broken = text.replace(
            "      containers:",
            "      serviceAccountName: nobody\n      containers:",
        );
        assert_ne!(text, broken);
        std::fs::write(&template, broken).unwrap();

        let err = render_platforms(std::slice::from_ref(&dir)).unwrap_err();
        assert!(
            err.to_string()
                .contains("fails lint, so nothing was written"),
            "{err:#}"
        );
        assert_eq!(
            tree(&out),
            before,
            "a refused render must leave the tree as it was"
        );
    }
}
