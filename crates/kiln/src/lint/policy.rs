//! Policy rules: one object at a time, each the lesson of an incident in the seeds.

use serde_json::Value;

use super::{Obj, Sink};
use crate::object::{containers, int_or_percent, pod_template};
use crate::resolve::Platform;

fn replicas(obj: &Obj<'_>) -> i64 {
    // A non-integer is a schema error, reported there.
    match &obj.value["spec"]["replicas"] {
        Value::Null => 1,
        n => n.as_i64().unwrap_or(0),
    }
}

/// Credential-looking names of environment variables and config keys.
fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "API_KEY",
        "APIKEY",
        "PRIVATE_KEY",
        "CREDENTIAL",
        "ACCESS_KEY",
    ]
    .iter()
    .any(|w| upper.contains(w))
}

pub(crate) fn check(platform: &Platform, obj: &Obj<'_>, sink: &mut Sink<'_>) {
    let v = obj.value;
    match obj.kind() {
        "Deployment" => {
            let strategy = &v["spec"]["strategy"];
            let kind = strategy["type"].as_str().unwrap_or("RollingUpdate");
            let unavailable = int_or_percent(&strategy["rollingUpdate"]["maxUnavailable"]);
            let surge = int_or_percent(&strategy["rollingUpdate"]["maxSurge"]);
            if kind != "RollingUpdate" {
                sink.report(
                    "rolling-update",
                    obj,
                    "spec.strategy.type",
                    format!("strategy `{kind}` stops every old pod before new ones are ready"),
                );
            } else if unavailable.map(|(n, _)| n) != Some(0) {
                sink.report(
                    "rolling-update",
                    obj,
                    "spec.strategy.rollingUpdate.maxUnavailable",
                    "maxUnavailable must be 0 (the default 25% takes ready pods away first)".into(),
                );
            } else if surge.is_none_or(|(n, _)| n < 1) {
                sink.report("rolling-update", obj, "spec.strategy.rollingUpdate.maxSurge", "maxSurge must be at least 1, or a rollout with maxUnavailable 0 cannot make progress".into());
            }
        }
        "StatefulSet"
            if platform
                .lint
                .data_stateful
                .iter()
                .any(|s| s.matches(obj.kind(), obj.name())) =>
        {
            let kind = v["spec"]["updateStrategy"]["type"]
                .as_str()
                .unwrap_or("RollingUpdate");
            if kind != "OnDelete" {
                sink.report("stateful-ondelete", obj, "spec.updateStrategy.type", format!("`{kind}` upgrades this data store as soon as the template changes; use OnDelete and roll it by hand"));
            }
        }
        "ServiceAccount" if v["automountServiceAccountToken"] != Value::Bool(false) => {
            sink.report("service-account-token", obj, "automountServiceAccountToken", "set `automountServiceAccountToken: false`, or record an exception saying why this identity needs the API".into());
        }
        "Ingress" => {
            let covered: Vec<&str> = v["spec"]["tls"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|t| t["hosts"].as_array().into_iter().flatten())
                .filter_map(Value::as_str)
                .collect();
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
                        format!("`{host}` has no TLS entry"),
                        Some("tls"),
                    );
                }
            }
            if platform
                .lint
                .auth_required
                .iter()
                .any(|s| s.matches(obj.kind(), obj.name()))
            {
                let annotation = platform.lint.auth_annotation.as_deref().unwrap_or_default();
                let present = v["metadata"]["annotations"][annotation]
                    .as_str()
                    .is_some_and(|s| !s.is_empty());
                if !present {
                    sink.report("auth-middleware", obj, &format!("metadata.annotations[{annotation:?}]"), "this Ingress is marked as needing authentication but names no auth middleware".into());
                }
            }
        }
        "Secret" => {
            for key in ["data", "stringData"] {
                if v[key].as_object().is_some_and(|m| !m.is_empty()) {
                    sink.report("plaintext-secret", obj, key, "a Secret with values in the manifest; reference a secret manager (OnePasswordItem, an existing Secret) instead".into());
                }
            }
        }
        "ConfigMap" => {
            for (k, val) in v["data"].as_object().into_iter().flatten() {
                if looks_secret(k) && val.as_str().is_some_and(|s| !s.is_empty()) {
                    sink.report("plaintext-secret", obj, &format!("data.{k}"), format!("`{k}` looks like a credential in a ConfigMap; move it to a Secret reference"));
                }
            }
        }
        "NetworkPolicy" if !platform.cluster.network_policies => {
            let cni = platform
                .cluster
                .cni
                .as_deref()
                .unwrap_or("this cluster's CNI");
            sink.report("network-policy-cni", obj, "spec", format!("{cni} does not enforce NetworkPolicies (kiln.yaml `cluster.network_policies: false`)"));
        }
        _ => {}
    }

    let Some((template, base)) = pod_template(obj.kind(), obj.value) else {
        return;
    };
    let spec = &template["spec"];
    let spec_path = format!("{base}.spec");
    let serving = matches!(obj.kind(), "Deployment" | "StatefulSet" | "DaemonSet");
    if serving && replicas(obj) >= 2 {
        let anti = spec["affinity"]["podAntiAffinity"].is_object();
        let spread = spec["topologySpreadConstraints"]
            .as_array()
            .is_some_and(|a| !a.is_empty());
        if !anti && !spread {
            sink.report(
                "spread",
                obj,
                &format!("{spec_path}.affinity"),
                format!(
                    "{} replicas with neither pod anti-affinity nor topology spread",
                    replicas(obj)
                ),
            );
        }
    }
    let startup_seconds = obj.component.and_then(|c| c.workload.startup_seconds);
    for (c, path) in containers(spec, &spec_path) {
        let is_init = path.contains(".initContainers");
        let image = c["image"].as_str().unwrap_or_default();
        let last = image.rsplit('/').next().unwrap_or_default();
        let tag = last
            .split_once('@')
            .map(|_| "digest")
            .or_else(|| last.split_once(':').map(|(_, t)| t));
        match tag {
            None => sink.report_from(
                "image-tag",
                obj,
                &format!("{path}.image"),
                format!("`{image}` has no tag: the registry decides what runs"),
                Some("tag"),
            ),
            Some("latest") => sink.report_from(
                "image-tag",
                obj,
                &format!("{path}.image"),
                format!("`{image}` uses `latest`, which moves"),
                Some("tag"),
            ),
            Some(_) => {}
        }
        let resources = &c["resources"];
        if resources["requests"]
            .as_object()
            .is_none_or(|r| r.is_empty())
        {
            sink.report_from(
                "resources",
                obj,
                &format!("{path}.resources.requests"),
                "no resource requests".into(),
                Some("resources"),
            );
        }
        if resources["limits"]["memory"].is_null() {
            sink.report_from(
                "resources",
                obj,
                &format!("{path}.resources.limits.memory"),
                "no memory limit".into(),
                Some("resources"),
            );
        }
        for e in c["env"].as_array().into_iter().flatten() {
            let name = e["name"].as_str().unwrap_or_default();
            if looks_secret(name) && e["value"].as_str().is_some_and(|s| !s.is_empty()) {
                sink.report(
                    "plaintext-secret",
                    obj,
                    &format!("{path}.env[name={name}].value"),
                    format!("`{name}` has a literal value; read it from a Secret (`secretKeyRef`)"),
                );
            }
        }
        if is_init || !serving {
            continue;
        }
        let declared: Vec<&Value> = c["ports"].as_array().into_iter().flatten().collect();
        if !declared.is_empty() {
            for probe in ["livenessProbe", "readinessProbe"] {
                if c[probe].is_null() {
                    sink.report_from(
                        "probes",
                        obj,
                        &format!("{path}.{probe}"),
                        format!("a serving container without a {probe}"),
                        Some("health"),
                    );
                }
            }
        }
        let own_image = obj
            .component
            .is_some_and(|comp| comp.derived.image_ref == image);
        let health = obj
            .component
            .and_then(|comp| comp.workload.health.as_ref())
            .filter(|_| own_image);
        for (probe, field) in [
            ("livenessProbe", "liveness"),
            ("readinessProbe", "readiness"),
            ("startupProbe", "startup"),
        ] {
            let p = &c[probe];
            // The path must be one the app declares as its health endpoint (seed 002: a probe
            // on /admin/ that 404'd and killed every pod).
            if let (Some(health), Some(path_now)) = (health, p["httpGet"]["path"].as_str()) {
                let declared = match field {
                    "liveness" => health.liveness.as_ref(),
                    "readiness" => health.readiness.as_ref(),
                    _ => health.startup.as_ref(),
                }
                .and_then(|pr| pr.path.as_deref())
                .or(health.path.as_deref());
                if let Some(declared) = declared.filter(|d| *d != path_now) {
                    sink.report_from("probes", obj, &format!("{path}.{probe}.httpGet.path"), format!("probes `{path_now}`, but the app declares its health endpoint as `{declared}`: a path the app does not serve fails the probe and restarts the pod"), Some("health"));
                }
            }
            let port = p["httpGet"]["port"]
                .as_str()
                .map(|_| &p["httpGet"]["port"])
                .or(p["httpGet"].get("port"))
                .or(p["tcpSocket"].get("port"))
                .or(p["grpc"].get("port"));
            let Some(port) = port else { continue };
            let ok = declared
                .iter()
                .any(|d| &d["containerPort"] == port || (port.is_string() && &d["name"] == port));
            if !ok {
                sink.report_from(
                    "probes",
                    obj,
                    &format!("{path}.{probe}"),
                    format!("probes port {port}, which the container does not declare"),
                    Some("health"),
                );
            }
        }
        // The declared startup time is the component's own: it applies to the containers that
        // run the component's image, not to sidecars or companion workloads.
        if let Some(need) = startup_seconds.filter(|_| own_image) {
            let budget = |p: &Value| -> Option<u64> {
                let delay = p["initialDelaySeconds"].as_u64().unwrap_or(0);
                let period = p["periodSeconds"].as_u64().unwrap_or(10);
                let failures = p["failureThreshold"].as_u64().unwrap_or(3);
                p.is_object().then_some(delay + period * failures)
            };
            let (probe, have) = match (budget(&c["startupProbe"]), budget(&c["livenessProbe"])) {
                (Some(b), _) => ("startupProbe", b),
                (None, Some(b)) => ("livenessProbe", b),
                (None, None) => continue,
            };
            if have < u64::from(need) {
                sink.report_from(
                    "startup-budget",
                    obj,
                    &format!("{path}.{probe}"),
                    format!("the {probe} gives up after {have}s, but the app declares it may take {need}s to start (`startup_seconds`): it is killed while starting"),
                    Some("health"),
                );
            }
        }
    }
}
