//! Golden tests of `kiln set-image`, `kiln promote` and `kiln release` (seed 004): whole stdout
//! and exit code per scenario on a small platform the test writes (test on alpha with one shared
//! tag, production on stable, an upstream `cache` image pinned), inside a git repository for the
//! version check. Errors are checked by exit code and message, not by their framing.

#[path = "../../kiln/tests/common.rs"]
mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

const FILES: &[(&str, &str)] = &[
    (
        "kiln.yaml",
        "name: shelf
output: k8s
registry: reg.example.dev/shelf
release:
  version_file: package.json
kinds:
  web:
    defaults:
      port: 8080
  cache:
    defaults:
      image: docker.io/library/valkey
      tag: 8.0.1-alpine
      channel: pinned
apps:
  shop:
    components:
      web: { image: shop }
  blog:
    components:
      web: { image: blog }
  kv:
    components:
      cache: {}
tags:
  strip_v: true   # seed 004: CI publishes tags without the v
lint:
  external:
    namespaces: [shelf, shelf-test]
  exceptions:
    - { rule: resources, reason: 'the fixture exercises tags, not policy' }
    - { rule: service-account-token, reason: 'the fixture exercises tags, not policy' }
",
    ),
    ("package.json", "{\n  \"version\": \"0.5.0\"\n}\n"),
    (
        "environments/test.yaml",
        "# Test: every CI build (alpha channel).
dir: test
namespace: shelf-test
channel: alpha
place:
  web: { dir: \"{app}\" }
  cache: { dir: \"{app}\" }
defaults:
  web: { tag: 0.5.0-alpha.123.1 }  # set by CI
apps:
  shop:
    web: {}
  blog:
    web: {}
  kv:
    cache: {}
",
    ),
    (
        "environments/production.yaml",
        "# Production: promoted from test by a reviewed pull request.
dir: production
namespace: shelf
channel: stable
place:
  web: { dir: \"{app}\" }
  cache: { dir: \"{app}\" }
defaults:
  web:
    tag: 0.4.2  # promoted
apps:
  shop:
    web: {}
  blog:
    web: {}
  kv:
    cache: {}
",
    ),
    (
        "templates/web/deployment.yaml.j2",
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ app.name }}
  namespace: {{ app.namespace }}
spec:
  selector:
    matchLabels:
      app: {{ app.name }}
  template:
    metadata:
      labels:
        app: {{ app.name }}
    spec:
      containers:
        - name: {{ app.name }}
          image: {{ app.image_ref }}
          env:
            - name: APP_VERSION
              value: {{ app.tag | string | tojson }}
",
    ),
];

fn fixture() -> (TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shelf");
    for (path, text) in FILES {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    fs::create_dir_all(root.join("templates/cache")).unwrap();
    fs::write(root.join("templates/cache/deployment.yaml.j2"), FILES[4].1).unwrap();
    (tmp, root)
}

/// Runs kiln in `root` and returns "exit N" plus stdout and stderr.
fn kiln(root: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .current_dir(root)
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Exit code and stdout of a run that must not print errors.
fn ok(root: &Path, args: &[&str]) -> String {
    let (code, stdout, stderr) = kiln(root, args);
    assert_eq!(stderr, "", "kiln {args:?}");
    format!("exit {code}\n{stdout}")
}

/// The stderr of a run that must fail with exit 2.
fn fails(root: &Path, args: &[&str]) -> String {
    let (code, stdout, stderr) = kiln(root, args);
    assert_eq!((code, stdout.as_str()), (2, ""), "kiln {args:?}: {stderr}");
    stderr
}

#[test]
fn set_image_writes_the_tag_keeps_comments_and_renders() {
    let (_tmp, root) = fixture();
    insta::assert_snapshot!(ok(&root, &["set-image", "--env", "test", "v0.5.0-alpha.124.1"]), @r"
    exit 0
    environments/test.yaml:9 defaults.web.tag: 0.5.0-alpha.123.1 -> 0.5.0-alpha.124.1 (blog/web, shop/web)
    skipped kv/cache: `channel: pinned` (an upstream image)
    k8s: 15 added, 0 changed, 0 removed, 0 unchanged
    ");
    let env = fs::read_to_string(root.join("environments/test.yaml")).unwrap();
    assert!(
        env.contains("  web: { tag: 0.5.0-alpha.124.1 }  # set by CI\n"),
        "{env}"
    );
    let deployment = fs::read_to_string(root.join("k8s/test/shop/deployment.yaml")).unwrap();
    assert!(deployment.contains("image: reg.example.dev/shelf/shop:0.5.0-alpha.124.1\n"));
    // Again: nothing to change.
    insta::assert_snapshot!(ok(&root, &["set-image", "--env", "test", "0.5.0-alpha.124.1"]), @r"
    exit 0
    environments/test.yaml:9 defaults.web.tag: already 0.5.0-alpha.124.1 (blog/web, shop/web)
    skipped kv/cache: `channel: pinned` (an upstream image)
    k8s: 0 added, 0 changed, 0 removed, 15 unchanged
    ");

    // What CI can no longer do: a mutable or off-channel tag.
    // The culprit is the argument: no file caret (the environment's `channel:` line is only
    // named, as where the rule comes from).
    let err = fails(&root, &["set-image", "--env", "production", "latest"]);
    insta::assert_snapshot!(err, @"error: the tag given on the command line breaks the `stable` rule of environment `production` (`channel: stable` at environments/production.yaml:4): `latest` is mutable: it moves with every push; it takes a stable version X.Y.Z (0.5.0)");
    let err = fails(&root, &["set-image", "--env", "test", "0.5.0+3f9c2ab"]);
    assert!(
        err.contains("carries SemVer build metadata (`+3f9c2ab`), which image tags cannot hold"),
        "{err}"
    );
    let err = fails(
        &root,
        &[
            "set-image",
            "--env",
            "test",
            "--app",
            "shop",
            "0.5.0-alpha.125.1",
        ],
    );
    assert!(
        err.contains("`defaults.web.tag` sets the tag of blog too"),
        "{err}"
    );
    assert!(fs::read_to_string(root.join("environments/test.yaml"))
        .unwrap()
        .contains("0.5.0-alpha.124.1"));
}

#[test]
fn promote_prints_the_change_and_the_rendered_diff() {
    let (_tmp, root) = fixture();
    ok(&root, &["set-image", "--env", "test", "0.5.1-alpha.130.2"]);
    insta::assert_snapshot!(ok(
        &root,
        &[
            "promote",
            "--from",
            "test",
            "--to",
            "production",
            "--format",
            "markdown",
            "--dry-run"
        ]
    ));
    assert!(
        fs::read_to_string(root.join("environments/production.yaml"))
            .unwrap()
            .contains("tag: 0.4.2  # promoted")
    );
    insta::assert_snapshot!(ok(
        &root,
        &["promote", "--from", "test", "--to", "production"]
    ));
    assert!(
        fs::read_to_string(root.join("environments/production.yaml"))
            .unwrap()
            .contains("    tag: 0.5.1  # promoted\n")
    );
    insta::assert_snapshot!(ok(&root, &["promote", "--from", "test", "--to", "production"]), @r"
    exit 0
    promote test -> production
    environments/production.yaml:10 defaults.web.tag: already 0.5.1 (blog/web, shop/web)
    skipped kv/cache: `channel: pinned` (an upstream image)
    k8s: 0 added, 0 changed, 0 removed, 15 unchanged
    ");

    // Refusals: a downgrade, an alpha target, no valid source tag.
    ok(&root, &["set-image", "--env", "test", "0.5.0-alpha.131.1"]);
    let err = fails(&root, &["promote", "--from", "test", "--to", "production"]);
    assert!(
        err.contains("promoting would downgrade the target from 0.5.1 to 0.5.0"),
        "{err}"
    );
    let err = fails(&root, &["promote", "--from", "production", "--to", "test"]);
    assert!(
        err.contains("an alpha environment takes its tags from CI builds"),
        "{err}"
    );
}

#[test]
fn release_tag_and_version_check_on_a_git_repository() {
    let (_tmp, root) = fixture();
    insta::assert_snapshot!(ok(&root, &["release", "tag", "--run", "123", "--attempt", "1"]), @r"
    exit 0
    0.5.0-alpha.123.1
    ");
    common::git(&root, &["init", "-q", "-b", "main"]);
    common::git(&root, &["add", "-A"]);
    common::git(&root, &["commit", "-q", "-m", "0.5.0"]);
    let check = |version: &str| {
        fs::write(
            root.join("package.json"),
            format!("{{\n  \"version\": \"{version}\"\n}}\n"),
        )
        .unwrap();
        let (code, stdout, stderr) = kiln(&root, &["release", "check-version", "--base", "HEAD"]);
        assert_eq!(stderr, "");
        format!("exit {code}\n{stdout}")
    };
    insta::assert_snapshot!(check("0.5.0"), @r"
    exit 0
    package.json: 0.5.0 -> 0.5.0: unchanged: allowed
    ");
    insta::assert_snapshot!(check("0.6.0"), @r"
    exit 0
    package.json: 0.5.0 -> 0.6.0: minor increase: allowed
    ");
    insta::assert_snapshot!(check("0.7.0"), @r"
    exit 1
    package.json: 0.5.0 -> 0.7.0: rejected: skipped minor versions: after 0.5.0 the next minor is 0.6.0. allowed after 0.5.0: 0.5.0 (unchanged), 0.5.1, 0.6.0 or 1.0.0
    ");
    insta::assert_snapshot!(check("0.6.0-alpha.1"), @r"
    exit 1
    package.json: 0.5.0 -> 0.6.0-alpha.1: rejected: `0.6.0-alpha.1` is a pre-release (`-alpha.1`): the platform version must be stable SemVer; the release workflow adds the channel suffix (alpha, rc). allowed after 0.5.0: 0.5.0 (unchanged), 0.5.1, 0.6.0 or 1.0.0
    ");
    // A pre-release platform version has no alpha tag.
    let err = fails(&root, &["release", "tag", "--run", "1", "--attempt", "1"]);
    assert!(
        err.contains("the platform version `0.6.0-alpha.1` must be stable SemVer"),
        "{err}"
    );
    let err = fails(
        &root,
        &["release", "check-version", "--base", "no-such-rev"],
    );
    assert!(err.contains("`no-such-rev` is not a commit"), "{err}");
}
