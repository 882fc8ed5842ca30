//! Patches per environment: the escape hatch for a one-off field no template exposes. Pure.
//!
//! An environment's `patches:` change its rendered objects after rendering and before anything
//! reads them, so lint, check, diff, snapshots and explain all see the patched objects. Each
//! patch selects objects (kind, name and namespace globs, labels, app) and is either
//!
//! - a merge patch (`merge:`): a mapping merged into the object. Mappings merge key by key;
//!   `null` deletes a key (which must exist); the lists of [`MERGE_KEYS`] merge item by item by
//!   their key (`containers` by `name`, `ports` by `containerPort`, ...), an item with a new key
//!   is appended; every other list is replaced whole;
//! - RFC 6902 operations (`json:`), applied in order by the `json-patch` crate.
//!
//! A patch that selects nothing, a JSON operation whose path does not exist, a failed `test`,
//! and a result whose `apiVersion`, `kind`, `metadata.name` or `metadata.namespace` differs are
//! errors at the patch's line in the environment file: a silent no-op is how overlays drift.
//! Patched objects keep their key order (a removed key leaves the others where they were; a
//! new key comes last in its mapping); `render` normalizes and emits them like any other.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::error::{Error, ErrorKind, Location, Result};
use crate::model::{glob, PatchDef, PatchSelector};
use crate::yaml::{Node, NodeValue};

/// Lists a merge patch merges item by item, with the keys that identify an item (the first
/// key the patch's item has is used); every other list is replaced. As Kubernetes' strategic
/// merge: container ports by `containerPort` (Service ports by `port`, or `name`), volume
/// mounts by `mountPath`.
pub const MERGE_KEYS: &[(&str, &[&str])] = &[
    ("containers", &["name"]),
    ("initContainers", &["name"]),
    ("ephemeralContainers", &["name"]),
    ("env", &["name"]),
    ("ports", &["containerPort", "port", "name"]),
    ("volumes", &["name"]),
    ("volumeMounts", &["mountPath"]),
    ("imagePullSecrets", &["name"]),
];

/// One patch of an environment, checked, with where it is written.
#[derive(Debug, Clone)]
pub struct Patch {
    /// Its index in the environment's `patches`.
    pub index: usize,
    /// Which objects it changes.
    pub select: PatchSelector,
    /// What it does to them.
    pub action: Action,
    /// The environment file, the line of the entry and its key (`patches.0`).
    pub at: Location,
}

/// What a patch does to each object it selects.
#[derive(Debug, Clone)]
pub enum Action {
    /// A merge patch: the mapping, its YAML node (for the line of each leaf) and its location.
    Merge {
        /// The mapping merged into the object.
        value: Value,
        /// The mapping as written, with positions.
        node: Node,
        /// The `merge` key's location.
        at: Location,
    },
    /// RFC 6902 operations, in order.
    Json(Vec<JsonStep>),
}

/// One RFC 6902 operation and where it is written.
#[derive(Debug, Clone)]
pub struct JsonStep {
    /// The operation.
    pub op: json_patch::PatchOperation,
    /// The operation's line and key (`patches.1.json.0`).
    pub at: Location,
}

/// The operations RFC 6902 defines.
const OPS: &[&str] = &["add", "remove", "replace", "move", "copy", "test"];

