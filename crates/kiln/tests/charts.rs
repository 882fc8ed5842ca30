//! The Helm chart runtime (`kiln::chart`) against a real helm: the fixture charts under
//! `tests/fixtures/charts/cases/` rendered to objects, the render cache, and vendoring from a
//! chart repository served on loopback by the test itself.
//!
//! Tests that need helm skip loudly without it, unless `KILN_REQUIRE_KUBECTL=1`.

mod common;
#[path = "support/helm.rs"]
mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use kiln::chart::{
    chart_dir, read_lock, render_chart, render_charts, vendor, verify, Cache, ChartObject,
    ChartRequest, ChartSpec, Helm, LOCK_FILE,
};
use kiln::ErrorKind;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/charts")
}

fn request(chart: &Path, values: Value) -> ChartRequest {
    ChartRequest::new(chart, values, "rel", "shop", "1.31.0")
}

/// `<source template> <kind> <name>` per object, as `expected.txt` lists them.
fn summary(objects: &[ChartObject]) -> Vec<String> {
    objects
        .iter()
        .map(|o| {
            format!(
                "{} {} {}",
                o.source_template,
                o.object["kind"].as_str().unwrap(),
                o.object["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn fixture_cases() {
    let Some(helm_path) = support::helm_or_skip("the chart fixture cases") else {
        return;
    };
    let helm = Helm::at(helm_path);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(cache_dir.path());
    let mut cases: Vec<PathBuf> = std::fs::read_dir(fixtures().join("cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 4, "{cases:?}");
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let chart = match std::fs::read_to_string(case.join("chart.txt")) {
            Ok(rel) => case.join(rel.trim()),
            Err(_) => case.join("chart"),
        };
        let values: Value =
            serde_json::from_str(&std::fs::read_to_string(case.join("values.json")).unwrap())
                .unwrap();
        let result = render_chart(&helm, &cache, &request(&chart, values));
        if let Ok(expected) = std::fs::read_to_string(case.join("expected.txt")) {
            let objects = result.unwrap_or_else(|e| panic!("case {name}: {e}"));
            let expected: Vec<&str> = expected.lines().collect();
            assert_eq!(summary(&objects), expected, "case {name}");
        } else {
            let expected = std::fs::read_to_string(case.join("error.txt"))
                .unwrap_or_else(|_| panic!("case {name} has neither expected.txt nor error.txt"));
            let err = match result {
                Ok(objects) => panic!("case {name} rendered {:?}", summary(&objects)),
                Err(e) => e.to_string(),
            };
            for line in expected.lines() {
                assert!(err.contains(line), "case {name}: `{line}` not in:\n{err}");
            }
        }
    }
}

#[test]
fn web_chart_objects_in_detail() {
    let Some(helm_path) = support::helm_or_skip("the web chart render") else {
        return;
    };
    let helm = Helm::at(helm_path);
    let chart = fixtures().join("cases/web/chart");
    let objects = render_chart(
        &helm,
        &Cache::disabled(),
        &request(&chart, serde_json::json!({"replicas": 2})),
    )
    .unwrap();
    let deployment = &objects
        .iter()
        .find(|o| o.object["kind"] == "Deployment")
        .unwrap()
        .object;
    assert_eq!(deployment["spec"]["replicas"], 2);
    let env = &deployment["spec"]["template"]["spec"]["containers"][0]["env"];
    // Values from the chart's values.yaml, the release namespace, the Kubernetes version.
    assert_eq!(env[0]["value"], "hello");
    assert_eq!(env[1]["value"], "shop");
    assert_eq!(env[2]["value"], "v1.31.0");
    // Other hooks are kept, with their annotation.
    let job = objects.iter().find(|o| o.object["kind"] == "Job").unwrap();
    assert_eq!(
        job.object["metadata"]["annotations"]["helm.sh/hook"],
        "pre-install,pre-upgrade"
    );
    assert!(!objects.iter().any(|o| o.object["kind"] == "Pod"));
}

/// A wrapper around helm that logs each run, so a test can count them.
fn counting_helm(real: &Path, dir: &Path) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let real = real.canonicalize().unwrap();
    let log = dir.join("runs.log");
    let script = dir.join("helm");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$1\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, log)
}

fn runs(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn cache_hit_runs_no_helm() {
    let Some(helm_path) = support::helm_or_skip("the chart cache test") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (wrapper, log) = counting_helm(&helm_path, tmp.path());
    let cache = Cache::new(tmp.path().join("cache"));
    let chart = fixtures().join("cases/web/chart");
    let req = request(&chart, serde_json::json!({"greeting": "cached"}));

    let started = Instant::now();
    let first = render_chart(&Helm::at(&wrapper), &cache, &req).unwrap();
    let miss = started.elapsed();
    // The web chart calls nothing that varies between runs: one render on a miss.
    assert_eq!(runs(&log), ["version", "template"]);

    // A new Helm value (as a new kiln process would have): the version comes from the memo.
    let started = Instant::now();
    let second = render_chart(&Helm::at(&wrapper), &cache, &req).unwrap();
    let hit = started.elapsed();
    assert_eq!(first, second);
    assert_eq!(
        runs(&log).len(),
        2,
        "a cache hit ran helm: {:?}",
        runs(&log)
    );
    eprintln!("chart render: miss (two helm template runs in parallel) {miss:?}, hit {hit:?}");

    // Other values: a miss.
    let mut other = req.clone();
    other.values = serde_json::json!({"greeting": "other"});
    render_chart(&Helm::at(&wrapper), &cache, &other).unwrap();
    assert_eq!(runs(&log).len(), 3);

    // A corrupt entry is a miss, not an error.
    for entry in std::fs::read_dir(tmp.path().join("cache")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            std::fs::write(&path, "# kiln helm cache v1 sha256:00\ngarbage: [").unwrap();
        }
    }
    assert_eq!(
        render_chart(&Helm::at(&wrapper), &cache, &req).unwrap(),
        first
    );
    assert_eq!(runs(&log).len(), 4);

    // A changed chart file: a miss.
    let copy = tmp.path().join("web");
    common::copy_dir(&chart, &copy);
    let mut moved = req.clone();
    moved.chart_dir = copy.clone();
    render_chart(&Helm::at(&wrapper), &cache, &moved).unwrap();
    assert_eq!(runs(&log).len(), 4, "same content elsewhere is a hit");
    std::fs::write(
        copy.join("values.yaml"),
        "replicas: 1\nimage: x\ngreeting: y\n",
    )
    .unwrap();
    render_chart(&Helm::at(&wrapper), &cache, &moved).unwrap();
    assert_eq!(runs(&log).len(), 5);
}

#[test]
fn several_charts_in_order() {
    let Some(helm_path) = support::helm_or_skip("the parallel chart render") else {
        return;
    };
    let helm = Helm::at(helm_path);
    let chart = fixtures().join("cases/web/chart");
    let requests: Vec<ChartRequest> = (0..4)
        .map(|i| {
            let mut r = request(&chart, serde_json::json!({"replicas": i}));
            r.release = format!("r{i}");
            r
        })
        .collect();
    let out = render_charts(&helm, &Cache::disabled(), &requests).unwrap();
    for (i, objects) in out.iter().enumerate() {
        let d = objects
            .iter()
            .find(|o| o.object["kind"] == "Deployment")
            .unwrap();
        assert_eq!(d.object["metadata"]["name"], format!("r{i}-web"));
        assert_eq!(d.object["spec"]["replicas"], i);
    }
    // The first error in input order wins.
    let mut bad = requests.clone();
    bad[1].chart_dir = fixtures().join("cases/nonexistent");
    bad[3].chart_dir = fixtures().join("cases/random/chart");
    let err = render_charts(&helm, &Cache::disabled(), &bad).unwrap_err();
    assert!(err.to_string().contains("nonexistent"), "{err}");
}

#[test]
fn missing_helm_is_a_clear_error() {
    let chart = fixtures().join("cases/web/chart");
    let err = render_chart(
        &Helm::at("/nonexistent/bin/helm"),
        &Cache::disabled(),
        &request(&chart, Value::Null),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("helm not found at /nonexistent/bin/helm"),
        "{msg}"
    );
    assert!(msg.contains("v3.8 or later"), "{msg}");
}

#[test]
fn symlinks_in_charts_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let chart = tmp.path().join("web");
    common::copy_dir(&fixtures().join("cases/web/chart"), &chart);
    std::os::unix::fs::symlink("/etc/passwd", chart.join("templates/passwd.yaml")).unwrap();
    // Refused before helm is looked for.
    let err = render_chart(
        &Helm::at("/nonexistent/bin/helm"),
        &Cache::disabled(),
        &request(&chart, Value::Null),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsafe, "{err}");
    assert!(err.to_string().contains("passwd.yaml"), "{err}");
}

/// Serves `dir` over HTTP/1.1 on 127.0.0.1 (GET only, one thread per connection); returns the
/// base URL.
fn serve(dir: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let dir = dir.clone();
            std::thread::spawn(move || {
                let _ = answer(stream, &dir);
            });
        }
    });
    url
}

