//! `kiln diff` for people: plain text for a terminal, markdown for pull-request comments.
//!
//! Both lead with what a reviewer must decide on: lint errors of the head, a committed tree
//! that is not its render, then per environment (in the platform's order) the impact summary
//! and a compact image table. The details follow per app: multi-line values as line diffs,
//! subtrees one side lacks as YAML blocks, long paths shortened under a common prefix, objects
//! with the same change grouped, label-only changes collapsed. Secrets are already masked in
//! the [`Diff`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use super::paint;
use crate::diff::{
    ChangeKind, CommittedState, Diff, EnvDiff, FieldChange, ImageChange, Impact, Level,
    ObjectChange,
};
use crate::yaml;

/// GitHub's limit for one comment, in characters.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;

/// The marker that starts every markdown part, `N` its number: the CI workflow finds and
/// updates its own comments by it.
pub const COMMENT_MARKER: &str = "<!-- kiln-diff part ";

fn show(v: &Value) -> String {
    match v {
        Value::String(s) if !s.is_empty() && !s.contains(['\n', '"']) && s.trim() == s => s.clone(),
        _ => serde_json::to_string(v).expect("JSON values serialize"),
    }
}

fn short(commit: &Option<String>) -> String {
    commit
        .as_deref()
        .map(|c| format!(" ({})", &c[..c.len().min(7)]))
        .unwrap_or_default()
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

/// Impacts with the same level, kind and message, as one line listing their apps/objects.
fn grouped(impact: &[Impact]) -> Vec<(&Impact, Vec<&Impact>)> {
    let mut out: Vec<(&Impact, Vec<&Impact>)> = Vec::new();
    for i in impact {
        match out
            .iter_mut()
            .find(|(f, _)| f.level == i.level && f.kind == i.kind && f.message == i.message)
        {
            Some((_, all)) => all.push(i),
            None => out.push((i, vec![i])),
        }
    }
    out
}

fn who(i: &Impact) -> String {
    match &i.app {
        Some(app) => format!("{app} ({})", i.object),
        None => i.object.clone(),
    }
}

/// The common registry prefix of two image references, dropped when equal.
fn image_pair(i: &ImageChange) -> (String, String) {
    match (&i.from, &i.to) {
        (Some(a), Some(b)) => {
            let repo = |s: &str| s.rsplit_once(['/']).map(|(r, _)| r.len() + 1).unwrap_or(0);
            let (ra, rb) = (repo(a), repo(b));
            if ra == rb && a[..ra] == b[..rb] {
                let (na, nb) = (&a[ra..], &b[rb..]);
                // Same image name too: only the tags.
                match (na.split_once([':', '@']), nb.split_once([':', '@'])) {
                    (Some((x, ta)), Some((y, tb))) if x == y => {
                        (format!("{x}:{ta}"), tb.to_owned())
                    }
                    _ => (na.to_owned(), nb.to_owned()),
                }
            } else {
                (a.clone(), b.clone())
            }
        }
        (None, Some(b)) => ("new".to_owned(), b.clone()),
        (Some(a), None) => (a.clone(), "removed".to_owned()),
        (None, None) => (String::new(), String::new()),
    }
}

fn owner(i: &ImageChange) -> String {
    i.app.clone().unwrap_or_else(|| i.object.clone())
}

/// Objects of one environment, as the details show them.
enum Entry<'a> {
    /// Several objects with the very same field changes.
    Same(Vec<&'a ObjectChange>),
    /// One object.
    One(&'a ObjectChange),
}

fn label_only(o: &ObjectChange) -> bool {
    o.change == ChangeKind::Changed
        && o.fields.iter().all(|f| {
            f.path.starts_with("metadata.labels")
                || f.path.starts_with("spec.template.metadata.labels")
        })
}

/// Per app (bundles under their objects' titles), in order: the entries; label-only objects
/// apart.
struct Sections<'a> {
    apps: Vec<(String, Vec<Entry<'a>>)>,
    labels: Vec<&'a ObjectChange>,
}

fn sections(env: &EnvDiff) -> Sections<'_> {
    let mut labels = Vec::new();
    let mut by_fields: Vec<(&Vec<FieldChange>, Vec<&ObjectChange>)> = Vec::new();
    for o in &env.objects {
        if label_only(o) {
            labels.push(o);
        } else if o.change == ChangeKind::Changed {
            match by_fields.iter_mut().find(|(f, _)| **f == o.fields) {
                Some((_, all)) => all.push(o),
                None => by_fields.push((&o.fields, vec![o])),
            }
        }
    }
    let mut apps: BTreeMap<String, Vec<Entry<'_>>> = BTreeMap::new();
    let section = |o: &ObjectChange| {
        o.app
            .clone()
            .or_else(|| o.bundle.clone())
            .unwrap_or_else(|| "other".to_owned())
    };
    let mut done = Vec::new();
    for (_, group) in &by_fields {
        if group.len() >= 3 {
            apps.entry("same change".to_owned())
                .or_default()
                .push(Entry::Same(group.clone()));
            done.extend(group.iter().map(|o| *o as *const ObjectChange));
        }
    }
    for o in &env.objects {
        if label_only(o) || done.contains(&(o as *const ObjectChange)) {
            continue;
        }
        apps.entry(section(o)).or_default().push(Entry::One(o));
    }
    Sections {
        apps: apps.into_iter().collect(),
        labels,
    }
}

fn anchor(env: &str, section: &str) -> String {
    let slug: String = section
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("kiln-{env}-{slug}")
}

/// The section an impact's app (or bundle object) is detailed in.
fn section_of<'e>(sections: &'e Sections<'_>, i: &Impact) -> Option<&'e str> {
    sections
        .apps
        .iter()
        .find(|(_, entries)| {
            entries.iter().any(|e| match e {
                Entry::One(o) => o.title() == i.object || (i.app.is_some() && o.app == i.app),
                Entry::Same(os) => os.iter().any(|o| o.title() == i.object),
            })
        })
        .map(|(name, _)| name.as_str())
}

/// Splits paths into a shared prefix (when it helps) and the rest.
fn common_prefix(paths: &[&str]) -> String {
    let parsed: Vec<Vec<crate::fieldpath::Segment>> = paths
        .iter()
        .filter_map(|p| crate::fieldpath::parse(p).ok())
        .collect();
    if parsed.len() != paths.len() || parsed.is_empty() {
        return String::new();
    }
    let mut n = parsed[0].len();
    for p in &parsed[1..] {
        n = n.min(p.len());
        n = (0..n).find(|&i| p[i] != parsed[0][i]).unwrap_or(n);
    }
    if parsed.len() == 1 || parsed.iter().any(|p| p.len() == n) {
        n = n.saturating_sub(1);
    }
    let prefix = crate::fieldpath::render(&parsed[0][..n]);
    if prefix.len() < 24 {
        String::new()
    } else {
        prefix
    }
}

fn relative<'p>(path: &'p str, prefix: &str) -> &'p str {
    if prefix.is_empty() {
        path
    } else {
        path[prefix.len()..].trim_start_matches('.')
    }
}

