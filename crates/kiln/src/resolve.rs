//! From sources to the resolved platform: validate every file against the model, merge the
//! workload layers, and compute the derived facts templates select on. Pure: no IO.
//!
//! Layers, lowest first: `kinds.<kind>.defaults` (kiln.yaml) < `apps.<app>.components.<kind>`
//! (kiln.yaml) < `defaults.<kind>` (environment) < `apps.<app>.<kind>` (environment). Mappings
//! merge key by key; scalars and lists are replaced. Each leaf remembers the file, key and line
//! that set it, for `kiln explain`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::crd::CrdSet;
use crate::error::{Error, ErrorKind, Location, Result};
use crate::load::{
    SourceFile, Sources, CRDS_DIR, ENVIRONMENTS_DIR, FILES_DIR, PLATFORM_FILE, TEMPLATES_DIR,
};
use crate::model::{
    check_dns_label, check_rel_dir, Bundle, Channel, Cluster, Container, EnvFile, EnvState,
    GrpcCheck, Health, Ordered, PlatformFile, Probe, ReleaseConfig, TcpCheck, Workload,
};
use crate::tag::TagRule;
use crate::yaml::{self, Node, NodeValue};

/// A validated platform with every environment resolved.
#[derive(Debug, Clone)]
pub struct Platform {
    /// The platform directory, as given to [`crate::load`].
    pub root: PathBuf,
    /// The platform's name (`name:` of kiln.yaml).
    pub name: String,
    /// The output root, relative to the platform root.
    pub output: String,
    /// The command named in every generated file's header; one line.
    pub regenerate: String,
    /// The registry relative image names are joined to.
    pub registry: Option<String>,
    /// Facts about the cluster (`platform.cluster` in templates).
    pub cluster: Cluster,
    /// Free platform-wide values (`platform.values` in templates).
    pub values: crate::model::Ordered<Value>,
    /// Kind name to template set name.
    pub kinds: BTreeMap<String, String>,
    /// The app catalogue, by app name.
    pub apps: BTreeMap<String, CatalogueApp>,
    /// In the platform's order: those `environments:` of kiln.yaml lists, in its order, then
    /// the others by name.
    pub environments: Vec<Environment>,
    /// `environments:` of kiln.yaml: the names listed, in order (empty: no order given).
    pub environment_order: Vec<String>,
    /// Every file under `templates/`, paths relative to it; sorted.
    pub templates: Vec<SourceFile>,
    /// Data files under `files/`, readable by templates as `files["name"]`.
    pub files: Vec<SourceFile>,
    /// `release:` of kiln.yaml (where the platform version lives), for `kiln release`.
    pub release: Option<ReleaseConfig>,
    /// `kiln lint`'s configuration: external references, custom resources, exceptions.
    pub lint: crate::model::LintConfig,
    /// The schemas of the platform's custom resources, from the CRDs under `crds/`.
    pub(crate) crds: Arc<CrdSet>,
    /// `tags:` of kiln.yaml: whether SemVer tags lose their `v`, accepted upstream tags.
    pub tags: crate::model::TagPolicy,
}

/// An app of the catalogue.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogueApp {
    /// Its one-line description, if it has one.
    pub description: Option<String>,
    /// The kinds of its components, sorted.
    pub kinds: Vec<String>,
}

/// One environment, resolved: every deployed component with its effective settings.
#[derive(Debug, Clone)]
pub struct Environment {
    /// The environment's name: its file name without `.yaml`.
    pub name: String,
    /// Its file, relative to the platform root (`environments/prod.yaml`).
    pub file: PathBuf,
    /// The environment's root inside the output tree (`.` for the root itself).
    pub dir: String,
    /// The default namespace of everything it renders.
    pub namespace: String,
    /// The tag rule of its components (those not `channel: pinned`).
    pub channel: Channel,
    /// Whether its workloads run (`closed`: every replica count is 0).
    pub state: EnvState,
    /// Free environment values (`env.values` in templates).
    pub values: crate::model::Ordered<Value>,
    /// Sorted by app, then kind.
    pub components: Vec<Component>,
    /// Catalogue apps the environment lists with `deploy: false`.
    pub not_deployed: Vec<NotDeployed>,
    /// Its bundles, in written order.
    pub bundles: Vec<BundleUnit>,
    /// `patches:`, applied to the rendered objects before anything reads them.
    pub patches: Vec<crate::patch::Patch>,
}

/// An app an environment lists with `deploy: false`.
#[derive(Debug, Clone, Serialize)]
pub struct NotDeployed {
    /// The app's name.
    pub app: String,
    /// Why it is not deployed (`reason:`).
    pub reason: String,
}

/// A bundle placed in the output tree.
#[derive(Debug, Clone, Serialize)]
pub struct BundleUnit {
    /// The template set it renders.
    pub templates: String,
    /// Relative to the output root.
    pub dir: String,
    /// The namespace of its objects: the bundle's, else the environment's.
    pub namespace: String,
    /// Free values its templates read as `bundle.values`.
    pub values: crate::model::Ordered<Value>,
    /// The Helm chart whose objects the bundle renders, if it is a chart bundle.
    pub chart: Option<ChartUnit>,
}

/// A chart bundle's chart: `charts/<name>/` of the platform, and its release name.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChartUnit {
    /// The chart's name: its directory under `charts/`.
    pub name: String,
    /// The release name (`.Release.Name`): the bundle's `release`, else the chart's name.
    pub release: String,
}

/// One component of one app in one environment, with its effective settings.
#[derive(Debug, Clone)]
pub struct Component {
    /// The app's name.
    pub app: String,
    /// The component's kind.
    pub kind: String,
    /// The template set the kind renders.
    pub templates: String,
    /// Relative to the output root.
    pub dir: String,
    /// Its namespace: the kind's `place` namespace, else the environment's.
    pub namespace: String,
    /// The effective settings: the four layers merged.
    pub workload: Workload,
    /// The rule the image tag follows: the environment's channel, or `pinned`.
    pub tag_rule: TagRule,
    /// Facts computed from the settings (image reference, replicas, budget, Secret).
    pub derived: Derived,
    /// For each set leaf (`health.liveness.period`), where its value came from.
    /// Paths and sources are shared (`Arc`): a kind's defaults give the same source to every
    /// component, and a 1000-app fleet holds 120,000 of them.
    pub provenance: BTreeMap<Arc<str>, Source>,
}

/// Facts kiln computes from the settings; the template selection rules live here.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Derived {
    /// `registry/image:tag`.
    pub image_ref: String,
    /// The effective replica count: the declared one, or 0 in a closed environment.
    pub replicas: u32,
    /// Two or more replicas: spread pods with anti-affinity.
    pub multi_replica: bool,
    /// A PodDisruptionBudget only for two or more replicas; a singleton's budget would block
    /// every node drain.
    pub pdb: Option<Pdb>,
    /// The Secret the component reads (`secret`, or `<app>-secrets`).
    pub secret: String,
    /// The component's probes as they run: each with its one check resolved from `health`.
    pub probes: Probes,
    /// `init_containers`, resolved, in the order written.
    pub init_containers: Vec<ResolvedContainer>,
    /// `sidecars`, resolved, in the order written.
    pub sidecars: Vec<ResolvedContainer>,
}

