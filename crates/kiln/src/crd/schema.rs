//! One version's `openAPIV3Schema`, compiled into a flat tree of [`Node`]s once, and the walk
//! that checks an object against it.
//!
//! The schema is a Kubernetes *structural* schema: every level says its `type`, and
//! `allOf`/`anyOf`/`oneOf`/`not` only add value checks (they never declare fields). So the walk
//! has two modes: the structural one decides what an object's fields are (and reports the
//! fields the API server would prune), and the value-only one, used inside those four keywords,
//! checks values and `required` but never calls a field unknown.

use std::fmt::Write as _;

use foldhash::HashMap;
use regex::Regex;
use serde_json::{Map, Number, Value};

use super::format::Format;

/// Schema levels (a level per `properties.x`, `items`, `additionalProperties`, `allOf[i]`, ...)
/// deeper than this are refused. Real CRDs stay under 30 (Argo CD's Application is the deepest
/// known); JSON has no references, so only a hostile or generated document goes further.
pub(crate) const MAX_SCHEMA_DEPTH: usize = 64;

/// More schema nodes than this in one version are refused (Argo CD's Application, the largest
/// CRD known, has about 5,000).
pub(crate) const MAX_SCHEMA_NODES: usize = 100_000;

/// A problem in a custom resource: where (kiln's field-path syntax) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    /// `spec.routes[0].middlewares[1].name`; keys that are not plain words are quoted in
    /// brackets: `metadata.annotations["example.com/x"]`. Empty for the object itself.
    pub path: String,
    pub message: String,
}

/// A compiled `openAPIV3Schema`.
#[derive(Debug)]
pub(crate) struct Schema {
    nodes: Vec<Node>,
}

/// Why a schema does not compile: the key path inside the schema and the message.
#[derive(Debug)]
pub(crate) struct SchemaError {
    pub path: String,
    pub message: String,
}

type Id = u32;

const OBJECT: u8 = 1;
const ARRAY: u8 = 2;
const STRING: u8 = 4;
const INTEGER: u8 = 8;
const NUMBER: u8 = 16;
const BOOLEAN: u8 = 32;

#[derive(Debug, Default)]
struct Node {
    /// Allowed JSON types (bits above); 0 means any.
    types: u8,
    nullable: bool,
    preserve_unknown: bool,
    embedded: bool,
    /// Fields in schema order (for messages), and a map for lookups on wide objects.
    properties: Vec<(Box<str>, Id)>,
    index: Option<HashMap<Box<str>, Id>>,
    additional: Additional,
    required: Vec<Box<str>>,
    items: Option<Id>,
    enumeration: Option<Box<[Value]>>,
    pattern: Option<Regex>,
    format: Option<Format>,
    minimum: Option<(f64, bool)>,
    maximum: Option<(f64, bool)>,
    multiple_of: Option<f64>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    min_items: Option<u64>,
    max_items: Option<u64>,
    min_properties: Option<u64>,
    max_properties: Option<u64>,
    unique_items: bool,
    list: ListType,
    all_of: Vec<Id>,
    any_of: Vec<Id>,
    one_of: Vec<Id>,
    not: Option<Id>,
}

#[derive(Debug, Default)]
enum Additional {
    /// No `additionalProperties`: fields outside `properties` are unknown.
    #[default]
    Absent,
    /// `additionalProperties: true`: anything goes.
    Any,
    /// `additionalProperties: false`.
    Forbidden,
    Schema(Id),
}

#[derive(Debug, Default)]
enum ListType {
    #[default]
    Atomic,
    Set,
    Map(Vec<Box<str>>),
}

/// Properties lists at least this long get a hash index.
const INDEX_FROM: usize = 8;

/// Compiled patterns shared between every schema of a [`super::CrdSet`]: the same patterns
/// appear hundreds of times (cert-manager's issuers repeat whole solver trees).
pub(crate) type PatternCache = HashMap<String, Regex>;

impl Schema {
    pub(crate) fn compile(
        schema: &Value,
        patterns: &mut PatternCache,
    ) -> Result<Schema, SchemaError> {
        let mut compiler = Compiler {
            nodes: Vec::new(),
            patterns,
            path: String::new(),
        };
        compiler.node(schema, 0)?;
        Ok(Schema {
            nodes: compiler.nodes,
        })
    }