/// One line of a changed object's body: a sign (`~ + - ` or space) and text.
type Line = (char, String);

fn yaml_lines(v: &Value) -> Vec<String> {
    match v {
        Value::Object(m) if !m.is_empty() => {}
        Value::Array(a) if !a.is_empty() => {}
        _ => return vec![show(v)],
    }
    let mut body = String::new();
    yaml::emit_document(v, &mut body);
    body.lines().map(str::to_owned).collect()
}

fn field_lines(f: &FieldChange, prefix: &str) -> Vec<Line> {
    let path = relative(&f.path, prefix);
    let mut out = Vec::new();
    match (&f.from, &f.to) {
        (Some(Value::String(a)), Some(Value::String(b)))
            if a.contains('\n') || b.contains('\n') =>
        {
            out.push(('~', format!("{path}: (lines)")));
            let diff = similar::TextDiff::from_lines(a.as_str(), b.as_str());
            for group in diff.grouped_ops(2) {
                for op in group {
                    for change in diff.iter_changes(&op) {
                        let sign = match change.tag() {
                            similar::ChangeTag::Delete => '-',
                            similar::ChangeTag::Insert => '+',
                            similar::ChangeTag::Equal => ' ',
                        };
                        out.push((
                            sign,
                            format!("    {}", change.value().trim_end_matches('\n')),
                        ));
                    }
                }
                out.push((' ', "    …".to_owned()));
            }
            out.pop();
        }
        (Some(a), Some(b)) if !is_tree(a) && !is_tree(b) => {
            out.push(('-', format!("{path}: {}", show(a))));
            out.push(('+', format!("{path}: {}", show(b))));
        }
        (from, to) => {
            for (sign, v) in [('-', from), ('+', to)] {
                let Some(v) = v else { continue };
                if is_tree(v) {
                    out.push((sign, format!("{path}:")));
                    out.extend(yaml_lines(v).into_iter().map(|l| (sign, format!("  {l}"))));
                } else {
                    out.push((sign, format!("{path}: {}", show(v))));
                }
            }
        }
    }
    out
}

