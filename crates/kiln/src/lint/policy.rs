//! Policy rules: one object at a time, each the lesson of an incident in the seeds. Every rule
//! is one function in [`RULES`]; each judges the effective value the cluster would use
//! (defaults applied, percentages rounded as the controllers round them).

use serde_json::Value;

use super::{Obj, Sink};
use crate::load::ENVIRONMENTS_DIR;
use crate::object::{containers, int_or_percent, pod_template};
use crate::resolve::Platform;

type Rule = fn(&Platform, &Obj<'_>, &mut Sink<'_>);

/// The per-object rules, in the order a sequential pass reports them.
const RULES: &[(&str, Rule)] = &[
    ("rolling-update", rolling_update),
    ("singleton", singleton),
    ("stateful-ondelete", stateful_ondelete),
    ("ingress-tls", ingress_tls),
    ("auth-middleware", auth_middleware),
    ("plaintext-secret", plaintext_secret),
    ("network-policy-cni", network_policy_cni),
    ("spread", spread),
    ("image-tag", image_tag),
    ("resources", resources),
    ("probes", probes),
    ("startup-budget", startup_budget),
];

pub(crate) fn check(platform: &Platform, obj: &Obj<'_>, sink: &mut Sink<'_>) {
    for (_, rule) in RULES {
        rule(platform, obj, sink);
    }
}

fn replicas(obj: &Obj<'_>) -> i64 {
    // A non-integer is a schema error, reported there.
    match &obj.value["spec"]["replicas"] {
        Value::Null => 1,
        n => n.as_i64().unwrap_or(0),
    }
}

/// A Deployment's effective rollout: the strategy type, and for `RollingUpdate` the number of
/// pods `maxUnavailable` and `maxSurge` come to (defaults 25%; a percentage of the replicas,
/// rounded down for maxUnavailable and up for maxSurge; both 0 makes maxUnavailable 1, as the
/// controller does).
struct Rollout<'v> {
    kind: &'v str,
    unavailable: i64,
    surge: i64,
    /// How each was written (`25% (default)`, `1`), for messages.
    unavailable_text: String,
    surge_text: String,
    /// Both came to 0, and the controller made maxUnavailable 1.
    forced: bool,
}

fn rollout<'v>(v: &'v Value, replicas: i64) -> Rollout<'v> {
    let strategy = &v["spec"]["strategy"];
    let kind = strategy["type"].as_str().unwrap_or("RollingUpdate");
    let resolve = |field: &Value, round_up: bool| -> (i64, String) {
        let (n, pct, text) = match int_or_percent(field) {
            Some((n, true)) => (n, true, format!("{n}%")),
            Some((n, false)) => (n, false, n.to_string()),
            None => (25, true, "25% (the default)".to_owned()),
        };
        if !pct {
            return (n, text);
        }
        let scaled = n * replicas;
        let pods = if round_up {
            (scaled + 99).div_euclid(100)
        } else {
            scaled.div_euclid(100)
        };
        (pods, format!("{text} of {replicas} = {pods}"))
    };
    let (mut unavailable, unavailable_text) =
        resolve(&strategy["rollingUpdate"]["maxUnavailable"], false);
    let (surge, surge_text) = resolve(&strategy["rollingUpdate"]["maxSurge"], true);
    let forced = unavailable == 0 && surge == 0;
    if forced {
        unavailable = 1;
    }
    Rollout {
        forced,
        kind,
        unavailable,
        surge,
        unavailable_text,
        surge_text,
    }
}

/// The component's `max_replicas`, when the object runs the component's own image.
fn max_replicas(obj: &Obj<'_>) -> Option<u32> {
    let max = obj.component?.workload.max_replicas?;
    let (template, base) = pod_template(obj.kind(), obj.value)?;
    containers(&template["spec"], &format!("{base}.spec"))
        .iter()
        .any(|(c, _)| obj.own_image(c["image"].as_str().unwrap_or_default()))
        .then_some(max)
}

