//! References across the objects of one environment: selectors that select something, names
//! that name something rendered (or declared external), no duplicates.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{Obj, Sink};
use crate::resolve::Platform;

/// The pod template of a workload and its path, if the object has one.
pub(crate) fn pod_template<'v>(obj: &Obj<'v>) -> Option<(&'v Value, &'static str)> {
    let v = obj.value;
    match obj.kind() {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            v["spec"].get("template").map(|t| (t, "spec.template"))
        }
        "CronJob" => v["spec"]["jobTemplate"]["spec"]
            .get("template")
            .map(|t| (t, "spec.jobTemplate.spec.template")),
        _ => None,
    }
}

/// Every container of a pod spec (init containers too), with its path.
pub(crate) fn containers<'v>(pod_spec: &'v Value, base: &str) -> Vec<(&'v Value, String)> {
    let mut out = Vec::new();
    for list in ["initContainers", "containers"] {
        for (i, c) in pod_spec[list].as_array().into_iter().flatten().enumerate() {
            let label = c["name"]
                .as_str()
                .map(|n| format!("[name={n}]"))
                .unwrap_or_else(|| format!("[{i}]"));
            out.push((c, format!("{base}.{list}{label}")));
        }
    }
    out
}

fn labels(v: &Value) -> BTreeMap<&str, &str> {
    v.as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
        .collect()
}

fn selects(selector: &BTreeMap<&str, &str>, labels: &BTreeMap<&str, &str>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[derive(Default)]
struct Provided<'a> {
    namespaces: BTreeSet<&'a str>,
    /// (kind, namespace, name) of provided objects (Secrets include custom resources that
    /// provide them).
    objects: BTreeSet<(String, &'a str, &'a str)>,
}

impl Provided<'_> {
    fn has(&self, kind: &str, ns: &str, name: &str) -> bool {
        self.objects.contains(&(kind.to_owned(), ns, name))
    }
}

