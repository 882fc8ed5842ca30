//! Object-aware diffs between two rendered trees, for review: which Kubernetes objects each
//! environment gains, loses or changes, field by field, and which image tags move. Pure.
//!
//! Objects are matched per environment by kind, namespace and name, never by file: an object
//! that moves to another file unchanged is no change. Field paths read like `kubectl explain`
//! paths, with named list items selected by name: `spec.template.spec.containers[name=web].image`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::render::Rendered;

/// The object changes between two rendered trees, per environment: what [`diff`] returns.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Diff {
    /// The base side's label (for `kiln diff`, the base revision).
    pub base: String,
    /// The head side's label: a revision, or `working tree`.
    pub head: String,
    /// The base revision's commit id, when the base is a git revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_commit: Option<String>,
    /// The head revision's commit id, when the head is a git revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_commit: Option<String>,
    /// Lint errors of the head side's render: what `kiln render` would refuse.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lint_errors: Vec<LintNote>,
    /// How the head side's committed output tree differs from its render (what Argo CD applies
    /// is the committed tree); `None` when not looked at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub committed: Option<Committed>,
    /// The field paths left out by the ignore list (`diff.ignore` in kiln.yaml and `--ignore`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    /// Every environment of either side, with or without changes, in the platform's order
    /// (see [`DiffOptions::environments`]).
    pub environments: Vec<EnvDiff>,
}

/// One lint error of the head revision, for the top of a diff.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LintNote {
    /// The environment.
    pub environment: String,
    /// The rule's id.
    pub rule: String,
    /// `Kind namespace/name`.
    pub object: String,
    /// The field path in the object.
    pub path: String,
    /// What goes wrong.
    pub message: String,
}

/// The head side's committed output tree against its render.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Committed {
    /// Whether the head side has a committed output tree at all. When it has none, `files`
    /// is empty: nothing to compare.
    pub present: bool,
    /// Each file that differs, by path relative to the output root.
    pub files: Vec<CommittedFile>,
}

/// One file where the committed tree and the render disagree.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CommittedFile {
    /// The file, relative to the output root.
    pub path: String,
    /// `changed` (committed with other content), `missing` (rendered, not committed),
    /// `extra` (committed, not rendered).
    pub state: CommittedState,
    /// The environment the file belongs to (from the render, or the directory's owner).
    pub environment: Option<String>,
    /// The app whose component renders the file; `None` for bundles and unknown files.
    pub app: Option<String>,
}

/// How a committed file differs from the render.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum CommittedState {
    /// Committed with content other than the render's.
    Changed,
    /// Rendered but not committed.
    Missing,
    /// Committed but not rendered.
    Extra,
}

/// One environment's changes.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EnvDiff {
    /// The environment's name.
    pub name: String,
    /// Whether the head side closes the environment (every workload scaled to zero).
    pub closed: bool,
    /// How many objects only the head side has.
    pub added: usize,
    /// How many objects only the base side has.
    pub removed: usize,
    /// How many objects both sides have, with different content.
    pub changed: usize,
    /// What the changes do, most dangerous first: restarts, replica and PDB changes,
    /// deletions, manual rollouts, hostnames and TLS, RBAC, routing.
    pub impact: Vec<Impact>,
    /// The containers whose image differs, by app (or object for bundles) and container;
    /// an object that moves namespace with its image is no image change.
    pub images: Vec<ImageChange>,
    /// The objects that differ: changed first, then added, then removed; each by kind, namespace
    /// and name. Empty when the environment has no changes.
    pub objects: Vec<ObjectChange>,
}

/// How much a reviewer should worry about one impact.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Data or a whole namespace can be lost, or a declared singleton runs twice.
    Danger,
    /// Availability or exposure changes: single replica, PDB gone, manual rollout, RBAC.
    Warning,
    /// Worth knowing: restarts, replica counts, new hosts, routing.
    Notice,
}

