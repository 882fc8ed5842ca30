//! The writer's contract on a small fixture platform: atomic writes, pruning only what kiln
//! generated, refusing symlinks and foreign files, failing fast under a concurrent render,
//! `check` never writing, and the model's selection rules as they reach the output.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// A copy of `tests/fixtures/mini` in a temporary directory.
fn mini() -> (TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("mini");
    common::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mini"),
        &root,
    );
    (tmp, root)
}
fn render(root: &Path) -> kiln::Result<kiln::WriteReport> {
    render_with(root, &Default::default())
}
fn render_with(root: &Path, options: &kiln::WriteOptions) -> kiln::Result<kiln::WriteReport> {
    let platform = kiln::Platform::load(root)?;
    let rendered = kiln::render(&platform)?;
    kiln::write_tree(&platform.output_root(), &rendered, options)
}

/// Every file under `dir` with its bytes, for before/after comparisons.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path().strip_prefix(dir).unwrap().display().to_string(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} lacks {from:?}", path.display());
    fs::write(path, text.replace(from, to)).unwrap();
}

#[test]
fn second_render_changes_nothing() {
    let (_tmp, root) = mini();
    let first = render(&root).unwrap();
    assert_eq!(first.added.len(), 15);
    let before = snapshot(&root.join("k8s"));
    let second = render(&root).unwrap();
    assert!(second.is_noop(), "{second:?}");
    assert_eq!(second.unchanged, 15);
    assert_eq!(snapshot(&root.join("k8s")), before);
}

#[test]
fn pruning_removes_only_generated_files() {
    let (_tmp, root) = mini();
    render(&root).unwrap();
    let k8s = root.join("k8s");
    fs::write(k8s.join("README.md"), "hand-written\n").unwrap();
    fs::write(k8s.join("apps/blog/.gitkeep"), "").unwrap();
    fs::write(k8s.join("apps/notes.yaml"), "# mine\n").unwrap();
    // blog leaves production: its generated files go, the hand-written ones stay.
    edit(
        &root.join("environments/prod.yaml"),
        "  blog:\n    web: { tag: 5d6e7f8 }\n",
        "",
    );
    let report = render(&root).unwrap();
    assert_eq!(
        report.removed,
        ["apps/blog/deployment.yaml", "apps/blog/kustomization.yaml"]
    );
    assert_eq!(
        fs::read_to_string(k8s.join("README.md")).unwrap(),
        "hand-written\n"
    );
    assert!(k8s.join("apps/blog/.gitkeep").is_file());
    assert!(k8s.join("apps/notes.yaml").is_file());
    assert!(!k8s.join("apps/blog/deployment.yaml").exists());
}

/// A change rewrites only the files it changes: every other file of the new tree, generated or
/// hand-written, is the old tree's file (a hard link), so a one-line change to a large platform
/// does not create the whole tree again. Their bytes and modes are as before.
#[test]
fn a_change_links_the_files_it_does_not_touch() {
    use std::os::unix::fs::MetadataExt;

    let (_tmp, root) = mini();
    render(&root).unwrap();
    let k8s = root.join("k8s");
    fs::write(k8s.join("README.md"), "hand-written\n").unwrap();
    let inode = |rel: &str| fs::metadata(k8s.join(rel)).unwrap().ino();
    let kept = [
        "apps/blog/deployment.yaml",
        "base/namespace.yaml",
        "README.md",
    ];
    let changed = "apps/shop/deployment.yaml";
    let before: Vec<u64> = kept.iter().map(|p| inode(p)).collect();
    let (changed_before, snapshot_before) = (inode(changed), snapshot(&k8s));

    edit(
        &root.join("environments/prod.yaml"),
        "tag: 1a2b3c4, replicas: 2",
        "tag: 9a9b9c9, replicas: 2",
    );
    let report = render(&root).unwrap();
    assert_eq!(report.changed, [changed]);
    assert_eq!(kept.iter().map(|p| inode(p)).collect::<Vec<_>>(), before);
    assert_ne!(inode(changed), changed_before);
    assert!(fs::read_to_string(k8s.join(changed))
        .unwrap()
        .contains("9a9b9c9"));
    // The old tree is gone, so each kept file has one name again.
    for path in kept {
        assert_eq!(fs::metadata(k8s.join(path)).unwrap().nlink(), 1, "{path}");
    }
    let after = snapshot(&k8s);
    let differs: Vec<&str> = after
        .iter()
        .zip(&snapshot_before)
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.0.as_str())
        .collect();
    assert_eq!(differs, [changed]);
    assert!(check_is_clean(&root));
}