fn is_tree(v: &Value) -> bool {
    matches!(v, Value::Object(m) if !m.is_empty()) || matches!(v, Value::Array(a) if !a.is_empty())
}

fn object_lines(o: &ObjectChange) -> (String, Vec<Line>) {
    match o.change {
        ChangeKind::Changed => {
            let paths: Vec<&str> = o.fields.iter().map(|f| f.path.as_str()).collect();
            let prefix = common_prefix(&paths);
            let lines = o
                .fields
                .iter()
                .flat_map(|f| field_lines(f, &prefix))
                .collect();
            (prefix, lines)
        }
        ChangeKind::Added | ChangeKind::Removed => {
            let sign = if o.change == ChangeKind::Added {
                '+'
            } else {
                '-'
            };
            let v = o
                .object
                .as_ref()
                .expect("added and removed objects carry it");
            (
                String::new(),
                yaml_lines(v).into_iter().map(|l| (sign, l)).collect(),
            )
        }
    }
}

/// The part of `b` that differs from `a` (after their common prefix, before their common
/// suffix), as byte ranges into `b`.
fn changed_span(a: &str, b: &str) -> (usize, usize) {
    let pre = a
        .char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map(|((i, _), _)| i)
        .unwrap_or(a.len().min(b.len()));
    let pre = (0..=pre)
        .rev()
        .find(|&i| b.is_char_boundary(i) && a.is_char_boundary(i))
        .unwrap_or(0);
    let suf = a[pre..]
        .chars()
        .rev()
        .zip(b[pre..].chars().rev())
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x.len_utf8())
        .sum::<usize>();
    (pre, b.len() - suf)
}

fn verb(o: &ObjectChange) -> &'static str {
    match o.change {
        ChangeKind::Changed => "changed",
        ChangeKind::Added => "added",
        ChangeKind::Removed => "removed",
    }
}

fn level_text(l: Level) -> &'static str {
    match l {
        Level::Danger => "DANGER",
        Level::Warning => "warning",
        Level::Notice => "notice",
    }
}

// ---------------------------------------------------------------------------------------------
// Text

