//! The seed charts through kiln's chart runtime and a real helm:
//! - `examples/sens` renders its product from `charts/sens-platform` with the values kiln
//!   computes from its platform model (`templates/sens-platform/values.yaml.j2`): exactly the
//!   objects of the committed tree `examples/sens/k8s/<env>/release/` (all but the deploy-test
//!   bundle, which is not part of the product chart), each component's workload with the image
//!   its data names; and the chart renders on its own defaults;
//! - the `otel-agent` chart-repository fixture (`tests/fixtures/chart-repo/otel-agent/<version>/`)
//!   with HanseNexus's values gives the objects of the `signoz` bundle (`k8s/base/signoz/`),
//!   differing only where a third-party chart labels its objects its own way, and its test hook
//!   is dropped.
//!
//! Tests that need helm skip loudly without it, unless `KILN_REQUIRE_KUBECTL=1`.

#[path = "support/helm.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln::chart::{render_chart, Cache, ChartObject, ChartRequest, Helm};
use serde_json::{json, Value};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

type Key = (String, String, String);

fn key(o: &Value) -> Key {
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    (
        s(&o["kind"]),
        s(&o["metadata"]["namespace"]),
        s(&o["metadata"]["name"]),
    )
}

/// Every object of the YAML files under `dir` (kustomization.yaml files left out), skipping
/// the subdirectories named in `skip`.
fn tree_objects(dir: &Path, skip: &[&str]) -> BTreeMap<Key, Value> {
    let mut out = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(dir).unwrap();
        let path = entry.path();
        if skip.iter().any(|s| rel.starts_with(s))
            || path.extension().is_none_or(|e| e != "yaml")
            || path.file_name().unwrap() == "kustomization.yaml"
        {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        for (_, doc) in kiln::yaml::parse_values(&text, path).unwrap() {
            assert!(
                out.insert(key(&doc), doc).is_none(),
                "duplicate in {}",
                path.display()
            );
        }
    }
    out
}

fn by_key(objects: Vec<ChartObject>) -> BTreeMap<Key, Value> {
    let mut out = BTreeMap::new();
    for o in objects {
        assert!(out.insert(key(&o.object), o.object).is_none());
    }
    out
}

#[test]
fn sens_product_comes_from_its_chart_with_kilns_values() {
    let Some(_) = support::helm_or_skip("the SENS chart test") else {
        return;
    };
    let sens = repo_root().join("examples/sens");
    let platform = kiln::Platform::load(&sens).unwrap();
    // The whole platform through kiln: the sens-platform bundle's values come from
    // templates/sens-platform/values.yaml.j2 and the components of each environment.
    let rendered = kiln::render(&platform).unwrap();
    for env in ["test", "production"] {
        let release_dir = format!("{env}/release/");
        let mut chart = BTreeMap::new();
        for (path, file) in &rendered.files {
            if !path.starts_with(&release_dir)
                || path.starts_with(&format!("{release_dir}deploy-test/"))
                || path.ends_with("/kustomization.yaml")
            {
                continue;
            }
            // Every product object is the chart's: no kiln template renders one any more.
            let origin = file.origin.as_ref().unwrap();
            assert!(
                origin
                    .template
                    .starts_with("charts/sens-platform/templates"),
                "{path} comes from {}",
                origin.template.display()
            );
            for o in &file.objects {
                assert!(chart.insert(key(o), o.clone()).is_none(), "{path}");
            }
        }
        let tree = tree_objects(&sens.join(format!("k8s/{env}/release")), &["deploy-test"]);
        assert_eq!(
            chart.keys().collect::<Vec<_>>(),
            tree.keys().collect::<Vec<_>>(),
            "{env}: the chart and the tree hold different objects"
        );
        for (k, want) in &tree {
            assert_eq!(&chart[k], want, "{env}: {k:?} differs");
        }
        // Each component of the environment is one workload of the chart, named
        // <release>-<app>, running the image its data names (the tag `kiln set-image` and
        // `kiln promote` write).
        let environment = platform.environment(env).unwrap();
        let release = format!("sens-platform-{env}");
        assert!(!environment.components.is_empty());
        for component in &environment.components {
            let name = format!("{release}-{}", component.app);
            let workload = chart
                .iter()
                .find(|((kind, _, n), _)| {
                    n == &name && (kind == "Deployment" || kind == "StatefulSet")
                })
                .map(|(_, o)| o)
                .unwrap_or_else(|| panic!("{env}: no workload {name}"));
            let container = &workload["spec"]["template"]["spec"]["containers"][0];
            assert_eq!(
                container["image"],
                component.derived.image_ref.as_str(),
                "{env}: {name}"
            );
        }
        // No Secret is ever rendered: they are created in the cluster by hand.
        assert!(chart.keys().all(|(kind, _, _)| kind != "Secret"));
    }
}

