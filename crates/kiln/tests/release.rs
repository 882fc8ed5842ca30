//! Release channels (seed 004): tag rules per channel, the version progression rules with every
//! example of the seed, alpha tags, promotion, `set-image` edits that keep comments, and an end
//! to end run on a temporary git repository the test builds.
//!
//! The platform here (`shelf`) is written by the test: test on alpha (one tag shared through
//! `defaults.web.tag`), staging on rc (a tag per app), production on stable, preview on sha,
//! and a `cache` kind on an upstream image with `channel: pinned`.

mod common;

use std::fs;
use std::path::PathBuf;

use kiln::{tag::TagRule, Version};
use tempfile::TempDir;

const KILN_YAML: &str = "\
# A release-channel platform for the tests.
name: shelf
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
      channel: pinned   # an upstream image
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
# Seed 004's CI publishes SemVer tags without the `v`.
tags:
  strip_v: true
";

const TEST_YAML: &str = "\
# Test: every CI build lands here (alpha channel).
dir: test
namespace: shelf-test
channel: alpha
place:
  web: { dir: \"{app}\" }
  cache: { dir: \"{app}\" }
defaults:
  # One alpha tag for every web image of the build.
  web: { tag: 0.5.0-alpha.123.1 }   # written by set-image
apps:
  shop:
    web: {}
  blog:
    web:
      replicas: 1
  kv:
    cache: {}
";

const STAGING_YAML: &str = "\
dir: staging
namespace: shelf-staging
channel: rc
place:
  web: { dir: \"{app}\" }
apps:
  shop:
    web:
      tag: \"0.5.0-rc.1\"  # quoted on purpose
  blog:
    web: { tag: '0.5.0-rc.1' }
";

const PRODUCTION_YAML: &str = "\
# Production: promoted by hand from test.
dir: production
namespace: shelf
channel: stable
place:
  web: { dir: \"{app}\" }
  cache: { dir: \"{app}\" }
defaults:
  web:
    tag: 0.4.2
apps:
  shop:
    web: {}
  blog:
    web: {}
  kv:
    cache: {}
";

const PREVIEW_YAML: &str = "\
dir: preview
namespace: shelf-preview
channel: sha
place:
  web: { dir: \"{app}\" }
apps:
  shop:
    web: { tag: 1a2b3c4 }
";

const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ app.name }}
  namespace: {{ app.namespace }}
spec:
  replicas: {{ app.replicas }}
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
";

struct Shelf {
    _tmp: TempDir,
    root: PathBuf,
}

impl Shelf {
    fn new() -> Shelf {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("shelf");
        let files = [
            ("kiln.yaml", KILN_YAML),
            (
                "package.json",
                "{\n  \"name\": \"shelf\",\n  \"version\": \"0.5.0\"\n}\n",
            ),
            ("environments/test.yaml", TEST_YAML),
            ("environments/staging.yaml", STAGING_YAML),
            ("environments/production.yaml", PRODUCTION_YAML),
            ("environments/preview.yaml", PREVIEW_YAML),
            ("templates/web/deployment.yaml.j2", DEPLOYMENT),
            ("templates/cache/deployment.yaml.j2", DEPLOYMENT),
        ];
        for (path, text) in files {
            let path = root.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        Shelf { _tmp: tmp, root }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap()
    }

    fn edit(&self, rel: &str, from: &str, to: &str) {
        let text = self.read(rel);
        assert!(text.contains(from), "{rel} lacks {from:?}");
        fs::write(self.path(rel), text.replace(from, to)).unwrap();
    }

    fn sources(&self) -> kiln::Sources {
        kiln::load(&self.root).unwrap()
    }

    fn load_err(&self) -> String {
        kiln::Platform::load(&self.root).unwrap_err().to_string()
    }

    fn git(&self, args: &[&str]) {
        common::git(&self.root, args);
    }

    fn commit(&self, message: &str) {
        common::git_commit(&self.root, message);
    }
}

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

fn image(platform: &kiln::Platform, env: &str, app: &str) -> String {
    let env = platform.environment(env).unwrap();
    let c = env.components.iter().find(|c| c.app == app).unwrap();
    c.derived.image_ref.clone()
}

// --- seed 004: version progression -----------------------------------------------------------

/// Every example of seed 004's "Allowed progression" and "Rejected progression", with the
/// seed's verdict; a rejection names its rule and the next valid versions.
#[test]
fn seed_004_progression_examples() {
    use kiln::tag::Progression::*;
    let allowed = [
        // unchanged version for repeated test builds on the same release line
        ("1.5.2", "1.5.2", Unchanged),
        ("0.5.0", "0.5.0", Unchanged),
        // patch increase within the same major and minor version, for example 1.5.2 to 1.5.3
        ("1.5.2", "1.5.3", Patch),
        // next minor version only with patch reset to 0, for example 1.5.2 to 1.6.0
        ("1.5.2", "1.6.0", Minor),
        // next major version only with minor and patch reset to 0, for example 1.5.2 to 2.0.0
        ("1.5.2", "2.0.0", Major),
    ];
    for (previous, current, expected) in allowed {
        assert_eq!(
            kiln::tag::check_progression(&v(previous), &v(current)),
            Ok(expected),
            "{previous} -> {current}"
        );
    }
    let next_after_152 = "allowed after 1.5.2: 1.5.2 (unchanged), 1.5.3, 1.6.0 or 2.0.0";
    let rejected = [
        // downgrades, for example 0.4.0 to 0.3.1
        ("0.4.0", "0.3.1", "downgrade from 0.4.0 to 0.3.1", "allowed after 0.4.0: 0.4.0 (unchanged), 0.4.1, 0.5.0 or 1.0.0"),
        // skipped minor versions, for example 1.5.2 to 1.7.0
        ("1.5.2", "1.7.0", "skipped minor versions: after 1.5.2 the next minor is 1.6.0", next_after_152),
        // minor versions with non-zero patch, for example 1.5.2 to 1.6.1
        ("1.5.2", "1.6.1", "a minor increase resets the patch to 0: 1.6.0, not 1.6.1", next_after_152),
        // skipped major versions or major versions with non-zero minor/patch
        ("1.5.2", "3.0.0", "skipped major versions: after 1.5.2 the next major is 2.0.0", next_after_152),
        ("1.5.2", "2.1.0", "a major increase resets minor and patch to 0: 2.0.0, not 2.1.0", next_after_152),
        ("1.5.2", "2.0.1", "a major increase resets minor and patch to 0: 2.0.0, not 2.0.1", next_after_152),
        // patch increase means the next patch
        ("1.5.2", "1.5.4", "skipped patch versions: after 1.5.2 the next patch is 1.5.3", next_after_152),
        // the root version must be stable SemVer without pre-release or build metadata
        ("0.5.0", "0.5.0-alpha.1", "`0.5.0-alpha.1` is a pre-release (`-alpha.1`): the platform version must be stable SemVer", "allowed after 0.5.0"),
        ("0.5.0", "0.6.0-rc.1", "is a pre-release", "0.5.0 (unchanged), 0.5.1, 0.6.0 or 1.0.0"),
        ("0.5.0", "0.5.1+abc", "`0.5.1+abc` carries build metadata (`+abc`), which image tags cannot hold", "allowed after 0.5.0"),
    ];
    for (previous, current, rule, next) in rejected {
        let why = kiln::tag::check_progression(&v(previous), &v(current))
            .expect_err(&format!("{previous} -> {current} must be rejected"));
        assert!(why.contains(rule), "{previous} -> {current}: {why}");
        assert!(why.contains(next), "{previous} -> {current}: {why}");
    }
}

#[test]
fn alpha_tags_come_from_the_stable_platform_version() {
    // Seed 004: "package version 0.5.0 can produce 0.5.0-alpha.123.1".
    assert_eq!(
        kiln::tag::alpha_tag(&v("0.5.0"), 123, 1).as_deref(),
        Ok("0.5.0-alpha.123.1")
    );
    let err = kiln::tag::alpha_tag(&v("0.5.0-rc.1"), 1, 1).unwrap_err();
    assert!(err.contains("must be stable SemVer"), "{err}");
}

// --- tag rules ---------------------------------------------------------------------------------

#[test]
fn tag_rules_per_channel() {
    use TagRule::*;
    // (rule, tag, Ok(deployed tag) or Err(part of the reason))
    let cases: &[(TagRule, &str, Result<&str, &str>)] = &[
        // sha: 7 to 40 lowercase hex digits
        (Sha, "3f9c2ab", Ok("3f9c2ab")),
        (
            Sha,
            "2b6a4e0c2f1d9c8e7a5b3d1f0e9c8b7a6d5e4f3c",
            Ok("2b6a4e0c2f1d9c8e7a5b3d1f0e9c8b7a6d5e4f3c"),
        ),
        (Sha, "3f9c2a", Err("is not a git commit SHA")),
        (
            Sha,
            "2b6a4e0c2f1d9c8e7a5b3d1f0e9c8b7a6d5e4f3c0",
            Err("is not a git commit SHA"),
        ),
        (Sha, "3F9C2AB", Err("upper-case hex digits")),
        (Sha, "git-3f9c2ab", Err("is not a git commit SHA")),
        (Sha, "0.5.0", Err("is not a git commit SHA")),
        // alpha: X.Y.Z-alpha.RUN.ATTEMPT or X.Y.Z-alpha.N, a leading v kept (the platform's
        // policy may strip it: `deployed_tag`)
        (Alpha, "0.5.0-alpha.123.1", Ok("0.5.0-alpha.123.1")),
        (Alpha, "0.5.0-alpha.1", Ok("0.5.0-alpha.1")),
        (Alpha, "v0.5.0-alpha.123.1", Ok("v0.5.0-alpha.123.1")),
        (
            Alpha,
            "0.5.0-alpha",
            Err("has the pre-release `alpha`, not an alpha pre-release"),
        ),
        (Alpha, "0.5.0-alpha.1.2.3", Err("not an alpha pre-release")),
        (Alpha, "0.5.0-alpha.x", Err("not an alpha pre-release")),
        (Alpha, "0.5.0-rc.1", Err("has the pre-release `rc.1`")),
        (
            Alpha,
            "0.5.0",
            Err("is a stable version, not an alpha pre-release"),
        ),
        (
            Alpha,
            "0.5.0-alpha.123.1+sha.3f9c2ab",
            Err("SemVer build metadata (`+sha.3f9c2ab`)"),
        ),
        (Alpha, "0.5.0-alpha.01", Err("is not a SemVer version")),
        (Alpha, "V0.5.0-alpha.1", Err("is not a SemVer version")),
        (Alpha, "3f9c2ab", Err("is not a SemVer version")),
        // rc: X.Y.Z-rc.N
        (Rc, "0.5.0-rc.1", Ok("0.5.0-rc.1")),
        (Rc, "v1.2.3-rc.12", Ok("v1.2.3-rc.12")),
        (Rc, "0.5.0-rc", Err("not a release candidate")),
        (Rc, "0.5.0-rc.1.1", Err("not a release candidate")),
        (Rc, "0.5.0-alpha.1.1", Err("not a release candidate")),
        (Rc, "0.5.0", Err("is a stable version")),
        // stable: X.Y.Z
        (Stable, "0.5.0", Ok("0.5.0")),
        (Stable, "v0.5.0", Ok("v0.5.0")),
        (Stable, "0.5", Err("is not a SemVer version")),
        (Stable, "0.5.0-rc.1", Err("not a stable version")),
        (Stable, "0.5.0+build.1", Err("build metadata")),
        (Stable, "01.5.0", Err("is not a SemVer version")),
        // pinned: an upstream version
        (Pinned, "7-alpine", Ok("7-alpine")),
        (Pinned, "2.17.2-pg16", Ok("2.17.2-pg16")),
        (Pinned, "v2.10.24", Ok("v2.10.24")),
        (
            Pinned,
            "2b6a4e0c2f1d9c8e7a5b3d1f0e9c8b7a6d5e4f3c",
            Ok("2b6a4e0c2f1d9c8e7a5b3d1f0e9c8b7a6d5e4f3c"),
        ),
        (Pinned, "alpine", Err("names no version")),
        (Pinned, "latest-alpine", Err("no digit")),
        (Pinned, "7-latest", Err("contains `latest`")),
        (Pinned, "7.0+1", Err("build metadata")),
    ];
    for (rule, tag, expected) in cases {
        match (rule.check(tag), expected) {
            (Ok(got), Ok(want)) => assert_eq!(&got, want, "{rule} {tag}"),
            (Err(why), Err(part)) => assert!(why.contains(part), "{rule} {tag}: {why}"),
            (got, want) => panic!("{rule} {tag}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn every_rule_rejects_missing_latest_branch_and_mutable_tags() {
    let rules = [
        TagRule::Sha,
        TagRule::Alpha,
        TagRule::Rc,
        TagRule::Stable,
        TagRule::Pinned,
    ];
    for rule in rules {
        for tag in [
            "", "latest", "LATEST", "main", "master", "staging", "test", "preview", "dev",
            "stable", "edge", "nightly", "release", "canary",
        ] {
            let why = rule
                .check(tag)
                .expect_err(&format!("{rule} must reject {tag:?}"));
            assert!(
                why.contains("empty") || why.contains("mutable"),
                "{rule} {tag:?}: {why}"
            );
        }
        for tag in ["a b", "-x1", ".1", "a/b", "1:2", &"1".repeat(129)] {
            let why = rule.check(tag).unwrap_err();
            assert!(why.contains("is not an image tag"), "{rule} {tag:?}: {why}");
        }
    }
    assert!(kiln::tag::MUTABLE_TAGS.contains(&"latest"));
}

// --- render: rules on the platform ------------------------------------------------------------

#[test]
fn the_shelf_platform_renders_with_v_stripped_and_pinned_upstream_tags() {
    let shelf = Shelf::new();
    shelf.edit("environments/production.yaml", "tag: 0.4.2", "tag: v0.4.2");
    let platform = kiln::Platform::load(&shelf.root).unwrap();
    assert_eq!(
        image(&platform, "production", "shop"),
        "reg.example.dev/shelf/shop:0.4.2"
    );
    assert_eq!(
        image(&platform, "production", "kv"),
        "docker.io/library/valkey:8.0.1-alpine"
    );
    let prod = platform.environment("production").unwrap();
    let rules: Vec<(String, TagRule)> = prod
        .components
        .iter()
        .map(|c| (c.app.clone(), c.tag_rule))
        .collect();
    assert_eq!(
        rules,
        [
            ("blog".into(), TagRule::Stable),
            ("kv".into(), TagRule::Pinned),
            ("shop".into(), TagRule::Stable)
        ]
    );
    // The rendered version (APP_VERSION) is the stripped tag.
    let rendered = kiln::render(&platform).unwrap();
    let text = &rendered.files["production/shop/deployment.yaml"].text;
    assert!(text.contains("value: \"0.4.2\""), "{text}");
}

/// Issue 17, point 3: a tag renders as written unless the platform's policy strips the `v`;
/// set-image writes the tag that renders.
#[test]
fn a_leading_v_is_kept_unless_the_platform_strips_it() {
    let shelf = Shelf::new();
    shelf.edit("kiln.yaml", "tags:\n  strip_v: true\n", "");
    shelf.edit("environments/production.yaml", "tag: 0.4.2", "tag: v0.4.2");
    let platform = kiln::Platform::load(&shelf.root).unwrap();
    assert_eq!(
        image(&platform, "production", "shop"),
        "reg.example.dev/shelf/shop:v0.4.2"
    );
    let plan = kiln::plan_set_image(&shelf.sources(), "test", &[], "v0.5.1-alpha.124.2").unwrap();
    assert_eq!(plan.changes[0].to, "v0.5.1-alpha.124.2");
    shelf.edit("environments/staging.yaml", "0.5.0-rc.1", "v0.5.0-rc.1");
    let plan = kiln::plan_promote(&shelf.sources(), "staging", "production", &[]).unwrap();
    let tags: Vec<&str> = plan.changes.iter().map(|c| c.to.as_str()).collect();
    assert!(
        !tags.is_empty() && tags.iter().all(|t| *t == "v0.5.0"),
        "{tags:?}"
    );
}

/// Issue 17, point 3: upstream images without a registry and with digests; a moving upstream
/// tag only by a recorded exception; an image under the platform's registry cannot be pinned.
#[test]
fn upstream_references_digests_exceptions_and_own_images() {
    let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
    let shelf = Shelf::new();
    shelf.edit(
        "kiln.yaml",
        "image: docker.io/library/valkey",
        "image: busybox",
    );
    shelf.edit("kiln.yaml", "tag: 8.0.1-alpine", "tag: \"1.36\"");
    let platform = kiln::Platform::load(&shelf.root).unwrap();
    assert_eq!(image(&platform, "production", "kv"), "busybox:1.36");

    let shelf = Shelf::new();
    shelf.edit(
        "kiln.yaml",
        "      tag: 8.0.1-alpine\n",
        &format!("      tag: 8.0.1-alpine\n      digest: {digest}\n"),
    );
    let platform = kiln::Platform::load(&shelf.root).unwrap();
    assert_eq!(
        image(&platform, "production", "kv"),
        format!("docker.io/library/valkey:8.0.1-alpine@{digest}")
    );
    shelf.edit("kiln.yaml", "      tag: 8.0.1-alpine\n", "");
    let platform = kiln::Platform::load(&shelf.root).unwrap();
    assert_eq!(
        image(&platform, "production", "kv"),
        format!("docker.io/library/valkey@{digest}")
    );
    shelf.edit("kiln.yaml", &digest, "sha256:abc");
    let err = shelf.load_err();
    assert!(err.contains("`sha256:abc` is not an image digest"), "{err}");

    // `redis:alpine` moves: refused, unless the platform records an exception with its reason.
    let shelf = Shelf::new();
    shelf.edit(
        "kiln.yaml",
        "image: docker.io/library/valkey",
        "image: memcached",
    );
    shelf.edit("kiln.yaml", "tag: 8.0.1-alpine", "tag: alpine");
    let err = shelf.load_err();
    assert!(err.contains("`alpine` names no version"), "{err}");
    shelf.edit(
        "kiln.yaml",
        "  strip_v: true\n",
        "  strip_v: true\n  exceptions:\n    - { image: memcached, tag: alpine, reason: \"the cache is disposable; any recent memcached will do\" }\n",
    );
    let platform = kiln::Platform::load(&shelf.root).unwrap();
    assert_eq!(image(&platform, "production", "kv"), "memcached:alpine");

    // An image the platform builds follows its channel: `channel: pinned` does not let a
    // branch name through.
    let shelf = Shelf::new();
    shelf.edit(
        "kiln.yaml",
        "image: docker.io/library/valkey",
        "image: reg.example.dev/shelf/valkey",
    );
    let err = shelf.load_err();
    assert!(
        err.starts_with("kiln.yaml:15 (key `kinds.cache.defaults.channel`)")
            && err.contains("is under the platform's registry `reg.example.dev/shelf`"),
        "{err}"
    );
}

#[test]
fn render_fails_on_a_tag_that_breaks_its_rule_naming_env_app_location_and_rule() {
    let shelf = Shelf::new();
    shelf.edit(
        "environments/production.yaml",
        "tag: 0.4.2",
        "tag: 0.5.0-rc.1",
    );
    assert_eq!(
        shelf.load_err(),
        "environments/production.yaml:10 (key `defaults.web.tag`): environment `production`, \
         app `blog` (web): `0.5.0-rc.1` has the pre-release `rc.1`, not a stable version (no \
         pre-release); the `stable` rule (the environment's `channel: stable`) takes a stable \
         version X.Y.Z (0.5.0)"
    );

    let shelf = Shelf::new();
    shelf.edit("environments/preview.yaml", "tag: 1a2b3c4", "tag: latest");
    assert_eq!(
        shelf.load_err(),
        "environments/preview.yaml:8 (key `apps.shop.web.tag`): environment `preview`, app \
         `shop` (web): `latest` is mutable: it moves with every push; the `sha` rule (the \
         environment's `channel: sha`) takes a git commit SHA, 7 to 40 lowercase hex digits \
         (3f9c2ab)"
    );

    let shelf = Shelf::new();
    shelf.edit("kiln.yaml", "tag: 8.0.1-alpine", "tag: alpine");
    let err = shelf.load_err();
    assert!(
        err.starts_with("kiln.yaml:14 (key `kinds.cache.defaults.tag`): environment `production`, app `kv` (cache): `alpine` names no version"),
        "{err}"
    );
    assert!(
        err.contains("the `pinned` rule (the component's `channel: pinned`)"),
        "{err}"
    );

    // Without `channel: pinned` the upstream tag must follow the environment's channel.
    let shelf = Shelf::new();
    shelf.edit(
        "kiln.yaml",
        "      channel: pinned   # an upstream image\n",
        "",
    );
    let err = shelf.load_err();
    assert!(
        err.contains("`8.0.1-alpine` has the pre-release `alpine`, not a stable version"),
        "{err}"
    );

    // A workload may only opt out to `pinned`.
    let shelf = Shelf::new();
    shelf.edit("kiln.yaml", "channel: pinned", "channel: sha");
    let err = shelf.load_err();
    assert!(
        err.starts_with("kiln.yaml:15:7 (key `kinds.cache.defaults.channel`): unknown variant `sha`, expected `pinned`"),
        "{err}"
    );
}

// --- set-image ---------------------------------------------------------------------------------

#[test]
fn set_image_edits_only_the_tag_text_and_keeps_comments() {
    let shelf = Shelf::new();
    let plan = kiln::plan_set_image(&shelf.sources(), "test", &[], "v0.5.1-alpha.124.2").unwrap();
    let lines: Vec<String> = plan.changes.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        ["environments/test.yaml:10 defaults.web.tag: 0.5.0-alpha.123.1 -> 0.5.1-alpha.124.2 (blog/web, shop/web)"]
    );
    assert_eq!(
        plan.skipped,
        [kiln::Skipped {
            component: "kv/cache".into(),
            reason: "`channel: pinned` (an upstream image)".into()
        }]
    );
    plan.write_sources(&shelf.root).unwrap();
    let edited = shelf.read("environments/test.yaml");
    insta::assert_snapshot!(edited, @r#"
    # Test: every CI build lands here (alpha channel).
    dir: test
    namespace: shelf-test
    channel: alpha
    place:
      web: { dir: "{app}" }
      cache: { dir: "{app}" }
    defaults:
      # One alpha tag for every web image of the build.
      web: { tag: 0.5.1-alpha.124.2 }   # written by set-image
    apps:
      shop:
        web: {}
      blog:
        web:
          replicas: 1
      kv:
        cache: {}
    "#);
    assert_eq!(
        edited,
        TEST_YAML.replace("0.5.0-alpha.123.1", "0.5.1-alpha.124.2")
    );
    let platform = kiln::Platform::load(&shelf.root).unwrap();
    assert_eq!(
        image(&platform, "test", "blog"),
        "reg.example.dev/shelf/blog:0.5.1-alpha.124.2"
    );
    assert_eq!(
        image(&platform, "test", "kv"),
        "docker.io/library/valkey:8.0.1-alpine"
    );
}

#[test]
fn set_image_keeps_quoting_style_per_app() {
    let shelf = Shelf::new();
    let apps = ["shop".to_owned(), "blog".to_owned()];
    let plan = kiln::plan_set_image(&shelf.sources(), "staging", &apps, "0.5.0-rc.2").unwrap();
    assert_eq!(plan.changes.len(), 2);
    plan.write_sources(&shelf.root).unwrap();
    assert_eq!(
        shelf.read("environments/staging.yaml"),
        STAGING_YAML
            .replace("\"0.5.0-rc.1\"", "\"0.5.0-rc.2\"")
            .replace("'0.5.0-rc.1'", "'0.5.0-rc.2'")
    );
    // A SHA that YAML would read as a number gets quoted when the old tag was plain.
    let plan = kiln::plan_set_image(&shelf.sources(), "preview", &[], "1234567").unwrap();
    plan.write_sources(&shelf.root).unwrap();
    assert!(shelf
        .read("environments/preview.yaml")
        .contains("web: { tag: \"1234567\" }"));
    assert_eq!(
        image(&plan.after, "preview", "shop"),
        "reg.example.dev/shelf/shop:1234567"
    );
}

#[test]
fn set_image_refusals() {
    let shelf = Shelf::new();
    let sources = shelf.sources();
    let err = |env: &str, apps: &[&str], tag: &str| {
        let apps: Vec<String> = apps.iter().map(|a| a.to_string()).collect();
        kiln::plan_set_image(&sources, env, &apps, tag)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err("production", &[], "latest"),
        "the tag given on the command line breaks the `stable` rule of environment \
         `production` (`channel: stable` at environments/production.yaml:4): `latest` is \
         mutable: it moves with every push; it takes a stable version X.Y.Z (0.5.0)"
    );
    assert!(
        err("test", &[], "0.5.0").contains("`0.5.0` is a stable version, not an alpha pre-release")
    );
    assert_eq!(
        err("nope", &[], "0.5.0"),
        "no environment `nope` (environments: preview, production, staging, test)"
    );
    // One app of a shared `defaults.web.tag`.
    assert_eq!(
        err("test", &["shop"], "0.5.0-alpha.2.1"),
        "environments/test.yaml:10 (key `defaults.web.tag`): `defaults.web.tag` sets the tag of \
         blog too: without --app, set-image changes it for all of them; to change only shop, give \
         each its own `apps.<app>.<kind>.tag`"
    );
    // Only pinned components selected.
    assert!(err("test", &["kv"], "0.5.0-alpha.2.1").contains(
        "set-image: nothing to change in environment `test`: no selected component has its tag \
         in environments/test.yaml (skipped: kv/cache: `channel: pinned` (an upstream image))"
    ));
    assert!(err("preview", &["blog"], "1a2b3c4")
        .contains("`blog` is not deployed there (environment `preview` deploys: shop)"));

    // A tag from kiln.yaml: an error with --app, skipped without.
    shelf.edit(
        "kiln.yaml",
        "web: { image: blog }",
        "web: { image: blog, tag: 0.4.0 }",
    );
    shelf.edit(
        "environments/production.yaml",
        "defaults:\n  web:\n    tag: 0.4.2\n",
        "",
    );
    shelf.edit(
        "environments/production.yaml",
        "  shop:\n    web: {}",
        "  shop:\n    web: { tag: 0.4.2 }",
    );
    let sources = shelf.sources();
    let err = kiln::plan_set_image(&sources, "production", &["blog".into()], "0.4.3")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("kiln.yaml:22 (key `apps.blog.components.web.tag`): `blog` (web) takes its tag from kiln.yaml, not from environments/production.yaml; set-image edits only the environment file: add `tag:` under `apps.blog.web` there first"),
        "{err}"
    );
    let plan = kiln::plan_set_image(&sources, "production", &[], "0.4.3").unwrap();
    assert_eq!(plan.changes.len(), 1);
    assert_eq!(plan.changes[0].components, ["shop/web"]);
    assert!(plan.skipped.iter().any(|s| s.component == "blog/web"
        && s.reason == "its tag comes from kiln.yaml:22 (`apps.blog.components.web.tag`), not the environment file"));
}

#[test]
fn set_image_replaces_a_bad_tag() {
    let shelf = Shelf::new();
    shelf.edit("environments/preview.yaml", "tag: 1a2b3c4", "tag: main");
    assert!(shelf
        .load_err()
        .contains("`main` is a branch or mutable channel name"));
    let plan = kiln::plan_set_image(&shelf.sources(), "preview", &[], "9f8e7d6").unwrap();
    assert_eq!(plan.changes[0].from, "main");
    plan.write_sources(&shelf.root).unwrap();
    kiln::Platform::load(&shelf.root).unwrap();
}

// --- promote -----------------------------------------------------------------------------------

#[test]
fn promoted_tags() {
    use TagRule::*;
    // Seed 004: "0.0.1-alpha.10.1 becomes 0.0.1".
    assert_eq!(
        kiln::tag::promoted_tag(Alpha, "0.0.1-alpha.10.1", Stable, None).as_deref(),
        Ok("0.0.1")
    );
    assert_eq!(
        kiln::tag::promoted_tag(Alpha, "0.5.0-alpha.123.1", Stable, Some("0.4.2")).as_deref(),
        Ok("0.5.0")
    );
    assert_eq!(
        kiln::tag::promoted_tag(Rc, "0.5.0-rc.3", Stable, Some("0.5.0-rc.1")).as_deref(),
        Ok("0.5.0")
    );
    assert_eq!(
        kiln::tag::promoted_tag(Stable, "0.5.0", Stable, Some("0.5.0")).as_deref(),
        Ok("0.5.0")
    );
    // To rc: the next candidate of the same version, else rc.1.
    assert_eq!(
        kiln::tag::promoted_tag(Alpha, "0.5.0-alpha.9.1", Rc, Some("0.5.0-rc.1")).as_deref(),
        Ok("0.5.0-rc.2")
    );
    assert_eq!(
        kiln::tag::promoted_tag(Alpha, "0.6.0-alpha.9.1", Rc, Some("0.5.0-rc.4")).as_deref(),
        Ok("0.6.0-rc.1")
    );
    assert_eq!(
        kiln::tag::promoted_tag(Rc, "0.6.0-rc.2", Rc, Some("0.6.0-rc.1")).as_deref(),
        Ok("0.6.0-rc.2")
    );
    assert_eq!(
        kiln::tag::promoted_tag(Sha, "1a2b3c4", Sha, Some("9f8e7d6")).as_deref(),
        Ok("1a2b3c4")
    );

    let refused = |sr, st, tr, cur| kiln::tag::promoted_tag(sr, st, tr, cur).unwrap_err();
    assert!(refused(Alpha, "latest", Stable, None).starts_with(
        "the source holds no tag valid for promotion (alpha rule: `latest` is mutable"
    ));
    assert!(refused(Sha, "1a2b3c4", Stable, None).contains("the source holds the commit SHA `1a2b3c4`, but the target's `stable` rule takes a stable version"));
    assert!(refused(Stable, "0.5.0", Sha, None)
        .contains("the target's `sha` rule forbids the SemVer tag `0.5.0`"));
    assert!(refused(Stable, "0.5.0", Alpha, None)
        .contains("an alpha environment takes its tags from CI builds"));
    assert!(
        refused(Pinned, "7-alpine", Stable, None).contains("pinned upstream tags are not promoted")
    );
    assert_eq!(
        refused(Alpha, "0.4.9-alpha.3.1", Stable, Some("0.5.0")),
        "promoting would downgrade the target from 0.5.0 to 0.4.9"
    );
    assert_eq!(
        refused(Alpha, "0.5.0-alpha.3.1", Rc, Some("v0.5.0")),
        "promoting would downgrade the target from 0.5.0 to 0.5.0-rc.1"
    );
}

#[test]
fn promote_test_to_production_writes_the_stable_tag_and_diffs_the_render() {
    let shelf = Shelf::new();
    let sources = shelf.sources();
    let plan = kiln::plan_promote(&sources, "test", "production", &[]).unwrap();
    let lines: Vec<String> = plan.changes.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        ["environments/production.yaml:10 defaults.web.tag: 0.4.2 -> 0.5.0 (blog/web, shop/web) from 0.5.0-alpha.123.1"]
    );
    let before = kiln::render(&plan.before).unwrap();
    let after = kiln::render(&plan.after).unwrap();
    let diff = kiln::diff("current", &before, "promoted", &after);
    insta::assert_snapshot!(kiln::present::diff_text(&diff, false));
    plan.write_sources(&shelf.root).unwrap();
    assert_eq!(
        shelf.read("environments/production.yaml"),
        PRODUCTION_YAML.replace("tag: 0.4.2", "tag: 0.5.0")
    );
    // Promoting again changes nothing.
    let again = kiln::plan_promote(&shelf.sources(), "test", "production", &[]).unwrap();
    assert!(again.is_noop());
    assert!(again.edits.is_empty());

    // test -> staging: a new release candidate per app.
    let plan = kiln::plan_promote(&shelf.sources(), "test", "staging", &[]).unwrap();
    let lines: Vec<String> = plan.changes.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "environments/staging.yaml:11 apps.blog.web.tag: 0.5.0-rc.1 -> 0.5.0-rc.2 (blog/web) from 0.5.0-alpha.123.1",
            "environments/staging.yaml:9 apps.shop.web.tag: 0.5.0-rc.1 -> 0.5.0-rc.2 (shop/web) from 0.5.0-alpha.123.1"
        ]
    );
    // A SemVer source into a sha environment.
    let plan = kiln::plan_promote(&shelf.sources(), "staging", "preview", &[]).unwrap_err();
    assert!(
        plan.to_string()
            .contains("the target's `sha` rule forbids the SemVer tag `0.5.0-rc.1`"),
        "{plan}"
    );
}

#[test]
fn promote_refusals() {
    let shelf = Shelf::new();
    let sources = shelf.sources();
    let err = |from: &str, to: &str, apps: &[&str]| {
        let apps: Vec<String> = apps.iter().map(|a| a.to_string()).collect();
        kiln::plan_promote(&sources, from, to, &apps)
            .unwrap_err()
            .to_string()
    };
    // The source holds no tag valid for promotion: a SHA.
    assert_eq!(
        err("preview", "staging", &["shop"]),
        "environments/staging.yaml:9 (key `apps.shop.web.tag`): cannot promote `shop` (web) from \
         `preview` (tag `1a2b3c4` at environments/preview.yaml:8) to `staging` (tag \
         `0.5.0-rc.1`): the source holds the commit SHA `1a2b3c4`, but the target's `rc` rule \
         takes a release candidate X.Y.Z-rc.N (0.5.0-rc.1)"
    );
    // The target's rule forbids the result.
    assert!(err("test", "preview", &[])
        .contains("the target's `sha` rule forbids the SemVer tag `0.5.0-alpha.123.1`"));
    // An alpha target.
    assert!(err("production", "test", &[])
        .contains("an alpha environment takes its tags from CI builds"));
    // The same environment, an unknown one.
    assert_eq!(
        err("test", "test", &[]),
        "promote needs two different environments (got `test` twice)"
    );
    assert!(err("test", "nope", &[]).starts_with("no environment `nope`"));
    // A shared target location, only part of whose components the source deploys.
    let partial = Shelf::new();
    partial.edit(
        "environments/staging.yaml",
        "  blog:\n    web: { tag: '0.5.0-rc.1' }\n",
        "",
    );
    assert_eq!(
        kiln::plan_promote(&partial.sources(), "staging", "production", &[])
            .unwrap_err()
            .to_string(),
        "environments/production.yaml:10 (key `defaults.web.tag`): `defaults.web.tag` sets the \
         tag of blog/web too, which `staging` does not deploy: promoting would give them a tag \
         `staging` never ran"
    );
    // With --app, the same shared location is refused before any tag is derived.
    assert!(err("staging", "production", &["shop"])
        .contains("`defaults.web.tag` sets the tag of blog too"));

    // A downgrade.
    shelf.edit("environments/production.yaml", "tag: 0.4.2", "tag: 0.6.0");
    let err = kiln::plan_promote(&shelf.sources(), "test", "production", &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with("promoting would downgrade the target from 0.6.0 to 0.5.0"),
        "{err}"
    );

    // A source tag that breaks its own rule (kept by the lenient read).
    let shelf = Shelf::new();
    shelf.edit(
        "environments/test.yaml",
        "0.5.0-alpha.123.1",
        "0.5.0-beta.1",
    );
    let err = kiln::plan_promote(&shelf.sources(), "test", "production", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("the source holds no tag valid for promotion (alpha rule: `0.5.0-beta.1` has the pre-release `beta.1`"), "{err}");

    // Components of one shared location running different tags in the source.
    let shelf = Shelf::new();
    shelf.edit(
        "environments/test.yaml",
        "  blog:\n    web:\n",
        "  blog:\n    web:\n      tag: 0.6.0-alpha.99.1\n",
    );
    let err = kiln::plan_promote(&shelf.sources(), "test", "production", &[])
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "environments/production.yaml:10 (key `defaults.web.tag`): `defaults.web.tag` is shared, \
         but its components would get different tags from `test` (shop/web: 0.5.0; blog/web: \
         0.6.0); give each its own `apps.<app>.<kind>.tag`"
    );
}

// --- end to end on a git repository ------------------------------------------------------------

#[test]
fn release_flow_on_a_git_repository() {
    let shelf = Shelf::new();
    shelf.git(&["init", "-q", "-b", "main"]);
    let render_and_write = |platform: &kiln::Platform| {
        let rendered = kiln::render(platform).unwrap();
        kiln::write_tree(&platform.output_root(), &rendered, &Default::default()).unwrap();
    };
    render_and_write(&kiln::Platform::load(&shelf.root).unwrap());
    shelf.commit("release line 0.5.0");

    // CI: the alpha tag of run 124, attempt 1, from package.json; set-image; re-render.
    let platform = kiln::Platform::load(&shelf.root).unwrap();
    let (file, version) = kiln::release_version(&platform).unwrap();
    assert_eq!(
        (file, version.clone()),
        (PathBuf::from("package.json"), v("0.5.0"))
    );
    let tag = kiln::tag::alpha_tag(&version, 124, 1).unwrap();
    let plan = kiln::plan_set_image(&shelf.sources(), "test", &[], &tag).unwrap();
    plan.write_sources(&shelf.root).unwrap();
    render_and_write(&plan.after);
    let after = kiln::Platform::load(&shelf.root).unwrap();
    let rendered = kiln::render(&after).unwrap();
    assert!(kiln::check_tree(&after.output_root(), &rendered)
        .unwrap()
        .is_empty());
    shelf.commit("test: 0.5.0-alpha.124.1");
    let base = kiln::render_at(&shelf.root, "HEAD~1").unwrap();
    let head = kiln::render_at(&shelf.root, "HEAD").unwrap();
    let diff = kiln::diff("HEAD~1", &base, "HEAD", &head);
    let images: Vec<String> = diff
        .environments
        .iter()
        .flat_map(|e| {
            e.images
                .iter()
                .map(move |i| format!("{} {} {:?}", e.name, i.container, i.to))
        })
        .collect();
    assert_eq!(
        images,
        [
            "test blog Some(\"reg.example.dev/shelf/blog:0.5.0-alpha.124.1\")",
            "test shop Some(\"reg.example.dev/shelf/shop:0.5.0-alpha.124.1\")"
        ]
    );

    // Promotion to production, committed as its own change.
    let plan = kiln::plan_promote(&shelf.sources(), "test", "production", &[]).unwrap();
    plan.write_sources(&shelf.root).unwrap();
    render_and_write(&plan.after);
    shelf.commit("promote test -> production");
    let prod = kiln::render_at(&shelf.root, "HEAD").unwrap();
    assert!(prod.files["production/shop/deployment.yaml"]
        .text
        .contains("reg.example.dev/shelf/shop:0.5.0\n"));

    // The version check against the previous commit: each seed verdict through git.
    let check = |version: &str| {
        shelf.edit(
            "package.json",
            &format!(
                "\"{}\"",
                kiln::release_version(&kiln::Platform::load(&shelf.root).unwrap())
                    .unwrap()
                    .1
            ),
            &format!("\"{version}\""),
        );
        let platform = kiln::Platform::load(&shelf.root).unwrap();
        let previous = kiln::release_version_at(&platform, "HEAD")
            .unwrap()
            .unwrap();
        let (_, current) = kiln::release_version(&platform).unwrap();
        kiln::tag::check_progression(&previous, &current)
    };
    assert_eq!(check("0.5.0"), Ok(kiln::tag::Progression::Unchanged));
    assert_eq!(check("0.5.1"), Ok(kiln::tag::Progression::Patch));
    assert_eq!(check("0.6.0"), Ok(kiln::tag::Progression::Minor));
    assert_eq!(check("1.0.0"), Ok(kiln::tag::Progression::Major));
    assert!(check("0.7.0")
        .unwrap_err()
        .starts_with("skipped minor versions"));
    assert!(check("0.4.0")
        .unwrap_err()
        .starts_with("downgrade from 0.5.0 to 0.4.0"));
    shelf.edit("package.json", "\"0.4.0\"", "\"0.6.0\"");
    shelf.commit("0.6.0");
    let platform = kiln::Platform::load(&shelf.root).unwrap();
    assert_eq!(
        kiln::release_version_at(&platform, "HEAD~1").unwrap(),
        Some(v("0.5.0"))
    );
    // A revision where the file is a symlink, and one without it.
    fs::remove_file(shelf.path("package.json")).unwrap();
    std::os::unix::fs::symlink("kiln.yaml", shelf.path("package.json")).unwrap();
    shelf.commit("symlink");
    let err = kiln::release_version_at(&platform, "HEAD").unwrap_err();
    assert_eq!(err.kind(), kiln::ErrorKind::Unsafe);
    assert!(
        err.to_string()
            .starts_with("package.json: is a symbolic link at HEAD"),
        "{err}"
    );
    let err = kiln::release_version(&platform).unwrap_err();
    assert_eq!(err.kind(), kiln::ErrorKind::Unsafe);
    fs::remove_file(shelf.path("package.json")).unwrap();
    shelf.commit("no version file");
    assert_eq!(kiln::release_version_at(&platform, "HEAD").unwrap(), None);
}

#[test]
fn version_file_errors_name_the_file() {
    let shelf = Shelf::new();
    let platform = |shelf: &Shelf| kiln::Platform::load(&shelf.root).unwrap();
    fs::write(
        shelf.path("package.json"),
        "{\n  \"name\": \"shelf\",\n  \"version\": \"v0.5.0\"\n}\n",
    )
    .unwrap();
    let err = kiln::release_version(&platform(&shelf))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("package.json:3 (key `version`): `v0.5.0` is not a SemVer version"),
        "{err}"
    );
    fs::write(shelf.path("package.json"), "{\n  \"version\": 5\n}\n").unwrap();
    let err = kiln::release_version(&platform(&shelf))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "package.json:2 (key `version`): `version` must be a string"
    );
    fs::write(shelf.path("package.json"), "{\n  \"version\": \"0.5.0\",\n").unwrap();
    let err = kiln::release_version(&platform(&shelf))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("package.json:3:0: not valid JSON"), "{err}");
    fs::write(shelf.path("package.json"), "{}").unwrap();
    let err = kiln::release_version(&platform(&shelf))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("package.json (key `version`): no top-level `version` key"),
        "{err}"
    );
    fs::write(shelf.path("package.json"), [b'{', 0xff, b'}']).unwrap();
    let err = kiln::release_version(&platform(&shelf))
        .unwrap_err()
        .to_string();
    assert_eq!(err, "package.json:1:2: the file is not valid UTF-8");

    // No symlink on the way to the file.
    std::os::unix::fs::symlink(".", shelf.path("sub")).unwrap();
    shelf.edit(
        "kiln.yaml",
        "version_file: package.json",
        "version_file: sub/package.json",
    );
    let err = kiln::release_version(&platform(&shelf)).unwrap_err();
    assert_eq!(err.kind(), kiln::ErrorKind::Unsafe);
    assert!(
        err.to_string().starts_with("sub: is a symbolic link"),
        "{err}"
    );
    shelf.edit(
        "kiln.yaml",
        "version_file: sub/package.json",
        "version_file: package.json",
    );

    shelf.edit(
        "kiln.yaml",
        "  version_file: package.json",
        "  version_file: ../package.json",
    );
    let err = kiln::Platform::load(&shelf.root).unwrap_err().to_string();
    assert!(
        err.starts_with(
            "kiln.yaml:6:3 (key `release.version_file`): `../package.json` must be a relative path"
        ),
        "{err}"
    );
    shelf.edit(
        "kiln.yaml",
        "release:\n  version_file: ../package.json\n",
        "",
    );
    let err = kiln::release_version(&platform(&shelf))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("kiln.yaml (key `release`): the platform declares no version file"),
        "{err}"
    );
}
