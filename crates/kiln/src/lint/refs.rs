//! References across the objects of one environment: selectors that select something, names
//! that name something rendered (or declared external), no duplicates.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashSet};

use serde_json::Value;

use super::{Obj, Sink};
use crate::object::{containers, int_or_percent, pod_template};
use crate::resolve::Platform;

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

/// What the objects of one environment provide, and indexes over them.
struct Index<'a> {
    namespaces: HashSet<&'a str>,
    /// (kind, namespace, name) of provided objects (Secrets include custom resources that
    /// provide them).
    objects: HashSet<(&'a str, &'a str, &'a str)>,
    /// Pod templates: (object index, labels).
    pods: Vec<(usize, BTreeMap<&'a str, &'a str>)>,
    /// Pod templates by (namespace, label, value): a selector looks up the pods its first pair
    /// selects and checks the rest, so linting stays linear in the fleet's size.
    pod_index: HashMap<(&'a str, &'a str, &'a str), Vec<usize>>,
    services: HashMap<(&'a str, &'a str), usize>,
}

impl Index<'_> {
    fn has(&self, kind: &str, ns: &str, name: &str) -> bool {
        self.objects.contains(&(kind, ns, name))
    }

    /// The workloads (object indices) whose pod template `selector` selects in `ns`.
    fn selected(&self, ns: &str, selector: &BTreeMap<&str, &str>) -> Vec<usize> {
        let Some((k, v)) = selector.iter().next() else {
            return Vec::new();
        };
        self.pod_index
            .get(&(ns, *k, *v))
            .into_iter()
            .flatten()
            .filter(|&&slot| selects(selector, &self.pods[slot].1))
            .map(|&slot| self.pods[slot].0)
            .collect()
    }
}

/// What one object adds to the index, read from the object on every core so that the
/// sequential pass below only inserts.
struct Facts<'a> {
    kind: &'a str,
    ns: &'a str,
    name: &'a str,
    /// The kind it provides (a custom resource's `provides`, else its own kind).
    provides: &'a str,
    /// Its pod template's labels, for a workload.
    pod_labels: Option<BTreeMap<&'a str, &'a str>>,
}

fn facts<'a>(platform: &'a Platform, obj: &Obj<'a>) -> Facts<'a> {
    let v = obj.value;
    let kind = v["kind"].as_str().unwrap_or_default();
    let metadata = &v["metadata"];
    let api = v["apiVersion"].as_str().unwrap_or_default();
    let provides = platform
        .lint
        .custom_resources
        .iter()
        .find(|c| c.api_version == api && c.kind == kind)
        .and_then(|c| c.provides.as_deref())
        .unwrap_or(kind);
    Facts {
        kind,
        ns: metadata["namespace"].as_str().unwrap_or_default(),
        name: metadata["name"].as_str().unwrap_or_default(),
        provides,
        pod_labels: pod_template(obj.kind(), obj.value)
            .map(|(template, _)| labels(&template["metadata"]["labels"])),
    }
}

