//! `kiln envs` and `kiln explain`: what each environment holds, and where every value came
//! from. Pure: works on the resolved platform and its sources in memory.
//!
//! Settings come with the file, key and line that set them (`Component::provenance`, kept by
//! the layer merge) and the layer that won. For a rendered field, the app's templates are
//! rendered again with output spans (only here, never on the normal render path): the field's
//! position in the output names the template line that wrote it, and the expression there
//! names the data it read (`app.replicas`), which leads back to the setting (`replicas`,
//! declared in `environments/<env>.yaml` under `apps.<app>.<kind>.replicas`).
//!
//! Field paths are those of `kiln diff` (`spec.template.spec.containers[name=web].image`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Value};

use crate::error::{Error, ErrorKind, Location, Result};
use crate::load::{Sources, PLATFORM_FILE, TEMPLATES_DIR};
use crate::model::{Channel, EnvState};
use crate::render;
use crate::resolve::{join_dir, Component, Environment, NotDeployed, Platform};
use crate::yaml::{self, Node, NodeValue};

// ---------------------------------------------------------------------------------------------
// kiln envs

/// One environment at a glance, for `kiln envs`.
#[derive(Debug, Clone, Serialize)]
pub struct EnvSummary {
    /// The environment's name.
    pub name: String,
    /// The environment's file, relative to the platform root (`environments/<name>.yaml`).
    pub file: PathBuf,
    /// The environment's root in the output tree.
    pub dir: String,
    /// The environment's default namespace.
    pub namespace: String,
    /// Every namespace the environment renders into (components and bundles), sorted.
    pub namespaces: Vec<String>,
    /// The environment's image tag rule.
    pub channel: Channel,
    /// Open, or closed (every workload scaled to zero).
    pub state: EnvState,
    /// Deployed components, by app then kind.
    pub apps: Vec<AppSummary>,
    /// The apps the environment lists with `deploy: false`, each with its reason.
    pub not_deployed: Vec<NotDeployed>,
}

/// One deployed component of an environment, for `kiln envs` and `kiln explain`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AppSummary {
    /// The app's name.
    pub app: String,
    /// The component kind (`web`).
    pub component: String,
    /// The namespace the component renders into.
    pub namespace: String,
    /// Effective replicas (0 in a closed environment).
    pub replicas: u32,
    /// The declared replicas, when they differ from the effective ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declared_replicas: Option<u32>,
    /// `registry/image:tag`.
    pub image: String,
    /// The image tag; empty when none is set.
    pub tag: String,
}

/// Every environment of the platform, by name.
pub fn envs(platform: &Platform) -> Vec<EnvSummary> {
    platform.environments.iter().map(env_summary).collect()
}

fn env_summary(env: &Environment) -> EnvSummary {
    let mut namespaces: Vec<String> = env
        .components
        .iter()
        .map(|c| c.namespace.clone())
        .chain(env.bundles.iter().map(|b| b.namespace.clone()))
        .chain([env.namespace.clone()])
        .collect();
    namespaces.sort();
    namespaces.dedup();
    EnvSummary {
        name: env.name.clone(),
        file: env.file.clone(),
        dir: env.dir.clone(),
        namespace: env.namespace.clone(),
        namespaces,
        channel: env.channel,
        state: env.state,
        apps: env.components.iter().map(app_summary).collect(),
        not_deployed: env.not_deployed.clone(),
    }
}

fn app_summary(c: &Component) -> AppSummary {
    let declared = c.workload.replicas.unwrap_or(1);
    AppSummary {
        app: c.app.clone(),
        component: c.kind.clone(),
        namespace: c.namespace.clone(),
        replicas: c.derived.replicas,
        declared_replicas: (declared != c.derived.replicas).then_some(declared),
        image: c.derived.image_ref.clone(),
        tag: c.workload.tag.clone().unwrap_or_default(),
    }
}

// ---------------------------------------------------------------------------------------------
// The data model of an explanation

/// Which workload layer set a value (lowest first). Later layers win.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// `kinds.<kind>.defaults` in kiln.yaml.
    KindDefault,
    /// `apps.<app>.components.<kind>` in kiln.yaml: the app everywhere.
    AppDefault,
    /// `defaults.<kind>` in the environment's file.
    EnvDefault,
    /// `apps.<app>.<kind>` in the environment's file.
    Override,
}

impl Layer {
    /// The layer's name in text output: `kind default`, `app default`, `environment default` or
    /// `override`.
    pub fn label(self) -> &'static str {
        match self {
            Layer::KindDefault => "kind default",
            Layer::AppDefault => "app default",
            Layer::EnvDefault => "environment default",
            Layer::Override => "override",
        }
    }
}

/// Where a value was written.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Origin {
    /// The file, relative to the platform root.
    pub file: PathBuf,
    /// The key path in the file: `apps.hello.web.replicas`.
    pub key: String,
    /// The 1-based line of the key.
    pub line: usize,
    /// For workload settings: the layer of the file and key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<Layer>,
}

/// An effective value and where it came from.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Setting {
    /// The setting's path: a workload field (`health.liveness.period`), or a key of the
    /// environment's file or of kiln.yaml.
    pub name: String,
    /// The effective value; `null` when no file sets it and kiln has no default.
    pub value: Value,
    /// `None`: set in no file; `note` says what kiln used.
    pub origin: Option<Origin>,
    /// How kiln chose the value when no key of its own sets it (`not set: kiln's default`);
    /// `None` when one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A value templates see (`app.replicas`), with the settings it is made of.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Reference {
    /// As templates write it: `app.replicas`, `env.namespace`, `platform.values.x`.
    pub expr: String,
    /// Its value in the template context (`None` when the path is not there).
    pub value: Option<Value>,
    /// How kiln computes it, for derived facts and defaults.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The settings it is made of, each with where it was set.
    pub from: Vec<Setting>,
}

/// What [`explain`] returns: an environment, an app or a field, as the [`Query`] names.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "explain", rename_all = "lowercase")]
pub enum Explanation {
    /// An environment (a query with neither app nor field).
    Environment(EnvExplanation),
    /// An app in an environment (a query with an app and no field).
    App(AppExplanation),
    /// A rendered field (a query with a field, with or without an app).
    Field(FieldExplanation),
}

