//! Lint rules, one case each: the clean base environment (tests/fixtures/lint/base.yaml) is
//! silent for every rule; each case changes one thing and exactly its rule fires, with the
//! message snapshotted. Then the repository's own platforms lint clean.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

fn fixture() -> (kiln::Platform, Vec<Value>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lint");
    let platform = kiln::Platform::load(&dir).unwrap();
    let text = std::fs::read_to_string(dir.join("base.yaml")).unwrap();
    let objects = kiln::yaml::parse_documents(&text, Path::new("base.yaml"))
        .unwrap()
        .iter()
        .map(|n| n.to_json())
        .collect();
    (platform, objects)
}

/// Lints `objects` as the `prod` environment's files, one object per file, the app `shop`'s.
fn lint(platform: &kiln::Platform, objects: &[Value]) -> kiln::lint::LintReport {
    let mut files = BTreeMap::new();
    for (i, o) in objects.iter().enumerate() {
        let file = kiln::RenderedFile {
            env: Some("prod".into()),
            // The objects are written by hand in base.yaml, the shop's as its web component's.
            origin: Some(kiln::FileOrigin {
                app: (o["metadata"]["name"] == "shop").then(|| "shop".into()),
                kind: (o["metadata"]["name"] == "shop").then(|| "web".into()),
                template: "base.yaml".into(),
                env_file: "environments/prod.yaml".into(),
            }),
            objects: vec![o.clone()],
            resources: Vec::new(),
            text: String::new(),
        };
        files.insert(
            format!(
                "shop/{i:02}-{}.yaml",
                o["kind"].as_str().unwrap().to_lowercase()
            ),
            file,
        );
    }
    kiln::lint::lint(platform, &kiln::Rendered { files })
}

fn find<'a>(objects: &'a mut [Value], kind: &str, name: &str) -> &'a mut Value {
    objects
        .iter_mut()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap()
}

type Mutation = fn(&mut Vec<Value>);

