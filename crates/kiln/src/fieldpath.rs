//! Field paths: kiln's one syntax for a place inside an object or a data file, shared by
//! `diff`, `explain`, lint findings and layer provenance. Below everything but `yaml`, whose
//! positioned nodes it walks like JSON values.
//!
//! ```text
//! spec.replicas                                     keys of plain names, joined by `.`
//! spec.template.spec.containers[name=web].image     a list item by its unique `name`
//! spec.rules[0].host                                a list item by index
//! metadata.annotations["sidecar.istio.io/inject"]   a key that is not a plain name, quoted
//! ```
//!
//! A plain name is ASCII letters, digits, `_` and `-`. List items are addressed by `name`
//! only when every item of the list has a distinct string `name` (containers, env, ports,
//! volumes), so a path stays stable when items are inserted before it.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::yaml::NodeValue;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A mapping key.
    Key(String),
    /// A list item by position.
    Index(usize),
    /// A list item by its `name` field.
    Name(String),
}

/// Whether `key` can stand bare in a path.
fn is_plain(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

/// `parent` extended by the mapping key `key`.
pub fn key(parent: &str, key: &str) -> String {
    match (parent.is_empty(), is_plain(key)) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!(
            "{parent}[{}]",
            serde_json::to_string(key).expect("a string serializes")
        ),
    }
}

/// `parent` extended by list item `index`.
pub fn index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// `parent` extended by the list item named `name`.
pub fn named(parent: &str, name: &str) -> String {
    format!("{parent}[name={name}]")
}

/// A tree whose leaves have paths: JSON values, and kiln's positioned YAML nodes.
pub(crate) trait Tree: Sized {
    /// The entries of a non-empty mapping, in order.
    fn entries(&self) -> Option<Vec<(&str, &Self)>>;
    /// The items of a non-empty list.
    fn items(&self) -> Option<&[Self]>;
    /// The string `name` field of a mapping.
    fn name(&self) -> Option<&str>;
}

impl Tree for Value {
    fn entries(&self) -> Option<Vec<(&str, &Self)>> {
        match self {
            Value::Object(map) if !map.is_empty() => {
                Some(map.iter().map(|(k, v)| (k.as_str(), v)).collect())
            }
            _ => None,
        }
    }
    fn items(&self) -> Option<&[Self]> {
        match self {
            Value::Array(items) if !items.is_empty() => Some(items),
            _ => None,
        }
    }
    fn name(&self) -> Option<&str> {
        self.get("name")?.as_str()
    }
}

impl Tree for crate::yaml::Node {
    fn entries(&self) -> Option<Vec<(&str, &Self)>> {
        match &self.value {
            NodeValue::Map(entries) if !entries.is_empty() => {
                Some(entries.iter().map(|(k, v)| (k.name.as_str(), v)).collect())
            }
            _ => None,
        }
    }
    fn items(&self) -> Option<&[Self]> {
        match &self.value {
            NodeValue::Seq(items) if !items.is_empty() => Some(items),
            _ => None,
        }
    }
    fn name(&self) -> Option<&str> {
        match &self.get("name")?.value {
            NodeValue::String(s) => Some(s),
            _ => None,
        }
    }
}

/// The path segment of each item of `items`: `[name=x]` when every item has a distinct
/// name, `[i]` otherwise.
pub(crate) fn item_paths<T: Tree>(parent: &str, items: &[T]) -> Vec<String> {
    let names: Vec<Option<&str>> = items.iter().map(Tree::name).collect();
    let unique: BTreeSet<&str> = names.iter().flatten().copied().collect();
    let by_name = names.iter().all(Option::is_some) && unique.len() == items.len();
    names
        .iter()
        .enumerate()
        .map(|(i, n)| match n {
            Some(n) if by_name => named(parent, n),
            _ => index(parent, i),
        })
        .collect()
}

/// Every leaf (a scalar, an empty list or an empty mapping) below `root`, with its path, in
/// document order.
pub(crate) fn leaves<T: Tree>(root: &T) -> Vec<(String, &T)> {
    let mut out = Vec::new();
    leaves_into(root, String::new(), &mut out);
    out
}

fn leaves_into<'t, T: Tree>(node: &'t T, path: String, out: &mut Vec<(String, &'t T)>) {
    if let Some(entries) = node.entries() {
        for (k, v) in entries {
            leaves_into(v, key(&path, k), out);
        }
    } else if let Some(items) = node.items() {
        for (child, item) in item_paths(&path, items).into_iter().zip(items) {
            leaves_into(item, child, out);
        }
    } else {
        out.push((path, node));
    }
}