/// An environment: its settings, deployed apps and bundles.
#[derive(Debug, Clone, Serialize)]
pub struct EnvExplanation {
    /// The environment's name.
    pub env: String,
    /// The environment's file, relative to the platform root.
    pub file: PathBuf,
    /// `dir`, `namespace`, `channel`, `state` and every `values` leaf.
    pub settings: Vec<Setting>,
    /// Deployed components, by app then kind.
    pub apps: Vec<AppSummary>,
    /// The apps the environment lists with `deploy: false`, each with its reason.
    pub not_deployed: Vec<NotDeployed>,
    /// The environment's bundles, in the order its file lists them.
    pub bundles: Vec<BundleExplanation>,
}

/// A bundle of an environment and the entry of the environment's file that declares it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BundleExplanation {
    /// The template set (the directory under `templates/`).
    pub templates: String,
    /// Where its files land, relative to the output root.
    pub dir: String,
    /// The namespace it renders into.
    pub namespace: String,
    /// The `bundles.<i>` entry of the environment's file; `None` when the file has no such entry.
    pub origin: Option<Origin>,
}

/// An app in an environment: each of its deployed components.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AppExplanation {
    /// The environment's name.
    pub env: String,
    /// The app's name.
    pub app: String,
    /// The catalogue's description of the app; `None` when it has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The app's components deployed in the environment.
    pub components: Vec<ComponentExplanation>,
}

/// One component of an app in an environment: where it lands, its settings and derived facts.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ComponentExplanation {
    /// The component kind (`web`).
    pub kind: String,
    /// The template set that renders it (the directory under `templates/`).
    pub templates: String,
    /// Where its files land, relative to the output root.
    pub dir: String,
    /// `app.name`, `app.namespace`, `app.dir` and how they were chosen.
    pub placement: Vec<Reference>,
    /// Every effective workload leaf, by path, with the file, key, line and layer that set it.
    pub settings: Vec<Setting>,
    /// The facts kiln computes (`app.image_ref`, `app.replicas`, `app.pdb`, ...).
    pub derived: Vec<Reference>,
}

/// A rendered field of an environment or app, traced to the template lines that wrote it and
/// the settings they read.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldExplanation {
    /// The environment's name.
    pub env: String,
    /// The app the query named; `None` when every component and bundle of the environment was
    /// searched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The queried field path (`spec.template.spec.containers[name=web].image`); every leaf at or
    /// below it is a hit.
    pub field: String,
    /// One entry per object and matching leaf, in render order.
    pub hits: Vec<FieldHit>,
}

/// One rendered leaf at or below the queried field.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldHit {
    /// The object's `kind`.
    pub kind: String,
    /// The object's `metadata.namespace`; `None` when it has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The object's `metadata.name`.
    pub name: String,
    /// The output file, relative to the output root.
    pub file: String,
    /// The leaf's full path (the query, or a leaf below it).
    pub path: String,
    /// The rendered value.
    pub value: Value,
    /// The template line that wrote the value.
    pub template: TemplateLine,
    /// The data the template read there, and where each piece was set. Empty when the template
    /// wrote the value literally.
    pub references: Vec<Reference>,
    /// The patch of the environment's file that set or changed the value after rendering; then
    /// `template` is the patch's line too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<Origin>,
}

/// The template line that wrote a value.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TemplateLine {
    /// `templates/web/deployment.yaml.j2`.
    pub file: PathBuf,
    /// The 1-based line in `file`; 0 when no template line could be found.
    pub line: usize,
    /// The line's source text.
    pub source: String,
    /// The expression (`{{ ... }}` without delimiters) that wrote the value; `None` for
    /// literal template text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

/// What to explain: an environment, one of its apps, or a rendered field of either.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// The environment's name.
    pub env: String,
    /// An app of the environment; `None` for the environment as a whole.
    pub app: Option<String>,
    /// A rendered field path to trace; `None` to explain the environment or app itself.
    pub field: Option<String>,
}

impl Query {
    /// Parses `ENV[/APP]` and an optional field path.
    pub fn parse(target: &str, field: Option<&str>) -> Query {
        let (env, app) = match target.split_once('/') {
            Some((env, app)) => (env.to_owned(), Some(app.to_owned())),
            None => (target.to_owned(), None),
        };
        Query {
            env,
            app,
            field: field.map(str::to_owned),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// kiln explain

/// Explains an environment, an app in it, or a rendered field. `sources` must be what
/// `platform` was resolved from (it gives the line of every key).
pub fn explain(platform: &Platform, sources: &Sources, query: &Query) -> Result<Explanation> {
    let env = platform.environment_or_err(&query.env)?;
    let files = Files::new(platform, sources, env)?;
    let components: Vec<&Component> = match &query.app {
        None => env.components.iter().collect(),
        Some(app) => {
            let found: Vec<&Component> = env.components.iter().filter(|c| &c.app == app).collect();
            if found.is_empty() {
                return Err(not_here(env, app));
            }
            found
        }
    };
    match (&query.app, &query.field) {
        (_, Some(field)) => {
            explain_field(platform, &files, env, query, &components, field).map(Explanation::Field)
        }
        (Some(app), None) => Ok(Explanation::App(AppExplanation {
            env: env.name.clone(),
            app: app.clone(),
            description: platform.apps.get(app).and_then(|a| a.description.clone()),
            components: components
                .iter()
                .map(|c| explain_component(&files, env, c))
                .collect(),
        })),
        (None, None) => Ok(Explanation::Environment(explain_env(&files, env))),
    }
}

fn not_here(env: &Environment, app: &str) -> Error {
    if let Some(nd) = env.not_deployed.iter().find(|n| n.app == app) {
        return Error::new(
            ErrorKind::Model,
            format!(
                "`{app}` is listed in {} with `deploy: false` ({}): nothing is rendered for it",
                env.name, nd.reason
            ),
        );
    }
    let mut apps: Vec<&str> = env.components.iter().map(|c| c.app.as_str()).collect();
    apps.dedup();
    Error::new(
        ErrorKind::Model,
        format!(
            "environment `{}` has no app `{app}` (apps: {})",
            env.name,
            apps.join(", ")
        ),
    )
}

/// The parsed data files of one environment, for key lines.
struct Files<'a> {
    platform: &'a Platform,
    platform_node: Node,
    env_file: PathBuf,
    env_node: Node,
    /// The environment file's text, for the source line of a patch.
    env_text: String,
}

impl<'a> Files<'a> {
    fn new(platform: &'a Platform, sources: &Sources, env: &Environment) -> Result<Files<'a>> {
        let platform_node = yaml::parse_document(&sources.platform.text, &sources.platform.path)?;
        let source = sources
            .environments
            .iter()
            .find(|s| s.path == env.file)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Io,
                    "the sources do not hold this environment's file (explain needs the \
                     sources the platform was resolved from)",
                )
                .at(Location::file(&env.file))
            })?;
        let env_node = yaml::parse_document(&source.text, &source.path)?;
        Ok(Files {
            platform,
            platform_node,
            env_file: env.file.clone(),
            env_node,
            env_text: source.text.clone(),
        })
    }