/// Where links are refused (or `no_links` is set), every file is written or copied anew and the
/// tree is the same as with links: pruning, hand-written files and the changed file included.
#[test]
fn without_links_the_same_tree_is_written_file_by_file() {
    use std::os::unix::fs::MetadataExt;

    let (_a, linked) = mini();
    let (_b, copied) = mini();
    let inodes = |root: &Path| -> Vec<u64> {
        snapshot(&root.join("k8s"))
            .iter()
            .map(|(p, _)| fs::metadata(root.join("k8s").join(p)).unwrap().ino())
            .collect()
    };
    let mut before = Vec::new();
    for root in [&linked, &copied] {
        render(root).unwrap();
        fs::write(root.join("k8s/README.md"), "hand-written\n").unwrap();
        edit(
            &root.join("environments/prod.yaml"),
            "  blog:\n    web: { tag: 5d6e7f8 }\n",
            "",
        );
        before.push(inodes(root));
    }
    render(&linked).unwrap();
    let options = kiln::WriteOptions {
        no_links: true,
        ..Default::default()
    };
    let report = render_with(&copied, &options).unwrap();
    assert_eq!(
        report.removed,
        ["apps/blog/deployment.yaml", "apps/blog/kustomization.yaml"]
    );
    assert_eq!(snapshot(&copied.join("k8s")), snapshot(&linked.join("k8s")));
    assert!(!copied.join("k8s/apps/blog").exists());
    // Linked: the files that stayed are the old ones. Copied: every file is new.
    let after = inodes(&copied);
    assert!(
        after.iter().all(|ino| !before[1].contains(ino)),
        "{after:?}"
    );
    assert!(inodes(&linked).iter().any(|ino| before[0].contains(ino)));
    assert!(check_is_clean(&copied));
}

fn check_is_clean(root: &Path) -> bool {
    let platform = kiln::Platform::load(root).unwrap();
    kiln::check_tree(&platform.output_root(), &kiln::render(&platform).unwrap())
        .unwrap()
        .is_empty()
}

#[test]
fn an_emptied_generated_directory_disappears() {
    let (_tmp, root) = mini();
    render(&root).unwrap();
    edit(
        &root.join("environments/prod.yaml"),
        "  blog:\n    web: { tag: 5d6e7f8 }\n",
        "",
    );
    render(&root).unwrap();
    assert!(!root.join("k8s/apps/blog").exists());
}

#[test]
fn refuses_to_overwrite_a_file_it_did_not_generate() {
    let (_tmp, root) = mini();
    render(&root).unwrap();
    let path = root.join("k8s/apps/shop/pdb.yaml");
    fs::write(&path, "# hand-written pdb\n").unwrap();
    let before = snapshot(&root.join("k8s"));
    let err = render(&root).unwrap_err();
    assert_eq!(err.kind(), kiln::ErrorKind::Unsafe);
    assert!(
        err.to_string().contains(
            "apps/shop/pdb.yaml: kiln would overwrite this file, which it did not generate"
        ),
        "{err}"
    );
    assert_eq!(snapshot(&root.join("k8s")), before);
}

