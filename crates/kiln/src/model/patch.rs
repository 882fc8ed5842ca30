//! `patches:` in an environment file: changes to rendered objects, applied after rendering and
//! before lint (see [`crate::patch`] for the semantics, which also reads each entry's position).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One patch: the objects it selects and either a merge patch or RFC 6902 operations.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PatchDef {
    /// Which rendered objects of the environment the patch changes; it must select one at least.
    pub select: PatchSelector,
    /// A strategic-merge-style patch: a mapping merged into each selected object.
    #[serde(default)]
    pub merge: Option<Value>,
    /// RFC 6902 JSON patch operations, applied in order to each selected object.
    #[serde(default)]
    pub json: Option<Vec<JsonOp>>,
}

/// Selects rendered objects; every field given must match (`*` in `name` and `namespace`
/// matches any run of characters).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PatchSelector {
    /// The object's `kind` (`Deployment`).
    #[serde(default)]
    pub kind: Option<String>,
    /// The object's `metadata.name`, a glob.
    #[serde(default)]
    pub name: Option<String>,
    /// The object's `metadata.namespace`, a glob.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Labels the object's `metadata.labels` must all carry with these values.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Only objects rendered by this app's components.
    #[serde(default)]
    pub app: Option<String>,
}

/// One RFC 6902 operation as written; `op` is checked when the patch is resolved.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JsonOp {
    /// `add`, `remove`, `replace`, `move`, `copy` or `test`.
    pub op: String,
    /// A JSON pointer (RFC 6901): `/spec/template/spec/containers/0/args/-`.
    pub path: String,
    /// The source pointer of `move` and `copy`.
    #[serde(default)]
    pub from: Option<String>,
    /// The value of `add`, `replace` and `test` (checked against the YAML node, since `null`
    /// is a value).
    #[serde(default)]
    pub value: Option<Value>,
}
