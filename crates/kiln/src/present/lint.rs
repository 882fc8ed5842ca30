//! `kiln lint`'s report as text for people and as GitHub workflow annotations.

use std::fmt::Write as _;

use super::paint;
use crate::lint::{rule, LintReport, Severity};

/// Human-readable report.
pub fn lint_text(report: &LintReport, color: bool) -> String {
    let paint = |code: &str, s: &str| paint(color, code, s);
    let mut out = String::new();
    for f in &report.findings {
        let (label, code) = match f.severity {
            Severity::Error => ("error", "31"),
            Severity::Warning => ("warning", "33"),
        };
        let _ = writeln!(
            out,
            "{}[{}]: {}: {}",
            paint(code, label),
            f.rule,
            f.env,
            f.object
        );
        let _ = writeln!(out, "  at {} `{}`", f.file, f.path);
        let _ = writeln!(out, "  {}", f.message);
        let _ = writeln!(out, "  why: {}", rule(f.rule).reason);
        if !f.source.is_empty() {
            let _ = writeln!(out, "  from: {}", f.source);
        }
    }
    for e in &report.exceptions {
        let _ = writeln!(
            out,
            "exception[{}] {}: {} (silenced {})",
            e.rule, e.scope, e.reason, e.silenced
        );
    }
    let warnings = report.findings.len() - report.errors();
    let _ = writeln!(
        out,
        "lint: {} error(s), {} warning(s), {} exception(s)",
        report.errors(),
        warnings,
        report.exceptions.len()
    );
    out
}

/// GitHub workflow commands (`::error file=...::message`), one per finding.
pub fn lint_github(report: &LintReport, output_root: &str) -> String {
    let mut out = String::new();
    for f in &report.findings {
        let level = if f.severity == Severity::Error {
            "error"
        } else {
            "warning"
        };
        let message = format!(
            "{}: {} {}: {} ({})",
            f.env, f.object, f.path, f.message, f.source
        )
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
        let _ = writeln!(
            out,
            "::{level} file={output_root}/{},title=kiln lint {}::{message}",
            f.file, f.rule
        );
    }
    out
}
