//! The platform model: the typed shape of `kiln.yaml` and `environments/*.yaml`.
//!
//! These types only describe what users write; [`crate::resolve`] turns them into the effective
//! per-environment view that templates see. This module does no IO.

mod lint;
mod patch;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) use lint::glob;
pub(crate) use lint::Subject;
pub use lint::{CustomResource, Exception, External, Item, LintConfig, ObjectSelector};
pub use patch::{JsonOp, PatchDef, PatchSelector};

/// A mapping users write whose order they choose: kept as written (`env` above all: Kubernetes
/// resolves `$(VAR)` only to variables listed earlier). Layers merge into the order of the
/// lowest layer that sets each key, later layers' new keys after it.
pub type Ordered<V> = indexmap::IndexMap<String, V>;

/// `kiln.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformFile {
    /// The platform's name, a DNS-1123 label.
    pub name: String,
    /// The output root: one visible directory directly in the platform directory (`k8s` by
    /// default).
    #[serde(default = "default_output")]
    pub output: String,
    /// The command named in every generated file's header (`kiln render` by default).
    #[serde(default = "default_regenerate")]
    pub regenerate: String,
    /// The registry relative image names are joined to; `None`: images are used as written.
    #[serde(default)]
    pub registry: Option<String>,
    /// Facts about the cluster, visible to templates as `platform.cluster`.
    #[serde(default)]
    pub cluster: Cluster,
    /// Free platform-wide values, visible to templates as `platform.values`.
    #[serde(default)]
    pub values: Ordered<Value>,
    /// Component kinds by name.
    #[serde(default)]
    pub kinds: BTreeMap<String, KindDef>,
    /// The app catalogue, by app name.
    #[serde(default)]
    pub apps: BTreeMap<String, AppDef>,
    /// Where the platform's release version lives (seed 004's root `package.json`).
    #[serde(default)]
    pub release: Option<ReleaseConfig>,
    /// `kiln lint`'s configuration: external references, custom resources, exceptions.
    #[serde(default)]
    pub lint: LintConfig,
    /// How image tags are written and which upstream tags are accepted by exception.
    #[serde(default)]
    pub tags: TagPolicy,
    /// `kiln diff`'s settings: `diff: { ignore: [field paths] }`.
    #[serde(default)]
    pub diff: DiffConfig,
    /// The platform's environment order (`environments: [dev, staging, production]`), as
    /// `kiln envs`, `kiln diff` and `kiln affected` list them: these first, in this order;
    /// environments not listed follow (by name; in `diff`, by channel then name). Every name
    /// must be an environment's.
    #[serde(default)]
    pub environments: Vec<String>,
}

/// `tags:` in kiln.yaml: the platform's tag policy on top of the channel rules.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TagPolicy {
    /// Render SemVer tags (`alpha`, `rc`, `stable` channels) without a leading `v`: `v0.5.0`
    /// is deployed as `0.5.0`. Only for a platform whose CI publishes tags without the `v`
    /// (seed 004); by default a tag renders exactly as written.
    #[serde(default)]
    pub strip_v: bool,
    /// Upstream (`channel: pinned`) tags accepted although the pinned rule refuses them,
    /// each with its reason, like lint exceptions.
    #[serde(default)]
    pub exceptions: Vec<TagException>,
}

/// One accepted upstream tag: `{ image: redis, tag: alpine, reason: ... }`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TagException {
    /// The image as the workload writes it (`redis`, `docker.io/library/redis`).
    pub image: String,
    /// The accepted tag, exactly as written.
    pub tag: String,
    /// Why the moving tag is acceptable.
    pub reason: String,
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
    /// The Kubernetes distribution (`k3s`).
    #[serde(default)]
    pub distribution: Option<String>,
    /// The Kubernetes version (`v1.34`).
    #[serde(default)]
    pub version: Option<String>,
    /// The number of nodes.
    #[serde(default)]
    pub nodes: Option<u32>,
    /// The CNI plugin (`flannel`).
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
    /// The template set under `templates/`; `None`: the set named like the kind.
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
    /// A one-line description of the app.
    #[serde(default)]
    pub description: Option<String>,
    /// The app's components: kind name to the catalogue's workload layer for it.
    pub components: BTreeMap<String, Value>,
}