/// Plain text, coloured when `color` is set.
pub fn diff_text(diff: &Diff, color: bool) -> String {
    let paint = |code: &str, s: &str| paint(color, code, s);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "kiln diff {}{}..{}{}",
        diff.base,
        short(&diff.base_commit),
        diff.head,
        short(&diff.head_commit)
    );
    preamble_text(diff, &mut out, color);
    for env in &diff.environments {
        let closed = if env.closed { " [closed]" } else { "" };
        let _ = writeln!(out, "  {}{closed}: {}", env.name, summary_line(env));
        for (first, all) in grouped(&env.impact) {
            let code = match first.level {
                Level::Danger => "1;31",
                Level::Warning => "33",
                Level::Notice => "",
            };
            let whom: Vec<String> = all.iter().map(|i| who(i)).collect();
            let _ = writeln!(
                out,
                "    {} {}: {}",
                paint(code, &format!("{:<7}", level_text(first.level))),
                whom.join(", "),
                first.message
            );
        }
        if !env.images.is_empty() {
            let rows: Vec<[String; 3]> = env
                .images
                .iter()
                .map(|i| {
                    let (a, b) = image_pair(i);
                    [owner(i), i.container.clone(), format!("{a} -> {b}")]
                })
                .collect();
            let w0 = rows.iter().map(|r| r[0].len()).max().unwrap_or(0);
            let w1 = rows.iter().map(|r| r[1].len()).max().unwrap_or(0);
            for r in rows {
                let _ = writeln!(out, "    image   {:<w0$}  {:<w1$}  {}", r[0], r[1], r[2]);
            }
        }
    }
    for env in diff.environments.iter().filter(|e| !e.objects.is_empty()) {
        let _ = writeln!(out, "\n== {}", env.name);
        let s = sections(env);
        for (name, entries) in &s.apps {
            let _ = writeln!(out, "-- {name}");
            for e in entries {
                let (head, o) = match e {
                    Entry::One(o) => (format!("{} ({})", o.title(), o.file), *o),
                    Entry::Same(os) => (
                        format!(
                            "{} objects, the same change: {}",
                            os.len(),
                            os.iter().map(|o| o.title()).collect::<Vec<_>>().join(", ")
                        ),
                        os[0],
                    ),
                };
                let (sign, code) = match o.change {
                    ChangeKind::Changed => ('~', "33"),
                    ChangeKind::Added => ('+', "32"),
                    ChangeKind::Removed => ('-', "31"),
                };
                let _ = writeln!(out, "{}", paint(code, &format!("{sign} {head}")));
                let (prefix, lines) = object_lines(o);
                if !prefix.is_empty() {
                    let _ = writeln!(out, "    @ {prefix}");
                }
                text_lines(&lines, color, &mut out);
            }
        }
        if !s.labels.is_empty() {
            let _ = writeln!(out, "-- label-only changes ({} objects)", s.labels.len());
            for o in &s.labels {
                let paths: Vec<String> = o
                    .fields
                    .iter()
                    .map(|f| match (&f.from, &f.to) {
                        (Some(a), Some(b)) => format!("{}: {} -> {}", f.path, show(a), show(b)),
                        (None, Some(b)) => format!("+{}: {}", f.path, show(b)),
                        (Some(a), None) => format!("-{}: {}", f.path, show(a)),
                        _ => String::new(),
                    })
                    .collect();
                let _ = writeln!(out, "~ {}: {}", o.title(), paths.join("; "));
            }
        }
    }
    out
}

fn text_lines(lines: &[Line], color: bool, out: &mut String) {
    let mut i = 0;
    while i < lines.len() {
        let (sign, text) = &lines[i];
        // A scalar change: one line, the changed part highlighted.
        if *sign == '-' && lines.get(i + 1).is_some_and(|(s, _)| *s == '+') {
            let next = &lines[i + 1].1;
            if let (Some((pa, a)), Some((pb, b))) = (text.split_once(": "), next.split_once(": ")) {
                if pa == pb && !a.is_empty() && !b.is_empty() && !text.ends_with(':') {
                    let (x, y) = changed_span(a, b);
                    let (ax, ay) = changed_span(b, a);
                    let hl = |s: &str, from: usize, to: usize, code: &str| {
                        format!(
                            "{}{}{}",
                            &s[..from],
                            paint(color, code, &s[from..to]),
                            &s[to..]
                        )
                    };
                    let _ = writeln!(
                        out,
                        "    {} {pa}: {} -> {}",
                        paint(color, "33", "~"),
                        hl(a, ax, ay, "1;31"),
                        hl(b, x, y, "1;32")
                    );
                    i += 2;
                    continue;
                }
            }
        }
        let code = match sign {
            '+' => "32",
            '-' => "31",
            '~' => "33",
            _ => "",
        };
        let _ = writeln!(out, "{}", paint(color, code, &format!("    {sign} {text}")));
        i += 1;
    }
}