const CASES: &[(&str, &str, Mutation)] = &[
    ("schema", "a typo in a field name", |o| {
        find(o, "Deployment", "shop")["spec"]["template"]["spec"]["containers"][0]
            ["imagePullPolcy"] = json!("Always");
    }),
    ("schema", "a wrong type", |o| {
        find(o, "Deployment", "shop")["spec"]["replicas"] = json!("two");
    }),
    ("schema", "a custom resource field its schema lacks", |o| {
        find(o, "VaultItem", "shop-secrets")["spec"]["pth"] = json!("x");
    }),
    ("unknown-kind", "an undeclared custom resource", |o| {
        o.push(json!({"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "shop"}}));
    }),
    ("duplicate-object", "the same Service twice", |o| {
        let s = find(o, "Service", "shop").clone();
        o.push(s);
    }),
    ("duplicate-host", "two Ingresses for one host", |o| {
        find(o, "Ingress", "shop-console")["spec"]["rules"][0]["host"] = json!("shop.example.dev");
        find(o, "Ingress", "shop-console")["spec"]["tls"][0]["hosts"][0] =
            json!("shop.example.dev");
    }),
    (
        "namespace-exists",
        "an object in a namespace nobody creates",
        |o| {
            find(o, "ConfigMap", "shop-config")["metadata"]["namespace"] = json!("elsewhere");
        },
    ),
    ("service-selector", "a Service selecting no pods", |o| {
        find(o, "Service", "shop")["spec"]["selector"]["app"] = json!("shpo");
    }),
    ("ingress-backend", "an Ingress to a missing Service", |o| {
        find(o, "Ingress", "shop")["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
            ["name"] = json!("shp");
    }),
    ("ingress-backend", "an Ingress to a missing port", |o| {
        find(o, "Ingress", "shop")["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
            ["port"]["number"] = json!(8080);
    }),
    ("pdb-selector", "a PDB selecting no pods", |o| {
        find(o, "PodDisruptionBudget", "shop")["spec"]["selector"]["matchLabels"]["app"] =
            json!("nope");
    }),
    ("service-account", "a missing ServiceAccount", |o| {
        find(o, "Deployment", "shop")["spec"]["template"]["spec"]["serviceAccountName"] =
            json!("shop-sa");
    }),
    (
        "secret-ref",
        "a secretKeyRef nothing provides (seed 002)",
        |o| {
            find(o, "Deployment", "shop")["spec"]["template"]["spec"]["containers"][0]["env"][0]
                ["valueFrom"]["secretKeyRef"]["name"] = json!("shop-secret");
        },
    ),
    ("configmap-ref", "a missing ConfigMap", |o| {
        find(o, "Deployment", "shop")["spec"]["template"]["spec"]["containers"][0]["envFrom"][0] =
            json!({"configMapRef": {"name": "shop-conf"}});
    }),
    ("pvc-ref", "a missing claim", |o| {
        find(o, "Deployment", "shop")["spec"]["template"]["spec"]["volumes"] =
            json!([{"name": "data", "persistentVolumeClaim": {"claimName": "shop-data"}}]);
    }),
    (
        "rolling-update",
        "maxUnavailable left at its default",
        |o| {
            find(o, "Deployment", "shop")["spec"]["strategy"] = json!({"type": "RollingUpdate"});
        },
    ),
    ("rolling-update", "Recreate", |o| {
        find(o, "Deployment", "shop")["spec"]["strategy"] = json!({"type": "Recreate"});
    }),
    ("probes", "no readiness probe", |o| {
        find(o, "Deployment", "shop")["spec"]["template"]["spec"]["containers"][0]
            .as_object_mut()
            .unwrap()
            .remove("readinessProbe");
    }),
    (
        "probes",
        "a probe on a port the container does not declare",
        |o| {
            find(o, "Deployment", "shop")["spec"]["template"]["spec"]["containers"][0]
                ["readinessProbe"]["httpGet"]["port"] = json!(3000);
        },
    ),
    (
        "probes",
        "a probe path the app does not declare (seed 002: a sub-path that 404'd)",
        |o| {
            find(o, "Deployment", "shop")["spec"]["template"]["spec"]["containers"][0]
                ["readinessProbe"]["httpGet"]["path"] = json!("/console/");
        },
    ),
    (
        "pdb-replicas",
        "a PDB on a singleton blocks every drain (seed 002)",
        |o| {
            find(o, "Deployment", "shop")["spec"]["replicas"] = json!(1);
        },
    ),
    ("pdb-replicas", "a PDB allowing no eviction", |o| {
        find(o, "PodDisruptionBudget", "shop")["spec"]["minAvailable"] = json!(2);
    }),
    ("spread", "two replicas without anti-affinity", |o| {
        find(o, "Deployment", "shop")["spec"]["template"]["spec"]
            .as_object_mut()
            .unwrap()
            .remove("affinity");
    }),
    (
        "startup-budget",
        "a liveness budget shorter than the declared startup (seed 002)",
        |o| {
            find(o, "Deployment", "shop")["spec"]["template"]["spec"]["containers"][0]
                ["livenessProbe"]["failureThreshold"] = json!(3);
        },
    ),
    (
        "service-account-token",
        "a ServiceAccount mounting its token",
        |o| {
            find(o, "ServiceAccount", "shop")
                .as_object_mut()
                .unwrap()
                .remove("automountServiceAccountToken");
        },
    ),
    ("image-tag", "latest", |o| {
        find(o, "Deployment", "shop")["spec"]["template"]["spec"]["containers"][0]["image"] =
            json!("reg.example.dev/lint/shop:latest");
    }),
    ("image-tag", "no tag", |o| {
        find(o, "StatefulSet", "shop-db")["spec"]["template"]["spec"]["containers"][0]["image"] =
            json!("docker.io/library/postgres");
    }),
    ("resources", "no memory limit", |o| {
        find(o, "StatefulSet", "shop-db")["spec"]["template"]["spec"]["containers"][0]
            ["resources"]["limits"] = json!({});
    }),
    ("ingress-tls", "a host without TLS", |o| {
        find(o, "Ingress", "shop")["spec"]
            .as_object_mut()
            .unwrap()
            .remove("tls");
    }),
    ("auth-middleware", "a console Ingress without auth", |o| {
        find(o, "Ingress", "shop-console")["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("annotations");
    }),
    (
        "stateful-ondelete",
        "a data store that rolls by itself",
        |o| {
            find(o, "StatefulSet", "shop-db")["spec"]["updateStrategy"]["type"] =
                json!("RollingUpdate");
        },
    ),
    ("plaintext-secret", "a Secret with data", |o| {
        o.push(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "shop"}, "stringData": {"password": "hunter2"}}));
    }),
    (
        "plaintext-secret",
        "a password as a literal env value",
        |o| {
            find(o, "Deployment", "shop")["spec"]["template"]["spec"]["containers"][0]["env"][0] =
                json!({"name": "DATABASE_PASSWORD", "value": "hunter2"});
        },
    ),
    ("network-policy-cni", "a NetworkPolicy on Flannel", |o| {
        o.push(json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "deny", "namespace": "shop"}, "spec": {"podSelector": {}}}));
    }),
];

