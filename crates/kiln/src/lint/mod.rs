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

pub use crate::model::{CustomResource, Exception, External, LintConfig, ObjectSelector};

use crate::crd::CrdSet;
use crate::load::TEMPLATES_DIR;
use crate::render::{FileOrigin, Rendered, RenderedFile};
use crate::resolve::{Component, Platform};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A rule kiln checks, with the failure it prevents.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub reason: &'static str,
}

/// Every rule, in report order.
pub const RULES: &[Rule] = &[
    Rule { id: "schema", severity: Severity::Error, reason: "the API server rejects (or silently drops) fields its schema does not know, so the object is not what the file says" },
    Rule { id: "unknown-kind", severity: Severity::Error, reason: "a kind with no schema cannot be checked; keep its CustomResourceDefinition in crds/ (or declare a schema in kiln.yaml `lint.custom_resources`)" },
    Rule { id: "duplicate-object", severity: Severity::Error, reason: "two objects with one kind, namespace and name overwrite each other on apply" },
    Rule { id: "duplicate-host", severity: Severity::Error, reason: "a hostname served by two Ingresses routes unpredictably between them" },
    Rule { id: "namespace-exists", severity: Severity::Error, reason: "applying into a namespace that does not exist fails" },
    Rule { id: "service-selector", severity: Severity::Error, reason: "a Service whose selector matches no pods has no endpoints and every request fails" },
    Rule { id: "ingress-backend", severity: Severity::Error, reason: "an Ingress backend naming a missing Service or port answers 503" },
    Rule { id: "pdb-selector", severity: Severity::Error, reason: "a PodDisruptionBudget that selects no pods protects nothing" },
    Rule { id: "service-account", severity: Severity::Error, reason: "pods naming a missing ServiceAccount are never created" },
    Rule { id: "secret-ref", severity: Severity::Error, reason: "a reference to a Secret nothing provides keeps pods in CreateContainerConfigError (seed 002: secret references that never resolved)" },
    Rule { id: "configmap-ref", severity: Severity::Error, reason: "a reference to a missing ConfigMap keeps pods from starting" },
    Rule { id: "pvc-ref", severity: Severity::Error, reason: "a volume naming a missing PersistentVolumeClaim keeps pods Pending" },
    Rule { id: "rolling-update", severity: Severity::Error, reason: "without maxUnavailable 0 and maxSurge >= 1 a rollout takes ready pods away before new ones pass readiness: downtime" },
    Rule { id: "probes", severity: Severity::Error, reason: "a serving container without liveness and readiness probes on a port it declares gets traffic before it is ready and is never restarted when hung (seed 002: a probe path that 404s kills pods)" },
    Rule { id: "pdb-replicas", severity: Severity::Error, reason: "a PodDisruptionBudget on fewer than two replicas, or one that allows no eviction, blocks every node drain (seed 002: minAvailable 1 on a singleton)" },
    Rule { id: "spread", severity: Severity::Warning, reason: "replicas of a multi-replica workload without anti-affinity or topology spread can all land on one node and fail together" },
    Rule { id: "startup-budget", severity: Severity::Error, reason: "a startup budget (failureThreshold x periodSeconds) shorter than the app's declared startup time kills it during startup (seed 002: the migration lock)" },
    Rule { id: "service-account-token", severity: Severity::Error, reason: "a mounted API token the workload does not need is a credential an attacker can use" },
    Rule { id: "image-tag", severity: Severity::Error, reason: "an image without an explicit, immutable tag (or `latest`) means git no longer says what runs" },
    Rule { id: "resources", severity: Severity::Error, reason: "containers without requests and a memory limit are scheduled blindly and can starve or OOM-kill their neighbours" },
    Rule { id: "ingress-tls", severity: Severity::Error, reason: "an Ingress host without TLS serves credentials and cookies in clear text" },
    Rule { id: "auth-middleware", severity: Severity::Error, reason: "a dashboard or administration endpoint without an auth middleware is open to the internet" },
    Rule { id: "stateful-ondelete", severity: Severity::Error, reason: "a data-stateful StatefulSet that rolls on its own can upgrade its data store without an operator watching" },
    Rule { id: "plaintext-secret", severity: Severity::Error, reason: "a secret value in a committed manifest is leaked to everyone who can read the repository" },
    Rule { id: "network-policy-cni", severity: Severity::Error, reason: "NetworkPolicies on a CNI that does not enforce them (k3s' Flannel) give a false sense of isolation" },
];

