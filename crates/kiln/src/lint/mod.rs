//! `kiln lint`: typed schema checks, references across objects, and the platform's policy
//! rules, over a rendered tree. Pure: it reads the `Rendered` objects and the platform's
//! `lint:` configuration, and returns findings.
//!
//! Every finding names its rule (a stable id), the environment, the object, the field path and
//! what goes wrong in the cluster, and points back to the template (and, where the value comes
//! from a workload field, the data file and key) that produced it. Exceptions are data: a
//! `lint.exceptions` entry silences one rule for an environment, app or object, with a reason,
//! and `kiln lint` lists the active ones.

mod policy;
mod refs;
mod schema;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

pub use crate::model::{CustomResource, Exception, External, Item, LintConfig, ObjectSelector};

use crate::crd::CrdSet;
use crate::load::TEMPLATES_DIR;
use crate::model::Subject;
use crate::render::{FileOrigin, Rendered, RenderedFile};
use crate::resolve::{Component, Platform};

/// How bad a finding is; errors sort before warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Fails `kiln lint`, `render` and `check`.
    Error,
    /// Reported, but fails nothing.
    Warning,
}

/// A rule kiln checks, with the failure it prevents.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rule {
    /// The stable id findings and exceptions name (`rolling-update`).
    pub id: &'static str,
    /// The severity of the rule's findings.
    pub severity: Severity,
    /// What goes wrong in the cluster when the rule is broken.
    pub reason: &'static str,
}

/// Every rule, in report order.
pub const RULES: &[Rule] = &[
    Rule { id: "schema", severity: Severity::Error, reason: "the API server rejects (or silently drops) fields its schema does not know, so the object is not what the file says" },
    Rule { id: "unknown-kind", severity: Severity::Error, reason: "a kind with no schema cannot be checked; keep its CustomResourceDefinition in crds/ (or declare a schema in kiln.yaml `lint.custom_resources`)" },
    Rule { id: "duplicate-object", severity: Severity::Error, reason: "two objects with one kind, namespace and name overwrite each other on apply" },
    Rule { id: "duplicate-host", severity: Severity::Error, reason: "a hostname served by two Ingresses (in one environment, or in two environments on the platform's one cluster) routes unpredictably between them" },
    Rule { id: "namespace-exists", severity: Severity::Error, reason: "applying into a namespace that does not exist fails" },
    Rule { id: "service-selector", severity: Severity::Error, reason: "a Service whose selector matches no pods has no endpoints and every request fails; one matching the pods of several workloads sends requests to the wrong app" },
    Rule { id: "service-port", severity: Severity::Error, reason: "a Service targetPort (number or name) that no selected container declares sends traffic to a port nothing listens on: every request fails" },
    Rule { id: "ingress-backend", severity: Severity::Error, reason: "an Ingress backend naming a missing Service or port answers 503" },
    Rule { id: "pdb-selector", severity: Severity::Error, reason: "a PodDisruptionBudget that selects no pods protects nothing" },
    Rule { id: "service-account", severity: Severity::Error, reason: "pods naming a missing ServiceAccount are never created" },
    Rule { id: "secret-ref", severity: Severity::Error, reason: "a reference to a Secret nothing provides keeps pods in CreateContainerConfigError (seed 002: secret references that never resolved)" },
    Rule { id: "secret-key", severity: Severity::Error, reason: "a key the secret-manager item does not hold, or holds in another case (the 1Password operator preserves field names as written), leaves the variable unset and the app crashes at startup (seed 000)" },
    Rule { id: "configmap-ref", severity: Severity::Error, reason: "a reference to a missing ConfigMap keeps pods from starting" },
    Rule { id: "pvc-ref", severity: Severity::Error, reason: "a volume naming a missing PersistentVolumeClaim keeps pods Pending" },
    Rule { id: "rolling-update", severity: Severity::Error, reason: "a rollout whose effective maxUnavailable (default 25%, rounded down against the replicas) is not 0, or whose effective maxSurge (default 25%, rounded up) is below 1, takes ready pods away before new ones pass readiness: downtime" },
    Rule { id: "singleton", severity: Severity::Error, reason: "a workload declared a singleton (`max_replicas`) that runs more copies, or whose rolling update starts a new copy before the old one stops, does its work twice (seed 002: the Asynq scheduler enqueues every periodic task twice)" },
    Rule { id: "probes", severity: Severity::Error, reason: "a serving container without liveness and readiness probes on the port and path the app serves gets traffic before it is ready, or is restarted while healthy (seed 002: a probe path that 404s kills pods)" },
    Rule { id: "pdb-replicas", severity: Severity::Error, reason: "a PodDisruptionBudget on fewer than two replicas, or one that allows no eviction, blocks every node drain (seed 002: minAvailable 1 on a singleton)" },
    Rule { id: "spread", severity: Severity::Warning, reason: "replicas of a multi-replica workload without anti-affinity or topology spread can all land on one node and fail together" },
    Rule { id: "startup-budget", severity: Severity::Error, reason: "a startup budget (failureThreshold x periodSeconds) shorter than the app's declared startup time kills it during startup (seed 002: the migration lock)" },
    Rule { id: "service-account-token", severity: Severity::Error, reason: "a pod that mounts an API token it does not need (the pod's `automountServiceAccountToken`, else its ServiceAccount's, else mounted) hands an attacker a credential" },
    Rule { id: "image-tag", severity: Severity::Error, reason: "an image without an explicit, immutable tag (or `latest`) means git no longer says what runs" },
    Rule { id: "resources", severity: Severity::Error, reason: "containers without requests and a memory limit are scheduled blindly and can starve or OOM-kill their neighbours" },
    Rule { id: "ingress-tls", severity: Severity::Error, reason: "an Ingress host without TLS serves credentials and cookies in clear text" },
    Rule { id: "auth-middleware", severity: Severity::Error, reason: "a dashboard or administration endpoint without an auth middleware is open to the internet" },
    Rule { id: "stateful-ondelete", severity: Severity::Error, reason: "a data-stateful StatefulSet that rolls on its own can upgrade its data store without an operator watching" },
    Rule { id: "plaintext-secret", severity: Severity::Error, reason: "a credential in a committed manifest (a Secret's data, a password-named literal, or a value shaped like a credential: a URL with a password, a provider token, an AWS key, a private key) is leaked to everyone who can read the repository" },
    Rule { id: "network-policy-cni", severity: Severity::Error, reason: "NetworkPolicies on a CNI that does not enforce them (k3s' Flannel) give a false sense of isolation" },
    Rule { id: "unknown-rule", severity: Severity::Error, reason: "an exception naming a rule that does not exist (a typo) silences nothing: the decision it records is not in force" },
    Rule { id: "stale-exception", severity: Severity::Warning, reason: "an exception that silences nothing is a recorded decision nobody re-examines; remove it or correct its scope" },
];

