//! Custom resources checked against the `openAPIV3Schema` of their real
//! CustomResourceDefinitions, the way the Kubernetes API server checks them, plus the one thing
//! the API server does silently: a field the schema does not know is pruned without a word, so
//! here it is an error (with the closest known field when it looks like a typo).
//!
//! Pure: the caller reads the CRD files (with [`crate::yaml::parse_values`]) and hands each
//! document to [`CrdSet::add`]; each served version's schema is compiled once into a tree
//! ([`schema::Schema`]) that [`CustomResource::validate`] walks for every object of that kind.
//!
//! ```text
//! let mut crds = CrdSet::default();
//! for (line, doc) in yaml::parse_values(&text, path)? { crds.add(file, line, &doc)?; }
//! match crds.lookup("traefik.io/v1alpha1", "Middleware") {
//!     Lookup::Found(cr) => for v in cr.validate(&object) { /* v.path, v.message */ },
//!     Lookup::VersionNotServed { served, .. } => ...,
//!     Lookup::Unknown => ...,
//! }
//! ```
//!
//! What is checked: `type`, `nullable`, `required`, `enum`, `pattern` (RE2 syntax, run by the
//! `regex` crate, which follows RE2), the string `format`s the API server knows (see
//! [`format`]), numeric bounds and `multipleOf`, length, item and property counts,
//! `uniqueItems`, `x-kubernetes-list-type: set|map` uniqueness, `items`, `properties`,
//! `additionalProperties`, `x-kubernetes-preserve-unknown-fields`,
//! `x-kubernetes-int-or-string`, `x-kubernetes-embedded-resource`, and `allOf`/`anyOf`/
//! `oneOf`/`not`. Not checked: CEL rules (`x-kubernetes-validations`) and `default` (which
//! fills in values, never refuses one).

mod format;
mod schema;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind, Location, Result};

pub(crate) use schema::Violation;
use schema::{PatternCache, Schema, SchemaError};

/// A CRD document with more JSON values than this (every map, list and scalar counted) is
/// refused before its schema is looked at. The largest real CRD known (Argo CD's
/// ApplicationSet, 1.4 MB of YAML) has about 60,000; the API server itself refuses CRDs over
/// about 1.5 MB.
pub(crate) const MAX_CRD_VALUES: usize = 250_000;

/// Nesting deeper than this anywhere in a CRD document is refused before it is walked (a schema
/// level is two JSON levels: `properties`, then the field).
pub(crate) const MAX_CRD_DEPTH: usize = 2 * schema::MAX_SCHEMA_DEPTH + 16;

/// Whether a custom resource's kind is namespaced (`spec.scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Namespaced,
    Cluster,
}

/// Every CRD added, by group and kind.
#[derive(Debug, Default)]
pub(crate) struct CrdSet {
    kinds: BTreeMap<(String, String), Crd>,
    patterns: PatternCache,
}

/// One CustomResourceDefinition.
#[derive(Debug)]
struct Crd {
    group: String,
    kind: String,
    scope: Scope,
    versions: Vec<Version>,
    /// Where it was read from, for conflict messages.
    location: Location,
    /// SHA-256 of the canonical JSON of `spec`, to tell identical duplicates from conflicts.
    digest: [u8; 32],
}

#[derive(Debug)]
struct Version {
    name: String,
    served: bool,
    /// `subresources.status`: the API server drops `status` from a create or update.
    status_subresource: bool,
    schema: Arc<Schema>,
}

/// What [`CrdSet::lookup`] found for an `apiVersion` and `kind`.
#[derive(Debug)]
pub(crate) enum Lookup<'a> {
    Found(CustomResource<'a>),
    /// The group and kind are known, but the CRD does not serve this version.
    VersionNotServed {
        group: &'a str,
        #[allow(dead_code)]
        kind: &'a str,
        version: &'a str,
        served: Vec<&'a str>,
    },
    Unknown,
}

/// A served version of a CRD: its scope and its compiled schema.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CustomResource<'a> {
    crd: &'a Crd,
    version: &'a Version,
}

// The accessors beyond `scope` and `validate` serve the tests and messages to come.
#[allow(dead_code)]
impl CustomResource<'_> {
    pub(crate) fn scope(&self) -> Scope {
        self.crd.scope
    }

    pub(crate) fn group(&self) -> &str {
        &self.crd.group
    }

    pub(crate) fn kind(&self) -> &str {
        &self.crd.kind
    }

    pub(crate) fn version(&self) -> &str {
        &self.version.name
    }

    /// Where the CRD was read from.
    pub(crate) fn location(&self) -> &Location {
        &self.crd.location
    }

    /// Every problem in `object` (a whole custom resource): fields in document order, each
    /// level's `allOf`/`anyOf`/`oneOf`/`not` after its fields. `apiVersion`, `kind` and
    /// `metadata` are left to the caller, except that `metadata` must be an object; `status`
    /// is not checked when the version has the status subresource (the API server drops it
    /// from what is applied, and the controller writes it).
    pub(crate) fn validate(&self, object: &Value) -> Vec<Violation> {
        self.version
            .schema
            .validate(object, self.version.status_subresource)
    }
}