    /// Number of compiled nodes (size accounting and tests).
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Checks a whole custom resource. `apiVersion`, `kind` and `metadata` at the top are not
    /// checked against the schema (they are the API server's, and metadata is checked
    /// elsewhere), except that `metadata` must be an object. With `skip_status` (the version
    /// has the status subresource, so the API server drops `status` from what is applied),
    /// `status` is not checked either.
    pub(crate) fn validate(&self, object: &Value, skip_status: bool) -> Vec<Violation> {
        let mut walk = Walk {
            nodes: &self.nodes,
            path: String::new(),
            out: Vec::new(),
        };
        match object {
            Value::Object(map) => {
                if let Some(metadata) = map.get("metadata") {
                    if !metadata.is_object() {
                        walk.path.push_str("metadata");
                        walk.report(format!("expected object, found {}", describe(metadata)));
                        walk.path.clear();
                    }
                }
                walk.object(
                    0,
                    map,
                    true,
                    Top::Skip {
                        status: skip_status,
                    },
                );
                walk.combinators(0, object);
            }
            other => walk.report(format!("expected object, found {}", describe(other))),
        }
        walk.out
    }
}

struct Compiler<'p> {
    nodes: Vec<Node>,
    patterns: &'p mut PatternCache,
    /// Where in the schema we are, for errors (`properties.spec.properties.x`).
    path: String,
}

