//! `kiln set-image`, `kiln promote` and `kiln release`: release channels and promotion (seed
//! 004). The library plans and checks ([`kiln::plan_set_image`], [`kiln::plan_promote`],
//! [`kiln::tag::check_progression`]); this module writes, renders and prints.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::output::PromoteFormat;
use crate::Ctx;

#[derive(Args)]
pub struct SetImageArgs {
    /// The environment whose file gets the tag.
    #[arg(long, value_name = "ENV")]
    env: String,
    /// Only this app's components (repeatable). Default: every component whose tag the
    /// environment file sets; `channel: pinned` components are always left alone.
    #[arg(long = "app", value_name = "APP")]
    apps: Vec<String>,
    /// Print what would change; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// The image tag, checked against the environment's channel (a leading `v` is stripped
    /// for the SemVer channels).
    tag: String,
}

#[derive(Args)]
pub struct PromoteArgs {
    /// The environment whose tags are promoted (e.g. test).
    #[arg(long, value_name = "ENV")]
    from: String,
    /// The environment that receives the derived tags (e.g. production).
    #[arg(long, value_name = "ENV")]
    to: String,
    /// Only this app's components (repeatable).
    #[arg(long = "app", value_name = "APP")]
    apps: Vec<String>,
    /// `markdown` prints the change and the rendered diff as a pull-request body.
    #[arg(long, value_enum, default_value = "text")]
    format: PromoteFormat,
    /// Print what would change; write nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Subcommand)]
pub enum ReleaseCommand {
    /// Print the alpha tag of a CI build: `<version>-alpha.<run>.<attempt>`, the version read
    /// from kiln.yaml's `release.version_file`.
    ///
    /// Example: kiln release tag --run "$GITHUB_RUN_NUMBER" --attempt "$GITHUB_RUN_ATTEMPT"
    Tag {
        /// The workflow run number.
        #[arg(long)]
        run: u64,
        /// The run attempt.
        #[arg(long)]
        attempt: u64,
    },
    /// Check the platform version against its value at a git revision: unchanged, patch + 1,
    /// minor + 1 with patch 0, or major + 1 with minor and patch 0; stable SemVer only.
    ///
    /// Exit 0 allowed, 1 rejected, 2 error. Example: kiln release check-version --base origin/main
    CheckVersion {
        /// The revision holding the previous version.
        #[arg(long)]
        base: String,
    },
}

pub fn set_image(
    ctx: &Ctx<'_>,
    args: &SetImageArgs,
    out: &mut impl Write,
) -> kiln::Result<ExitCode> {
    let sources = kiln::load(ctx.root)?;
    let plan = kiln::plan_set_image(&sources, &args.env, &args.apps, &args.tag)?;
    print_plan(&plan, out);
    apply(&plan, args.dry_run, ctx.quiet, out)?;
    Ok(ExitCode::SUCCESS)
}

pub fn promote(ctx: &Ctx<'_>, args: &PromoteArgs, out: &mut impl Write) -> kiln::Result<ExitCode> {
    let color = ctx.color();
    let sources = kiln::load(ctx.root)?;
    let plan = kiln::plan_promote(&sources, &args.from, &args.to, &args.apps)?;
    let before = kiln::render(&plan.before)?;
    let after = kiln::render(&plan.after)?;
    let diff = kiln::diff(
        &format!("{} now", args.to),
        &before,
        &format!("{} with {}'s tags", args.to, args.from),
        &after,
    );
    match args.format {
        PromoteFormat::Text => {
            let _ = writeln!(out, "promote {} -> {}", args.from, args.to);
            print_plan(&plan, out);
            if !plan.is_noop() {
                let _ = write!(out, "\n{}", kiln::present::diff_text(&diff, color));
            }
        }
        PromoteFormat::Markdown => {
            let _ = write!(out, "{}", markdown_summary(&plan, &args.from, &args.to));
            let parts = kiln::present::diff_markdown(&diff, kiln::present::GITHUB_COMMENT_LIMIT);
            let _ = write!(out, "\n{}", parts.join("\n<!-- kiln: next comment -->\n"));
        }
    }
    let quiet = ctx.quiet || args.format == PromoteFormat::Markdown;
    apply(&plan, args.dry_run, quiet, out)?;
    Ok(ExitCode::SUCCESS)
}

fn print_plan(plan: &kiln::TagPlan, out: &mut impl Write) {
    for change in &plan.changes {
        if change.is_noop() {
            let _ = writeln!(
                out,
                "{}:{} {}: already {} ({})",
                change.file.display(),
                change.line,
                change.key,
                change.to,
                change.components.join(", ")
            );
        } else {
            let _ = writeln!(out, "{change}");
        }
    }
    for skipped in &plan.skipped {
        let _ = writeln!(out, "skipped {}: {}", skipped.component, skipped.reason);
    }
}

fn markdown_summary(plan: &kiln::TagPlan, from: &str, to: &str) -> String {
    let mut s = format!(
        "## Promote `{from}` → `{to}`\n\n| components | `{from}` runs | `{to}` | set at |\n\
         |---|---|---|---|\n"
    );
    for c in &plan.changes {
        let sources: Vec<String> = c.source_tags.iter().map(|t| format!("`{t}`")).collect();
        let target = if c.is_noop() {
            format!("`{}` (already)", c.to)
        } else {
            format!("`{}` → `{}`", c.from, c.to)
        };
        s.push_str(&format!(
            "| {} | {} | {target} | `{}:{}` `{}` |\n",
            c.components.join(", "),
            sources.join(", "),
            c.file.display(),
            c.line,
            c.key,
        ));
    }
    if !plan.skipped.is_empty() {
        s.push_str("\n**Skipped:**\n\n");
        for skipped in &plan.skipped {
            s.push_str(&format!("- `{}`: {}\n", skipped.component, skipped.reason));
        }
    }
    s
}

/// Writes the edited environment files, then the re-rendered tree.
fn apply(
    plan: &kiln::TagPlan,
    dry_run: bool,
    quiet: bool,
    out: &mut impl Write,
) -> kiln::Result<()> {
    if dry_run {
        if !quiet {
            let _ = writeln!(out, "dry run: nothing written");
        }
        return Ok(());
    }
    match kiln::apply_plan(plan)? {
        kiln::Rendering::Refused(lint) => Err(kiln::Error::new(
            kiln::ErrorKind::Model,
            format!(
                "the result fails lint, so nothing was written:\n{}",
                kiln::present::lint_text(&lint, false)
            ),
        )),
        kiln::Rendering::Written { report, .. } => {
            if !quiet {
                let _ = writeln!(
                    out,
                    "{}: {} added, {} changed, {} removed, {} unchanged",
                    plan.after.output,
                    report.added.len(),
                    report.changed.len(),
                    report.removed.len(),
                    report.unchanged
                );
            }
            Ok(())
        }
    }
}

pub fn release(
    root: &Path,
    command: &ReleaseCommand,
    out: &mut impl Write,
) -> kiln::Result<ExitCode> {
    let platform = kiln::Platform::load(root)?;
    let (file, current) = kiln::release_version(&platform)?;
    match command {
        ReleaseCommand::Tag { run, attempt } => {
            let tag = kiln::tag::alpha_tag(&current, *run, *attempt).map_err(|why| {
                kiln::Error::new(kiln::ErrorKind::Model, why)
                    .at(kiln::Location::file(&file).with_key("version"))
            })?;
            let _ = writeln!(out, "{tag}");
            Ok(ExitCode::SUCCESS)
        }
        ReleaseCommand::CheckVersion { base } => {
            let file = file.display();
            let previous = kiln::release_version_at(&platform, base)?;
            // Without a previous version, the first one only has to be stable.
            let baseline = previous
                .clone()
                .unwrap_or_else(|| kiln::Version::new(current.major, current.minor, current.patch));
            match (kiln::tag::check_progression(&baseline, &current), previous) {
                (Ok(_), None) => {
                    let _ = writeln!(
                        out,
                        "{file}: {current}: first version (none at {base}): allowed"
                    );
                    Ok(ExitCode::SUCCESS)
                }
                (Ok(progression), Some(previous)) => {
                    let _ = writeln!(
                        out,
                        "{file}: {previous} -> {current}: {progression}: allowed"
                    );
                    Ok(ExitCode::SUCCESS)
                }
                (Err(why), _) => {
                    let _ = writeln!(out, "{file}: {baseline} -> {current}: rejected: {why}");
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}