#[test]
fn the_base_environment_is_clean() {
    let (platform, objects) = fixture();
    let report = lint(&platform, &objects);
    assert!(
        report.findings.is_empty(),
        "{}",
        kiln::present::lint_text(&report, false)
    );
}

#[test]
fn each_case_fires_exactly_its_rule() {
    let (platform, base) = fixture();
    let mut text = String::new();
    let mut covered = std::collections::BTreeSet::new();
    for (rule, what, mutate) in CASES {
        let mut objects = base.clone();
        mutate(&mut objects);
        let report = lint(&platform, &objects);
        let rules: Vec<&str> = report.findings.iter().map(|f| f.rule).collect();
        assert!(
            !rules.is_empty() && rules.iter().all(|r| r == rule),
            "{rule} ({what}): fired {rules:?}\n{}",
            kiln::present::lint_text(&report, false)
        );
        covered.insert(*rule);
        text.push_str(&format!(
            "## {rule}: {what}\n{}\n",
            kiln::present::lint_text(&report, false)
        ));
    }
    let all: std::collections::BTreeSet<&str> = kiln::lint::RULES.iter().map(|r| r.id).collect();
    assert_eq!(covered, all, "every rule needs a case");
    insta::assert_snapshot!(text);
}

#[test]
fn exceptions_silence_a_rule_and_are_listed() {
    let (mut platform, mut objects) = fixture();
    find(&mut objects, "ServiceAccount", "shop")
        .as_object_mut()
        .unwrap()
        .remove("automountServiceAccountToken");
    platform.lint.exceptions.push(kiln::lint::Exception {
        rule: "service-account-token".into(),
        reason: "reads its own pods through the API".into(),
        env: Some("prod".into()),
        app: None,
        object: Some(kiln::lint::ObjectSelector {
            kind: "ServiceAccount".into(),
            name: "shop".into(),
        }),
    });
    let report = lint(&platform, &objects);
    assert!(
        report.findings.is_empty(),
        "{}",
        kiln::present::lint_text(&report, false)
    );
    assert_eq!(report.exceptions.len(), 1);
    assert_eq!(report.exceptions[0].silenced, 1);
    insta::assert_snapshot!(kiln::present::lint_text(&report, false), @r"
    exception[service-account-token] env prod, ServiceAccount shop: reads its own pods through the API (silenced 1)
    lint: 0 error(s), 0 warning(s), 1 exception(s)
    ");
}

#[test]
fn the_repository_platforms_lint_clean() {
    for (name, dir) in common::platforms() {
        let platform = kiln::Platform::load(&dir).unwrap();
        let rendered = kiln::render(&platform).unwrap();
        let report = kiln::lint::lint(&platform, &rendered);
        assert!(
            report.findings.is_empty(),
            "{name}:\n{}",
            kiln::present::lint_text(&report, false)
        );
    }
}

#[test]
fn a_template_typo_is_reported_with_field_path_and_template_line() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("mini");
    common::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mini"),
        &root,
    );
    let template = root.join("templates/web/deployment.yaml.j2");
    let text = std::fs::read_to_string(&template).unwrap();
    std::fs::write(
        &template,
        text.replace(
            "          image: {{ app.image_ref }}\n",
            "          image: {{ app.image_ref }}\n          imagePullPolcy: Always\n",
        ),
    )
    .unwrap();
    let platform = kiln::Platform::load(&root).unwrap();
    let report = kiln::lint::lint(&platform, &kiln::render(&platform).unwrap());
    let typo: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.rule == "schema")
        .map(|f| {
            format!(
                "{} {} `{}`: {} ({})",
                f.env, f.object, f.path, f.message, f.source
            )
        })
        .collect();
    insta::assert_snapshot!(typo.join("\n"), @r"
    preview Deployment mini-preview/shop `spec.template.spec.containers[0].imagePullPolcy`: unknown field `imagePullPolcy`: Kubernetes ignores or rejects it, so it has no effect (environments/preview.yaml and templates/web/deployment.yaml.j2:30)
    prod Deployment mini/blog `spec.template.spec.containers[0].imagePullPolcy`: unknown field `imagePullPolcy`: Kubernetes ignores or rejects it, so it has no effect (environments/prod.yaml and templates/web/deployment.yaml.j2:30)
    prod Deployment mini/shop `spec.template.spec.containers[0].imagePullPolcy`: unknown field `imagePullPolcy`: Kubernetes ignores or rejects it, so it has no effect (environments/prod.yaml and templates/web/deployment.yaml.j2:30)
    ");
}