#[test]
fn refuses_symlinks_in_and_as_the_output_tree() {
    let (tmp, root) = mini();
    render(&root).unwrap();
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("k8s/apps/link")).unwrap();
    let err = render(&root).unwrap_err();
    assert!(
        err.to_string()
            .contains("apps/link: is a symbolic link inside the output tree"),
        "{err}"
    );
    fs::remove_file(root.join("k8s/apps/link")).unwrap();

    fs::rename(root.join("k8s"), outside.join("k8s")).unwrap();
    std::os::unix::fs::symlink(outside.join("k8s"), root.join("k8s")).unwrap();
    let before = snapshot(&outside.join("k8s"));
    let err = render(&root).unwrap_err();
    assert!(
        err.to_string()
            .contains("the output root is a symbolic link"),
        "{err}"
    );
    assert_eq!(snapshot(&outside.join("k8s")), before);
}

#[test]
fn a_failed_render_leaves_the_tree_as_it_was() {
    let (_tmp, root) = mini();
    render(&root).unwrap();
    let before = snapshot(&root.join("k8s"));
    edit(
        &root.join("templates/web/deployment.yaml.j2"),
        "{{ app.port }}",
        "{{ app.prot }}",
    );
    let err = render(&root).unwrap_err();
    assert_eq!(err.kind(), kiln::ErrorKind::Template);
    assert!(err.to_string().starts_with("templates/web/deployment.yaml.j2:31: undefined value: `app.prot` is undefined (rendering for "), "{err}");
    assert_eq!(snapshot(&root.join("k8s")), before);
}