/// Checks an environment's `patches` (already read into `defs` from `root`, the environment
/// file's YAML) and keeps where each is written.
pub fn resolve(root: &Node, file: &Path, defs: &[PatchDef]) -> Result<Vec<Patch>> {
    let items: &[Node] = match root.get("patches").map(|n| &n.value) {
        Some(NodeValue::Seq(items)) => items,
        _ => &[],
    };
    let mut out = Vec::with_capacity(defs.len());
    for (i, def) in defs.iter().enumerate() {
        let key = format!("patches.{i}");
        let node = &items[i];
        let at_key = |key: &str| {
            let (line, column) = root.position_of(key);
            Location::at(file, line, column).with_key(key)
        };
        let err = |key: &str, msg: String| Error::new(ErrorKind::Model, msg).at(at_key(key));
        check_selector(&def.select).map_err(|(k, msg)| err(&format!("{key}.select{k}"), msg))?;
        let action = match (&def.merge, &def.json) {
            (Some(value), None) => {
                let Value::Object(map) = value else {
                    return Err(err(
                        &format!("{key}.merge"),
                        "`merge` must be a mapping: the fields to set, as they sit in the object"
                            .into(),
                    ));
                };
                if map.is_empty() {
                    return Err(err(&format!("{key}.merge"), "`merge` is empty".into()));
                }
                if let Some(path) = directive(value, "") {
                    return Err(err(
                        &format!("{key}.merge"),
                        format!(
                            "`{path}`: kiln's merge patches take no `$` directives; `null` \
                             deletes a key, and a `json` patch does the rest"
                        ),
                    ));
                }
                Action::Merge {
                    value: value.clone(),
                    node: node.get("merge").cloned().unwrap_or_else(|| node.clone()),
                    at: at_key(&format!("{key}.merge")),
                }
            }
            (None, Some(ops)) => {
                if ops.is_empty() {
                    return Err(err(
                        &format!("{key}.json"),
                        "`json` lists no operation".into(),
                    ));
                }
                let op_nodes: &[Node] = match node.get("json").map(|n| &n.value) {
                    Some(NodeValue::Seq(items)) => items,
                    _ => &[],
                };
                let mut steps = Vec::with_capacity(ops.len());
                for (j, op) in ops.iter().enumerate() {
                    let op_key = format!("{key}.json.{j}");
                    let has = |field: &str| op_nodes.get(j).and_then(|n| n.get(field)).is_some();
                    let name = op.op.as_str();
                    if !OPS.contains(&name) {
                        return Err(err(
                            &format!("{op_key}.op"),
                            format!(
                                "unknown JSON patch operation `{}`: RFC 6902 has {}",
                                name.escape_debug(),
                                OPS.join(", ")
                            ),
                        ));
                    }
                    let wants_value = matches!(name, "add" | "replace" | "test");
                    let wants_from = matches!(name, "move" | "copy");
                    for (field, wanted, given) in [
                        ("value", wants_value, has("value")),
                        ("from", wants_from, op.from.is_some()),
                    ] {
                        if wanted && !given {
                            return Err(err(&op_key, format!("`{name}` needs `{field}`")));
                        }
                        if !wanted && given {
                            return Err(err(
                                &format!("{op_key}.{field}"),
                                format!("`{name}` takes no `{field}`"),
                            ));
                        }
                    }
                    for (field, pointer) in [("path", Some(&op.path)), ("from", op.from.as_ref())] {
                        if let Some(p) = pointer {
                            if !p.is_empty() && !p.starts_with('/') {
                                return Err(err(
                                    &format!("{op_key}.{field}"),
                                    format!(
                                        "`{}` is not a JSON pointer: it starts with `/` \
                                         (`/spec/replicas`; `~1` stands for a `/` in a key)",
                                        p.escape_debug()
                                    ),
                                ));
                            }
                        }
                    }
                    let mut raw = json!({"op": name, "path": op.path});
                    if wants_value {
                        raw["value"] = op.value.clone().unwrap_or(Value::Null);
                    }
                    if let Some(from) = &op.from {
                        raw["from"] = Value::String(from.clone());
                    }
                    let parsed: json_patch::PatchOperation = serde_json::from_value(raw)
                        .map_err(|e| err(&op_key, format!("not an RFC 6902 operation: {e}")))?;
                    steps.push(JsonStep {
                        op: parsed,
                        at: at_key(&op_key),
                    });
                }
                Action::Json(steps)
            }
            (Some(_), Some(_)) => {
                return Err(err(
                    &key,
                    "a patch has either `merge` or `json`, not both: make two patches".into(),
                ))
            }
            (None, None) => {
                return Err(err(
                    &key,
                    "a patch needs `merge` (a mapping merged into the object) or `json` (RFC \
                     6902 operations)"
                        .into(),
                ))
            }
        };
        out.push(Patch {
            index: i,
            select: def.select.clone(),
            action,
            at: Location::at(file, node.line, node.column).with_key(key),
        });
    }
    Ok(out)
}

