//! `cargo xtask fleet --apps N --out DIR [--peers]`: a synthetic fleet for benchmarks.
//!
//! DIR becomes a kiln platform of N web apps shaped like HanseNexus's Next.js frontends
//! (Deployment with probes, env from Secret references and anti-affinity when multi-replica,
//! Service, Ingress with TLS, ServiceAccount, PodDisruptionBudget with >= 2 replicas,
//! OnePasswordItem) in four environments: production (2 replicas, so 6 objects per app),
//! staging, preview and test (1 replica, 5 objects per app), plus a Namespace per environment.
//! The kiln templates are copies of this repository's `templates/web` and `templates/_lib`
//! (kept beside this file so that the benchmark does not move when the platform's templates
//! do).
//!
//! With `--peers` it also writes what a user would write for the tools people pick instead,
//! rendering the same objects:
//!
//! - `DIR/peers/helm`: one chart ranging over the apps, `values.yaml` with the catalogue and a
//!   `values-<env>.yaml` per environment (`helm template fleet DIR/peers/helm -f ...`).
//! - `DIR/peers/kustomize`: a base per app and one patch-based overlay per environment
//!   (`kubectl kustomize DIR/peers/kustomize/overlays/<env>`).
//!
//! [`verify`] proves the three agree object for object.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;

mod platform;

pub use platform::ENVS;
use platform::{host, item, names, namespace, tag, REGISTRY};

const MARKER: &str = ".kiln-fleet";

/// The Helm chart's templates: the same objects in Go templates.
const HELM_TEMPLATES: &[(&str, &str)] = &[
    ("_helpers.tpl", include_str!("fleet/helm/_helpers.tpl")),
    (
        "deployment.yaml",
        include_str!("fleet/helm/deployment.yaml"),
    ),
    ("ingress.yaml", include_str!("fleet/helm/ingress.yaml")),
    ("namespace.yaml", include_str!("fleet/helm/namespace.yaml")),
    (
        "onepassworditem.yaml",
        include_str!("fleet/helm/onepassworditem.yaml"),
    ),
    ("pdb.yaml", include_str!("fleet/helm/pdb.yaml")),
    ("service.yaml", include_str!("fleet/helm/service.yaml")),
    (
        "serviceaccount.yaml",
        include_str!("fleet/helm/serviceaccount.yaml"),
    ),
];

pub const HELP: &str = "\
cargo xtask fleet --apps N --out DIR [--peers] [--verify]

Writes a kiln platform of N web apps in 4 environments to DIR (render it with
`kiln --root DIR render`). DIR must be outside the repository; an existing DIR is replaced
only if an earlier `cargo xtask fleet` wrote it.
  --peers    also write DIR/peers/helm (a chart with values-<env>.yaml) and
             DIR/peers/kustomize (a base per app, a patch-based overlay per environment)
  --verify   render all three (kiln in-process, helm template, kubectl kustomize) and compare
             the objects; needs helm and kubectl on PATH
";

pub fn main(args: &[String]) -> Result<()> {
    let mut apps = None;
    let mut out = None;
    let mut peers = false;
    let mut check = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--apps" => apps = Some(it.next().context("--apps needs a number")?.parse()?),
            "--out" => out = Some(PathBuf::from(it.next().context("--out needs a directory")?)),
            "--peers" => peers = true,
            "--verify" => check = true,
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(());
            }
            other => bail!("unknown argument `{other}`\n\n{HELP}"),
        }
    }
    let (Some(apps), Some(out)) = (apps, out) else {
        bail!("--apps and --out are required\n\n{HELP}");
    };
    let fleet = Fleet { apps };
    fleet.write(&out, peers || check)?;
    println!(
        "{}: {} apps in {} environments{}",
        out.display(),
        apps,
        ENVS.len(),
        if peers || check {
            " (with peers/helm and peers/kustomize)"
        } else {
            ""
        }
    );
    if check {
        let tools = Tools::from_path();
        let counts = verify(&out, &PeerOutputs::run(&out, &tools)?)?;
        for (env, n) in counts {
            println!("{env}: kiln, helm and kustomize render the same {n} objects");
        }
    }
    Ok(())
}

/// A fleet of `apps` web apps.
pub struct Fleet {
    pub apps: usize,
}

