//! Repository tasks: `cargo xtask render` and `cargo xtask check` over every platform in this
//! repository (the root platform and each `examples/<name>/`), and the fleet benchmark
//! (`cargo xtask fleet`, `cargo xtask bench-peers`).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};

mod bench;
mod fleet;

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
    for dir in platforms()? {
        let platform =
            kiln::Platform::load(&dir).with_context(|| format!("loading {}", shown(&dir)))?;
        let rendered = kiln::render(&platform)?;
        let report = kiln::write_tree(&platform.output_root(), &rendered, &Default::default())?;
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
    let mut failed = Vec::new();
    for dir in platforms()? {
        let platform =
            kiln::Platform::load(&dir).with_context(|| format!("loading {}", shown(&dir)))?;
        let rendered = kiln::render(&platform)?;
        let out = platform.output_root();
        let drift = kiln::check_tree(&out, &rendered)?;
        if drift.is_empty() {
            println!(
                "drift: {} clean ({} files)",
                shown(&out),
                rendered.files.len()
            );
        } else {
            print!("{}", kiln::format_drift(&shown(&out), &drift, false));
            failed.push(format!(
                "{} drifted from its sources: run `cargo xtask render` and commit",
                shown(&out)
            ));
        }
        let report = kiln::lint::lint(&platform, &rendered);
        if report.errors() == 0 {
            println!(
                "lint: {} clean ({} exception(s))",
                shown(&dir),
                report.exceptions.len()
            );
        } else {
            print!("{}", kiln::lint::to_text(&report, false));
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