/// The rule with id `id`.
///
/// # Panics
///
/// When no rule has that id (every id kiln reports is in [`RULES`]).
pub fn rule(id: &str) -> &'static Rule {
    RULES
        .iter()
        .find(|r| r.id == id)
        .expect("every rule id used is in RULES")
}

/// One problem found.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Finding {
    /// The id of the rule broken.
    pub rule: &'static str,
    /// The rule's severity.
    pub severity: Severity,
    /// The environment; for a finding about a `lint.exceptions` entry, the entry's `env`, or
    /// `*` when it names none.
    pub env: String,
    /// `Kind namespace/name`.
    pub object: String,
    /// The file in the output tree.
    pub file: String,
    /// Field path in the object, like `spec.template.spec.containers[name=web].livenessProbe`.
    pub path: String,
    /// What is wrong and what it does in the cluster.
    pub message: String,
    /// The template line that wrote the field, and the data file, line and key its value came
    /// from (or that it has none: a literal in the template).
    pub source: String,
}

/// An exception in force, and how many findings it silenced.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ActiveException {
    /// The rule it silences, as written.
    pub rule: String,
    /// Why, as written.
    pub reason: String,
    /// What it applies to (`env prod, app shop`, or `everywhere`).
    pub scope: String,
    /// How many findings it silenced in the whole run.
    pub silenced: usize,
}

/// The result of linting a rendered tree.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LintReport {
    /// The findings not silenced, sorted by severity, environment, file and rule.
    pub findings: Vec<Finding>,
    /// Every `lint.exceptions` entry, in written order.
    pub exceptions: Vec<ActiveException>,
}

impl LintReport {
    /// How many findings are errors.
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }
}

/// An object with what is known about where it came from.
pub(crate) struct Obj<'a> {
    pub env: &'a str,
    pub file: &'a str,
    pub value: &'a Value,
    pub component: Option<&'a Component>,
    /// What rendered the object's file.
    pub origin: Option<&'a FileOrigin>,
}