/// Reads a path written in this syntax. Errors say what is wrong at which character.
pub fn parse(path: &str) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'.' if i > 0 && i + 1 < bytes.len() && bytes[i + 1] != b'.' => i += 1,
            b'[' => {
                let rest = &path[i + 1..];
                if rest.starts_with('"') {
                    // A JSON string up to its closing quote, then `]`.
                    let mut de = serde_json::Deserializer::from_str(rest).into_iter::<String>();
                    let key = match de.next() {
                        Some(Ok(key)) => key,
                        _ => return Err(format!("an unterminated quoted key at {}", i + 1)),
                    };
                    let end = i + 1 + de.byte_offset();
                    if path.as_bytes().get(end) != Some(&b']') {
                        return Err(format!("expected `]` at {}", end + 1));
                    }
                    out.push(Segment::Key(key));
                    i = end + 1;
                } else {
                    let Some(close) = rest.find(']') else {
                        return Err(format!("a `[` without `]` at {}", i + 1));
                    };
                    let inner = &rest[..close];
                    out.push(if let Some(name) = inner.strip_prefix("name=") {
                        Segment::Name(name.to_owned())
                    } else {
                        Segment::Index(inner.parse().map_err(|_| {
                            format!(
                                "`[{inner}]` at {}: expected a list index, `name=NAME` or a \
                                 quoted key",
                                i + 1
                            )
                        })?)
                    });
                    i += close + 2;
                }
            }
            _ => {
                let end = path[i..].find(['.', '[']).map_or(path.len(), |e| i + e);
                if end == i {
                    return Err(format!("an empty key at {}", i + 1));
                }
                out.push(Segment::Key(path[i..end].to_owned()));
                i = end;
            }
        }
    }
    Ok(out)
}

/// Writes segments back as a path: `render(&parse(p)?) == p` for every path this module
/// writes.
pub fn render(segments: &[Segment]) -> String {
    let mut out = String::new();
    for s in segments {
        out = match s {
            Segment::Key(k) => key(&out, k),
            Segment::Index(i) => index(&out, *i),
            Segment::Name(n) => named(&out, n),
        };
    }
    out
}

/// The value at `segments` below `value`.
pub fn get<'v>(value: &'v Value, segments: &[Segment]) -> Option<&'v Value> {
    let mut v = value;
    for s in segments {
        v = match (s, v) {
            (Segment::Key(k), Value::Object(map)) => map.get(k)?,
            (Segment::Index(i), Value::Array(items)) => items.get(*i)?,
            (Segment::Name(n), Value::Array(items)) => items
                .iter()
                .find(|item| item.get("name").and_then(Value::as_str) == Some(n))?,
            _ => return None,
        };
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leaves_name_list_items_by_unique_name_and_quote_odd_keys() {
        let doc = json!({
            "metadata": {"annotations": {"sidecar.istio.io/inject": "false", "plain": 1}},
            "spec": {
                "containers": [{"name": "web", "env": []}, {"name": "side", "ports": [{"containerPort": 1}, {"containerPort": 2}]}],
                "volumes": [{"name": "a"}, {"name": "a"}],
                "empty": {}
            }
        });
        let paths: Vec<String> = leaves(&doc).into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            [
                r#"metadata.annotations["sidecar.istio.io/inject"]"#,
                "metadata.annotations.plain",
                "spec.containers[name=web].name",
                "spec.containers[name=web].env",
                "spec.containers[name=side].name",
                "spec.containers[name=side].ports[0].containerPort",
                "spec.containers[name=side].ports[1].containerPort",
                "spec.volumes[0].name",
                "spec.volumes[1].name",
                "spec.empty",
            ]
        );
    }

    #[test]
    fn every_leaf_path_parses_back_to_its_value() {
        let doc = json!({
            "a": {"b.c": [{"name": "x", "v": 1}, {"name": "y", "v": [true, null]}]},
            "k/s": {"": 3},
        });
        for (path, value) in leaves(&doc) {
            let segments = parse(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(render(&segments), path);
            assert_eq!(get(&doc, &segments), Some(value), "{path}");
        }
    }

    #[test]
    fn bad_paths_say_where() {
        for (path, want) in [
            ("a[", "a `[` without `]` at 2"),
            (
                "a[x]",
                "`[x]` at 2: expected a list index, `name=NAME` or a quoted key",
            ),
            (r#"a["b"x"#, "expected `]` at 6"),
            (r#"a["b"#, "an unterminated quoted key at 2"),
            ("a..b", "an empty key at 2"),
        ] {
            assert_eq!(parse(path).unwrap_err(), want, "{path}");
        }
    }

    #[test]
    fn yaml_nodes_and_json_values_have_the_same_leaf_paths() {
        let text = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello
  annotations:
    example.com/odd.key: "x"
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: hello
          image: reg/hello:1
          args: [a, b]
          env: []
        - name: side
          ports: [{containerPort: 1}, {containerPort: 2}]
      volumes:
        - {name: a}
        - {name: a}
      empty: {}
"#;
        let doc = crate::yaml::parse_document(text, std::path::Path::new("t.yaml")).unwrap();
        let ours: Vec<(String, Value)> = leaves(&doc)
            .into_iter()
            .map(|(p, n)| (p, n.to_json()))
            .collect();
        let json = doc.to_json();
        let theirs: Vec<(String, Value)> = leaves(&json)
            .into_iter()
            .map(|(p, v)| (p, v.clone()))
            .collect();
        assert_eq!(ours, theirs);
        assert!(ours
            .iter()
            .any(|(p, _)| p == "spec.template.spec.containers[name=hello].image"));
    }
}