pub fn rule(id: &str) -> &'static Rule {
    RULES
        .iter()
        .find(|r| r.id == id)
        .expect("every rule id used is in RULES")
}

/// One problem found.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub env: String,
    /// `Kind namespace/name`.
    pub object: String,
    /// The file in the output tree.
    pub file: String,
    /// Field path in the object, like `spec.template.spec.containers[name=web].livenessProbe`.
    pub path: String,
    pub message: String,
    /// The template that rendered the object, and the data file and key when the value comes
    /// from a workload setting.
    pub source: String,
}

/// An exception in force, and how many findings it silenced.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ActiveException {
    pub rule: String,
    pub reason: String,
    pub scope: String,
    pub silenced: usize,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LintReport {
    pub findings: Vec<Finding>,
    pub exceptions: Vec<ActiveException>,
}

impl LintReport {
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

    pub fn report(&mut self, rule_id: &'static str, obj: &Obj<'_>, path: &str, message: String) {
        self.report_from(rule_id, obj, path, message, None);
    }

    /// Like `report`, naming the workload field the value came from (`health.startup`).
    pub fn report_from(
        &mut self,
        rule_id: &'static str,
        obj: &Obj<'_>,
        path: &str,
        message: String,
        field: Option<&str>,
    ) {
        let app = obj.component.map(|c| c.app.as_str());
        if let Some(i) = self
            .platform
            .lint
            .exceptions
            .iter()
            .position(|e| e.matches(rule_id, obj.env, app, obj.kind(), obj.name()))
        {
            self.silenced[i] += 1;
            return;
        }
        let mut source = match obj.origin {
            Some(origin) => match template_line(self.platform, &origin.template, path) {
                Some(line) => format!("{}:{line}", origin.describe()),
                None => origin.describe(),
            },
            None => String::new(),
        };
        if let (Some(component), Some(field)) = (obj.component, field) {
            let prefix = format!("{field}.");
            let hit = component
                .provenance
                .iter()
                .find(|(p, _)| ***p == *field || p.starts_with(&prefix));
            if let Some((_, s)) = hit {
                let key = if s.key.ends_with(field) {
                    s.key.to_string()
                } else {
                    format!("{} ({field})", s.key)
                };
                let _ = write!(
                    source,
                    "; value from {}:{} `{key}`",
                    s.file.display(),
                    s.line
                );
            }
        }
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
}

/// The line of `template` (relative to the platform root) that writes the last key of
/// `path`: the first line where that key starts a mapping entry. Only a pointer for people;
/// a key written by a macro points at the macro's caller or nowhere.
fn template_line(platform: &Platform, template: &Path, path: &str) -> Option<usize> {
    let template = template.strip_prefix(TEMPLATES_DIR).ok()?;
    let text = &platform.templates.iter().find(|t| t.path == template)?.text;
    let key = path.rsplit('.').next()?.split('[').next()?;
    if key.is_empty() {
        return None;
    }
    text.lines()
        .position(|line| {
            let line = line.trim_start().trim_start_matches("- ");
            line.strip_prefix(key)
                .is_some_and(|rest| rest.starts_with(':'))
        })
        .map(|i| i + 1)
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
}

impl<'p> Linter<'p> {
    pub fn new(platform: &'p Platform) -> Self {
        Linter {
            sink: Sink::new(platform),
            clean: schema::CleanShapes::default(),
        }
    }

    /// Lints the files of one environment, given in path order.
    pub fn add_env(&mut self, files: &[(&str, &RenderedFile)]) {
        let platform = self.sink.platform;
        let clean = &self.clean;
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
                refs::check(platform, &objects, &mut refs_sink);
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

    pub fn finish(self) -> LintReport {
        let sink = self.sink;
        let exceptions = sink
            .platform
            .lint
            .exceptions
            .iter()
            .zip(&sink.silenced)
            .map(|(e, &silenced)| ActiveException {
                rule: e.rule.clone(),
                reason: e.reason.clone(),
                scope: e.scope(),
                silenced,
            })
            .collect();
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
