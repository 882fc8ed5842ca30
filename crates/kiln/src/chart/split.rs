//! helm's output to objects (pure): documents split at `---`, the `# Source:` comment of each
//! kept as its origin, empty documents and test hooks dropped, duplicates refused; and the
//! comparison of two renders for [determinism](nondeterminism).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::error::{Error, ErrorKind, Location, Result};

/// One object of a chart's output, with the template that wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartObject {
    /// The template path helm names in its `# Source:` comment, like
    /// `web/templates/deployment.yaml` or `web/crds/widgets.yaml` (chart name first; subcharts
    /// as `web/charts/db/templates/x.yaml`). `<helm output>` when helm wrote none.
    pub source_template: String,
    /// The object, as helm wrote it.
    pub object: Value,
}

/// The `helm.sh/hook` values that mark a chart's tests (`helm test`), which kiln drops.
const TEST_HOOKS: &[&str] = &["test", "test-success", "test-failure"];

const NO_SOURCE: &str = "<helm output>";

/// Splits `helm template` output into objects. `chart` names the chart in errors; `namespace`
/// is the release namespace (an object without `metadata.namespace` counts as in it when
/// looking for duplicates).
///
/// Dropped: documents that hold nothing (or `null`), and objects whose `helm.sh/hook`
/// annotation names a test hook (`test`, `test-success`, `test-failure`). Other hooks are kept
/// with their annotations, which Argo CD maps to its own sync phases.
///
/// Errors: a document that is not YAML kiln reads, or not an object with `apiVersion`, `kind`
/// and `metadata.name` (naming the template), and two objects with one identity (API group,
/// kind, namespace, name).
pub fn split_output(text: &str, chart: &Path, namespace: &str) -> Result<Vec<ChartObject>> {
    let mut objects = Vec::new();
    for (source, body) in documents(text) {
        let template = source.unwrap_or(NO_SOURCE);
        let values = crate::yaml::parse_values(&body, Path::new(template)).map_err(|e| {
            let line = e.location().and_then(|l| l.line);
            let at = line
                .map(|l| format!(" (line {l} of its output)"))
                .unwrap_or_default();
            Error::new(
                ErrorKind::Template,
                format!(
                    "chart {}: template `{template}` rendered YAML kiln cannot read{at}: {}",
                    chart.display(),
                    e.message()
                ),
            )
            .at(Location::file(template))
        })?;
        for (_, value) in values {
            if value.is_null() {
                continue;
            }
            check_object(&value).map_err(|msg| {
                Error::new(
                    ErrorKind::Template,
                    format!(
                        "chart {}: template `{template}` rendered {msg}",
                        chart.display()
                    ),
                )
                .at(Location::file(template))
            })?;
            if is_test_hook(&value) {
                continue;
            }
            objects.push(ChartObject {
                source_template: template.to_owned(),
                object: value,
            });
        }
    }
    let mut seen: BTreeMap<Identity, &str> = BTreeMap::new();
    for o in &objects {
        if let Some(first) = seen.insert(identity(&o.object, namespace), &o.source_template) {
            return Err(Error::new(
                ErrorKind::Output,
                format!(
                    "chart {}: {} is rendered twice, by `{first}` and by `{}`",
                    chart.display(),
                    describe(&o.object, namespace),
                    o.source_template
                ),
            )
            .at(Location::file(&o.source_template)));
        }
    }
    Ok(objects)
}

/// The documents of helm's output: (the `# Source:` path, the text). A document without a
/// `# Source:` comment of its own comes from the template named last: helm writes the comment
/// once per chunk of a template's output, and a chunk may hold several documents.
fn documents(text: &str) -> Vec<(Option<&str>, String)> {
    let mut docs = Vec::new();
    let mut source = None;
    let mut body = String::new();
    let mut blank = true;
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(rest) = line.strip_prefix("---") {
            let rest = rest.trim_start();
            if rest.is_empty() || rest.starts_with('#') {
                docs.push((source, std::mem::take(&mut body)));
                blank = true;
                continue;
            }
            if rest.len() < line.len() - 3 {
                // `--- value`: a document starting on the marker line.
                docs.push((source, std::mem::take(&mut body)));
                body.push_str(line);
                body.push('\n');
                blank = false;
                continue;
            }
        }
        if blank {
            if let Some(path) = line.strip_prefix("# Source: ") {
                source = Some(path.trim());
                continue;
            }
            blank = line.trim().is_empty();
        }
        body.push_str(line);
        body.push('\n');
    }
    docs.push((source, body));
    docs.retain(|(_, body)| !body.trim().is_empty());
    docs
}

