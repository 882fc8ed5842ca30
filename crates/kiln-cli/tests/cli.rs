//! Golden tests of the `kiln` binary: whole stdout, stderr and exit code for each scenario, on
//! a copy of the library's `mini` fixture platform.

#[path = "../../kiln/tests/common.rs"]
mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

fn fixture() -> (TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("mini");
    common::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../kiln/tests/fixtures/mini"),
        &root,
    );
    (tmp, root)
}

/// Runs kiln in `root` and returns "exit N" plus stdout and stderr, for snapshots.
fn kiln(root: &Path, args: &[&str], envs: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.current_dir(root).args(args).env_remove("NO_COLOR");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    format!(
        "exit {}\n--- stdout\n{}--- stderr\n{}",
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).unwrap();
    assert!(text.contains(from));
    fs::write(path, text.replace(from, to)).unwrap();
}

#[test]
fn render_then_check_then_drift() {
    let (_tmp, root) = fixture();
    insta::assert_snapshot!(kiln(&root, &["check"], &[]));
    insta::assert_snapshot!(kiln(&root, &["render"], &[]), @r"
    exit 0
    --- stdout
    k8s: 15 added, 0 changed, 0 removed, 0 unchanged
    --- stderr
    ");
    insta::assert_snapshot!(kiln(&root, &["render"], &[]), @r"
    exit 0
    --- stdout
    k8s: up to date (15 files)
    --- stderr
    ");
    insta::assert_snapshot!(kiln(&root, &["check"], &[]), @r"
    exit 0
    --- stdout
    k8s: clean (15 files)
    --- stderr
    ");
    edit(
        &root.join("environments/prod.yaml"),
        "replicas: 2",
        "replicas: 3",
    );
    insta::assert_snapshot!(kiln(&root, &["check"], &[]));
    insta::assert_snapshot!(kiln(&root, &["render", "--env", "preview"], &[]), @r"
    exit 0
    --- stdout
    k8s: up to date (15 files)
    --- stderr
    ");
    insta::assert_snapshot!(kiln(&root, &["render", "--env", "prod"], &[]), @r"
    exit 0
    --- stdout
    k8s: 0 added, 1 changed, 0 removed, 14 unchanged
    --- stderr
    ");
}

#[test]
fn input_errors_exit_2_with_file_line_and_key() {
    let (_tmp, root) = fixture();
    edit(
        &root.join("environments/prod.yaml"),
        "replicas: 2",
        "replicas: two",
    );
    insta::assert_snapshot!(kiln(&root, &["render"], &[]), @r#"
    exit 2
    --- stdout
    --- stderr
    error: environments/prod.yaml:10:26 (key `apps.shop.web.replicas`): invalid type: string "two", expected u32
      --> environments/prod.yaml:10:26
       |
    10 |     web: { tag: 1a2b3c4, replicas: two }
       |                          ^^^^^^^^
    "#);
    assert!(!root.join("k8s").exists());
    let (_tmp, root) = fixture();
    insta::assert_snapshot!(kiln(&root, &["render", "--env", "nope"], &[]), @r"
    exit 2
    --- stdout
    --- stderr
    error: no environment `nope` (environments: preview, prod)
    ");
    insta::assert_snapshot!(kiln(root.parent().unwrap(), &["check"], &[]).replace(&root.parent().unwrap().display().to_string(), "TMP"), @r"
    exit 2
    --- stdout
    --- stderr
    error: no kiln.yaml in .; is this a kiln platform? (`kiln init` creates one)
    ");
}

#[test]
fn colour_only_when_asked_or_on_a_terminal_and_never_with_no_color() {
    let (_tmp, root) = fixture();
    kiln(&root, &["render"], &[]);
    edit(
        &root.join("environments/prod.yaml"),
        "replicas: 2",
        "replicas: 3",
    );
    let forced = kiln(&root, &["--color", "always", "check"], &[]);
    assert!(forced.contains("\x1b[31m"), "{forced}");
    // Piped output (not a terminal) is plain, with or without NO_COLOR.
    assert!(!kiln(&root, &["check"], &[]).contains('\x1b'));
    assert!(!kiln(&root, &["check"], &[("NO_COLOR", "1")]).contains('\x1b'));
    assert!(!kiln(&root, &["--color", "never", "check"], &[]).contains('\x1b'));
}

/// `kiln lint --rules` lists every rule with its severity and the failure it prevents, from
/// the library's table; it needs no platform.
#[test]
fn lint_lists_its_rules() {
    let tmp = tempfile::tempdir().unwrap();
    insta::assert_snapshot!(kiln(tmp.path(), &["lint", "--rules"], &[]));
}

/// `kiln check` on a generated file whose header was edited away: "modified", with what to do
/// before the render (which would refuse to overwrite it); a hand-added file in a generated
/// directory is a warning that does not fail the check.
#[test]
fn check_on_a_lost_header_says_how_to_fix_it() {
    let (_tmp, root) = fixture();
    kiln(&root, &["render"], &[]);
    fs::write(root.join("k8s/apps/shop/notes.md"), "hand-added\n").unwrap();
    insta::assert_snapshot!(kiln(&root, &["check"], &[]), @r"
    exit 0
    --- stdout
    not kiln's: k8s/apps/shop/notes.md (hand-added in a directory kiln generates; no kustomization.yaml lists it, so it is never applied)
    k8s: clean (15 files)
    --- stderr
    ");
    let path = root.join("k8s/apps/shop/pdb.yaml");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.split_once('\n').unwrap().1).unwrap();
    insta::assert_snapshot!(kiln(&root, &["check"], &[]), @r"
    exit 1
    --- stdout
    not kiln's: k8s/apps/shop/notes.md (hand-added in a directory kiln generates; no kustomization.yaml lists it, so it is never applied)
    modified: k8s/apps/shop/pdb.yaml (its first line is not kiln's header, so a render will not overwrite it)
      put the header back as its first line, or delete the file, then render:
      # Generated by kiln from environments/prod.yaml and templates/web/pdb.yaml.j2. Do not edit.
    k8s: 1 file(s) drifted; put kiln's header back in the 1 modified file(s) (or delete them), then run `kiln render` and commit the result
    --- stderr
    ");
    // Deleting the file, as the message offers, and rendering makes the tree clean again.
    fs::remove_file(&path).unwrap();
    kiln(&root, &["render"], &[]);
    assert_eq!(fs::read_to_string(&path).unwrap(), text);
}