impl Compiler<'_> {
    fn error(&self, message: impl Into<String>) -> SchemaError {
        SchemaError {
            path: self.path.clone(),
            message: message.into(),
        }
    }

    /// Compiles `value` under `key` (appended to the error path).
    fn child(&mut self, key: &str, value: &Value, depth: usize) -> Result<Id, SchemaError> {
        let len = self.path.len();
        if !self.path.is_empty() && !key.starts_with('[') {
            self.path.push('.');
        }
        self.path.push_str(key);
        let id = self.node(value, depth + 1);
        self.path.truncate(len);
        id
    }

    fn node(&mut self, value: &Value, depth: usize) -> Result<Id, SchemaError> {
        if depth > MAX_SCHEMA_DEPTH {
            return Err(self.error(format!(
                "the schema is nested more than {MAX_SCHEMA_DEPTH} levels deep"
            )));
        }
        if self.nodes.len() >= MAX_SCHEMA_NODES {
            return Err(self.error(format!("the schema has more than {MAX_SCHEMA_NODES} nodes")));
        }
        let Value::Object(map) = value else {
            return Err(self.error(format!(
                "expected a schema object, found {}",
                describe(value)
            )));
        };
        let id = self.nodes.len() as Id;
        self.nodes.push(Node::default());
        let mut node = Node::default();
        for (key, v) in map {
            match key.as_str() {
                "type" => {
                    node.types = match v.as_str() {
                        Some("object") => OBJECT,
                        Some("array") => ARRAY,
                        Some("string") => STRING,
                        Some("integer") => INTEGER,
                        Some("number") => NUMBER,
                        Some("boolean") => BOOLEAN,
                        _ => {
                            return Err(self.error(format!(
                                "`type` must be one of object, array, string, integer, number, boolean; found {}",
                                describe(v)
                            )))
                        }
                    }
                }
                "nullable" => node.nullable = self.boolean(key, v)?,
                "x-kubernetes-preserve-unknown-fields" => {
                    node.preserve_unknown = self.boolean(key, v)?
                }
                "x-kubernetes-embedded-resource" => node.embedded = self.boolean(key, v)?,
                "uniqueItems" => node.unique_items = self.boolean(key, v)?,
                "properties" => {
                    let Value::Object(props) = v else {
                        return Err(self.error(format!(
                            "`properties` must be a map, found {}",
                            describe(v)
                        )));
                    };
                    let base = self.path.len();
                    self.path.push_str(if self.path.is_empty() { "properties" } else { ".properties" });
                    let mut properties = Vec::with_capacity(props.len());
                    for (name, schema) in props {
                        let len = self.path.len();
                        push_key(&mut self.path, name);
                        let child = self.node(schema, depth + 1);
                        self.path.truncate(len);
                        properties.push((Box::from(name.as_str()), child?));
                    }
                    self.path.truncate(base);
                    node.properties = properties;
                }
                "additionalProperties" => {
                    node.additional = match v {
                        Value::Bool(true) => Additional::Any,
                        Value::Bool(false) => Additional::Forbidden,
                        _ => Additional::Schema(self.child(key, v, depth)?),
                    }
                }
                "items" => {
                    if v.is_array() {
                        return Err(self.error(
                            "`items` must be a single schema; Kubernetes does not allow a list of schemas",
                        ));
                    }
                    node.items = Some(self.child(key, v, depth)?);
                }
                "required" => {
                    node.required = self
                        .strings(key, v)?
                        .into_iter()
                        .map(Box::from)
                        .collect()
                }
                "enum" => {
                    let Value::Array(values) = v else {
                        return Err(self.error(format!("`enum` must be a list, found {}", describe(v))));
                    };
                    node.enumeration = Some(values.clone().into_boxed_slice());
                }
                "pattern" => {
                    let Some(pattern) = v.as_str() else {
                        return Err(self.error(format!("`pattern` must be a string, found {}", describe(v))));
                    };
                    node.pattern = Some(self.pattern(pattern)?);
                }
                "format" => {
                    let Some(format) = v.as_str() else {
                        return Err(self.error(format!("`format` must be a string, found {}", describe(v))));
                    };
                    node.format = Format::parse(format);
                }
                "minimum" => node.minimum = Some((self.number(key, v)?, node.minimum.is_some_and(|m| m.1))),
                "maximum" => node.maximum = Some((self.number(key, v)?, node.maximum.is_some_and(|m| m.1))),
                "exclusiveMinimum" | "exclusiveMaximum" => {} // read below, after both are known
                "multipleOf" => {
                    let m = self.number(key, v)?;
                    if m <= 0.0 {
                        return Err(self.error("`multipleOf` must be greater than 0"));
                    }
                    node.multiple_of = Some(m);
                }
                "minLength" => node.min_length = Some(self.count(key, v)?),
                "maxLength" => node.max_length = Some(self.count(key, v)?),
                "minItems" => node.min_items = Some(self.count(key, v)?),
                "maxItems" => node.max_items = Some(self.count(key, v)?),
                "minProperties" => node.min_properties = Some(self.count(key, v)?),
                "maxProperties" => node.max_properties = Some(self.count(key, v)?),
                "x-kubernetes-list-type" => {
                    node.list = match v.as_str() {
                        Some("atomic") => ListType::Atomic,
                        Some("set") => ListType::Set,
                        Some("map") => ListType::Map(Vec::new()),
                        _ => {
                            return Err(self.error(format!(
                                "`x-kubernetes-list-type` must be atomic, set or map, found {}",
                                describe(v)
                            )))
                        }
                    }
                }
                "x-kubernetes-list-map-keys" => {} // read below
                "allOf" | "anyOf" | "oneOf" => {
                    let Value::Array(branches) = v else {
                        return Err(self.error(format!("`{key}` must be a list, found {}", describe(v))));
                    };
                    let mut ids = Vec::with_capacity(branches.len());
                    for (i, branch) in branches.iter().enumerate() {
                        ids.push(self.child(&format!("{key}[{i}]"), branch, depth)?);
                    }
                    match key.as_str() {
                        "allOf" => node.all_of = ids,
                        "anyOf" => node.any_of = ids,
                        _ => node.one_of = ids,
                    }
                }
                "not" => node.not = Some(self.child(key, v, depth)?),
                "$ref" => {
                    return Err(self.error(
                        "`$ref` is not allowed in a CustomResourceDefinition schema",
                    ))
                }
                // Documentation, defaulting, CEL rules (x-kubernetes-validations, not
                // evaluated here), map types and the rest do not constrain a value kiln checks.
                _ => {}
            }
        }
        if map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
            node.types = INTEGER | STRING;
        }
        for (key, bound) in [
            ("exclusiveMinimum", &mut node.minimum),
            ("exclusiveMaximum", &mut node.maximum),
        ] {
            if let Some(v) = map.get(key) {
                let exclusive = self.boolean(key, v)?;
                if let Some(bound) = bound {
                    bound.1 = exclusive;
                }
            }
        }
        if let ListType::Map(keys) = &mut node.list {
            if let Some(v) = map.get("x-kubernetes-list-map-keys") {
                *keys = self
                    .strings("x-kubernetes-list-map-keys", v)?
                    .into_iter()
                    .map(Box::from)
                    .collect();
            }
        }
        if !node.properties.is_empty() && !matches!(node.additional, Additional::Absent) {
            return Err(
                self.error("`properties` and `additionalProperties` are mutually exclusive")
            );
        }
        if node.properties.len() >= INDEX_FROM {
            node.index = Some(
                node.properties
                    .iter()
                    .map(|(name, id)| (name.clone(), *id))
                    .collect(),
            );
        }
        self.nodes[id as usize] = node;
        Ok(id)
    }

    fn pattern(&mut self, pattern: &str) -> Result<Regex, SchemaError> {
        if let Some(regex) = self.patterns.get(pattern) {
            return Ok(regex.clone());
        }
        let regex = Regex::new(pattern)
            .map_err(|e| self.error(format!("`pattern` does not compile: {e}")))?;
        self.patterns.insert(pattern.to_owned(), regex.clone());
        Ok(regex)
    }

    fn boolean(&self, key: &str, v: &Value) -> Result<bool, SchemaError> {
        v.as_bool().ok_or_else(|| {
            self.error(format!(
                "`{key}` must be true or false, found {}",
                describe(v)
            ))
        })
    }

    fn number(&self, key: &str, v: &Value) -> Result<f64, SchemaError> {
        v.as_f64()
            .ok_or_else(|| self.error(format!("`{key}` must be a number, found {}", describe(v))))
    }

    fn count(&self, key: &str, v: &Value) -> Result<u64, SchemaError> {
        v.as_u64().ok_or_else(|| {
            self.error(format!(
                "`{key}` must be a non-negative integer, found {}",
                describe(v)
            ))
        })
    }

    fn strings<'v>(&self, key: &str, v: &'v Value) -> Result<Vec<&'v str>, SchemaError> {
        let bad = || {
            self.error(format!(
                "`{key}` must be a list of strings, found {}",
                describe(v)
            ))
        };
        let Value::Array(items) = v else {
            return Err(bad());
        };
        items.iter().map(|i| i.as_str().ok_or_else(bad)).collect()
    }
}