pub(crate) fn check<'a>(platform: &'a Platform, objects: &[Obj<'a>], sink: &mut Sink<'_>) {
    let facts: Vec<Facts<'_>> = {
        use rayon::prelude::*;
        objects
            .par_iter()
            .with_min_len(256)
            .map(|obj| facts(platform, obj))
            .collect()
    };
    // Sequential, in object order: what is provided, and what is rendered twice (the first
    // one rendered is the one the finding names).
    let mut index = Index {
        namespaces: HashSet::default(),
        objects: HashSet::with_capacity_and_hasher(objects.len(), Default::default()),
        pods: Vec::new(),
        pod_index: HashMap::default(),
        services: HashMap::default(),
    };
    let mut seen: HashMap<(&str, &str, &str), &str> =
        HashMap::with_capacity_and_hasher(objects.len(), Default::default());
    let mut hosts: HashMap<&str, String> = HashMap::default();
    for (i, (obj, facts)) in objects.iter().zip(facts).enumerate() {
        let Facts {
            kind,
            ns,
            name,
            provides,
            pod_labels,
        } = facts;
        if let Some(first) = seen.insert((kind, ns, name), obj.file) {
            sink.report(
                "duplicate-object",
                obj,
                "metadata.name",
                format!("{} is also rendered in {first}", obj.title()),
            );
        }
        match kind {
            "Namespace" => {
                index.namespaces.insert(name);
            }
            "Service" => {
                index.services.insert((ns, name), i);
            }
            "Ingress" => {
                let rules = obj.value["spec"]["rules"].as_array();
                for (j, rule) in rules.into_iter().flatten().enumerate() {
                    if let Some(host) = rule["host"].as_str() {
                        if let Some(other) = hosts.insert(host, obj.title()) {
                            sink.report(
                                "duplicate-host",
                                obj,
                                &format!("spec.rules[{j}].host"),
                                format!("`{host}` is also served by {other}"),
                            );
                        }
                    }
                }
            }
            _ => {}
        }
        index.objects.insert((provides, ns, name));
        if let Some(labels) = pod_labels {
            let slot = index.pods.len();
            for (k, v) in &labels {
                index.pod_index.entry((ns, k, v)).or_default().push(slot);
            }
            index.pods.push((i, labels));
        }
    }

    // Each object's references, against the index: chunks on every core, findings in object
    // order.
    let chunks: Vec<&[Obj<'_>]> = objects.chunks(256).collect();
    let checked = crate::par::par_map(&chunks, |chunk| {
        let mut chunk_sink = Sink::new(platform);
        for obj in *chunk {
            check_object(platform, &index, objects, obj, &mut chunk_sink);
        }
        Ok(chunk_sink)
    });
    for chunk_sink in checked {
        sink.absorb(chunk_sink.expect("reference checks do not fail"));
    }
}

/// The references of one object.
fn check_object(
    platform: &Platform,
    index: &Index<'_>,
    objects: &[Obj<'_>],
    obj: &Obj<'_>,
    sink: &mut Sink<'_>,
) {
    let external = &platform.lint.external;
    let ext = |list: &Vec<String>, name: &str| list.iter().any(|n| n == name);
    let ns_exists = |ns: &str| index.namespaces.contains(ns) || ext(&external.namespaces, ns);
    let selects_pods =
        |ns: &str, selector: &BTreeMap<&str, &str>| !index.selected(ns, selector).is_empty();
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
                    format!("selector {selector:?} matches no pod template in namespace `{ns}`"),
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
                    format!("selector {selector:?} matches no pod template in namespace `{ns}`"),
                );
            }
            let min = int_or_percent(&v["spec"]["minAvailable"]);
            let max = int_or_percent(&v["spec"]["maxUnavailable"]);
            for w in index
                .selected(ns, &selector)
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
                let service = index.services.get(&(ns, name)).map(|&i| &objects[i]);
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
                    (None, Some(name)) => ports.iter().any(|p| p["name"].as_str() == Some(name)),
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
                let (Some(name), sns) = (s["name"].as_str(), s["namespace"].as_str().unwrap_or(ns))
                else {
                    continue;
                };
                if ns_exists(sns)
                    && index.namespaces.contains(sns)
                    && !index.has("ServiceAccount", sns, name)
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

    let Some((template, base)) = pod_template(obj.kind(), obj.value) else {
        return;
    };
    let spec = &template["spec"];
    let spec_path = format!("{base}.spec");
    let sa = spec["serviceAccountName"].as_str().unwrap_or("default");
    if sa != "default"
        && !index.has("ServiceAccount", ns, sa)
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
        if !index.has("Secret", ns, name) && !ext(&external.secrets, name) {
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
        if !index.has("ConfigMap", ns, name) && !ext(&external.config_maps, name) {
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
            if !index.has("PersistentVolumeClaim", ns, name) {
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