    /// A setting of the environment's file at `key`; `default` when the key is not there.
    fn env_setting(&self, key: &str, default: Option<Value>) -> Setting {
        file_setting(&self.env_node, &self.env_file, key, default)
    }

    fn platform_setting(&self, key: &str) -> Setting {
        file_setting(&self.platform_node, Path::new(PLATFORM_FILE), key, None)
    }
}

fn file_setting(root: &Node, file: &Path, key: &str, default: Option<Value>) -> Setting {
    match find_key(root, key) {
        Some((line, node)) => Setting {
            name: key.to_owned(),
            value: node.to_json(),
            origin: Some(Origin {
                file: file.to_path_buf(),
                key: key.to_owned(),
                line,
                layer: None,
            }),
            note: None,
        },
        None => Setting {
            name: key.to_owned(),
            value: default.unwrap_or(Value::Null),
            origin: None,
            note: Some("not set: kiln's default".into()),
        },
    }
}

/// The node at a field path (`values["a.b/c"]`, `bundles[0].dir`, see [`crate::fieldpath`])
/// and the line of its key (or of the item, in a sequence).
fn find_key<'n>(root: &'n Node, key: &str) -> Option<(usize, &'n Node)> {
    use crate::fieldpath::Segment;
    let mut node = root;
    let mut line = root.line;
    for segment in crate::fieldpath::parse(key).ok()? {
        match (&node.value, &segment) {
            (NodeValue::Map(entries), Segment::Key(segment)) => {
                let (k, v) = entries.iter().find(|(k, _)| k.name == *segment)?;
                line = k.line;
                node = v;
            }
            (NodeValue::Seq(items), Segment::Index(i)) => {
                node = items.get(*i)?;
                line = node.line;
            }
            (NodeValue::Seq(items), Segment::Name(name)) => {
                node = items.iter().find(|item| {
                    item.get("name")
                        .is_some_and(|n| matches!(&n.value, NodeValue::String(s) if s == name))
                })?;
                line = node.line;
            }
            _ => return None,
        }
    }
    Some((line, node))
}

fn explain_env(files: &Files<'_>, env: &Environment) -> EnvExplanation {
    let mut settings = vec![
        files.env_setting("dir", None),
        files.env_setting("namespace", None),
        files.env_setting("channel", None),
        files.env_setting("state", Some(json!("open"))),
    ];
    if let Some(values) = files.env_node.get("values") {
        for (path, _) in leaves(values, "values") {
            settings.push(files.env_setting(&path, None));
        }
    }
    let bundles = env
        .bundles
        .iter()
        .enumerate()
        .map(|(i, b)| BundleExplanation {
            templates: b.templates.clone(),
            dir: b.dir.clone(),
            namespace: b.namespace.clone(),
            origin: files.env_setting(&format!("bundles[{i}]"), None).origin,
        })
        .collect();
    EnvExplanation {
        env: env.name.clone(),
        file: env.file.clone(),
        settings,
        apps: env.components.iter().map(app_summary).collect(),
        not_deployed: env.not_deployed.clone(),
        bundles,
    }
}

/// Paths of a data node's leaves (`values.a.b`, `annotations["x.io/y"]`), in document order.
fn leaves(node: &Node, prefix: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    match &node.value {
        NodeValue::Map(entries) if !entries.is_empty() => {
            for (k, v) in entries {
                out.extend(leaves(v, &crate::fieldpath::key(prefix, &k.name)));
            }
        }
        _ => out.push((prefix.to_owned(), node.to_json())),
    }
    out
}

fn explain_component(files: &Files<'_>, env: &Environment, c: &Component) -> ComponentExplanation {
    let ctx = component_context(files.platform, env, c);
    let ctx_lookup = |expr: &str| lookup(&ctx, expr);
    let placement = ["app.name", "app.namespace", "app.dir"]
        .iter()
        .filter_map(|expr| resolve_reference(files, env, Some(c), None, expr, &ctx_lookup))
        .collect();
    let workload = serde_json::to_value(&c.workload).unwrap_or(Value::Null);
    let mut settings: Vec<Setting> = c
        .provenance
        .iter()
        .map(|(path, source)| workload_setting(&workload, path, source))
        .collect();
    if !c.provenance.contains_key("health.port") {
        if let Some(port) = ctx_lookup("app.health.port").filter(|v| !v.is_null()) {
            settings.push(Setting {
                name: "health.port".into(),
                value: port,
                origin: c.provenance.get("port").map(origin_of),
                note: Some("not set: health.port defaults to port".into()),
            });
            settings.sort_by(|a, b| a.name.cmp(&b.name));
        }
    }
    let derived = [
        "app.image_ref",
        "app.replicas",
        "app.multi_replica",
        "app.pdb",
        "app.secret",
    ]
    .iter()
    .filter_map(|expr| resolve_reference(files, env, Some(c), None, expr, &ctx_lookup))
    .collect();
    ComponentExplanation {
        kind: c.kind.clone(),
        templates: c.templates.clone(),
        dir: c.dir.clone(),
        placement,
        settings,
        derived,
    }
}

fn layer_of(source: &crate::resolve::Source) -> Layer {
    let from_platform = *source.file == *Path::new(PLATFORM_FILE);
    match (from_platform, source.key.starts_with("kinds.")) {
        (true, true) => Layer::KindDefault,
        (true, false) => Layer::AppDefault,
        (false, _) if source.key.starts_with("defaults.") => Layer::EnvDefault,
        (false, _) => Layer::Override,
    }
}

fn origin_of(source: &crate::resolve::Source) -> Origin {
    Origin {
        file: source.file.to_path_buf(),
        key: source.key.to_string(),
        line: source.line,
        layer: Some(layer_of(source)),
    }
}

