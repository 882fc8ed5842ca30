//! The platform model: the typed shape of `kiln.yaml` and `environments/*.yaml`.
//!
//! These types only describe what users write; [`crate::resolve`] turns them into the effective
//! per-environment view that templates see. This module does no IO.

mod lint;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use lint::{CustomResource, Exception, External, LintConfig, ObjectSelector};

/// `kiln.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformFile {
    pub name: String,
    #[serde(default = "default_output")]
    pub output: String,
    #[serde(default = "default_regenerate")]
    pub regenerate: String,
    #[serde(default)]
    pub registry: Option<String>,
    #[serde(default)]
    pub cluster: Cluster,
    #[serde(default)]
    pub values: BTreeMap<String, Value>,
    #[serde(default)]
    pub kinds: BTreeMap<String, KindDef>,
    #[serde(default)]
    pub apps: BTreeMap<String, AppDef>,
    /// Where the platform's release version lives (seed 004's root `package.json`).
    #[serde(default)]
    pub release: Option<ReleaseConfig>,
    /// `kiln lint`'s configuration: external references, custom resources, exceptions.
    #[serde(default)]
    pub lint: LintConfig,
    /// `kiln diff`'s settings: `diff: { ignore: [field paths] }`.
    #[serde(default)]
    pub diff: DiffConfig,
}

/// `diff:` in kiln.yaml: field paths `kiln diff` leaves out (kiln's field-path syntax; a path
/// matches everything below it, a leading `*` matches at any depth).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DiffConfig {
    /// The paths to leave out, e.g. `metadata.labels["app.kubernetes.io/version"]`.
    #[serde(default)]
    pub ignore: Vec<String>,
}

/// `release:` in kiln.yaml: the platform's release version, for `kiln release`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseConfig {
    /// A JSON file with a top-level `version` (stable SemVer), relative to the platform root.
    pub version_file: String,
}

fn default_output() -> String {
    "k8s".to_owned()
}

fn default_regenerate() -> String {
    "kiln render".to_owned()
}

/// Facts about the cluster that templates and policies may use.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    #[serde(default)]
    pub distribution: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub nodes: Option<u32>,
    #[serde(default)]
    pub cni: Option<String>,
    /// Whether the CNI enforces NetworkPolicies.
    #[serde(default)]
    pub network_policies: bool,
}

/// A component kind: the template set that renders it and its lowest defaults layer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindDef {
    #[serde(default)]
    pub templates: Option<String>,
    /// Validated and merged from the YAML node tree, which keeps positions.
    #[serde(default)]
    #[allow(dead_code)]
    pub defaults: Value,
}

/// An app of the catalogue: one workload layer per component kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppDef {
    #[serde(default)]
    pub description: Option<String>,
    pub components: BTreeMap<String, Value>,
}

/// `environments/<name>.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvFile {
    pub dir: String,
    pub namespace: String,
    pub channel: Channel,
    #[serde(default)]
    pub state: EnvState,
    #[serde(default)]
    pub values: BTreeMap<String, Value>,
    #[serde(default)]
    pub place: BTreeMap<String, Place>,
    #[serde(default)]
    pub defaults: BTreeMap<String, Value>,
    #[serde(default)]
    pub bundles: Vec<Bundle>,
    #[serde(default)]
    pub apps: BTreeMap<String, BTreeMap<String, Value>>,
}

/// The image tag rule of an environment (see [`crate::TagRule`] for the exact rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Tags are git commit SHAs (7 to 40 lowercase hex digits).
    Sha,
    /// SemVer alpha pre-releases, `X.Y.Z-alpha.RUN.ATTEMPT`.
    Alpha,
    /// SemVer release candidates, `X.Y.Z-rc.N`.
    Rc,
    /// Stable SemVer, `X.Y.Z`.
    Stable,
}

/// A workload's own tag rule, overriding its environment's channel. Only `pinned` exists: an
/// upstream image pinned to its own immutable version (`7-alpine`, `2.17.2-pg16`, a commit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ComponentChannel {
    Pinned,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvState {
    #[default]
    Open,
    /// Every workload scaled to zero; volumes and claims kept.
    Closed,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Place {
    pub dir: String,
    #[serde(default)]
    pub namespace: Option<String>,
}

/// A template set rendered once for an environment (namespaces, RBAC, shared secrets).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    pub templates: String,
    pub dir: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub values: BTreeMap<String, Value>,
}

/// One component's workload settings. Every layer has this shape with any subset of fields;
/// the merged result has it too.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    pub image: Option<String>,
    pub tag: Option<String>,
    /// `pinned`: the tag follows the `pinned` rule instead of the environment's channel.
    pub channel: Option<ComponentChannel>,
    pub replicas: Option<u32>,
    pub port: Option<u16>,
    pub hosts: Option<Vec<String>>,
    pub tls: Option<bool>,
    pub health: Option<Health>,
    pub startup_seconds: Option<u32>,
    pub resources: Option<Resources>,
    pub onepassword: Option<String>,
    pub secret: Option<String>,
    pub env: Option<BTreeMap<String, String>>,
    pub secret_env: Option<BTreeMap<String, SecretKeyRef>>,
    pub storage: Option<Storage>,
    pub labels: Option<BTreeMap<String, String>>,
    pub annotations: Option<BTreeMap<String, String>>,
    pub values: Option<BTreeMap<String, Value>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    pub path: Option<String>,
    pub port: Option<u16>,
    pub liveness: Option<Probe>,
    pub readiness: Option<Probe>,
    pub startup: Option<Probe>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    pub path: Option<String>,
    pub initial_delay: Option<u32>,
    pub period: Option<u32>,
    pub timeout: Option<u32>,
    pub failure_threshold: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    pub requests: Option<BTreeMap<String, String>>,
    pub limits: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecretKeyRef {
    pub secret: String,
    pub key: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    pub size: Option<String>,
    pub class: Option<String>,
}

/// A Kubernetes name of the DNS-1123 label form: lower-case alphanumerics and `-`, starting and
/// ending with an alphanumeric, at most 63 characters. App, environment, kind, template set and
/// namespace names must be labels; so must every directory segment kiln writes.
pub fn check_dns_label(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if name.len() > 63 {
        return Err(format!("`{name}` is longer than 63 characters"));
    }
    let ok_chars = name
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
    let ok_ends = !name.starts_with('-') && !name.ends_with('-');
    if ok_chars && ok_ends {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a DNS-1123 label (lower-case letters, digits and `-`, starting and \
             ending with a letter or digit)",
            name.escape_debug()
        ))
    }
}

/// A relative directory inside the output tree: `.` or DNS-1123 labels joined by `/`.
pub fn check_rel_dir(dir: &str) -> Result<(), String> {
    if dir == "." {
        return Ok(());
    }
    for segment in dir.split('/') {
        check_dns_label(segment).map_err(|e| format!("directory `{}`: {e}", dir.escape_debug()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        for ok in ["a", "shop", "my-app", "a1", &"a".repeat(63)] {
            assert_eq!(check_dns_label(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "..",
            ".",
            "A",
            "a/b",
            "a\\b",
            "a\0b",
            "-a",
            "a-",
            "a_b",
            &"a".repeat(64),
        ] {
            assert!(check_dns_label(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_rel_dir("."), Ok(()));
        assert_eq!(check_rel_dir("overlays/staging"), Ok(()));
        for bad in ["", "/abs", "a/../b", "a//b", "./a", "a/"] {
            assert!(check_rel_dir(bad).is_err(), "{bad:?}");
        }
    }
}
