//! The `kiln` command: parses arguments, calls the library, prints, and maps the outcome to an
//! exit code (0 success, 1 the check found something, 2 usage or input error).

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "kiln",
    version,
    about = "Render and guard GitOps manifests for small Kubernetes platforms"
)]
struct Cli {
    /// The platform directory (holds kiln.yaml).
    #[arg(long, global = true, default_value = ".")]
    root: PathBuf,
    /// Colour: `auto` colours only on a terminal and never when NO_COLOR is set.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render every environment into the output tree, atomically.
    ///
    /// Example: kiln render --env staging
    Render {
        /// Write only this environment's files (repeatable); the rest of the tree is kept.
        #[arg(long = "env", value_name = "ENV")]
        envs: Vec<String>,
    },
    /// Render in memory and compare with the tree on disk; never writes.
    ///
    /// Exit 0 when clean, 1 on drift, 2 on error. Example: kiln check
    Check,
    /// Compare the rendered objects of two git revisions, per environment.
    ///
    /// Objects are matched by kind, namespace and name; changed objects show each changed
    /// field. Example: kiln diff --base origin/main --format markdown
    Diff {
        /// The base revision.
        #[arg(long)]
        base: String,
        /// The head revision (default: the working tree).
        #[arg(long)]
        head: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: DiffFormat,
    },
    /// List the environments and apps whose rendered objects differ between two revisions, as
    /// JSON for a CI matrix (`include`).
    ///
    /// Example: kiln affected --base HEAD~1
    Affected {
        #[arg(long)]
        base: String,
        #[arg(long)]
        head: Option<String>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Whether to colour: `always`/`never` win; `auto` needs a terminal and no (non-empty)
/// NO_COLOR.
fn use_color(choice: ColorChoice, is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => is_terminal && no_color.is_none_or(|v| v.is_empty()),
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum DiffFormat {
    Text,
    Markdown,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::from(2)
        }
    }
}

/// Renders both sides of a comparison: `base` from git, `head` from git or the working tree.
fn render_pair(root: &std::path::Path, base: &str, head: Option<&str>) -> kiln::Result<kiln::Diff> {
    let base_tree = kiln::render_at(root, base)?;
    let (head_label, head_tree) = match head {
        Some(rev) => (rev.to_owned(), kiln::render_at(root, rev)?),
        None => (
            "working tree".to_owned(),
            kiln::render(&kiln::Platform::load(root)?)?,
        ),
    };
    Ok(kiln::diff(base, &base_tree, &head_label, &head_tree))
}

fn run(cli: &Cli) -> kiln::Result<ExitCode> {
    let color = || {
        use_color(
            cli.color,
            std::io::stdout().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        )
    };
    let mut stdout = std::io::stdout().lock();
    match &cli.command {
        Command::Diff { base, head, format } => {
            let diff = render_pair(&cli.root, base, head.as_deref())?;
            match format {
                DiffFormat::Text => {
                    let _ = write!(stdout, "{}", kiln::to_text(&diff, color()));
                }
                DiffFormat::Json => {
                    let _ = writeln!(
                        stdout,
                        "{}",
                        serde_json::to_string_pretty(&diff).expect("serializable")
                    );
                }
                DiffFormat::Markdown => {
                    let parts = kiln::to_markdown(&diff, kiln::GITHUB_COMMENT_LIMIT);
                    let _ = write!(stdout, "{}", parts.join("\n<!-- kiln: next comment -->\n"));
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        Command::Affected { base, head } => {
            let diff = render_pair(&cli.root, base, head.as_deref())?;
            let affected = kiln::affected(&diff);
            let _ = writeln!(
                stdout,
                "{}",
                serde_json::to_string_pretty(&affected).expect("serializable")
            );
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let platform = kiln::Platform::load(&cli.root)?;
    let rendered = kiln::render(&platform)?;
    let out = platform.output_root();
    match &cli.command {
        Command::Render { envs } => {
            for env in envs {
                if platform.environment(env).is_none() {
                    let known: Vec<&str> = platform
                        .environments
                        .iter()
                        .map(|e| e.name.as_str())
                        .collect();
                    return Err(kiln::Error::new(
                        kiln::ErrorKind::Model,
                        format!(
                            "no environment `{env}` (environments: {})",
                            known.join(", ")
                        ),
                    ));
                }
            }
            let options = kiln::WriteOptions {
                only_envs: (!envs.is_empty())
                    .then(|| envs.iter().cloned().collect::<BTreeSet<_>>()),
            };
            let report = kiln::write_tree(&out, &rendered, &options)?;
            let shown = PathBuf::from(&platform.output);
            if report.is_noop() {
                let _ = writeln!(
                    stdout,
                    "{}: up to date ({} files)",
                    shown.display(),
                    report.unchanged
                );
            } else {
                let _ = writeln!(
                    stdout,
                    "{}: {} added, {} changed, {} removed, {} unchanged",
                    shown.display(),
                    report.added.len(),
                    report.changed.len(),
                    report.removed.len(),
                    report.unchanged
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => {
            let drift = kiln::check_tree(&out, &rendered)?;
            if drift.is_empty() {
                let _ = writeln!(
                    stdout,
                    "{}: clean ({} files)",
                    platform.output,
                    rendered.files.len()
                );
                return Ok(ExitCode::SUCCESS);
            }
            let _ = write!(
                stdout,
                "{}",
                kiln::format_drift(&platform.output, &drift, color())
            );
            let _ = writeln!(
                stdout,
                "{}: {} file(s) drifted; run `{}` and commit the result",
                platform.output,
                drift.len(),
                platform.regenerate
            );
            Ok(ExitCode::from(1))
        }
        Command::Diff { .. } | Command::Affected { .. } => unreachable!("handled above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_and_never_with_no_color() {
        assert!(use_color(ColorChoice::Auto, true, None));
        assert!(use_color(ColorChoice::Auto, true, Some(OsStr::new(""))));
        assert!(!use_color(ColorChoice::Auto, true, Some(OsStr::new("1"))));
        assert!(!use_color(ColorChoice::Auto, false, None));
        assert!(use_color(ColorChoice::Always, false, Some(OsStr::new("1"))));
        assert!(!use_color(ColorChoice::Never, true, None));
    }
}