fn workload_setting(workload: &Value, path: &str, source: &crate::resolve::Source) -> Setting {
    Setting {
        name: path.to_owned(),
        value: crate::fieldpath::parse(path)
            .ok()
            .and_then(|segments| crate::fieldpath::get(workload, &segments).cloned())
            .unwrap_or(Value::Null),
        origin: Some(origin_of(source)),
        note: None,
    }
}

/// The full template context of a component, as `render` builds it.
fn component_context(platform: &Platform, env: &Environment, c: &Component) -> Value {
    json!({
        "platform": render::platform_context(platform),
        "env": render::env_context(env),
        "app": render::app_context(c),
    })
}

fn lookup(ctx: &Value, expr: &str) -> Option<Value> {
    lookup_path(ctx, expr)
}

/// The value at a field path (`app.annotations["sidecar.istio.io/inject"]`, `app.hosts[0]`).
fn lookup_path(value: &Value, path: &str) -> Option<Value> {
    let segments = crate::fieldpath::parse(path).ok()?;
    crate::fieldpath::get(value, &segments).cloned()
}

/// What a template reference is made of. `c` is the component whose template reads it;
/// `bundle` the index of the bundle, for a bundle's templates.
fn resolve_reference(
    files: &Files<'_>,
    env: &Environment,
    c: Option<&Component>,
    bundle: Option<usize>,
    expr: &str,
    lookup: &dyn Fn(&str) -> Option<Value>,
) -> Option<Reference> {
    let (root, rest) = expr.split_once('.').unwrap_or((expr, ""));
    let value = lookup(expr);
    let mut reference = Reference {
        expr: expr.to_owned(),
        value,
        rule: None,
        from: Vec::new(),
    };
    match root {
        "app" => {
            let c = c?;
            let first = rest.split('.').next().unwrap_or_default();
            let workload = serde_json::to_value(&c.workload).unwrap_or(Value::Null);
            let declared = || match c.provenance.get("replicas") {
                Some(source) => workload_setting(&workload, "replicas", source),
                None => Setting {
                    name: "replicas".into(),
                    value: json!(1),
                    origin: None,
                    note: Some("not set in any layer: 1".into()),
                },
            };
            let closed = || {
                (env.state == EnvState::Closed)
                    .then(|| files.env_setting("state", Some(json!("open"))))
            };
            let field = |path: &str| {
                c.provenance
                    .get(path)
                    .map(|s| workload_setting(&workload, path, s))
            };
            match first {
                "" => return None,
                "image_ref" => {
                    reference.rule = Some(
                        "registry/image:tag (the image is joined to kiln.yaml's registry unless \
                         it contains a '/')"
                            .into(),
                    );
                    if files.platform.registry.is_some() {
                        reference.from.push(files.platform_setting("registry"));
                    }
                    reference.from.extend(field("image"));
                    reference.from.extend(field("tag"));
                }
                "replicas" => {
                    reference.rule = Some(
                        "the declared replicas (1 when unset); 0 when the environment is closed"
                            .into(),
                    );
                    reference.from.push(declared());
                    reference.from.extend(closed());
                }
                "declared_replicas" => {
                    reference.rule = Some("the declared replicas".into());
                    reference.from.push(declared());
                }
                "multi_replica" => {
                    reference.rule = Some("replicas >= 2".into());
                    reference.from.push(declared());
                    reference.from.extend(closed());
                }
                "pdb" => {
                    reference.rule = Some(
                        "{min_available: 1} with replicas >= 2, else none (a singleton's \
                         budget would block every node drain)"
                            .into(),
                    );
                    reference.from.push(declared());
                    reference.from.extend(closed());
                }
                "secret" => match field("secret") {
                    Some(setting) => reference.from.push(setting),
                    None => reference.rule = Some("not set: `<app>-secrets`".into()),
                },
                "name" => {
                    reference.rule = Some("the app's name in the catalogue".into());
                    reference
                        .from
                        .push(files.env_setting(&format!("apps.{}", c.app), None));
                    reference.from[0].value = json!(c.app);
                }
                "kind" => {
                    reference.rule = Some("the component kind".into());
                    reference
                        .from
                        .push(files.platform_setting(&format!("kinds.{}", c.kind)));
                    reference.from[0].value = json!(c.kind);
                }
                "namespace" => {
                    let key = format!("place.{}.namespace", c.kind);
                    if find_key(&files.env_node, &key).is_some() {
                        reference.from.push(files.env_setting(&key, None));
                    } else {
                        reference.rule = Some(format!(
                            "the environment's namespace (no `place.{}.namespace`)",
                            c.kind
                        ));
                        reference.from.push(files.env_setting("namespace", None));
                    }
                }
                "dir" => {
                    reference.rule = Some(format!(
                        "the environment's dir joined with place.{}.dir ({{app}} is the app)",
                        c.kind
                    ));
                    reference.from.push(files.env_setting("dir", None));
                    reference
                        .from
                        .push(files.env_setting(&format!("place.{}.dir", c.kind), None));
                }
                _ => {
                    // `app.probes.<probe>` is resolved from `health`: the probe's block, the
                    // checks `health` gives every probe, and the ports.
                    let targets: Vec<String> = match rest.split('.').collect::<Vec<_>>()[..] {
                        ["probes"] => vec!["health".into(), "port".into()],
                        ["probes", probe, ..] => ["path", "port", "grpc", "tcp", "exec", "headers"]
                            .iter()
                            .map(|k| format!("health.{k}"))
                            .chain([format!("health.{probe}"), "port".into()])
                            .collect(),
                        _ => vec![rest.to_owned()],
                    };
                    let mut matched: Vec<Setting> = c
                        .provenance
                        .iter()
                        .filter(|(p, _)| {
                            let below = |a: &str, b: &str| {
                                a.strip_prefix(b)
                                    .is_some_and(|r| r.starts_with('.') || r.starts_with('['))
                            };
                            targets
                                .iter()
                                .any(|t| ***p == **t || below(p, t) || below(t, p))
                        })
                        .map(|(p, s)| workload_setting(&workload, p, s))
                        .collect();
                    if matched.is_empty() && rest == "health.port" {
                        reference.rule = Some("not set: health.port defaults to port".into());
                        matched.extend(field("port"));
                    }
                    if matched.is_empty() {
                        reference.rule = Some("not set in any layer".into());
                    }
                    reference.from = matched;
                }
            }
        }
        "env" => {
            let key = match rest {
                "" => return None,
                "closed" => "state",
                "name" => {
                    reference.rule = Some(format!("the file name: {}", env.file.display()));
                    return Some(reference);
                }
                other => other,
            };
            let default = (key == "state").then(|| json!("open"));
            reference.from.push(files.env_setting(key, default));
        }
        "platform" => {
            if rest.is_empty() {
                return None;
            }
            reference.from.push(files.platform_setting(rest));
        }
        "bundle" => {
            let i = bundle?;
            if rest.is_empty() {
                return None;
            }
            let key = format!("bundles[{i}].{rest}");
            if find_key(&files.env_node, &key).is_some() {
                reference.from.push(files.env_setting(&key, None));
            } else if rest == "namespace" {
                reference.rule = Some("the environment's namespace (the bundle sets none)".into());
                reference.from.push(files.env_setting("namespace", None));
            } else if rest == "dir" {
                reference.rule = Some("the environment's dir joined with the bundle's".into());
                reference.from.push(files.env_setting("dir", None));
            }
        }
        _ => return None,
    }
    Some(reference)
}

