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

/// The hosts an Ingress's `spec.tls` entries cover.
pub(crate) fn ingress_tls_hosts(ingress: &Value) -> Vec<&str> {
    ingress["spec"]["tls"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["hosts"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect()
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

/// What a masked value reads as in every diff format.
pub(crate) const HIDDEN: &str = "‹hidden›";

/// Whether a key or variable name names a credential (`DB_PASSWORD`, `apiKey`,
/// `NEXTAUTH_SECRET`), and not a reference to one (`secretName`, `tokenPath`, `passwordFile`).
pub(crate) fn is_credential_name(name: &str) -> bool {
    // Domain-qualified keys are annotations and labels (`operator.1password.io/auto-restart`).
    if name.contains('/') || name.contains("1password") {
        return false;
    }
    let k: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    const WORDS: [&str; 9] = [
        "password",
        "passwd",
        "secret",
        "token",
        "apikey",
        "privatekey",
        "credential",
        "accesskey",
        "adminkey",
    ];
    const REFERENCES: [&str; 10] = [
        "name", "ref", "path", "file", "dir", "url", "seconds", "enabled", "audience", "mount",
    ];
    WORDS.iter().any(|w| k.contains(w)) && !REFERENCES.iter().any(|r| k.ends_with(r))
}

/// Whether a string value looks like a credential whatever its key: a PEM private key, a
/// URL with a password, a JWT, or a token with a well-known prefix.
pub(crate) fn looks_like_credential(s: &str) -> bool {
    let s = s.trim();
    if s.contains("-----BEGIN") && s.contains("PRIVATE KEY") {
        return true;
    }
    const PREFIXES: [&str; 9] = [
        "ghp_",
        "gho_",
        "ghs_",
        "github_pat_",
        "glpat-",
        "sk_live_",
        "xoxb-",
        "xoxp-",
        "AKIA",
    ];
    if !s.contains(char::is_whitespace)
        && PREFIXES.iter().any(|p| s.starts_with(p))
        && s.len() >= 16
    {
        return true;
    }
    // scheme://user:password@host
    if let Some((_, rest)) = s.split_once("://") {
        let authority = rest.split('/').next().unwrap_or_default();
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            if userinfo.split_once(':').is_some_and(|(_, p)| !p.is_empty()) {
                return true;
            }
        }
    }
    // header.payload.signature of a JWT.
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && s.starts_with("eyJ")
        && parts.iter().all(|p| {
            p.len() >= 8
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=')
        })
}

/// `text` with credential lines of a multi-line value masked: `KEY=value` and `key: value`
/// lines whose key names a credential, and lines that look like one.
fn mask_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_pem = false;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let nl = &line[body.len()..];
        if body.contains("-----BEGIN") && body.contains("PRIVATE KEY") {
            in_pem = true;
            out.push_str(body);
            out.push_str(nl);
            continue;
        }
        if in_pem {
            if body.contains("-----END") {
                in_pem = false;
                out.push_str(body);
            } else {
                out.push_str(HIDDEN);
            }
            out.push_str(nl);
            continue;
        }
        let split = body
            .find([':', '='])
            .filter(|&i| is_credential_name(body[..i].trim().trim_start_matches("export ")));
        match split {
            Some(i) if !body[i + 1..].trim().is_empty() => {
                out.push_str(&body[..=i]);
                out.push(' ');
                out.push_str(HIDDEN);
            }
            _ if looks_like_credential(body) => out.push_str(HIDDEN),
            _ => out.push_str(body),
        }
        out.push_str(nl);
    }
    out
}

/// Masks, in place, every value of `object` that must not appear in a review: the values of a
/// Secret's `data` and `stringData`, string values under credential-named keys, env entries
/// (`{name, value}`) whose name is a credential, strings that look like credentials, and
/// credential lines of multi-line strings. Returns whether anything was masked.
pub(crate) fn mask_secrets(object: &mut Value) -> bool {
    let is_secret = object["kind"].as_str() == Some("Secret");
    let mut masked = false;
    if is_secret {
        for field in ["data", "stringData"] {
            if let Some(map) = object.get_mut(field).and_then(Value::as_object_mut) {
                for v in map.values_mut() {
                    *v = Value::String(HIDDEN.to_owned());
                    masked = true;
                }
            }
        }
    }
    mask_walk(object, false, &mut masked);
    masked
}

fn mask_walk(v: &mut Value, credential_key: bool, masked: &mut bool) {
    match v {
        Value::String(s) => {
            if s == HIDDEN {
                return;
            }
            let flag = matches!(s.as_str(), "true" | "false");
            if (credential_key && !s.is_empty() && !flag) || looks_like_credential(s) {
                *s = HIDDEN.to_owned();
                *masked = true;
            } else if s.contains('\n') {
                let m = mask_lines(s);
                if m != *s {
                    *s = m;
                    *masked = true;
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| mask_walk(i, false, masked)),
        Value::Object(map) => {
            let env_credential = map
                .get("name")
                .and_then(Value::as_str)
                .is_some_and(is_credential_name)
                && map.get("value").is_some_and(Value::is_string);
            for (k, child) in map.iter_mut() {
                let credential = is_credential_name(k) || (env_credential && k == "value");
                mask_walk(child, credential, masked);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn credentials_are_masked_and_references_are_not() {
        let mut o = json!({
            "kind": "Deployment",
            "spec": {"containers": [{"name": "web", "env": [
                {"name": "DB_PASSWORD", "value": "hunter2"},
                {"name": "PORT", "value": "3000"},
                {"name": "URL", "value": "postgres://app:s3cret@db:5432/app"},
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "token"}}}
            ]}], "volumes": [{"name": "tls", "secret": {"secretName": "web-tls"}}]},
            "data": {"config": "port: 4222\npassword: swordfish\nhttp_port: 8222\n"}
        });
        assert!(mask_secrets(&mut o));
        let text = o.to_string();
        for secret in ["hunter2", "s3cret", "swordfish"] {
            assert!(!text.contains(secret), "{text}");
        }
        for kept in [
            "3000",
            "web-tls",
            "secretKeyRef",
            "port: 4222",
            "http_port: 8222",
        ] {
            assert!(text.contains(kept), "{kept}: {text}");
        }
        let mut s = json!({"kind": "Secret", "stringData": {"a": "b"}, "data": {"c": "ZA=="}});
        assert!(mask_secrets(&mut s));
        assert_eq!(s["stringData"]["a"], HIDDEN);
        assert_eq!(s["data"]["c"], HIDDEN);
    }
}