/// What kind of impact an [`Impact`] is; its JSON name is the snake-case variant.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum ImpactKind {
    /// A Namespace, PersistentVolumeClaim, PersistentVolume or StatefulSet is deleted.
    Deleted,
    /// A declared singleton gets more than one replica.
    SingletonScaled,
    /// A workload drops to one replica.
    SingleReplica,
    /// A PodDisruptionBudget is removed.
    PdbRemoved,
    /// An `OnDelete` workload's pod template changed: pods keep the old spec until deleted.
    ManualRollout,
    /// A public hostname is no longer served.
    HostRemoved,
    /// A hostname's TLS is added or removed.
    TlsChanged,
    /// A Role or ClusterRole gains verbs or resources, or a binding gains subjects.
    RbacWidened,
    /// A workload's pod template changed: its pods are replaced.
    Restart,
    /// A workload's replica count changes.
    Replicas,
    /// A PodDisruptionBudget is added.
    PdbAdded,
    /// A new public hostname.
    HostAdded,
    /// A Service's selector, ports or type, or an Ingress's rules or backends change.
    Routing,
}

/// One line of an environment's impact summary.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Impact {
    /// How much to worry.
    pub level: Level,
    /// What kind of impact.
    pub kind: ImpactKind,
    /// The app whose object it is; `None` for bundles and environment-wide facts.
    pub app: Option<String>,
    /// `Kind namespace/name` of the object, or the hostname for host impacts.
    pub object: String,
    /// One sentence for a reviewer.
    pub message: String,
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
    /// The template set of the bundle that renders the object; `None` for apps' objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
    /// The file the object is in (head side, or base side when removed).
    pub file: String,
    /// For a changed object: each changed leaf, or whole subtree when one side lacks it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// For an added or removed object: the whole object (secrets masked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<Value>,
}

/// One place in a changed object whose value differs: a leaf, or a whole subtree that only
/// one side has (then `from` or `to` is a mapping or list).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldChange {
    /// The path: `spec.template.spec.containers[name=web].image`.
    pub path: String,
    /// The base value; `None` when the place is new.
    pub from: Option<Value>,
    /// The head value; `None` when the place was removed.
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
        title(&self.kind, self.namespace.as_deref(), &self.name)
    }
}

fn title(kind: &str, ns: Option<&str>, name: &str) -> String {
    match ns {
        Some(ns) if !ns.is_empty() => format!("{kind} {ns}/{name}"),
        _ => format!("{kind} {name}"),
    }
}

impl Diff {
    /// Whether no environment has an object that differs.
    pub fn is_empty(&self) -> bool {
        self.environments.iter().all(|e| e.objects.is_empty())
    }
}

/// What [`diff_with`] knows of the platform beyond the two renders.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// The environments in the platform's order (promotion order: channel, then name), with
    /// whether the head side closes them. Environments not listed follow, by name.
    pub environments: Vec<(String, bool)>,
    /// Field paths to leave out (kiln's field-path syntax). A path matches itself and
    /// everything below it; a leading `*` matches at any depth (`*.metadata.labels["a.io/v"]`).
    pub ignore: Vec<String>,
    /// `(environment, app)` pairs the platform declares singletons (must never run twice);
    /// scaling one above one replica is flagged as dangerous.
    pub singletons: BTreeSet<(String, String)>,
}

type Key = (String, String, String);

struct Located<'a> {
    file: &'a str,
    app: Option<&'a str>,
    bundle: Option<String>,
    object: &'a Value,
}

fn objects_by_env(rendered: &Rendered) -> BTreeMap<&str, BTreeMap<Key, Located<'_>>> {
    let mut out: BTreeMap<&str, BTreeMap<Key, Located<'_>>> = BTreeMap::new();
    for (path, file) in &rendered.files {
        let Some(env) = file.env.as_deref() else {
            continue;
        };
        let bundle = file
            .origin
            .as_ref()
            .filter(|o| o.app.is_none())
            .and_then(|o| {
                o.template
                    .iter()
                    .nth(1)
                    .and_then(|s| s.to_str())
                    .map(str::to_owned)
            });
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
                    bundle: bundle.clone(),
                    object,
                },
            );
        }
    }
    out
}

