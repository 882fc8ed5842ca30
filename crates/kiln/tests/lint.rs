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
    lint_envs(platform, &[("prod", objects)])
}

fn lint_envs(platform: &kiln::Platform, envs: &[(&str, &[Value])]) -> kiln::lint::LintReport {
    let mut files = BTreeMap::new();
    for (env, objects) in envs {
        add_files(&mut files, env, objects);
    }
    kiln::lint::lint(platform, &kiln::Rendered { files })
}

fn add_files(files: &mut BTreeMap<String, kiln::RenderedFile>, env: &str, objects: &[Value]) {
    for (i, o) in objects.iter().enumerate() {
        let file = kiln::RenderedFile {
            env: Some(env.into()),
            // The objects are written by hand in base.yaml, the shop's as its web component's.
            origin: Some(kiln::FileOrigin {
                app: (o["metadata"]["name"] == "shop").then(|| "shop".into()),
                kind: (o["metadata"]["name"] == "shop").then(|| "web".into()),
                template: "base.yaml".into(),
                env_file: format!("environments/{env}.yaml").into(),
            }),
            objects: vec![o.clone()],
            resources: Vec::new(),
            text: String::new(),
        };
        files.insert(
            format!(
                "{env}/shop/{i:02}-{}.yaml",
                o["kind"].as_str().unwrap().to_lowercase()
            ),
            file,
        );
    }
}

fn find<'a>(objects: &'a mut [Value], kind: &str, name: &str) -> &'a mut Value {
    objects
        .iter_mut()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap()
}

type Mutation = fn(&mut kiln::Platform, &mut Vec<Value>);