fn rolling_update(_: &Platform, obj: &Obj<'_>, sink: &mut Sink<'_>) {
    if obj.kind() != "Deployment" {
        return;
    }
    let replicas = replicas(obj);
    // Nothing runs, so nothing rolls; a declared singleton trades the rollout's overlap for
    // never running twice (the `singleton` rule judges it).
    if replicas == 0 || max_replicas(obj) == Some(1) {
        return;
    }
    let r = rollout(obj.value, replicas);
    if r.kind != "RollingUpdate" {
        sink.report(
            "rolling-update",
            obj,
            "spec.strategy.type",
            format!("strategy `{}` stops every old pod before new ones are ready: the app is down for the whole rollout", r.kind),
        );
    } else if r.forced {
        sink.report(
            "rolling-update",
            obj,
            "spec.strategy.rollingUpdate.maxSurge",
            format!("maxSurge {} with maxUnavailable {}: no new pod can start first, so the controller stops 1 ready pod of {replicas} before its replacement passes readiness; set maxSurge to at least 1", r.surge_text, r.unavailable_text),
        );
    } else if r.unavailable != 0 {
        sink.report(
            "rolling-update",
            obj,
            "spec.strategy.rollingUpdate.maxUnavailable",
            format!("maxUnavailable {} lets a rollout stop {} ready pod(s) of {replicas} before their replacements pass readiness; set it to 0", r.unavailable_text, r.unavailable),
        );
    }
}

fn singleton(_: &Platform, obj: &Obj<'_>, sink: &mut Sink<'_>) {
    let Some(max) = max_replicas(obj) else {
        return;
    };
    let replicas = replicas(obj);
    let max = i64::from(max);
    let what = if max == 1 {
        "a singleton".to_owned()
    } else {
        format!("limited to {max} copies")
    };
    if replicas > max {
        sink.report_from(
            "singleton",
            obj,
            "spec.replicas",
            format!("runs {replicas} replicas, but the app is {what} (`max_replicas: {max}`): the extra copies do its work again"),
            &["replicas"],
        );
        return;
    }
    if obj.kind() != "Deployment" || replicas == 0 {
        return;
    }
    let r = rollout(obj.value, replicas);
    if r.kind == "RollingUpdate" && replicas + r.surge > max {
        sink.report_from(
            "singleton",
            obj,
            "spec.strategy",
            format!("a rolling update with maxSurge {} starts a new pod while {replicas} old one(s) still run: {} copies of an app that is {what} (`max_replicas: {max}`); use `type: Recreate`", r.surge_text, replicas + r.surge),
            &["max_replicas"],
        );
    }
}

fn stateful_ondelete(platform: &Platform, obj: &Obj<'_>, sink: &mut Sink<'_>) {
    let stateful = obj.kind() == "StatefulSet"
        && platform
            .lint
            .data_stateful
            .iter()
            .any(|s| s.matches(obj.kind(), obj.name()));
    if !stateful {
        return;
    }
    let kind = obj.value["spec"]["updateStrategy"]["type"]
        .as_str()
        .unwrap_or("RollingUpdate");
    if kind != "OnDelete" {
        sink.report("stateful-ondelete", obj, "spec.updateStrategy.type", format!("`{kind}` upgrades this data store as soon as the template changes; use OnDelete and roll it by hand"));
    }
}

fn ingress_tls(_: &Platform, obj: &Obj<'_>, sink: &mut Sink<'_>) {
    if obj.kind() != "Ingress" {
        return;
    }
    let v = obj.value;
    let covered = crate::object::ingress_tls_hosts(v);
    for (i, rule) in v["spec"]["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(host) = rule["host"].as_str().filter(|h| !covered.contains(h)) {
            sink.report_from(
                "ingress-tls",
                obj,
                &format!("spec.rules[{i}].host"),
                format!("`{host}` has no TLS entry: browsers send its cookies and credentials in clear text"),
                &["tls"],
            );
        }
    }
}