/// `render` and `check` lint environment by environment and drop the objects as they go; that
/// must report exactly what linting a whole render reports, and render the same bytes.
#[test]
fn linting_per_environment_agrees_with_linting_the_whole_render() {
    let tmp = tempfile::tempdir().unwrap();
    let mini = tmp.path().join("mini");
    common::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mini"),
        &mini,
    );
    // A finding in every environment, so the merged report has something to order.
    let template = mini.join("templates/web/deployment.yaml.j2");
    let text = std::fs::read_to_string(&template).unwrap();
    std::fs::write(
        &template,
        text.replace(
            "          image: {{ app.image_ref }}\n",
            "          image: {{ app.image_ref }}\n          imagePullPolcy: Always\n",
        ),
    )
    .unwrap();
    let mut dirs: Vec<_> = common::platforms().into_iter().map(|(_, d)| d).collect();
    dirs.push(mini);
    for dir in dirs {
        let platform = kiln::Platform::load(&dir).unwrap();
        let whole = kiln::render(&platform).unwrap();
        let expected = kiln::lint::lint(&platform, &whole);
        let (streamed, report) = kiln::render_and_lint(&platform).unwrap();
        assert_eq!(report, expected, "{}", dir.display());
        let texts = |r: &kiln::Rendered| -> Vec<(String, String)> {
            r.files
                .iter()
                .map(|(p, f)| (p.clone(), f.text.clone()))
                .collect()
        };
        assert_eq!(texts(&streamed), texts(&whole), "{}", dir.display());
        assert!(streamed.files.values().all(|f| f.objects.is_empty()));

        let checked = kiln::check(&platform).unwrap();
        assert_eq!(checked.lint, expected);
        if expected.errors() == 0 {
            let drift = kiln::check_tree(&platform.output_root(), &whole).unwrap();
            assert_eq!(checked.drift, drift, "{}", dir.display());
        }
    }
}

/// Lint remembers the shapes of clean objects and skips deserializing them again; an object
/// that differs from a clean one only where deserialization looks at the text (a timestamp)
/// is still checked, and so is every recurrence of a problem.
#[test]
fn objects_shaped_like_clean_ones_are_still_checked() {
    let (platform, mut objects) = fixture();
    let account = find(&mut objects, "ServiceAccount", "shop");
    account["metadata"]["creationTimestamp"] = json!("2024-05-01T10:00:00Z");
    let mut copies = Vec::new();
    for (name, stamp) in [
        ("shop-2", "2024-05-02T10:00:00Z"),
        ("shop-3", "yesterday"),
        ("shop-4", "last week"),
    ] {
        let mut copy = account.clone();
        copy["metadata"]["name"] = json!(name);
        copy["metadata"]["creationTimestamp"] = json!(stamp);
        copies.push(copy);
    }
    objects.extend(copies);
    let report = lint(&platform, &objects);
    let found: Vec<(&str, &str, &str)> = report
        .findings
        .iter()
        .map(|f| (f.rule, f.object.as_str(), f.path.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (
                "schema",
                "ServiceAccount shop/shop-3",
                "metadata.creationTimestamp"
            ),
            (
                "schema",
                "ServiceAccount shop/shop-4",
                "metadata.creationTimestamp"
            ),
        ],
        "{}",
        kiln::present::lint_text(&report, false)
    );
}