const CASES: &[(&str, &str, Mutation)] = &[
    ("schema", "a typo in a field name", |_, o| {
        find(o, "Deployment", "shop")["spec"]["template"]["spec"]["containers"][0]
            ["imagePullPolcy"] = json!("Always");
    }),
    ("schema", "a wrong type", |_, o| {
        find(o, "Deployment", "shop")["spec"]["replicas"] = json!("two");
    }),
    (
        "schema",
        "a custom resource field its schema lacks",
        |_, o| {
            find(o, "VaultItem", "shop-secrets")["spec"]["pth"] = json!("x");
        },
    ),
    ("unknown-kind", "an undeclared custom resource", |_, o| {
        o.push(json!({"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "shop"}}));
    }),
    ("duplicate-object", "the same Service twice", |_, o| {
        let s = find(o, "Service", "shop").clone();
        o.push(s);
    }),
    ("duplicate-host", "two Ingresses for one host", |_, o| {
        find(o, "Ingress", "shop-console")["spec"]["rules"][0]["host"] = json!("shop.example.dev");
        find(o, "Ingress", "shop-console")["spec"]["tls"][0]["hosts"][0] =
            json!("shop.example.dev");
    }),
    (
        "namespace-exists",
        "an object in a namespace nobody creates",
        |_, o| {
            find(o, "ConfigMap", "shop-config")["metadata"]["namespace"] = json!("elsewhere");
        },
    ),
    ("service-selector", "a Service selecting no pods", |_, o| {
        find(o, "Service", "shop")["spec"]["selector"]["app"] = json!("shpo");
    }),
    (
        "ingress-backend",
        "an Ingress to a missing Service",
        |_, o| {
            find(o, "Ingress", "shop")["spec"]["rules"][0]["http"]["paths"][0]["backend"]
                ["service"]["name"] = json!("shp");
        },
    ),
    ("ingress-backend", "an Ingress to a missing port", |_, o| {
        find(o, "Ingress", "shop")["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
            ["port"]["number"] = json!(8080);
    }),
    ("pdb-selector", "a PDB selecting no pods", |_, o| {
        find(o, "PodDisruptionBudget", "shop")["spec"]["selector"]["matchLabels"]["app"] =
            json!("nope");
    }),
    ("service-account", "a missing ServiceAccount", |_, o| {
        find(o, "Deployment", "shop")["spec"]["template"]["spec"]["serviceAccountName"] =
            json!("shop-sa");
    }),
    (
        "secret-ref",
        "a secretKeyRef nothing provides (seed 002)",
        |_, o| {
            find(o, "Deployment", "shop")["spec"]["template"]["spec"]["containers"][0]["env"][0]
                ["valueFrom"]["secretKeyRef"]["name"] = json!("shop-secret");
        },
    ),
    ("configmap-ref", "a missing ConfigMap", |_, o| {
        find(o, "Deployment", "shop")["spec"]["template"]["spec"]["containers"][0]["envFrom"][0] =
            json!({"configMapRef": {"name": "shop-conf"}});
    }),
    ("pvc-ref", "a missing claim", |_, o| {
        find(o, "Deployment", "shop")["spec"]["template"]["spec"]["volumes"] =
            json!([{"name": "data", "persistentVolumeClaim": {"claimName": "shop-data"}}]);
    }),
    (
        "rolling-update",
        "maxUnavailable left at its default: 25% of 4 replicas is 1",
        |_, o| {
            find(o, "Deployment", "shop")["spec"]["replicas"] = json!(4);
            find(o, "Deployment", "shop")["spec"]["strategy"] = json!({"type": "RollingUpdate"});
        },
    ),
    (
        "rolling-update",
        "maxSurge 0% of 3 replicas rounds to 0",
        |_, o| {
            find(o, "Deployment", "shop")["spec"]["replicas"] = json!(3);
            find(o, "Deployment", "shop")["spec"]["strategy"]["rollingUpdate"]["maxSurge"] =
                json!("0%");
        },
    ),
    (
        "singleton",
        "a singleton with two replicas (seed 002: the Asynq scheduler)",
        |p, _| {
            set_workload(p, |w| w.max_replicas = Some(1));
        },
    ),
    (
        "singleton",
        "a singleton whose rolling update starts a second copy",
        |p, o| {
            set_workload(p, |w| w.max_replicas = Some(1));
            single_replica(o);
        },
    ),
    ("rolling-update", "Recreate", |_, o| {
        find(o, "Deployment", "shop")["spec"]["strategy"] = json!({"type": "Recreate"});
    }),
    ("probes", "no readiness probe", |_, o| {
        find(o, "Deployment", "shop")["spec"]["template"]["spec"]["containers"][0]
            .as_object_mut()
            .unwrap()
            .remove("readinessProbe");
    }),
    (
        "probes",
        "a probe on a port the container does not declare",
        |_, o| {
            find(o, "Deployment", "shop")["spec"]["template"]["spec"]["containers"][0]
                ["readinessProbe"]["httpGet"]["port"] = json!(3000);
        },
    ),
    (
        "probes",
        "a probe path the app does not declare (seed 002: a sub-path that 404'd)",
        |_, o| {
            find(o, "Deployment", "shop")["spec"]["template"]["spec"]["containers"][0]
                ["readinessProbe"]["httpGet"]["path"] = json!("/console/");
        },
    ),
    (
        "pdb-replicas",
        "a PDB on a singleton blocks every drain (seed 002)",
        |_, o| {
            find(o, "Deployment", "shop")["spec"]["replicas"] = json!(1);
        },
    ),
    ("pdb-replicas", "a PDB allowing no eviction", |_, o| {
        find(o, "PodDisruptionBudget", "shop")["spec"]["minAvailable"] = json!(2);
    }),
    ("spread", "two replicas without anti-affinity", |_, o| {
        find(o, "Deployment", "shop")["spec"]["template"]["spec"]
            .as_object_mut()
            .unwrap()
            .remove("affinity");
    }),
    (
        "startup-budget",
        "a liveness budget shorter than the declared startup (seed 002)",
        |_, o| {
            find(o, "Deployment", "shop")["spec"]["template"]["spec"]["containers"][0]
                ["livenessProbe"]["failureThreshold"] = json!(3);
        },
    ),
    (
        "service-account-token",
        "a pod mounting its token although its ServiceAccount says false",
        |_, o| {
            find(o, "Deployment", "shop")["spec"]["template"]["spec"]
                ["automountServiceAccountToken"] = json!(true);
        },
    ),
    (
        "service-account-token",
        "a pod of the `default` ServiceAccount, which mounts its token",
        |_, o| {
            let spec = find(o, "Deployment", "shop")["spec"]["template"]["spec"]
                .as_object_mut()
                .unwrap();
            spec.remove("serviceAccountName");
            spec.remove("automountServiceAccountToken");
        },
    ),
    (
        "service-account-token",
        "a pod whose ServiceAccount does not say false",
        |_, o| {
            find(o, "ServiceAccount", "shop")
                .as_object_mut()
                .unwrap()
                .remove("automountServiceAccountToken");
            find(o, "Deployment", "shop")["spec"]["template"]["spec"]
                .as_object_mut()
                .unwrap()
                .remove("automountServiceAccountToken");
        },
    ),
    ("image-tag", "latest", |_, o| {
        find(o, "Deployment", "shop")["spec"]["template"]["spec"]["containers"][0]["image"] =
            json!("reg.example.dev/lint/shop:latest");
    }),
    ("image-tag", "no tag", |_, o| {
        find(o, "StatefulSet", "shop-db")["spec"]["template"]["spec"]["containers"][0]["image"] =
            json!("docker.io/library/postgres");
    }),
    ("resources", "no memory limit", |_, o| {
        find(o, "StatefulSet", "shop-db")["spec"]["template"]["spec"]["containers"][0]
            ["resources"]["limits"] = json!({});
    }),
    ("ingress-tls", "a host without TLS", |_, o| {
        find(o, "Ingress", "shop")["spec"]
            .as_object_mut()
            .unwrap()
            .remove("tls");
    }),
    (
        "auth-middleware",
        "a console Ingress without auth",
        |_, o| {
            find(o, "Ingress", "shop-console")["metadata"]
                .as_object_mut()
                .unwrap()
                .remove("annotations");
        },
    ),
    (
        "stateful-ondelete",
        "a data store that rolls by itself",
        |_, o| {
            find(o, "StatefulSet", "shop-db")["spec"]["updateStrategy"]["type"] =
                json!("RollingUpdate");
        },
    ),
    ("plaintext-secret", "a Secret with data", |_, o| {
        o.push(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "shop"}, "stringData": {"password": "hunter2"}}));
    }),
    (
        "plaintext-secret",
        "a password as a literal env value",
        |_, o| {
            find(o, "Deployment", "shop")["spec"]["template"]["spec"]["containers"][0]["env"][0] =
                json!({"name": "DATABASE_PASSWORD", "value": "hunter2"});
        },
    ),
    (
        "plaintext-secret",
        "a database URL with a password, whatever its name",
        |_, o| {
            find(o, "Deployment", "shop")["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "DATABASE_URL", "value": "postgres://shop:s3cr3t-pw@db:5432/shop"}));
        },
    ),
    (
        "plaintext-secret",
        "a live Stripe key in a ConfigMap",
        |_, o| {
            find(o, "ConfigMap", "shop-config")["data"]["PAYMENTS"] =
                json!("sk_live_4eC39HqLyjWDarjtT1zdp7dc");
        },
    ),
    (
        "plaintext-secret",
        "a PEM private key and an AWS key in a config file",
        |_, o| {
            find(o, "ConfigMap", "shop-config")["data"]["app.conf"] = json!(
            "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n"
        );
        },
    ),
    (
        "service-port",
        "a targetPort name no container declares",
        |_, o| {
            find(o, "Service", "shop")["spec"]["ports"][0]["targetPort"] = json!("web");
        },
    ),
    (
        "service-port",
        "a targetPort number no container declares",
        |_, o| {
            find(o, "Service", "shop")["spec"]["ports"][0]["targetPort"] = json!(9090);
        },
    ),
    (
        "service-selector",
        "a selector matching two workloads",
        |_, o| {
            find(o, "Service", "shop")["spec"]["selector"] = json!({"tier": "web"});
            find(o, "Deployment", "shop")["spec"]["template"]["metadata"]["labels"]["tier"] =
                json!("web");
            find(o, "StatefulSet", "shop-db")["spec"]["template"]["metadata"]["labels"]["tier"] =
                json!("web");
        },
    ),
    (
        "probes",
        "a probe port other than the PORT the app listens on",
        |_, o| {
            find(o, "Deployment", "shop")["spec"]["template"]["spec"]["containers"][0]["env"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "PORT", "value": "3000"}));
        },
    ),
    (
        "secret-key",
        "a key the item does not have (seed 000)",
        |_, o| {
            find(o, "Deployment", "shop")["spec"]["template"]["spec"]["containers"][0]["env"][0]
                ["valueFrom"]["secretKeyRef"]["key"] = json!("DB_PASSWORD");
        },
    ),
    (
        "secret-key",
        "a key in the wrong case (seed 000)",
        |_, o| {
            find(o, "Deployment", "shop")["spec"]["template"]["spec"]["containers"][0]["env"][0]
                ["valueFrom"]["secretKeyRef"]["key"] = json!("database_password");
        },
    ),
    (
        "secret-key",
        "an item field in lower case imported by envFrom (seed 000)",
        |p, _| {
            p.lint.items[0].fields.push("auth_secret".into());
        },
    ),
    (
        "unknown-rule",
        "an exception for a misspelt rule",
        |p, _| {
            p.lint.exceptions.push(exception("rolling-updates"));
        },
    ),
    (
        "stale-exception",
        "an exception that silences nothing",
        |p, _| {
            p.lint.exceptions.push(exception("rolling-update"));
        },
    ),
    (
        "network-policy-cni",
        "a NetworkPolicy on Flannel",
        |_, o| {
            o.push(json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "deny", "namespace": "shop"}, "spec": {"podSelector": {}}}));
        },
    ),
];