// ---------------------------------------------------------------------------------------------
// Rendered fields

/// One unit whose templates are rendered again with spans: a component or a bundle.
struct Unit<'a> {
    component: Option<&'a Component>,
    bundle: Option<usize>,
    templates: String,
    dir: String,
    ctx: Value,
}

/// The units of an environment to render again: the given components and, with
/// `with_bundles`, the environment's bundles.
fn units<'a>(
    platform: &Platform,
    env: &Environment,
    components: &[&'a Component],
    with_bundles: bool,
) -> Vec<Unit<'a>> {
    let mut units: Vec<Unit<'a>> = components
        .iter()
        .map(|c| Unit {
            component: Some(*c),
            bundle: None,
            templates: c.templates.clone(),
            dir: c.dir.clone(),
            ctx: component_context(platform, env, c),
        })
        .collect();
    if with_bundles {
        let apps: Vec<Value> = env.components.iter().map(render::app_context).collect();
        // A chart bundle's objects come from helm, not from a kiln template it could trace.
        for (i, b) in env
            .bundles
            .iter()
            .enumerate()
            .filter(|(_, b)| b.chart.is_none())
        {
            units.push(Unit {
                component: None,
                bundle: Some(i),
                templates: b.templates.clone(),
                dir: b.dir.clone(),
                ctx: json!({
                    "platform": render::platform_context(platform),
                    "env": render::env_context(env),
                    "bundle": b,
                    "apps": apps,
                }),
            });
        }
    }
    units
}

/// One template's output for a unit, rendered again with output spans.
struct Spanned {
    /// The template's name (`web/deployment.yaml.j2`).
    name: String,
    template_path: PathBuf,
    /// The output file, relative to the output root.
    out_path: String,
    text: String,
    spans: Vec<minijinja::OutputSpan>,
}

/// Renders a unit's templates as `render` does, with output spans.
fn render_spanned(
    jinja: &minijinja::Environment<'_>,
    sets: &BTreeMap<String, Vec<String>>,
    unit: &Unit<'_>,
) -> Result<Vec<Spanned>> {
    let ctx = minijinja::Value::from(minijinja::value::Serde(&unit.ctx));
    let mut out = Vec::new();
    for file in sets
        .get(&unit.templates)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let name = format!("{}/{file}", unit.templates);
        let template_path = Path::new(TEMPLATES_DIR).join(&name);
        let template = jinja
            .get_template(&name)
            .map_err(|e| jinja_error(&e, &name))?;
        let (text, spans) = template
            .render_with_spans(&ctx)
            .map_err(|e| jinja_error(&e, &name))?;
        let out_name = render::output_name(file).map_err(|msg| {
            Error::new(ErrorKind::Template, msg).at(Location::file(&template_path))
        })?;
        out.push(Spanned {
            out_path: join_dir(&unit.dir, &out_name),
            name,
            template_path,
            text,
            spans,
        });
    }
    Ok(out)
}