impl Obj<'_> {
    pub fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }
    pub fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }
    pub fn namespace(&self) -> Option<&str> {
        self.value["metadata"]["namespace"].as_str()
    }
    pub fn title(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{} {ns}/{}", self.kind(), self.name()),
            None => format!("{} {}", self.kind(), self.name()),
        }
    }
    /// Whether `image` is the component's own image (not a sidecar's or a companion's).
    pub fn own_image(&self, image: &str) -> bool {
        self.component.is_some_and(|c| c.derived.image_ref == image)
    }
}

/// Collects findings; the checks call [`Sink::report`].
pub(crate) struct Sink<'p> {
    platform: &'p Platform,
    findings: Vec<Finding>,
    silenced: Vec<usize>,
}

impl<'p> Sink<'p> {
    fn new(platform: &'p Platform) -> Self {
        Sink {
            platform,
            findings: Vec::new(),
            silenced: vec![0; platform.lint.exceptions.len()],
        }
    }

    /// Takes over another sink's findings (after this one's) and silenced counts.
    fn absorb(&mut self, other: Sink<'_>) {
        self.findings.extend(other.findings);
        for (mine, theirs) in self.silenced.iter_mut().zip(other.silenced) {
            *mine += theirs;
        }
    }

    /// A finding whose field is written by the template alone (or whose data source is
    /// found by its value, like a `files/` env file's line).
    pub fn report(&mut self, rule_id: &'static str, obj: &Obj<'_>, path: &str, message: String) {
        self.emit(rule_id, obj, path, message, &[], None);
    }

    /// Like `report`, naming the workload fields the value may come from, most specific first
    /// (`health.startup.failure_threshold`, `health.startup`): the first one set in the data
    /// is the source. Pass none when the field does not come from the workload's settings.
    pub fn report_from(
        &mut self,
        rule_id: &'static str,
        obj: &Obj<'_>,
        path: &str,
        message: String,
        fields: &[&str],
    ) {
        self.emit(rule_id, obj, path, message, fields, None);
    }

    /// Like `report_from`, about one environment variable or config key: an exception may
    /// name it (`variable:`).
    pub fn report_var(
        &mut self,
        rule_id: &'static str,
        obj: &Obj<'_>,
        path: &str,
        message: String,
        variable: &str,
        fields: &[&str],
    ) {
        self.emit(rule_id, obj, path, message, fields, Some(variable));
    }

    fn emit(
        &mut self,
        rule_id: &'static str,
        obj: &Obj<'_>,
        path: &str,
        message: String,
        fields: &[&str],
        variable: Option<&str>,
    ) {
        let app = obj.component.map(|c| c.app.as_str());
        if let Some(i) = self.platform.lint.exceptions.iter().position(|e| {
            e.matches(&Subject {
                rule: rule_id,
                env: obj.env,
                app,
                chart: obj.origin.and_then(FileOrigin::chart),
                kind: obj.kind(),
                name: obj.name(),
                variable,
            })
        }) {
            self.silenced[i] += 1;
            return;
        }
        let source = source(self.platform, obj, path, fields);
        let rule = rule(rule_id);
        self.findings.push(Finding {
            rule: rule.id,
            severity: rule.severity,
            env: obj.env.to_owned(),
            object: obj.title(),
            file: obj.file.to_owned(),
            path: path.to_owned(),
            message,
            source,
        });
    }

    /// A finding about the platform's `lint:` configuration itself.
    fn report_config(
        &mut self,
        rule_id: &'static str,
        env: &str,
        object: String,
        path: String,
        message: String,
    ) {
        let rule = rule(rule_id);
        self.findings.push(Finding {
            rule: rule.id,
            severity: rule.severity,
            env: env.to_owned(),
            object,
            file: crate::load::PLATFORM_FILE.to_owned(),
            path: path.clone(),
            message,
            source: format!("{} `{path}`", crate::load::PLATFORM_FILE),
        });
    }
}