struct Walk<'s> {
    nodes: &'s [Node],
    /// The path of the value being checked; pushed and truncated on the way down, so a
    /// string is allocated only for a violation.
    path: String,
    out: Vec<Violation>,
}

impl Walk<'_> {
    fn report(&mut self, message: String) {
        self.out.push(Violation {
            path: self.path.clone(),
            message,
        });
    }

    fn at_key(&mut self, key: &str, f: impl FnOnce(&mut Self)) {
        let len = self.path.len();
        push_key(&mut self.path, key);
        f(self);
        self.path.truncate(len);
    }

    fn at_index(&mut self, index: usize, f: impl FnOnce(&mut Self)) {
        let len = self.path.len();
        let _ = write!(self.path, "[{index}]");
        f(self);
        self.path.truncate(len);
    }

    /// Checks `value` against node `id`. `structural` is false inside `allOf`/`anyOf`/
    /// `oneOf`/`not`, where fields are never unknown.
    fn check(&mut self, id: Id, value: &Value, structural: bool) {
        let nodes = self.nodes;
        let node = &nodes[id as usize];
        if value.is_null() {
            if !node.nullable && node.types != 0 {
                self.report(format!("expected {}, found null", type_names(node.types)));
            }
            return;
        }
        let mut found = type_bit(value);
        if found == INTEGER && node.types & INTEGER == 0 {
            found = NUMBER; // every integer is a number
        }
        if node.types != 0 && node.types & found == 0 {
            // A whole number written as a float is an integer (as the API server reads it).
            let whole = found == NUMBER && value.as_f64().is_some_and(|f| f.fract() == 0.0);
            if !(whole && node.types & INTEGER != 0) {
                self.report(format!(
                    "expected {}, found {}",
                    type_names(node.types),
                    describe(value)
                ));
                return;
            }
        }
        if let Some(allowed) = &node.enumeration {
            if !allowed.iter().any(|a| json_eq(a, value)) {
                let list: Vec<String> = allowed.iter().map(plain).collect();
                self.report(format!(
                    "{} is not one of: {}",
                    short(value),
                    list.join(", ")
                ));
            }
        }
        match value {
            Value::String(s) => self.string(node, s),
            Value::Number(n) => self.number(node, n),
            Value::Array(items) => self.array(id, items, structural),
            Value::Object(map) => self.object(id, map, structural, Top::No),
            _ => {}
        }
        self.combinators(id, value);
    }

    fn string(&mut self, node: &Node, s: &str) {
        if node.min_length.is_some() || node.max_length.is_some() {
            let len = s.chars().count() as u64;
            if let Some(min) = node.min_length {
                if len < min {
                    self.report(format!(
                        "expected at least {min} character{}, found {len}",
                        plural(min)
                    ));
                }
            }
            if let Some(max) = node.max_length {
                if len > max {
                    self.report(format!(
                        "expected at most {max} character{}, found {len}",
                        plural(max)
                    ));
                }
            }
        }
        if let Some(pattern) = &node.pattern {
            if !pattern.is_match(s) {
                self.report(format!(
                    "{} does not match the pattern `{}`",
                    short_str(s),
                    pattern.as_str()
                ));
            }
        }
        if let Some(format) = node.format {
            if !format.accepts(s) {
                self.report(format!("{} is not a valid {}", short_str(s), format.name()));
            }
        }
    }

    fn number(&mut self, node: &Node, n: &Number) {
        let Some(f) = n.as_f64() else { return };
        if let Some((min, exclusive)) = node.minimum {
            if f < min || (exclusive && f == min) {
                let op = if exclusive {
                    "greater than"
                } else {
                    "at least"
                };
                self.report(format!("expected a number {op} {}, found {n}", num(min)));
            }
        }
        if let Some((max, exclusive)) = node.maximum {
            if f > max || (exclusive && f == max) {
                let op = if exclusive { "less than" } else { "at most" };
                self.report(format!("expected a number {op} {}, found {n}", num(max)));
            }
        }
        if let Some(m) = node.multiple_of {
            let ok = match (n.as_i64(), m.fract() == 0.0 && m.abs() < 9.0e15) {
                (Some(i), true) => i % (m as i64) == 0,
                _ => {
                    let q = f / m;
                    (q - q.round()).abs() <= 1e-9 * q.abs().max(1.0)
                }
            };
            if !ok {
                self.report(format!("expected a multiple of {}, found {n}", num(m)));
            }
        }
    }

    fn array(&mut self, id: Id, items: &[Value], structural: bool) {
        let nodes = self.nodes;
        let node = &nodes[id as usize];
        let len = items.len() as u64;
        if let Some(min) = node.min_items {
            if len < min {
                self.report(format!(
                    "expected at least {min} item{}, found {len}",
                    plural(min)
                ));
            }
        }
        if let Some(max) = node.max_items {
            if len > max {
                self.report(format!(
                    "expected at most {max} item{}, found {len}",
                    plural(max)
                ));
            }
        }
        match &node.list {
            ListType::Map(keys) if !keys.is_empty() => {
                let key_of = |item: &Value| -> Vec<Value> {
                    keys.iter()
                        .map(|k| item.get(&**k).cloned().unwrap_or(Value::Null))
                        .collect()
                };
                let tuples: Vec<Vec<Value>> = items.iter().map(key_of).collect();
                for (i, j) in duplicates(&tuples) {
                    let described: Vec<String> = keys
                        .iter()
                        .zip(&tuples[j])
                        .map(|(k, v)| format!("{k}={}", short(v)))
                        .collect();
                    let message = format!(
                        "duplicate entry with {} (also at [{i}])",
                        described.join(", ")
                    );
                    self.at_index(j, |w| w.report(message));
                }
            }
            ListType::Set => self.unique(items, "duplicate entry"),
            _ if node.unique_items => self.unique(items, "duplicate item"),
            _ => {}
        }
        if let Some(item) = node.items {
            for (i, value) in items.iter().enumerate() {
                self.at_index(i, |w| w.check(item, value, structural));
            }
        }
    }

    fn unique(&mut self, items: &[Value], what: &str) {
        for (i, j) in duplicates(items) {
            let message = format!("{what} {} (also at [{i}])", short(&items[j]));
            self.at_index(j, |w| w.report(message));
        }
    }

    /// Checks an object's fields. At the top, some are skipped (see [`Schema::validate`]).
    fn object(&mut self, id: Id, map: &Map<String, Value>, structural: bool, top: Top) {
        let nodes = self.nodes;
        let node = &nodes[id as usize];
        let len = map.len() as u64;
        if let Some(min) = node.min_properties {
            if len < min {
                self.report(format!(
                    "expected at least {min} field{}, found {len}",
                    plural(min)
                ));
            }
        }
        if let Some(max) = node.max_properties {
            if len > max {
                let names: Vec<&str> = map.keys().map(String::as_str).collect();
                self.report(format!(
                    "expected at most {max} field{}, found {len}: {}",
                    plural(max),
                    names.join(", ")
                ));
            }
        }
        for name in &node.required {
            if top.skips(name) {
                continue;
            }
            if !map.contains_key(&**name) {
                self.at_key(name, |w| {
                    w.report(format!("missing required field `{name}`"))
                });
            }
        }
        for (key, value) in map {
            if top.skips(key) {
                continue;
            }
            if let Some(child) = node.property(key) {
                self.at_key(key, |w| w.check(child, value, structural));
                continue;
            }
            match node.additional {
                Additional::Schema(child) => {
                    self.at_key(key, |w| w.check(child, value, structural));
                }
                Additional::Any => {}
                Additional::Forbidden => {
                    self.at_key(key, |w| {
                        w.report(format!("field `{key}` is not allowed here"))
                    });
                }
                Additional::Absent => {
                    let allowed = !structural
                        || node.preserve_unknown
                        || (node.embedded && is_top_meta(key))
                        // An object schema without `type` (only in non-structural,
                        // pre-v1 CRDs) says nothing about its fields.
                        || node.types & OBJECT == 0;
                    if !allowed {
                        let message = unknown_field(key, &node.properties);
                        self.at_key(key, |w| w.report(message));
                    }
                }
            }
        }
        if node.embedded {
            for field in ["apiVersion", "kind"] {
                match map.get(field) {
                    Some(Value::String(s)) if !s.is_empty() => {}
                    Some(other) => self.at_key(field, |w| {
                        w.report(format!(
                            "expected a non-empty string, found {}",
                            describe(other)
                        ))
                    }),
                    None => self.at_key(field, |w| {
                        w.report(format!("missing required field `{field}`"))
                    }),
                }
            }
            if let Some(metadata) = map.get("metadata") {
                if !metadata.is_object() {
                    self.at_key("metadata", |w| {
                        w.report(format!("expected object, found {}", describe(metadata)))
                    });
                }
            }
        }
    }

    /// `allOf`, `anyOf`, `oneOf` and `not` of node `id`, in value-only mode.
    fn combinators(&mut self, id: Id, value: &Value) {
        let nodes = self.nodes;
        let node = &nodes[id as usize];
        if node.all_of.is_empty()
            && node.any_of.is_empty()
            && node.one_of.is_empty()
            && node.not.is_none()
        {
            return;
        }
        for &branch in &node.all_of {
            self.check(branch, value, false);
        }
        if !node.any_of.is_empty() {
            let mut failures = Vec::new();
            let mut matched = false;
            for &branch in &node.any_of {
                let v = self.trial(branch, value);
                if v.is_empty() {
                    matched = true;
                    break;
                }
                failures.push(v);
            }
            if !matched {
                let message = format!(
                    "does not satisfy any of the {} alternatives: {}",
                    node.any_of.len(),
                    summarize(&failures, &self.path)
                );
                self.report(message);
            }
        }
        if !node.one_of.is_empty() {
            let mut failures = Vec::new();
            let mut matched = 0;
            for &branch in &node.one_of {
                let v = self.trial(branch, value);
                if v.is_empty() {
                    matched += 1;
                } else {
                    failures.push(v);
                }
            }
            match matched {
                1 => {}
                0 => {
                    let message = format!(
                        "does not satisfy any of the {} alternatives (exactly one is required): {}",
                        node.one_of.len(),
                        summarize(&failures, &self.path)
                    );
                    self.report(message);
                }
                n => self.report(format!(
                    "satisfies {n} of the {} alternatives; exactly one is required",
                    node.one_of.len()
                )),
            }
        }
        if let Some(branch) = node.not {
            if self.trial(branch, value).is_empty() {
                self.report("matches a schema it must not match (`not`)".to_owned());
            }
        }
    }

    /// The violations of one alternative, without reporting them.
    fn trial(&mut self, branch: Id, value: &Value) -> Vec<Violation> {
        let kept = std::mem::take(&mut self.out);
        self.check(branch, value, false);
        std::mem::replace(&mut self.out, kept)
    }
}