fn answer(mut stream: TcpStream, dir: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("/");
    let rel = target.split('?').next().unwrap().trim_start_matches('/');
    let file = Some(dir.join(rel)).filter(|p| !rel.contains("..") && p.is_file());
    match file {
        Some(file) => {
            let body = std::fs::read(file)?;
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            stream.write_all(&body)?;
        }
        None => write!(
            stream,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?,
    }
    stream.flush()
}

/// helm for the test's own packaging, with its homes in `home`.
fn helm_cmd(helm: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(helm);
    cmd.env_clear()
        .env("HOME", home)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"));
    cmd
}

fn run(mut cmd: Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A chart repository of `charts` (packaged with helm, indexed) served on loopback under
/// `tmp/repo`; returns its URL.
fn chart_repository(helm: &Path, tmp: &Path, charts: &[PathBuf]) -> String {
    let repo = tmp.join("repo");
    let home = tmp.join("home");
    std::fs::create_dir_all(&repo).unwrap();
    let url = serve(repo.clone());
    for chart in charts {
        let mut cmd = helm_cmd(helm, &home);
        cmd.arg("package")
            .arg(chart)
            .arg("--destination")
            .arg(&repo);
        run(cmd);
    }
    let mut cmd = helm_cmd(helm, &home);
    cmd.args(["repo", "index"]).arg(&repo).args(["--url", &url]);
    run(cmd);
    url
}

fn image(objects: &[ChartObject]) -> &str {
    objects[0].object["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
}

#[test]
fn vendor_from_a_loopback_repository() {
    let Some(helm_path) = support::helm_or_skip("the chart vendoring test") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let url = chart_repository(
        &helm_path,
        tmp.path(),
        &["0.1.0", "0.2.0"].map(|v| fixtures().join("repo").join(v).join("hello")),
    );

    let root = tmp.path().join("platform");
    std::fs::create_dir_all(&root).unwrap();
    let helm = Helm::at(&helm_path);
    let spec = |version: &str| ChartSpec {
        name: "hello".into(),
        repository: url.clone(),
        chart: "hello".into(),
        version: version.into(),
    };
    let render = |root: &Path| {
        let dir = chart_dir(root, Path::new("charts/hello")).unwrap();
        render_chart(
            &helm,
            &Cache::disabled(),
            &request(&dir, serde_json::json!({})),
        )
        .unwrap()
    };

    // 0.1.0: vendored, locked, verified, rendered.
    let entry = vendor(&helm, &root, &spec("0.1.0")).unwrap();
    assert_eq!(
        (
            entry.name.as_str(),
            entry.chart.as_str(),
            entry.version.as_str()
        ),
        ("hello", "hello", "0.1.0")
    );
    assert_eq!(entry.repository, url);
    assert!(
        entry.digest.starts_with("sha256:") && entry.digest.len() == 71,
        "{}",
        entry.digest
    );
    assert_eq!(
        entry.files.keys().map(String::as_str).collect::<Vec<_>>(),
        ["Chart.yaml", "templates/deployment.yaml", "values.yaml"]
    );
    let lock = read_lock(&root).unwrap();
    assert_eq!(lock.charts, std::slice::from_ref(&entry));
    let text = std::fs::read_to_string(root.join(LOCK_FILE)).unwrap();
    assert!(text.starts_with("# kiln.lock"), "{text}");
    assert!(text.contains("    version: \"0.1.0\"\n"), "{text}");
    verify(&root, &lock).unwrap();
    let v1 = render(&root);
    assert_eq!(image(&v1), "ghcr.io/example/hello:0.1.0");
    assert_eq!(v1[0].source_template, "hello/templates/deployment.yaml");

    // Tampering is caught, naming the chart and the files.
    let deployment = root.join("charts/hello/templates/deployment.yaml");
    let original = std::fs::read_to_string(&deployment).unwrap();
    std::fs::write(&deployment, original.replace("hello", "hacked")).unwrap();
    std::fs::write(root.join("charts/hello/templates/extra.yaml"), "").unwrap();
    let err = verify(&root, &lock).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("chart `hello`"), "{msg}");
    assert!(msg.contains("changed templates/deployment.yaml"), "{msg}");
    assert!(msg.contains("added templates/extra.yaml"), "{msg}");
    assert_eq!(
        err.location().unwrap().file,
        Path::new("charts/hello/templates/deployment.yaml")
    );

    // 0.2.0 replaces it: the lock is updated, the objects differ.
    let entry2 = vendor(&helm, &root, &spec("0.2.0")).unwrap();
    assert_eq!(entry2.version, "0.2.0");
    assert_ne!(entry2.digest, entry.digest);
    let lock = read_lock(&root).unwrap();
    assert_eq!(lock.charts, std::slice::from_ref(&entry2));
    verify(&root, &lock).unwrap();
    let v2 = render(&root);
    assert_eq!(image(&v2), "ghcr.io/example/hello:0.2.0");
    assert_ne!(v1, v2);

    // A version the repository does not have: an error, and nothing changes.
    let err = vendor(&helm, &root, &spec("9.9.9")).unwrap_err();
    assert!(
        err.to_string()
            .contains("helm pull of chart `hello` version 9.9.9"),
        "{err}"
    );
    assert_eq!(read_lock(&root).unwrap(), lock);
    verify(&root, &lock).unwrap();
    let left: Vec<String> = std::fs::read_dir(root.join("charts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["hello"], "staging directories are cleaned up");

    // A vendored chart reached through a symlink is refused.
    std::fs::rename(root.join("charts/hello"), tmp.path().join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(tmp.path().join("elsewhere"), root.join("charts/hello")).unwrap();
    let err = verify(&root, &lock).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsafe, "{err}");
}

/// A stand-in for helm: a shell script with `body` (no helm needed).
fn fake_helm(dir: &Path, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("fake-helm");
    std::fs::write(&script, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[test]
fn old_helm_is_refused_naming_the_version_needed() {
    let tmp = tempfile::tempdir().unwrap();
    let helm = fake_helm(tmp.path(), "echo v3.7.2");
    let chart = fixtures().join("cases/web/chart");
    let err = render_chart(
        &Helm::at(&helm),
        &Cache::disabled(),
        &request(&chart, Value::Null),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("helm v3.7.2, which is too old"), "{msg}");
    assert!(msg.contains("v3.8 or later"), "{msg}");
}

#[test]
fn helm_runs_in_a_controlled_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let env_file = tmp.path().join("env.txt");
    let args_file = tmp.path().join("args.txt");
    let helm = fake_helm(
        tmp.path(),
        &format!(
            "case \"$1\" in version) echo v4.1.4 ;; *) env > '{}'; echo \"$@\" > '{}'; \
             printf -- '---\\n# Source: web/templates/cm.yaml\\napiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: x\\n' ;; esac",
            env_file.display(),
            args_file.display()
        ),
    );
    let chart = fixtures().join("cases/web/chart");
    let objects = render_chart(
        &Helm::at(&helm),
        &Cache::disabled(),
        &request(&chart, serde_json::json!({"a": 1})),
    )
    .unwrap();
    assert_eq!(summary(&objects), ["web/templates/cm.yaml ConfigMap x"]);
    let env = std::fs::read_to_string(&env_file).unwrap();
    let home = env
        .lines()
        .find_map(|l| l.strip_prefix("HOME="))
        .expect("HOME is set");
    assert_ne!(Some(home), std::env::var("HOME").ok().as_deref());
    for var in [
        "HELM_CACHE_HOME",
        "HELM_CONFIG_HOME",
        "HELM_DATA_HOME",
        "HELM_PLUGINS",
        "HELM_REPOSITORY_CONFIG",
        "KUBECONFIG",
    ] {
        let value = env
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{var}=")))
            .unwrap_or_else(|| panic!("{var} not set:\n{env}"));
        assert!(value.starts_with(home), "{var}={value} is outside {home}");
    }
    assert!(env.contains("HELM_NO_PLUGINS=1"), "{env}");
    // Nothing else of this process's environment (PATH, the user's variables) leaks in.
    assert!(!env.lines().any(|l| l.starts_with("PATH=")), "{env}");
    assert!(!env.contains("CARGO"), "{env}");
    let args = std::fs::read_to_string(&args_file).unwrap();
    assert!(
        args.starts_with(&format!(
            "template rel {} --namespace shop --kube-version 1.31.0 --include-crds --values ",
            chart.display()
        )),
        "{args}"
    );
}

/// The whole path a user takes, on a platform: vendor a chart from a repository (served on
/// loopback) into a chart bundle, render it into the tree, commit; a tampered vendored file
/// stops the render; re-vendoring a new version shows in `kiln diff` as the objects it changes.
#[test]
fn a_chart_bundle_is_vendored_rendered_guarded_and_upgraded() {
    let Some(helm_path) = support::helm_or_skip("the chart bundle test") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let agent = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/chart-repo/otel-agent");
    let url = chart_repository(
        &helm_path,
        tmp.path(),
        &["0.1.0", "0.2.0"].map(|v| agent.join(v)),
    );

    // The mini platform with a chart bundle in prod.
    let root = tmp.path().join("platform");
    common::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mini"),
        &root,
    );
    std::fs::write(root.join(".gitignore"), ".kiln/\n").unwrap();
    let prod = root.join("environments/prod.yaml");
    let text = std::fs::read_to_string(&prod).unwrap().replace(
        "bundles:\n",
        "bundles:\n  - { templates: agent, chart: otel-agent, release: agent, dir: agent }\n",
    );
    std::fs::write(&prod, text).unwrap();
    std::fs::create_dir_all(root.join("templates/agent")).unwrap();
    std::fs::write(
        root.join("templates/agent/values.yaml.j2"),
        "clusterName: {{ env.name | tojson }}\n",
    )
    .unwrap();
    let spec = |version: &str| ChartSpec {
        name: "otel-agent".into(),
        repository: url.clone(),
        chart: "otel-agent".into(),
        version: version.into(),
    };
    let write = |root: &Path| {
        let platform = kiln::Platform::load(root).unwrap();
        let rendered = kiln::render(&platform).unwrap();
        kiln::write_tree(&platform.output_root(), &rendered, &Default::default()).unwrap();
        rendered
    };
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .arg("-C")
            .arg(&root)
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(
            ok.status.success(),
            "{}",
            String::from_utf8_lossy(&ok.stderr)
        );
    };

    kiln::vendor_chart(&root, &spec("0.1.0")).unwrap();
    let rendered = write(&root);
    let daemonset = rendered
        .files
        .get("agent/daemonset-agent-otel-agent.yaml")
        .expect("the chart's DaemonSet, one object per file named by kind and name");
    assert!(daemonset.text.starts_with(kiln::GENERATED_MARKER));
    assert!(daemonset
        .text
        .contains("from environments/prod.yaml and charts/otel-agent/templates/daemonset.yaml"));
    assert_eq!(daemonset.objects[0]["metadata"]["namespace"], "mini");
    assert!(
        !rendered.files.keys().any(|p| p.contains("test-health")),
        "helm test hooks are left out"
    );
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "otel-agent 0.1.0"]);

    // A vendored file that no longer matches its lock entry: render refuses, naming it.
    let values = root.join("charts/otel-agent/values.yaml");
    let original = std::fs::read_to_string(&values).unwrap();
    std::fs::write(&values, format!("{original}\n# edited by hand\n")).unwrap();
    let err = kiln::render(&kiln::Platform::load(&root).unwrap()).unwrap_err();
    assert!(
        err.to_string().contains("otel-agent") && err.to_string().contains("values.yaml"),
        "{err}"
    );
    std::fs::write(&values, original).unwrap();

    // Upgrade: re-vendor 0.2.0, re-render; the diff against the commit shows the new image.
    kiln::vendor_chart(&root, &spec("0.2.0")).unwrap();
    let lock = std::fs::read_to_string(root.join("kiln.lock")).unwrap();
    assert!(lock.contains("version: \"0.2.0\""), "{lock}");
    write(&root);
    let diff = kiln::diff_revisions(&root, "HEAD", None).unwrap();
    let text = kiln::present::diff_text(&diff, false);
    assert!(text.contains("DaemonSet mini/agent-otel-agent"), "{text}");
    assert!(
        text.contains("0.111.0") && text.contains("0.116.0"),
        "the image moves with the chart's appVersion:\n{text}"
    );
}