fn explain_field(
    platform: &Platform,
    files: &Files<'_>,
    env: &Environment,
    query: &Query,
    components: &[&Component],
    field: &str,
) -> Result<FieldExplanation> {
    let jinja = render::jinja(platform)?;
    let sets = render::template_sets(platform);
    let units = units(platform, env, components, query.app.is_none());

    let aliases_by_template: BTreeMap<&str, BTreeMap<String, Vec<String>>> = platform
        .templates
        .iter()
        .filter_map(|t| Some((t.path.to_str()?, loop_aliases(&t.text))))
        .collect();
    let no_aliases = BTreeMap::new();
    let mut hits = Vec::new();
    let mut all_paths: Vec<String> = Vec::new();
    for unit in &units {
        for Spanned {
            name,
            template_path,
            out_path,
            text,
            spans,
        } in render_spanned(&jinja, &sets, unit)?
        {
            let line_starts: Vec<usize> = std::iter::once(0)
                .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                .collect();
            for doc in yaml::parse_documents(&text, &template_path)? {
                let object = doc.to_json();
                let app = unit.component.map(|c| c.app.as_str());
                for (path, leaf) in leaves_after_patches(env, app, &doc, &object)? {
                    let node = match leaf {
                        Leaf::Template(node) => node,
                        Leaf::Patched(value, at) => {
                            if field_selects(field, &path) {
                                hits.push(patched_hit(files, &object, &out_path, path, value, at));
                            } else {
                                all_paths.push(path);
                            }
                            continue;
                        }
                    };
                    let selected = path == field
                        || path
                            .strip_prefix(field)
                            .is_some_and(|r| r.starts_with('.') || r.starts_with('['));
                    if !selected {
                        all_paths.push(path);
                        continue;
                    }
                    let offset = offset_of(&text, &line_starts, node.line, node.column);
                    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
                    let value = node.to_json();
                    let (source, exprs) =
                        source_of(platform, &text, &spans, offset, line_end, &name);
                    let aliases = aliases_by_template
                        .get(source.file_name.as_str())
                        .unwrap_or(&no_aliases);
                    let mut references = Vec::new();
                    let ctx_lookup = |expr: &str| lookup(&unit.ctx, expr);
                    for (expr, via) in exprs.iter().flat_map(|e| expand_references(e, aliases)) {
                        if references.iter().any(|r: &Reference| r.expr == expr) {
                            continue;
                        }
                        if let Some(mut r) = resolve_reference(
                            files,
                            env,
                            unit.component,
                            unit.bundle,
                            &expr,
                            &ctx_lookup,
                        ) {
                            if let Some(alias) = via {
                                r.rule = Some(match r.rule {
                                    Some(rule) => format!("via `{alias}`; {rule}"),
                                    None => format!("via `{alias}`"),
                                });
                            }
                            references.push(r);
                        }
                    }
                    narrow(&mut references, &value);
                    hits.push(FieldHit {
                        kind: object["kind"].as_str().unwrap_or_default().to_owned(),
                        namespace: object["metadata"]["namespace"].as_str().map(str::to_owned),
                        name: object["metadata"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        file: out_path.clone(),
                        path,
                        value,
                        template: source.line,
                        references,
                        patch: None,
                    });
                }
            }
        }
    }
    if hits.is_empty() {
        let last = field
            .rsplit(['.', '['])
            .next()
            .unwrap_or(field)
            .trim_end_matches(']');
        all_paths.sort();
        all_paths.dedup();
        let similar: Vec<&str> = all_paths
            .iter()
            .filter(|p| p.contains(field) || p.ends_with(&format!(".{last}")))
            .take(8)
            .map(String::as_str)
            .collect();
        let whom = match &query.app {
            Some(app) => format!("`{app}` in {}", env.name),
            None => format!("environment {}", env.name),
        };
        let hint = if similar.is_empty() {
            String::new()
        } else {
            format!("; similar: {}", similar.join(", "))
        };
        return Err(Error::new(
            ErrorKind::Model,
            format!("no object of {whom} has the field `{field}`{hint}"),
        ));
    }
    Ok(FieldExplanation {
        env: env.name.clone(),
        app: query.app.clone(),
        field: field.to_owned(),
        hits,
    })
}

/// A leaf of a rendered object: written by a template (its node in the template's output) or
/// set by a patch of the environment (its value and the patch's location).
enum Leaf<'a> {
    Template(&'a Node),
    Patched(Value, Location),
}

/// Whether the leaf at `path` is the queried `field` or below it.
fn field_selects(field: &str, path: &str) -> bool {
    path == field
        || path
            .strip_prefix(field)
            .is_some_and(|r| r.starts_with('.') || r.starts_with('['))
}

/// The leaves of a rendered document once the environment's patches are applied, in document
/// order: each written by the template, or set by a patch.
fn leaves_after_patches<'d>(
    env: &Environment,
    app: Option<&str>,
    doc: &'d Node,
    object: &Value,
) -> Result<Vec<(String, Leaf<'d>)>> {
    let template_leaves = crate::fieldpath::leaves(doc);
    if env.patches.is_empty() {
        return Ok(template_leaves
            .into_iter()
            .map(|(p, n)| (p, Leaf::Template(n)))
            .collect());
    }
    let (patched, set_by) = crate::patch::trace(&env.patches, app, object)?;
    let nodes: BTreeMap<String, &Node> = template_leaves.into_iter().collect();
    Ok(crate::fieldpath::leaves(&patched)
        .into_iter()
        .filter_map(|(p, v)| match set_by.get(&p) {
            Some(at) => Some((p, Leaf::Patched(v.clone(), at.clone()))),
            None => nodes.get(&p).map(|n| (p, Leaf::Template(n))),
        })
        .collect())
}

/// A hit for a leaf a patch set: the patch's line stands where the template line would.
fn patched_hit(
    files: &Files<'_>,
    object: &Value,
    out_path: &str,
    path: String,
    value: Value,
    at: Location,
) -> FieldHit {
    let line = at.line.unwrap_or(0);
    let source = files
        .env_text
        .lines()
        .nth(line.saturating_sub(1))
        .unwrap_or_default()
        .to_owned();
    FieldHit {
        kind: object["kind"].as_str().unwrap_or_default().to_owned(),
        namespace: object["metadata"]["namespace"].as_str().map(str::to_owned),
        name: object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        file: out_path.to_owned(),
        path,
        value,
        template: TemplateLine {
            file: at.file.clone(),
            line,
            source,
            expression: None,
        },
        references: Vec::new(),
        patch: Some(Origin {
            file: at.file,
            key: at.key.unwrap_or_default(),
            line,
            layer: None,
        }),
    }
}

fn jinja_error(err: &minijinja::Error, name: &str) -> Error {
    let file = Path::new(TEMPLATES_DIR).join(err.name().unwrap_or(name));
    let mut location = Location::file(file);
    location.line = err.line();
    Error::new(
        ErrorKind::Template,
        err.detail().unwrap_or("template error").to_owned(),
    )
    .at(location)
}

/// The byte offset of a 1-based line and (character) column in `text`.
fn offset_of(text: &str, line_starts: &[usize], line: usize, column: usize) -> usize {
    let start = line_starts
        .get(line.saturating_sub(1))
        .copied()
        .unwrap_or(text.len());
    let rest = &text[start..];
    rest.char_indices()
        .nth(column.saturating_sub(1))
        .map_or(text.len(), |(i, _)| start + i)
}

struct SourceOf {
    line: TemplateLine,
    /// The template's name as minijinja knows it (`web/deployment.yaml.j2`).
    file_name: String,
}