#[test]
fn sens_chart_renders_with_its_own_defaults() {
    let Some(helm_path) = support::helm_or_skip("the SENS chart defaults test") else {
        return;
    };
    let helm = Helm::at(&helm_path);
    let sens = repo_root().join("examples/sens");
    // `helm template` with nothing but the chart's values.yaml: the product without the
    // test-only mock broker, that is the workloads of production (which does not list it),
    // and no Secret.
    let request = ChartRequest::new(
        sens.join("charts/sens-platform"),
        json!({}),
        "sens-platform",
        "sens",
        "1.31.0",
    );
    let objects = by_key(render_chart(&helm, &Cache::disabled(), &request).unwrap());
    let mut workloads: Vec<&str> = objects
        .keys()
        .filter(|(kind, _, _)| kind == "Deployment" || kind == "StatefulSet")
        .map(|(_, _, name)| name.as_str())
        .collect();
    workloads.sort_unstable();
    let platform = kiln::Platform::load(&sens).unwrap();
    let mut production: Vec<String> = platform
        .environment("production")
        .unwrap()
        .components
        .iter()
        .map(|c| format!("sens-platform-{}", c.app))
        .collect();
    production.sort();
    assert_eq!(workloads, production);
    assert!(objects.keys().all(|(kind, _, _)| kind != "Secret"));
}

/// HanseNexus's values for the agent (environments/production.yaml, bundle `signoz`).
fn hansenexus_values() -> Value {
    json!({
        "clusterName": "hn-k3s",
        "signoz": { "endpoint": "signoz-otel-collector.signoz.svc.cluster.local:4317" },
        "commonLabels": {
            "app": "signoz-otel-agent",
            "app.kubernetes.io/part-of": "hansenexus",
            "app.kubernetes.io/managed-by": "kiln"
        }
    })
}

fn labels(o: &Value) -> &Value {
    &o["metadata"]["labels"]
}

#[test]
fn otel_agent_fixture_is_what_the_repository_vendored() {
    let Some(helm_path) = support::helm_or_skip("the otel-agent chart test") else {
        return;
    };
    let helm = Helm::at(&helm_path);
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/chart-repo/otel-agent");
    // The root platform's charts/otel-agent is version 0.1.0 of the fixture, pulled through
    // `kiln vendor` (the lock records the files; helm pull keeps them as they are).
    // `helm package` writes Chart.yaml anew (same fields, its own formatting), so that one
    // file is compared by its version.
    let vendored = kiln::chart::digest(&repo_root().join("charts/otel-agent")).unwrap();
    let source = kiln::chart::digest(&fixture.join("0.1.0")).unwrap();
    let without_chart_yaml = |files: &BTreeMap<String, String>| {
        let mut files = files.clone();
        files.remove("Chart.yaml");
        files
    };
    assert_eq!(
        without_chart_yaml(&vendored.1),
        without_chart_yaml(&source.1),
        "charts/otel-agent is not the 0.1.0 fixture"
    );
    let chart_yaml =
        std::fs::read_to_string(repo_root().join("charts/otel-agent/Chart.yaml")).unwrap();
    assert!(chart_yaml.contains("version: 0.1.0"), "{chart_yaml}");
    let lock = kiln::chart::read_lock(&repo_root()).unwrap();
    assert_eq!(lock.get("otel-agent").unwrap().digest, vendored.0);

    let mut rendered = Vec::new();
    for version in ["0.1.0", "0.2.0"] {
        let request = ChartRequest::new(
            fixture.join(version),
            hansenexus_values(),
            "signoz",
            "signoz",
            "1.34.0",
        );
        let objects = render_chart(&helm, &Cache::disabled(), &request).unwrap();
        // The helm.sh/hook: test Pod (templates/tests/) is dropped.
        assert!(objects
            .iter()
            .all(|o| !o.source_template.contains("/templates/tests/")));
        let chart = by_key(objects);
        let daemonset = chart
            .iter()
            .find(|(k, _)| k.0 == "DaemonSet")
            .map(|(_, v)| v.clone())
            .unwrap();
        let l = labels(&daemonset);
        assert_eq!(l["app.kubernetes.io/instance"], "signoz");
        assert_eq!(l["helm.sh/chart"], format!("otel-agent-{version}").as_str());
        rendered.push(chart);
    }
    // 0.2.0 is an upgrade: a new image and the exporter's compression.
    let image = |c: &BTreeMap<Key, Value>| {
        c.iter().find(|(k, _)| k.0 == "DaemonSet").unwrap().1["spec"]["template"]["spec"]
            ["containers"][0]["image"]
            .clone()
    };
    assert_eq!(
        image(&rendered[0]),
        "otel/opentelemetry-collector-contrib:0.111.0"
    );
    assert_eq!(
        image(&rendered[1]),
        "otel/opentelemetry-collector-contrib:0.116.0"
    );
    assert_ne!(rendered[0], rendered[1]);
}