fn auth_middleware(platform: &Platform, obj: &Obj<'_>, sink: &mut Sink<'_>) {
    let required = obj.kind() == "Ingress"
        && platform
            .lint
            .auth_required
            .iter()
            .any(|s| s.matches(obj.kind(), obj.name()));
    if !required {
        return;
    }
    let annotation = platform.lint.auth_annotation.as_deref().unwrap_or_default();
    let present = obj.value["metadata"]["annotations"][annotation]
        .as_str()
        .is_some_and(|s| !s.is_empty());
    if !present {
        sink.report("auth-middleware", obj, &format!("metadata.annotations[{annotation:?}]"), "this Ingress is marked as needing authentication but names no auth middleware: anyone on the internet reaches it".into());
    }
}

fn network_policy_cni(platform: &Platform, obj: &Obj<'_>, sink: &mut Sink<'_>) {
    if obj.kind() != "NetworkPolicy" || platform.cluster.network_policies {
        return;
    }
    let cni = platform
        .cluster
        .cni
        .as_deref()
        .unwrap_or("this cluster's CNI");
    sink.report("network-policy-cni", obj, "spec", format!("{cni} does not enforce NetworkPolicies (kiln.yaml `cluster.network_policies: false`): the isolation it describes does not exist"));
}

// ---- plaintext-secret ------------------------------------------------------------------

