//! Schema checks: every built-in object is deserialized into its k8s-openapi type (Kubernetes
//! v1.34). k8s-openapi ignores fields it does not know, so `serde_ignored` reports each one it
//! skipped: a typo like `imagePullPolcy` is an error, not a silent no-op. Custom resources are
//! checked against the schema the platform declares in `lint.custom_resources`.

use k8s_openapi::api::{
    apps, autoscaling, batch, core, networking, policy, rbac, scheduling, storage,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::Resource;
use serde::de::DeserializeOwned;
use std::fmt::Write as _;

use serde_json::Value;

use super::{Obj, Sink};
use crate::crd::{CrdSet, CustomResource, Lookup, Scope};
use crate::resolve::Platform;

/// Problems found deserializing `value` as `T`: (path, message).
fn typed<T: DeserializeOwned>(value: &Value) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let mut ignored = Vec::new();
    let mut record = |path: serde_ignored::Path<'_>| ignored.push(path.to_string());
    let de = serde_ignored::Deserializer::new(value, &mut record);
    if let Err(e) = serde_path_to_error::deserialize::<_, T>(de) {
        problems.push((e.path().to_string(), e.inner().to_string()));
    }
    for path in ignored {
        let path = tidy(&path);
        let field = path.rsplit('.').next().unwrap_or(&path).to_owned();
        problems.push((
            path,
            format!(
                "unknown field `{field}`: Kubernetes ignores or rejects it, so it has no effect"
            ),
        ));
    }
    problems
}

/// `spec.?.containers.?.0.x` (serde_ignored's form, `?` for each `Option`) to
/// `spec.containers[0].x`.
fn tidy(path: &str) -> String {
    let mut out = String::new();
    for segment in path.split('.').filter(|s| *s != "?") {
        if segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(segment);
        }
    }
    out
}

type Typed = fn(&Value) -> Vec<(String, String)>;

macro_rules! builtins {
    ($api:expr, $kind:expr; $($t:ty),* $(,)?) => {
        match ($api, $kind) {
            $( (<$t as Resource>::API_VERSION, <$t as Resource>::KIND) => Some(typed::<$t> as Typed), )*
            _ => None,
        }
    };
}

/// The check of a built-in kind, or `None` when the kind is not built in.
fn builtin(api: &str, kind: &str) -> Option<Typed> {
    builtins!(api, kind;
        core::v1::Namespace, core::v1::ServiceAccount, core::v1::Service, core::v1::ConfigMap,
        core::v1::Secret, core::v1::PersistentVolumeClaim, core::v1::Pod, core::v1::LimitRange,
        core::v1::ResourceQuota, core::v1::Endpoints,
        apps::v1::Deployment, apps::v1::StatefulSet, apps::v1::DaemonSet, apps::v1::ReplicaSet,
        batch::v1::Job, batch::v1::CronJob,
        networking::v1::Ingress, networking::v1::IngressClass, networking::v1::NetworkPolicy,
        policy::v1::PodDisruptionBudget,
        rbac::v1::Role, rbac::v1::RoleBinding, rbac::v1::ClusterRole, rbac::v1::ClusterRoleBinding,
        autoscaling::v2::HorizontalPodAutoscaler, scheduling::v1::PriorityClass,
        storage::v1::StorageClass,
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    )
}

/// The shapes of the built-in objects that deserialized without a problem. Deserializing into
/// the typed model is most of lint's cost, and a fleet renders a few shapes many times over: an
/// object whose shape passed once passes again.
///
/// Whether k8s-openapi accepts an object, and which fields it ignores, depends on the object's
/// apiVersion and kind (which pick the type), its keys, and each value's type: null, boolean,
/// integer (by the range of `i32` and `i64`), float or string. A string's text matters only in a
/// `Time` or `MicroTime` field (it must parse as a timestamp), so the shape records for every
/// string whether it is one, and in a `ByteString` field (base64), which only Secrets and
/// ConfigMaps have: they are always checked. Objects with problems are never cached, so every
/// finding is reported as the full check words it.
#[derive(Default)]
pub(crate) struct CleanShapes(std::sync::Mutex<(std::collections::HashSet<String>, usize)>);

