//! Probes beyond HTTP GET (gRPC, TCP, exec), probe headers, init containers and sidecars:
//! written as data (`tests/fixtures/containers`), rendered by the scaffold's own templates, they
//! give the Kubernetes fields the API expects and lint clean; the mistakes they allow fail with
//! the key that made them.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tempfile::TempDir;

/// The scaffold (`kiln init`), with the fixture's kiln.yaml and environments over it.
fn platform() -> (TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("containers");
    kiln::init(&root).unwrap();
    fs::remove_file(root.join("environments/staging.yaml")).unwrap();
    common::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/containers"),
        &root,
    );
    (tmp, root)
}

fn edit(root: &Path, from: &str, to: &str) {
    let path = root.join("kiln.yaml");
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "kiln.yaml lacks {from:?}");
    fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// The pod spec of an app's Deployment.
fn pod(rendered: &kiln::Rendered, app: &str) -> Value {
    let file = &rendered.files[&format!("apps/{app}/deployment.yaml")];
    file.objects[0]["spec"]["template"]["spec"].clone()
}

#[test]
fn every_shape_renders_as_kubernetes_expects() {
    let (_tmp, root) = platform();
    let platform = kiln::Platform::load(&root).unwrap();
    let rendered = kiln::render(&platform).unwrap();

    // gRPC: the kind's HTTP path gives way; the port defaults to the app's.
    let greeter = &pod(&rendered, "greeter")["containers"][0];
    assert_eq!(
        greeter["livenessProbe"],
        json!({"grpc": {"port": 9090, "service": "greeter.v1.Greeter"}, "initialDelaySeconds": 10, "periodSeconds": 20, "timeoutSeconds": 1, "failureThreshold": 3})
    );
    assert_eq!(greeter["readinessProbe"]["grpc"]["port"], 9090);
    assert_eq!(
        greeter["startupProbe"],
        json!({"tcpSocket": {"port": 9090}, "periodSeconds": 5, "failureThreshold": 30})
    );

    // TCP for liveness; HTTP with the probe's own headers for readiness.
    let relay = &pod(&rendered, "relay")["containers"][0];
    assert_eq!(relay["livenessProbe"]["tcpSocket"], json!({"port": 8080}));
    assert!(relay["livenessProbe"].get("httpGet").is_none());
    assert_eq!(
        relay["readinessProbe"]["httpGet"],
        json!({"path": "/ready", "port": 8080, "httpHeaders": [{"name": "X-Probe", "value": "readiness"}]})
    );

    // exec: a command, no port.
    let ledger = &pod(&rendered, "ledger")["containers"][0];
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(
            ledger[probe]["exec"],
            json!({"command": ["/bin/ledger", "check", "--quick"]}),
            "{probe}"
        );
    }

    // Init containers in order; sidecars after the app's container.
    let counter = pod(&rendered, "counter");
    let init = counter["initContainers"].as_array().unwrap();
    assert_eq!(init.len(), 2);
    assert_eq!(init[0]["name"], "migrate");
    assert_eq!(init[0]["image"], "ghcr.io/example/counter:2.3.1");
    assert_eq!(init[0]["command"], json!(["/bin/counter"]));
    assert_eq!(init[0]["args"], json!(["migrate", "--wait"]));
    assert_eq!(
        init[0]["env"],
        json!([
            {"name": "DATABASE_HOST", "value": "db"},
            {"name": "DATABASE_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "counter-db", "key": "password"}}}
        ])
    );
    assert_eq!(init[1]["name"], "seed");
    assert_eq!(init[1]["image"], "docker.io/library/busybox:musl");
    let names: Vec<&str> = counter["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["counter", "exporter", "proxy"]);
    let exporter = &counter["containers"][1];
    assert_eq!(exporter["image"], "ghcr.io/example/counter-exporter:2.3.1");
    assert_eq!(
        exporter["ports"],
        json!([{"name": "metrics", "containerPort": 9102, "protocol": "TCP"}])
    );
    assert_eq!(
        exporter["livenessProbe"],
        json!({"httpGet": {"path": "/metrics", "port": 9102}, "periodSeconds": 30})
    );
    assert_eq!(
        exporter["resources"],
        json!({"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "32Mi"}})
    );
    let proxy = &counter["containers"][2];
    assert_eq!(proxy["image"], "envoyproxy/envoy:v1.31.2");
    // `health.port` defaults to the container's first port.
    assert_eq!(proxy["livenessProbe"]["tcpSocket"]["port"], 9901);
    assert_eq!(proxy["readinessProbe"]["grpc"], json!({"port": 9000}));

    // Kubernetes' schema and every policy rule (probes on declared ports, resources, ...).
    let report = kiln::lint_platform(&platform).unwrap();
    assert!(
        report.findings.is_empty(),
        "{}",
        kiln::present::lint_text(&report, false)
    );
}

#[test]
fn a_probe_on_a_port_the_container_does_not_declare_fails_lint() {
    for (from, to) in [
        // gRPC and TCP probes are judged by their port like HTTP ones.
        (
            "grpc: { service: greeter.v1.Greeter }",
            "grpc: { port: 9091 }",
        ),
        (
            "liveness: { tcp: { port: 8080 } }",
            "liveness: { tcp: { port: 8081 } }",
        ),
        ("grpc: { port: 9000 }", "grpc: { port: 9001 }"),
    ] {
        let (_tmp, root) = platform();
        edit(&root, from, to);
        let platform = kiln::Platform::load(&root).unwrap();
        let report = kiln::lint_platform(&platform).unwrap();
        let text = kiln::present::lint_text(&report, false);
        assert!(report.errors() >= 1, "{to}: {text}");
        assert!(
            report.findings.iter().all(|f| f.rule == "probes"),
            "{to}: {text}"
        );
        assert!(
            text.contains("which the container does not declare"),
            "{to}: {text}"
        );
    }
}

#[test]
fn mistakes_fail_with_the_key_that_made_them() {
    for (from, to, says) in [
        (
            "grpc: { service: greeter.v1.Greeter }",
            "grpc: { service: greeter.v1.Greeter }\n          tcp: {}",
            "`health.tcp`: `grpc`, `tcp` are alternative checks",
        ),
        (
            "liveness: { tcp: { port: 8080 } }",
            "liveness: { tcp: { port: 8080 }, exec: [/bin/true] }",
            "`health.liveness.exec`: `tcp`, `exec` are alternative checks",
        ),
        (
            "args: [migrate, --wait]",
            "args: [migrate, --wait]\n            tag: \"2.4.0\"",
            "`init_containers.migrate.tag`: `tag` without `image`",
        ),
        (
            "image: counter-exporter",
            "image: counter-exporter\n            tag: 3f9c2ab",
            "`sidecars.exporter.tag`:",
        ),
        ("tag: v1.31.2", "tag: latest", "`sidecars.proxy.tag`:"),
        (
            "image: envoyproxy/envoy",
            "image: ghcr.io/example/envoy",
            "`sidecars.proxy.channel`: `ghcr.io/example/envoy` is under the platform's registry",
        ),
        (
            "ports: { metrics: 9102 }",
            "ports: { prometheus-metrics: 9102 }",
            "`sidecars.exporter.ports.prometheus-metrics`: a port name has at most 15",
        ),
        (
            "image: docker.io/library/busybox\n            channel: pinned\n            tag: musl",
            "image: docker.io/library/busybox\n            channel: pinned",
            "`init_containers.seed`: the upstream image `docker.io/library/busybox` has no `tag`",
        ),
    ] {
        let (_tmp, root) = platform();
        edit(&root, from, to);
        let err = kiln::Platform::load(&root).unwrap_err().to_string();
        assert!(err.contains(says), "{to}:\n{err}");
        assert!(
            err.starts_with("kiln.yaml:"),
            "{to}: names the file and line:\n{err}"
        );
    }
}
