//! Per-environment patches (`patches:` in an environment file) on the `mini` fixture: each case
//! adds patches to `environments/prod.yaml` and snapshots the patched files, or the error
//! (`snapshots/patches__<case>.snap` at the repository root). Then what the rest of kiln sees:
//! only the selected object of the one environment changes, the bytes are those a template
//! would have produced, `kiln diff` and `kiln explain --field` show the patch, lint judges the
//! patched object, and a render is deterministic.

mod common;

use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// (case, the `patches:` block, the files of the prod environment to show).
const CASES: &[(&str, &str, &[&str])] = &[
    (
        "merge_env_var_by_name",
        r#"
  - select: { kind: Deployment, name: shop }
    merge:
      spec: { template: { spec: { containers: [ { name: shop, env: [ { name: A, value: "1" } ] } ] } } }
  # The second patch merges into the container and its env by name: A changes, B is added.
  - select: { app: shop, kind: Deployment }
    merge:
      spec: { template: { spec: { containers: [ { name: shop, env: [ { name: B, value: "2" }, { name: A, value: "3" } ] } ] } } }
"#,
        &["apps/shop/deployment.yaml"],
    ),
    (
        "merge_adds_a_container_and_null_deletes",
        r#"
  - select: { kind: Deployment, name: shop }
    merge:
      spec:
        template:
          spec:
            affinity: null
            containers:
              - { name: proxy, image: "reg.example.dev/proxy:1.2.3", ports: [ { containerPort: 9090 } ] }
              - { name: shop, ports: [ { containerPort: 8080, name: http } ] }
"#,
        &["apps/shop/deployment.yaml"],
    ),
    (
        "json_add_replace_remove_test",
        r#"
  - select: { kind: Deployment, name: "s*" }
    json:
      - { op: test, path: /spec/replicas, value: 2 }
      - { op: replace, path: /spec/replicas, value: 3 }
      - { op: add, path: /spec/template/spec/containers/0/args, value: [serve] }
      - { op: add, path: /spec/template/spec/containers/0/args/-, value: --verbose }
      - { op: remove, path: /spec/template/spec/affinity }
      - { op: add, path: /metadata/labels, value: { tier: web } }
"#,
        &["apps/shop/deployment.yaml"],
    ),
    (
        "selects_by_label_after_an_earlier_patch",
        r#"
  - select: { kind: Deployment, name: blog }
    merge: { metadata: { labels: { tier: edge } } }
  - select: { labels: { tier: edge } }
    json: [ { op: replace, path: /spec/replicas, value: 4 } ]
"#,
        &["apps/blog/deployment.yaml"],
    ),
    (
        "error_selects_nothing",
        r#"
  - select: { kind: Deployment, name: shopp }
    merge: { spec: { paused: true } }
"#,
        &[],
    ),
    (
        "error_json_path_does_not_exist",
        r#"
  - select: { kind: Deployment, name: shop }
    json:
      - { op: test, path: /spec/replicas, value: 2 }
      - { op: add, path: /spec/template/spec/securityContext/runAsUser, value: 1000 }
"#,
        &[],
    ),
    (
        "error_json_test_fails",
        r#"
  - select: { kind: Deployment, name: shop }
    json: [ { op: test, path: /spec/replicas, value: 5 } ]
"#,
        &[],
    ),
    (
        "error_kind_changes",
        r#"
  - select: { kind: Deployment, name: shop }
    merge: { kind: StatefulSet }
"#,
        &[],
    ),
    (
        "error_name_changes",
        r#"
  - select: { kind: Deployment, name: shop }
    json: [ { op: replace, path: /metadata/name, value: store } ]
"#,
        &[],
    ),
    (
        "error_unknown_op",
        r#"
  - select: { kind: Deployment, name: shop }
    json: [ { op: merge, path: /spec, value: {} } ]
"#,
        &[],
    ),
];

fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(common::repo_root().join("snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings
}

/// A copy of `mini` whose prod environment ends with `patches:` and `block` (none if empty).
struct Fixture {
    _tmp: TempDir,
    root: PathBuf,
}

fn fixture(block: &str) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("mini");
    common::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mini"),
        &root,
    );
    if !block.is_empty() {
        let env = root.join("environments/prod.yaml");
        let mut text = std::fs::read_to_string(&env).unwrap();
        text.push_str("patches:");
        text.push_str(block);
        std::fs::write(env, text).unwrap();
    }
    Fixture { _tmp: tmp, root }
}

fn render(block: &str) -> kiln::Result<kiln::Rendered> {
    let f = fixture(block);
    kiln::render(&kiln::Platform::load(&f.root)?)
}

