//! References across the objects of one environment: selectors that select something, names
//! that name something rendered (or declared external), no duplicates. Every rule on one
//! object's references is one function in [`RULES`].

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
    /// ServiceAccounts by (namespace, name): their `automountServiceAccountToken`.
    service_accounts: HashMap<(&'a str, &'a str), Option<bool>>,
    /// Secrets synced from a secret-manager item, by (namespace, name): the item's path.
    items: HashMap<(&'a str, &'a str), &'a str>,
}

/// Namespaces every cluster has: they need no declaring.
const BUILT_IN_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

/// Hostnames served by the environments linted so far: hostname to (environment, object).
pub(crate) type Hosts = BTreeMap<String, (String, String)>;

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
    /// The secret-manager item it syncs, for a custom resource with `item_path`.
    item: Option<&'a str>,
}

fn facts<'a>(platform: &'a Platform, obj: &Obj<'a>) -> Facts<'a> {
    let v = obj.value;
    let kind = v["kind"].as_str().unwrap_or_default();
    let metadata = &v["metadata"];
    let api = v["apiVersion"].as_str().unwrap_or_default();
    let custom = platform
        .lint
        .custom_resources
        .iter()
        .find(|c| c.api_version == api && c.kind == kind);
    let provides = custom.and_then(|c| c.provides.as_deref()).unwrap_or(kind);
    let item = custom
        .and_then(|c| c.item_path.as_deref())
        .and_then(|p| p.split('.').try_fold(v, |v, k| v.get(k)))
        .and_then(Value::as_str);
    Facts {
        kind,
        ns: metadata["namespace"].as_str().unwrap_or_default(),
        name: metadata["name"].as_str().unwrap_or_default(),
        provides,
        pod_labels: pod_template(obj.kind(), obj.value)
            .map(|(template, _)| labels(&template["metadata"]["labels"])),
        item,
    }
}

