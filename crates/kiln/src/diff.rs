//! Object-aware diffs between two rendered trees, for review: which Kubernetes objects each
//! environment gains, loses or changes, field by field, and which image tags move. Pure.
//!
//! Objects are matched per environment by kind, namespace and name, never by file: an object
//! that moves to another file unchanged is no change. Field paths read like `kubectl explain`
//! paths, with named list items selected by name: `spec.template.spec.containers[name=web].image`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::render::Rendered;

/// The object changes between two rendered trees, per environment: what [`diff`] returns.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Diff {
    /// The base side's label (for `kiln diff`, the base revision).
    pub base: String,
    /// The head side's label: a revision, or `working tree`.
    pub head: String,
    /// Every environment of either side, by name, with or without changes.
    pub environments: Vec<EnvDiff>,
}

/// One environment's changes.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EnvDiff {
    /// The environment's name.
    pub name: String,
    /// How many objects only the head side has.
    pub added: usize,
    /// How many objects only the base side has.
    pub removed: usize,
    /// How many objects both sides have, with different content.
    pub changed: usize,
    /// The containers whose image differs, by object (kind, namespace, name), then container name.
    pub images: Vec<ImageChange>,
    /// The objects that differ: changed first, then added, then removed; each by kind, namespace
    /// and name. Empty when the environment has no changes.
    pub objects: Vec<ObjectChange>,
}

/// How an object differs between the two sides. Ordered as reports list changes: changed,
/// added, removed.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// On both sides, with different content.
    Changed,
    /// Only on the head side.
    Added,
    /// Only on the base side.
    Removed,
}

/// One object that differs between base and head.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ObjectChange {
    /// Whether the object changed, was added or was removed.
    pub change: ChangeKind,
    /// The object's `kind`.
    pub kind: String,
    /// `metadata.namespace`; `None` when it is absent or empty (cluster-scoped objects).
    pub namespace: Option<String>,
    /// `metadata.name`.
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

/// One leaf of a changed object whose value differs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldChange {
    /// The leaf's path: `spec.template.spec.containers[name=web].image`.
    pub path: String,
    /// The base value; `None` when the leaf is new.
    pub from: Option<Value>,
    /// The head value; `None` when the leaf was removed.
    pub to: Option<Value>,
}

/// A container whose image differs between base and head, including the containers of added
/// and removed objects.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ImageChange {
    /// The app whose component renders the object; `None` for bundles.
    pub app: Option<String>,
    /// `Kind namespace/name`.
    pub object: String,
    /// The container's name, from a `containers` or `initContainers` list.
    pub container: String,
    /// The base image; `None` when the base side has no such container.
    pub from: Option<String>,
    /// The head image; `None` when the head side has no such container.
    pub to: Option<String>,
}

impl ObjectChange {
    /// `Kind namespace/name`, or `Kind name` for an object without a namespace.
    pub fn title(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }
}

impl Diff {
    /// Whether no environment has an object that differs.
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

/// The environments and apps whose rendered objects changed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Affected {
    /// The diff's base label.
    pub base: String,
    /// The diff's head label.
    pub head: String,
    /// The environments with at least one object that differs, by name.
    pub environments: Vec<String>,
    /// One entry per changed (environment, app); `app` is `None` for objects of an
    /// environment's bundles (namespaces, RBAC, shared secrets). Ready for a CI matrix's
    /// `include`.
    pub include: Vec<AffectedApp>,
}

/// One changed (environment, app) pair: an entry of a CI matrix's `include`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct AffectedApp {
    /// The environment's name.
    pub environment: String,
    /// The app; `None` for the environment's bundles.
    pub app: Option<String>,
}

/// The environments and apps `diff` touches: one entry per (environment, app) with at least
/// one object that differs, sorted.
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
