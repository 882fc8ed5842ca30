//! The `lint:` section of kiln.yaml: what exists outside the rendered tree, the custom
//! resources the platform uses and their schemas, which objects policies single out, and the
//! exceptions.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `lint:` in kiln.yaml.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LintConfig {
    /// What exists in the cluster without being rendered here.
    #[serde(default)]
    pub external: External,
    /// Every non-built-in kind the platform renders.
    #[serde(default)]
    pub custom_resources: Vec<CustomResource>,
    /// Ingresses of dashboards and admin endpoints: they must carry `auth_annotation`.
    #[serde(default)]
    pub auth_required: Vec<ObjectSelector>,
    /// The annotation that puts an Ingress behind an auth middleware.
    #[serde(default)]
    pub auth_annotation: Option<String>,
    /// Data-stateful StatefulSets: they must use `updateStrategy: OnDelete`.
    #[serde(default)]
    pub data_stateful: Vec<ObjectSelector>,
    /// Secret-manager items (a 1Password vault item) and the fields each holds, in their exact
    /// case: a reference to a key the item does not hold leaves the variable unset.
    #[serde(default)]
    pub items: Vec<Item>,
    /// Rules silenced for some objects, each with its reason.
    #[serde(default)]
    pub exceptions: Vec<Exception>,
}

/// Things that exist in the cluster but are not rendered by this platform.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct External {
    /// Namespaces created elsewhere (by k3s, an operator, a Helm install).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Secrets created by hand or by another system, in every namespace that uses them (a
    /// registry pull secret, a TLS secret).
    #[serde(default)]
    pub secrets: Vec<String>,
    /// ConfigMaps created elsewhere, in every namespace that uses them.
    #[serde(default)]
    pub config_maps: Vec<String>,
    /// ServiceAccounts created elsewhere, in every namespace that uses them.
    #[serde(default)]
    pub service_accounts: Vec<String>,
}

/// A custom resource kind the platform renders, with its schema.
///
/// The schema describes every top-level key besides `apiVersion`, `kind` and `metadata`:
/// a mapping lists the allowed keys; `string`, `integer`, `number`, `boolean`, `object` (any
/// mapping) and `any` are leaf types; `[T]` is a list of T; `{"*": T}` is a mapping of any keys
/// to T.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CustomResource {
    /// The kind's `apiVersion` (`onepassword.com/v1`).
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// The kind (`OnePasswordItem`).
    pub kind: String,
    /// Whether objects of the kind live in a namespace (the default) or are cluster-scoped.
    #[serde(default = "yes")]
    pub namespaced: bool,
    /// A built-in kind an object of this kind creates under its own name (a OnePasswordItem
    /// provides a `Secret`).
    #[serde(default)]
    pub provides: Option<String>,
    /// For a kind that syncs a secret-manager item into the Secret it provides: the field of
    /// the object naming the item (`spec.itemPath`), matched against `lint.items`.
    #[serde(default)]
    pub item_path: Option<String>,
    /// A small schema in kiln's own format (see above), for a kind without a CRD; a kind whose
    /// CRD the platform keeps in `crds/` (or renders) is checked against the CRD instead.
    #[serde(default)]
    pub schema: Option<Value>,
}

/// A secret-manager item and its fields.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// The item's path as the objects name it (`vaults/k3/items/auth-secret`); `*` matches
    /// any run of characters.
    pub path: String,
    /// The item's field names, in their exact case.
    pub fields: Vec<String>,
}

impl Item {
    pub(crate) fn matches(&self, path: &str) -> bool {
        glob(&self.path, path)
    }
}

fn yes() -> bool {
    true
}

/// Picks objects by kind and name (`*` matches any run of characters).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectSelector {
    /// The object's kind, exactly.
    pub kind: String,
    /// A glob over the object's name; `*` (every name) by default.
    #[serde(default = "star")]
    pub name: String,
}

fn star() -> String {
    "*".to_owned()
}

impl ObjectSelector {
    /// Whether the object of `kind` named `name` is one of those picked.
    pub(crate) fn matches(&self, kind: &str, name: &str) -> bool {
        self.kind == kind && glob(&self.name, name)
    }
}

/// Silences one rule, with a reason, for the objects it selects (everything, when it names no
/// environment, app or object).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    /// The id of the rule silenced.
    pub rule: String,
    /// Why the rule does not apply, listed by `kiln lint`.
    pub reason: String,
    /// Only in this environment.
    #[serde(default)]
    pub env: Option<String>,
    /// Only on objects rendered by this app's components.
    #[serde(default)]
    pub app: Option<String>,
    /// Only on objects a chart bundle renders from `charts/<chart>/` (what a third-party chart
    /// needs, such as its operator's API token, excepted once for all its objects).
    #[serde(default)]
    pub chart: Option<String>,
    /// Only on the objects this selects.
    #[serde(default)]
    pub object: Option<ObjectSelector>,
    /// Only the findings about this environment variable or config key.
    #[serde(default)]
    pub variable: Option<String>,
}

/// What an exception is matched against: one finding's rule and the object it is about.
pub(crate) struct Subject<'a> {
    /// The rule that found it.
    pub rule: &'a str,
    /// The environment.
    pub env: &'a str,
    /// The app whose component rendered the object, if one did.
    pub app: Option<&'a str>,
    /// The chart under `charts/` that rendered the object, if one did.
    pub chart: Option<&'a str>,
    /// The object's kind.
    pub kind: &'a str,
    /// The object's name.
    pub name: &'a str,
    /// The environment variable or config key the finding is about, if any.
    pub variable: Option<&'a str>,
}

impl Exception {
    /// Whether this exception silences the finding about `s`.
    pub(crate) fn matches(&self, s: &Subject<'_>) -> bool {
        self.rule == s.rule
            && self
                .variable
                .as_deref()
                .is_none_or(|v| Some(v) == s.variable)
            && self.env.as_deref().is_none_or(|e| e == s.env)
            && self.app.as_deref().is_none_or(|a| Some(a) == s.app)
            && self.chart.as_deref().is_none_or(|c| Some(c) == s.chart)
            && self
                .object
                .as_ref()
                .is_none_or(|o| o.matches(s.kind, s.name))
    }

    pub(crate) fn scope(&self) -> String {
        let mut parts = Vec::new();
        if let Some(env) = &self.env {
            parts.push(format!("env {env}"));
        }
        if let Some(app) = &self.app {
            parts.push(format!("app {app}"));
        }
        if let Some(chart) = &self.chart {
            parts.push(format!("chart {chart}"));
        }
        if let Some(o) = &self.object {
            parts.push(format!("{} {}", o.kind, o.name));
        }
        if let Some(v) = &self.variable {
            parts.push(format!("variable {v}"));
        }
        if parts.is_empty() {
            "everywhere".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// `*` matches any run of characters; everything else matches itself.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first)
        || !text[first.len()..].ends_with(last)
        || text.len() < first.len() + last.len()
    {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    #[test]
    fn glob() {
        for (p, t, want) in [
            ("*", "x", true),
            ("*-backend", "app-backend", true),
            ("*-backend", "app-site", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "acb", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("a*a", "a", false),
        ] {
            assert_eq!(super::glob(p, t), want, "{p} {t}");
        }
    }
}