/// Checks one environment's references. `hosts` holds the hostnames of the environments
/// linted before; this environment's are added.
pub(crate) fn check<'a>(
    platform: &'a Platform,
    objects: &[Obj<'a>],
    hosts_before: &mut Hosts,
    sink: &mut Sink<'_>,
) {
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
        service_accounts: HashMap::default(),
        items: HashMap::default(),
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
            item,
        } = facts;
        if let Some(item) = item {
            index.items.insert((ns, name), item);
        }
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
            "ServiceAccount" => {
                let automount = obj.value["automountServiceAccountToken"].as_bool();
                index.service_accounts.insert((ns, name), automount);
            }
            "Ingress" => {
                let rules = obj.value["spec"]["rules"].as_array();
                for (j, rule) in rules.into_iter().flatten().enumerate() {
                    if let Some(host) = rule["host"].as_str() {
                        let path = format!("spec.rules[{j}].host");
                        if let Some(other) = hosts.insert(host, obj.title()) {
                            if other != obj.title() {
                                sink.report(
                                    "duplicate-host",
                                    obj,
                                    &path,
                                    format!("`{host}` is also served by {other}: requests reach one of them at random"),
                                );
                            }
                        } else if let Some((env, other)) = hosts_before.get(host) {
                            sink.report(
                                "duplicate-host",
                                obj,
                                &path,
                                format!("`{host}` is also served by {other} in environment `{env}`, on the same cluster: the ingress controller routes requests to either"),
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
    let env = objects.first().map(|o| o.env).unwrap_or_default();
    for (host, title) in hosts {
        hosts_before
            .entry(host.to_owned())
            .or_insert_with(|| (env.to_owned(), title));
    }
    let cx = Cx {
        platform,
        index: &index,
        objects,
    };
    let chunks: Vec<&[Obj<'_>]> = objects.chunks(256).collect();
    let checked = crate::par::par_map(&chunks, |chunk| {
        let mut chunk_sink = Sink::new(platform);
        for obj in *chunk {
            for (_, rule) in RULES {
                rule(&cx, obj, &mut chunk_sink);
            }
        }
        Ok(chunk_sink)
    });
    for chunk_sink in checked {
        sink.absorb(chunk_sink.expect("reference checks do not fail"));
    }
}

/// What the rules on one object's references read.
struct Cx<'c, 'a> {
    platform: &'a Platform,
    index: &'c Index<'a>,
    objects: &'c [Obj<'a>],
}

impl Cx<'_, '_> {
    fn external(&self) -> &crate::model::External {
        &self.platform.lint.external
    }
    fn ns_exists(&self, ns: &str) -> bool {
        self.index.namespaces.contains(ns)
            || BUILT_IN_NAMESPACES.contains(&ns)
            || self.external().namespaces.iter().any(|n| n == ns)
    }
}

type Rule = fn(&Cx<'_, '_>, &Obj<'_>, &mut Sink<'_>);

/// The rules on one object's references, in the order a sequential pass reports them.
const RULES: &[(&str, Rule)] = &[
    ("namespace-exists", namespace_exists),
    ("service-selector", service_selector),
    ("service-port", service_port),
    ("pdb-selector", pdb_selector),
    ("pdb-replicas", pdb_replicas),
    ("ingress-backend", ingress_backend),
    ("service-account", service_account),
    ("service-account-token", service_account_token),
    ("secret-ref", secret_ref),
    ("secret-key", secret_key),
    ("configmap-ref", configmap_ref),
    ("pvc-ref", pvc_ref),
];

fn namespace_exists(cx: &Cx<'_, '_>, obj: &Obj<'_>, sink: &mut Sink<'_>) {
    if let Some(ns) = obj.namespace() {
        if !cx.ns_exists(ns) {
            sink.report("namespace-exists", obj, "metadata.namespace", format!("namespace `{ns}` is neither rendered in this environment nor declared in `lint.external.namespaces`: applying the object fails"));
        }
    }
}

fn service_selector(cx: &Cx<'_, '_>, obj: &Obj<'_>, sink: &mut Sink<'_>) {
    if obj.kind() != "Service" {
        return;
    }
    let ns = obj.namespace().unwrap_or_default();
    let selector = labels(&obj.value["spec"]["selector"]);
    if selector.is_empty() {
        return;
    }
    let selected = cx.index.selected(ns, &selector);
    if selected.is_empty() {
        sink.report(
            "service-selector",
            obj,
            "spec.selector",
            format!("selector {selector:?} matches no pod template in namespace `{ns}`: the Service has no endpoints"),
        );
    } else if selected.len() > 1 {
        let names: Vec<String> = selected.iter().map(|&i| cx.objects[i].title()).collect();
        sink.report(
            "service-selector",
            obj,
            "spec.selector",
            format!("selector {selector:?} matches the pods of {}: requests are spread across all of them", names.join(" and ")),
        );
    }
}

fn service_port(cx: &Cx<'_, '_>, obj: &Obj<'_>, sink: &mut Sink<'_>) {
    if obj.kind() != "Service" {
        return;
    }
    let ns = obj.namespace().unwrap_or_default();
    let selector = labels(&obj.value["spec"]["selector"]);
    let selected = cx.index.selected(ns, &selector);
    if selected.is_empty() {
        return;
    }
    let declared: Vec<&Value> = selected
        .iter()
        .filter_map(|&i| pod_template(cx.objects[i].kind(), cx.objects[i].value))
        .flat_map(|(t, base)| {
            let spec = &t["spec"];
            containers(spec, base)
                .into_iter()
                .filter(|(_, p)| !p.contains(".initContainers"))
                .flat_map(|(c, _)| c["ports"].as_array().into_iter().flatten())
                .collect::<Vec<_>>()
        })
        .collect();
    for (i, port) in obj.value["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let (target, path) = match port.get("targetPort") {
            Some(t) => (t, format!("spec.ports[{i}].targetPort")),
            None => (&port["port"], format!("spec.ports[{i}].port")),
        };
        let ok = match target {
            Value::String(name) => declared.iter().any(|d| d["name"].as_str() == Some(name)),
            n => declared.iter().any(|d| &d["containerPort"] == n),
        };
        if !ok {
            sink.report_from(
                "service-port",
                obj,
                &path,
                format!("targets port {target}, which no container of the selected pods declares: requests reach a port nothing listens on"),
                &["port"],
            );
        }
    }
}

fn pdb_selector(cx: &Cx<'_, '_>, obj: &Obj<'_>, sink: &mut Sink<'_>) {
    if obj.kind() != "PodDisruptionBudget" {
        return;
    }
    let ns = obj.namespace().unwrap_or_default();
    let selector = labels(&obj.value["spec"]["selector"]["matchLabels"]);
    if cx.index.selected(ns, &selector).is_empty() {
        sink.report(
            "pdb-selector",
            obj,
            "spec.selector.matchLabels",
            format!("selector {selector:?} matches no pod template in namespace `{ns}`"),
        );
    }
}

fn pdb_replicas(cx: &Cx<'_, '_>, obj: &Obj<'_>, sink: &mut Sink<'_>) {
    if obj.kind() != "PodDisruptionBudget" {
        return;
    }
    let v = obj.value;
    let ns = obj.namespace().unwrap_or_default();
    let selector = labels(&v["spec"]["selector"]["matchLabels"]);
    let min = int_or_percent(&v["spec"]["minAvailable"]);
    let max = int_or_percent(&v["spec"]["maxUnavailable"]);
    for w in cx
        .index
        .selected(ns, &selector)
        .into_iter()
        .map(|i| &cx.objects[i])
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
            sink.report(
                "pdb-replicas",
                obj,
                "spec",
                format!(
                    "{} runs {replicas} replica(s): a budget on it can only block node drains",
                    w.title()
                ),
            );
        } else if blocks {
            sink.report("pdb-replicas", obj, "spec", format!("with {replicas} replicas this budget allows no voluntary eviction of {}: every node drain blocks", w.title()));
        }
    }
}

fn ingress_backend(cx: &Cx<'_, '_>, obj: &Obj<'_>, sink: &mut Sink<'_>) {
    if obj.kind() != "Ingress" {
        return;
    }
    let v = obj.value;
    let ns = obj.namespace().unwrap_or_default();
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
        let service = cx.index.services.get(&(ns, name)).map(|&i| &cx.objects[i]);
        let Some(service) = service else {
            sink.report(
                "ingress-backend",
                obj,
                &format!("{path}.service.name"),
                format!("no Service `{name}` in namespace `{ns}`: the route answers 503"),
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
                format!("Service `{name}` has no port {port}: the route answers 503"),
            );
        }
    }
}

