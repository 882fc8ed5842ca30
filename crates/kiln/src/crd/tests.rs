//! The validator against every real CRD in `/work/shared/crds` (read in place, never copied),
//! driven by `cases.yaml`, plus the edge cases of loading.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::*;

fn crd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/crds")
}

fn crd_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(crd_dir())
        .unwrap_or_else(|e| panic!("{}: {e}", crd_dir().display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// (file name, line, document) of every document in one CRD file.
fn read(path: &Path) -> Vec<(String, usize, Value)> {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.file_name().unwrap().to_str().unwrap().to_owned();
    crate::yaml::parse_values(&text, Path::new(&name))
        .unwrap()
        .into_iter()
        .map(|(line, doc)| (name.clone(), line, doc))
        .collect()
}

fn load_all() -> CrdSet {
    let mut set = CrdSet::default();
    for path in crd_files() {
        for (name, line, doc) in read(&path) {
            set.add(&name, line, &doc).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    set
}

fn found<'a>(set: &'a CrdSet, api_version: &'a str, kind: &str) -> CustomResource<'a> {
    match set.lookup(api_version, kind) {
        Lookup::Found(cr) => cr,
        other => panic!("{api_version} {kind}: {other:?}"),
    }
}

#[test]
fn the_shared_crds_resolve_in_place() {
    let dir = crd_dir().canonicalize().unwrap();
    assert_eq!(dir, Path::new("/work/shared/crds"));
    assert_eq!(crd_files().len(), 13);
}

#[test]
fn every_shared_crd_loads() {
    let set = load_all();
    let kinds: Vec<String> = set.kinds().map(|(g, k)| format!("{k}.{g}")).collect();
    assert_eq!(kinds.len(), 22, "{kinds:?}");
    assert!(kinds.contains(&"Middleware.traefik.io".to_owned()));
    let issuer = found(&set, "cert-manager.io/v1", "ClusterIssuer");
    assert_eq!(issuer.scope(), Scope::Cluster);
    assert_eq!(
        issuer.location().file,
        Path::new("cert-manager-cert-manager.io_clusterissuers.yaml")
    );
    assert_eq!(issuer.location().line, Some(2));
    assert_eq!(
        found(&set, "cert-manager.io/v1", "Issuer").scope(),
        Scope::Namespaced
    );
    // Loading the same files again is fine: identical duplicates are accepted.
    let mut twice = load_all();
    for path in crd_files() {
        for (name, line, doc) in read(&path) {
            twice.add(&name, line, &doc).unwrap();
        }
    }
    assert_eq!(twice.len(), 22);
}

/// Sets (creating maps on the way) or removes a field at a kiln field path.
fn edit(value: &mut Value, path: &str, new: Option<Value>) {
    enum Step {
        Key(String),
        Index(usize),
    }
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (key, rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        steps.push(Step::Key(key.to_owned()));
        for index in rest.split('[').filter(|s| !s.is_empty()) {
            steps.push(Step::Index(index.trim_end_matches(']').parse().unwrap()));
        }
    }
    let last = steps.pop().unwrap();
    let mut at = value;
    for step in steps {
        at = match step {
            Step::Key(k) => at
                .as_object_mut()
                .unwrap_or_else(|| panic!("{path}: not a map at {k}"))
                .entry(k)
                .or_insert_with(|| Value::Object(Map::new())),
            Step::Index(i) => &mut at[i],
        };
    }
    match (last, new) {
        (Step::Key(k), Some(v)) => {
            at.as_object_mut().unwrap().insert(k, v);
        }
        (Step::Key(k), None) => {
            assert!(
                at.as_object_mut().unwrap().shift_remove(&k).is_some(),
                "{path} is not there"
            );
        }
        (Step::Index(i), Some(v)) => at[i] = v,
        (Step::Index(i), None) => {
            at.as_array_mut().unwrap().remove(i);
        }
    }
}

/// Applies one broken case to a copy of `valid`.
fn broken(valid: &Value, case: &Value) -> Value {
    let mut object = valid.clone();
    for path in case
        .get("remove")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        edit(&mut object, path.as_str().unwrap(), None);
    }
    for (path, value) in case
        .get("set")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        edit(&mut object, path, Some(value.clone()));
    }
    object
}

fn render(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.path, v.message))
        .collect::<Vec<_>>()
        .join("\n")
}

const CHECKS: [&str; 4] = [
    "wrong_type",
    "missing_required",
    "unknown_field",
    "bad_enum",
];

#[test]
fn every_kind_catches_each_kind_of_mistake() {
    let set = load_all();
    let cases =
        crate::yaml::parse_values(include_str!("cases.yaml"), Path::new("cases.yaml")).unwrap();
    let [(_, Value::Array(kinds))] = cases.as_slice() else {
        panic!("cases.yaml is one list")
    };
    let mut covered = Vec::new();
    let mut report = String::new();
    let mut failures = Vec::new();
    for entry in kinds {
        let api_version = entry["apiVersion"].as_str().unwrap();
        let kind = entry["kind"].as_str().unwrap();
        let cr = found(&set, api_version, kind);
        assert_eq!(
            cr.location().file,
            Path::new(entry["file"].as_str().unwrap()),
            "{kind} comes from another file"
        );
        covered.push(format!("{kind}.{}", cr.group()));
        let mut valid = json!({
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"name": "example", "namespace": "default"},
        });
        for (k, v) in entry["valid"].as_object().unwrap() {
            valid[k] = v.clone();
        }
        let clean = cr.validate(&valid);
        if !clean.is_empty() {
            failures.push(format!(
                "{kind}: the valid resource is refused:\n{}",
                render(&clean)
            ));
        }
        let _ = writeln!(report, "## {kind} ({api_version})");
        let extra = entry.get("extra").and_then(Value::as_object);
        let named = CHECKS
            .iter()
            .map(|c| {
                (
                    *c,
                    entry
                        .get(*c)
                        .unwrap_or_else(|| panic!("{kind}: no `{c}` case")),
                )
            })
            .chain(extra.into_iter().flatten().map(|(k, v)| (k.as_str(), v)));
        for (check, case) in named {
            if let Some(why) = case.get("none") {
                let _ = writeln!(report, "{check}: none ({})", why.as_str().unwrap());
                continue;
            }
            let object = broken(&valid, case);
            let violations = cr.validate(&object);
            let _ = writeln!(
                report,
                "{check}: {}",
                render(&violations).replace('\n', "\n    ")
            );
            let expect = case["expect"].as_array().unwrap();
            let (path, message) = (expect[0].as_str().unwrap(), expect[1].as_str().unwrap());
            let ok = violations.len() == 1
                && violations[0].path == path
                && violations[0].message.contains(message);
            if !ok {
                failures.push(format!(
                    "{kind} {check}: expected exactly `{path}: ...{message}...`, got:\n{}",
                    render(&violations)
                ));
            }
        }
        report.push('\n');
    }
    let mut known: Vec<String> = set.kinds().map(|(g, k)| format!("{k}.{g}")).collect();
    known.sort();
    covered.sort();
    assert_eq!(
        covered, known,
        "cases.yaml must cover every kind of every shared CRD"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../snapshots")
            .canonicalize()
            .unwrap(),
    );
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!("crd_violations", report));
}
