//! The kiln side of the synthetic fleet: `kiln.yaml`, `environments/*.yaml` and the templates
//! of N web apps in four environments, as files in memory. Shared by `cargo xtask fleet` and
//! the in-process benchmarks (`crates/kiln/benches/stages.rs` includes this file), so it uses
//! nothing but std.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The environments: name and replicas of every app there.
pub const ENVS: [(&str, u32); 4] = [
    ("production", 2),
    ("staging", 1),
    ("preview", 1),
    ("test", 1),
];

/// The registry every fleet image comes from.
pub const REGISTRY: &str = "registry.fleet.example/fleet";

/// The kiln template set: copies of the HanseNexus web templates.
const KILN_TEMPLATES: &[(&str, &str)] = &[
    ("_lib/k8s.j2", include_str!("kiln/_lib/k8s.j2")),
    (
        "namespace/namespace.yaml.j2",
        include_str!("kiln/namespace/namespace.yaml.j2"),
    ),
    (
        "web/deployment.yaml.j2",
        include_str!("kiln/web/deployment.yaml.j2"),
    ),
    (
        "web/ingress.yaml.j2",
        include_str!("kiln/web/ingress.yaml.j2"),
    ),
    (
        "web/onepassworditem.yaml.j2",
        include_str!("kiln/web/onepassworditem.yaml.j2"),
    ),
    ("web/pdb.yaml.j2", include_str!("kiln/web/pdb.yaml.j2")),
    (
        "web/service.yaml.j2",
        include_str!("kiln/web/service.yaml.j2"),
    ),
    (
        "web/serviceaccount.yaml.j2",
        include_str!("kiln/web/serviceaccount.yaml.j2"),
    ),
];

/// The app names of a fleet of `apps`: `app-0001` ...
pub fn names(apps: usize) -> Vec<String> {
    let width = apps.to_string().len().max(4);
    (1..=apps).map(|i| format!("app-{i:0width$}")).collect()
}

/// The kiln platform's files (relative paths and text).
pub fn kiln_files(names: &[String]) -> Vec<(PathBuf, String)> {
    let mut files = vec![(PathBuf::from("kiln.yaml"), kiln_platform(names))];
    for (env, replicas) in ENVS {
        files.push((
            PathBuf::from(format!("environments/{env}.yaml")),
            kiln_env(names, env, replicas),
        ));
    }
    for (path, text) in KILN_TEMPLATES {
        files.push((Path::new("templates").join(path), (*text).to_owned()));
    }
    files
}

/// A deterministic 7-hex-digit image tag (a short git SHA) per app and environment.
pub fn tag(app: &str, env: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in app.bytes().chain([b'/']).chain(env.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    // Start with a letter so that no tag is all digits.
    format!("a{:06x}", h & 0xff_ffff)
}

pub fn host(app: &str, env: &str) -> String {
    if env == "production" {
        format!("{app}.fleet.example")
    } else {
        format!("{env}.{app}.fleet.example")
    }
}

pub fn namespace(env: &str) -> String {
    format!("fleet-{env}")
}

pub fn item(app: &str, env: &str) -> String {
    format!("vaults/fleet/items/{app}-{env}")
}

fn kiln_platform(names: &[String]) -> String {
    let mut s = String::from(
        "# A synthetic fleet written by `cargo xtask fleet`: web apps shaped like HanseNexus's
# Next.js frontends, in four environments.
name: fleet
output: k8s
regenerate: cargo xtask fleet
registry: registry.fleet.example/fleet
cluster: { distribution: k3s, version: v1.34, nodes: 3, cni: flannel, network_policies: false }
values:
  ingress_class: traefik
  cluster_issuer: letsencrypt-prod
  image_pull_secret: harbor-registry
kinds:
  web:
    templates: web
    defaults:
      replicas: 1
      port: 3000
      tls: true
      health:
        path: /api/health
        port: 3000
        liveness: { initial_delay: 15, period: 30, timeout: 1, failure_threshold: 3 }
        readiness: { initial_delay: 5, period: 10, timeout: 1, failure_threshold: 3 }
      startup_seconds: 30
      resources:
        requests: { cpu: 50m, memory: 128Mi }
        limits: { memory: 512Mi }
      env:
        NODE_ENV: production
        PORT: \"3000\"
        HOSTNAME: \"0.0.0.0\"
        NEXT_TELEMETRY_DISABLED: \"1\"
      annotations:
        instrumentation.opentelemetry.io/inject-nodejs: \"true\"
lint:
  external:
    # The registry pull secret and the shared auth secret exist in every namespace.
    secrets: [harbor-registry, auth-secret]
  custom_resources:
    - apiVersion: onepassword.com/v1
      kind: OnePasswordItem
      provides: Secret
      schema: { spec: { itemPath: string } }
apps:
",
    );
    for app in names {
        let _ = write!(
            s,
            "  {app}:
    description: Synthetic web app {app}
    components:
      web:
        image: {app}
        secret_env:
          AUTH_SECRET: {{ secret: auth-secret, key: AUTH_SECRET }}
"
        );
    }
    s
}

fn kiln_env(names: &[String], env: &str, replicas: u32) -> String {
    let ns = namespace(env);
    let (dir, web_dir, bundle_dir) = if env == "production" {
        (".".to_owned(), "apps/{app}", "base")
    } else {
        (format!("overlays/{env}"), "{app}", ".")
    };
    let mut s = format!(
        "dir: \"{dir}\"
namespace: {ns}
channel: sha
state: open
place:
  web: {{ dir: \"{web_dir}\" }}
bundles:
  - {{ templates: namespace, dir: \"{bundle_dir}\", namespace: {ns} }}
apps:
"
    );
    for app in names {
        let host = host(app, env);
        let _ = write!(
            s,
            "  {app}:
    web:
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
    s
}