/// The template line that wrote output bytes `offset..line_end`, and the expressions there.
fn source_of(
    platform: &Platform,
    text: &str,
    spans: &[minijinja::OutputSpan],
    offset: usize,
    line_end: usize,
    name: &str,
) -> (SourceOf, Vec<String>) {
    let end = line_end.max(offset + 1);
    let overlapping: Vec<&minijinja::OutputSpan> = spans
        .iter()
        .filter(|s| {
            let r = s.output_range();
            r.start < end && r.end > offset
        })
        .collect();
    let expressions: Vec<&minijinja::OutputSpan> = overlapping
        .iter()
        .copied()
        .filter(|s| s.kind() == minijinja::OutputSpanKind::Expression)
        .collect();
    let chosen = expressions.first().copied().or_else(|| {
        overlapping
            .iter()
            .copied()
            .find(|s| s.output_range().contains(&offset))
    });
    let template_text = |n: &str| {
        platform
            .templates
            .iter()
            .find(|t| t.path.to_str() == Some(n))
            .map(|t| t.text.as_str())
    };
    let (file_name, line) = match chosen {
        // Literal text is written as it stands in the template: count its lines up to the
        // value (a literal span can run over many lines, a loop body for instance).
        Some(span) if span.kind() == minijinja::OutputSpanKind::Raw => {
            let start = span.output_range().start;
            let newlines = text
                .get(start..offset)
                .map_or(0, |t| t.matches('\n').count());
            (span.name().to_owned(), span.line() + newlines)
        }
        Some(span) => (span.name().to_owned(), span.line()),
        None => (name.to_owned(), 0),
    };
    let source = template_text(&file_name)
        .and_then(|t| t.lines().nth(line.saturating_sub(1)))
        .unwrap_or_default()
        .to_owned();
    let exprs: Vec<String> = expressions
        .iter()
        .filter_map(|s| {
            Some(
                template_text(s.name())?
                    .get(s.source_range())?
                    .trim()
                    .to_owned(),
            )
        })
        .collect();
    let line = TemplateLine {
        file: Path::new(TEMPLATES_DIR).join(&file_name),
        line,
        source,
        expression: exprs.first().cloned(),
    };
    (SourceOf { line, file_name }, exprs)
}

/// The context paths an expression reads (`app.health.liveness`), each with the loop or `set`
/// variable it went through, if any.
fn expand_references(
    expr: &str,
    aliases: &BTreeMap<String, Vec<String>>,
) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for chain in chains(expr) {
        let root = chain.split('.').next().unwrap_or_default();
        if matches!(root, "app" | "env" | "platform" | "bundle") {
            out.push((chain, None));
        } else if let Some(targets) = aliases.get(root) {
            for target in targets {
                out.push((target.clone(), Some(root.to_owned())));
            }
        }
    }
    out
}

/// Variables bound by `{% for x in EXPR %}` and `{% set x = EXPR %}`, to the context paths
/// EXPR reads (scopes are ignored: a name bound twice maps to both).
fn loop_aliases(source: &str) -> BTreeMap<String, Vec<String>> {
    let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut rest = source;
    while let Some(start) = rest.find("{%") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("%}") else {
            break;
        };
        let tag = after[..end].trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
        rest = &after[end + 2..];
        let (vars, expr) = if let Some(body) = tag.strip_prefix("for ") {
            let Some((vars, expr)) = body.split_once(" in ") else {
                continue;
            };
            let expr = expr.split(" if ").next().unwrap_or(expr);
            (vars, expr.trim_end_matches(" recursive"))
        } else if let Some(body) = tag.strip_prefix("set ") {
            let Some((vars, expr)) = body.split_once('=') else {
                continue;
            };
            (vars, expr)
        } else {
            continue;
        };
        let mut targets = Vec::new();
        for (chain, _) in expand_references(expr, &aliases) {
            if !targets.contains(&chain) {
                targets.push(chain);
            }
        }
        if targets.is_empty() {
            continue;
        }
        for var in vars.split(',').map(str::trim).filter(|v| !v.is_empty()) {
            let entry = aliases.entry(var.to_owned()).or_default();
            for t in &targets {
                if !entry.contains(t) {
                    entry.push(t.clone());
                }
            }
        }
    }
    aliases
}

/// The variable paths of an expression as field paths (`a.b["c"].d` as `a.b.c.d`,
/// `a["x.y/z"]` quoted, `a[0]` as an index), outside string literals;
/// a path followed by `(` loses its last segment (a method or macro call).
fn chains(expr: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let ident_start = |c: char| c.is_ascii_alphabetic() || c == '_';
    let ident_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = Vec::new();
    let mut i = 0;
    // The last character outside whitespace and string literals.
    let mut last = ' ';
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            last = c;
            continue;
        }
        let inside_token = i > 0 && ident_char(chars[i - 1]);
        if !ident_start(c) || inside_token || last == '.' {
            if !c.is_whitespace() {
                last = c;
            }
            i += 1;
            continue;
        }
        let read_ident = |i: &mut usize| {
            let start = *i;
            while *i < chars.len() && ident_char(chars[*i]) {
                *i += 1;
            }
            chars[start..*i].iter().collect::<String>()
        };
        // Segments as field paths: `Ok(key)` or `Err(index)`.
        let mut segments: Vec<std::result::Result<String, usize>> = vec![Ok(read_ident(&mut i))];
        loop {
            if i + 1 < chars.len() && chars[i] == '.' && ident_start(chars[i + 1]) {
                i += 1;
                segments.push(Ok(read_ident(&mut i)));
            } else if i < chars.len() && chars[i] == '[' {
                let Some(close) = chars[i..].iter().position(|&c| c == ']').map(|p| i + p) else {
                    break;
                };
                let inner: String = chars[i + 1..close].iter().collect();
                let inner = inner.trim();
                let key = inner
                    .strip_prefix('"')
                    .and_then(|s| s.strip_suffix('"'))
                    .or_else(|| inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
                    .map(|k| Ok(k.to_owned()))
                    .or_else(|| inner.parse::<usize>().ok().map(Err));
                match key {
                    Some(key) => {
                        segments.push(key);
                        i = close + 1;
                    }
                    None => break,
                }
            } else {
                break;
            }
        }
        if i < chars.len() && chars[i] == '(' {
            segments.pop();
        }
        if !segments.is_empty() {
            out.push(segments.iter().fold(String::new(), |path, s| match s {
                Ok(k) => crate::fieldpath::key(&path, k),
                Err(n) => crate::fieldpath::index(&path, *n),
            }));
        }
        last = chars[i - 1];
    }
    out
}