/// The three probes of a container; a probe is `None` when its block is not given or no layer
/// gives it a check (`path`, `grpc`, `tcp` or `exec`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Probes {
    /// `livenessProbe`.
    pub liveness: Option<EffectiveProbe>,
    /// `readinessProbe`.
    pub readiness: Option<EffectiveProbe>,
    /// `startupProbe`.
    pub startup: Option<EffectiveProbe>,
}

/// One probe with its check resolved: `handler` says which of the other fields apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EffectiveProbe {
    /// `http`, `grpc`, `tcp` or `exec`.
    pub handler: &'static str,
    /// The HTTP path (`http`).
    pub path: Option<String>,
    /// The port (`http`, `grpc`, `tcp`).
    pub port: Option<u16>,
    /// The gRPC service name (`grpc`), if given.
    pub service: Option<String>,
    /// The command (`exec`).
    pub command: Option<Vec<String>>,
    /// The HTTP headers (`http`; empty otherwise).
    pub headers: Vec<crate::model::HttpHeader>,
    /// `initialDelaySeconds`.
    pub initial_delay: Option<u32>,
    /// `periodSeconds`.
    pub period: Option<u32>,
    /// `timeoutSeconds`.
    pub timeout: Option<u32>,
    /// `failureThreshold`.
    pub failure_threshold: Option<u32>,
}

/// An init container or sidecar as templates see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedContainer {
    /// The container's name (its key).
    pub name: String,
    /// `registry/image:tag[@digest]`, or the component's own reference.
    pub image_ref: String,
    /// The entrypoint, if given.
    pub command: Option<Vec<String>>,
    /// The arguments, if given.
    pub args: Option<Vec<String>>,
    /// Plain variables in the order written (empty when none).
    pub env: Ordered<String>,
    /// Secret references (empty when none).
    pub secret_env: Ordered<crate::model::SecretKeyRef>,
    /// Ports in the order written.
    pub ports: Vec<NamedPort>,
    /// Requests and limits (empty when none).
    pub resources: crate::model::Resources,
    /// Its probes, resolved like the component's.
    pub probes: Probes,
}

/// A named container port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedPort {
    /// The port's name (at most 15 characters).
    pub name: String,
    /// The port number.
    pub port: u16,
}

