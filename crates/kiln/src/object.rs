//! Reading Kubernetes objects as plain JSON values: where a workload keeps its pod template,
//! its containers, int-or-percent fields. A leaf: lint, diff and their impact rules share it.

use serde_json::Value;

/// The pod template of a workload and its path, if the object has one.
pub(crate) fn pod_template<'v>(kind: &str, v: &'v Value) -> Option<(&'v Value, &'static str)> {
    match kind {
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
            let parent = crate::fieldpath::key(base, list);
            let path = match c["name"].as_str() {
                Some(name) => crate::fieldpath::named(&parent, name),
                None => crate::fieldpath::index(&parent, i),
            };
            out.push((c, path));
        }
    }
    out
}

/// An int-or-string field (`maxUnavailable: 1`, `minAvailable: "50%"`): the number and whether
/// it is a percentage.
pub(crate) fn int_or_percent(v: &Value) -> Option<(i64, bool)> {
    match v {
        Value::Number(n) => n.as_i64().map(|n| (n, false)),
        Value::String(s) => s
            .strip_suffix('%')
            .and_then(|p| p.parse().ok())
            .map(|p| (p, true)),
        _ => None,
    }
}

/// Whether a built-in kind is cluster-scoped (has no namespace). Custom resources' scope comes
/// from their CRD; a kind this list does not know counts as namespaced, as most kinds are.
pub(crate) fn is_cluster_scoped(api_version: &str, kind: &str) -> bool {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    matches!(
        (group, kind),
        ("", "Namespace" | "Node" | "PersistentVolume")
            | (
                "rbac.authorization.k8s.io",
                "ClusterRole" | "ClusterRoleBinding"
            )
            | ("apiextensions.k8s.io", "CustomResourceDefinition")
            | ("apiregistration.k8s.io", "APIService")
            | (
                "admissionregistration.k8s.io",
                "ValidatingWebhookConfiguration"
                    | "MutatingWebhookConfiguration"
                    | "ValidatingAdmissionPolicy"
                    | "ValidatingAdmissionPolicyBinding"
            )
            | ("scheduling.k8s.io", "PriorityClass")
            | (
                "storage.k8s.io",
                "StorageClass" | "CSIDriver" | "CSINode" | "VolumeAttachment"
            )
            | ("networking.k8s.io", "IngressClass")
            | ("node.k8s.io", "RuntimeClass")
            | ("certificates.k8s.io", "CertificateSigningRequest")
            | (
                "flowcontrol.apiserver.k8s.io",
                "FlowSchema" | "PriorityLevelConfiguration"
            )
    )
}
