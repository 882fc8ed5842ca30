//! `kiln check`'s drift: each differing file, with a unified diff of what changed.

use std::fmt::Write as _;

use super::paint;
use crate::write::Drift;

/// Formats drift for people: one line per file, unified diffs indented under changed files,
/// coloured when `color` is set.
pub fn drift_text(output: &str, drift: &[Drift], color: bool) -> String {
    let mut out = String::new();
    for d in drift {
        let _ = match d {
            Drift::Missing { path } => {
                writeln!(out, "missing: {output}/{path} (rendered, not on disk)")
            }
            Drift::Stale { path } => writeln!(
                out,
                "stale:   {output}/{path} (generated, no longer rendered)"
            ),
            Drift::Foreign { path } => writeln!(
                out,
                "blocked: {output}/{path} (a file kiln did not generate takes a rendered path)"
            ),
            Drift::Changed { path, diff } => {
                let _ = writeln!(out, "changed: {output}/{path}");
                for line in diff.lines() {
                    let code = match line.as_bytes().first() {
                        _ if line.starts_with("+++") || line.starts_with("---") => "",
                        Some(b'+') => "32",
                        Some(b'-') => "31",
                        Some(b'@') => "36",
                        _ => "",
                    };
                    let _ = writeln!(out, "  {}", paint(color, code, line));
                }
                Ok(())
            }
        };
    }
    out
}