/// The words of a name (`DATABASE_PASSWORD`, `jwtSecret`, `api-key`), upper case.
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for ch in name.chars() {
        if !ch.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if ch.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = ch.is_ascii_lowercase() || ch.is_ascii_digit();
        cur.push(ch.to_ascii_uppercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Whether the name says its value *is* a credential: its last word is one
/// (`DATABASE_PASSWORD`, `AUTH_SECRET`, `STRIPE_API_KEY`), not a word about one
/// (`TOKEN_TTL_SECONDS`, `JWT_SECRET_FILE`, `PASSWORD_MIN_LENGTH`, `SECRET_NAME`).
fn names_credential(name: &str) -> bool {
    let w = words(name);
    let Some(last) = w.last() else {
        return false;
    };
    let before = w.len().checked_sub(2).map(|i| w[i].as_str());
    match last.as_str() {
        "PASSWORD" | "PASSWD" | "PWD" | "SECRET" | "TOKEN" | "APIKEY" | "CREDENTIAL"
        | "CREDENTIALS" | "PASSPHRASE" => true,
        "KEY" => matches!(
            before,
            Some(
                "API"
                    | "PRIVATE"
                    | "ACCESS"
                    | "SECRET"
                    | "SIGNING"
                    | "ENCRYPTION"
                    | "MASTER"
                    | "ADMIN"
                    | "LICENSE"
            )
        ),
        _ => false,
    }
}

/// Whether the name mentions a credential anywhere (`SECRET_NAME`, `TOKEN_TTL_SECONDS`).
fn mentions_credential(name: &str) -> bool {
    words(name).iter().any(|w| {
        matches!(
            w.as_str(),
            "PASSWORD"
                | "PASSWD"
                | "SECRET"
                | "TOKEN"
                | "APIKEY"
                | "KEY"
                | "CREDENTIAL"
                | "CREDENTIALS"
        )
    })
}

/// A value that cannot be a credential: empty, a number, a boolean, a path, a reference to
/// another variable.
fn inert(value: &str) -> bool {
    let v = value.trim();
    v.is_empty()
        || v.parse::<f64>().is_ok()
        || matches!(
            v.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "none" | "null"
        )
        || v.starts_with('/')
        || v.starts_with("file://")
        || (v.starts_with("$(") && v.ends_with(')'))
        || (v.starts_with("${") && v.ends_with('}'))
}

/// Shannon entropy in bits per character.
fn entropy(s: &str) -> f64 {
    let mut counts = std::collections::BTreeMap::new();
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let n = s.chars().count() as f64;
    counts
        .values()
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// A random-looking token: long, no spaces, high entropy.
fn high_entropy(value: &str) -> bool {
    let v = value.trim();
    v.len() >= 20 && !v.contains(char::is_whitespace) && entropy(v) >= 3.5
}

/// What a value is, when its shape alone says it is a credential, whatever its name.
fn credential_shape(value: &str) -> Option<&'static str> {
    // `scheme://user:password@host`
    for (i, _) in value.match_indices("://") {
        let rest = &value[i + 3..];
        let authority = rest
            .split(['/', '?', '#', ' ', '"', '\''])
            .next()
            .unwrap_or_default();
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            if let Some((_, password)) = userinfo.split_once(':') {
                if !password.is_empty() && !inert(password) && !password.starts_with('$') {
                    return Some("a URL with a password in it");
                }
            }
        }
    }
    let token = |prefix: &str, min: usize| {
        value.match_indices(prefix).any(|(i, _)| {
            value[i + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .count()
                >= min
        })
    };
    if token("sk_live_", 10) || token("rk_live_", 10) {
        return Some("a live Stripe secret key");
    }
    if token("ghp_", 20) || token("gho_", 20) || token("ghs_", 20) || token("github_pat_", 20) {
        return Some("a GitHub token");
    }
    if token("glpat-", 15) || token("xoxb-", 15) || token("xoxp-", 15) {
        return Some("an access token");
    }
    let aws = value.as_bytes().windows(20).any(|w| {
        (w.starts_with(b"AKIA") || w.starts_with(b"ASIA"))
            && w[4..]
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    });
    if aws {
        return Some("an AWS access key id");
    }
    if value.contains("-----BEGIN") && value.contains("PRIVATE KEY-----") {
        return Some("a PEM private key");
    }
    None
}

/// Why `value` under `name` is a committed credential, if it is.
fn credential(name: &str, value: &str) -> Option<String> {
    if let Some(shape) = credential_shape(value) {
        return Some(format!("the value is {shape}"));
    }
    if inert(value) {
        return None;
    }
    if names_credential(name) {
        return Some("the name says it is a credential and it has a literal value".into());
    }
    if mentions_credential(name) && high_entropy(value) {
        return Some(
            "the name mentions a credential and the value is a random-looking token".into(),
        );
    }
    None
}

fn plaintext_secret(_: &Platform, obj: &Obj<'_>, sink: &mut Sink<'_>) {
    let v = obj.value;
    match obj.kind() {
        "Secret" => {
            for key in ["data", "stringData"] {
                if v[key].as_object().is_some_and(|m| !m.is_empty()) {
                    sink.report("plaintext-secret", obj, key, "a Secret with values in the manifest: everyone who can read the repository has them; reference a secret manager (OnePasswordItem, an existing Secret) instead".into());
                }
            }
        }
        "ConfigMap" => {
            for (k, val) in v["data"].as_object().into_iter().flatten() {
                let Some(why) = val.as_str().and_then(|s| credential(k, s)) else {
                    continue;
                };
                sink.report_var("plaintext-secret", obj, &format!("data.{k}"), format!("`{k}` in a ConfigMap looks like a credential ({why}); move it to a Secret reference"), k, &[]);
            }
        }
        _ => {}
    }
    let Some((template, base)) = pod_template(obj.kind(), obj.value) else {
        return;
    };
    for (c, path) in containers(&template["spec"], &format!("{base}.spec")) {
        for e in c["env"].as_array().into_iter().flatten() {
            let name = e["name"].as_str().unwrap_or_default();
            let Some(why) = e["value"].as_str().and_then(|s| credential(name, s)) else {
                continue;
            };
            let field = format!("env.{name}");
            sink.report_var(
                "plaintext-secret",
                obj,
                &format!("{path}.env[name={name}].value"),
                format!("`{name}` has a literal value that looks like a credential ({why}); read it from a Secret (`secretKeyRef`)"),
                name,
                &[&field],
            );
        }
    }
}

// ---- pod rules ---------------------------------------------------------------------------

fn serving(obj: &Obj<'_>) -> bool {
    matches!(obj.kind(), "Deployment" | "StatefulSet" | "DaemonSet")
}

fn spread(_: &Platform, obj: &Obj<'_>, sink: &mut Sink<'_>) {
    let Some((template, base)) = pod_template(obj.kind(), obj.value) else {
        return;
    };
    if !serving(obj) || replicas(obj) < 2 {
        return;
    }
    let spec = &template["spec"];
    let anti = spec["affinity"]["podAntiAffinity"].is_object();
    let spread = spec["topologySpreadConstraints"]
        .as_array()
        .is_some_and(|a| !a.is_empty());
    if !anti && !spread {
        sink.report_from(
            "spread",
            obj,
            &format!("{base}.spec.affinity"),
            format!(
                "{} replicas with neither pod anti-affinity nor topology spread: one node failing takes them all",
                replicas(obj)
            ),
            &["replicas"],
        );
    }
}

/// The workload fields a container's setting comes from: only the component's own container
/// takes its image, resources and probes from the workload's settings.
fn own_fields<'f>(obj: &Obj<'_>, c: &Value, path: &str, fields: &'f [&'f str]) -> &'f [&'f str] {
    let own =
        !path.contains(".initContainers") && obj.own_image(c["image"].as_str().unwrap_or_default());
    if own {
        fields
    } else {
        &[]
    }
}