/// Changes that look like a rule's business but break nothing: every rule stays silent.
const SILENT: &[(&str, Mutation)] = &[
    (
        "one replica with the default strategy: maxUnavailable 25% of 1 is 0, maxSurge 1",
        |_, o| {
            single_replica(o);
            find(o, "Deployment", "shop")["spec"]
                .as_object_mut()
                .unwrap()
                .remove("strategy");
        },
    ),
    ("a singleton with Recreate", |p, o| {
        set_workload(p, |w| w.max_replicas = Some(1));
        single_replica(o);
        find(o, "Deployment", "shop")["spec"]["strategy"] = json!({"type": "Recreate"});
    }),
    (
        "a ServiceAccount that mounts, with pods that say false",
        |_, o| {
            find(o, "ServiceAccount", "shop")
                .as_object_mut()
                .unwrap()
                .remove("automountServiceAccountToken");
            find(o, "StatefulSet", "shop-db")["spec"]["template"]["spec"]
                ["automountServiceAccountToken"] = json!(false);
        },
    ),
    (
        "names about credentials whose values are not credentials",
        |_, o| {
            let env = find(o, "Deployment", "shop")["spec"]["template"]["spec"]["containers"][0]
                ["env"]
                .as_array_mut()
                .unwrap();
            for (name, value) in [
                ("TOKEN_TTL_SECONDS", "3600"),
                ("JWT_SECRET_FILE", "/run/secrets/jwt"),
                ("PASSWORD_MIN_LENGTH", "12"),
                ("SECRET_NAME", "honeydue-secrets"),
                ("PORT", "8080"),
            ] {
                env.push(json!({"name": name, "value": value}));
            }
            find(o, "ConfigMap", "shop-config")["data"]["SECRET_NAME"] = json!("shop-secrets");
        },
    ),
    ("a namespace every cluster has", |_, o| {
        find(o, "ConfigMap", "shop-config")["metadata"]["namespace"] = json!("kube-system");
    }),
    ("a numeric targetPort a container declares", |_, o| {
        find(o, "Service", "shop")["spec"]["ports"][0]["targetPort"] = json!(8080);
    }),
];