impl Node {
    fn property(&self, key: &str) -> Option<Id> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self
                .properties
                .iter()
                .find(|(name, _)| &**name == key)
                .map(|(_, id)| *id),
        }
    }
}

/// Whether an object is the resource itself, whose API-server-owned fields are skipped.
#[derive(Clone, Copy)]
enum Top {
    No,
    Skip { status: bool },
}

impl Top {
    fn skips(self, key: &str) -> bool {
        match self {
            Top::No => false,
            Top::Skip { status } => is_top_meta(key) || (status && key == "status"),
        }
    }
}

fn is_top_meta(key: &str) -> bool {
    matches!(key, "apiVersion" | "kind" | "metadata")
}

/// "unknown field `secrett` (did you mean `secret`?); known fields: secret, realm, ..."
fn unknown_field(key: &str, known: &[(Box<str>, Id)]) -> String {
    if known.is_empty() {
        return format!("unknown field `{key}`: this object has no fields of its own");
    }
    let mut names: Vec<&str> = known.iter().map(|(name, _)| &**name).collect();
    let suggestion = names
        .iter()
        .map(|name| (typo_distance(key, name), *name))
        .filter(|(d, name)| *d <= typo_limit(key, name))
        .min_by_key(|(d, _)| *d)
        .map(|(_, name)| name)
        .or_else(|| {
            names
                .iter()
                .filter(|name| truncated(key, name))
                .min_by_key(|name| name.len().abs_diff(key.len()))
                .copied()
        });
    let mut message = format!("unknown field `{key}`");
    if let Some(suggestion) = suggestion {
        let _ = write!(message, " (did you mean `{suggestion}`?)");
        names.retain(|n| *n != suggestion);
        names.insert(0, suggestion);
    }
    const SHOWN: usize = 20;
    let _ = write!(
        message,
        "; known fields: {}",
        names[..names.len().min(SHOWN)].join(", ")
    );
    if names.len() > SHOWN {
        let _ = write!(message, ", and {} more", names.len() - SHOWN);
    }
    message
}