/// Where the offending field of a finding came from: the template line that writes it, then
/// the data that gave it its value: the first of `fields` set in the component's settings
/// (file, line and key), a `files/` env file's line for a ConfigMap key, or, for a line that
/// prints nothing from the data, the note that it is a literal of the template.
fn source(platform: &Platform, obj: &Obj<'_>, path: &str, fields: &[&str]) -> String {
    let Some(origin) = obj.origin else {
        return String::new();
    };
    let line = template_line(platform, &origin.template, path);
    let mut source = match line {
        Some((n, _)) => format!("{}:{n}", origin.template.display()),
        None => origin.template.display().to_string(),
    };
    if let Some(component) = obj.component {
        for field in fields {
            let prefix = format!("{field}.");
            let hit = component
                .provenance
                .iter()
                .find(|(p, _)| ***p == **field || p.starts_with(&prefix));
            if let Some((p, s)) = hit {
                let key = if s.key.ends_with(&**p) || s.key.ends_with(field) {
                    s.key.to_string()
                } else {
                    format!("{} ({p})", s.key)
                };
                let _ = write!(
                    source,
                    "; value from {}:{} `{key}`",
                    s.file.display(),
                    s.line
                );
                return source;
            }
        }
    }
    if let Some(hit) = files_line(platform, obj, path) {
        let _ = write!(source, "; value from {hit}");
        return source;
    }
    match line {
        Some((_, text)) if !text.contains("{{") && !text.contains("{%") => {
            source.push_str("; a literal in the template, no data key sets it");
        }
        Some(_) if !fields.is_empty() => {
            source.push_str("; no data key sets it (the template computes it)");
        }
        _ if obj.component.is_none() => {
            let _ = write!(source, "; settings of {}", origin.env_file.display());
        }
        _ => {}
    }
    source
}

/// For a ConfigMap's `data.KEY`: the `files/` line `KEY=value` with the same value, as
/// `files/x.env:LINE `KEY``.
fn files_line(platform: &Platform, obj: &Obj<'_>, path: &str) -> Option<String> {
    if obj.kind() != "ConfigMap" {
        return None;
    }
    let key = path.strip_prefix("data.")?;
    let value = obj.value["data"][key].as_str()?;
    platform.files.iter().find_map(|f| {
        f.text.lines().enumerate().find_map(|(i, line)| {
            let line = line.trim_start();
            let line = line.strip_prefix("export ").unwrap_or(line);
            let (k, v) = line.split_once('=')?;
            let v = v.trim();
            let unquoted = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            (k.trim() == key && unquoted == value).then(|| {
                format!(
                    "{}/{}:{} `{key}`",
                    crate::load::FILES_DIR,
                    f.path.display(),
                    i + 1
                )
            })
        })
    })
}

/// The line of `template` (relative to the platform root) that writes the last key of
/// `path`, and its text: the first line where that key starts a mapping entry. Only a
/// pointer for people; a key written by a macro points at the macro's caller or nowhere.
fn template_line<'t>(
    platform: &'t Platform,
    template: &Path,
    path: &str,
) -> Option<(usize, &'t str)> {
    let template = template.strip_prefix(TEMPLATES_DIR).ok()?;
    let text = &platform.templates.iter().find(|t| t.path == template)?.text;
    let key = path.rsplit('.').next()?.split('[').next()?;
    if key.is_empty() {
        return None;
    }
    text.lines()
        .enumerate()
        .find(|(_, line)| {
            let line = line.trim_start().trim_start_matches("- ");
            line.strip_prefix(key)
                .is_some_and(|rest| rest.starts_with(':'))
        })
        .map(|(i, line)| (i + 1, line))
}

/// Lints every environment of a rendered platform.
pub fn lint(platform: &Platform, rendered: &Rendered) -> LintReport {
    let mut by_env: BTreeMap<&str, Vec<(&str, &RenderedFile)>> = BTreeMap::new();
    for (path, file) in &rendered.files {
        if let Some(env) = file.env.as_deref() {
            by_env.entry(env).or_default().push((path, file));
        }
    }
    let mut linter = Linter::new(platform);
    for files in by_env.values() {
        linter.add_env(files);
    }
    linter.finish()
}

/// Lints a platform one environment at a time, so that a render can drop each environment's
/// objects once they are linted (`crate::workflow` drives both).
pub(crate) struct Linter<'p> {
    sink: Sink<'p>,
    clean: schema::CleanShapes,
    /// Hostnames served by the environments linted so far: every environment of a platform
    /// runs on its one cluster, so a hostname may be served by one of them only.
    hosts: refs::Hosts,
}

impl<'p> Linter<'p> {
    pub fn new(platform: &'p Platform) -> Self {
        Linter {
            sink: Sink::new(platform),
            clean: schema::CleanShapes::default(),
            hosts: refs::Hosts::default(),
        }
    }