#[test]
fn each_case_patches_or_fails_with_the_patch_line() {
    for (case, block, show) in CASES {
        let text = match render(block) {
            Ok(rendered) => show
                .iter()
                .map(|path| format!("--- {path}\n{}", rendered.files[*path].text))
                .collect::<String>(),
            Err(err) => format!("error ({:?}): {err}\n", err.kind()),
        };
        let failing = case.starts_with("error_");
        assert_eq!(text.starts_with("error"), failing, "{case}: {text}");
        snapshot_settings().bind(|| {
            insta::assert_snapshot!(format!("patches__{case}"), format!("{block}\n{text}"));
        });
    }
}

/// A patch changes the one object it selects, in the one environment that has it; every other
/// file keeps its bytes.
#[test]
fn a_patch_changes_one_object_in_one_environment() {
    let plain = render("").unwrap();
    let patched = render(
        "\n  - select: { kind: Deployment, name: shop }\n    merge: { spec: { template: { spec: { nodeSelector: { disk: ssd } } } } }\n",
    )
    .unwrap();
    let changed: Vec<&str> = plain
        .files
        .iter()
        .filter(|(path, file)| patched.files[*path].text != file.text)
        .map(|(path, _)| path.as_str())
        .collect();
    assert_eq!(changed, ["apps/shop/deployment.yaml"]);
    assert_eq!(plain.files.len(), patched.files.len());
    // preview also has a shop Deployment; it is untouched.
    assert!(plain
        .files
        .contains_key("overlays/preview/shop/deployment.yaml"));
}

/// A patched file is emitted exactly as a rendered one: a patch that sets a field to the value
/// it has changes no byte, and two renders give the same bytes.
#[test]
fn patched_files_are_emitted_as_rendered_ones_and_deterministically() {
    let plain = render("").unwrap();
    let same = render(
        "\n  - select: { kind: Deployment }\n    merge: { spec: { replicas: 2 } }\n  - select: { kind: Deployment, name: blog }\n    json: [ { op: replace, path: /spec/replicas, value: 1 } ]\n",
    )
    .unwrap();
    assert_eq!(
        plain.files["apps/shop/deployment.yaml"].text,
        same.files["apps/shop/deployment.yaml"].text
    );
    let block = CASES[2].1;
    let (a, b) = (render(block).unwrap(), render(block).unwrap());
    let texts = |r: &kiln::Rendered| -> Vec<(String, String)> {
        r.files
            .iter()
            .map(|(p, f)| (p.clone(), f.text.clone()))
            .collect()
    };
    assert_eq!(texts(&a), texts(&b));
}

const NODE_PIN: &str = "\n  - select: { kind: Deployment, name: shop }\n    merge:\n      spec:\n        template:\n          spec:\n            nodeSelector: { kubernetes.io/hostname: node-2 }\n";

#[test]
fn kiln_diff_shows_the_patched_field() {
    let base = render("").unwrap();
    let head = render(NODE_PIN).unwrap();
    let diff = kiln::diff("base", &base, "head", &head);
    let text = kiln::present::diff_text(&diff, false);
    // An added subtree reads as one YAML block under its parent path.
    assert!(
        text.contains("+ spec.template.spec.nodeSelector:\n    +   kubernetes.io/hostname: node-2"),
        "{text}"
    );
    assert!(text.contains("preview: no changes"), "{text}");
    assert!(text.contains("prod: 1 changed"), "{text}");
}

#[test]
fn kiln_explain_names_the_patch_line() {
    let f = fixture(NODE_PIN);
    let sources = kiln::load(&f.root).unwrap();
    let platform = kiln::resolve(&sources).unwrap();
    let query = kiln::Query::parse("prod/shop", Some("spec.template.spec"));
    let explanation = kiln::explain(&platform, &sources, &query).unwrap();
    let text = kiln::present::explain_text(&explanation, "k8s", false);
    // The patched leaf names the patch; the template's own leaves still name the template.
    assert!(
        text.contains("set by a patch: environments/prod.yaml:"),
        "{text}"
    );
    snapshot_settings().bind(|| insta::assert_snapshot!("patches__explain_field", text));
}

#[test]
fn lint_sees_a_plaintext_secret_a_patch_adds() {
    let f = fixture(
        "\n  - select: { kind: Deployment, name: blog }\n    merge:\n      spec: { template: { spec: { containers: [ { name: blog, env: [ { name: DB_PASSWORD, value: hunter2 } ] } ] } } }\n",
    );
    let platform = kiln::Platform::load(&f.root).unwrap();
    let report = kiln::lint_platform(&platform).unwrap();
    let text = kiln::present::lint_text(&report, false);
    assert!(text.contains("plaintext-secret"), "{text}");
    assert!(text.contains("DB_PASSWORD"), "{text}");
}