/// One level's check (`health` or a probe block): `exec`, `grpc` or `tcp` before `path`.
fn level_check<'h>(
    path: Option<&'h String>,
    grpc: Option<&'h GrpcCheck>,
    tcp: Option<&'h TcpCheck>,
    exec: Option<&'h Vec<String>>,
) -> std::result::Result<Option<(&'static str, Check<'h>)>, (&'static str, String)> {
    let given: Vec<&str> = [
        grpc.map(|_| "grpc"),
        tcp.map(|_| "tcp"),
        exec.map(|_| "exec"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let [.., last] = given[..] {
        if given.len() > 1 {
            return Err((
                last,
                format!(
                    "`{}` are alternative checks of one probe: keep one (set the others to null \
                     in a higher layer to replace a lower layer's)",
                    given.join("`, `")
                ),
            ));
        }
    }
    Ok(match (grpc, tcp, exec, path) {
        (Some(g), ..) => Some(("grpc", Check::Grpc(g))),
        (_, Some(t), ..) => Some(("tcp", Check::Tcp(t))),
        (_, _, Some(e), _) => Some(("exec", Check::Exec(e))),
        (_, _, _, Some(p)) => Some(("http", Check::Http(p))),
        _ => None,
    })
}

#[derive(Clone, Copy)]
enum Check<'h> {
    Http(&'h String),
    Grpc(&'h GrpcCheck),
    Tcp(&'h TcpCheck),
    Exec(&'h Vec<String>),
}

/// Resolves `health` into the probes that run. An error names the key (`health.liveness`)
/// and why.
pub fn effective_probes(health: Option<&Health>) -> std::result::Result<Probes, (String, String)> {
    let Some(health) = health else {
        return Ok(Probes::default());
    };
    let base = level_check(
        health.path.as_ref(),
        health.grpc.as_ref(),
        health.tcp.as_ref(),
        health.exec.as_ref(),
    )
    .map_err(|(field, why)| (format!("health.{field}"), why))?;
    let one = |field: &str,
               probe: Option<&Probe>|
     -> std::result::Result<Option<EffectiveProbe>, (String, String)> {
        let Some(probe) = probe else {
            return Ok(None);
        };
        let own = level_check(
            probe.path.as_ref(),
            probe.grpc.as_ref(),
            probe.tcp.as_ref(),
            probe.exec.as_ref(),
        )
        .map_err(|(check, why)| (format!("health.{field}.{check}"), why))?;
        let Some((handler, check)) = own.or(base) else {
            return Ok(None);
        };
        let mut out = EffectiveProbe {
            handler,
            path: None,
            port: health.port,
            service: None,
            command: None,
            headers: Vec::new(),
            initial_delay: probe.initial_delay,
            period: probe.period,
            timeout: probe.timeout,
            failure_threshold: probe.failure_threshold,
        };
        match check {
            Check::Http(path) => {
                out.path = Some(path.clone());
                out.headers = probe
                    .headers
                    .as_ref()
                    .or(health.headers.as_ref())
                    .cloned()
                    .unwrap_or_default();
            }
            Check::Grpc(g) => {
                out.port = g.port.or(health.port);
                out.service = g.service.clone();
            }
            Check::Tcp(t) => out.port = t.port.or(health.port),
            Check::Exec(command) => {
                out.port = None;
                out.command = Some(command.clone());
            }
        }
        Ok(Some(out))
    };
    Ok(Probes {
        liveness: one("liveness", health.liveness.as_ref())?,
        readiness: one("readiness", health.readiness.as_ref())?,
        startup: one("startup", health.startup.as_ref())?,
    })
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pdb {
    pub min_available: u32,
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    pub file: Arc<Path>,
    pub key: Arc<str>,
    pub line: usize,
}

impl Source {
    /// The file, line and key of the value, for an error about it.
    pub fn location(&self) -> Location {
        Location {
            file: self.file.to_path_buf(),
            line: Some(self.line),
            column: None,
            key: Some(self.key.to_string()),
        }
    }
}

/// Computes the derived facts of a merged workload.
///
/// The image reference is `image[:tag][@digest]`. An image the platform builds (a bare name,
/// following its environment's channel) is joined to the registry; an upstream image
/// (`channel: pinned`) or a name with a `/` is used as written, so `redis` pinned to `7-alpine`
/// is `redis:7-alpine`.
pub fn derive(
    app: &str,
    workload: &Workload,
    registry: Option<&str>,
    state: EnvState,
    upstream: bool,
) -> Derived {
    let declared = workload.replicas.unwrap_or(1);
    let replicas = if state == EnvState::Closed {
        0
    } else {
        declared
    };
    Derived {
        image_ref: image_ref(
            workload.image.as_deref().unwrap_or_default(),
            workload.tag.as_deref(),
            workload.digest.as_deref(),
            registry,
            upstream,
        ),
        replicas,
        multi_replica: replicas >= 2,
        pdb: (replicas >= 2).then_some(Pdb { min_available: 1 }),
        secret: workload
            .secret
            .clone()
            .unwrap_or_else(|| format!("{app}-secrets")),
        probes: Probes::default(),
        init_containers: Vec::new(),
        sidecars: Vec::new(),
    }
}

/// `image[:tag][@digest]`, joined to the registry for a bare name the platform builds.
fn image_ref(
    image: &str,
    tag: Option<&str>,
    digest: Option<&str>,
    registry: Option<&str>,
    upstream: bool,
) -> String {
    let mut image_ref = match registry {
        Some(registry) if !image.contains('/') && !upstream => {
            format!("{}/{image}", registry.trim_end_matches('/'))
        }
        _ => image.to_owned(),
    };
    if let Some(tag) = tag.filter(|t| !t.is_empty()) {
        image_ref.push(':');
        image_ref.push_str(tag);
    }
    if let Some(digest) = digest {
        image_ref.push('@');
        image_ref.push_str(digest);
    }
    image_ref
}

/// Validates and resolves a platform read by [`crate::load`]. Every image tag must follow its
/// rule ([`TagRule`]); SemVer tags lose their leading `v`.
pub fn resolve(sources: &Sources) -> Result<Platform> {
    resolve_with(sources, true)
}

/// [`resolve`], except that a tag breaking its rule is kept as written instead of failing: what
/// `set-image` and `promote` read, so that they can replace a bad tag.
pub(crate) fn resolve_lenient(sources: &Sources) -> Result<Platform> {
    resolve_with(sources, false)
}

fn resolve_with(sources: &Sources, strict_tags: bool) -> Result<Platform> {
    let platform_path = &sources.platform.path;
    let platform_node = yaml::parse_document(&sources.platform.text, platform_path)?;
    let file: PlatformFile = typed(&platform_node, platform_path, "")?;
    let at = |key: &str| {
        let (line, column) = platform_node.position_of(key);
        Location::at(platform_path, line, column).with_key(key)
    };
    let model_err = |key: &str, msg: String| Error::new(ErrorKind::Model, msg).at(at(key));

    check_dns_label(&file.name).map_err(|e| model_err("name", e))?;
    check_output(&file.output)
        .and_then(|()| check_output_apart(&file.output))
        .map_err(|e| model_err("output", e))?;
    // `regenerate` is written into every generated file's header comment: a line break in it
    // would put text of the user's choosing outside the comment, into the manifests.
    if let Some(c) = file.regenerate.chars().find(|c| c.is_control()) {
        return Err(model_err(
            "regenerate",
            format!(
                "the command must be one line without control characters (found U+{:04X}); it \
                 is written into a comment in every generated file",
                c as u32
            ),
        ));
    }
    if let Some(release) = &file.release {
        check_output(&release.version_file).map_err(|e| model_err("release.version_file", e))?;
    }

    let template_sets: Vec<&str> = sources
        .templates
        .iter()
        .filter_map(|t| t.path.to_str()?.split_once('/').map(|(set, _)| set))
        .collect();
    let has_set = |set: &str| template_sets.contains(&set);

    let mut kinds = BTreeMap::new();
    for (kind, def) in &file.kinds {
        check_dns_label(kind)
            .map_err(|e| name_error(&platform_node, platform_path, "kinds", kind, e))?;
        let set = def.templates.clone().unwrap_or_else(|| kind.clone());
        if !has_set(&set) {
            return Err(model_err(
                &format!("kinds.{kind}"),
                format!("kind `{kind}` renders template set `{set}`, but templates/{set}/ has no templates"),
            ));
        }
        let key = format!("kinds.{kind}.defaults");
        typed::<Workload>(&platform_node, platform_path, &key)?;
        kinds.insert(kind.clone(), set);
    }

    let mut apps = BTreeMap::new();
    for (app, def) in &file.apps {
        check_dns_label(app)
            .map_err(|e| name_error(&platform_node, platform_path, "apps", app, e))?;
        for kind in def.components.keys() {
            let key = format!("apps.{app}.components.{kind}");
            if !kinds.contains_key(kind) {
                return Err(model_err(&key, unknown_kind(kind, &kinds)));
            }
            typed::<Workload>(&platform_node, platform_path, &key)?;
        }
        apps.insert(
            app.clone(),
            CatalogueApp {
                description: def.description.clone(),
                kinds: def.components.keys().cloned().collect(),
            },
        );
    }

    let mut platform = Platform {
        root: sources.root.clone(),
        name: file.name.clone(),
        output: file.output.clone(),
        regenerate: file.regenerate.clone(),
        registry: file.registry.clone(),
        cluster: file.cluster.clone(),
        values: file.values.clone(),
        kinds,
        apps,
        environments: Vec::new(),
        environment_order: Vec::new(),
        templates: sources.templates.clone(),
        files: sources.files.clone(),
        release: file.release.clone(),
        lint: file.lint.clone(),
        crds: Arc::new(crds(&sources.crds)?),
        tags: file.tags.clone(),
    };

    // Environments resolve independently, on every core; the first error in file order wins.
    let environments = crate::par::par_map(&sources.environments, |source| {
        resolve_env(&platform, &platform_node, source, &has_set, strict_tags)
    });
    for env in environments {
        platform.environments.push(env?);
    }
    platform.environments.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(pair) = platform
        .environments
        .windows(2)
        .find(|pair| pair[0].name == pair[1].name)
    {
        return Err(Error::new(
            ErrorKind::Model,
            format!(
                "environment `{}` is defined twice (also by {}); keep one file",
                pair[1].name,
                pair[0].file.display()
            ),
        )
        .at(Location::file(&pair[1].file)));
    }
    if platform.environments.is_empty() {
        return Err(Error::new(
            ErrorKind::Model,
            format!("no environments: add {ENVIRONMENTS_DIR}/<name>.yaml"),
        )
        .at(Location::file(ENVIRONMENTS_DIR)));
    }
    // `environments:` of kiln.yaml: the listed ones first, in that order; the rest by name.
    for (i, name) in file.environments.iter().enumerate() {
        if file.environments[..i].contains(name) {
            return Err(model_err(
                &format!("environments.{i}"),
                format!("environment `{name}` is listed twice in `environments`"),
            ));
        }
        if !platform.environments.iter().any(|e| &e.name == name) {
            let known: Vec<&str> = platform
                .environments
                .iter()
                .map(|e| e.name.as_str())
                .collect();
            return Err(model_err(
                &format!("environments.{i}"),
                format!(
                    "no environment `{name}` (environments: {})",
                    known.join(", ")
                ),
            ));
        }
    }
    platform.environments.sort_by_key(|e| {
        file.environments
            .iter()
            .position(|n| *n == e.name)
            .unwrap_or(usize::MAX)
    });
    platform.environment_order = file.environments.clone();
    Ok(platform)
}

fn check_output(output: &str) -> std::result::Result<(), String> {
    let path = Path::new(output);
    if output.is_empty()
        || path.is_absolute()
        || path
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(format!(
            "`{output}` must be a relative path inside the platform directory (no `..`)"
        ));
    }
    Ok(())
}

/// An invalid name of a key under `parent` (a top-level key), located at the key itself even
/// when a dotted key path cannot spell it (`..`, the empty name, `a.b`); such names are shown
/// quoted and escaped.
fn name_error(root: &Node, file: &Path, parent: &str, name: &str, message: String) -> Error {
    let (line, column) = root
        .get(parent)
        .and_then(|node| node.key(name))
        .map_or_else(|| root.position_of(parent), |k| (k.line, k.column));
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '/'));
    let key = if plain {
        format!("{parent}.{name}")
    } else {
        format!("{parent}.{name:?}")
    };
    Error::new(ErrorKind::Model, message).at(Location::at(file, line, column).with_key(key))
}

/// The output root is one directory directly in the platform directory: the writer then trusts
/// no path but the platform directory itself (a symlink in `deploy/k8s`'s `deploy` would send
/// the tree elsewhere). It must not be one of kiln's inputs (a render would read its own output
/// or carry the inputs along) nor hidden (`.git`).
fn check_output_apart(output: &str) -> std::result::Result<(), String> {
    let name = output.strip_suffix('/').unwrap_or(output);
    if name.contains('/') || name.contains('\\') {
        return Err(format!(
            "`{output}` must be one directory name, directly in the platform directory (like \
             `k8s`)"
        ));
    }
    let inputs = [PLATFORM_FILE, ENVIRONMENTS_DIR, TEMPLATES_DIR, FILES_DIR];
    if inputs.contains(&name) {
        return Err(format!(
            "`{output}` is one of kiln's inputs; the output root must be apart from {}",
            inputs.join(", ")
        ));
    }
    if name.starts_with('.') {
        return Err(format!(
            "`{output}` is a hidden directory; choose a visible output root"
        ));
    }
    Ok(())
}

fn unknown_kind(kind: &str, kinds: &BTreeMap<String, String>) -> String {
    let known: Vec<&str> = kinds.keys().map(String::as_str).collect();
    format!(
        "unknown component kind `{kind}`; kiln.yaml declares: {}",
        known.join(", ")
    )
}

/// What resolving one environment file keeps at hand: the platform, the parsed file and
/// where each of its keys is, for errors.
struct EnvScope<'a> {
    platform: &'a Platform,
    platform_node: &'a Node,
    node: &'a Node,
    path: &'a PathBuf,
    name: &'a str,
    file: &'a EnvFile,
    platform_file: Arc<Path>,
    env_file: Arc<Path>,
    strict_tags: bool,
}

/// An app an environment lists: deployed with its catalogue entry, or not deployed.
enum Listed<'a> {
    Deployed(&'a CatalogueApp),
    NotDeployed(NotDeployed),
}

fn resolve_env(
    platform: &Platform,
    platform_node: &Node,
    source: &SourceFile,
    has_set: &(dyn Fn(&str) -> bool + Sync),
    strict_tags: bool,
) -> Result<Environment> {
    let path = &source.path;
    let file_name = path
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let name = file_name
        .strip_suffix(".yaml")
        .or_else(|| file_name.strip_suffix(".yml"))
        .unwrap_or(file_name)
        .to_owned();
    check_dns_label(&name).map_err(|e| {
        Error::new(
            ErrorKind::Model,
            format!("environment name (the file name): {e}"),
        )
        .at(Location::file(path))
    })?;
    let node = yaml::parse_document(&source.text, path)?;
    let file: EnvFile = typed(&node, path, "")?;
    let scope = EnvScope {
        platform,
        platform_node,
        node: &node,
        path,
        name: &name,
        file: &file,
        platform_file: Arc::from(platform.root_rel_platform()),
        env_file: Arc::from(path.as_path()),
        strict_tags,
    };
    scope.check_places_and_defaults()?;
    let bundles = scope.bundles(has_set)?;
    let mut leaves_cache = LeavesCache::new();
    let mut components = Vec::new();
    let mut not_deployed = Vec::new();
    for (app, entry) in &file.apps {
        match scope.listed(app, entry)? {
            Listed::NotDeployed(nd) => not_deployed.push(nd),
            Listed::Deployed(catalogue) => {
                for kind in &catalogue.kinds {
                    components.push(scope.component(app, kind, &mut leaves_cache)?);
                }
            }
        }
    }
    let patches = crate::patch::resolve(&node, path, &file.patches)?;
    Ok(Environment {
        name,
        file: path.clone(),
        dir: file.dir.clone(),
        namespace: file.namespace.clone(),
        channel: file.channel,
        state: file.state,
        values: file.values.clone(),
        components,
        not_deployed,
        bundles,
        patches,
    })
}

impl<'a> EnvScope<'a> {
    fn at(&self, key: &str) -> Location {
        let (line, column) = self.node.position_of(key);
        Location::at(self.path, line, column).with_key(key)
    }

    fn model_err(&self, key: &str, msg: String) -> Error {
        Error::new(ErrorKind::Model, msg).at(self.at(key))
    }

    /// `dir`, `namespace`, every `place` and every kind's `defaults`.
    fn check_places_and_defaults(&self) -> Result<()> {
        let (platform, file, node, path) = (self.platform, self.file, self.node, self.path);
        let model_err = |key: &str, msg: String| self.model_err(key, msg);
        check_rel_dir(&file.dir).map_err(|e| model_err("dir", e))?;
        check_dns_label(&file.namespace)
            .map_err(|e| model_err("namespace", format!("namespace {e}")))?;
        for (kind, place) in &file.place {
            if !platform.kinds.contains_key(kind) {
                return Err(model_err(
                    &format!("place.{kind}"),
                    unknown_kind(kind, &platform.kinds),
                ));
            }
            let probe = place.dir.replace("{app}", "app");
            check_rel_dir(&probe).map_err(|e| model_err(&format!("place.{kind}.dir"), e))?;
            if let Some(ns) = &place.namespace {
                check_dns_label(ns)
                    .map_err(|e| model_err(&format!("place.{kind}.namespace"), e))?;
            }
        }
        for kind in file.defaults.keys() {
            let key = format!("defaults.{kind}");
            if !platform.kinds.contains_key(kind) {
                return Err(model_err(&key, unknown_kind(kind, &platform.kinds)));
            }
            typed::<Workload>(node, path, &key)?;
        }
        Ok(())
    }

    /// The environment's bundles, each checked (its template set exists; a chart bundle's
    /// chart and release are names).
    fn bundles(&self, has_set: &(dyn Fn(&str) -> bool + Sync)) -> Result<Vec<BundleUnit>> {
        let file = self.file;
        let model_err = |key: &str, msg: String| self.model_err(key, msg);
        let mut bundles = Vec::new();
        for (i, bundle) in file.bundles.iter().enumerate() {
            let Bundle {
                templates,
                dir,
                namespace,
                values,
                chart,
                release,
            } = bundle;
            let key = format!("bundles.{i}");
            check_dns_label(templates).map_err(|e| model_err(&format!("{key}.templates"), e))?;
            if !has_set(templates) {
                return Err(model_err(
                    &format!("{key}.templates"),
                    format!("templates/{templates}/ has no templates"),
                ));
            }
            check_rel_dir(dir).map_err(|e| model_err(&format!("{key}.dir"), e))?;
            let namespace = namespace.clone().unwrap_or_else(|| file.namespace.clone());
            check_dns_label(&namespace).map_err(|e| model_err(&format!("{key}.namespace"), e))?;
            let chart = match chart {
                Some(name) => {
                    check_dns_label(name).map_err(|e| model_err(&format!("{key}.chart"), e))?;
                    let release = release.clone().unwrap_or_else(|| name.clone());
                    check_dns_label(&release)
                        .map_err(|e| model_err(&format!("{key}.release"), e))?;
                    Some(ChartUnit {
                        name: name.clone(),
                        release,
                    })
                }
                None if release.is_some() => {
                    return Err(model_err(
                        &format!("{key}.release"),
                        "`release` names a chart's release: give the bundle a `chart` too".into(),
                    ))
                }
                None => None,
            };
            bundles.push(BundleUnit {
                templates: templates.clone(),
                dir: join_dir(&file.dir, dir),
                namespace,
                values: values.clone(),
                chart,
            });
        }
        Ok(bundles)
    }

    /// How the environment lists `app`: its keys checked, deployed (with the catalogue entry)
    /// or `deploy: false` with its reason.
    fn listed(&self, app: &str, entry: &BTreeMap<String, Value>) -> Result<Listed<'a>> {
        let (platform, node, path) = (self.platform, self.node, self.path);
        let model_err = |key: &str, msg: String| self.model_err(key, msg);
        let app_key = format!("apps.{app}");
        let Some(catalogue) = platform.apps.get(app) else {
            let known: Vec<&str> = platform.apps.keys().map(String::as_str).collect();
            return Err(model_err(
                &app_key,
                format!(
                    "`{app}` is not in the kiln.yaml catalogue (apps: {})",
                    known.join(", ")
                ),
            ));
        };
        let deploy = match entry.get("deploy") {
            None => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(model_err(
                    &format!("{app_key}.deploy"),
                    "expected true or false".into(),
                ))
            }
        };
        let reason = match entry.get("reason") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(model_err(
                    &format!("{app_key}.reason"),
                    "expected a string".into(),
                ))
            }
        };
        for key in entry.keys() {
            if catalogue.kinds.contains(key) {
                typed::<Workload>(node, path, &format!("{app_key}.{key}"))?;
            } else if key != "deploy" && key != "reason" {
                return Err(model_err(
                    &format!("{app_key}.{key}"),
                    format!(
                        "unknown key `{key}`: expected `deploy`, `reason` or one of the app's \
                         components ({})",
                        catalogue.kinds.join(", ")
                    ),
                ));
            }
        }
        if !deploy {
            let Some(reason) = reason else {
                return Err(model_err(
                    &format!("{app_key}.deploy"),
                    "an app listed with `deploy: false` needs a `reason`".into(),
                ));
            };
            return Ok(Listed::NotDeployed(NotDeployed {
                app: app.to_owned(),
                reason,
            }));
        }
        Ok(Listed::Deployed(catalogue))
    }

    /// One component of `app`: its four layers merged with provenance, its image and tag
    /// checked, its facts derived.
    fn component(
        &self,
        app: &str,
        kind: &str,
        leaves_cache: &mut LeavesCache,
    ) -> Result<Component> {
        let (platform, file, node) = (self.platform, self.file, self.node);
        let (platform_node, platform_file, env_file) =
            (self.platform_node, &self.platform_file, &self.env_file);
        let app_key = format!("apps.{app}");
        let at = |key: &str| self.at(key);
        let model_err = |key: &str, msg: String| self.model_err(key, msg);
        let Some(place) = file.place.get(kind) else {
            return Err(model_err(
                &app_key,
                format!(
                    "`{app}` has a `{kind}` component, but this environment has no `place.{kind}`"
                ),
            ));
        };
        let layers = [
            (
                platform_node,
                platform_file.clone(),
                format!("kinds.{kind}.defaults"),
            ),
            (
                platform_node,
                platform_file.clone(),
                format!("apps.{app}.components.{kind}"),
            ),
            (node, env_file.clone(), format!("defaults.{kind}")),
            (node, env_file.clone(), format!("{app_key}.{kind}")),
        ];
        let (merged, provenance) = merge_layers(&layers, leaves_cache);
        let mut workload: Workload = serde_json::from_value(merged).map_err(|e| {
            Error::new(ErrorKind::Model, format!("{app_key}.{kind}: {e}")).at(at(&app_key))
        })?;
        if let Some(health) = workload.health.as_mut() {
            health.port = health.port.or(workload.port);
        }
        let component_key = format!("{app_key}.{kind}");
        let tag_rule = TagRule::of(file.channel, workload.channel);
        let upstream = tag_rule == TagRule::Pinned;
        for required in ["image", "tag"] {
            let missing = match required {
                "image" => workload.image.as_deref().is_none_or(str::is_empty),
                // An upstream image may be pinned by its digest alone.
                _ => {
                    workload.tag.as_deref().is_none_or(str::is_empty)
                        && !(upstream && workload.digest.is_some())
                }
            };
            if missing {
                return Err(model_err(
                    &component_key,
                    format!(
                        "`{app}` ({kind}) has no `{required}` in this environment; set it \
                         here under `{component_key}.{required}`, or in kiln.yaml"
                    ),
                ));
            }
        }
        self.check_image_and_tag(app, kind, &mut workload, tag_rule, &provenance)?;
        let mut derived = derive(
            app,
            &workload,
            platform.registry.as_deref(),
            file.state,
            upstream,
        );
        self.extra_containers(app, kind, &workload, &provenance, &mut derived)?;
        let namespace = place
            .namespace
            .clone()
            .unwrap_or_else(|| file.namespace.clone());
        Ok(Component {
            app: app.to_owned(),
            kind: kind.to_owned(),
            templates: platform.kinds[kind].clone(),
            dir: join_dir(&file.dir, &place.dir.replace("{app}", app)),
            namespace,
            workload,
            tag_rule,
            derived,
            provenance,
        })
    }

    /// The component's probes as they run, and its init containers and sidecars resolved
    /// against its image; an error names the key that is wrong.
    fn extra_containers(
        &self,
        app: &str,
        kind: &str,
        workload: &Workload,
        provenance: &BTreeMap<Arc<str>, Source>,
        derived: &mut Derived,
    ) -> Result<()> {
        let component_key = format!("apps.{app}.{kind}");
        let name = self.name;
        let located = |key: &str, why: String| {
            let location = provenance
                .get(key)
                .or_else(|| provenance.get(format!("{key}.image").as_str()))
                .or_else(|| {
                    provenance
                        .iter()
                        .find(|(k, _)| k.starts_with(&format!("{key}.")))
                        .map(|(_, s)| s)
                })
                .map_or_else(|| self.at(&component_key), Source::location);
            Error::new(
                ErrorKind::Model,
                format!("environment `{name}`, app `{app}` ({kind}): `{key}`: {why}"),
            )
            .at(location)
        };
        derived.probes =
            effective_probes(workload.health.as_ref()).map_err(|(k, why)| located(&k, why))?;
        let images = ContainerImages {
            channel: self.file.channel,
            platform: self.platform,
            workload,
            image_ref: &derived.image_ref,
            strict_tags: self.strict_tags,
        };
        let mut init_containers = Vec::new();
        let mut sidecars = Vec::new();
        for (list, containers, out) in [
            (
                "init_containers",
                &workload.init_containers,
                &mut init_containers,
            ),
            ("sidecars", &workload.sidecars, &mut sidecars),
        ] {
            for (cname, container) in containers.iter().flatten() {
                out.push(
                    images
                        .resolve(cname, container)
                        .map_err(|(k, why)| located(&format!("{list}.{cname}{k}"), why))?,
                );
            }
        }
        derived.init_containers = init_containers;
        derived.sidecars = sidecars;
        Ok(())
    }

    /// An upstream image is not one of the platform's own; a digest is well formed; the tag
    /// follows its rule (or a recorded exception), written as it will be deployed.
    fn check_image_and_tag(
        &self,
        app: &str,
        kind: &str,
        workload: &mut Workload,
        tag_rule: TagRule,
        provenance: &BTreeMap<Arc<str>, Source>,
    ) -> Result<()> {
        let (platform, file, name, strict_tags) =
            (self.platform, self.file, self.name, self.strict_tags);
        let upstream = tag_rule == TagRule::Pinned;
        let image = workload.image.clone().unwrap_or_default();
        if let (true, Some(registry)) = (upstream, platform.registry.as_deref()) {
            let registry = registry.trim_end_matches('/');
            if image
                .strip_prefix(registry)
                .is_some_and(|r| r.starts_with('/'))
            {
                let source = provenance.get("channel").unwrap_or(&provenance["image"]);
                return Err(Error::new(
                    ErrorKind::Model,
                    format!(
                        "environment `{name}`, app `{app}` ({kind}): `{image}` is under the \
                         platform's registry `{registry}`, an image the platform builds: it \
                         follows the environment's `channel: {}`; `channel: pinned` is for \
                         upstream images",
                        TagRule::from(file.channel)
                    ),
                )
                .at(source.location()));
            }
        }
        if let Some(digest) = workload.digest.as_deref() {
            if let Err(why) = crate::tag::check_digest(digest) {
                return Err(Error::new(
                    ErrorKind::Model,
                    format!("environment `{name}`, app `{app}` ({kind}): {why}"),
                )
                .at(provenance["digest"].location()));
            }
        }
        let written = workload.tag.clone().unwrap_or_default();
        let excepted = || {
            upstream
                && platform
                    .tags
                    .exceptions
                    .iter()
                    .any(|e| e.image == image && e.tag == written)
        };
        match tag_rule.check(&written) {
            Ok(tag) => {
                workload.tag = Some(crate::tag::deployed_tag(
                    tag_rule,
                    &tag,
                    platform.tags.strip_v,
                ))
            }
            // A digest alone pins an upstream image.
            Err(_) if upstream && written.is_empty() => workload.tag = None,
            Err(_) if excepted() => {}
            Err(why) if strict_tags => {
                let source = &provenance["tag"];
                let whose = match tag_rule {
                    TagRule::Pinned => "the component's `channel: pinned`".to_owned(),
                    rule => format!("the environment's `channel: {rule}`"),
                };
                return Err(Error::new(
                    ErrorKind::Model,
                    format!(
                        "environment `{name}`, app `{app}` ({kind}): {why}; the `{tag_rule}` \
                         rule ({whose}) takes {}",
                        tag_rule.shape()
                    ),
                )
                .at(source.location()));
            }
            Err(_) => {}
        }
        Ok(())
    }
}