/// Edit distance that also treats a change of case alone as a near miss.
fn typo_distance(a: &str, b: &str) -> usize {
    if a.eq_ignore_ascii_case(b) {
        return 0;
    }
    strsim::damerau_levenshtein(a, b)
}

/// A name cut short or run on (`secret` for `secretName`), ignoring case.
fn truncated(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    short.len() >= 4
        && long.is_char_boundary(short.len())
        && long[..short.len()].eq_ignore_ascii_case(short)
}

/// Up to one edit for short names, two from 6 characters, three from 12.
fn typo_limit(a: &str, b: &str) -> usize {
    let len = a.chars().count().min(b.chars().count());
    match len {
        0..=2 => 0,
        3..=5 => 1,
        6..=11 => 2,
        _ => 3,
    }
}

/// Pairs (first, duplicate) of equal values; each duplicate reported once.
fn duplicates<T: Dup>(items: &[T]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    if items.len() < 2 {
        return out;
    }
    if items.iter().all(Dup::is_scalar) {
        let mut seen: HashMap<String, usize> = HashMap::default();
        for (j, item) in items.iter().enumerate() {
            if let Some(&i) = seen.get(&item.key()) {
                out.push((i, j));
            } else {
                seen.insert(item.key(), j);
            }
        }
    } else {
        for j in 1..items.len() {
            if let Some(i) = (0..j).find(|&i| items[i].same(&items[j])) {
                out.push((i, j));
            }
        }
    }
    out
}