fn preamble_text(diff: &Diff, out: &mut String, color: bool) {
    if !diff.lint_errors.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            paint(
                color,
                "1;31",
                &format!(
                    "! {} lint error(s) in {}: `kiln render` refuses this revision",
                    diff.lint_errors.len(),
                    diff.head
                )
            )
        );
        for e in &diff.lint_errors {
            let _ = writeln!(
                out,
                "    {} {} {} {}: {}",
                e.environment, e.rule, e.object, e.path, e.message
            );
        }
    }
    if let Some(c) = diff.committed.as_ref().filter(|c| !c.files.is_empty()) {
        let _ = writeln!(
            out,
            "{}",
            paint(
                color,
                "1;31",
                &format!(
                    "! the committed tree of {} differs from its render in {} file(s); Argo CD applies the committed tree",
                    diff.head,
                    c.files.len()
                )
            )
        );
        for f in &c.files {
            let _ = writeln!(out, "    {:<7} {}", state(f.state), f.path);
        }
    }
    if !diff.ignore.is_empty() {
        let _ = writeln!(out, "  (ignoring {})", diff.ignore.join(", "));
    }
}

fn state(s: CommittedState) -> &'static str {
    match s {
        CommittedState::Changed => "changed",
        CommittedState::Missing => "missing",
        CommittedState::Extra => "extra",
    }
}

// ---------------------------------------------------------------------------------------------
// Markdown

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('<', "&lt;")
}