/// What an init container's or sidecar's image is resolved against: the component's.
struct ContainerImages<'a> {
    channel: Channel,
    platform: &'a Platform,
    workload: &'a Workload,
    image_ref: &'a str,
    strict_tags: bool,
}

impl ContainerImages<'_> {
    /// Resolves one container; an error names the key under the container (`.tag`, empty for
    /// the container itself) and why.
    fn resolve(
        &self,
        name: &str,
        c: &Container,
    ) -> std::result::Result<ResolvedContainer, (String, String)> {
        check_dns_label(name).map_err(|why| (String::new(), why))?;
        let image_ref = match c.image.as_deref() {
            None => {
                if let Some(key) = [
                    c.tag.as_ref().map(|_| "tag"),
                    c.digest.as_ref().map(|_| "digest"),
                    c.channel.as_ref().map(|_| "channel"),
                ]
                .into_iter()
                .flatten()
                .next()
                {
                    return Err((
                        format!(".{key}"),
                        format!(
                            "`{key}` without `image`: a container without `image` runs the \
                             component's own image ({}); name the image to run another",
                            self.image_ref
                        ),
                    ));
                }
                self.image_ref.to_owned()
            }
            Some(image) => self.image(image, c)?,
        };
        let mut ports = Vec::new();
        for (port_name, port) in c.ports.iter().flatten() {
            if port_name.len() > 15 {
                return Err((
                    format!(".ports.{port_name}"),
                    "a port name has at most 15 characters".into(),
                ));
            }
            check_dns_label(port_name).map_err(|why| (format!(".ports.{port_name}"), why))?;
            ports.push(NamedPort {
                name: port_name.clone(),
                port: *port,
            });
        }
        let mut health = c.health.clone();
        if let Some(health) = health.as_mut() {
            health.port = health.port.or(ports.first().map(|p| p.port));
        }
        let probes =
            effective_probes(health.as_ref()).map_err(|(k, why)| (format!(".{k}"), why))?;
        Ok(ResolvedContainer {
            name: name.to_owned(),
            image_ref,
            command: c.command.clone(),
            args: c.args.clone(),
            env: c.env.clone().unwrap_or_default(),
            secret_env: c.secret_env.clone().unwrap_or_default(),
            ports,
            resources: c.resources.clone().unwrap_or_default(),
            probes,
        })
    }

    /// A named image under the component's rules: a platform image follows the
    /// environment's channel (its tag defaults to the component's), a pinned one is upstream.
    fn image(&self, image: &str, c: &Container) -> std::result::Result<String, (String, String)> {
        let rule = TagRule::of(self.channel, c.channel);
        let upstream = rule == TagRule::Pinned;
        let registry = self.platform.registry.as_deref();
        if let (true, Some(registry)) = (upstream, registry) {
            let registry = registry.trim_end_matches('/');
            if image
                .strip_prefix(registry)
                .is_some_and(|r| r.starts_with('/'))
            {
                return Err((
                    ".channel".into(),
                    format!(
                        "`{image}` is under the platform's registry `{registry}`, an image the \
                         platform builds: it follows the environment's `channel: {}`; \
                         `channel: pinned` is for upstream images",
                        TagRule::from(self.channel)
                    ),
                ));
            }
        }
        if let Some(digest) = c.digest.as_deref() {
            crate::tag::check_digest(digest).map_err(|why| (".digest".to_owned(), why))?;
        }
        let tag = match (c.tag.as_deref(), upstream) {
            // A platform image built with the component's: the same, already checked, tag.
            (None, false) => self.workload.tag.clone(),
            (None, true) if c.digest.is_some() => None,
            (None, true) => {
                return Err((
                    String::new(),
                    format!("the upstream image `{image}` has no `tag` (or `digest`)"),
                ))
            }
            (Some(written), _) => match rule.check(written) {
                Ok(tag) => Some(crate::tag::deployed_tag(
                    rule,
                    &tag,
                    self.platform.tags.strip_v,
                )),
                Err(_)
                    if upstream
                        && self
                            .platform
                            .tags
                            .exceptions
                            .iter()
                            .any(|e| e.image == image && e.tag == written) =>
                {
                    Some(written.to_owned())
                }
                Err(why) if self.strict_tags => {
                    return Err((
                        ".tag".into(),
                        format!("{why}; the `{rule}` rule takes {}", rule.shape()),
                    ))
                }
                Err(_) => Some(written.to_owned()),
            },
        };
        Ok(image_ref(
            image,
            tag.as_deref(),
            c.digest.as_deref(),
            registry,
            upstream,
        ))
    }
}

