//! The validator against every real CRD in `../shared/crds` (read in place, never copied),
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
    // `shared/` sits beside the repository (CI clones it elsewhere, with a copy beside it).
    let dir = crd_dir().canonicalize().unwrap();
    assert!(dir.join("SOURCES.md").is_file(), "{}", dir.display());
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

/// A CRD document for `Widget.example.com` with one served version `v1` and this schema for
/// the whole object.
fn widget_crd(schema: Value) -> Value {
    let mut crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {}}],
        },
    });
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = schema;
    crd
}

fn widget_set(spec_schema: Value) -> CrdSet {
    let mut set = CrdSet::default();
    let schema = json!({"type": "object", "properties": {"spec": spec_schema}});
    set.add("widget.yaml", 1, &widget_crd(schema))
        .unwrap_or_else(|e| panic!("{e}"));
    set
}

/// The violations of `spec` in a Widget, as `path: message` lines.
fn check(set: &CrdSet, spec: Value) -> Vec<String> {
    let object = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec});
    found(set, "example.com/v1", "Widget")
        .validate(&object)
        .into_iter()
        .map(|v| format!("{}: {}", v.path, v.message))
        .collect()
}

fn add_error(doc: &Value) -> Error {
    CrdSet::default().add("bad.yaml", 7, doc).unwrap_err()
}

#[test]
fn a_version_that_is_not_served_is_told_apart_from_an_unknown_kind() {
    let set = load_all();
    let lookup = set.lookup("external-secrets.io/v1beta1", "ExternalSecret");
    match &lookup {
        Lookup::VersionNotServed {
            served, version, ..
        } => {
            assert_eq!(served, &["v1"]);
            assert_eq!(*version, "v1beta1");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        lookup.explain(&set, "external-secrets.io/v1beta1", "ExternalSecret").unwrap(),
        "ExternalSecret.external-secrets.io does not serve version `v1beta1`; served: external-secrets.io/v1"
    );
    assert!(matches!(
        set.lookup("external-secrets.io/v2", "ExternalSecret"),
        Lookup::VersionNotServed { .. }
    ));
    assert!(matches!(
        set.lookup("traefik.io/v1alpha1", "Middlewares"),
        Lookup::Unknown
    ));
    assert!(matches!(set.lookup("v1", "ConfigMap"), Lookup::Unknown));
    // The old Traefik group: same kind, another group.
    let unknown = set.lookup("traefik.containo.us/v1alpha1", "Middleware");
    assert_eq!(
        unknown.explain(&set, "traefik.containo.us/v1alpha1", "Middleware").unwrap(),
        "no CustomResourceDefinition for Middleware (traefik.containo.us/v1alpha1); known with that kind: Middleware.traefik.io"
    );
    assert!(matches!(
        set.lookup("external-secrets.io/v1", "ExternalSecret"),
        Lookup::Found(_)
    ));
}

#[test]
fn a_document_that_is_not_a_crd_is_refused_with_its_location() {
    let e = add_error(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}));
    assert_eq!(e.kind(), ErrorKind::Model);
    assert_eq!(
        e.to_string(),
        "bad.yaml:7: expected a CustomResourceDefinition (apiVersion apiextensions.k8s.io/v1), found kind `ConfigMap` (apiVersion `v1`)"
    );
    let mut old = widget_crd(json!({"type": "object"}));
    old["apiVersion"] = json!("apiextensions.k8s.io/v1beta1");
    assert!(add_error(&old)
        .message()
        .ends_with("apiextensions.k8s.io/v1beta1 is not served since Kubernetes 1.22"));
    assert!(add_error(&json!("text"))
        .message()
        .ends_with("found string \"text\""));
    assert!(!is_crd(&json!({"apiVersion": "v1", "kind": "ConfigMap"})));
    assert!(is_crd(&old));
    let mut no_kind = widget_crd(json!({"type": "object"}));
    no_kind["spec"]["names"] = json!({});
    assert_eq!(
        add_error(&no_kind).to_string(),
        "bad.yaml:7 (key `spec.names.kind`): missing `spec.names.kind` (a non-empty string)"
    );
}