fn image_tag(_: &Platform, obj: &Obj<'_>, sink: &mut Sink<'_>) {
    let Some((template, base)) = pod_template(obj.kind(), obj.value) else {
        return;
    };
    for (c, path) in containers(&template["spec"], &format!("{base}.spec")) {
        let image = c["image"].as_str().unwrap_or_default();
        let last = image.rsplit('/').next().unwrap_or_default();
        let tag = last
            .split_once('@')
            .map(|_| "digest")
            .or_else(|| last.split_once(':').map(|(_, t)| t));
        let fields = own_fields(obj, c, &path, &["tag", "image"]);
        match tag {
            None => sink.report_from(
                "image-tag",
                obj,
                &format!("{path}.image"),
                format!("`{image}` has no tag: the registry decides what runs"),
                fields,
            ),
            Some("latest") => sink.report_from(
                "image-tag",
                obj,
                &format!("{path}.image"),
                format!("`{image}` uses `latest`, which moves"),
                fields,
            ),
            Some(_) => {}
        }
    }
}

fn resources(_: &Platform, obj: &Obj<'_>, sink: &mut Sink<'_>) {
    let Some((template, base)) = pod_template(obj.kind(), obj.value) else {
        return;
    };
    for (c, path) in containers(&template["spec"], &format!("{base}.spec")) {
        let resources = &c["resources"];
        if resources["requests"]
            .as_object()
            .is_none_or(|r| r.is_empty())
        {
            sink.report_from(
                "resources",
                obj,
                &format!("{path}.resources.requests"),
                "no resource requests: the scheduler places the pod blindly".into(),
                own_fields(obj, c, &path, &["resources.requests", "resources"]),
            );
        }
        if resources["limits"]["memory"].is_null() {
            sink.report_from(
                "resources",
                obj,
                &format!("{path}.resources.limits.memory"),
                "no memory limit: a leak takes the node's memory from its neighbours".into(),
                own_fields(
                    obj,
                    c,
                    &path,
                    &["resources.limits.memory", "resources.limits", "resources"],
                ),
            );
        }
    }
}

const PROBES: [(&str, &str); 3] = [
    ("livenessProbe", "liveness"),
    ("readinessProbe", "readiness"),
    ("startupProbe", "startup"),
];

/// The port a probe checks, as written (a number or a port name).
fn probe_port(p: &Value) -> Option<&Value> {
    p["httpGet"]
        .get("port")
        .or(p["tcpSocket"].get("port"))
        .or(p["grpc"].get("port"))
}