pub(crate) fn check(platform: &Platform, objects: &[Obj<'_>], sink: &mut Sink<'_>) {
    let external = &platform.lint.external;
    let mut provided = Provided::default();
    let mut seen: BTreeMap<(&str, &str, &str), &str> = BTreeMap::new();
    for obj in objects {
        let ns = obj.namespace().unwrap_or_default();
        if let Some(first) = seen.insert((obj.kind(), ns, obj.name()), obj.file) {
            sink.report(
                "duplicate-object",
                obj,
                "metadata.name",
                format!("{} is also rendered in {first}", obj.title()),
            );
        }
        if obj.kind() == "Namespace" {
            provided.namespaces.insert(obj.name());
        }
        let api = obj.value["apiVersion"].as_str().unwrap_or_default();
        let kind = platform
            .lint
            .custom_resources
            .iter()
            .find(|c| c.api_version == api && c.kind == obj.kind())
            .and_then(|c| c.provides.clone())
            .unwrap_or_else(|| obj.kind().to_owned());
        provided.objects.insert((kind, ns, obj.name()));
    }
    let ext = |list: &Vec<String>, name: &str| list.iter().any(|n| n == name);
    let ns_exists = |ns: &str| provided.namespaces.contains(ns) || ext(&external.namespaces, ns);

    // Pod templates, indexed by (namespace, label, value): a selector looks up the pods its
    // first pair selects and checks the rest, so linting stays linear in the fleet's size.
    let pods: Vec<(usize, BTreeMap<&str, &str>)> = objects
        .iter()
        .enumerate()
        .filter_map(|(i, o)| Some((i, labels(&pod_template(o)?.0["metadata"]["labels"]))))
        .collect();
    let mut pod_index: BTreeMap<(&str, &str, &str), Vec<usize>> = BTreeMap::new();
    for (slot, (i, l)) in pods.iter().enumerate() {
        let ns = objects[*i].namespace().unwrap_or_default();
        for (k, v) in l {
            pod_index.entry((ns, k, v)).or_default().push(slot);
        }
    }
    // The workloads (object indices) whose pod template `selector` selects in `ns`.
    let selected = |ns: &str, selector: &BTreeMap<&str, &str>| -> Vec<usize> {
        let Some((k, v)) = selector.iter().next() else {
            return Vec::new();
        };
        pod_index
            .get(&(ns, *k, *v))
            .into_iter()
            .flatten()
            .filter(|&&slot| selects(selector, &pods[slot].1))
            .map(|&slot| pods[slot].0)
            .collect()
    };
    let selects_pods =
        |ns: &str, selector: &BTreeMap<&str, &str>| !selected(ns, selector).is_empty();
    let services: BTreeMap<(&str, &str), &Obj<'_>> = objects
        .iter()
        .filter(|o| o.kind() == "Service")
        .map(|o| ((o.namespace().unwrap_or_default(), o.name()), o))
        .collect();

    let mut hosts: BTreeMap<&str, String> = BTreeMap::new();
    for obj in objects {
        let ns = obj.namespace().unwrap_or_default();
        if let Some(ns) = obj.namespace() {
            if !ns_exists(ns) {
                sink.report("namespace-exists", obj, "metadata.namespace", format!("namespace `{ns}` is neither rendered in this environment nor declared in `lint.external.namespaces`"));
            }
        }
        let v = obj.value;
        match obj.kind() {
            "Service" => {
                let selector = labels(&v["spec"]["selector"]);
                if !selector.is_empty() && !selects_pods(ns, &selector) {
                    sink.report(
                        "service-selector",
                        obj,
                        "spec.selector",
                        format!(
                            "selector {selector:?} matches no pod template in namespace `{ns}`"
                        ),
                    );
                }
            }
            "PodDisruptionBudget" => {
                let selector = labels(&v["spec"]["selector"]["matchLabels"]);
                if !selects_pods(ns, &selector) {
                    sink.report(
                        "pdb-selector",
                        obj,
                        "spec.selector.matchLabels",
                        format!(
                            "selector {selector:?} matches no pod template in namespace `{ns}`"
                        ),
                    );
                }
                let min = super::policy::int_or_percent(&v["spec"]["minAvailable"]);
                let max = super::policy::int_or_percent(&v["spec"]["maxUnavailable"]);
                for w in selected(ns, &selector)
                    .into_iter()
                    .map(|i| &objects[i])
                    .filter(|w| w.kind() != "DaemonSet")
                {
                    let replicas = match &w.value["spec"]["replicas"] {
                        Value::Null => 1,
                        n => match n.as_i64() {
                            Some(n) => n,
                            None => continue, // a schema error, reported there
                        },
                    };
                    let blocks = match (min, max) {
                        (Some((n, false)), _) => n >= replicas,
                        (Some((p, true)), _) => p >= 100,
                        (None, Some((n, _))) => n == 0,
                        (None, None) => false,
                    };
                    if replicas < 2 {
                        sink.report("pdb-replicas", obj, "spec", format!("{} runs {replicas} replica(s): a budget on it can only block node drains", w.title()));
                    } else if blocks {
                        sink.report("pdb-replicas", obj, "spec", format!("with {replicas} replicas this budget allows no voluntary eviction of {}: every node drain blocks", w.title()));
                    }
                }
            }
            "Ingress" => {
                let mut backends = Vec::new();
                if let Some(b) = v["spec"].get("defaultBackend") {
                    backends.push((b, "spec.defaultBackend".to_owned()));
                }
                for (i, rule) in v["spec"]["rules"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    if let Some(host) = rule["host"].as_str() {
                        let here = obj.title();
                        if let Some(other) = hosts.insert(host, here.clone()) {
                            sink.report(
                                "duplicate-host",
                                obj,
                                &format!("spec.rules[{i}].host"),
                                format!("`{host}` is also served by {other}"),
                            );
                        }
                    }
                    for (j, p) in rule["http"]["paths"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .enumerate()
                    {
                        backends.push((
                            &p["backend"],
                            format!("spec.rules[{i}].http.paths[{j}].backend"),
                        ));
                    }
                }
                for (backend, path) in backends {
                    let Some(name) = backend["service"]["name"].as_str() else {
                        continue;
                    };
                    let service = services.get(&(ns, name));
                    let Some(service) = service else {
                        sink.report(
                            "ingress-backend",
                            obj,
                            &format!("{path}.service.name"),
                            format!("no Service `{name}` in namespace `{ns}`"),
                        );
                        continue;
                    };
                    let ports = service.value["spec"]["ports"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    let port = &backend["service"]["port"];
                    let ok = match (port.get("number"), port.get("name").and_then(Value::as_str)) {
                        (Some(n), _) => ports.iter().any(|p| &p["port"] == n),
                        (None, Some(name)) => {
                            ports.iter().any(|p| p["name"].as_str() == Some(name))
                        }
                        (None, None) => false,
                    };
                    if !ok {
                        sink.report(
                            "ingress-backend",
                            obj,
                            &format!("{path}.service.port"),
                            format!("Service `{name}` has no port {port}"),
                        );
                    }
                }
            }
            "RoleBinding" | "ClusterRoleBinding" => {
                for (i, s) in v["subjects"].as_array().into_iter().flatten().enumerate() {
                    if s["kind"] != "ServiceAccount" {
                        continue;
                    }
                    let (Some(name), sns) =
                        (s["name"].as_str(), s["namespace"].as_str().unwrap_or(ns))
                    else {
                        continue;
                    };
                    if ns_exists(sns)
                        && provided.namespaces.contains(sns)
                        && !provided.has("ServiceAccount", sns, name)
                        && !ext(&external.service_accounts, name)
                    {
                        sink.report(
                            "service-account",
                            obj,
                            &format!("subjects[{i}]"),
                            format!("no ServiceAccount `{name}` in namespace `{sns}`"),
                        );
                    }
                }
            }
            _ => {}
        }

        let Some((template, base)) = pod_template(obj) else {
            continue;
        };
        let spec = &template["spec"];
        let spec_path = format!("{base}.spec");
        let sa = spec["serviceAccountName"].as_str().unwrap_or("default");
        if sa != "default"
            && !provided.has("ServiceAccount", ns, sa)
            && !ext(&external.service_accounts, sa)
        {
            sink.report(
                "service-account",
                obj,
                &format!("{spec_path}.serviceAccountName"),
                format!("no ServiceAccount `{sa}` in namespace `{ns}`"),
            );
        }
        let secret = |name: &str, path: String, sink: &mut Sink<'_>| {
            if !provided.has("Secret", ns, name) && !ext(&external.secrets, name) {
                sink.report("secret-ref", obj, &path, format!("nothing provides Secret `{name}` in namespace `{ns}` (render it, or a custom resource that provides it, or declare it in `lint.external.secrets`)"));
            }
        };
        for (i, s) in spec["imagePullSecrets"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(name) = s["name"].as_str() {
                secret(name, format!("{spec_path}.imagePullSecrets[{i}]"), sink);
            }
        }
        let configmap = |name: &str, path: String, sink: &mut Sink<'_>| {
            if !provided.has("ConfigMap", ns, name) && !ext(&external.config_maps, name) {
                sink.report(
                    "configmap-ref",
                    obj,
                    &path,
                    format!("nothing provides ConfigMap `{name}` in namespace `{ns}`"),
                );
            }
        };
        for (i, vol) in spec["volumes"].as_array().into_iter().flatten().enumerate() {
            let path = format!("{spec_path}.volumes[{i}]");
            if let Some(name) = vol["secret"]["secretName"].as_str() {
                secret(name, path.clone(), sink);
            }
            if let Some(name) = vol["configMap"]["name"].as_str() {
                configmap(name, path.clone(), sink);
            }
            if let Some(name) = vol["persistentVolumeClaim"]["claimName"].as_str() {
                if !provided.has("PersistentVolumeClaim", ns, name) {
                    sink.report(
                        "pvc-ref",
                        obj,
                        &path,
                        format!("no PersistentVolumeClaim `{name}` in namespace `{ns}`"),
                    );
                }
            }
        }
        for (c, cpath) in containers(spec, &spec_path) {
            for (i, from) in c["envFrom"].as_array().into_iter().flatten().enumerate() {
                let optional = |r: &Value| r["optional"] == Value::Bool(true);
                if let Some(name) = from["secretRef"]["name"]
                    .as_str()
                    .filter(|_| !optional(&from["secretRef"]))
                {
                    secret(name, format!("{cpath}.envFrom[{i}]"), sink);
                }
                if let Some(name) = from["configMapRef"]["name"]
                    .as_str()
                    .filter(|_| !optional(&from["configMapRef"]))
                {
                    configmap(name, format!("{cpath}.envFrom[{i}]"), sink);
                }
            }
            for e in c["env"].as_array().into_iter().flatten() {
                let var = e["name"].as_str().unwrap_or_default();
                let r = &e["valueFrom"]["secretKeyRef"];
                if let Some(name) = r["name"]
                    .as_str()
                    .filter(|_| r["optional"] != Value::Bool(true))
                {
                    secret(name, format!("{cpath}.env[name={var}]"), sink);
                }
                let r = &e["valueFrom"]["configMapKeyRef"];
                if let Some(name) = r["name"]
                    .as_str()
                    .filter(|_| r["optional"] != Value::Bool(true))
                {
                    configmap(name, format!("{cpath}.env[name={var}]"), sink);
                }
            }
        }
    }
}