/// `environments/<name>.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvFile {
    /// The environment's root inside the output tree (`.` for the root itself).
    pub dir: String,
    /// The default namespace of everything the environment renders.
    pub namespace: String,
    /// The image tag rule of the environment's components.
    pub channel: Channel,
    /// `open`, or `closed` to scale every workload to zero.
    #[serde(default)]
    pub state: EnvState,
    /// Free environment values, visible to templates as `env.values`.
    #[serde(default)]
    pub values: Ordered<Value>,
    /// Where each kind's components land, by kind name.
    #[serde(default)]
    pub place: BTreeMap<String, Place>,
    /// The environment's workload layer per kind, by kind name.
    #[serde(default)]
    pub defaults: BTreeMap<String, Value>,
    /// Template sets rendered once for the environment.
    #[serde(default)]
    pub bundles: Vec<Bundle>,
    /// The apps the environment carries: app name to its entry, which maps each component
    /// kind to the highest workload layer, plus `deploy: false` with a `reason`.
    #[serde(default)]
    pub apps: BTreeMap<String, BTreeMap<String, Value>>,
    /// Changes to rendered objects, applied after rendering and before lint.
    #[serde(default)]
    pub patches: Vec<PatchDef>,
}

/// The image tag rule of an environment (see [`crate::tag::TagRule`] for the exact rules).
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
    /// The tag follows the `pinned` rule: any tag with a digit and no `latest` part.
    Pinned,
}

/// Whether an environment's workloads run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvState {
    /// Workloads run with their declared replicas.
    #[default]
    Open,
    /// Every workload scaled to zero; volumes and claims kept.
    Closed,
}

/// Where one kind's components land in an environment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Place {
    /// The directory, relative to the environment's `dir`; `{app}` is replaced by the app name.
    pub dir: String,
    /// The components' namespace; `None`: the environment's.
    #[serde(default)]
    pub namespace: Option<String>,
}

/// A template set rendered once for an environment (namespaces, RBAC, shared secrets).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// The template set rendered for the bundle; for a chart bundle, the set whose
    /// `values.yaml.j2` renders the chart's values.
    pub templates: String,
    /// Where the bundle's files land, relative to the environment's root.
    pub dir: String,
    /// The namespace its objects (and a chart's release) live in; the environment's by default.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Free values the bundle's templates read as `bundle.values`.
    #[serde(default)]
    pub values: Ordered<Value>,
    /// A Helm chart under `charts/<chart>/` (the platform's own, or vendored and pinned in
    /// `kiln.lock`): the bundle's objects are that chart's, rendered by `helm template`.
    #[serde(default)]
    pub chart: Option<String>,
    /// The chart's release name (`.Release.Name`); the chart's name by default.
    #[serde(default)]
    pub release: Option<String>,
}

/// One component's workload settings. Every layer has this shape with any subset of fields;
/// the merged result has it too.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// The image repository; joined to the platform's `registry` unless it contains a `/` or
    /// the workload is `channel: pinned`.
    pub image: Option<String>,
    /// The image tag, checked against the tag rule.
    pub tag: Option<String>,
    /// An image digest (`sha256:<64 hex>`), appended as `@sha256:...`; with a tag or alone
    /// (alone only for an upstream, `channel: pinned` image).
    pub digest: Option<String>,
    /// `pinned`: the tag follows the `pinned` rule instead of the environment's channel.
    pub channel: Option<ComponentChannel>,
    /// The declared replica count (a closed environment runs 0).
    pub replicas: Option<u32>,
    /// The most copies that may run at once, rollouts included (`1`: a singleton, like a
    /// scheduler that must not run twice). Lint fails on more replicas, and on a rolling
    /// update that would start another copy before the old one stops.
    pub max_replicas: Option<u32>,
    /// The container port; the Service targets it.
    pub port: Option<u16>,
    /// Public hostnames; none means no Ingress.
    pub hosts: Option<Vec<String>>,
    /// Whether the Ingress serves TLS, with a certificate from cert-manager.
    pub tls: Option<bool>,
    /// The health endpoint and the probes that use it.
    pub health: Option<Health>,
    /// The declared worst-case start time in seconds; lint checks the startup budget covers
    /// it.
    pub startup_seconds: Option<u32>,
    /// Container resource requests and limits.
    pub resources: Option<Resources>,
    /// The 1Password item (`vaults/<vault>/items/<item>`) synced into the component's Secret.
    pub onepassword: Option<String>,
    /// The name of the Secret the component reads; `None`: `<app>-secrets`.
    pub secret: Option<String>,
    /// Plain (non-secret) environment variables, in written order.
    pub env: Option<Ordered<String>>,
    /// Environment variables read from a Secret by reference, in written order.
    pub secret_env: Option<Ordered<SecretKeyRef>>,
    /// The component's persistent volume.
    pub storage: Option<Storage>,
    /// Extra pod labels.
    pub labels: Option<Ordered<String>>,
    /// Extra pod annotations.
    pub annotations: Option<Ordered<String>>,
    /// Free extras for the kind's templates.
    pub values: Option<Ordered<Value>>,
    /// Containers that run to completion before the pod's containers start, in the order
    /// written, by name (`migrate: { command: [...] }`). Templates see them as the list
    /// `app.init_containers`, each resolved ([`Container`]).
    pub init_containers: Option<Ordered<Container>>,
    /// Containers that run beside the component's own, in the order written, by name.
    /// Templates see them as the list `app.sidecars`, each resolved ([`Container`]).
    pub sidecars: Option<Ordered<Container>>,
}