/// Whether `doc` says it is a CustomResourceDefinition (of any apiextensions version).
pub(crate) fn is_crd(doc: &Value) -> bool {
    doc.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition")
        && doc
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|v| v.starts_with("apiextensions.k8s.io/"))
}

impl CrdSet {
    /// Adds one CRD document read from `file` (its first line at `line`). A second CRD for the
    /// same group and kind is accepted when it is identical and refused when it differs.
    pub(crate) fn add(&mut self, file: &str, line: usize, doc: &Value) -> Result<()> {
        let at = |key: &str| {
            let mut location = Location::file(PathBuf::from(file)).with_key(key);
            location.line = Some(line);
            location
        };
        let fail = |key: &str, message: String| Error::new(ErrorKind::Model, message).at(at(key));

        let (values, depth) = measure(doc);
        if values > MAX_CRD_VALUES {
            return Err(fail(
                "",
                format!("the CustomResourceDefinition is too large: {values} values, at most {MAX_CRD_VALUES}"),
            ));
        }
        if depth > MAX_CRD_DEPTH {
            return Err(fail(
                "",
                format!(
                    "the CustomResourceDefinition is nested more than {MAX_CRD_DEPTH} levels deep"
                ),
            ));
        }
        let api_version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind != "CustomResourceDefinition" || api_version != "apiextensions.k8s.io/v1" {
            let found = if doc.is_object() {
                format!("kind `{kind}` (apiVersion `{api_version}`)")
            } else {
                schema::describe(doc)
            };
            let hint = if kind == "CustomResourceDefinition"
                && api_version == "apiextensions.k8s.io/v1beta1"
            {
                "; apiextensions.k8s.io/v1beta1 is not served since Kubernetes 1.22"
            } else {
                ""
            };
            return Err(fail(
                "",
                format!("expected a CustomResourceDefinition (apiVersion apiextensions.k8s.io/v1), found {found}{hint}"),
            ));
        }
        let spec = doc.get("spec").unwrap_or(&Value::Null);
        let text = |key: &str| -> Result<&str> {
            spec.pointer(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    let path = format!("spec{}", key.replace('/', "."));
                    fail(&path, format!("missing `{path}` (a non-empty string)"))
                })
        };
        let group = text("/group")?.to_owned();
        let kind = text("/names/kind")?.to_owned();
        let scope = match text("/scope")? {
            "Namespaced" => Scope::Namespaced,
            "Cluster" => Scope::Cluster,
            other => {
                return Err(fail(
                    "spec.scope",
                    format!("`spec.scope` must be Namespaced or Cluster, found `{other}`"),
                ))
            }
        };
        let Some(Value::Array(raw_versions)) = spec.get("versions") else {
            return Err(fail(
                "spec.versions",
                "missing `spec.versions` (a list)".to_owned(),
            ));
        };
        let digest = digest(spec);
        if let Some(existing) = self.kinds.get(&(group.clone(), kind.clone())) {
            if existing.digest == digest {
                return Ok(());
            }
            return Err(fail(
                "",
                format!(
                    "a different CustomResourceDefinition for {kind}.{group} is already loaded from {}; remove one of them",
                    existing.location
                ),
            ));
        }