fn probes(_: &Platform, obj: &Obj<'_>, sink: &mut Sink<'_>) {
    let Some((template, base)) = pod_template(obj.kind(), obj.value) else {
        return;
    };
    if !serving(obj) {
        return;
    }
    for (c, path) in containers(&template["spec"], &format!("{base}.spec")) {
        if path.contains(".initContainers") {
            continue;
        }
        let image = c["image"].as_str().unwrap_or_default();
        let own_image = obj.own_image(image);
        let declared: Vec<&Value> = c["ports"].as_array().into_iter().flatten().collect();
        if !declared.is_empty() {
            for probe in ["livenessProbe", "readinessProbe"] {
                if c[probe].is_null() {
                    sink.report_from(
                        "probes",
                        obj,
                        &format!("{path}.{probe}"),
                        format!("a serving container without a {probe}: it gets traffic before it is ready, or is never restarted when hung"),
                        if own_image { &["health"] } else { &[] },
                    );
                }
            }
        }
        let component = obj.component.filter(|_| own_image);
        let health = component.and_then(|comp| comp.workload.health.as_ref());
        // The port the app is told to listen on.
        let listen: Option<i64> = c["env"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["name"] == "PORT")
            .and_then(|e| e["value"].as_str())
            .and_then(|s| s.trim().parse().ok());
        for (probe, field) in PROBES {
            let p = &c[probe];
            let path_field = format!("health.{field}.path");
            // The path must be the one the app declares as its health endpoint (seed 002: a
            // probe on /admin/ that 404'd and killed every pod).
            if let (Some(health), Some(path_now)) = (health, p["httpGet"]["path"].as_str()) {
                let declared = match field {
                    "liveness" => health.liveness.as_ref(),
                    "readiness" => health.readiness.as_ref(),
                    _ => health.startup.as_ref(),
                }
                .and_then(|pr| pr.path.as_deref())
                .or(health.path.as_deref());
                if let Some(declared) = declared.filter(|d| *d != path_now) {
                    sink.report_from("probes", obj, &format!("{path}.{probe}.httpGet.path"), format!("probes `{path_now}`, but the app declares its health endpoint as `{declared}`: a path the app does not serve fails the probe and restarts the pod"), &[&path_field, "health.path"]);
                }
                // The health endpoint is the app's: an environment that sets another path
                // (seed 003: `/admin/` in the environment) is not a declaration.
                let from_env = component.and_then(|comp| {
                    [path_field.as_str(), "health.path"]
                        .into_iter()
                        .find_map(|f| comp.provenance.get(f).map(|s| (f, s)))
                        .filter(|(_, s)| s.file.starts_with(ENVIRONMENTS_DIR))
                });
                if let Some((f, s)) = from_env {
                    sink.report_from("probes", obj, &format!("{path}.{probe}.httpGet.path"), format!("probes `{path_now}`, a health path set by the environment ({}: `{}`); the health endpoint is the app's and is declared in the catalogue (kiln.yaml): a path the app does not serve restarts its pods", s.file.display(), s.key), &[f]);
                }
            }
            let Some(port) = probe_port(p) else { continue };
            let named = declared
                .iter()
                .find(|d| &d["containerPort"] == port || (port.is_string() && &d["name"] == port));
            let Some(named) = named else {
                sink.report_from(
                    "probes",
                    obj,
                    &format!("{path}.{probe}"),
                    format!("probes port {port}, which the container does not declare: the probe fails and the pod is restarted or never ready"),
                    if own_image { &["health.port", "port"] } else { &[] },
                );
                continue;
            };
            let number = named["containerPort"].as_i64();
            if let (Some(listen), Some(number)) = (listen, number) {
                if listen != number {
                    sink.report_from(
                        "probes",
                        obj,
                        &format!("{path}.{probe}"),
                        format!("probes port {number}, but the container is told to listen on {listen} (`PORT`): the probe hits a closed port and the pod is restarted or never ready"),
                        if own_image { &["health.port", "port", "env.PORT"] } else { &[] },
                    );
                }
            }
        }
    }
}