/// The first `$`-key (a strategic merge directive) in a merge patch.
fn directive(value: &Value, path: &str) -> Option<String> {
    match value {
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let child = crate::fieldpath::key(path, k);
            if k.starts_with('$') {
                Some(child)
            } else {
                directive(v, &child)
            }
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| directive(v, &crate::fieldpath::index(path, i))),
        _ => None,
    }
}

/// A selector names something, and each thing it names can match: the error's key suffix
/// (`.kind`) and message otherwise.
fn check_selector(s: &PatchSelector) -> std::result::Result<(), (String, String)> {
    if s.kind.is_none()
        && s.name.is_none()
        && s.namespace.is_none()
        && s.labels.is_empty()
        && s.app.is_none()
    {
        return Err((
            String::new(),
            "a patch must select its objects by `kind`, `name`, `namespace`, `labels` or `app`"
                .into(),
        ));
    }
    if let Some(kind) = &s.kind {
        let ok = kind.starts_with(|c: char| c.is_ascii_uppercase())
            && kind.chars().all(|c| c.is_ascii_alphanumeric());
        if !ok {
            return Err((
                ".kind".into(),
                format!(
                    "`{}` is not a kind: write it as in the object (`Deployment`, `Service`)",
                    kind.escape_debug()
                ),
            ));
        }
    }
    for (field, value) in [("name", &s.name), ("namespace", &s.namespace)] {
        if let Some(v) = value {
            let ok = !v.is_empty()
                && v.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | '*')
                });
            if !ok {
                return Err((
                    format!(".{field}"),
                    format!(
                        "`{}` cannot match a {field}: names are lower-case letters, digits, `-` \
                         and `.`; `*` matches any run of them",
                        v.escape_debug()
                    ),
                ));
            }
        }
    }
    if s.labels.keys().any(String::is_empty) {
        return Err((".labels".into(), "a label key is empty".into()));
    }
    if let Some(app) = &s.app {
        crate::model::check_dns_label(app).map_err(|e| (".app".to_owned(), e))?;
    }
    Ok(())
}

/// One file's objects, for [`apply`]: its path in the output tree, the app that rendered it
/// and its objects.
pub struct Target<'a> {
    /// The file's path relative to the output root.
    pub path: &'a str,
    /// The app whose component rendered the file; `None` for a bundle's file.
    pub app: Option<&'a str>,
    /// The file's objects, patched in place.
    pub objects: &'a mut Vec<Value>,
}