#[test]
fn a_concurrent_render_fails_fast_and_changes_nothing() {
    let (_tmp, root) = mini();
    render(&root).unwrap();
    edit(&root.join("environments/prod.yaml"), "5d6e7f8", "9a9a9a9");
    let before = snapshot(&root.join("k8s"));
    let held = fs::File::open(&root).unwrap();
    rustix::fs::flock(&held, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
    let err = render(&root).unwrap_err();
    assert_eq!(err.kind(), kiln::ErrorKind::Locked);
    assert_eq!(snapshot(&root.join("k8s")), before);
    drop(held);
    assert_eq!(
        render(&root).unwrap().changed,
        ["apps/blog/deployment.yaml"]
    );
}

#[test]
fn check_reports_drift_and_never_writes() {
    let (_tmp, root) = mini();
    let platform = kiln::Platform::load(&root).unwrap();
    let rendered = kiln::render(&platform).unwrap();
    let drift = kiln::check_tree(&platform.output_root(), &rendered).unwrap();
    assert_eq!(drift.len(), 15);
    assert!(!root.join("k8s").exists(), "check must not create the tree");

    render(&root).unwrap();
    edit(&root.join("environments/prod.yaml"), "5d6e7f8", "9a9a9a9");
    fs::write(
        root.join("k8s/apps/stale.yaml"),
        format!("{} earlier\n", kiln::GENERATED_MARKER),
    )
    .unwrap();
    let before = snapshot(&root.join("k8s"));
    let platform = kiln::Platform::load(&root).unwrap();
    let rendered = kiln::render(&platform).unwrap();
    let drift = kiln::check_tree(&platform.output_root(), &rendered).unwrap();
    let text = kiln::present::drift_text("k8s", &drift, false);
    insta::assert_snapshot!(text, @r"
    changed: k8s/apps/blog/deployment.yaml
      --- apps/blog/deployment.yaml (on disk)
      +++ apps/blog/deployment.yaml (rendered)
      @@ -17,6 +17,6 @@
           spec:
             containers:
               - name: blog
      -          image: reg.example.dev/mini/blog:5d6e7f8
      +          image: reg.example.dev/mini/blog:9a9a9a9
                 ports:
                   - containerPort: 8080
    stale:   k8s/apps/stale.yaml (generated, no longer rendered)
    ");
    assert_eq!(snapshot(&root.join("k8s")), before);
}

#[test]
fn closing_an_environment_is_one_line_and_keeps_the_layout() {
    let (_tmp, root) = mini();
    render(&root).unwrap();
    edit(
        &root.join("environments/preview.yaml"),
        "state: open",
        "state: closed",
    );
    let report = render(&root).unwrap();
    // Replicas drop to 0, so the anti-affinity and the PodDisruptionBudget go too.
    assert_eq!(
        report.changed,
        [
            "overlays/preview/shop/deployment.yaml",
            "overlays/preview/shop/kustomization.yaml"
        ]
    );
    assert_eq!(report.removed, ["overlays/preview/shop/pdb.yaml"]);
    let deployment =
        fs::read_to_string(root.join("k8s/overlays/preview/shop/deployment.yaml")).unwrap();
    assert!(
        deployment.contains("  replicas: 0\n") && !deployment.contains("affinity"),
        "{deployment}"
    );
}

#[test]
fn model_errors_name_file_line_and_key_and_write_nothing() {
    let cases: &[(&str, &str, &str, &str)] = &[
        ("environments/prod.yaml", "replicas: 2", "replicas: two", "environments/prod.yaml:10:26 (key `apps.shop.web.replicas`): invalid type: string \"two\", expected u32"),
        ("environments/prod.yaml", "tag: 1a2b3c4", "tga: 1a2b3c4", "environments/prod.yaml:10:12 (key `apps.shop.web.tga`): unknown field `tga`"),
        ("environments/prod.yaml", "  shop:\n", "  shopp:\n", "environments/prod.yaml:9:3 (key `apps.shopp`): `shopp` is not in the kiln.yaml catalogue (apps: blog, shop)"),
        ("environments/prod.yaml", "namespace: mini", "namespace: Mini", "environments/prod.yaml:2:1 (key `namespace`): namespace `Mini` is not a DNS-1123 label"),
        ("environments/prod.yaml", "channel: sha", "channel: edge", "environments/prod.yaml:3:1 (key `channel`): unknown variant `edge`, expected one of `sha`, `alpha`, `rc`, `stable`"),
        ("environments/prod.yaml", "dir: .", "dir: ../escape", "environments/prod.yaml:1:1 (key `dir`): directory `../escape`: `..` is not a DNS-1123 label"),
        ("environments/prod.yaml", "web: { dir: \"apps/{app}\" }", "web: { dir: \"/etc\" }", "environments/prod.yaml:5:10 (key `place.web.dir`): directory `/etc`: the name is empty"),
        ("kiln.yaml", "port: 8080", "port: 80800", "kiln.yaml:8:7 (key `kinds.web.defaults.port`): invalid value: integer `80800`, expected u16"),
        ("kiln.yaml", "  blog:\n", "  Blog:\n", "kiln.yaml:14:3 (key `apps.Blog`): `Blog` is not a DNS-1123 label"),
        ("kiln.yaml", "output: k8s", "output: ../k8s", "kiln.yaml:3:1 (key `output`): `../k8s` must be a relative path inside the platform directory"),
        ("kiln.yaml", "web: { image: shop }", "web: { image: shop, tag: yes }", "kiln.yaml:13:32: `yes` is ambiguous"),
    ];
    let mut failures = Vec::new();
    for (file, from, to, expected) in cases {
        let (_tmp, root) = mini();
        edit(&root.join(file), from, to);
        let err = render(&root).unwrap_err().to_string();
        if !err.starts_with(expected) {
            failures.push(format!(
                "{file}: {from} -> {to}\n  got: {err}\n want: {expected}"
            ));
        }
        assert!(!root.join("k8s").exists(), "nothing may be written");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Seed 003: a `.gitignore` line `api` hid the rendered `manifests/api/`. `check` names every
/// rendered file git ignores and the rule, and fails; a tracked file or a negated rule does
/// not count, and outside a git work tree nothing is ignored.
#[test]
fn check_reports_rendered_files_that_git_ignores() {
    let (_tmp, root) = mini();
    render(&root).unwrap();
    let platform = kiln::Platform::load(&root).unwrap();
    assert!(kiln::check(&platform).unwrap().ignored.is_empty());
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .current_dir(&root)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    fs::write(root.join(".gitignore"), "pdb.yaml\n!k8s/shop/pdb.yaml\n").unwrap();
    let checked = kiln::check(&platform).unwrap();
    assert!(!checked.is_clean());
    let ignored: Vec<String> = checked
        .ignored
        .iter()
        .map(|i| format!("{} ({})", i.path, i.rule))
        .collect();
    assert!(!ignored.is_empty());
    assert!(
        ignored.iter().all(
            |i| i.ends_with("pdb.yaml (.gitignore:1: pdb.yaml)") && !i.starts_with("k8s/shop/")
        ),
        "{ignored:?}"
    );
    // Once tracked, a file is committed whatever the ignore rules say.
    let first = checked.ignored[0].path.clone();
    git(&["add", "-f", &first]);
    let after = kiln::check(&platform).unwrap();
    assert_eq!(after.ignored.len(), checked.ignored.len() - 1);
}

/// A generated file whose header was edited away is no longer kiln's: `check` calls it
/// modified and names the header line to put back (a render refuses to overwrite it); with
/// the line back, a render takes it over again. A file hand-added inside a generated directory
/// is listed as not kiln's, without failing the check.
#[test]
fn check_names_a_lost_header_and_files_kiln_does_not_own() {
    let (_tmp, root) = mini();
    render(&root).unwrap();
    let path = root.join("k8s/apps/shop/pdb.yaml");
    let text = fs::read_to_string(&path).unwrap();
    let (header, rest) = text.split_once('\n').unwrap();
    fs::write(&path, rest.replace("minAvailable", "maxUnavailable")).unwrap();
    fs::write(root.join("k8s/apps/shop/notes.md"), "hand-added\n").unwrap();
    fs::create_dir(root.join("k8s/apps/shop/extra")).unwrap();
    fs::write(
        root.join("k8s/apps/shop/extra/cm.yaml"),
        "kind: ConfigMap\n",
    )
    .unwrap();
    fs::write(
        root.join("k8s/README.md"),
        "the output root may hold its own files\n",
    )
    .unwrap();

    let platform = kiln::Platform::load(&root).unwrap();
    let checked = kiln::check(&platform).unwrap();
    assert_eq!(
        checked.drift,
        [kiln::Drift::Foreign {
            path: "apps/shop/pdb.yaml".into(),
            header: header.into(),
        }]
    );
    assert_eq!(
        checked.unowned,
        ["apps/shop/extra/cm.yaml", "apps/shop/notes.md"]
    );
    insta::assert_snapshot!(
        kiln::present::drift_text("k8s", &checked.drift, false)
            + &kiln::present::unowned_text("k8s", &checked.unowned),
        @r"
    modified: k8s/apps/shop/pdb.yaml (its first line is not kiln's header, so a render will not overwrite it)
      put the header back as its first line, or delete the file, then render:
      # Generated by kiln from environments/prod.yaml and templates/web/pdb.yaml.j2. Do not edit.
    not kiln's: k8s/apps/shop/extra/cm.yaml (hand-added in a directory kiln generates; no kustomization.yaml lists it, so it is never applied)
    not kiln's: k8s/apps/shop/notes.md (hand-added in a directory kiln generates; no kustomization.yaml lists it, so it is never applied)
    "
    );
    // What the message says works: the header back, and the render takes the file over.
    fs::write(
        &path,
        format!("{header}\n{}", fs::read_to_string(&path).unwrap()),
    )
    .unwrap();
    render(&root).unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), text);
    let checked = kiln::check(&kiln::Platform::load(&root).unwrap()).unwrap();
    assert!(checked.drift.is_empty(), "{:?}", checked.drift);
    assert_eq!(checked.unowned.len(), 2);
}