impl Platform {
    fn root_rel_platform(&self) -> PathBuf {
        PathBuf::from(crate::load::PLATFORM_FILE)
    }
}

/// Joins an environment's directory and a directory inside it.
pub fn join_dir(base: &str, dir: &str) -> String {
    match (base, dir) {
        (".", d) => d.to_owned(),
        (b, ".") => b.to_owned(),
        (b, d) => format!("{b}/{d}"),
    }
}

/// A layer's value and the leaves it sets (path, source), by the address of the layer's node:
/// the layers of a kind's defaults are the same for every component of an environment.
type LeavesCache = HashMap<usize, (Value, Vec<(Arc<str>, Source)>)>;

/// Merges workload layers (node, file, key of the layer), lowest first.
fn merge_layers(
    layers: &[(&Node, Arc<Path>, String)],
    cache: &mut LeavesCache,
) -> (Value, BTreeMap<Arc<str>, Source>) {
    let mut merged = Value::Object(Default::default());
    let mut provenance: BTreeMap<Arc<str>, Source> = BTreeMap::new();
    let mut prefix = String::new();
    for (root, file, key) in layers {
        let Some(node) = find(root, key) else {
            continue;
        };
        let (value, leaves) = cache
            .entry(node as *const Node as usize)
            .or_insert_with(|| {
                let mut leaves = Vec::new();
                collect_leaves(node, file, key, "", &mut leaves);
                (node.to_json(), leaves)
            });
        deep_merge(&mut merged, value);
        // The leaves of one layer never cover each other (a leaf is not a non-empty mapping),
        // so the first layer with any has nothing to replace.
        let first = provenance.is_empty();
        for (path, source) in leaves.iter() {
            // A value set here replaces whatever lower layers set below it.
            if !first {
                prefix.clear();
                prefix.push_str(path);
                prefix.push('.');
                let covered: Vec<Arc<str>> = provenance
                    .range::<str, _>((
                        std::ops::Bound::Included(prefix.as_str()),
                        std::ops::Bound::Unbounded,
                    ))
                    .take_while(|(p, _)| p.starts_with(prefix.as_str()))
                    .map(|(p, _)| p.clone())
                    .collect();
                for p in covered {
                    provenance.remove(&p);
                }
            }
            provenance.insert(path.clone(), source.clone());
        }
    }
    (merged, provenance)
}