/// Past this many bytes of shapes (a platform of nearly all different objects), new shapes
/// are no longer remembered.
const MAX_SHAPE_BYTES: usize = 8 << 20;

impl CleanShapes {
    fn contains(&self, shape: &str) -> bool {
        self.0
            .lock()
            .expect("no panics while held")
            .0
            .contains(shape)
    }

    fn insert(&self, shape: String) {
        let mut guard = self.0.lock().expect("no panics while held");
        let (shapes, bytes) = &mut *guard;
        if *bytes + shape.len() <= MAX_SHAPE_BYTES {
            *bytes += shape.len();
            shapes.insert(shape);
        }
    }
}

/// Appends `value`'s shape (see [`CleanShapes`]) to `out`.
fn shape(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push('n'),
        Value::Bool(_) => out.push('b'),
        Value::Number(n) => out.push(match (n.as_i64(), n.as_u64()) {
            (Some(i), _) if i32::try_from(i).is_ok() => 'i',
            (Some(_), _) => 'l',
            (None, Some(_)) => 'u',
            (None, None) => 'f',
        }),
        Value::String(_) => out.push(if is_timestamp(value) { 't' } else { 's' }),
        Value::Array(items) => {
            out.push('[');
            for item in items {
                shape(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (key, value) in map {
                // Length-prefixed, so no key can pass for a shape.
                write!(out, "{}", key.len()).expect("writing to a String");
                out.push(':');
                out.push_str(key);
                shape(value, out);
            }
            out.push('}');
        }
    }
}

/// Whether a string value is what k8s-openapi's `Time` (and `MicroTime`, the same timestamp)
/// accepts.
fn is_timestamp(value: &Value) -> bool {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    // A timestamp starts with its year: four digits, or a sign (`+`, `-` or U+2212, whose
    // UTF-8 starts with 0xE2) and six digits. Most strings are not tried at all.
    let may_be = value
        .as_str()
        .and_then(|s| s.as_bytes().first())
        .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | 0xe2));
    may_be && <Time as serde::Deserialize>::deserialize(value).is_ok()
}