trait Dup {
    fn is_scalar(&self) -> bool;
    fn key(&self) -> String;
    fn same(&self, other: &Self) -> bool;
}

impl Dup for Value {
    fn is_scalar(&self) -> bool {
        !matches!(self, Value::Array(_) | Value::Object(_))
    }
    fn key(&self) -> String {
        match self {
            // Numbers by value, so 1 and 1.0 are one entry.
            Value::Number(n) => format!("n{}", n.as_f64().unwrap_or(f64::NAN)),
            other => other.to_string(),
        }
    }
    fn same(&self, other: &Self) -> bool {
        json_eq(self, other)
    }
}

impl Dup for Vec<Value> {
    fn is_scalar(&self) -> bool {
        self.iter().all(Dup::is_scalar)
    }
    fn key(&self) -> String {
        self.iter().map(Dup::key).collect::<Vec<_>>().join("\u{0}")
    }
    fn same(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(a, b)| json_eq(a, b))
    }
}

/// JSON equality where numbers compare by value (1 == 1.0), as in JSON Schema.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// The first violation of each failed alternative, for one message.
fn summarize(failures: &[Vec<Violation>], base: &str) -> String {
    failures
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let first = &v[0];
            let rel = first.path.strip_prefix(base).unwrap_or(&first.path);
            let rel = rel.strip_prefix('.').unwrap_or(rel);
            if rel.is_empty() {
                format!("({}) {}", i + 1, first.message)
            } else {
                format!("({}) {rel}: {}", i + 1, first.message)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Appends `key` to a field path: `.key`, or `["key"]` when the key is not a plain word.
pub(crate) fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'$' || b == b'@');
    if plain {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&Value::String(key.to_owned()).to_string());
        path.push(']');
    }
}