fn check_object(value: &Value) -> std::result::Result<(), String> {
    let Some(map) = value.as_object() else {
        return Err("a document that is not a mapping (a Kubernetes object)".into());
    };
    for key in ["apiVersion", "kind"] {
        if map
            .get(key)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(format!("an object without `{key}` (a non-empty string)"));
        }
    }
    let name = map
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str);
    if name.is_none_or(str::is_empty) {
        return Err("an object without `metadata.name` (a non-empty string)".into());
    }
    Ok(())
}

fn is_test_hook(value: &Value) -> bool {
    value["metadata"]["annotations"]["helm.sh/hook"]
        .as_str()
        .is_some_and(|hooks| hooks.split(',').any(|h| TEST_HOOKS.contains(&h.trim())))
}

/// (API group, kind, namespace, name): what the cluster tells apart.
type Identity = (String, String, String, String);

fn identity(o: &Value, namespace: &str) -> Identity {
    let api = o["apiVersion"].as_str().unwrap_or_default();
    let group = api.rsplit_once('/').map_or("", |(g, _)| g);
    (
        group.to_owned(),
        o["kind"].as_str().unwrap_or_default().to_owned(),
        o["metadata"]["namespace"]
            .as_str()
            .unwrap_or(namespace)
            .to_owned(),
        o["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// `Deployment web (namespace shop)`.
fn describe(o: &Value, namespace: &str) -> String {
    let (_, kind, ns, name) = identity(o, namespace);
    format!("{kind} {name} (namespace {ns})")
}

/// Compares two renders of one chart. `None` when they hold the same objects (comments and
/// the order of objects may differ); otherwise the error that names each object and field that
/// changed, with advice.
pub(crate) fn nondeterminism(
    first: &str,
    second: &str,
    chart: &Path,
    namespace: &str,
) -> Result<Option<Error>> {
    if first == second {
        return Ok(None);
    }
    let a = split_output(first, chart, namespace)?;
    let b = split_output(second, chart, namespace)?;
    let index = |objects: &[ChartObject]| -> BTreeMap<Identity, (String, Value)> {
        objects
            .iter()
            .map(|o| {
                (
                    identity(&o.object, namespace),
                    (o.source_template.clone(), o.object.clone()),
                )
            })
            .collect()
    };
    let (a, b) = (index(&a), index(&b));
    let mut changes = Vec::new();
    for (id, (template, obj)) in &a {
        let what = format!("{} {} (from `{template}`)", id.1, id.3);
        match b.get(id) {
            None => changes.push(format!("{what}: only in the first render")),
            Some((_, other)) => {
                let mut paths = Vec::new();
                diff_paths(obj, other, String::new(), &mut paths);
                const SHOWN: usize = 5;
                let more = paths.len().saturating_sub(SHOWN);
                paths.truncate(SHOWN);
                if more > 0 {
                    paths.push(format!("and {more} more"));
                }
                if !paths.is_empty() {
                    changes.push(format!("{what}: {}", paths.join(", ")));
                }
            }
        }
    }
    for (id, (template, _)) in &b {
        if !a.contains_key(id) {
            changes.push(format!(
                "{} {} (from `{template}`): only in the second render",
                id.1, id.3
            ));
        }
    }
    if changes.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        Error::new(
            ErrorKind::Template,
            format!(
                "chart {} renders differently every time, so its output cannot be committed; \
                 changed between two renders:\n  {}\n\
                 Template functions such as randAlphaNum, randAlpha, genCA, genPrivateKey, \
                 genSelfSignedCert, genSignedCert, now, uuidv4 and lookup (which sees no \
                 cluster here) make output change on every run. Set the value the chart reads \
                 instead (for example the name of an existing Secret, or the password or \
                 certificate itself) so that it is stable.",
                chart.display(),
                changes.join("\n  ")
            ),
        )
        .at(Location::file(
            a.values()
                .chain(b.values())
                .map(|(t, _)| t.as_str())
                .next()
                .unwrap_or(NO_SOURCE),
        )),
    ))
}

/// The paths (kiln syntax: `spec.containers[0].env[1].value`, odd keys as `a["b.c"]`) at which
/// `a` and `b` differ.
fn diff_paths(a: &Value, b: &Value, path: String, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                let child = join(&path, k);
                match y.get(k) {
                    Some(w) => diff_paths(v, w, child, out),
                    None => out.push(child),
                }
            }
            for k in y.keys().filter(|k| !x.contains_key(*k)) {
                out.push(join(&path, k));
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                diff_paths(v, w, format!("{path}[{i}]"), out);
            }
        }
        _ if a == b => {}
        _ => out.push(if path.is_empty() {
            "(the whole object)".into()
        } else {
            path
        }),
    }
}

