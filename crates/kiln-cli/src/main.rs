//! The `kiln` command: parses arguments, calls the library, prints, and maps the outcome to an
//! exit code (0 success, 1 the check found something, 2 usage or input error).

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod completions;
mod diagnostic;
mod init;
mod output;

use output::{DiffFormat, LintFormat};
mod release;

/// mimalloc instead of glibc's malloc: rendering allocates many small strings and maps, and
/// glibc's allocator was about a fifth of the CPU of a 1000-app render (BENCHMARKS.md).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "kiln",
    version,
    about = "Render and guard GitOps manifests for small Kubernetes platforms",
    after_help = "Exit codes: 0 success, 1 the check found something (drift, lint errors), 2 usage or input error.\n\
                  Example: kiln init my-platform && cd my-platform && kiln render && kiln check"
)]
struct Cli {
    /// The platform directory (holds kiln.yaml).
    #[arg(long, global = true, default_value = ".")]
    root: PathBuf,
    /// Colour: `auto` colours only on a terminal and never when NO_COLOR is set.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    color: ColorChoice,
    /// Print only results and errors: no summaries, no next steps.
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Also print the details: each file a render adds, changes or removes.
    #[arg(long, short, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new platform: one web app, production and staging environments, templates, a
    /// README, a .gitignore and a CI workflow that runs the drift check.
    ///
    /// Refuses (exit 2, nothing written) when any of its files exists. DIR defaults to --root.
    /// Example: kiln init my-platform
    Init {
        /// Where to create the platform (created if missing).
        dir: Option<PathBuf>,
    },
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
    /// Check every rendered object: its Kubernetes v1.34 schema, references across objects,
    /// and the policy rules (each finding names rule, environment, object, field and source).
    ///
    /// Exit 0 when clean (warnings allowed), 1 on errors. `render` and `check` run it too.
    /// Example: kiln lint --format github
    Lint {
        #[arg(long, value_enum, default_value = "text")]
        format: LintFormat,
        /// List every rule (id, severity, the failure it prevents) instead of linting; needs
        /// no platform.
        #[arg(long)]
        rules: bool,
    },
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
        /// Leave out a field path (repeatable), in kiln's path syntax; a leading `*` matches
        /// at any depth: --ignore '*.metadata.labels["app.kubernetes.io/version"]'. Adds to
        /// kiln.yaml's `diff.ignore`.
        #[arg(long, value_name = "PATH")]
        ignore: Vec<String>,
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
    /// List the environments: channel, state, namespaces, apps, replicas and image tags.
    ///
    /// Example: kiln envs --format json
    Envs {
        #[arg(long, value_enum, default_value = "text")]
        format: output::Format,
    },
    /// Show the effective values of an environment or an app, each with the file, key and
    /// line it came from; with --field, the rendered objects having that field, its value, the
    /// template line that wrote it and the settings it came from.
    ///
    /// Example: kiln explain production/hello --field spec.replicas
    Explain {
        /// ENV or ENV/APP.
        #[arg(value_name = "ENV[/APP]")]
        target: String,
        /// A rendered field, in kiln diff's path syntax, e.g. spec.replicas or
        /// spec.template.spec.containers[name=hello].image; a prefix selects every leaf below.
        #[arg(long, value_name = "PATH")]
        field: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: output::Format,
    },
    /// Write an image tag into an environment file, checked against the environment's channel,
    /// keeping the file's comments; then re-render. What CI runs instead of `kubectl set image`.
    ///
    /// Example: kiln set-image --env test 0.5.0-alpha.124.1
    SetImage(release::SetImageArgs),
    /// Promote tags from one environment to another (alpha or rc to stable: 0.5.0-alpha.12.1
    /// becomes 0.5.0), write them into the target's file, re-render and print the rendered diff
    /// for the promotion pull request. Refuses downgrades and tags the target's rule forbids.
    ///
    /// Example: kiln promote --from test --to production --format markdown
    Promote(release::PromoteArgs),
    /// The platform version (kiln.yaml `release.version_file`): alpha tags and the
    /// progression check.
    ///
    /// Example: kiln release tag --run "$GITHUB_RUN_NUMBER" --attempt "$GITHUB_RUN_ATTEMPT"
    Release {
        #[command(subcommand)]
        command: release::ReleaseCommand,
    },
    /// Pull a Helm chart from its repository into charts/NAME/ and pin it in kiln.lock
    /// (version and content digest); render and check then read only that copy, offline.
    ///
    /// Upgrading is the same command with a new --version; `kiln diff` then shows what the new
    /// version changes. Example: kiln vendor otel-agent --repo https://charts.example.com
    /// --version 0.2.0
    Vendor(VendorArgs),
    /// Print a shell completion script.
    ///
    /// Example: kiln completions bash > ~/.local/share/bash-completion/completions/kiln
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
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

/// mimalloc holds freed memory 10 ms before it returns it to the system. A render frees each
/// environment's objects and goes on to the next within that time, so two environments' worth
/// were resident at once: 3 ms keeps a 1000-app check at about 132 MB instead of 145-170 MB, at
/// no measurable cost in time (BENCHMARKS.md).
#[cfg(feature = "mimalloc")]
fn tune_allocator() {
    // `mi_option_purge_delay` in mimalloc.h; the Rust bindings do not name it.
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: setting an option is safe at any time; mimalloc reads it when it next purges.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 3) };
}