#[test]
fn conflicting_duplicate_crds_are_refused_and_identical_ones_accepted() {
    let mut set = CrdSet::default();
    let crd = widget_crd(json!({"type": "object", "properties": {"spec": {"type": "object"}}}));
    set.add("a.yaml", 1, &crd).unwrap();
    // Identical, even with another key order and other metadata.
    let mut same: Value = serde_json::from_str(&crd.to_string()).unwrap();
    same["metadata"]["labels"] = json!({"copied": "yes"});
    set.add("b.yaml", 3, &same).unwrap();
    let mut different = crd.clone();
    different["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["type"] =
        json!("string");
    let e = set.add("c.yaml", 5, &different).unwrap_err();
    assert_eq!(
        e.to_string(),
        "c.yaml:5: a different CustomResourceDefinition for Widget.example.com is already loaded from a.yaml:1; remove one of them"
    );
    assert_eq!(set.len(), 1);
}

/// `{"type": "object", "properties": {"a": {"type": "object", "properties": {"a": ...}}}}`,
/// `levels` deep (built without recursion).
fn nested_schema(levels: usize) -> Value {
    // By hand: `json!` would serialize the inner value again at every level (recursively).
    let mut schema = json!({"type": "string"});
    for _ in 0..levels {
        let mut properties = Map::new();
        properties.insert("a".into(), schema);
        let mut outer = Map::new();
        outer.insert("type".into(), json!("object"));
        outer.insert("properties".into(), Value::Object(properties));
        schema = Value::Object(outer);
    }
    schema
}

#[test]
fn deep_and_self_referencing_schemas_are_refused_without_overflowing_the_stack() {
    // Within the bound: compiles and validates.
    let set = widget_set(nested_schema(schema::MAX_SCHEMA_DEPTH - 2));
    assert!(check(&set, json!({"a": {"a": {}}})).is_empty());
    // Just over the schema bound.
    let e = add_error(&widget_crd(nested_schema(schema::MAX_SCHEMA_DEPTH + 1)));
    assert!(
        e.message().contains("nested more than 64 levels deep"),
        "{e}"
    );
    assert!(e
        .location()
        .unwrap()
        .key
        .as_deref()
        .unwrap()
        .starts_with("spec.versions[0].schema.openAPIV3Schema.properties.a.properties.a."));
    // Far over it (a generated or hostile document): refused before anything recurses into it.
    let absurd = widget_crd(nested_schema(100_000));
    let e = add_error(&absurd);
    assert!(
        e.message()
            .contains(&format!("nested more than {MAX_CRD_DEPTH} levels deep")),
        "{e}"
    );
    // serde_json drops a `Value` recursively, which would overflow this thread's stack.
    std::mem::forget(absurd);
    // JSON has no cycles; a schema can only refer to itself with `$ref`, which CRDs forbid.
    let e = add_error(&widget_crd(
        json!({"type": "object", "properties": {"self": {"$ref": "#"}}}),
    ));
    assert_eq!(
        e.to_string(),
        "bad.yaml:7 (key `spec.versions[0].schema.openAPIV3Schema.properties.self`): invalid schema for Widget.example.com/v1: `$ref` is not allowed in a CustomResourceDefinition schema"
    );
}

#[test]
fn an_oversized_crd_is_refused() {
    let properties: Map<String, Value> = (0..MAX_CRD_VALUES / 2)
        .map(|i| (format!("f{i}"), json!({"type": "string"})))
        .collect();
    let e = add_error(&widget_crd(
        json!({"type": "object", "properties": properties}),
    ));
    assert!(
        e.message()
            .starts_with("the CustomResourceDefinition is too large:"),
        "{e}"
    );
    // Under the value cap but over the node cap of compiled schemas.
    let wide: Map<String, Value> = (0..schema::MAX_SCHEMA_NODES + 1)
        .map(|i| (format!("f{i}"), json!({})))
        .collect();
    let e = add_error(&widget_crd(json!({"type": "object", "properties": wide})));
    assert!(e.message().contains("more than 100000 nodes"), "{e}");
}

#[test]
fn invalid_schemas_are_refused_with_the_key_that_is_wrong() {
    let cases = [
        (
            json!({"type": "object", "properties": {"spec": {"type": "map"}}}),
            "properties.spec",
            "`type` must be one of",
        ),
        (
            json!({"type": "object", "properties": {"spec": {"type": "string", "pattern": "(unclosed"}}}),
            "properties.spec",
            "`pattern` does not compile",
        ),
        (
            json!({"type": "array", "items": [{"type": "string"}]}),
            "",
            "`items` must be a single schema",
        ),
        (
            json!({"type": "object", "required": "spec"}),
            "",
            "`required` must be a list of strings",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "string"}}),
            "",
            "mutually exclusive",
        ),
        (
            json!({"type": "object", "properties": {"n": {"type": "integer", "minimum": "1"}}}),
            "properties.n",
            "`minimum` must be a number",
        ),
        (
            json!({"type": "object", "properties": {"n": {"anyOf": [{"type": "integer"}, 3]}}}),
            "properties.n.anyOf[1]",
            "expected a schema object",
        ),
    ];
    for (schema, key, message) in cases {
        let e = add_error(&widget_crd(schema.clone()));
        let mut want = "spec.versions[0].schema.openAPIV3Schema".to_owned();
        if !key.is_empty() {
            want = format!("{want}.{key}");
        }
        assert_eq!(
            e.location().unwrap().key.as_deref(),
            Some(want.as_str()),
            "{schema}: {e}"
        );
        assert!(e.message().contains(message), "{schema}: {e}");
    }
}