        let mut versions = Vec::with_capacity(raw_versions.len());
        let mut schemas: Vec<(u64, Arc<Schema>, &Value)> = Vec::new();
        for (i, v) in raw_versions.iter().enumerate() {
            let key = format!("spec.versions[{i}]");
            let name = v
                .get("name")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| fail(&key, format!("missing `{key}.name`")))?;
            let served = v.get("served").and_then(Value::as_bool).unwrap_or(false);
            let raw = v.pointer("/schema/openAPIV3Schema").ok_or_else(|| {
                fail(
                    &key,
                    format!("version `{name}` has no `schema.openAPIV3Schema`"),
                )
            })?;
            // Versions often share one schema; compile it once.
            let hash = quick_hash(raw);
            let schema = match schemas.iter().find(|(h, _, r)| *h == hash && *r == raw) {
                Some((_, schema, _)) => schema.clone(),
                None => {
                    let schema = Schema::compile(raw, &mut self.patterns).map_err(
                        |SchemaError { path, message }| {
                            let mut key = format!("{key}.schema.openAPIV3Schema");
                            if !path.is_empty() {
                                if !path.starts_with('[') {
                                    key.push('.');
                                }
                                key.push_str(&path);
                            }
                            fail(
                                &key,
                                format!("invalid schema for {kind}.{group}/{name}: {message}"),
                            )
                        },
                    )?;
                    let schema = Arc::new(schema);
                    schemas.push((hash, schema.clone(), raw));
                    schema
                }
            };
            versions.push(Version {
                name: name.to_owned(),
                served,
                status_subresource: v.pointer("/subresources/status").is_some(),
                schema,
            });
        }
        let total: usize = schemas.iter().map(|(_, s, _)| s.len()).sum();
        if total > schema::MAX_SCHEMA_NODES {
            return Err(fail(
                "spec.versions",
                format!(
                    "the schemas have {total} nodes in all, at most {}",
                    schema::MAX_SCHEMA_NODES
                ),
            ));
        }
        self.kinds.insert(
            (group.clone(), kind.clone()),
            Crd {
                group,
                kind,
                scope,
                versions,
                location: at(""),
                digest,
            },
        );
        Ok(())
    }

    /// The custom resource for `apiVersion` (`group/version`) and `kind`.
    pub(crate) fn lookup<'a>(&'a self, api_version: &'a str, kind: &str) -> Lookup<'a> {
        let Some((group, version)) = api_version.split_once('/') else {
            return Lookup::Unknown; // the core group has no CRDs
        };
        let Some(crd) = self.kinds.get(&(group.to_owned(), kind.to_owned())) else {
            return Lookup::Unknown;
        };
        match crd.versions.iter().find(|v| v.name == version && v.served) {
            Some(v) => Lookup::Found(CustomResource { crd, version: v }),
            None => Lookup::VersionNotServed {
                group: &crd.group,
                kind: &crd.kind,
                version,
                served: crd
                    .versions
                    .iter()
                    .filter(|v| v.served)
                    .map(|v| v.name.as_str())
                    .collect(),
            },
        }
    }

    /// Every kind known, as `(group, kind)`, sorted.
    pub(crate) fn kinds(&self) -> impl Iterator<Item = (&str, &str)> {
        self.kinds.keys().map(|(g, k)| (g.as_str(), k.as_str()))
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.kinds.len()
    }

    #[cfg(test)]
    #[allow(dead_code)]
    pub(crate) fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }
}

impl Lookup<'_> {
    /// A message for a lookup that found nothing to validate with, naming what is known.
    pub(crate) fn explain(&self, set: &CrdSet, api_version: &str, kind: &str) -> Option<String> {
        match self {
            Lookup::Found(_) => None,
            Lookup::VersionNotServed {
                group,
                served,
                version,
                ..
            } => Some(if served.is_empty() {
                format!("{kind}.{group} has no served version (asked for `{version}`)")
            } else {
                format!(
                    "{kind}.{group} does not serve version `{version}`; served: {}",
                    served
                        .iter()
                        .map(|v| format!("{group}/{v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }),
            Lookup::Unknown => {
                let mut message = format!("no CustomResourceDefinition for {kind} ({api_version})");
                let same_kind: Vec<String> = set
                    .kinds()
                    .filter(|(_, k)| *k == kind)
                    .map(|(g, k)| format!("{k}.{g}"))
                    .collect();
                if !same_kind.is_empty() {
                    let _ = write!(message, "; known with that kind: {}", same_kind.join(", "));
                }
                Some(message)
            }
        }
    }
}

/// (number of JSON values, deepest nesting), without recursion.
fn measure(doc: &Value) -> (usize, usize) {
    let mut stack = vec![(doc, 1usize)];
    let (mut count, mut deepest) = (0, 0);
    while let Some((value, depth)) = stack.pop() {
        count += 1;
        deepest = deepest.max(depth);
        if depth > MAX_CRD_DEPTH || count > MAX_CRD_VALUES {
            break; // already refused; stop walking
        }
        match value {
            Value::Array(items) => stack.extend(items.iter().map(|v| (v, depth + 1))),
            Value::Object(map) => stack.extend(map.values().map(|v| (v, depth + 1))),
            _ => {}
        }
    }
    (count, deepest)
}

/// SHA-256 of `value` as JSON with map keys sorted, so key order does not matter.
fn digest(value: &Value) -> [u8; 32] {
    fn feed(value: &Value, hasher: &mut Sha256) {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                hasher.update(b"{");
                for key in keys {
                    hasher.update(Value::String(key.clone()).to_string().as_bytes());
                    hasher.update(b":");
                    feed(&map[key.as_str()], hasher);
                    hasher.update(b",");
                }
                hasher.update(b"}");
            }
            Value::Array(items) => {
                hasher.update(b"[");
                for item in items {
                    feed(item, hasher);
                    hasher.update(b",");
                }
                hasher.update(b"]");
            }
            scalar => hasher.update(scalar.to_string().as_bytes()),
        }
    }
    let mut hasher = Sha256::new();
    feed(value, &mut hasher);
    hasher.finalize().into()
}

/// A cheap fingerprint to find versions that share a schema (confirmed by comparing).
fn quick_hash(value: &Value) -> u64 {
    let (count, depth) = measure(value);
    (count as u64) << 16 | depth as u64
}