/// A workload's pod spec and its path.
fn pod_spec<'v>(obj: &Obj<'v>) -> Option<(&'v Value, String)> {
    let (template, base) = pod_template(obj.kind(), obj.value)?;
    Some((&template["spec"], format!("{base}.spec")))
}

fn service_account(cx: &Cx<'_, '_>, obj: &Obj<'_>, sink: &mut Sink<'_>) {
    let ns = obj.namespace().unwrap_or_default();
    let external = &cx.external().service_accounts;
    let ext = |name: &str| external.iter().any(|n| n == name);
    if matches!(obj.kind(), "RoleBinding" | "ClusterRoleBinding") {
        for (i, s) in obj.value["subjects"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if s["kind"] != "ServiceAccount" {
                continue;
            }
            let (Some(name), sns) = (s["name"].as_str(), s["namespace"].as_str().unwrap_or(ns))
            else {
                continue;
            };
            if cx.ns_exists(sns)
                && cx.index.namespaces.contains(sns)
                && !cx.index.has("ServiceAccount", sns, name)
                && !ext(name)
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
    let Some((spec, spec_path)) = pod_spec(obj) else {
        return;
    };
    let sa = spec["serviceAccountName"].as_str().unwrap_or("default");
    if sa != "default" && !cx.index.has("ServiceAccount", ns, sa) && !ext(sa) {
        sink.report(
            "service-account",
            obj,
            &format!("{spec_path}.serviceAccountName"),
            format!("no ServiceAccount `{sa}` in namespace `{ns}`: the pods are never created"),
        );
    }
}

/// Whether the pods mount an API token: the pod's own `automountServiceAccountToken` if set,
/// else its ServiceAccount's (`default` without one), else mounted. An external
/// ServiceAccount's setting is unknown and not judged.
fn service_account_token(cx: &Cx<'_, '_>, obj: &Obj<'_>, sink: &mut Sink<'_>) {
    let Some((spec, spec_path)) = pod_spec(obj) else {
        return;
    };
    let ns = obj.namespace().unwrap_or_default();
    let sa = spec["serviceAccountName"].as_str().unwrap_or("default");
    let field = format!("{spec_path}.automountServiceAccountToken");
    match spec["automountServiceAccountToken"].as_bool() {
        Some(false) => {}
        Some(true) => {
            let because = match cx.index.service_accounts.get(&(ns, sa)) {
                Some(Some(false)) => format!(" although ServiceAccount `{sa}` says false"),
                _ => String::new(),
            };
            sink.report(
                "service-account-token",
                obj,
                &field,
                format!("the pods mount ServiceAccount `{sa}`'s API token (`automountServiceAccountToken: true` on the pod{because}); set it to false, or record an exception saying why this workload calls the API"),
            );
        }
        None => {
            let mounted = match cx.index.service_accounts.get(&(ns, sa)) {
                Some(setting) => *setting != Some(false),
                None => sa == "default",
            };
            if mounted {
                let which = if spec["serviceAccountName"].is_null() {
                    "no serviceAccountName, so the namespace's `default` ServiceAccount, which mounts its token".to_owned()
                } else {
                    format!(
                        "ServiceAccount `{sa}` does not set `automountServiceAccountToken: false`"
                    )
                };
                sink.report(
                    "service-account-token",
                    obj,
                    &field,
                    format!("the pods mount an API token ({which}); set `automountServiceAccountToken: false` on the pod or its ServiceAccount, or record an exception saying why this workload calls the API"),
                );
            }
        }
    }
}

/// Secret references of a pod spec: (name, path, workload field it comes from, the variable
/// and key for a `secretKeyRef`, whether by `envFrom`), in order: pull secrets, volumes,
/// `envFrom`, `env`. Optional references are left out.
struct SecretRef<'v> {
    name: &'v str,
    path: String,
    key: Option<(&'v str, &'v str)>,
    env_from: bool,
}

fn secret_refs<'v>(spec: &'v Value, spec_path: &str) -> Vec<SecretRef<'v>> {
    let mut out = Vec::new();
    let optional = |r: &Value| r["optional"] == Value::Bool(true);
    for (i, s) in spec["imagePullSecrets"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(name) = s["name"].as_str() {
            out.push(SecretRef {
                name,
                path: format!("{spec_path}.imagePullSecrets[{i}]"),
                key: None,
                env_from: false,
            });
        }
    }
    for (i, vol) in spec["volumes"].as_array().into_iter().flatten().enumerate() {
        if let Some(name) = vol["secret"]["secretName"].as_str() {
            out.push(SecretRef {
                name,
                path: format!("{spec_path}.volumes[{i}]"),
                key: None,
                env_from: false,
            });
        }
    }
    let containers = containers(spec, spec_path);
    for (c, cpath) in &containers {
        for (i, from) in c["envFrom"].as_array().into_iter().flatten().enumerate() {
            if let Some(name) = from["secretRef"]["name"]
                .as_str()
                .filter(|_| !optional(&from["secretRef"]))
            {
                out.push(SecretRef {
                    name,
                    path: format!("{cpath}.envFrom[{i}]"),
                    key: None,
                    env_from: true,
                });
            }
        }
    }
    for (c, cpath) in &containers {
        for e in c["env"].as_array().into_iter().flatten() {
            let var = e["name"].as_str().unwrap_or_default();
            let r = &e["valueFrom"]["secretKeyRef"];
            if let Some(name) = r["name"].as_str().filter(|_| !optional(r)) {
                let key = r["key"].as_str().map(|k| (var, k));
                out.push(SecretRef {
                    name,
                    path: format!("{cpath}.env[name={var}]"),
                    key,
                    env_from: false,
                });
            }
        }
    }
    out
}

