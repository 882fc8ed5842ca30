//! `kiln explain ENV[/APP] [--field PATH]` for people: effective values with the file, key and line that
//! set them; for a rendered field, the template line that wrote it and the data it read.

use std::fmt::Write as _;

use super::table::{bold, show, table, table_with_headings, Item};
use crate::explain::{
    AppExplanation, EnvExplanation, Explanation, FieldExplanation, Origin, Reference, Setting,
};

/// `kiln explain` as text; `output` is the output tree's directory, as paths are shown.
pub fn explain_text(explanation: &Explanation, output: &str, color: bool) -> String {
    match explanation {
        Explanation::Environment(e) => environment(e, color),
        Explanation::App(a) => app(a, color),
        Explanation::Field(f) => field_text(f, output, color),
    }
}

fn origin(origin: Option<&Origin>) -> Vec<String> {
    match origin {
        Some(o) => vec![
            format!("{}:{}", o.file.display(), o.line),
            o.key.clone(),
            o.layer
                .map(|l| format!("({})", l.label()))
                .unwrap_or_default(),
        ],
        None => vec![String::new(), String::new(), String::new()],
    }
}

/// `name  value  file:line  key  (layer)  note`; a setting no file sets has its note in
/// place of the file.
fn setting_row(s: &Setting, indent: &str) -> Vec<String> {
    let mut row = vec![format!("{indent}{}", s.name), show(&s.value)];
    if s.origin.is_some() {
        row.extend(origin(s.origin.as_ref()));
    }
    if let Some(note) = &s.note {
        row.push(format!("({note})"));
    }
    row
}

fn environment(e: &EnvExplanation, color: bool) -> String {
    let mut out = format!(
        "{}  ({})\n",
        bold(&format!("environment {}", e.env), color),
        e.file.display()
    );
    let rows: Vec<Vec<String>> = e.settings.iter().map(|s| setting_row(s, "")).collect();
    out.push_str(&table(&rows, "  "));
    if !e.bundles.is_empty() {
        let _ = writeln!(out, "{}", bold("bundles", color));
        let rows: Vec<Vec<String>> = e
            .bundles
            .iter()
            .map(|b| {
                let mut row = vec![
                    b.templates.clone(),
                    format!("-> {}", b.dir),
                    format!("namespace {}", b.namespace),
                ];
                row.extend(origin(b.origin.as_ref()).into_iter().take(2));
                row
            })
            .collect();
        out.push_str(&table(&rows, "  "));
    }
    let _ = writeln!(out, "{}", bold("apps", color));
    let mut rows: Vec<Vec<String>> = e
        .apps
        .iter()
        .map(|a| {
            vec![
                a.app.clone(),
                a.component.clone(),
                format!("namespace {}", a.namespace),
                format!("replicas {}", a.replicas),
                a.image.clone(),
            ]
        })
        .collect();
    rows.extend(e.not_deployed.iter().map(|n| {
        vec![
            n.app.clone(),
            "-".into(),
            format!("not deployed: {}", n.reason),
        ]
    }));
    if rows.is_empty() {
        rows.push(vec!["(none)".into()]);
    }
    out.push_str(&table(&rows, "  "));
    let _ = writeln!(
        out,
        "(kiln explain {}/APP shows an app's settings and where each came from)",
        e.env
    );
    out
}

/// `app.replicas = 2  (rule)`, then one aligned `<-` row per setting it is made of.
fn reference_rows(r: &Reference, rows: &mut Vec<Item>) {
    let value = r.value.as_ref().map(show).unwrap_or_else(|| "-".into());
    let mut head = format!("{} = {value}", r.expr);
    if let Some(rule) = &r.rule {
        head.push_str(&format!("  ({rule})"));
    }
    rows.push(Item::Heading(head));
    for s in &r.from {
        rows.push(Item::Row(setting_row(s, "  <- ")));
    }
}

fn app(a: &AppExplanation, color: bool) -> String {
    let mut out = String::new();
    for c in &a.components {
        let _ = writeln!(
            out,
            "{}  (component {}, templates/{}/, output {})",
            bold(&format!("{}/{}", a.env, a.app), color),
            c.kind,
            c.templates,
            c.dir
        );
        if let Some(description) = &a.description {
            let _ = writeln!(out, "  {description}");
        }
        let _ = writeln!(out, "{}", bold("placement", color));
        let mut rows = Vec::new();
        for r in &c.placement {
            reference_rows(r, &mut rows);
        }
        out.push_str(&table_with_headings(&rows, "  "));
        let _ = writeln!(
            out,
            "{}",
            bold("settings (later layers win: kind default < app default < environment default < override)", color)
        );
        let rows: Vec<Vec<String>> = c.settings.iter().map(|s| setting_row(s, "")).collect();
        out.push_str(&table(&rows, "  "));
        let _ = writeln!(out, "{}", bold("derived by kiln", color));
        let mut rows = Vec::new();
        for r in &c.derived {
            reference_rows(r, &mut rows);
        }
        out.push_str(&table_with_headings(&rows, "  "));
    }
    out
}

fn field_text(f: &FieldExplanation, output: &str, color: bool) -> String {
    let target = match &f.app {
        Some(app) => format!("{}/{app}", f.env),
        None => f.env.clone(),
    };
    let mut out = format!("{target}  {}\n", f.field);
    let mut previous: Option<(&str, &str, &str)> = None;
    for hit in &f.hits {
        let object = match &hit.namespace {
            Some(ns) => format!("{} {ns}/{}", hit.kind, hit.name),
            None => format!("{} {}", hit.kind, hit.name),
        };
        let this = (hit.file.as_str(), hit.kind.as_str(), hit.name.as_str());
        if previous != Some(this) {
            let _ = writeln!(out, "\n{}  ({output}/{})", bold(&object, color), hit.file);
            previous = Some(this);
        }
        let t = &hit.template;
        let _ = writeln!(out, "  {} = {}", hit.path, show(&hit.value));
        if let Some(patch) = &hit.patch {
            let _ = writeln!(
                out,
                "    set by a patch: {}:{} (key `{}`)",
                patch.file.display(),
                patch.line,
                patch.key
            );
            let _ = writeln!(out, "      {} | {}", t.line, t.source.trim());
            continue;
        }
        let _ = writeln!(out, "    written by {}:{}", t.file.display(), t.line);
        let _ = writeln!(out, "      {} | {}", t.line, t.source.trim());
        if hit.references.is_empty() {
            let _ = writeln!(
                out,
                "    {}",
                if t.expression.is_some() {
                    "(the expression reads no platform data)"
                } else {
                    "(written literally in the template)"
                }
            );
            continue;
        }
        let mut rows = Vec::new();
        for r in &hit.references {
            reference_rows(r, &mut rows);
        }
        out.push_str(&table_with_headings(&rows, "    "));
    }
    out
}