#[test]
fn paths_quote_keys_that_are_not_plain_words() {
    let set = widget_set(json!({
        "type": "object",
        "properties": {
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "routes": {"type": "array", "items": {"type": "object", "properties": {
                "middlewares": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}}
            }}},
        },
    }));
    assert_eq!(
        check(
            &set,
            json!({"labels": {"example.com/tier": 1, "plain-key_1": true}, "routes": [{}, {"middlewares": [{"name": "a"}, {"name": 2}]}]})
        ),
        [
            "spec.labels[\"example.com/tier\"]: expected string, found integer 1",
            "spec.labels.plain-key_1: expected string, found boolean true",
            "spec.routes[1].middlewares[1].name: expected string, found integer 2",
        ]
    );
}

#[test]
fn the_top_level_skips_what_the_api_server_owns_but_metadata_must_be_an_object() {
    let schema = json!({"type": "object", "required": ["metadata", "spec"], "properties": {"spec": {"type": "object"}}});
    let mut set = CrdSet::default();
    set.add("w.yaml", 1, &widget_crd(schema)).unwrap();
    let cr = found(&set, "example.com/v1", "Widget");
    let v = cr.validate(&json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "x", "anything": 1}, "spec": {}}));
    assert!(v.is_empty(), "{v:?}");
    let v = cr.validate(
        &json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": "x", "status": {}}),
    );
    let lines: Vec<String> = v
        .iter()
        .map(|v| format!("{}: {}", v.path, v.message))
        .collect();
    assert_eq!(
        lines,
        [
            "metadata: expected object, found string \"x\"",
            "spec: missing required field `spec`",
            "status: unknown field `status`; known fields: spec",
        ]
    );
    let v = cr.validate(&json!(["not", "an", "object"]));
    assert_eq!(
        v,
        [Violation {
            path: String::new(),
            message: "expected object, found array (3 items)".into()
        }]
    );
}