fn summary_markdown(diff: &Diff) -> String {
    let mut head = String::new();
    let rev = |label: &str, commit: &Option<String>| match commit {
        Some(c) => format!("`{label}` {}", &c[..c.len().min(7)]),
        None => format!("`{label}`"),
    };
    let _ = writeln!(
        head,
        "### kiln: rendered changes {} → {}\n",
        rev(&diff.base, &diff.base_commit),
        rev(&diff.head, &diff.head_commit)
    );
    // Dangerous impacts of every environment first.
    let dangers: Vec<(&str, &Impact)> = diff
        .environments
        .iter()
        .flat_map(|e| e.impact.iter().map(move |i| (e.name.as_str(), i)))
        .filter(|(_, i)| i.level == Level::Danger)
        .collect();
    if !dangers.is_empty() {
        head.push_str("> [!CAUTION]\n");
        for (env, i) in &dangers {
            let _ = writeln!(head, "> **{env}**: {}<br>", md_escape(&i.message));
        }
        head.push('\n');
    }
    if !diff.lint_errors.is_empty() {
        let _ = writeln!(
            head,
            "> [!WARNING]\n> **{} lint error(s)** in `{}`: `kiln render` refuses this revision.",
            diff.lint_errors.len(),
            diff.head
        );
        for e in &diff.lint_errors {
            let _ = writeln!(
                head,
                "> - {} `{}` {} `{}`: {}",
                e.environment,
                e.rule,
                md_escape(&e.object),
                e.path,
                md_escape(&e.message)
            );
        }
        head.push('\n');
    }
    if let Some(c) = diff.committed.as_ref().filter(|c| !c.files.is_empty()) {
        let _ = writeln!(
            head,
            "> [!WARNING]\n> **The committed tree is not its render**: {} file(s) of `{}` differ; Argo CD applies what is committed.",
            c.files.len(),
            diff.head
        );
        for f in c.files.iter().take(20) {
            let _ = writeln!(head, "> - {} `{}`", state(f.state), f.path);
        }
        if c.files.len() > 20 {
            let _ = writeln!(head, "> - … and {} more", c.files.len() - 20);
        }
        head.push('\n');
    }
    head.push_str("| environment | changed | added | removed |\n|---|---:|---:|---:|\n");
    for env in &diff.environments {
        let _ = writeln!(
            head,
            "| {}{} | {} | {} | {} |",
            env.name,
            if env.closed { " (closed)" } else { "" },
            env.changed,
            env.added,
            env.removed
        );
    }
    if !diff.ignore.is_empty() {
        let _ = writeln!(
            head,
            "\n<sub>ignoring {}</sub>",
            diff.ignore
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for env in diff.environments.iter().filter(|e| !e.objects.is_empty()) {
        let s = sections(env);
        let _ = writeln!(
            head,
            "\n#### {}{}: {}\n",
            env.name,
            if env.closed { " (closed)" } else { "" },
            summary_line(env)
        );
        for (first, all) in grouped(&env.impact) {
            let icon = match first.level {
                Level::Danger => "⛔ ",
                Level::Warning => "⚠️ ",
                Level::Notice => "",
            };
            let whom: Vec<String> = all
                .iter()
                .map(|i| {
                    let name = i.app.clone().unwrap_or_else(|| i.object.clone());
                    match section_of(&s, i) {
                        Some(sec) => format!("[{}](#{})", md_escape(&name), anchor(&env.name, sec)),
                        None => md_escape(&name),
                    }
                })
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let _ = writeln!(
                head,
                "- {icon}{}: {}",
                whom.join(", "),
                md_escape(&first.message)
            );
        }
        if !env.images.is_empty() {
            head.push_str("\n| app | container | image |\n|---|---|---|\n");
            // The same move of one container in many apps is one row.
            let mut rows: Vec<(Vec<String>, &str, (String, String))> = Vec::new();
            for i in &env.images {
                let pair = image_pair(i);
                match rows
                    .iter_mut()
                    .find(|(_, c, p)| *c == i.container && *p == pair)
                {
                    Some((apps, _, _)) => apps.push(md_escape(&owner(i))),
                    None => rows.push((vec![md_escape(&owner(i))], &i.container, pair)),
                }
            }
            for (apps, container, (a, b)) in rows {
                let _ = writeln!(
                    head,
                    "| {} | {} | `{a}` → `{b}` |",
                    apps.join(", "),
                    md_escape(container)
                );
            }
        }
    }
    head
}

/// Markdown for pull-request comments, split into parts of at most `limit` characters (use
/// [`GITHUB_COMMENT_LIMIT`]): the summary (warnings, impact, images) in part 1, then the
/// details per environment and app, without splitting an object's block unless it alone is
/// too large. Every part starts with [`COMMENT_MARKER`] and its number.
pub fn diff_markdown(diff: &Diff, limit: usize) -> Vec<String> {
    let mut head = summary_markdown(diff);
    if diff.is_empty() {
        head.push_str("\nNo rendered object changes.\n");
        return number(vec![head]);
    }
    let reserve = 64; // the marker and "part i of n"
    let limit = limit.saturating_sub(reserve).max(256);
    if head.len() > limit {
        let cut = head[..limit - 40].rfind('\n').unwrap_or(0);
        head.truncate(cut);
        head.push_str("\n\n*(summary cut: too large)*\n");
    }
    let mut parts: Vec<String> = Vec::new();
    let mut current = head;
    current.push_str("\n---\n");
    const CLOSE: &str = "\n</details>\n";
    let push_block = |current: &mut String,
                      parts: &mut Vec<String>,
                      opener: &dyn Fn(bool) -> String,
                      block: &str| {
        if current.len() + block.len() + CLOSE.len() > limit {
            current.push_str(CLOSE);
            parts.push(std::mem::take(current));
            current.push_str(&opener(true));
        }
        if current.len() + block.len() + CLOSE.len() > limit {
            let room = limit.saturating_sub(current.len() + CLOSE.len() + 32);
            let mut end = room.min(block.len());
            while !block.is_char_boundary(end) {
                end -= 1;
            }
            let cut = block[..end].rfind('\n').unwrap_or(0);
            current.push_str(&block[..cut]);
            current.push_str("\n```\n*(cut: too large)*\n");
        } else {
            current.push_str(block);
        }
    };
    for env in diff.environments.iter().filter(|e| !e.objects.is_empty()) {
        let s = sections(env);
        let mut list: Vec<(String, String, Vec<String>)> = s
            .apps
            .iter()
            .map(|(name, entries)| {
                let n: usize = entries
                    .iter()
                    .map(|e| match e {
                        Entry::One(_) => 1,
                        Entry::Same(os) => os.len(),
                    })
                    .sum();
                (
                    anchor(&env.name, name),
                    format!("<b>{}</b> · {name}: {n} object(s)", env.name),
                    entries.iter().map(markdown_block).collect(),
                )
            })
            .collect();
        if !s.labels.is_empty() {
            let mut block = String::from("| object | label | from → to |\n|---|---|---|\n");
            for o in &s.labels {
                for f in &o.fields {
                    let _ = writeln!(
                        block,
                        "| {} | `{}` | {} → {} |",
                        md_escape(&o.title()),
                        f.path,
                        f.from
                            .as_ref()
                            .map(|v| format!("`{}`", show(v)))
                            .unwrap_or_else(|| "–".to_owned()),
                        f.to.as_ref()
                            .map(|v| format!("`{}`", show(v)))
                            .unwrap_or_else(|| "–".to_owned())
                    );
                }
            }
            block.push('\n');
            list.push((
                anchor(&env.name, "labels"),
                format!(
                    "<b>{}</b> · label-only changes: {} object(s)",
                    env.name,
                    s.labels.len()
                ),
                vec![block],
            ));
        }
        for (id, summary, blocks) in list {
            let opener = |continued: bool| {
                format!(
                    "\n<a id=\"{id}\"></a>\n<details><summary>{summary}{}</summary>\n\n",
                    if continued { " (continued)" } else { "" }
                )
            };
            let first = opener(false);
            if current.len() + first.len() + CLOSE.len() > limit {
                parts.push(std::mem::take(&mut current));
            }
            current.push_str(&first);
            for block in &blocks {
                push_block(&mut current, &mut parts, &opener, block);
            }
            current.push_str(CLOSE);
        }
    }
    parts.push(current);
    number(parts)
}

fn number(mut parts: Vec<String>) -> Vec<String> {
    let n = parts.len();
    for (i, part) in parts.iter_mut().enumerate() {
        let mut prefix = format!("{COMMENT_MARKER}{} -->\n", i + 1);
        if n > 1 {
            let _ = write!(prefix, "<sub>part {} of {n}</sub>\n\n", i + 1);
        }
        part.insert_str(0, &prefix);
    }
    parts
}

fn markdown_block(e: &Entry<'_>) -> String {
    let (title, o) = match e {
        Entry::One(o) => (
            format!(
                "**{}** {} <sub>`{}`</sub>",
                md_escape(&o.title()),
                verb(o),
                o.file
            ),
            *o,
        ),
        Entry::Same(os) => (
            format!(
                "**The same change in {} objects**: {}",
                os.len(),
                os.iter()
                    .map(|o| md_escape(&o.title()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            os[0],
        ),
    };
    let (prefix, lines) = object_lines(o);
    let mut block = title;
    block.push_str("\n\n");
    if !prefix.is_empty() {
        let _ = write!(block, "in `{prefix}`:\n\n");
    }
    block.push_str("```diff\n");
    for (sign, text) in lines {
        let sign = if sign == '~' { '!' } else { sign };
        let _ = writeln!(block, "{sign} {text}");
    }
    block.push_str("```\n\n");
    block
}