/// Checks one object: a built-in kind against its k8s-openapi type, a custom resource against
/// its CustomResourceDefinition (those rendered in the environment first, then the platform's
/// `crds/`), else against the schema declared in `lint.custom_resources`.
pub(crate) fn check(
    platform: &Platform,
    rendered_crds: &CrdSet,
    obj: &Obj<'_>,
    clean: &CleanShapes,
    sink: &mut Sink<'_>,
) {
    let api_version = obj.value["apiVersion"].as_str().unwrap_or_default();
    let kind = obj.kind();
    if let Some(typed) = builtin(api_version, kind) {
        let mut key = None;
        if !matches!(kind, "Secret" | "ConfigMap") {
            let mut s = format!("{api_version} {kind} ");
            shape(obj.value, &mut s);
            if clean.contains(&s) {
                return;
            }
            key = Some(s);
        }
        let problems = typed(obj.value);
        if let (true, Some(key)) = (problems.is_empty(), key) {
            clean.insert(key);
        }
        for (path, message) in problems {
            sink.report("schema", obj, &path, message);
        }
        return;
    }
    for set in [rendered_crds, &*platform.crds] {
        match set.lookup(api_version, kind) {
            Lookup::Found(cr) => return check_against_crd(obj, cr, sink),
            Lookup::Unknown => {}
            not_served @ Lookup::VersionNotServed { .. } => {
                let message = not_served
                    .explain(set, api_version, kind)
                    .unwrap_or_default();
                return sink.report("schema", obj, "apiVersion", message);
            }
        }
    }
    let declared = platform
        .lint
        .custom_resources
        .iter()
        .find(|c| c.api_version == api_version && c.kind == kind);
    let Some((cr, schema)) = declared.and_then(|c| Some((c, c.schema.as_ref()?))) else {
        let why = if declared.is_some() {
            "is declared in kiln.yaml `lint.custom_resources` without a schema, and no \
             CustomResourceDefinition in crds/ or in the tree defines it"
        } else {
            "is neither a Kubernetes v1.34 built-in nor defined by a CustomResourceDefinition \
             (in crds/ or in the tree) nor declared in kiln.yaml `lint.custom_resources`"
        };
        sink.report(
            "unknown-kind",
            obj,
            "kind",
            format!("`{kind}` ({api_version}) {why}"),
        );
        return;
    };
    let mut problems = Vec::new();
    if let Some(metadata) = obj.value.get("metadata") {
        for (path, message) in typed::<ObjectMeta>(metadata) {
            problems.push((format!("metadata.{path}"), message));
        }
    }
    if cr.namespaced != obj.namespace().is_some() {
        let want = if cr.namespaced {
            "needs a `metadata.namespace`"
        } else {
            "is cluster-scoped: remove `metadata.namespace`"
        };
        problems.push(("metadata.namespace".into(), format!("`{kind}` {want}")));
    }
    let body: serde_json::Map<String, Value> = obj
        .value
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| !matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    validate(schema, &Value::Object(body), "", &mut problems);
    for (path, message) in problems {
        sink.report("schema", obj, &path, message);
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Checks `value` against a platform-declared schema (see `CustomResource`).
pub(crate) fn validate(schema: &Value, value: &Value, path: &str, out: &mut Vec<(String, String)>) {
    let mismatch = |want: &str| {
        (
            path.to_owned(),
            format!("expected {want}, found {}", kind_of(value)),
        )
    };
    match schema {
        Value::String(t) => {
            let ok = match t.as_str() {
                "string" => value.is_string(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                "boolean" => value.is_boolean(),
                "object" => value.is_object(),
                "any" => true,
                other => {
                    out.push((
                        path.to_owned(),
                        format!("the declared schema has an unknown type `{other}`"),
                    ));
                    return;
                }
            };
            if !ok {
                out.push(mismatch(t));
            }
        }
        Value::Array(item) => match (value, item.first()) {
            (Value::Array(values), Some(item)) => {
                for (i, v) in values.iter().enumerate() {
                    validate(item, v, &format!("{path}[{i}]"), out);
                }
            }
            (Value::Array(_), None) => {}
            _ => out.push(mismatch("a list")),
        },
        Value::Object(fields) => {
            let Value::Object(map) = value else {
                out.push(mismatch("a mapping"));
                return;
            };
            if let Some(each) = fields.get("*") {
                for (k, v) in map {
                    validate(each, v, &join(path, k), out);
                }
                return;
            }
            for (k, v) in map {
                match fields.get(k) {
                    Some(s) => validate(s, v, &join(path, k), out),
                    None => {
                        let known: Vec<&str> = fields.keys().map(String::as_str).collect();
                        out.push((
                            join(path, k),
                            format!(
                                "unknown field `{k}` (the declared schema allows: {})",
                                known.join(", ")
                            ),
                        ));
                    }
                }
            }
        }
        _ => out.push((
            path.to_owned(),
            "the declared schema must use type names, lists and mappings".into(),
        )),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Checks a custom resource against its CRD: metadata as for every object, the scope the CRD
/// declares, and the body against the served version's `openAPIV3Schema`, unknown fields
/// included (what the API server would prune silently).
fn check_against_crd(obj: &Obj<'_>, cr: CustomResource<'_>, sink: &mut Sink<'_>) {
    let mut problems = Vec::new();
    if let Some(metadata) = obj.value.get("metadata") {
        for (path, message) in typed::<ObjectMeta>(metadata) {
            problems.push((format!("metadata.{path}"), message));
        }
    }
    let namespaced = cr.scope() == Scope::Namespaced;
    if namespaced != obj.namespace().is_some() {
        let want = if namespaced {
            "is namespaced (its CRD says so): it needs a `metadata.namespace`"
        } else {
            "is cluster-scoped (its CRD says so): remove `metadata.namespace`"
        };
        problems.push((
            "metadata.namespace".into(),
            format!("`{}` {want}", obj.kind()),
        ));
    }
    for violation in cr.validate(obj.value) {
        problems.push((violation.path, violation.message));
    }
    for (path, message) in problems {
        sink.report("schema", obj, &path, message);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn typed_reports_unknown_fields_and_wrong_types() {
        let deployment = json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "replicas": "two",
                     "template": {"spec": {"containers": [{"name": "c", "image": "i:1", "imagePullPolcy": "Always"}]}}}
        });
        let problems = super::typed::<k8s_openapi::api::apps::v1::Deployment>(&deployment);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].0 == "spec.replicas" && problems[0].1.contains("invalid type"),
            "{problems:?}"
        );
        let deployment = json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
            "spec": {"selector": {"matchLabels": {"a": "b"}},
                     "template": {"spec": {"containers": [{"name": "c", "image": "i:1", "imagePullPolcy": "Always"}]}}}
        });
        let problems = super::typed::<k8s_openapi::api::apps::v1::Deployment>(&deployment);
        assert_eq!(problems, [("spec.template.spec.containers[0].imagePullPolcy".to_owned(), "unknown field `imagePullPolcy`: Kubernetes ignores or rejects it, so it has no effect".to_owned())]);
    }

    #[test]
    fn timestamps_are_told_from_other_strings() {
        for (text, is) in [
            ("2024-05-01T10:00:00Z", Some(true)),
            ("2024-05-01T10:00:00.123456Z", Some(true)),
            ("+002024-05-01T10:00:00Z", Some(true)),
            ("-002024-05-01T10:00:00Z", None),
            ("\u{2212}002024-05-01T10:00:00Z", None),
            ("2024-05-01", Some(false)),
            (" 2024-05-01T10:00:00Z", Some(false)),
            ("T2024-05-01T10:00:00Z", Some(false)),
            ("web", Some(false)),
            ("3000", Some(false)),
        ] {
            let value = serde_json::Value::String(text.into());
            let full = <k8s_openapi::apimachinery::pkg::apis::meta::v1::Time as serde::Deserialize>::deserialize(&value).is_ok();
            assert_eq!(super::is_timestamp(&value), full, "{text}");
            if let Some(is) = is {
                assert_eq!(full, is, "{text}");
            }
        }
    }

    /// The shape cache remembers only clean objects: a second object of a clean shape is not
    /// deserialized again, and an object with a problem is reported however often it recurs.
    #[test]
    fn shapes_tell_apart_what_deserialization_tells_apart() {
        let shape = |v: serde_json::Value| {
            let mut s = String::new();
            super::shape(&v, &mut s);
            s
        };
        // Same keys and types, different text: one shape.
        assert_eq!(
            shape(json!({"name": "a", "replicas": 1, "x": [true]})),
            shape(json!({"name": "bb", "replicas": 3, "x": [false]}))
        );
        // What k8s-openapi can tell apart is apart.
        for (a, b) in [
            (json!({"replicas": 1}), json!({"replicas": "1"})),
            (json!({"replicas": 1}), json!({"replicas": 1.5})),
            (
                json!({"replicas": 1}),
                json!({"replicas": 3_000_000_000_i64}),
            ),
            (json!({"replicas": 1}), json!({"replicas": null})),
            (json!({"a": 1}), json!({"b": 1})),
            (json!({"ab": {}}), json!({"a": {"b": {}}})),
            (
                json!({"t": "2024-05-01T10:00:00Z"}),
                json!({"t": "yesterday"}),
            ),
            (json!({"l": [1]}), json!({"l": [1, 1]})),
        ] {
            assert_ne!(shape(a.clone()), shape(b.clone()), "{a} vs {b}");
        }
    }

    #[test]
    fn declared_schemas() {
        let schema =
            json!({"spec": {"itemPath": "string", "tags": ["string"], "labels": {"*": "string"}}});
        let mut out = Vec::new();
        super::validate(
            &schema,
            &json!({"spec": {"itemPath": "vaults/x", "tags": ["a"], "labels": {"k": "v"}}}),
            "",
            &mut out,
        );
        assert!(out.is_empty(), "{out:?}");
        super::validate(
            &schema,
            &json!({"spec": {"itemPat": "x", "tags": [1], "labels": {"k": true}}, "status": {}}),
            "",
            &mut out,
        );
        let paths: Vec<&str> = out.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            ["spec.itemPat", "spec.tags[0]", "spec.labels.k", "status"]
        );
    }
}