fn find<'a>(root: &'a Node, key: &str) -> Option<&'a Node> {
    key.split('.')
        .try_fold(root, |node, segment| node.get(segment))
}

fn deep_merge(base: &mut Value, layer: &Value) {
    match (base, layer) {
        // Into nothing (the lowest layer): a copy, without looking each key up.
        (Value::Object(base), Value::Object(layer)) if base.is_empty() => base.clone_from(layer),
        (Value::Object(base), Value::Object(layer)) => {
            for (k, v) in layer {
                match base.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        deep_merge(existing, v)
                    }
                    _ => {
                        base.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (base, layer) => *base = layer.clone(),
    }
}

/// The CustomResourceDefinitions under `crds/`: every YAML document of every file must be one
/// (a file of other objects there is a mistake worth stopping for). Nothing is parsed when the
/// platform keeps none.
fn crds(files: &[SourceFile]) -> Result<CrdSet> {
    let mut set = CrdSet::default();
    for file in files {
        let path = Path::new(CRDS_DIR).join(&file.path);
        let name = path.to_string_lossy();
        if !(name.ends_with(".yaml") || name.ends_with(".yml")) {
            return Err(Error::new(
                ErrorKind::Model,
                "crds/ holds CustomResourceDefinition manifests (`.yaml`); move other files out",
            )
            .at(Location::file(&path)));
        }
        for doc in yaml::parse_documents(&file.text, &path)? {
            let line = doc.line;
            let value = doc.to_json();
            if value.is_null() {
                continue;
            }
            if !crate::crd::is_crd(&value) {
                let kind = value["kind"]
                    .as_str()
                    .unwrap_or("a document without `kind`");
                return Err(Error::new(
                    ErrorKind::Model,
                    format!(
                        "{kind} is not a CustomResourceDefinition \
                         (apiextensions.k8s.io/v1); crds/ holds only CRDs"
                    ),
                )
                .at(Location {
                    line: Some(line),
                    ..Location::file(&path)
                }));
            }
            set.add(&name, line, &value)?;
        }
    }
    Ok(set)
}

/// Every leaf under `node` (a scalar, a list or an empty mapping), with its path below the
/// layer and where it was set.
fn collect_leaves(
    node: &Node,
    file: &Arc<Path>,
    key: &str,
    path: &str,
    out: &mut Vec<(Arc<str>, Source)>,
) {
    match node.as_map() {
        Some(entries) if !entries.is_empty() => {
            for (k, v) in entries {
                let child = crate::fieldpath::key(path, &k.name);
                collect_leaves(v, file, &crate::fieldpath::key(key, &k.name), &child, out);
            }
        }
        _ => {
            if !path.is_empty() {
                out.push((
                    Arc::from(path),
                    Source {
                        file: file.clone(),
                        key: Arc::from(key),
                        line: node.line,
                    },
                ));
            }
        }
    }
}

/// Deserializes the node at `key` (a dotted path; empty for the whole document) into `T`,
/// reporting errors at the offending key's line.
pub fn typed<T: DeserializeOwned>(root: &Node, file: &Path, key: &str) -> Result<T> {
    let node = if key.is_empty() {
        Some(root)
    } else {
        find(root, key)
    };
    // Every model type is a mapping; serde would also fill a struct from a list by position.
    if let Some(node) = node.filter(|n| !matches!(n.value, NodeValue::Map(_) | NodeValue::Null)) {
        let what = if key.is_empty() { "the file" } else { "this" };
        return Err(Error::new(
            ErrorKind::Model,
            format!("{what} must be a mapping (`key: value` lines)"),
        )
        .at(Location::at(file, node.line, node.column).with_key(key)));
    }
    let value = node.map(Node::to_json).unwrap_or(Value::Null);
    let value = if value.is_null() {
        Value::Object(Default::default())
    } else {
        value
    };
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.inner().to_string();
        let mut path = e.path().to_string();
        if path == "." {
            path.clear();
        }
        let full = [key, path.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(".");
        // serde writes list indices as `[0]`; the node lookup takes `.0`.
        let (line, column) = root.position_of(&full.replace('[', ".").replace(']', ""));
        Error::new(ErrorKind::Model, inner).at(Location::at(file, line, column).with_key(full))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(replicas: Option<u32>) -> Workload {
        Workload {
            image: Some("web".into()),
            tag: Some("abc1234".into()),
            replicas,
            ..Workload::default()
        }
    }

    #[test]
    fn pdb_and_anti_affinity_only_with_two_replicas_or_more() {
        let cases = [
            (None, 1, false),
            (Some(0), 0, false),
            (Some(1), 1, false),
            (Some(2), 2, true),
            (Some(3), 3, true),
        ];
        for (declared, replicas, multi) in cases {
            let d = derive(
                "web",
                &workload(declared),
                Some("reg.example/x"),
                EnvState::Open,
                false,
            );
            assert_eq!(d.replicas, replicas);
            assert_eq!(d.multi_replica, multi, "{declared:?}");
            assert_eq!(
                d.pdb,
                multi.then_some(Pdb { min_available: 1 }),
                "{declared:?}"
            );
        }
    }

    #[test]
    fn closed_environment_scales_to_zero_without_pdb() {
        let d = derive("web", &workload(Some(3)), None, EnvState::Closed, false);
        assert_eq!((d.replicas, d.multi_replica, d.pdb), (0, false, None));
    }

    #[test]
    fn image_ref_joins_registry_unless_image_has_a_slash() {
        let d = derive(
            "web",
            &workload(None),
            Some("reg.example/hn/"),
            EnvState::Open,
            false,
        );
        assert_eq!(d.image_ref, "reg.example/hn/web:abc1234");
        let mut w = workload(None);
        w.image = Some("ghcr.io/get-convex/convex-backend".into());
        assert_eq!(
            derive("web", &w, Some("reg"), EnvState::Open, false).image_ref,
            "ghcr.io/get-convex/convex-backend:abc1234"
        );
        // An upstream (pinned) image is written as is: registry-less, with a digest.
        let mut w = workload(None);
        w.image = Some("busybox".into());
        w.tag = Some("1.36".into());
        assert_eq!(
            derive("web", &w, Some("reg"), EnvState::Open, true).image_ref,
            "busybox:1.36"
        );
        let digest = format!("sha256:{}", "a".repeat(64));
        w.digest = Some(digest.clone());
        assert_eq!(
            derive("web", &w, Some("reg"), EnvState::Open, true).image_ref,
            format!("busybox:1.36@{digest}")
        );
        w.tag = None;
        assert_eq!(
            derive("web", &w, Some("reg"), EnvState::Open, true).image_ref,
            format!("busybox@{digest}")
        );
        assert_eq!(d.secret, "web-secrets");
    }

    #[test]
    fn layers_merge_maps_and_replace_lists_with_provenance() {
        let file = Path::new("kiln.yaml");
        let low = yaml::parse_document(
            "a:\n  hosts: [x.example]\n  health: {path: /h, liveness: {period: 30, initial_delay: 15}}\n",
            file,
        )
        .unwrap();
        let high = yaml::parse_document(
            "b:\n  hosts: [y.example, z.example]\n  health: {liveness: {period: 10}}\n",
            Path::new("env.yaml"),
        )
        .unwrap();
        let layers = [
            (&low, Arc::from(Path::new("kiln.yaml")), "a".to_owned()),
            (&high, Arc::from(Path::new("env.yaml")), "b".to_owned()),
        ];
        let (merged, provenance) = merge_layers(&layers, &mut Default::default());
        assert_eq!(
            merged,
            serde_json::json!({"hosts": ["y.example", "z.example"], "health": {"path": "/h", "liveness": {"period": 10, "initial_delay": 15}}})
        );
        let src = |p: &str| {
            provenance.get(p).map(|s| {
                (
                    s.file.to_str().unwrap().to_owned(),
                    s.key.to_string(),
                    s.line,
                )
            })
        };
        assert_eq!(src("hosts"), Some(("env.yaml".into(), "b.hosts".into(), 2)));
        assert_eq!(
            src("health.liveness.period"),
            Some(("env.yaml".into(), "b.health.liveness.period".into(), 3))
        );
        assert_eq!(
            src("health.liveness.initial_delay"),
            Some((
                "kiln.yaml".into(),
                "a.health.liveness.initial_delay".into(),
                3
            ))
        );
        assert_eq!(
            src("health.path"),
            Some(("kiln.yaml".into(), "a.health.path".into(), 3))
        );
    }

    #[test]
    fn typed_errors_name_file_line_and_key() {
        let file = Path::new("environments/prod.yaml");
        let node = yaml::parse_document(
            "apps:\n  web:\n    web:\n      replicas: two\n      imagee: x\n",
            file,
        )
        .unwrap();
        let err = typed::<Workload>(&node, file, "apps.web.web")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("environments/prod.yaml:4:7 (key `apps.web.web.replicas`): invalid type: string \"two\""), "{err}");
        let node =
            yaml::parse_document("apps:\n  web:\n    web:\n      imagee: x\n", file).unwrap();
        let err = typed::<Workload>(&node, file, "apps.web.web")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("environments/prod.yaml:4:7 (key `apps.web.web.imagee`): unknown field `imagee`, expected one of"), "{err}");
    }
}