/// Applies an environment's patches, in order, to the objects each selects. Returns, per
/// file, whether any of its objects changed. `env` names the environment in messages.
pub fn apply(patches: &[Patch], env: &str, files: &mut [Target<'_>]) -> Result<Vec<bool>> {
    let mut changed = vec![false; files.len()];
    for patch in patches {
        let mut selected = 0;
        for (file, changed) in files.iter_mut().zip(changed.iter_mut()) {
            for object in file.objects.iter_mut() {
                if !selects(&patch.select, file.app, object) {
                    continue;
                }
                selected += 1;
                let before = object.clone();
                apply_one(patch, object, file.path, &mut |_, _, _| {})?;
                *changed |= *object != before;
            }
        }
        if selected == 0 {
            return Err(selects_nothing(patch, env, files));
        }
    }
    Ok(changed)
}

/// The object with every patch that selects it applied, and for each leaf (a
/// [`crate::fieldpath`] path) that a patch set or changed, the line and key of the patch
/// (the merge patch's own key for that leaf, or the JSON operation). For `kiln explain`.
pub fn trace(
    patches: &[Patch],
    app: Option<&str>,
    object: &Value,
) -> Result<(Value, BTreeMap<String, Location>)> {
    let mut object = object.clone();
    let mut set_by: BTreeMap<String, Location> = BTreeMap::new();
    let path = "the object";
    for patch in patches {
        if !selects(&patch.select, app, &object) {
            continue;
        }
        apply_one(patch, &mut object, path, &mut |op_at, before, after| {
            let old: BTreeMap<String, &Value> =
                crate::fieldpath::leaves(before).into_iter().collect();
            let new = crate::fieldpath::leaves(after);
            set_by.retain(|p, _| new.iter().any(|(q, _)| q == p));
            for (p, v) in new {
                if old.get(&p) != Some(&v) {
                    let at = op_at.cloned().unwrap_or_else(|| merge_location(patch, &p));
                    set_by.insert(p, at);
                }
            }
        })?;
    }
    Ok((object, set_by))
}

/// Where a merge patch set the leaf at `path`: the deepest key of the patch on that path.
fn merge_location(patch: &Patch, path: &str) -> Location {
    match &patch.action {
        Action::Merge { node, at, .. } => {
            let Ok(segments) = crate::fieldpath::parse(path) else {
                return at.clone();
            };
            let base = at.key.clone().unwrap_or_default();
            let (mut node, mut line, mut column, mut key) = (node, at.line, at.column, base);
            for segment in segments {
                let next = match (&node.value, segment) {
                    (NodeValue::Map(entries), crate::fieldpath::Segment::Key(k)) => entries
                        .iter()
                        .find(|(name, _)| name.name == k)
                        .map(|(name, v)| (v, name.line, name.column, crate::fieldpath::key(&key, &k))),
                    (NodeValue::Seq(items), crate::fieldpath::Segment::Name(n)) => items
                        .iter()
                        .enumerate()
                        .find(|(_, item)| {
                            matches!(item.get("name").map(|n| &n.value), Some(NodeValue::String(s)) if *s == n)
                        })
                        .map(|(i, item)| (item, item.line, item.column, format!("{key}.{i}"))),
                    (NodeValue::Seq(items), crate::fieldpath::Segment::Index(i)) => items
                        .get(i)
                        .map(|item| (item, item.line, item.column, format!("{key}.{i}"))),
                    _ => None,
                };
                let Some((n, l, c, k)) = next else { break };
                (node, line, column, key) = (n, Some(l), Some(c), k);
            }
            Location {
                file: at.file.clone(),
                line,
                column,
                key: Some(key),
            }
        }
        Action::Json(_) => patch.at.clone(),
    }
}

/// Whether `select` picks `object` (rendered by `app`'s component, or by a bundle).
fn selects(select: &PatchSelector, app: Option<&str>, object: &Value) -> bool {
    let meta = &object["metadata"];
    select
        .kind
        .as_deref()
        .is_none_or(|k| object["kind"].as_str() == Some(k))
        && select
            .name
            .as_deref()
            .is_none_or(|n| meta["name"].as_str().is_some_and(|name| glob(n, name)))
        && select
            .namespace
            .as_deref()
            .is_none_or(|n| meta["namespace"].as_str().is_some_and(|ns| glob(n, ns)))
        && select
            .labels
            .iter()
            .all(|(k, v)| meta["labels"][k.as_str()].as_str() == Some(v.as_str()))
        && select.app.as_deref().is_none_or(|a| app == Some(a))
}

/// `Deployment hn/web`: an object as messages name it.
fn describe(object: &Value) -> String {
    let kind = object["kind"].as_str().unwrap_or("?");
    let name = object["metadata"]["name"].as_str().unwrap_or("?");
    match object["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

fn selects_nothing(patch: &Patch, env: &str, files: &[Target<'_>]) -> Error {
    let s = &patch.select;
    let mut wanted = Vec::new();
    if let Some(k) = &s.kind {
        wanted.push(format!("kind {k}"));
    }
    if let Some(n) = &s.name {
        wanted.push(format!("name {n}"));
    }
    if let Some(n) = &s.namespace {
        wanted.push(format!("namespace {n}"));
    }
    for (k, v) in &s.labels {
        wanted.push(format!("label {k}={v}"));
    }
    if let Some(a) = &s.app {
        wanted.push(format!("app {a}"));
    }
    let objects: Vec<(Option<&str>, &Value)> = files
        .iter()
        .flat_map(|f| f.objects.iter().map(move |o| (f.app, o)))
        .collect();
    // The nearest candidates: the selector without its name, namespace and labels.
    let loose = PatchSelector {
        kind: s.kind.clone(),
        app: s.app.clone(),
        ..PatchSelector::default()
    };
    let mut near: Vec<String> = objects
        .iter()
        .filter(|(app, o)| selects(&loose, *app, o))
        .map(|(_, o)| describe(o))
        .collect();
    near.dedup();
    let hint = match near.len() {
        0 => String::new(),
        n if n <= 8 => format!("; candidates: {}", near.join(", ")),
        n => format!("; candidates: {}, ... ({n} in all)", near[..8].join(", ")),
    };
    Error::new(
        ErrorKind::Model,
        format!(
            "the patch selects no object of environment `{env}` ({}){hint}; a patch that \
             changes nothing is an error, so that an overlay cannot drift silently",
            wanted.join(", ")
        ),
    )
    .at(patch.at.clone())
}

/// Applies one patch to one object. `each_step` sees the object before and after each step
/// (the merge, or each JSON operation with its location).
fn apply_one(
    patch: &Patch,
    object: &mut Value,
    file: &str,
    each_step: &mut dyn FnMut(Option<&Location>, &Value, &Value),
) -> Result<()> {
    let identity = |o: &Value| {
        [
            ("apiVersion", o["apiVersion"].clone()),
            ("kind", o["kind"].clone()),
            ("metadata.name", o["metadata"]["name"].clone()),
            ("metadata.namespace", o["metadata"]["namespace"].clone()),
        ]
    };
    let who = format!("{} in {file}", describe(object));
    let before_identity = identity(object);
    match &patch.action {
        Action::Merge { value, at, .. } => {
            let before = object.clone();
            let (Value::Object(target), Value::Object(with)) = (&mut *object, value) else {
                unreachable!("objects and merge patches are mappings")
            };
            merge(target, with, "").map_err(|msg| {
                Error::new(ErrorKind::Model, format!("merge patch on {who}: {msg}")).at(at.clone())
            })?;
            each_step(None, &before, object);
        }
        Action::Json(steps) => {
            for (j, step) in steps.iter().enumerate() {
                let before = object.clone();
                json_patch::patch(object, std::slice::from_ref(&step.op))
                    .map_err(|e| json_error(&step.op, j, &e.kind, &before, &who, &step.at))?;
                // serde_json's `remove` swaps the last key into the hole: put keys back.
                if matches!(
                    step.op,
                    json_patch::PatchOperation::Remove(_) | json_patch::PatchOperation::Move(_)
                ) {
                    restore_order(&before, object);
                }
                each_step(Some(&step.at), &before, object);
            }
        }
    }
    let after_identity = identity(object);
    for ((field, was), (_, now)) in before_identity.iter().zip(&after_identity) {
        if was != now {
            let show = |v: &Value| match v {
                Value::Null => "nothing".to_owned(),
                Value::String(s) => format!("`{s}`"),
                v => v.to_string(),
            };
            return Err(Error::new(
                ErrorKind::Model,
                format!(
                    "the patch changes `{field}` of {who} from {} to {}: a patch changes an \
                     object's fields, not which object it is (render another object from a \
                     template instead)",
                    show(was),
                    show(now)
                ),
            )
            .at(patch.at.clone()));
        }
    }
    Ok(())
}

/// A failed RFC 6902 operation as a message naming the operation, its index and path.
fn json_error(
    op: &json_patch::PatchOperation,
    index: usize,
    kind: &json_patch::PatchErrorKind,
    object: &Value,
    who: &str,
    at: &Location,
) -> Error {
    use json_patch::{PatchErrorKind as K, PatchOperation as Op};
    let (name, from) = match op {
        Op::Add(_) => ("add", None),
        Op::Remove(_) => ("remove", None),
        Op::Replace(_) => ("replace", None),
        Op::Move(m) => ("move", Some(m.from.as_str())),
        Op::Copy(c) => ("copy", Some(c.from.as_str())),
        Op::Test(_) => ("test", None),
    };
    let path = op.path().as_str();
    let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
    let why = match kind {
        K::InvalidPointer if matches!(op, Op::Add(_) | Op::Move(_) | Op::Copy(_)) => {
            if object.pointer(parent).is_none() {
                format!("`{parent}` does not exist in {who} (add creates only the last step)")
            } else {
                format!(
                    "`{path}` cannot be added in {who}: a list takes an index up to its length, \
                     or `-` to append"
                )
            }
        }
        K::InvalidPointer => format!("`{path}` does not exist in {who}"),
        K::InvalidFromPointer => format!(
            "the `from` path `{}` does not exist in {who}",
            from.unwrap_or_default()
        ),
        K::TestFailed => {
            let actual = object
                .pointer(path)
                .map_or_else(|| "nothing".to_owned(), Value::to_string);
            let expected = match op {
                Op::Test(t) => t.value.to_string(),
                _ => String::new(),
            };
            format!("`test` failed in {who}: `{path}` is {actual}, not {expected}")
        }
        K::CannotMoveInsideItself => format!(
            "`{path}` is inside `{}`: a value cannot move into itself",
            from.unwrap_or_default()
        ),
        other => format!("{other} in {who}"),
    };
    Error::new(
        ErrorKind::Model,
        format!("JSON patch operation {index} (`{name} {path}`): {why}"),
    )
    .at(at.clone())
}

/// The merge keys of a list under `key`; `None` for lists that are replaced.
fn merge_keys(key: &str) -> Option<&'static [&'static str]> {
    MERGE_KEYS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, keys)| *keys)
}

/// Merges `with` into `target` (see the module docs); `path` is `target`'s field path.
fn merge(
    target: &mut Map<String, Value>,
    with: &Map<String, Value>,
    path: &str,
) -> std::result::Result<(), String> {
    for (k, v) in with {
        let child = crate::fieldpath::key(path, k);
        if v.is_null() {
            // `shift_remove` keeps the other keys in order (`remove` would swap one in).
            if target.shift_remove(k).is_none() {
                return Err(format!(
                    "`{child}: null` deletes `{child}`, but the object has no `{child}`"
                ));
            }
            continue;
        }
        match (target.get_mut(k), v) {
            (Some(Value::Object(t)), Value::Object(w)) => merge(t, w, &child)?,
            (Some(Value::Array(t)), Value::Array(w)) if merge_keys(k).is_some() => {
                merge_list(t, w, merge_keys(k).unwrap_or_default(), &child)?
            }
            (Some(slot), _) => *slot = without_nulls(v),
            (None, _) => {
                target.insert(k.clone(), without_nulls(v));
            }
        }
    }
    Ok(())
}

/// Merges the items of `with` into `target` by `keys`: an item whose key matches is merged
/// into, any other is appended.
fn merge_list(
    target: &mut Vec<Value>,
    with: &[Value],
    keys: &[&str],
    path: &str,
) -> std::result::Result<(), String> {
    let last = path.rsplit(['.', ']']).next().unwrap_or(path);
    for (i, item) in with.iter().enumerate() {
        let Value::Object(w) = item else {
            return Err(format!(
                "item {i} of `{path}` in the patch is not a mapping; items of `{last}` are \
                 merged by `{}`",
                keys[0]
            ));
        };
        let Some((key, id)) = keys
            .iter()
            .find_map(|k| w.get(*k).filter(|v| !v.is_null()).map(|v| (*k, v)))
        else {
            return Err(format!(
                "item {i} of `{path}` in the patch has no `{}`: items of `{last}` are merged by \
                 it, so it says which item to change (or that one is added)",
                keys.join("` or `")
            ));
        };
        match target.iter().position(|t| t.get(key) == Some(id)) {
            Some(at) => {
                let child = match id.as_str() {
                    Some(name) if key == "name" => crate::fieldpath::named(path, name),
                    _ => crate::fieldpath::index(path, at),
                };
                let Value::Object(t) = &mut target[at] else {
                    unreachable!("an item with a key is a mapping")
                };
                merge(t, w, &child)?;
            }
            None => target.push(without_nulls(item)),
        }
    }
    Ok(())
}

/// `value` without the `null`s of its mappings: in new content, `null` has nothing to delete.
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        v => v.clone(),
    }
}

