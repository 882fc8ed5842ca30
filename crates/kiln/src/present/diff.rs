//! `kiln diff` for people: plain text for a terminal, markdown for pull-request comments.

use std::fmt::Write as _;

use serde_json::Value;

use super::paint;
use crate::diff::{ChangeKind, Diff, EnvDiff, ImageChange, ObjectChange};
use crate::yaml;

/// GitHub's limit for one comment, in characters.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;

fn show(v: &Value) -> String {
    serde_json::to_string(v).expect("JSON values serialize")
}

fn summary_line(env: &EnvDiff) -> String {
    if env.objects.is_empty() {
        return "no changes".to_owned();
    }
    let mut parts = Vec::new();
    for (n, what) in [
        (env.changed, "changed"),
        (env.added, "added"),
        (env.removed, "removed"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    parts.join(", ")
}

fn image_line(i: &ImageChange) -> String {
    let tag = |s: &Option<String>| s.clone().unwrap_or_else(|| "(none)".to_owned());
    format!(
        "{} container {}: {} -> {}",
        i.object,
        i.container,
        tag(&i.from),
        tag(&i.to)
    )
}

/// Plain text, coloured when `color` is set.
pub fn diff_text(diff: &Diff, color: bool) -> String {
    let paint = |code: &str, s: &str| paint(color, code, s);
    let mut out = String::new();
    let _ = writeln!(out, "kiln diff {}..{}", diff.base, diff.head);
    for env in &diff.environments {
        let _ = writeln!(out, "  {}: {}", env.name, summary_line(env));
        for i in &env.images {
            let _ = writeln!(out, "    image {}", image_line(i));
        }
    }
    for env in diff.environments.iter().filter(|e| !e.objects.is_empty()) {
        let _ = writeln!(out, "\n== {}", env.name);
        for o in &env.objects {
            match o.change {
                ChangeKind::Changed => {
                    let _ = writeln!(
                        out,
                        "{} ({})",
                        paint("33", &format!("~ {}", o.title())),
                        o.file
                    );
                    for f in &o.fields {
                        let line = match (&f.from, &f.to) {
                            (Some(a), Some(b)) => paint(
                                "33",
                                &format!("    ~ {}: {} -> {}", f.path, show(a), show(b)),
                            ),
                            (None, Some(b)) => {
                                paint("32", &format!("    + {}: {}", f.path, show(b)))
                            }
                            (Some(a), None) => {
                                paint("31", &format!("    - {}: {}", f.path, show(a)))
                            }
                            (None, None) => continue,
                        };
                        let _ = writeln!(out, "{line}");
                    }
                }
                ChangeKind::Added | ChangeKind::Removed => {
                    let (sign, code) = if o.change == ChangeKind::Added {
                        ("+", "32")
                    } else {
                        ("-", "31")
                    };
                    let _ = writeln!(
                        out,
                        "{} ({})",
                        paint(code, &format!("{sign} {}", o.title())),
                        o.file
                    );
                    let mut body = String::new();
                    yaml::emit_document(
                        o.object
                            .as_ref()
                            .expect("added and removed objects carry it"),
                        &mut body,
                    );
                    for line in body.lines() {
                        let _ = writeln!(out, "{}", paint(code, &format!("    {sign} {line}")));
                    }
                }
            }
        }
    }
    out
}

/// Markdown for pull-request comments, split into parts of at most `limit` characters (use
/// [`GITHUB_COMMENT_LIMIT`]) without splitting an object's block unless it alone is too large.
pub fn diff_markdown(diff: &Diff, limit: usize) -> Vec<String> {
    let mut head = format!(
        "### kiln: rendered changes `{}` → `{}`\n\n",
        diff.base, diff.head
    );
    head.push_str(
        "| environment | changed | added | removed | image changes |\n|---|---:|---:|---:|---|\n",
    );
    for env in &diff.environments {
        let images: Vec<String> = env
            .images
            .iter()
            .map(|i| format!("`{}`", image_line(i)))
            .collect();
        let _ = writeln!(
            head,
            "| {} | {} | {} | {} | {} |",
            env.name,
            env.changed,
            env.added,
            env.removed,
            if images.is_empty() {
                "–".to_owned()
            } else {
                images.join("<br>")
            }
        );
    }
    if diff.is_empty() {
        head.push_str("\nNo rendered object changes.\n");
        return vec![head];
    }

    let mut parts: Vec<String> = Vec::new();
    let mut current = head;
    const CLOSE: &str = "\n</details>\n";
    for env in diff.environments.iter().filter(|e| !e.objects.is_empty()) {
        let open = |continued: bool| {
            format!(
                "\n<details><summary><b>{}</b>: {}{}</summary>\n\n",
                env.name,
                summary_line(env),
                if continued { " (continued)" } else { "" }
            )
        };
        let opener = open(false);
        if current.len() + opener.len() + CLOSE.len() > limit {
            parts.push(std::mem::take(&mut current));
        }
        current.push_str(&opener);
        for o in &env.objects {
            let block = markdown_block(o);
            if current.len() + block.len() + CLOSE.len() > limit {
                current.push_str(CLOSE);
                parts.push(std::mem::take(&mut current));
                current.push_str(&open(true));
            }
            if current.len() + block.len() + CLOSE.len() > limit {
                // One object larger than a whole comment: cut it at a line boundary.
                let room = limit.saturating_sub(current.len() + CLOSE.len() + 32);
                let cut = block[..room.min(block.len())].rfind('\n').unwrap_or(0);
                current.push_str(&block[..cut]);
                current.push_str("\n```\n*(cut: too large)*\n");
            } else {
                current.push_str(&block);
            }
        }
        current.push_str(CLOSE);
    }
    parts.push(current);
    let n = parts.len();
    if n > 1 {
        for (i, part) in parts.iter_mut().enumerate() {
            part.insert_str(0, &format!("<sub>part {} of {n}</sub>\n\n", i + 1));
        }
    }
    parts
}

fn markdown_block(o: &ObjectChange) -> String {
    let verb = match o.change {
        ChangeKind::Changed => "changed",
        ChangeKind::Added => "added",
        ChangeKind::Removed => "removed",
    };
    let mut block = format!(
        "**{}** {verb} <sub>`{}`</sub>\n\n```diff\n",
        o.title(),
        o.file
    );
    match o.change {
        ChangeKind::Changed => {
            for f in &o.fields {
                let _ = match (&f.from, &f.to) {
                    (Some(a), Some(b)) => writeln!(
                        block,
                        "- {}: {}\n+ {}: {}",
                        f.path,
                        show(a),
                        f.path,
                        show(b)
                    ),
                    (None, Some(b)) => writeln!(block, "+ {}: {}", f.path, show(b)),
                    (Some(a), None) => writeln!(block, "- {}: {}", f.path, show(a)),
                    (None, None) => Ok(()),
                };
            }
        }
        ChangeKind::Added | ChangeKind::Removed => {
            let sign = if o.change == ChangeKind::Added {
                '+'
            } else {
                '-'
            };
            let mut body = String::new();
            yaml::emit_document(
                o.object
                    .as_ref()
                    .expect("added and removed objects carry it"),
                &mut body,
            );
            for line in body.lines() {
                let _ = writeln!(block, "{sign} {line}");
            }
        }
    }
    block.push_str("```\n\n");
    block
}