    /// Lints the files of one environment, given in path order.
    pub fn add_env(&mut self, files: &[(&str, &RenderedFile)]) {
        let platform = self.sink.platform;
        let clean = &self.clean;
        let hosts = &mut self.hosts;
        let Some(env) = files
            .iter()
            .find_map(|(_, f)| f.env.as_deref())
            .and_then(|env| platform.environment(env))
        else {
            return;
        };
        // Components by (app, kind): one lookup per file.
        let components: BTreeMap<(&str, &str), &Component> = env
            .components
            .iter()
            .map(|c| ((c.app.as_str(), c.kind.as_str()), c))
            .collect();
        let mut objects: Vec<Obj<'_>> = Vec::new();
        for (path, file) in files {
            let origin = file.origin.as_ref();
            let component = origin.and_then(|o| {
                components
                    .get(&(o.app.as_deref()?, o.kind.as_deref()?))
                    .copied()
            });
            for value in &file.objects {
                objects.push(Obj {
                    env: &env.name,
                    file: path,
                    value,
                    component,
                    origin,
                });
            }
        }
        // CRDs the environment renders itself (its own or a chart's) define kinds for it; a
        // CRD that cannot be read is a finding on that CRD.
        let mut rendered_crds = CrdSet::default();
        for obj in objects
            .iter()
            .filter(|o| o.kind() == "CustomResourceDefinition")
        {
            if let Err(e) = rendered_crds.add(obj.file, 1, obj.value) {
                self.sink
                    .report("schema", obj, "spec", e.message().to_owned());
            }
        }
        let rendered_crds = &rendered_crds;
        // Schema and policy look at one object at a time: chunks of objects on every core,
        // their findings kept in object order (schema first, then references, then policy, as
        // a sequential pass reports them). The references, whose index is built in one pass,
        // are checked alongside, so that pass does not leave a core idle.
        let chunks: Vec<&[Obj<'_>]> = objects.chunks(256).collect();
        let (checked, refs_sink) = rayon::join(
            || {
                crate::par::par_map(&chunks, |chunk| {
                    let mut schema_sink = Sink::new(platform);
                    let mut policy_sink = Sink::new(platform);
                    for obj in *chunk {
                        schema::check(platform, rendered_crds, obj, clean, &mut schema_sink);
                        policy::check(platform, obj, &mut policy_sink);
                    }
                    Ok((schema_sink, policy_sink))
                })
            },
            || {
                let mut refs_sink = Sink::new(platform);
                refs::check(platform, &objects, hosts, &mut refs_sink);
                refs_sink
            },
        );
        let mut policy_sinks = Vec::with_capacity(checked.len());
        for result in checked {
            let (schema_sink, policy_sink) = result.expect("object checks do not fail");
            self.sink.absorb(schema_sink);
            policy_sinks.push(policy_sink);
        }
        self.sink.absorb(refs_sink);
        for policy_sink in policy_sinks {
            self.sink.absorb(policy_sink);
        }
    }

    /// The report: every finding, then the exceptions' own: one naming a rule that does not
    /// exist is an error (`unknown-rule`), one that silenced nothing a warning
    /// (`stale-exception`).
    pub fn finish(self) -> LintReport {
        let mut sink = self.sink;
        let platform = sink.platform;
        let mut exceptions = Vec::new();
        for (i, (e, &silenced)) in platform
            .lint
            .exceptions
            .iter()
            .zip(&sink.silenced.clone())
            .enumerate()
        {
            let env = e.env.as_deref().unwrap_or("*");
            let object = format!("exception[{}] {}", e.rule, e.scope());
            if !RULES.iter().any(|r| r.id == e.rule) {
                let near = RULES
                    .iter()
                    .min_by_key(|r| edit_distance(r.id, &e.rule))
                    .filter(|r| edit_distance(r.id, &e.rule) <= 3)
                    .map(|r| format!(" (did you mean `{}`?)", r.id))
                    .unwrap_or_default();
                sink.report_config(
                    "unknown-rule",
                    env,
                    object,
                    format!("lint.exceptions[{i}].rule"),
                    format!("no rule `{}`{near}: this exception silences nothing; `kiln lint --rules` lists the rules", e.rule),
                );
            } else if silenced == 0 {
                sink.report_config(
                    "stale-exception",
                    env,
                    object,
                    format!("lint.exceptions[{i}]"),
                    format!(
                        "silences no `{}` finding: nothing it selects breaks the rule any more",
                        e.rule
                    ),
                );
            }
            exceptions.push(ActiveException {
                rule: e.rule.clone(),
                reason: e.reason.clone(),
                scope: e.scope(),
                silenced,
            });
        }
        let mut findings = sink.findings;
        findings.sort_by(|a, b| {
            (a.severity, &a.env, &a.file, a.rule).cmp(&(b.severity, &b.env, &b.file, b.rule))
        });
        LintReport {
            findings,
            exceptions,
        }
    }
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