/// Compares two rendered trees object by object, environments by name, nothing ignored.
pub fn diff(base_label: &str, base: &Rendered, head_label: &str, head: &Rendered) -> Diff {
    diff_with(base_label, base, head_label, head, &DiffOptions::default())
}

/// Whether `path` is `pattern` or below it; a leading `*` in `pattern` matches any prefix.
pub fn ignored(path: &str, pattern: &str) -> bool {
    let boundary = |rest: &str| rest.is_empty() || rest.starts_with('.') || rest.starts_with('[');
    match pattern.strip_prefix('*') {
        Some(tail) => {
            let tail = tail.strip_prefix('.').unwrap_or(tail);
            path.match_indices(tail).any(|(i, _)| {
                (i == 0 || path[..i].ends_with('.') || tail.starts_with('['))
                    && boundary(&path[i + tail.len()..])
            })
        }
        None => path.strip_prefix(pattern).is_some_and(boundary),
    }
}

/// Compares two rendered trees object by object, with the platform's environment order,
/// ignore list and singletons. Secret values are masked in everything returned.
pub fn diff_with(
    base_label: &str,
    base: &Rendered,
    head_label: &str,
    head: &Rendered,
    options: &DiffOptions,
) -> Diff {
    let base_envs = objects_by_env(base);
    let head_envs = objects_by_env(head);
    let mut envs: Vec<&str> = Vec::new();
    for (name, _) in &options.environments {
        if base_envs.contains_key(name.as_str()) || head_envs.contains_key(name.as_str()) {
            envs.push(name);
        }
    }
    let rest: BTreeSet<&str> = base_envs.keys().chain(head_envs.keys()).copied().collect();
    for env in rest {
        if !envs.contains(&env) {
            envs.push(env);
        }
    }
    let empty = BTreeMap::new();
    let mut environments = Vec::new();
    for env in envs {
        let b = base_envs.get(env).unwrap_or(&empty);
        let h = head_envs.get(env).unwrap_or(&empty);
        let closed = options
            .environments
            .iter()
            .any(|(n, closed)| n == env && *closed);
        let keys: BTreeSet<&Key> = b.keys().chain(h.keys()).collect();
        let mut objects = Vec::new();
        let mut impact = Vec::new();
        let mut old_images: BTreeMap<(Option<String>, String, String), String> = BTreeMap::new();
        let mut new_images = old_images.clone();
        for key in keys {
            let (kind, ns, name) = key;
            let (old, new) = (b.get(key), h.get(key));
            for (side, images) in [(old, &mut old_images), (new, &mut new_images)] {
                if let Some(l) = side {
                    let owner = match l.app {
                        Some(app) => app.to_owned(),
                        None => format!("{kind} {name}"),
                    };
                    for (container, image) in container_images(l.object) {
                        images.insert((l.app.map(str::to_owned), owner.clone(), container), image);
                    }
                }
            }
            let located = new.or(old).expect("the key came from one side");
            let make = |change, fields, object| ObjectChange {
                change,
                kind: kind.clone(),
                namespace: (!ns.is_empty()).then(|| ns.clone()),
                name: name.clone(),
                app: located.app.map(str::to_owned),
                bundle: located.bundle.clone(),
                file: located.file.to_owned(),
                fields,
                object,
            };
            let change = match (old, new) {
                (Some(o), Some(n)) if o.object == n.object => continue,
                (Some(o), Some(n)) => {
                    let mut fields = field_changes(o.object, n.object);
                    fields.retain(|f| !options.ignore.iter().any(|p| ignored(&f.path, p)));
                    if fields.is_empty() {
                        continue;
                    }
                    mask_fields(o.object, n.object, &mut fields);
                    make(ChangeKind::Changed, fields, None)
                }
                (None, Some(n)) => make(ChangeKind::Added, Vec::new(), Some(masked(n.object))),
                (Some(o), None) => make(ChangeKind::Removed, Vec::new(), Some(masked(o.object))),
                (None, None) => unreachable!("the key came from one side"),
            };
            object_impact(
                env,
                &change,
                old.map(|l| l.object),
                new.map(|l| l.object),
                options,
                &mut impact,
            );
            objects.push(change);
        }
        env_impact(b, h, &objects, &mut impact);
        impact.sort_by(|a, b| {
            (a.level, a.kind, &a.app, &a.object).cmp(&(b.level, b.kind, &b.app, &b.object))
        });
        impact.dedup();
        let mut images = Vec::new();
        let keys: BTreeSet<_> = old_images
            .keys()
            .chain(new_images.keys())
            .cloned()
            .collect();
        for key in keys {
            let (from, to) = (old_images.get(&key), new_images.get(&key));
            if from != to {
                let (app, owner, container) = key;
                images.push(ImageChange {
                    app,
                    object: owner,
                    container,
                    from: from.cloned(),
                    to: to.cloned(),
                });
            }
        }
        // Changed first, then added, then removed; each by kind, namespace, name.
        objects.sort_by_key(|o| o.change);
        let count = |k| objects.iter().filter(|o| o.change == k).count();
        environments.push(EnvDiff {
            name: env.to_owned(),
            closed,
            added: count(ChangeKind::Added),
            removed: count(ChangeKind::Removed),
            changed: count(ChangeKind::Changed),
            impact,
            images,
            objects,
        });
    }
    Diff {
        base: base_label.to_owned(),
        head: head_label.to_owned(),
        base_commit: None,
        head_commit: None,
        lint_errors: Vec::new(),
        committed: None,
        ignore: options.ignore.clone(),
        environments,
    }
}