fn startup_budget(_: &Platform, obj: &Obj<'_>, sink: &mut Sink<'_>) {
    let Some((template, base)) = pod_template(obj.kind(), obj.value) else {
        return;
    };
    if !serving(obj) {
        return;
    }
    let Some(need) = obj.component.and_then(|c| c.workload.startup_seconds) else {
        return;
    };
    for (c, path) in containers(&template["spec"], &format!("{base}.spec")) {
        // The declared startup time is the component's own: it applies to the containers
        // that run the component's image, not to sidecars or companion workloads.
        if path.contains(".initContainers")
            || !obj.own_image(c["image"].as_str().unwrap_or_default())
        {
            continue;
        }
        let budget = |p: &Value| -> Option<u64> {
            let delay = p["initialDelaySeconds"].as_u64().unwrap_or(0);
            let period = p["periodSeconds"].as_u64().unwrap_or(10);
            let failures = p["failureThreshold"].as_u64().unwrap_or(3);
            p.is_object().then_some(delay + period * failures)
        };
        let (probe, field, have) = match (budget(&c["startupProbe"]), budget(&c["livenessProbe"])) {
            (Some(b), _) => ("startupProbe", "startup", b),
            (None, Some(b)) => ("livenessProbe", "liveness", b),
            (None, None) => continue,
        };
        if have < u64::from(need) {
            let threshold = format!("health.{field}.failure_threshold");
            let period = format!("health.{field}.period");
            let whole = format!("health.{field}");
            sink.report_from(
                "startup-budget",
                obj,
                &format!("{path}.{probe}.failureThreshold"),
                format!("the {probe} gives up after {have}s, but the app declares it may take {need}s to start (`startup_seconds`): it is killed while starting"),
                &[&threshold, &period, &whole],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_judged_by_value_and_name() {
        for (name, value) in [
            ("TOKEN_TTL_SECONDS", "3600"),
            ("JWT_SECRET_FILE", "/run/secrets/jwt"),
            ("PASSWORD_MIN_LENGTH", "12"),
            ("SECRET_NAME", "honeydue-secrets"),
            ("DATABASE_URL", "postgres://app@db:5432/app"),
            ("DATABASE_URL", "postgres://app:$(DB_PASSWORD)@db/app"),
            ("NEXT_PUBLIC_APP_URL", "https://shop.example.dev"),
            (
                "CA_BUNDLE",
                "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
            ),
            ("AUTH_SECRET", ""),
            ("REDACT_LOGS_TO_CLIENT", "true"),
        ] {
            assert_eq!(credential(name, value), None, "{name}={value}");
        }
        for (name, value) in [
            ("DATABASE_PASSWORD", "hunter2"),
            ("DATABASE_URL", "postgres://user:password@host/db"),
            ("STRIPE", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
            ("GH", "ghp_16C7e42F292c6912E7710c838347Ae178B4a"),
            ("AWS_ID", "AKIAIOSFODNN7EXAMPLE"),
            (
                "KEY_PEM",
                "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
            ),
            ("SESSION_SECRET_VALUE", "q8F3kZ0vLr9XyT2bN5mWc7Hd"),
            ("stripeApiKey", "abc"),
        ] {
            assert!(credential(name, value).is_some(), "{name}={value}");
        }
    }

    #[test]
    fn rollouts_round_percentages_as_the_controller_does() {
        let d = |strategy: Value| serde_json::json!({"spec": {"strategy": strategy}});
        let pods = |strategy: Value, replicas: i64| {
            let v = d(strategy);
            let r = rollout(&v, replicas);
            (r.unavailable, r.surge)
        };
        assert_eq!(pods(Value::Null, 1), (0, 1));
        assert_eq!(pods(Value::Null, 4), (1, 1));
        let ten = serde_json::json!({"rollingUpdate": {"maxUnavailable": 0, "maxSurge": "10%"}});
        assert_eq!(pods(ten, 3), (0, 1));
        let zero = serde_json::json!({"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}});
        assert_eq!(pods(zero, 3), (1, 0));
    }
}