/// An extra container of a component's pod (`init_containers.<name>`, `sidecars.<name>`).
/// Without `image`, it runs the component's own image (reference, tag and digest); with one,
/// the image follows the same rules as the component's: a bare name is the platform's, joined
/// to the registry and bound to the environment's channel (its tag defaults to the
/// component's), and `channel: pinned` marks an upstream image used as written.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Container {
    /// The image; the component's own when left out.
    pub image: Option<String>,
    /// The image tag, checked against the container's rule.
    pub tag: Option<String>,
    /// An image digest (`sha256:<64 hex>`).
    pub digest: Option<String>,
    /// `pinned`: an upstream image with its own version.
    pub channel: Option<ComponentChannel>,
    /// The entrypoint (Kubernetes `command`); the image's when left out.
    pub command: Option<Vec<String>>,
    /// The arguments (Kubernetes `args`).
    pub args: Option<Vec<String>>,
    /// Plain environment variables, in the order written.
    pub env: Option<Ordered<String>>,
    /// Variables read from a Secret by reference.
    pub secret_env: Option<Ordered<SecretKeyRef>>,
    /// Named container ports (`{ metrics: 9090 }`), in the order written.
    pub ports: Option<Ordered<u16>>,
    /// Requests and limits.
    pub resources: Option<Resources>,
    /// Probes, as for a component; `health.port` defaults to the first of `ports`.
    pub health: Option<Health>,
}

/// `health:`: the app's health endpoint and its probes. `path`, `grpc`, `tcp`, `exec` and
/// `headers` here are what every probe checks unless the probe names its own check.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// The HTTP health endpoint (an HTTP GET probe).
    pub path: Option<String>,
    /// The port probes check; the workload's `port` by default.
    pub port: Option<u16>,
    /// A gRPC health check instead of an HTTP GET.
    pub grpc: Option<GrpcCheck>,
    /// A TCP connect instead of an HTTP GET.
    pub tcp: Option<TcpCheck>,
    /// A command run in the container instead of an HTTP GET (exit 0 is healthy).
    pub exec: Option<Vec<String>>,
    /// Headers sent with an HTTP GET probe.
    pub headers: Option<Vec<HttpHeader>>,
    /// The liveness probe (restarts a hung container).
    pub liveness: Option<Probe>,
    /// The readiness probe (traffic only to ready pods).
    pub readiness: Option<Probe>,
    /// The startup probe (holds the others back while the app starts).
    pub startup: Option<Probe>,
}

/// One probe: its timing, and optionally its own check (`path`, `grpc`, `tcp` or `exec`),
/// which replaces the one `health` gives. `exec`, `grpc` and `tcp` take the place of an HTTP
/// `path` given at the same level (a lower layer's path does not turn a gRPC probe into an
/// HTTP one); two of them at one level are an error.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    /// The HTTP path this probe checks.
    pub path: Option<String>,
    /// A gRPC health check.
    pub grpc: Option<GrpcCheck>,
    /// A TCP connect.
    pub tcp: Option<TcpCheck>,
    /// A command run in the container.
    pub exec: Option<Vec<String>>,
    /// Headers sent with this probe's HTTP GET (replacing `health.headers`).
    pub headers: Option<Vec<HttpHeader>>,
    /// `initialDelaySeconds`.
    pub initial_delay: Option<u32>,
    /// `periodSeconds`.
    pub period: Option<u32>,
    /// `timeoutSeconds`.
    pub timeout: Option<u32>,
    /// `failureThreshold`.
    pub failure_threshold: Option<u32>,
}

/// A gRPC health check (`grpc.health.v1.Health/Check`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcCheck {
    /// The port; `health.port` by default.
    pub port: Option<u16>,
    /// The service name sent in the request; empty (the server's overall health) by default.
    pub service: Option<String>,
}

/// A TCP connect check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TcpCheck {
    /// The port; `health.port` by default.
    pub port: Option<u16>,
}

/// A header of an HTTP GET probe.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpHeader {
    /// The header name (`Host`, `Authorization`).
    pub name: String,
    /// Its value.
    pub value: String,
}

/// Container resources, as Kubernetes quantities by resource name (`cpu: 100m`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// `resources.requests`.
    pub requests: Option<Ordered<String>>,
    /// `resources.limits`.
    pub limits: Option<Ordered<String>>,
}

/// An environment variable's value taken from a key of a Secret.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecretKeyRef {
    /// The Secret's name.
    pub secret: String,
    /// The key in the Secret, in its exact case.
    pub key: String,
}

/// A workload's persistent volume.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    /// The requested size, a Kubernetes quantity (`10Gi`).
    pub size: Option<String>,
    /// The StorageClass name (`local-path`).
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