fn secret_ref(cx: &Cx<'_, '_>, obj: &Obj<'_>, sink: &mut Sink<'_>) {
    let Some((spec, spec_path)) = pod_spec(obj) else {
        return;
    };
    let ns = obj.namespace().unwrap_or_default();
    for r in secret_refs(spec, &spec_path) {
        if !cx.index.has("Secret", ns, r.name) && !cx.external().secrets.iter().any(|n| n == r.name)
        {
            let fields = r.key.map(|(var, _)| format!("secret_env.{var}"));
            sink.report_from("secret-ref", obj, &r.path, format!("nothing provides Secret `{}` in namespace `{ns}` (render it, or a custom resource that provides it, or declare it in `lint.external.secrets`): the pods stay in CreateContainerConfigError", r.name), &fields.iter().map(String::as_str).chain(["secret"]).collect::<Vec<_>>());
        }
    }
}

/// Whether a field name becomes an environment variable an app reads as written: upper case.
fn env_var_name(field: &str) -> bool {
    field
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

fn secret_key(cx: &Cx<'_, '_>, obj: &Obj<'_>, sink: &mut Sink<'_>) {
    let Some((spec, spec_path)) = pod_spec(obj) else {
        return;
    };
    let ns = obj.namespace().unwrap_or_default();
    for r in secret_refs(spec, &spec_path) {
        let Some(&item) = cx.index.items.get(&(ns, r.name)) else {
            continue;
        };
        let Some(declared) = cx.platform.lint.items.iter().find(|i| i.matches(item)) else {
            continue;
        };
        if let Some((var, key)) = r.key {
            if declared.fields.iter().any(|f| f == key) {
                continue;
            }
            let message = match declared.fields.iter().find(|f| f.eq_ignore_ascii_case(key)) {
                Some(field) => format!("reads key `{key}` of Secret `{}`, but item `{item}` names the field `{field}`: the operator keeps the item's case, so `{var}` is never set and the app fails at startup", r.name),
                None => format!("reads key `{key}` of Secret `{}`, which item `{item}` does not have (its fields: {}): `{var}` is never set and the app fails at startup", r.name, declared.fields.join(", ")),
            };
            let field = format!("secret_env.{var}");
            sink.report_var(
                "secret-key",
                obj,
                &format!("{}.valueFrom.secretKeyRef.key", r.path),
                message,
                var,
                &[&field],
            );
        } else if r.env_from {
            for field in declared.fields.iter().filter(|f| !env_var_name(f)) {
                sink.report_var("secret-key", obj, &r.path, format!("imports item `{item}` through Secret `{}`, whose field `{field}` becomes the variable `{field}` as written: an app reading `{}` never sees it (seed 000: field names are upper case)", r.name, field.to_ascii_uppercase()), field, &["onepassword"]);
            }
        }
    }
}

fn configmap_ref(cx: &Cx<'_, '_>, obj: &Obj<'_>, sink: &mut Sink<'_>) {
    let Some((spec, spec_path)) = pod_spec(obj) else {
        return;
    };
    let ns = obj.namespace().unwrap_or_default();
    let mut refs = Vec::new();
    for (i, vol) in spec["volumes"].as_array().into_iter().flatten().enumerate() {
        if let Some(name) = vol["configMap"]["name"].as_str() {
            refs.push((name, format!("{spec_path}.volumes[{i}]")));
        }
    }
    let optional = |r: &Value| r["optional"] == Value::Bool(true);
    let containers = containers(spec, &spec_path);
    for (c, cpath) in &containers {
        for (i, from) in c["envFrom"].as_array().into_iter().flatten().enumerate() {
            if let Some(name) = from["configMapRef"]["name"]
                .as_str()
                .filter(|_| !optional(&from["configMapRef"]))
            {
                refs.push((name, format!("{cpath}.envFrom[{i}]")));
            }
        }
    }
    for (c, cpath) in &containers {
        for e in c["env"].as_array().into_iter().flatten() {
            let var = e["name"].as_str().unwrap_or_default();
            let r = &e["valueFrom"]["configMapKeyRef"];
            if let Some(name) = r["name"].as_str().filter(|_| !optional(r)) {
                refs.push((name, format!("{cpath}.env[name={var}]")));
            }
        }
    }
    for (name, path) in refs {
        if !cx.index.has("ConfigMap", ns, name)
            && !cx.external().config_maps.iter().any(|n| n == name)
        {
            sink.report(
                "configmap-ref",
                obj,
                &path,
                format!("nothing provides ConfigMap `{name}` in namespace `{ns}`: the pods do not start"),
            );
        }
    }
}

fn pvc_ref(cx: &Cx<'_, '_>, obj: &Obj<'_>, sink: &mut Sink<'_>) {
    let Some((spec, spec_path)) = pod_spec(obj) else {
        return;
    };
    let ns = obj.namespace().unwrap_or_default();
    for (i, vol) in spec["volumes"].as_array().into_iter().flatten().enumerate() {
        if let Some(name) = vol["persistentVolumeClaim"]["claimName"].as_str() {
            if !cx.index.has("PersistentVolumeClaim", ns, name) {
                sink.report(
                    "pvc-ref",
                    obj,
                    &format!("{spec_path}.volumes[{i}]"),
                    format!("no PersistentVolumeClaim `{name}` in namespace `{ns}`: the pods stay Pending"),
                );
            }
        }
    }
}