/// When an expression reads several values (a macro call with many arguments), keeps those
/// whose value is the rendered one, if any is; derived facts are kept as they are.
fn narrow(references: &mut Vec<Reference>, value: &Value) {
    let same = |v: &Value| {
        v == value
            || scalar_text(v).is_some_and(|a| scalar_text(value).is_some_and(|b| a == b))
            || v.as_array().is_some_and(|items| items.contains(value))
    };
    if references.len() > 1 {
        let keep: Vec<bool> = references
            .iter()
            .map(|r| r.value.as_ref().is_some_and(same) || r.from.iter().any(|s| same(&s.value)))
            .collect();
        if keep.iter().any(|k| *k) {
            let mut k = keep.iter();
            references.retain(|_| *k.next().expect("one flag per reference"));
        }
    }
    for r in references.iter_mut() {
        if r.rule.is_none() && r.from.len() > 1 && r.from.iter().any(|s| same(&s.value)) {
            r.from.retain(|s| same(&s.value));
        }
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scaffold and every platform of this repository (read from disk, names unknown).
    fn platform_dirs() -> Vec<PathBuf> {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let repo = manifest.join("../..");
        let mut dirs = vec![manifest.join("scaffold"), repo.clone()];
        if let Ok(entries) = std::fs::read_dir(repo.join("examples")) {
            let mut examples: Vec<PathBuf> = entries
                .filter_map(|e| Some(e.ok()?.path()))
                .filter(|p| p.join(PLATFORM_FILE).is_file())
                .collect();
            examples.sort();
            dirs.extend(examples);
        }
        dirs
    }

    /// Explain renders apart from `render`; both must produce the same objects, or the
    /// template lines it names would be those of some other output.
    #[test]
    fn the_spanned_render_is_the_normal_render() {
        for dir in platform_dirs() {
            let platform = crate::resolve(&crate::load(&dir).unwrap()).unwrap();
            let rendered = crate::render(&platform).unwrap();
            let jinja = render::jinja(&platform).unwrap();
            let sets = render::template_sets(&platform);
            let mut seen = 0;
            for env in &platform.environments {
                let components: Vec<&Component> = env.components.iter().collect();
                for unit in units(&platform, env, &components, true) {
                    for spanned in render_spanned(&jinja, &sets, &unit).unwrap() {
                        let objects: Vec<Value> =
                            yaml::parse_documents(&spanned.text, &spanned.template_path)
                                .unwrap()
                                .iter()
                                .map(|n| {
                                    // Explain replays the environment's patches (`trace`).
                                    let app = unit.component.map(|c| c.app.as_str());
                                    crate::patch::trace(&env.patches, app, &n.to_json())
                                        .unwrap()
                                        .0
                                })
                                .collect();
                        let want = rendered
                            .files
                            .get(&spanned.out_path)
                            .map(|f| f.objects.clone())
                            .unwrap_or_default();
                        assert_eq!(objects, want, "{}: {}", dir.display(), spanned.out_path);
                        seen += objects.len();
                    }
                }
            }
            let total: usize = rendered
                .files
                .values()
                .filter(|f| {
                    f.origin
                        .as_ref()
                        .is_some_and(|o| o.template.starts_with(TEMPLATES_DIR))
                })
                .map(|f| f.objects.len())
                .sum();
            assert_eq!(seen, total, "{}", dir.display());
        }
    }

    /// Every object of every platform: each leaf is traced to a template line, and every
    /// reference to `app` data that the app sets leads to a file, key and line.
    #[test]
    fn every_rendered_leaf_has_a_template_line() {
        for dir in platform_dirs() {
            let sources = crate::load(&dir).unwrap();
            let platform = crate::resolve(&sources).unwrap();
            for env in &platform.environments {
                let query = Query::parse(&env.name, Some("metadata"));
                let Explanation::Field(f) = explain(&platform, &sources, &query).unwrap() else {
                    panic!("a field query explains a field");
                };
                for hit in &f.hits {
                    assert!(hit.template.line > 0, "{}: {hit:?}", dir.display());
                    assert!(!hit.template.source.is_empty(), "{hit:?}");
                }
                for c in &env.components {
                    let query = Query::parse(&format!("{}/{}", env.name, c.app), None);
                    let Explanation::App(a) = explain(&platform, &sources, &query).unwrap() else {
                        panic!("an app query explains an app");
                    };
                    for component in &a.components {
                        for setting in &component.settings {
                            let origin = setting.origin.as_ref().expect("settings have origins");
                            assert!(origin.line > 0, "{setting:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn expressions_name_the_context_paths_they_read() {
        assert_eq!(chains("app.replicas"), ["app.replicas"]);
        assert_eq!(
            chains(
                r#"k8s.http_probe(app.health.path, app.health.port, app.health.liveness) | indent(12)"#
            ),
            [
                "k8s",
                "app.health.path",
                "app.health.port",
                "app.health.liveness"
            ]
        );
        assert_eq!(
            chains("host in app.hosts if x"),
            ["host", "in", "app.hosts", "if", "x"]
        );
        assert_eq!(
            chains(r#"(app.name ~ "-tls.app.x") | tojson"#),
            ["app.name", "tojson"]
        );
        assert_eq!(
            chains(r#"platform.values["image_pull_secret"] | tojson"#),
            ["platform.values.image_pull_secret", "tojson"]
        );
        assert_eq!(chains("app.hosts[0]"), ["app.hosts[0]"]);
        assert_eq!(
            chains(r#"app.annotations["sidecar.istio.io/rewriteAppHTTPProbers"] | tojson"#),
            [
                r#"app.annotations["sidecar.istio.io/rewriteAppHTTPProbers"]"#,
                "tojson"
            ]
        );
        let aliases =
            loop_aliases("{% for host in app.hosts %}\n{% for k, v in app.env | dictsort %}");
        assert_eq!(aliases["host"], ["app.hosts"]);
        assert_eq!(aliases["v"], ["app.env"]);
        assert_eq!(
            expand_references("host | tojson", &aliases),
            [("app.hosts".to_owned(), Some("host".to_owned()))]
        );
    }

    #[test]
    fn a_macro_call_narrows_to_the_arguments_with_the_rendered_value() {
        let setting = |name: &str, value: Value| Setting {
            name: name.into(),
            value,
            origin: None,
            note: None,
        };
        let mut refs = vec![
            Reference {
                expr: "app.health.path".into(),
                value: Some(json!("/healthz")),
                rule: None,
                from: vec![setting("health.path", json!("/healthz"))],
            },
            Reference {
                expr: "app.health.liveness".into(),
                value: Some(json!({"period": 20, "timeout": 1})),
                rule: None,
                from: vec![
                    setting("health.liveness.period", json!(20)),
                    setting("health.liveness.timeout", json!(1)),
                ],
            },
        ];
        narrow(&mut refs, &json!(20));
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].from.len(), 1);
        assert_eq!(refs[0].from[0].name, "health.liveness.period");
    }
}