fn main() -> ExitCode {
    #[cfg(feature = "mimalloc")]
    tune_allocator();
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(err) => {
            let color = use_color(
                cli.color,
                std::io::stderr().is_terminal(),
                std::env::var_os("NO_COLOR").as_deref(),
            );
            eprint!("{}", diagnostic::render(&err, &cli.root, color));
            ExitCode::from(2)
        }
    }
}

/// What every command gets besides its own arguments: the global options.
pub struct Ctx<'a> {
    pub root: &'a std::path::Path,
    color: ColorChoice,
    pub quiet: bool,
    pub verbose: bool,
}

impl Ctx<'_> {
    /// Whether to colour standard output.
    pub fn color(&self) -> bool {
        use_color(
            self.color,
            std::io::stdout().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        )
    }

    fn platform(&self) -> kiln::Result<kiln::Platform> {
        kiln::Platform::load(self.root)
    }
}

/// One function per command.
fn run(cli: &Cli) -> kiln::Result<ExitCode> {
    let ctx = Ctx {
        root: &cli.root,
        color: cli.color,
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    let mut stdout = std::io::stdout().lock();
    let out = &mut stdout;
    match &cli.command {
        Command::Init { dir } => init(&ctx, dir.as_deref(), out),
        Command::Render { envs } => render(&ctx, envs, out),
        Command::Check => check(&ctx, out),
        Command::Lint { rules: true, .. } => {
            let _ = write!(out, "{}", rules_text());
            Ok(ExitCode::SUCCESS)
        }
        Command::Lint { format, .. } => lint(&ctx, *format, out),
        Command::Diff {
            base,
            head,
            format,
            ignore,
        } => diff(&ctx, base, head.as_deref(), *format, ignore, out),
        Command::Affected { base, head } => affected(&ctx, base, head.as_deref(), out),
        Command::Envs { format } => {
            let envs = kiln::envs(&ctx.platform()?);
            let _ = match format {
                output::Format::Json => writeln!(out, "{}", json(&envs)),
                output::Format::Text => {
                    write!(out, "{}", kiln::present::envs_text(&envs, ctx.color()))
                }
            };
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain {
            target,
            field,
            format,
        } => {
            let sources = kiln::load(ctx.root)?;
            let platform = kiln::resolve(&sources)?;
            let query = kiln::Query::parse(target, field.as_deref());
            let explanation = kiln::explain(&platform, &sources, &query)?;
            let _ = match format {
                output::Format::Json => writeln!(out, "{}", json(&explanation)),
                output::Format::Text => write!(
                    out,
                    "{}",
                    kiln::present::explain_text(&explanation, &platform.output, ctx.color())
                ),
            };
            Ok(ExitCode::SUCCESS)
        }
        Command::SetImage(args) => release::set_image(&ctx, args, out),
        Command::Promote(args) => release::promote(&ctx, args, out),
        Command::Release { command } => release::release(ctx.root, command, out),
        Command::Vendor(args) => vendor(&ctx, args, out),
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            completions::write(*shell, Cli::command(), out);
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[derive(clap::Args)]
struct VendorArgs {
    /// The directory under charts/ (and the name in kiln.lock).
    #[arg(required_unless_present = "verify")]
    name: Option<String>,
    /// The chart repository (`https://...` with an index.yaml) or OCI registry (`oci://...`).
    #[arg(long, required_unless_present = "verify")]
    repo: Option<String>,
    /// The chart's name in the repository (default: NAME).
    #[arg(long)]
    chart: Option<String>,
    /// The exact version to pin.
    #[arg(long, required_unless_present = "verify")]
    version: Option<String>,
    /// Check every pinned chart against its vendored files instead; fetch nothing.
    #[arg(long, conflicts_with_all = ["name", "repo", "chart", "version"])]
    verify: bool,
}

fn vendor(ctx: &Ctx<'_>, args: &VendorArgs, out: &mut impl Write) -> kiln::Result<ExitCode> {
    if args.verify {
        let lock = kiln::verify_charts(ctx.root)?;
        if !ctx.quiet {
            let _ = writeln!(
                out,
                "kiln.lock: {} chart(s) match their files",
                lock.charts.len()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let name = args.name.clone().expect("clap requires it");
    let spec = kiln::chart::ChartSpec {
        chart: args.chart.clone().unwrap_or_else(|| name.clone()),
        name,
        repository: args.repo.clone().expect("clap requires it"),
        version: args.version.clone().expect("clap requires it"),
    };
    let entry = kiln::vendor_chart(ctx.root, &spec)?;
    if !ctx.quiet {
        let _ = writeln!(
            out,
            "charts/{}: {} {} pinned in kiln.lock ({})",
            entry.name, entry.chart, entry.version, entry.digest
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn init(
    ctx: &Ctx<'_>,
    dir: Option<&std::path::Path>,
    out: &mut impl Write,
) -> kiln::Result<ExitCode> {
    let text = init::run(dir.unwrap_or(ctx.root), ctx.quiet)?;
    let _ = write!(out, "{text}");
    Ok(ExitCode::SUCCESS)
}

fn render(ctx: &Ctx<'_>, envs: &[String], out: &mut impl Write) -> kiln::Result<ExitCode> {
    let platform = ctx.platform()?;
    let options = kiln::WriteOptions {
        only_envs: (!envs.is_empty()).then(|| envs.iter().cloned().collect::<BTreeSet<_>>()),
        ..Default::default()
    };
    let report = match kiln::render_to_disk(&platform, &options)? {
        kiln::Rendering::Refused(lint) => {
            refuse_lint(&platform, &lint, "written", ctx.color());
            return Ok(ExitCode::from(1));
        }
        kiln::Rendering::Written { report, .. } => report,
    };
    let shown = PathBuf::from(&platform.output);
    if ctx.verbose {
        for (sign, files) in [
            ("+", &report.added),
            ("~", &report.changed),
            ("-", &report.removed),
        ] {
            for file in files {
                let _ = writeln!(out, "{sign} {}", shown.join(file).display());
            }
        }
    }
    if !ctx.quiet {
        let _ = writeln!(
            out,
            "{}",
            write_summary(&shown.display().to_string(), &report)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `k8s: 1 added, 2 changed, 0 removed, 40 unchanged`, or `k8s: up to date (43 files)`.
pub fn write_summary(output: &str, report: &kiln::WriteReport) -> String {
    if report.is_noop() {
        format!("{output}: up to date ({} files)", report.unchanged)
    } else {
        format!(
            "{output}: {} added, {} changed, {} removed, {} unchanged",
            report.added.len(),
            report.changed.len(),
            report.removed.len(),
            report.unchanged
        )
    }
}

fn check(ctx: &Ctx<'_>, out: &mut impl Write) -> kiln::Result<ExitCode> {
    let platform = ctx.platform()?;
    let checked = kiln::check(&platform)?;
    if checked.lint.errors() > 0 {
        refuse_lint(&platform, &checked.lint, "checked", ctx.color());
        return Ok(ExitCode::from(1));
    }
    if !checked.ignored.is_empty() {
        for i in &checked.ignored {
            let _ = writeln!(out, "{}: ignored by git ({})", i.path, i.rule);
        }
        let _ = writeln!(
            out,
            "{}: {} rendered file(s) are ignored by git: committing the render leaves them out, so a clone never has them; anchor the ignore rule (a leading `/`) or narrow it",
            platform.output,
            checked.ignored.len()
        );
    }
    let _ = write!(
        out,
        "{}",
        kiln::present::unowned_text(&platform.output, &checked.unowned)
    );
    if checked.drift.is_empty() {
        if !checked.ignored.is_empty() {
            return Ok(ExitCode::from(1));
        }
        if !ctx.quiet {
            let _ = writeln!(out, "{}: clean ({} files)", platform.output, checked.files);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let _ = write!(
        out,
        "{}",
        kiln::present::drift_text(&platform.output, &checked.drift, ctx.color())
    );
    let modified = checked
        .drift
        .iter()
        .filter(|d| matches!(d, kiln::Drift::Foreign { .. }))
        .count();
    let _ = if modified > 0 {
        writeln!(
            out,
            "{}: {} file(s) drifted; put kiln's header back in the {modified} modified file(s) \
             (or delete them), then run `{}` and commit the result",
            platform.output,
            checked.drift.len(),
            platform.regenerate
        )
    } else {
        writeln!(
            out,
            "{}: {} file(s) drifted; run `{}` and commit the result",
            platform.output,
            checked.drift.len(),
            platform.regenerate
        )
    };
    Ok(ExitCode::from(1))
}

/// `kiln lint --rules`: one block per rule, from `kiln::lint::RULES`.
fn rules_text() -> String {
    use std::fmt::Write as _;
    let width = kiln::lint::RULES
        .iter()
        .map(|r| r.id.len())
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for r in kiln::lint::RULES {
        let severity = match r.severity {
            kiln::lint::Severity::Error => "error",
            kiln::lint::Severity::Warning => "warning",
        };
        let _ = writeln!(text, "{:width$}  {severity:7}  {}", r.id, r.reason);
    }
    text
}

fn lint(ctx: &Ctx<'_>, format: LintFormat, out: &mut impl Write) -> kiln::Result<ExitCode> {
    let platform = ctx.platform()?;
    let report = kiln::lint_platform(&platform)?;
    let text = match format {
        LintFormat::Text => kiln::present::lint_text(&report, ctx.color()),
        LintFormat::Json => json(&report) + "\n",
        LintFormat::Github => kiln::present::lint_github(&report, &platform.output),
    };
    let _ = write!(out, "{text}");
    Ok(if report.errors() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn diff(
    ctx: &Ctx<'_>,
    base: &str,
    head: Option<&str>,
    format: DiffFormat,
    ignore: &[String],
    out: &mut impl Write,
) -> kiln::Result<ExitCode> {
    let diff = kiln::diff_revisions_with(ctx.root, base, head, ignore)?;
    let _ = match format {
        DiffFormat::Text => write!(out, "{}", kiln::present::diff_text(&diff, ctx.color())),
        DiffFormat::Json => writeln!(out, "{}", json(&diff)),
        DiffFormat::Markdown => {
            let parts = kiln::present::diff_markdown(&diff, kiln::present::GITHUB_COMMENT_LIMIT);
            write!(out, "{}", parts.join("\n<!-- kiln: next comment -->\n"))
        }
    };
    Ok(ExitCode::SUCCESS)
}

fn affected(
    ctx: &Ctx<'_>,
    base: &str,
    head: Option<&str>,
    out: &mut impl Write,
) -> kiln::Result<ExitCode> {
    let diff = kiln::diff_revisions(ctx.root, base, head)?;
    let _ = writeln!(out, "{}", json(&kiln::affected(&diff)));
    Ok(ExitCode::SUCCESS)
}

/// A report as pretty-printed JSON: the serde form of the library's data is the `--format json`
/// of every command.
fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).expect("kiln's reports serialize")
}

/// Refuses to write (render) or to pass (check) a tree that fails lint.
fn refuse_lint(
    platform: &kiln::Platform,
    report: &kiln::lint::LintReport,
    what: &str,
    color: bool,
) {
    eprint!("{}", kiln::present::lint_text(report, color));
    eprintln!(
        "{}: not {what}: fix the lint errors above (or record an exception in kiln.yaml \
         `lint.exceptions`)",
        platform.output
    );
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
