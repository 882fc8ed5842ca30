//! Golden tests of the newcomer's and reviewer's commands: `init` (and the scaffold it writes
//! renders, checks, lints and builds with kustomize), `envs`, `explain` with provenance,
//! `completions`, the error snippet, `--quiet`/`--verbose`, help examples and NO_COLOR.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tempfile::TempDir;

/// Runs kiln in `dir` and returns "exit N" plus stdout and stderr, for snapshots.
fn kiln(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> String {
    let (code, stdout, stderr) = run(dir, args, envs);
    format!("exit {code}\n--- stdout\n{stdout}--- stderr\n{stderr}")
}

fn run(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.current_dir(dir).args(args).env_remove("NO_COLOR");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// A fresh platform made by `kiln init shop-platform` in a temporary directory.
fn scaffold() -> (TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(tmp.path(), &["init", "shop-platform"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let root = tmp.path().join("shop-platform");
    (tmp, root)
}

fn files_under(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .to_owned(),
                );
            }
        }
    }
    out.sort();
    out
}

#[test]
fn init_writes_a_platform_that_renders_checks_and_lints() {
    let tmp = tempfile::tempdir().unwrap();
    insta::assert_snapshot!(kiln(tmp.path(), &["init", "shop-platform"], &[]), @r#"
    exit 0
    --- stdout
    created platform `shop-platform` in shop-platform (13 files):
      .github/workflows/kiln.yml
      .gitignore
      README.md
      environments/production.yaml
      environments/staging.yaml
      kiln.yaml
      templates/_lib/k8s.j2
      templates/namespace/namespace.yaml.j2
      templates/web/deployment.yaml.j2
      templates/web/ingress.yaml.j2
      templates/web/pdb.yaml.j2
      templates/web/service.yaml.j2
      templates/web/serviceaccount.yaml.j2
    next:
      cd shop-platform
      kiln render    # write the k8s/ tree
      kiln check     # what CI runs (.github/workflows/kiln.yml)
      git init && git add . && git commit -m "A kiln platform"
    --- stderr
    "#);
    let root = tmp.path().join("shop-platform");
    let kiln_yaml = fs::read_to_string(root.join("kiln.yaml")).unwrap();
    assert!(kiln_yaml.contains("\nname: shop-platform\n"), "{kiln_yaml}");
    // Exactly the embedded scaffold, byte for byte (but the name).
    for (path, text) in kiln::SCAFFOLD {
        let written = fs::read_to_string(root.join(path)).unwrap();
        assert_eq!(
            written,
            text.replace(kiln::DEFAULT_PLATFORM_NAME, "shop-platform"),
            "{path}"
        );
    }

    insta::assert_snapshot!(kiln(&root, &["check"], &[]).lines().next().unwrap(), @"exit 1");
    insta::assert_snapshot!(kiln(&root, &["render"], &[]), @r"
    exit 0
    --- stdout
    k8s: 18 added, 0 changed, 0 removed, 0 unchanged
    --- stderr
    ");
    insta::assert_snapshot!(kiln(&root, &["check"], &[]), @r"
    exit 0
    --- stdout
    k8s: clean (18 files)
    --- stderr
    ");
    let (code, stdout, stderr) = run(&root, &["lint"], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    insta::assert_snapshot!(files_under(&root.join("k8s")).join("\n"), @r"
    apps/hello/deployment.yaml
    apps/hello/ingress.yaml
    apps/hello/kustomization.yaml
    apps/hello/pdb.yaml
    apps/hello/service.yaml
    apps/hello/serviceaccount.yaml
    apps/kustomization.yaml
    base/kustomization.yaml
    base/namespace.yaml
    kustomization.yaml
    overlays/kustomization.yaml
    overlays/staging/hello/deployment.yaml
    overlays/staging/hello/ingress.yaml
    overlays/staging/hello/kustomization.yaml
    overlays/staging/hello/service.yaml
    overlays/staging/hello/serviceaccount.yaml
    overlays/staging/kustomization.yaml
    overlays/staging/namespace.yaml
    ");
    insta::assert_snapshot!(
        "scaffold_production_deployment",
        fs::read_to_string(root.join("k8s/apps/hello/deployment.yaml")).unwrap()
    );
}

#[test]
fn init_refuses_to_overwrite_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("p");
    fs::create_dir_all(root.join("templates/web")).unwrap();
    fs::write(root.join("kiln.yaml"), "name: mine\n").unwrap();
    fs::write(root.join("templates/web/service.yaml.j2"), "mine\n").unwrap();
    insta::assert_snapshot!(kiln(tmp.path(), &["init", "p"], &[]), @r"
    exit 2
    --- stdout
    --- stderr
    error: kiln init never overwrites, and p already has these 2 files: kiln.yaml, templates/web/service.yaml.j2; nothing was written (choose a new or empty directory)
    ");
    assert_eq!(
        files_under(&root),
        ["kiln.yaml", "templates/web/service.yaml.j2"]
    );
    assert_eq!(
        fs::read_to_string(root.join("kiln.yaml")).unwrap(),
        "name: mine\n"
    );
    // The default directory is --root; the current directory here.
    let (code, _, stderr) = run(&root, &["init"], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("nothing was written"), "{stderr}");
}

#[test]
fn envs_lists_channel_namespace_apps_replicas_and_tags() {
    let (_tmp, root) = scaffold();
    insta::assert_snapshot!(kiln(&root, &["envs"], &[]), @r"
    exit 0
    --- stdout
    ENVIRONMENT  CHANNEL  STATE  NAMESPACE   APP    COMPONENT  REPLICAS  TAG
    production   stable   open   production  hello  web        2         1.0.0
    staging      rc       open   staging     hello  web        1         1.1.0-rc.1
    --- stderr
    ");
    // A closed environment shows the effective and the declared replicas.
    let staging = root.join("environments/staging.yaml");
    let text = fs::read_to_string(&staging).unwrap();
    fs::write(
        &staging,
        text.replace("channel: rc ", "state: closed\nchannel: rc "),
    )
    .unwrap();
    let (code, stdout, stderr) = run(&root, &["envs", "--format", "json"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let envs: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        envs[1],
        serde_json::json!({
            "name": "staging",
            "file": "environments/staging.yaml",
            "dir": "overlays/staging",
            "namespace": "staging",
            "namespaces": ["staging"],
            "channel": "rc",
            "state": "closed",
            "apps": [{
                "app": "hello",
                "component": "web",
                "namespace": "staging",
                "replicas": 0,
                "declared_replicas": 1,
                "image": "ghcr.io/example/hello:1.1.0-rc.1",
                "tag": "1.1.0-rc.1"
            }],
            "not_deployed": []
        })
    );
}

#[test]
fn explain_a_field_names_the_template_line_and_the_file_key_and_line_of_its_data() {
    let (_tmp, root) = scaffold();
    insta::assert_snapshot!(
        kiln(&root, &["explain", "production/hello", "--field", "spec.replicas"], &[]),
        @r"
    exit 0
    --- stdout
    production/hello  spec.replicas

    Deployment production/hello  (k8s/apps/hello/deployment.yaml)
      spec.replicas = 2
        written by templates/web/deployment.yaml.j2:10
          10 | replicas: {{ app.replicas }}
        app.replicas = 2  (the declared replicas (1 when unset); 0 when the environment is closed)
          <- replicas  2  environments/production.yaml:13  apps.hello.web.replicas  (override)
    --- stderr
    "
    );
    insta::assert_snapshot!(
        kiln(
            &root,
            &[
                "explain",
                "staging/hello",
                "--field",
                "spec.template.spec.containers[name=hello].image"
            ],
            &[]
        ),
        @r"
    exit 0
    --- stdout
    staging/hello  spec.template.spec.containers[name=hello].image

    Deployment staging/hello  (k8s/overlays/staging/hello/deployment.yaml)
      spec.template.spec.containers[name=hello].image = ghcr.io/example/hello:1.1.0-rc.1
        written by templates/web/deployment.yaml.j2:49
          49 | image: {{ app.image_ref | tojson }}
        app.image_ref = ghcr.io/example/hello:1.1.0-rc.1  (registry/image:tag (the image is joined to kiln.yaml's registry unless it contains a '/'))
          <- registry  ghcr.io/example  kiln.yaml:7                   registry
          <- image     hello            kiln.yaml:39                  apps.hello.components.web.image  (app default)
          <- tag       1.1.0-rc.1       environments/staging.yaml:13  apps.hello.web.tag               (override)
    --- stderr
    "
    );
    // A macro call: only the argument with the rendered value; a literal: the template line.
    insta::assert_snapshot!(
        kiln(
            &root,
            &[
                "explain",
                "production/hello",
                "--field",
                "spec.template.spec.containers[name=hello].livenessProbe.periodSeconds"
            ],
            &[]
        ),
        @r#"
    exit 0
    --- stdout
    production/hello  spec.template.spec.containers[name=hello].livenessProbe.periodSeconds

    Deployment production/hello  (k8s/apps/hello/deployment.yaml)
      spec.template.spec.containers[name=hello].livenessProbe.periodSeconds = 20
        written by templates/web/deployment.yaml.j2:63
          63 | {{ k8s.probe(app.probes.liveness) | indent(12) }}
        app.probes.liveness = {"handler":"http","path":"/healthz","port":8080,"headers":[],"initial_delay":10,"period":20,"timeout":1,"failure_threshold":3}
          <- health.liveness.period  20  kiln.yaml:27  kinds.web.defaults.health.liveness.period  (kind default)
    --- stderr
    "#
    );
    insta::assert_snapshot!(
        kiln(&root, &["explain", "production", "--field", "spec.rules[0].http.paths[0].pathType"], &[]),
        @r"
    exit 0
    --- stdout
    production  spec.rules[0].http.paths[0].pathType

    Ingress production/hello  (k8s/apps/hello/ingress.yaml)
      spec.rules[0].http.paths[0].pathType = Prefix
        written by templates/web/ingress.yaml.j2:31
          31 | pathType: Prefix
        (written literally in the template)
    --- stderr
    "
    );

    let (code, stdout, stderr) = run(
        &root,
        &[
            "explain",
            "production/hello",
            "--field",
            "spec.replicas",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["explain"], "field");
    let hit = &json["hits"][0];
    assert_eq!(hit["kind"], "Deployment");
    assert_eq!(hit["file"], "apps/hello/deployment.yaml");
    assert_eq!(hit["value"], 2);
    assert_eq!(hit["template"]["file"], "templates/web/deployment.yaml.j2");
    assert_eq!(hit["template"]["line"], 10);
    assert_eq!(hit["template"]["expression"], "app.replicas");
    let from = &hit["references"][0]["from"][0];
    assert_eq!(from["origin"]["file"], "environments/production.yaml");
    assert_eq!(from["origin"]["key"], "apps.hello.web.replicas");
    assert_eq!(from["origin"]["line"], 13);
    assert_eq!(from["origin"]["layer"], "override");
    let production = fs::read_to_string(root.join("environments/production.yaml")).unwrap();
    assert_eq!(production.lines().nth(12).unwrap().trim(), "replicas: 2");
}

#[test]
fn explain_an_app_and_an_environment_with_provenance() {
    let (_tmp, root) = scaffold();
    insta::assert_snapshot!(kiln(&root, &["explain", "production/hello"], &[]));
    insta::assert_snapshot!(kiln(&root, &["explain", "staging"], &[]), @r"
    exit 0
    --- stdout
    environment staging  (environments/staging.yaml)
      dir        overlays/staging  environments/staging.yaml:3  dir
      namespace  staging           environments/staging.yaml:4  namespace
      channel    rc                environments/staging.yaml:5  channel
      state      open              (not set: kiln's default)
    bundles
      namespace  -> overlays/staging  namespace staging  environments/staging.yaml:9  bundles[0]
    apps
      hello  web  namespace staging  replicas 1  ghcr.io/example/hello:1.1.0-rc.1
    (kiln explain staging/APP shows an app's settings and where each came from)
    --- stderr
    ");
    let (code, stdout, _) = run(
        &root,
        &["explain", "production/hello", "--format", "json"],
        &[],
    );
    assert_eq!(code, 0);
    let json: Value = serde_json::from_str(&stdout).unwrap();
    let settings = json["components"][0]["settings"].as_array().unwrap();
    let tag = settings.iter().find(|s| s["name"] == "tag").unwrap();
    assert_eq!(
        tag["origin"],
        serde_json::json!({"file": "environments/production.yaml", "key": "apps.hello.web.tag", "line": 12, "layer": "override"})
    );
    let port = settings.iter().find(|s| s["name"] == "port").unwrap();
    assert_eq!(port["origin"]["layer"], "kind_default");

    insta::assert_snapshot!(kiln(&root, &["explain", "production/nope"], &[]), @r"
    exit 2
    --- stdout
    --- stderr
    error: environment `production` has no app `nope` (apps: hello)
    ");
    insta::assert_snapshot!(kiln(&root, &["explain", "qa"], &[]), @r"
    exit 2
    --- stdout
    --- stderr
    error: no environment `qa` (environments: production, staging)
    ");
    insta::assert_snapshot!(kiln(&root, &["explain", "production/hello", "--field", "spec.replica"], &[]), @r"
    exit 2
    --- stdout
    --- stderr
    error: no object of `hello` in production has the field `spec.replica`; similar: spec.replicas
    ");
}

/// Keys with dots and slashes (annotations, label-like value keys) are quoted in paths and
/// show their value, in settings and in `--field` (issue 17, point 19; they showed `null`).
#[test]
fn explain_shows_keys_with_dots_and_slashes() {
    let (_tmp, root) = scaffold();
    let production = root.join("environments/production.yaml");
    let text = fs::read_to_string(&production).unwrap();
    let text = text.replace(
        "namespace: production\n",
        "namespace: production\nvalues:\n  team.example.com/owner: shop\n",
    );
    let text = text.replace(
        "      replicas: 2\n",
        "      replicas: 2\n      annotations:\n        sidecar.istio.io/rewriteAppHTTPProbers: \"true\"\n",
    );
    fs::write(&production, text).unwrap();
    let deployment = root.join("templates/web/deployment.yaml.j2");
    let text = fs::read_to_string(&deployment).unwrap();
    let text = text.replacen(
        "        {{ k8s.labels(app.name, platform.name) | indent(8) }}\n    spec:\n",
        "        {{ k8s.labels(app.name, platform.name) | indent(8) }}\n{% if app.annotations %}\n      annotations:\n        sidecar.istio.io/rewriteAppHTTPProbers: {{ app.annotations[\"sidecar.istio.io/rewriteAppHTTPProbers\"] | tojson }}\n        owner: {{ env.values[\"team.example.com/owner\"] | tojson }}\n{% endif %}\n    spec:\n",
        1,
    );
    fs::write(&deployment, text).unwrap();
    let (code, stdout, stderr) = run(&root, &["explain", "production"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.contains("team.example.com/owner"))
        .unwrap_or_else(|| panic!("{stdout}"));
    insta::assert_snapshot!(line.trim(), @r#"values["team.example.com/owner"]  shop        environments/production.yaml:5  values["team.example.com/owner"]"#);
    let (code, stdout, stderr) = run(&root, &["explain", "production/hello"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.contains("rewriteAppHTTPProbers"))
        .unwrap_or_else(|| panic!("{stdout}"));
    insta::assert_snapshot!(line.trim(), @r#"annotations["sidecar.istio.io/rewriteAppHTTPProbers"]  true                   environments/production.yaml:17  apps.hello.web.annotations["sidecar.istio.io/rewriteAppHTTPProbers"]  (override)"#);
    insta::assert_snapshot!(
        kiln(
            &root,
            &[
                "explain",
                "production/hello",
                "--field",
                r#"spec.template.metadata.annotations["sidecar.istio.io/rewriteAppHTTPProbers"]"#
            ],
            &[]
        ),
        @r#"
    exit 0
    --- stdout
    production/hello  spec.template.metadata.annotations["sidecar.istio.io/rewriteAppHTTPProbers"]

    Deployment production/hello  (k8s/apps/hello/deployment.yaml)
      spec.template.metadata.annotations["sidecar.istio.io/rewriteAppHTTPProbers"] = true
        written by templates/web/deployment.yaml.j2:27
          27 | sidecar.istio.io/rewriteAppHTTPProbers: {{ app.annotations["sidecar.istio.io/rewriteAppHTTPProbers"] | tojson }}
        app.annotations["sidecar.istio.io/rewriteAppHTTPProbers"] = true
          <- annotations["sidecar.istio.io/rewriteAppHTTPProbers"]  true  environments/production.yaml:17  apps.hello.web.annotations["sidecar.istio.io/rewriteAppHTTPProbers"]  (override)
    --- stderr
    "#
    );
    insta::assert_snapshot!(
        kiln(
            &root,
            &[
                "explain",
                "production/hello",
                "--field",
                "spec.template.metadata.annotations.owner"
            ],
            &[]
        ),
        @r#"
    exit 0
    --- stdout
    production/hello  spec.template.metadata.annotations.owner

    Deployment production/hello  (k8s/apps/hello/deployment.yaml)
      spec.template.metadata.annotations.owner = shop
        written by templates/web/deployment.yaml.j2:28
          28 | owner: {{ env.values["team.example.com/owner"] | tojson }}
        env.values["team.example.com/owner"] = shop
          <- values["team.example.com/owner"]  shop  environments/production.yaml:5  values["team.example.com/owner"]
    --- stderr
    "#
    );
}

#[test]
fn errors_show_the_source_line_with_a_caret() {
    let (_tmp, root) = scaffold();
    let production = root.join("environments/production.yaml");
    let text = fs::read_to_string(&production).unwrap();
    fs::write(&production, text.replace("replicas: 2", "replicas: many")).unwrap();
    insta::assert_snapshot!(kiln(&root, &["envs"], &[]), @r#"
    exit 2
    --- stdout
    --- stderr
    error: environments/production.yaml:13:7 (key `apps.hello.web.replicas`): invalid type: string "many", expected u32
      --> environments/production.yaml:13:7
       |
    13 |       replicas: many
       |       ^^^^^^^^
    "#);
    // Colour on stderr only when asked (or on a terminal), never with NO_COLOR.
    let (_, _, forced) = run(&root, &["--color", "always", "envs"], &[]);
    assert!(forced.contains("\x1b[1;31merror\x1b[0m"), "{forced}");
    let (_, _, plain) = run(&root, &["envs"], &[("NO_COLOR", "1")]);
    assert!(!plain.contains('\x1b'), "{plain}");
}

#[test]
fn quiet_prints_only_results_and_verbose_lists_files() {
    let (_tmp, root) = scaffold();
    insta::assert_snapshot!(kiln(&root, &["--quiet", "check"], &[]).lines().next().unwrap(), @"exit 1");
    let (code, stdout, _) = run(&root, &["render", "--verbose"], &[]);
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with("+ k8s/apps/hello/deployment.yaml\n"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("k8s: 18 added, 0 changed, 0 removed, 0 unchanged\n"),
        "{stdout}"
    );
    insta::assert_snapshot!(kiln(&root, &["-q", "render"], &[]), @r"
    exit 0
    --- stdout
    --- stderr
    ");
    insta::assert_snapshot!(kiln(&root, &["check", "-q"], &[]), @r"
    exit 0
    --- stdout
    --- stderr
    ");
    let tmp = tempfile::tempdir().unwrap();
    insta::assert_snapshot!(kiln(tmp.path(), &["init", "-q", "x"], &[]), @r"
    exit 0
    --- stdout
    --- stderr
    ");
    let (code, _, stderr) = run(&root, &["-q", "-v", "check"], &[]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    let tmp = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let (code, stdout, stderr) = run(tmp.path(), &["completions", shell], &[]);
        assert_eq!(code, 0, "{shell}: {stderr}");
        for word in ["explain", "envs", "init", "completions", "root", "quiet"] {
            assert!(stdout.contains(word), "{shell}: no `{word}` in\n{stdout}");
        }
    }
    let (code, _, stderr) = run(tmp.path(), &["completions", "tcsh"], &[]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn every_command_has_an_example_in_its_help() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, help, _) = run(tmp.path(), &["--help"], &[]);
    assert_eq!(code, 0);
    assert!(
        help.contains("Exit codes: 0 success, 1 the check found something"),
        "{help}"
    );
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // A command's line starts with two spaces; wrapped descriptions are indented deeper.
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 9, "{help}");
    for command in commands {
        let (code, text, stderr) = run(tmp.path(), &[command, "--help"], &[]);
        assert_eq!(code, 0, "{command}: {stderr}");
        // Help is wrapped to the terminal's width: compare with whitespace collapsed.
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat.contains("Example: kiln"),
            "`kiln {command} --help` has no example:\n{text}"
        );
    }
}

#[test]
fn output_is_plain_unless_asked_and_never_with_no_color() {
    let (_tmp, root) = scaffold();
    let forced = kiln(&root, &["--color", "always", "envs"], &[]);
    assert!(forced.contains("\x1b[1m"), "{forced}");
    let forced = kiln(
        &root,
        &["--color", "always", "explain", "production/hello"],
        &[],
    );
    assert!(forced.contains("\x1b[1m"), "{forced}");
    // Piped (not a terminal): plain, with or without NO_COLOR; `never` wins anyway.
    for args in [&["envs"][..], &["explain", "production/hello"][..]] {
        assert!(!kiln(&root, args, &[]).contains('\x1b'));
        assert!(!kiln(&root, args, &[("NO_COLOR", "1")]).contains('\x1b'));
        let mut never = vec!["--color", "never"];
        never.extend_from_slice(args);
        assert!(!kiln(&root, &never, &[]).contains('\x1b'));
    }
}

// ---------------------------------------------------------------------------------------------
// kustomize builds the scaffold

#[path = "../../kiln/tests/support/kubectl.rs"]
mod kubectl;
use kubectl::{key, Key};

#[test]
fn kustomize_builds_the_scaffold_into_exactly_the_rendered_objects() {
    let Some(kubectl) = kubectl::kubectl_or_skip("the scaffold's kustomize build") else {
        return;
    };
    let (_tmp, root) = scaffold();
    let platform = kiln::Platform::load(&root).unwrap();
    let rendered = kiln::render(&platform).unwrap();
    kiln::write_tree(&platform.output_root(), &rendered, &Default::default()).unwrap();
    // Production is the root; staging is a standalone overlay.
    for (dir, env) in [(".", "production"), ("overlays/staging", "staging")] {
        let output = Command::new(&kubectl)
            .arg("kustomize")
            .arg(platform.output_root().join(dir))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "kubectl kustomize {dir} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8(output.stdout).unwrap();
        let built: BTreeMap<Key, Value> =
            kiln::yaml::parse_documents(&text, Path::new("kustomize output"))
                .unwrap()
                .iter()
                .map(|d| (key(&d.to_json()), d.to_json()))
                .collect();
        let want: BTreeMap<Key, Value> = rendered
            .objects_of(env)
            .map(|(_, o)| (key(o), o.clone()))
            .collect();
        assert_eq!(built, want, "{dir}");
    }
}