fn join(path: &str, key: &str) -> String {
    let simple = !key.is_empty()
        && key
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
    match (path.is_empty(), simple) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!(
            "{path}[{}]",
            serde_json::to_string(key).expect("a string serializes")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "---
# Source: web/templates/a.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: a
data:
  k: v
---
# Source: web/templates/empty.yaml
---
# just a comment
---
# Source: web/templates/two.yaml
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: b
---
# Source: web/templates/tests/t.yaml
apiVersion: v1
kind: Pod
metadata:
  name: t
  annotations:
    \"helm.sh/hook\": test
---
# Source: web/templates/job.yaml
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
";

    #[test]
    fn splits_keeps_sources_drops_empties_and_tests() {
        let objects = split_output(OUT, Path::new("charts/web"), "shop").unwrap();
        let got: Vec<(&str, &str)> = objects
            .iter()
            .map(|o| {
                (
                    o.source_template.as_str(),
                    o.object["metadata"]["name"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("web/templates/a.yaml", "a"),
                ("web/templates/two.yaml", "b"),
                ("web/templates/job.yaml", "migrate")
            ]
        );
    }

    #[test]
    fn refuses_bad_yaml_naming_the_template() {
        let out = "---\n# Source: web/templates/bad.yaml\nkind: [\n";
        let err = split_output(out, Path::new("charts/web"), "shop").unwrap_err();
        assert!(err.to_string().contains("web/templates/bad.yaml"), "{err}");
        assert!(err.to_string().contains("charts/web"), "{err}");
        let out = "---\n# Source: web/templates/list.yaml\n- a\n";
        let err = split_output(out, Path::new("charts/web"), "shop").unwrap_err();
        assert!(err.to_string().contains("not a mapping"), "{err}");
    }

    #[test]
    fn refuses_duplicates() {
        let doc = |src: &str, api_version: &str, ns: &str| {
            format!("---\n# Source: {src}\napiVersion: {api_version}\nkind: Deployment\nmetadata:\n  name: web\n{ns}")
        };
        // Same group, one without a namespace (so in the release namespace).
        let out = doc("c/templates/a.yaml", "apps/v1", "")
            + &doc("c/templates/b.yaml", "apps/v1beta1", "  namespace: shop\n");
        let err = split_output(&out, Path::new("c"), "shop").unwrap_err();
        assert!(
            err.message()
                .contains("Deployment web (namespace shop) is rendered twice, by `c/templates/a.yaml` and by `c/templates/b.yaml`"),
            "{err}"
        );
        // Other namespace or other group: not duplicates.
        let out = doc("c/templates/a.yaml", "apps/v1", "")
            + &doc("c/templates/b.yaml", "apps/v1", "  namespace: other\n")
            + &doc("c/templates/c.yaml", "example.com/v1", "");
        assert_eq!(split_output(&out, Path::new("c"), "shop").unwrap().len(), 3);
    }

    #[test]
    fn names_changed_fields() {
        let a = "---\n# Source: c/templates/s.yaml\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  password: YWJj\n  keep: eA==\nlist:\n- {name: x, value: \"1\"}\n";
        let b = a.replace("YWJj", "ZGVm").replace("\"1\"", "\"2\"");
        let err = nondeterminism(a, &b, Path::new("charts/c"), "ns")
            .unwrap()
            .unwrap();
        let msg = err.to_string();
        assert!(
            msg.contains("Secret s (from `c/templates/s.yaml`): data.password, list[0].value"),
            "{msg}"
        );
        assert!(msg.contains("randAlphaNum"), "{msg}");
        assert!(nondeterminism(a, a, Path::new("c"), "ns")
            .unwrap()
            .is_none());
        let commented = a.replace("---\n", "---\n# a comment\n");
        assert!(nondeterminism(a, &commented, Path::new("c"), "ns")
            .unwrap()
            .is_none());
    }

    #[test]
    fn paths_quote_odd_keys() {
        assert_eq!(join("", "spec"), "spec");
        assert_eq!(
            join("metadata.annotations", "helm.sh/hook"),
            "metadata.annotations[\"helm.sh/hook\"]"
        );
    }
}