#[test]
fn status_is_skipped_only_with_the_status_subresource() {
    let set = load_all();
    // OnePasswordItem has the status subresource; its status schema requires `conditions`.
    let item = json!({"apiVersion": "onepassword.com/v1", "kind": "OnePasswordItem", "metadata": {"name": "x"},
                      "spec": {"itemPath": "vaults/a/items/b"}, "status": {}});
    assert!(found(&set, "onepassword.com/v1", "OnePasswordItem")
        .validate(&item)
        .is_empty());
    // Without the subresource, status is checked like any field.
    let mut crd = widget_crd(
        json!({"type": "object", "properties": {"status": {"type": "object", "required": ["phase"]}}}),
    );
    let mut plain = CrdSet::default();
    plain.add("w.yaml", 1, &crd).unwrap();
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "status": {}});
    let v = found(&plain, "example.com/v1", "Widget").validate(&widget);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].path, "status.phase");
    crd["spec"]["versions"][0]["subresources"] = json!({"status": {}});
    let mut with = CrdSet::default();
    with.add("w.yaml", 1, &crd).unwrap();
    assert!(found(&with, "example.com/v1", "Widget")
        .validate(&widget)
        .is_empty());
}

#[test]
fn structural_extensions() {
    let set = widget_set(json!({
        "type": "object",
        "properties": {
            "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
            "values": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"known": {"type": "integer"}}},
            "template": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {"spec": {"type": "object"}}},
            "maybe": {"type": "string", "nullable": true},
            "never": {"type": "string"},
            "closed": {"type": "object", "additionalProperties": false},
            "open": {"type": "object", "additionalProperties": true},
            "replicas": {"type": "integer"},
            "ratio": {"type": "number"},
        },
    }));
    assert_eq!(
        check(
            &set,
            json!({
                "port": 80, "values": {"known": 1, "free": {"form": [1]}},
                "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}},
                "maybe": null, "open": {"x": [1]}, "replicas": 3.0, "ratio": 1,
            })
        ),
        Vec::<String>::new()
    );
    assert!(check(&set, json!({"port": "http"})).is_empty());
    assert_eq!(
        check(
            &set,
            json!({
                "port": 8.5, "values": {"known": "1"}, "template": {"kind": "Pod", "extra": 1},
                "never": null, "closed": {"x": 1}, "replicas": 2.5, "ratio": "1",
            })
        ),
        [
            "spec.port: expected integer or string, found number 8.5",
            "spec.values.known: expected integer, found string \"1\"",
            "spec.template.extra: unknown field `extra`; known fields: spec",
            "spec.template.apiVersion: missing required field `apiVersion`",
            "spec.never: expected string, found null",
            "spec.closed.x: field `x` is not allowed here",
            "spec.replicas: expected integer, found number 2.5",
            "spec.ratio: expected number, found string \"1\"",
        ]
    );
}

#[test]
fn value_validations() {
    let set = widget_set(json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
            "when": {"type": "string", "format": "date-time"},
            "count": {"type": "integer", "minimum": 1, "maximum": 10, "exclusiveMaximum": true, "multipleOf": 2, "format": "int32"},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3, "x-kubernetes-list-type": "set"},
            "uniq": {"type": "array", "items": {"type": "integer"}, "uniqueItems": true},
            "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port", "protocol"],
                      "items": {"type": "object", "properties": {"port": {"type": "integer"}, "protocol": {"type": "string"}}}},
            "one": {"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": {"type": "string"}},
            "policy": {"type": "string", "enum": ["Always", "IfNotPresent", "Never"]},
        },
    }));
    assert!(check(&set, json!({
        "name": "abc", "when": "2024-01-31T12:00:00Z", "count": 4, "tags": ["a", "b"], "uniq": [1, 2],
        "ports": [{"port": 80, "protocol": "TCP"}, {"port": 80, "protocol": "UDP"}], "one": {"a": "b"}, "policy": "Never",
    })).is_empty());
    assert_eq!(
        check(&set, json!({
            "name": "ABCDEFG", "when": "yesterday", "count": 10, "tags": ["a", "b", "a", "c"], "uniq": [1, 1.0],
            "ports": [{"port": 80, "protocol": "TCP"}, {"port": 80, "protocol": "TCP"}], "one": {}, "policy": "Foo",
        })),
        [
            "spec.name: expected at most 5 characters, found 7",
            "spec.name: \"ABCDEFG\" does not match the pattern `^[a-z]+$`",
            "spec.when: \"yesterday\" is not a valid date-time (format `date-time`, like 2024-01-31T12:00:00Z)",
            "spec.count: expected a number less than 10, found 10",
            "spec.tags: expected at most 3 items, found 4",
            "spec.tags[2]: duplicate entry \"a\" (also at [0])",
            "spec.uniq[1]: duplicate item 1.0 (also at [0])",
            "spec.ports[1]: duplicate entry with port=80, protocol=\"TCP\" (also at [0])",
            "spec.one: expected at least 1 field, found 0",
            "spec.policy: \"Foo\" is not one of: Always, IfNotPresent, Never",
        ]
    );
    assert_eq!(
        check(&set, json!({"count": 3})),
        ["spec.count: expected a multiple of 2, found 3"]
    );
    assert_eq!(
        check(&set, json!({"count": 0})),
        ["spec.count: expected a number at least 1, found 0"]
    );
}