/// Puts the keys of every mapping of `after` in `before`'s order (keys `before` lacks come
/// last, in their order): what a patch did not add keeps its place.
fn restore_order(before: &Value, after: &mut Value) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let order: BTreeMap<&str, usize> =
                b.keys().enumerate().map(|(i, k)| (k.as_str(), i)).collect();
            let rank = |k: &str| order.get(k).copied().unwrap_or(usize::MAX);
            let mut entries: Vec<(String, Value)> = std::mem::take(a).into_iter().collect();
            // Stable: keys `before` lacks keep their relative order.
            entries.sort_by_key(|(k, _)| rank(k));
            for (k, v) in &mut entries {
                if let Some(old) = b.get(k.as_str()) {
                    restore_order(old, v);
                }
            }
            *a = entries.into_iter().collect();
        }
        (Value::Array(b), Value::Array(a)) if a.len() == b.len() => {
            for (old, new) in b.iter().zip(a.iter_mut()) {
                restore_order(old, new);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patches(text: &str) -> Result<Vec<Patch>> {
        let file = Path::new("environments/prod.yaml");
        let node = crate::yaml::parse_document(text, file)?;
        let defs: Vec<PatchDef> = serde_json::from_value(node.get("patches").unwrap().to_json())
            .map_err(|e| Error::new(ErrorKind::Model, e.to_string()))?;
        resolve(&node, file, &defs)
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "shop", "namespace": "prod", "labels": {"tier": "web"}},
            "spec": {"replicas": 2, "template": {"spec": {
                "containers": [{"name": "shop", "image": "a:1", "env": [{"name": "A", "value": "1"}],
                                "ports": [{"name": "http", "containerPort": 80}]}],
                "volumes": [{"name": "data", "emptyDir": {}}]
            }}}
        })
    }

    fn run(text: &str, object: Value) -> Result<Value> {
        let patches = patches(text)?;
        let mut objects = vec![object];
        let mut files = [Target {
            path: "shop/deployment.yaml",
            app: Some("shop"),
            objects: &mut objects,
        }];
        apply(&patches, "prod", &mut files)?;
        Ok(objects.remove(0))
    }

    #[test]
    fn merge_by_name_adds_and_changes_items_and_null_deletes() {
        let out = run(
            "patches:\n  - select: {kind: Deployment, name: shop}\n    merge:\n      spec:\n        replicas: null\n        template:\n          spec:\n            containers:\n              - name: shop\n                env: [{name: B, value: \"2\"}, {name: A, value: \"3\"}]\n                ports: [{containerPort: 80, protocol: TCP}]\n              - {name: side, image: \"s:1\"}\n",
            deployment(),
        )
        .unwrap();
        assert_eq!(
            out["spec"],
            json!({"template": {"spec": {
                "containers": [
                    {"name": "shop", "image": "a:1",
                     "env": [{"name": "A", "value": "3"}, {"name": "B", "value": "2"}],
                     "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}]},
                    {"name": "side", "image": "s:1"}],
                "volumes": [{"name": "data", "emptyDir": {}}]
            }}})
        );
    }

    #[test]
    fn json_operations_and_their_errors() {
        let ok = run(
            "patches:\n  - select: {labels: {tier: web}}\n    json:\n      - {op: test, path: /spec/replicas, value: 2}\n      - {op: replace, path: /spec/replicas, value: 3}\n      - {op: add, path: /spec/template/spec/containers/0/args, value: [--x]}\n      - {op: remove, path: /metadata/labels}\n",
            deployment(),
        )
        .unwrap();
        assert_eq!(ok["spec"]["replicas"], 3);
        assert_eq!(
            ok["spec"]["template"]["spec"]["containers"][0]["args"],
            json!(["--x"])
        );
        let keys: Vec<&String> = ok["metadata"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["name", "namespace"]);
        let err = |text: &str| run(text, deployment()).unwrap_err().to_string();
        let missing = err("patches:\n  - select: {kind: Deployment}\n    json:\n      - {op: replace, path: /spec/nope/x, value: 1}\n");
        assert!(missing.starts_with("environments/prod.yaml:4:9 (key `patches.0.json.0`): JSON patch operation 0 (`replace /spec/nope/x`): `/spec/nope/x` does not exist in Deployment prod/shop"), "{missing}");
        let kind =
            err("patches:\n  - select: {kind: Deployment}\n    merge: {kind: StatefulSet}\n");
        assert!(
            kind.starts_with(
                "environments/prod.yaml:2:5 (key `patches.0`): the patch changes `kind`"
            ),
            "{kind}"
        );
        let unknown =
            err("patches:\n  - select: {kind: Deployment}\n    json: [{op: frob, path: /a}]\n");
        assert!(
            unknown.contains("(key `patches.0.json.0.op`): unknown JSON patch operation `frob`"),
            "{unknown}"
        );
        let nothing = err("patches:\n  - select: {kind: Deployment, name: web}\n    merge: {spec: {replicas: 1}}\n");
        assert!(nothing.starts_with("environments/prod.yaml:2:5 (key `patches.0`): the patch selects no object of environment `prod` (kind Deployment, name web); candidates: Deployment prod/shop"), "{nothing}");
        let selector = err("patches:\n  - select: {kind: deployment}\n    merge: {spec: {}}\n");
        assert!(
            selector.contains("(key `patches.0.select.kind`): `deployment` is not a kind"),
            "{selector}"
        );
        let null =
            err("patches:\n  - select: {kind: Deployment}\n    merge: {spec: {paused: null}}\n");
        assert!(
            null.contains(
                "`spec.paused: null` deletes `spec.paused`, but the object has no `spec.paused`"
            ),
            "{null}"
        );
    }

    #[test]
    fn trace_names_the_line_of_each_patched_leaf() {
        let p = patches("patches:\n  - select: {kind: Deployment}\n    merge:\n      spec:\n        template:\n          spec:\n            nodeSelector: {disk: ssd}\n  - select: {kind: Deployment}\n    json:\n      - {op: replace, path: /spec/replicas, value: 5}\n").unwrap();
        let (object, set_by) = trace(&p, None, &deployment()).unwrap();
        assert_eq!(object["spec"]["replicas"], 5);
        let lines: Vec<(String, Option<usize>, String)> = set_by
            .into_iter()
            .map(|(p, l)| (p, l.line, l.key.unwrap()))
            .collect();
        assert_eq!(
            lines,
            [
                ("spec.replicas".into(), Some(10), "patches.1.json.0".into()),
                (
                    "spec.template.spec.nodeSelector.disk".into(),
                    Some(7),
                    "patches.0.merge.spec.template.spec.nodeSelector.disk".into()
                ),
            ]
        );
    }
}
