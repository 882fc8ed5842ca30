//! `kiln check`'s drift: each differing file, with a unified diff of what changed; and the
//! files kiln does not own inside the directories it generates.

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
            Drift::Foreign { path, header } => writeln!(
                out,
                "modified: {output}/{path} (its first line is not kiln's header, so a render \
                 will not overwrite it)\n  put the header back as its first line, or delete \
                 the file, then render:\n  {header}"
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

/// Formats the files kiln does not own inside directories it generates (hand-added files): one
/// warning line each. They are not drift: no generated `kustomization.yaml` lists them, so they
/// are never applied, and kiln keeps them.
pub fn unowned_text(output: &str, unowned: &[String]) -> String {
    let mut out = String::new();
    for path in unowned {
        let _ = writeln!(
            out,
            "not kiln's: {output}/{path} (hand-added in a directory kiln generates; no \
             kustomization.yaml lists it, so it is never applied)"
        );
    }
    out
}