#[test]
fn combinators_check_values_but_never_declare_fields() {
    let set = widget_set(json!({
        "type": "object",
        "properties": {
            "a": {"type": "string"},
            "b": {"type": "string"},
            "either": {"type": "object", "properties": {"x": {"type": "string"}, "y": {"type": "string"}},
                       "oneOf": [{"required": ["x"]}, {"required": ["y"]}]},
            "some": {"type": "object", "properties": {"x": {"type": "string"}, "y": {"type": "string"}},
                     "anyOf": [{"required": ["x"]}, {"required": ["y"]}]},
            "not_empty": {"type": "string", "not": {"enum": [""]}},
            "both": {"type": "integer", "allOf": [{"minimum": 1}, {"maximum": 5}]},
        },
        "allOf": [{"properties": {"a": {"pattern": "^a"}}}],
    }));
    assert!(check(&set, json!({"a": "abc", "either": {"x": "1"}, "some": {"x": "1", "y": "2"}, "not_empty": "v", "both": 3})).is_empty());
    assert_eq!(
        check(&set, json!({"a": "zzz", "either": {"x": "1", "y": "2"}, "some": {}, "not_empty": "", "both": 9})),
        [
            "spec.either: satisfies 2 of the 2 alternatives; exactly one is required",
            "spec.some: does not satisfy any of the 2 alternatives: (1) x: missing required field `x`; (2) y: missing required field `y`",
            "spec.not_empty: matches a schema it must not match (`not`)",
            "spec.both: expected a number at most 5, found 9",
            // The spec's own `allOf` runs after its fields are walked.
            "spec.a: \"zzz\" does not match the pattern `^a`",
        ]
    );
    assert_eq!(
        check(&set, json!({"either": {}})),
        ["spec.either: does not satisfy any of the 2 alternatives (exactly one is required): (1) x: missing required field `x`; (2) y: missing required field `y`"]
    );
}

#[test]
fn the_two_cases_the_product_cares_most_about() {
    let set = load_all();
    let middleware = json!({
        "apiVersion": "traefik.io/v1alpha1", "kind": "Middleware",
        "metadata": {"name": "admin-auth", "namespace": "team"},
        "spec": {"basicAuth": {"secrett": "admin-users"}},
    });
    let v = found(&set, "traefik.io/v1alpha1", "Middleware").validate(&middleware);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].path, "spec.basicAuth.secrett");
    assert!(
        v[0].message
            .starts_with("unknown field `secrett` (did you mean `secret`?); known fields: secret,"),
        "{}",
        v[0].message
    );
    let application = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "sens", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "sens"},
            "source": {"repoURL": "https://github.com/example/sens.git", "path": "k8s"},
            "syncPolicy": {"automated": "yes", "retry": {"limit": "5"}},
        },
    });
    let v = found(&set, "argoproj.io/v1alpha1", "Application").validate(&application);
    let lines: Vec<String> = v
        .iter()
        .map(|v| format!("{}: {}", v.path, v.message))
        .collect();
    assert_eq!(
        lines,
        [
            "spec.syncPolicy.automated: expected object, found string \"yes\"",
            "spec.syncPolicy.retry.limit: expected integer, found string \"5\"",
        ]
    );
}