fn set_workload(p: &mut kiln::Platform, f: impl Fn(&mut kiln::model::Workload)) {
    for c in &mut p.environments[0].components {
        f(&mut c.workload);
    }
}

fn single_replica(o: &mut Vec<Value>) {
    find(o, "Deployment", "shop")["spec"]["replicas"] = json!(1);
    o.retain(|v| v["kind"] != "PodDisruptionBudget");
}

fn exception(rule: &str) -> kiln::lint::Exception {
    kiln::lint::Exception {
        rule: rule.into(),
        reason: "a test".into(),
        env: None,
        app: None,
        chart: None,
        object: None,
        variable: None,
    }
}

#[test]
fn false_alarms_stay_silent() {
    let (base_platform, base) = fixture();
    for (what, mutate) in SILENT {
        let mut platform = base_platform.clone();
        let mut objects = base.clone();
        mutate(&mut platform, &mut objects);
        let report = lint(&platform, &objects);
        assert!(
            report.findings.is_empty(),
            "{what}:\n{}",
            kiln::present::lint_text(&report, false)
        );
    }
}

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
    let (base_platform, base) = fixture();
    let mut text = String::new();
    let mut covered = std::collections::BTreeSet::new();
    for (rule, what, mutate) in CASES {
        let mut platform = base_platform.clone();
        let mut objects = base.clone();
        mutate(&mut platform, &mut objects);
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
    find(&mut objects, "Deployment", "shop")["spec"]["template"]["spec"]
        ["automountServiceAccountToken"] = json!(true);
    platform.lint.exceptions.push(kiln::lint::Exception {
        rule: "service-account-token".into(),
        reason: "reads its own pods through the API".into(),
        env: Some("prod".into()),
        app: None,
        chart: None,
        object: Some(kiln::lint::ObjectSelector {
            kind: "Deployment".into(),
            name: "shop".into(),
        }),
        variable: None,
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
    exception[service-account-token] env prod, Deployment shop: reads its own pods through the API (silenced 1)
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
    preview Deployment mini-preview/shop `spec.template.spec.containers[0].imagePullPolcy`: unknown field `imagePullPolcy`: Kubernetes ignores or rejects it, so it has no effect (templates/web/deployment.yaml.j2:30; a literal in the template, no data key sets it)
    prod Deployment mini/blog `spec.template.spec.containers[0].imagePullPolcy`: unknown field `imagePullPolcy`: Kubernetes ignores or rejects it, so it has no effect (templates/web/deployment.yaml.j2:30; a literal in the template, no data key sets it)
    prod Deployment mini/shop `spec.template.spec.containers[0].imagePullPolcy`: unknown field `imagePullPolcy`: Kubernetes ignores or rejects it, so it has no effect (templates/web/deployment.yaml.j2:30; a literal in the template, no data key sets it)
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

#[test]
fn an_exception_may_name_one_variable() {
    let (mut platform, mut objects) = fixture();
    let env = find(&mut objects, "Deployment", "shop")["spec"]["template"]["spec"]["containers"][0]
        ["env"]
        .as_array_mut()
        .unwrap();
    env.push(json!({"name": "SMTP_PASSWORD", "value": "mailpit"}));
    env.push(json!({"name": "API_TOKEN", "value": "dev-token"}));
    platform.lint.exceptions.push(kiln::lint::Exception {
        variable: Some("SMTP_PASSWORD".into()),
        reason: "the test mail catcher's fixed password".into(),
        ..exception("plaintext-secret")
    });
    let report = lint(&platform, &objects);
    let found: Vec<&str> = report.findings.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        found,
        ["spec.template.spec.containers[name=shop].env[name=API_TOKEN].value"],
        "{}",
        kiln::present::lint_text(&report, false)
    );
    assert_eq!(report.exceptions[0].silenced, 1);
}

/// Every environment of a platform runs on its one cluster: a hostname served in two of them
/// reaches either.
#[test]
fn a_hostname_served_in_two_environments_is_a_duplicate() {
    let (platform, objects) = fixture();
    let report = lint_envs(&platform, &[("prod", &objects), ("staging", &objects)]);
    let found: Vec<String> = report
        .findings
        .iter()
        .map(|f| format!("{} {} {}: {}", f.rule, f.env, f.object, f.message))
        .collect();
    insta::assert_snapshot!(found.join("\n"), @r"
    duplicate-host staging Ingress shop/shop: `shop.example.dev` is also served by Ingress shop/shop in environment `prod`, on the same cluster: the ingress controller routes requests to either
    duplicate-host staging Ingress shop/shop-console: `console.shop.example.dev` is also served by Ingress shop/shop-console in environment `prod`, on the same cluster: the ingress controller routes requests to either
    ");
}

/// Copies a repository platform, edits its files, and lints it.
fn lint_edited(name: &str, edits: &[(&str, &str, &str)]) -> kiln::lint::LintReport {
    let (_, dir) = common::platforms()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join(name);
    for part in [
        "kiln.yaml",
        "kiln.lock",
        "environments",
        "templates",
        "files",
        "crds",
        "charts",
    ] {
        let from = dir.join(part);
        if from.is_dir() {
            common::copy_dir(&from, &root.join(part));
        } else if from.is_file() {
            std::fs::create_dir_all(&root).unwrap();
            std::fs::copy(&from, root.join(part)).unwrap();
        }
    }
    for (file, from, to) in edits {
        let path = root.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} has no {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }
    let platform = kiln::Platform::load(&root).unwrap();
    kiln::lint::lint(&platform, &kiln::render(&platform).unwrap())
}

fn summary(report: &kiln::lint::LintReport) -> String {
    report
        .findings
        .iter()
        .map(|f| {
            format!(
                "{} {} `{}`: {}\n  from: {}",
                f.rule, f.object, f.path, f.message, f.source
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The seeds' incidents, reintroduced into the repository's platforms
/// (tests/fixtures/incidents/cases.yaml), each fail lint with the source line that caused
/// them; the last case checks that a finding names the data key that produced its field.
#[test]
fn seed_incidents_reintroduced_fail_lint() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/incidents/cases.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let cases = kiln::yaml::parse_documents(&text, &path).unwrap()[0].to_json();
    for case in cases.as_array().unwrap() {
        let s = |k: &str| case[k].as_str().unwrap();
        let report = lint_edited(s("platform"), &[(s("file"), s("from"), s("to"))]);
        assert!(report.errors() > 0, "{}: {}", s("name"), s("why"));
        insta::assert_snapshot!(s("name"), summary(&report), s("why"));
    }
}