fn type_bit(value: &Value) -> u8 {
    match value {
        Value::Object(_) => OBJECT,
        Value::Array(_) => ARRAY,
        Value::String(_) => STRING,
        Value::Number(n) if n.is_i64() || n.is_u64() => INTEGER,
        Value::Number(_) => NUMBER,
        Value::Bool(_) => BOOLEAN,
        Value::Null => 0,
    }
}

/// `integer or string`; "number" also admits integers.
fn type_names(types: u8) -> String {
    let names: Vec<&str> = [
        (OBJECT, "object"),
        (ARRAY, "array"),
        (INTEGER, "integer"),
        (NUMBER, "number"),
        (STRING, "string"),
        (BOOLEAN, "boolean"),
    ]
    .into_iter()
    .filter(|(bit, _)| types & bit != 0)
    .map(|(_, name)| name)
    .collect();
    names.join(" or ")
}

/// What a value is, for "expected X, found ..." messages: `string "3"`, `integer 3`,
/// `boolean true`, `null`, `object`, `array`.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) if n.is_i64() || n.is_u64() => format!("integer {n}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {}", short_str(s)),
        Value::Array(items) => {
            format!("array ({} item{})", items.len(), plural(items.len() as u64))
        }
        Value::Object(_) => "object".to_owned(),
    }
}

/// A value as JSON, cut short.
fn short(value: &Value) -> String {
    match value {
        Value::String(s) => short_str(s),
        Value::Array(_) | Value::Object(_) => {
            let text = value.to_string();
            cut(&text)
        }
        other => other.to_string(),
    }
}

fn short_str(s: &str) -> String {
    Value::String(cut(s)).to_string()
}

fn cut(s: &str) -> String {
    const MAX: usize = 60;
    match s.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}...", &s[..at]),
        None => s.to_owned(),
    }
}

/// An enum value as written in a list: strings bare, the rest as JSON.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => short(other),
    }
}

fn num(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
