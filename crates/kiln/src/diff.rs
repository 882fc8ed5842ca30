//! Object-aware diffs between two rendered trees, for review: which Kubernetes objects each
//! environment gains, loses or changes, field by field, and which image tags move. Pure.
//!
//! Objects are matched per environment by kind, namespace and name, never by file: an object
//! that moves to another file unchanged is no change. Field paths read like `kubectl explain`
//! paths, with named list items selected by name: `spec.template.spec.containers[name=web].image`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::render::Rendered;
use crate::yaml;

/// GitHub's limit for one comment, in characters.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Diff {
    pub base: String,
    pub head: String,
    /// Every environment of either side, by name, with or without changes.
    pub environments: Vec<EnvDiff>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EnvDiff {
    pub name: String,
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    pub images: Vec<ImageChange>,
    pub objects: Vec<ObjectChange>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Changed,
    Added,
    Removed,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ObjectChange {
    pub change: ChangeKind,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// The app whose component renders the object; `None` for bundles.
    pub app: Option<String>,
    /// The file the object is in (head side, or base side when removed).
    pub file: String,
    /// For a changed object: each changed leaf.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// For an added or removed object: the whole object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<Value>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldChange {
    pub path: String,
    pub from: Option<Value>,
    pub to: Option<Value>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ImageChange {
    pub app: Option<String>,
    /// `Kind namespace/name`.
    pub object: String,
    pub container: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl ObjectChange {
    pub fn title(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.environments.iter().all(|e| e.objects.is_empty())
    }
}

type Key = (String, String, String);

struct Located<'a> {
    file: &'a str,
    app: Option<&'a str>,
    object: &'a Value,
}

fn objects_by_env(rendered: &Rendered) -> BTreeMap<&str, BTreeMap<Key, Located<'_>>> {
    let mut out: BTreeMap<&str, BTreeMap<Key, Located<'_>>> = BTreeMap::new();
    for (path, file) in &rendered.files {
        let Some(env) = file.env.as_deref() else {
            continue;
        };
        for object in &file.objects {
            let key = (
                object["kind"].as_str().unwrap_or_default().to_owned(),
                object["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                object["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
            out.entry(env).or_default().insert(
                key,
                Located {
                    file: path,
                    app: file.app(),
                    object,
                },
            );
        }
    }
    out
}

/// Compares two rendered trees object by object.
pub fn diff(base_label: &str, base: &Rendered, head_label: &str, head: &Rendered) -> Diff {
    let base_envs = objects_by_env(base);
    let head_envs = objects_by_env(head);
    let envs: BTreeSet<&str> = base_envs.keys().chain(head_envs.keys()).copied().collect();
    let empty = BTreeMap::new();
    let mut environments = Vec::new();
    for env in envs {
        let b = base_envs.get(env).unwrap_or(&empty);
        let h = head_envs.get(env).unwrap_or(&empty);
        let keys: BTreeSet<&Key> = b.keys().chain(h.keys()).collect();
        let mut objects = Vec::new();
        let mut images = Vec::new();
        for key in keys {
            let (kind, ns, name) = key;
            let make = |change, located: &Located<'_>, fields, object| ObjectChange {
                change,
                kind: kind.clone(),
                namespace: (!ns.is_empty()).then(|| ns.clone()),
                name: name.clone(),
                app: located.app.map(str::to_owned),
                file: located.file.to_owned(),
                fields,
                object,
            };
            let change = match (b.get(key), h.get(key)) {
                (Some(old), Some(new)) if old.object == new.object => continue,
                (Some(old), Some(new)) => make(
                    ChangeKind::Changed,
                    new,
                    field_changes(old.object, new.object),
                    None,
                ),
                (None, Some(new)) => {
                    make(ChangeKind::Added, new, Vec::new(), Some(new.object.clone()))
                }
                (Some(old), None) => make(
                    ChangeKind::Removed,
                    old,
                    Vec::new(),
                    Some(old.object.clone()),
                ),
                (None, None) => unreachable!("the key came from one side"),
            };
            let old_images = b
                .get(key)
                .map(|l| container_images(l.object))
                .unwrap_or_default();
            let new_images = h
                .get(key)
                .map(|l| container_images(l.object))
                .unwrap_or_default();
            let containers: BTreeSet<&String> =
                old_images.keys().chain(new_images.keys()).collect();
            for container in containers {
                let (from, to) = (old_images.get(container), new_images.get(container));
                if from != to {
                    images.push(ImageChange {
                        app: change.app.clone(),
                        object: change.title(),
                        container: container.clone(),
                        from: from.cloned(),
                        to: to.cloned(),
                    });
                }
            }
            objects.push(change);
        }
        // Changed first, then added, then removed; each by kind, namespace, name.
        objects.sort_by_key(|o| o.change);
        let count = |k| objects.iter().filter(|o| o.change == k).count();
        environments.push(EnvDiff {
            name: env.to_owned(),
            added: count(ChangeKind::Added),
            removed: count(ChangeKind::Removed),
            changed: count(ChangeKind::Changed),
            images,
            objects,
        });
    }
    Diff {
        base: base_label.to_owned(),
        head: head_label.to_owned(),
        environments,
    }
}

/// Container name to image, for every `containers` and `initContainers` list in the object.
fn container_images(object: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    fn walk(v: &Value, out: &mut BTreeMap<String, String>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    if k == "containers" || k == "initContainers" {
                        for c in child.as_array().into_iter().flatten() {
                            if let (Some(name), Some(image)) =
                                (c["name"].as_str(), c["image"].as_str())
                            {
                                out.insert(name.to_owned(), image.to_owned());
                            }
                        }
                    } else {
                        walk(child, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    walk(object, &mut out);
    out
}

/// Leaf paths in document order ([`crate::fieldpath`]'s syntax).
pub(crate) fn flatten(value: &Value) -> Map<String, Value> {
    crate::fieldpath::leaves(value)
        .into_iter()
        .map(|(path, v)| (path, v.clone()))
        .collect()
}

fn field_changes(old: &Value, new: &Value) -> Vec<FieldChange> {
    let (old, new) = (flatten(old), flatten(new));
    let mut out = Vec::new();
    for (path, to) in &new {
        match old.get(path) {
            Some(from) if from == to => {}
            from => out.push(FieldChange {
                path: path.clone(),
                from: from.cloned(),
                to: Some(to.clone()),
            }),
        }
    }
    for (path, from) in &old {
        if !new.contains_key(path) {
            out.push(FieldChange {
                path: path.clone(),
                from: Some(from.clone()),
                to: None,
            });
        }
    }
    out
}

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
pub fn to_text(diff: &Diff, color: bool) -> String {
    let paint = |code: &str, s: &str| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    };
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
pub fn to_markdown(diff: &Diff, limit: usize) -> Vec<String> {
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

/// The environments and apps whose rendered objects changed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Affected {
    pub base: String,
    pub head: String,
    pub environments: Vec<String>,
    /// One entry per changed (environment, app); `app` is `None` for objects of an
    /// environment's bundles (namespaces, RBAC, shared secrets). Ready for a CI matrix's
    /// `include`.
    pub include: Vec<AffectedApp>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct AffectedApp {
    pub environment: String,
    pub app: Option<String>,
}

pub fn affected(diff: &Diff) -> Affected {
    let mut include = BTreeSet::new();
    for env in &diff.environments {
        for o in &env.objects {
            include.insert(AffectedApp {
                environment: env.name.clone(),
                app: o.app.clone(),
            });
        }
    }
    let environments: BTreeSet<String> = include.iter().map(|a| a.environment.clone()).collect();
    Affected {
        base: diff.base.clone(),
        head: diff.head.clone(),
        environments: environments.into_iter().collect(),
        include: include.into_iter().collect(),
    }
}