fn masked(object: &Value) -> Value {
    let mut v = object.clone();
    crate::object::mask_secrets(&mut v);
    v
}

/// Replaces the values of secret places by their masked form; a secret that changed reads
/// `‹hidden›` -> `‹hidden› (changed)`.
fn mask_fields(old: &Value, new: &Value, fields: &mut [FieldChange]) {
    let (mut mo, mut mn) = (old.clone(), new.clone());
    if !crate::object::mask_secrets(&mut mo) & !crate::object::mask_secrets(&mut mn) {
        return;
    }
    for f in fields {
        let Ok(segments) = crate::fieldpath::parse(&f.path) else {
            continue;
        };
        let from = f
            .from
            .as_ref()
            .and(crate::fieldpath::get(&mo, &segments).cloned());
        let mut to =
            f.to.as_ref()
                .and(crate::fieldpath::get(&mn, &segments).cloned());
        if from.is_some() && from == to {
            to = Some(Value::String(format!(
                "{} (changed)",
                crate::object::HIDDEN
            )));
        }
        if from.is_some() || f.from.is_none() {
            f.from = from;
        }
        if to.is_some() || f.to.is_none() {
            f.to = to;
        }
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

/// The places where `old` and `new` differ: changed leaves, and whole subtrees (mappings,
/// lists, list items) that only one side has, in the head's document order, then removals.
fn field_changes(old: &Value, new: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    structural("", old, new, &mut out);
    // Removals after changes and additions, as before: stable reading order.
    out.sort_by_key(|f| f.to.is_none());
    out
}

fn structural(path: &str, old: &Value, new: &Value, out: &mut Vec<FieldChange>) {
    use crate::fieldpath::{item_paths, key};
    let push = |out: &mut Vec<FieldChange>, p: String, from: Option<&Value>, to: Option<&Value>| {
        out.push(FieldChange {
            path: p,
            from: from.cloned(),
            to: to.cloned(),
        })
    };
    match (old, new) {
        (Value::Object(a), Value::Object(b)) if !a.is_empty() && !b.is_empty() => {
            for (k, bv) in b {
                let p = key(path, k);
                match a.get(k) {
                    Some(av) if av == bv => {}
                    Some(av) => structural(&p, av, bv, out),
                    None => push(out, p, None, Some(bv)),
                }
            }
            for (k, av) in a {
                if !b.contains_key(k) {
                    push(out, key(path, k), Some(av), None);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if !a.is_empty() && !b.is_empty() => {
            let pa = item_paths(path, a);
            let pb = item_paths(path, b);
            let named = |ps: &[String]| ps.iter().any(|p| p.ends_with(']') && p.contains("[name="));
            if named(&pa) != named(&pb) {
                push(out, path.to_owned(), Some(old), Some(new));
                return;
            }
            for (p, bv) in pb.iter().zip(b) {
                match pa.iter().position(|q| q == p) {
                    Some(j) if &a[j] == bv => {}
                    Some(j) => structural(p, &a[j], bv, out),
                    None => push(out, p.clone(), None, Some(bv)),
                }
            }
            for (p, av) in pa.iter().zip(a) {
                if !pb.contains(p) {
                    push(out, p.clone(), Some(av), None);
                }
            }
        }
        _ if old != new => push(out, path.to_owned(), Some(old), Some(new)),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Impact: what the changes do, computed from the two sides of each object.

fn replicas(object: &Value) -> Option<i64> {
    let kind = object["kind"].as_str()?;
    if !matches!(kind, "Deployment" | "StatefulSet" | "ReplicaSet") {
        return None;
    }
    Some(object["spec"]["replicas"].as_i64().unwrap_or(1))
}

fn rbac_rules(object: &Value) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for rule in object["rules"].as_array().into_iter().flatten() {
        let list = |k: &str| -> Vec<String> {
            rule[k]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        };
        let groups = list("apiGroups");
        let groups = if groups.is_empty() {
            vec![String::new()]
        } else {
            groups
        };
        let mut resources = list("resources");
        resources.extend(list("nonResourceURLs"));
        for g in &groups {
            for r in &resources {
                for v in list("verbs") {
                    out.insert((g.clone(), r.clone(), v));
                }
            }
        }
    }
    out
}

fn subjects(object: &Value) -> BTreeSet<String> {
    object["subjects"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            title(
                s["kind"].as_str().unwrap_or_default(),
                s["namespace"].as_str(),
                s["name"].as_str().unwrap_or_default(),
            )
        })
        .collect()
}

fn object_impact(
    env: &str,
    change: &ObjectChange,
    old: Option<&Value>,
    new: Option<&Value>,
    options: &DiffOptions,
    out: &mut Vec<Impact>,
) {
    let mut push = |level, kind, message: String| {
        out.push(Impact {
            level,
            kind,
            app: change.app.clone(),
            object: change.title(),
            message,
        })
    };
    let kind = change.kind.as_str();
    match (old, new) {
        (Some(_), None) => {
            let why = match kind {
                "Namespace" => {
                    Some("Kubernetes deletes every object in it, volumes and their data included")
                }
                "PersistentVolumeClaim" => {
                    Some("its volume, and the data on it, may be deleted with it")
                }
                "PersistentVolume" => Some("the data on it may be deleted, by its reclaim policy"),
                "StatefulSet" => Some("its pods stop; its volume claims stay behind, unattached"),
                _ => None,
            };
            if let Some(why) = why {
                push(
                    Level::Danger,
                    ImpactKind::Deleted,
                    format!("{} deleted: {why}", change.title()),
                );
            }
            if kind == "PodDisruptionBudget" {
                push(
                    Level::Warning,
                    ImpactKind::PdbRemoved,
                    format!(
                        "PodDisruptionBudget {} removed: node drains may evict every pod at once",
                        change.name
                    ),
                );
            }
        }
        (None, Some(n)) => {
            if kind == "PodDisruptionBudget" {
                push(
                    Level::Notice,
                    ImpactKind::PdbAdded,
                    format!("PodDisruptionBudget {} added", change.name),
                );
            }
            if let Some(r) = replicas(n) {
                let app = change.app.clone().unwrap_or_default();
                if r > 1 && options.singletons.contains(&(env.to_owned(), app)) {
                    push(
                        Level::Danger,
                        ImpactKind::SingletonScaled,
                        format!("declared a singleton, but runs {r} replicas"),
                    );
                }
            }
            if matches!(kind, "RoleBinding" | "ClusterRoleBinding") {
                let role = n["roleRef"]["name"].as_str().unwrap_or_default();
                let subjects: Vec<String> = subjects(n).into_iter().collect();
                push(
                    Level::Warning,
                    ImpactKind::RbacWidened,
                    format!(
                        "new binding: {} {role} granted to {}",
                        n["roleRef"]["kind"].as_str().unwrap_or("role"),
                        subjects.join(", ")
                    ),
                );
            }
            if matches!(kind, "Role" | "ClusterRole") && !rbac_rules(n).is_empty() {
                push(
                    Level::Notice,
                    ImpactKind::RbacWidened,
                    format!(
                        "new {kind} {}: {}",
                        change.name,
                        describe_rules(&rbac_rules(n))
                    ),
                );
            }
        }
        (Some(o), Some(n)) => {
            let kinds = (
                crate::object::pod_template(kind, o),
                crate::object::pod_template(kind, n),
            );
            let (ro, rn) = (replicas(o), replicas(n));
            if let ((Some((to, _)), Some((tn, path))), true) = (kinds, rn != Some(0)) {
                if to != tn {
                    let on_delete =
                        n["spec"]["updateStrategy"]["type"].as_str() == Some("OnDelete");
                    let what: Vec<String> = change
                        .fields
                        .iter()
                        .filter(|f| f.path.starts_with(path))
                        .map(|f| short_leaf(&f.path[path.len()..]))
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect();
                    let what = if what.len() > 3 {
                        format!("{} and {} more", what[..3].join(", "), what.len() - 3)
                    } else {
                        what.join(", ")
                    };
                    if on_delete {
                        push(
                            Level::Warning,
                            ImpactKind::ManualRollout,
                            format!("manual rollout needed: updateStrategy is OnDelete, so its pods keep the old template ({what}) until someone deletes them"),
                        );
                    } else {
                        push(
                            Level::Notice,
                            ImpactKind::Restart,
                            format!("pods restart ({what})"),
                        );
                    }
                }
            }
            if let (Some(a), Some(z)) = (ro, rn) {
                if a != z {
                    push(
                        Level::Notice,
                        ImpactKind::Replicas,
                        format!("replicas {a} → {z}"),
                    );
                    if z == 1 && a > 1 {
                        push(
                            Level::Warning,
                            ImpactKind::SingleReplica,
                            "runs a single replica: it is down during every restart and node drain"
                                .to_owned(),
                        );
                    }
                    let app = change.app.clone().unwrap_or_default();
                    if z > 1 && options.singletons.contains(&(env.to_owned(), app)) {
                        push(
                            Level::Danger,
                            ImpactKind::SingletonScaled,
                            format!("declared a singleton, but scaled to {z} replicas"),
                        );
                    }
                }
            }
            if matches!(kind, "Role" | "ClusterRole") {
                let gained: BTreeSet<_> =
                    rbac_rules(n).difference(&rbac_rules(o)).cloned().collect();
                if !gained.is_empty() {
                    push(
                        Level::Warning,
                        ImpactKind::RbacWidened,
                        format!("{kind} {} gains {}", change.name, describe_rules(&gained)),
                    );
                }
            }
            if matches!(kind, "RoleBinding" | "ClusterRoleBinding") {
                let gained: Vec<String> = subjects(n).difference(&subjects(o)).cloned().collect();
                if !gained.is_empty() {
                    push(
                        Level::Warning,
                        ImpactKind::RbacWidened,
                        format!(
                            "{} granted to {}",
                            n["roleRef"]["name"].as_str().unwrap_or_default(),
                            gained.join(", ")
                        ),
                    );
                }
                if o["roleRef"] != n["roleRef"] {
                    push(
                        Level::Warning,
                        ImpactKind::RbacWidened,
                        format!(
                            "now binds {} {}",
                            n["roleRef"]["kind"].as_str().unwrap_or_default(),
                            n["roleRef"]["name"].as_str().unwrap_or_default()
                        ),
                    );
                }
            }
            let routing: &[&str] = match kind {
                "Service" => &[
                    "spec.selector",
                    "spec.ports",
                    "spec.type",
                    "spec.externalName",
                ],
                "Ingress" => &["spec.rules", "spec.defaultBackend", "spec.ingressClassName"],
                _ => &[],
            };
            let moved: BTreeSet<String> = change
                .fields
                .iter()
                .filter(|f| routing.iter().any(|r| ignored(&f.path, r)))
                .filter(|f| !f.path.ends_with(".host"))
                .map(|f| short_leaf(&f.path))
                .collect();
            if !moved.is_empty() {
                let list: Vec<String> = moved.into_iter().collect();
                push(
                    Level::Notice,
                    ImpactKind::Routing,
                    format!("routing changes: {}", list.join(", ")),
                );
            }
        }
        (None, None) => {}
    }
}

fn describe_rules(rules: &BTreeSet<(String, String, String)>) -> String {
    let mut by_resource: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (g, r, v) in rules {
        let res = if g.is_empty() {
            r.clone()
        } else {
            format!("{g}/{r}")
        };
        by_resource.entry(res).or_default().push(v);
    }
    by_resource
        .into_iter()
        .map(|(r, v)| format!("{} on {r}", v.join(",")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The last two segments of a path, for a one-line summary: `image`, `env[name=PORT].value`.
fn short_leaf(path: &str) -> String {
    let path = path.trim_start_matches('.');
    let Ok(segments) = crate::fieldpath::parse(path) else {
        return path.to_owned();
    };
    use crate::fieldpath::Segment;
    let n = segments.len();
    let in_container = n >= 3
        && matches!(&segments[n - 3], Segment::Key(k) if k == "containers" || k == "initContainers");
    let keep = if matches!(segments.last(), Some(Segment::Name(_))) {
        2
    } else if n >= 2
        && !in_container
        && matches!(segments[n - 1], Segment::Key(_))
        && !matches!(segments[n - 2], Segment::Key(_))
    {
        3
    } else {
        1
    };
    crate::fieldpath::render(&segments[n.saturating_sub(keep)..])
        .trim_start_matches('.')
        .to_owned()
}

/// Public hostnames of one environment's Ingresses: host -> (TLS, app, object title).
fn hosts(objects: &BTreeMap<Key, Located<'_>>) -> BTreeMap<String, (bool, Option<String>, String)> {
    let mut out = BTreeMap::new();
    for ((kind, ns, name), l) in objects {
        if kind != "Ingress" {
            continue;
        }
        let tls = crate::object::ingress_tls_hosts(l.object);
        for rule in l.object["spec"]["rules"].as_array().into_iter().flatten() {
            if let Some(host) = rule["host"].as_str() {
                out.insert(
                    host.to_owned(),
                    (
                        tls.contains(&host),
                        l.app.map(str::to_owned),
                        title(kind, Some(ns), name),
                    ),
                );
            }
        }
    }
    out
}

fn env_impact(
    base: &BTreeMap<Key, Located<'_>>,
    head: &BTreeMap<Key, Located<'_>>,
    objects: &[ObjectChange],
    out: &mut Vec<Impact>,
) {
    let (old, new) = (hosts(base), hosts(head));
    for (host, (tls, app, object)) in &new {
        let scheme = if *tls { "https" } else { "http" };
        match old.get(host) {
            None => out.push(Impact {
                level: Level::Notice,
                kind: ImpactKind::HostAdded,
                app: app.clone(),
                object: object.clone(),
                message: format!("new public host {scheme}://{host}"),
            }),
            Some((was_tls, _, _)) if was_tls != tls => out.push(Impact {
                level: if *tls { Level::Notice } else { Level::Warning },
                kind: ImpactKind::TlsChanged,
                app: app.clone(),
                object: object.clone(),
                message: if *tls {
                    format!("{host} now served over TLS")
                } else {
                    format!("{host} loses TLS: served over plain http")
                },
            }),
            Some(_) => {}
        }
    }
    for (host, (_, app, object)) in &old {
        if !new.contains_key(host) {
            out.push(Impact {
                level: Level::Warning,
                kind: ImpactKind::HostRemoved,
                app: app.clone(),
                object: object.clone(),
                message: format!("{host} no longer served"),
            });
        }
    }
    // A PDB that moves namespace with its app is no loss or gain of protection.
    let pdbs = |change: ChangeKind| -> BTreeSet<(Option<String>, String)> {
        objects
            .iter()
            .filter(|o| o.kind == "PodDisruptionBudget" && o.change == change)
            .map(|o| (o.app.clone(), o.name.clone()))
            .collect()
    };
    let moved: BTreeSet<_> = pdbs(ChangeKind::Added)
        .intersection(&pdbs(ChangeKind::Removed))
        .cloned()
        .collect();
    let moved_titles: BTreeSet<String> = objects
        .iter()
        .filter(|o| {
            o.kind == "PodDisruptionBudget" && moved.contains(&(o.app.clone(), o.name.clone()))
        })
        .map(ObjectChange::title)
        .collect();
    out.retain(|i| {
        !(matches!(i.kind, ImpactKind::PdbAdded | ImpactKind::PdbRemoved)
            && moved_titles.contains(&i.object))
    });
}

/// The environments and apps whose rendered objects changed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Affected {
    /// The diff's base label.
    pub base: String,
    /// The diff's head label.
    pub head: String,
    /// The environments with at least one object that differs, or a committed file that
    /// differs from its render, in the diff's (the platform's) order.
    pub environments: Vec<String>,
    /// The head's committed files that differ from its render (what Argo CD would apply
    /// instead), relative to the output root; their environments and apps are in `include`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub committed_drift: Vec<String>,
    /// One entry per changed (environment, app); `app` is `null` in JSON for objects of an
    /// environment's bundles (namespaces, RBAC, shared secrets) and for committed files no app
    /// renders. Ready for a CI matrix's `include`.
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
/// one object that differs, in the diff's environment order, then by app.
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
    let mut committed_drift = Vec::new();
    for f in diff.committed.iter().flat_map(|c| &c.files) {
        committed_drift.push(f.path.clone());
        if let Some(env) = &f.environment {
            include.insert(AffectedApp {
                environment: env.clone(),
                app: f.app.clone(),
            });
        }
    }
    // The diff's environment order (the platform's); committed files of an environment the
    // diff does not know come last, by name.
    let rank = |env: &str| {
        diff.environments
            .iter()
            .position(|e| e.name == env)
            .unwrap_or(usize::MAX)
    };
    let mut include: Vec<AffectedApp> = include.into_iter().collect();
    include.sort_by_key(|a| rank(&a.environment));
    let mut environments: Vec<String> = include.iter().map(|a| a.environment.clone()).collect();
    environments.dedup();
    Affected {
        base: diff.base.clone(),
        head: diff.head.clone(),
        environments,
        committed_drift,
        include,
    }
}