impl Fleet {
    /// Writes the platform to `dir` (replacing an earlier fleet there) and, with `peers`, the
    /// Helm chart and kustomize tree under `dir/peers`.
    pub fn write(&self, dir: &Path, peers: bool) -> Result<()> {
        prepare(dir)?;
        let names = names(self.apps);
        let mut files = platform::kiln_files(&names);
        if peers {
            helm_chart(&names, &mut files);
            kustomize_tree(&names, &mut files);
        }
        for (path, text) in files {
            let path = dir.join(path);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }
}

/// Makes `dir` an empty directory, refusing one that an earlier fleet did not write, and any
/// directory inside this repository.
fn prepare(dir: &Path) -> Result<()> {
    let repo = crate::repo_root();
    let abs = std::path::absolute(dir)?;
    ensure!(
        !abs.starts_with(&repo),
        "{} is inside the repository; generate fleets under /tmp",
        dir.display()
    );
    if dir.exists() {
        let empty = fs::read_dir(dir)?.next().is_none();
        ensure!(
            empty || dir.join(MARKER).is_file(),
            "{} exists and was not written by `cargo xtask fleet`; choose another --out",
            dir.display()
        );
        fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    fs::create_dir_all(dir)?;
    fs::write(
        dir.join(MARKER),
        "written by `cargo xtask fleet`; the next run replaces this directory\n",
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Helm

fn helm_chart(names: &[String], files: &mut Vec<(PathBuf, String)>) {
    let root = Path::new("peers/helm");
    files.push((
        root.join("Chart.yaml"),
        "apiVersion: v2
name: fleet
description: The synthetic fleet as one Helm chart (a release per environment)
type: application
version: 0.1.0
"
        .to_owned(),
    ));
    let mut values = format!(
        "platform: fleet
namespace: default
registry: {REGISTRY}
imagePullSecret: harbor-registry
ingressClass: traefik
clusterIssuer: letsencrypt-prod
defaults:
  replicas: 1
  port: 3000
  tls: true
  health:
    path: /api/health
    liveness: {{ initial_delay: 15, period: 30, timeout: 1, failure_threshold: 3 }}
    readiness: {{ initial_delay: 5, period: 10, timeout: 1, failure_threshold: 3 }}
  resources:
    requests: {{ cpu: 50m, memory: 128Mi }}
    limits: {{ memory: 512Mi }}
  env:
    NODE_ENV: production
    PORT: \"3000\"
    HOSTNAME: \"0.0.0.0\"
    NEXT_TELEMETRY_DISABLED: \"1\"
  annotations:
    instrumentation.opentelemetry.io/inject-nodejs: \"true\"
apps:
"
    );
    for app in names {
        let _ = write!(
            values,
            "  {app}:
    image: {app}
    secretEnv:
      AUTH_SECRET: {{ secret: auth-secret, key: AUTH_SECRET }}
"
        );
    }
    files.push((root.join("values.yaml"), values));
    for (env, replicas) in ENVS {
        let mut v = format!("namespace: {}\napps:\n", namespace(env));
        for app in names {
            let host = host(app, env);
            let _ = write!(
                v,
                "  {app}:
    tag: \"{tag}\"
    replicas: {replicas}
    hosts: [{host}]
    onepassword: {item}
    env:
      NEXT_PUBLIC_APP_URL: https://{host}
",
                tag = tag(app, env),
                item = item(app, env),
            );
        }
        files.push((root.join(format!("values-{env}.yaml")), v));
    }
    for (path, text) in HELM_TEMPLATES {
        files.push((root.join("templates").join(path), (*text).to_owned()));
    }
}

// ---------------------------------------------------------------------------------------------
// kustomize

fn labels(app: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    format!(
        "{pad}app: {app}
{pad}app.kubernetes.io/name: {app}
{pad}app.kubernetes.io/component: web
{pad}app.kubernetes.io/part-of: fleet
{pad}app.kubernetes.io/managed-by: kiln
"
    )
}

fn ingress_spec(app: &str, host: &str) -> String {
    format!(
        "  tls:
    - secretName: {app}-tls
      hosts:
        - {host}
  rules:
    - host: {host}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: {app}
                port:
                  number: 80
"
    )
}

fn kustomize_tree(names: &[String], files: &mut Vec<(PathBuf, String)>) {
    let root = Path::new("peers/kustomize");
    for app in names {
        let base = root.join("base").join(app);
        let l4 = labels(app, 4);
        let l8 = labels(app, 8);
        files.push((
            base.join("kustomization.yaml"),
            "apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml
  - service.yaml
  - ingress.yaml
  - serviceaccount.yaml
  - onepassworditem.yaml
"
            .to_owned(),
        ));
        files.push((
            base.join("deployment.yaml"),
            format!(
                "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {app}
  labels:
{l4}  annotations:
    operator.1password.io/auto-restart: \"true\"
spec:
  replicas: 1
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      app: {app}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
  template:
    metadata:
      labels:
{l8}      annotations:
        instrumentation.opentelemetry.io/inject-nodejs: \"true\"
        operator.1password.io/auto-restart: \"true\"
    spec:
      serviceAccountName: {app}
      automountServiceAccountToken: false
      imagePullSecrets:
        - name: harbor-registry
      containers:
        - name: {app}
          image: {REGISTRY}/{app}:latest
          imagePullPolicy: Always
          ports:
            - name: http
              containerPort: 3000
              protocol: TCP
          env:
            - name: HOSTNAME
              value: 0.0.0.0
            - name: NEXT_PUBLIC_APP_URL
              value: https://{app}.fleet.invalid
            - name: NEXT_TELEMETRY_DISABLED
              value: \"1\"
            - name: NODE_ENV
              value: production
            - name: PORT
              value: \"3000\"
            - name: AUTH_SECRET
              valueFrom:
                secretKeyRef:
                  name: auth-secret
                  key: AUTH_SECRET
          envFrom:
            - secretRef:
                name: {app}-secrets
          livenessProbe:
            httpGet:
              path: /api/health
              port: 3000
            initialDelaySeconds: 15
            periodSeconds: 30
            timeoutSeconds: 1
            failureThreshold: 3
          readinessProbe:
            httpGet:
              path: /api/health
              port: 3000
            initialDelaySeconds: 5
            periodSeconds: 10
            timeoutSeconds: 1
            failureThreshold: 3
          resources:
            requests:
              cpu: 50m
              memory: 128Mi
            limits:
              memory: 512Mi
          securityContext:
            allowPrivilegeEscalation: false
            capabilities:
              drop:
                - ALL
"
            ),
        ));
        files.push((
            base.join("service.yaml"),
            format!(
                "apiVersion: v1
kind: Service
metadata:
  name: {app}
  labels:
{l4}spec:
  type: ClusterIP
  selector:
    app: {app}
  ports:
    - name: http
      port: 80
      targetPort: 3000
      protocol: TCP
"
            ),
        ));
        files.push((
            base.join("ingress.yaml"),
            format!(
                "apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {app}
  labels:
{l4}  annotations:
    cert-manager.io/cluster-issuer: letsencrypt-prod
spec:
  ingressClassName: traefik
{spec}",
                spec = ingress_spec(app, &format!("{app}.fleet.invalid"))
            ),
        ));
        files.push((
            base.join("serviceaccount.yaml"),
            format!(
                "apiVersion: v1
kind: ServiceAccount
metadata:
  name: {app}
  labels:
{l4}automountServiceAccountToken: false
"
            ),
        ));
        files.push((
            base.join("onepassworditem.yaml"),
            format!(
                "apiVersion: onepassword.com/v1
kind: OnePasswordItem
metadata:
  name: {app}-secrets
  labels:
{l4}spec:
  itemPath: vaults/fleet/items/{app}
"
            ),
        ));
    }

    for (env, replicas) in ENVS {
        let overlay = root.join("overlays").join(env);
        let ns = namespace(env);
        let mut k = format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {ns}
resources:
  - namespace.yaml
"
        );
        for app in names {
            let _ = writeln!(k, "  - ../../base/{app}");
        }
        if replicas >= 2 {
            for app in names {
                let _ = writeln!(k, "  - pdb/{app}.yaml");
            }
        }
        k.push_str("patches:\n");
        for app in names {
            let _ = write!(
                k,
                "  - path: patches/{app}.yaml
  - path: patches/{app}-deployment.yaml
    target: {{ kind: Deployment, name: {app} }}
"
            );
        }
        files.push((overlay.join("kustomization.yaml"), k));
        files.push((
            overlay.join("namespace.yaml"),
            format!(
                "apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
  labels:
    app.kubernetes.io/component: namespace
    app.kubernetes.io/part-of: fleet
    app.kubernetes.io/managed-by: kiln
"
            ),
        ));
        for app in names {
            let host = host(app, env);
            // The Deployment by JSON patch: a strategic merge of one `env` entry would move
            // it to the front of the list.
            let mut ops = format!(
                "- op: replace
  path: /spec/template/spec/containers/0/image
  value: {REGISTRY}/{app}:{tag}
- op: replace
  path: /spec/template/spec/containers/0/env/1/value
  value: https://{host}
",
                tag = tag(app, env)
            );
            if replicas >= 2 {
                let _ = write!(
                    ops,
                    "- op: replace
  path: /spec/replicas
  value: {replicas}
- op: add
  path: /spec/template/spec/affinity
  value:
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 100
          podAffinityTerm:
            labelSelector:
              matchExpressions:
                - key: app
                  operator: In
                  values:
                    - {app}
            topologyKey: kubernetes.io/hostname
"
                );
            }
            files.push((
                overlay
                    .join("patches")
                    .join(format!("{app}-deployment.yaml")),
                ops,
            ));
            files.push((
                overlay.join("patches").join(format!("{app}.yaml")),
                format!(
                    "apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {app}
spec:
{spec}---
apiVersion: onepassword.com/v1
kind: OnePasswordItem
metadata:
  name: {app}-secrets
spec:
  itemPath: {item}
",
                    spec = ingress_spec(app, &host),
                    item = item(app, env),
                ),
            ));
            if replicas >= 2 {
                files.push((
                    overlay.join("pdb").join(format!("{app}.yaml")),
                    format!(
                        "apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {app}
  labels:
{l4}spec:
  minAvailable: 1
  selector:
    matchLabels:
      app: {app}
",
                        l4 = labels(app, 4)
                    ),
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Verification

/// Where helm and kubectl are.
pub struct Tools {
    pub helm: PathBuf,
    pub kubectl: PathBuf,
}

impl Tools {
    pub fn from_path() -> Tools {
        Tools {
            helm: "helm".into(),
            kubectl: "kubectl".into(),
        }
    }
}

pub fn helm_args(dir: &Path, env: &str) -> Vec<String> {
    let chart = dir.join("peers/helm");
    vec![
        "template".into(),
        "fleet".into(),
        chart.display().to_string(),
        "-f".into(),
        chart
            .join(format!("values-{env}.yaml"))
            .display()
            .to_string(),
    ]
}

pub fn kustomize_args(dir: &Path, env: &str) -> Vec<String> {
    vec![
        "kustomize".into(),
        dir.join("peers/kustomize/overlays")
            .join(env)
            .display()
            .to_string(),
    ]
}

/// The text each peer tool printed, per environment.
#[derive(Default)]
pub struct PeerOutputs {
    pub helm: BTreeMap<String, String>,
    /// Missing when kustomize was not run (above the benchmark's cap).
    pub kustomize: BTreeMap<String, String>,
}

impl PeerOutputs {
    /// Runs helm and kustomize once per environment.
    pub fn run(dir: &Path, tools: &Tools) -> Result<PeerOutputs> {
        let mut out = PeerOutputs::default();
        for (env, _) in ENVS {
            out.helm
                .insert(env.into(), capture(&tools.helm, &helm_args(dir, env))?);
            out.kustomize.insert(
                env.into(),
                capture(&tools.kubectl, &kustomize_args(dir, env))?,
            );
        }
        Ok(out)
    }
}

fn capture(program: &Path, args: &[String]) -> Result<String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {}", program.display()))?;
    ensure!(
        output.status.success(),
        "{} {} failed:\n{}",
        program.display(),
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?)
}

type Key = (String, String, String, String);

fn key(o: &Value) -> Key {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    (
        s(&o["apiVersion"]),
        s(&o["kind"]),
        s(&o["metadata"]["namespace"]),
        s(&o["metadata"]["name"]),
    )
}

fn objects(text: &str, what: &str) -> Result<BTreeMap<Key, Value>> {
    let docs = kiln::yaml::parse_documents(text, Path::new(what))?;
    let mut map = BTreeMap::new();
    for doc in docs {
        let o = doc.to_json();
        let k = key(&o);
        ensure!(
            map.insert(k.clone(), o).is_none(),
            "{what}: duplicate {k:?}"
        );
    }
    Ok(map)
}

/// Renders the fleet with kiln (in-process) and compares every environment's objects with
/// what helm and kustomize printed. Returns the object count per environment.
pub fn verify(dir: &Path, peers: &PeerOutputs) -> Result<Vec<(String, usize)>> {
    let platform = kiln::Platform::load(dir)?;
    let rendered = kiln::render(&platform)?;
    let mut counts = Vec::new();
    for (env, _) in ENVS {
        let mut want = BTreeMap::new();
        for (path, o) in rendered.objects_of(env) {
            ensure!(
                want.insert(key(o), o.clone()).is_none(),
                "kiln {env}: duplicate object in {path}"
            );
        }
        let mut against = vec![("helm", &peers.helm)];
        if !peers.kustomize.is_empty() {
            against.push(("kustomize", &peers.kustomize));
        }
        for (tool, outputs) in against {
            let text = outputs
                .get(env)
                .with_context(|| format!("no {tool} output for {env}"))?;
            let got = objects(text, &format!("{tool} output for {env}"))?;
            let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
            let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
            ensure!(
                missing.is_empty() && extra.is_empty(),
                "{tool} {env}: other objects than kiln's: {} missing (first {:?}), {} extra \
                 (first {:?})",
                missing.len(),
                missing.first(),
                extra.len(),
                extra.first()
            );
            for (k, o) in &want {
                if &got[k] != o {
                    let (a, b) = (
                        serde_json::to_string_pretty(&sorted(o))?,
                        serde_json::to_string_pretty(&sorted(&got[k]))?,
                    );
                    let diff = similar::TextDiff::from_lines(&a, &b)
                        .unified_diff()
                        .header("kiln", tool)
                        .to_string();
                    bail!("{tool} {env}: {k:?} differs from kiln's:\n{diff}");
                }
            }
        }
        counts.push((env.to_owned(), want.len()));
    }
    Ok(counts)
}

/// Keys sorted at every level, so that a text diff shows only real differences.
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}
