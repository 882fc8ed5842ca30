//! The review diff on realistic changes of the repository's own platform, committed into a
//! temporary git repository (with its rendered `k8s/` tree, as a real platform commits it):
//! each case's markdown is a snapshot (tests/snapshots/review__*.snap), and the impact line or
//! readable form each case exists for is asserted. No secret value may appear in any format.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use tempfile::TempDir;

struct Repo {
    _tmp: TempDir,
    root: PathBuf,
}

impl Repo {
    fn new() -> Repo {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("repo");
        let src = common::repo_root();
        fs::create_dir_all(&root).unwrap();
        fs::copy(src.join("kiln.yaml"), root.join("kiln.yaml")).unwrap();
        fs::copy(src.join("kiln.lock"), root.join("kiln.lock")).unwrap();
        fs::write(root.join(".gitignore"), ".kiln/\n").unwrap();
        for dir in ["environments", "templates", "files", "crds", "charts"] {
            if src.join(dir).is_dir() {
                common::copy_dir(&src.join(dir), &root.join(dir));
            }
        }
        let repo = Repo { _tmp: tmp, root };
        common::git(&repo.root, &["init", "-q", "-b", "main"]);
        repo.commit("base");
        repo
    }

    /// Renders the tree (as CI demands) and commits everything.
    fn commit(&self, message: &str) {
        let platform = kiln::Platform::load(&self.root).unwrap();
        match kiln::render_to_disk(&platform, &Default::default()).unwrap() {
            kiln::Rendering::Written { .. } => {}
            kiln::Rendering::Refused(lint) => panic!("{}", kiln::present::lint_text(&lint, false)),
        }
        common::git_commit(&self.root, message);
    }
}

/// Every format of the diff, checked for the secret; the text and the markdown (parts joined).
fn formats(diff: &kiln::Diff, secret: &str) -> (String, String) {
    let text = kiln::present::diff_text(diff, false);
    let parts = kiln::present::diff_markdown(diff, kiln::present::GITHUB_COMMENT_LIMIT);
    let json = serde_json::to_string(diff).unwrap();
    let affected = serde_json::to_string(&kiln::affected(diff)).unwrap();
    for (name, out) in [("text", &text), ("json", &json), ("affected", &affected)] {
        assert!(!out.contains(secret), "{name} shows the secret");
    }
    for p in &parts {
        assert!(!p.contains(secret), "markdown shows the secret");
        assert!(p.len() <= kiln::present::GITHUB_COMMENT_LIMIT);
    }
    (text, parts.join("\n<!-- next -->\n"))
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

fn run(name: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/review/cases.yaml");
    let text = fs::read_to_string(&path).unwrap();
    let doc = kiln::yaml::parse_values(&text, &path).unwrap().remove(0).1;
    let secret = doc["secret"].as_str().unwrap();
    let case = &doc["cases"][name];
    assert!(case.is_object(), "no case {name}");
    let repo = Repo::new();
    for edit in case["edits"].as_array().unwrap() {
        let file = repo.root.join(edit["file"].as_str().unwrap());
        let mut body = fs::read_to_string(&file).unwrap();
        if let Some(more) = edit["append"].as_str() {
            body.push_str(more);
        } else {
            let (from, to) = (edit["from"].as_str().unwrap(), edit["to"].as_str().unwrap());
            assert!(body.contains(from), "{} lacks {from:?}", file.display());
            body = if edit["all"] == Value::Bool(true) {
                body.replace(from, to)
            } else {
                body.replacen(from, to, 1)
            };
        }
        fs::write(&file, body).unwrap();
    }
    if case["render"] == Value::Bool(false) {
        common::git_commit(&repo.root, name);
    } else {
        repo.commit(name);
    }
    let diff = kiln::diff_revisions(&repo.root, "HEAD~1", Some("HEAD")).unwrap();
    let (text, md) = formats(&diff, secret);
    if let Ok(dir) = std::env::var("KILN_REVIEW_OUT") {
        fs::create_dir_all(&dir).unwrap();
        fs::write(PathBuf::from(&dir).join(format!("{name}.md")), &md).unwrap();
        fs::write(PathBuf::from(&dir).join(format!("{name}.txt")), &text).unwrap();
    }
    for s in strings(&case["markdown"]) {
        assert!(md.contains(s), "{name}: markdown lacks {s:?}:\n{md}");
    }
    for s in strings(&case["text"]) {
        assert!(text.contains(s), "{name}: text lacks {s:?}:\n{text}");
    }
    for s in strings(&case["absent"]) {
        assert!(!md.contains(s), "{name}: markdown has {s:?}:\n{md}");
    }
    if let Some(first) = case["first_block"].as_str() {
        // The first block after the title (a split comment has its part line before it).
        let block = md
            .split("\n\n")
            .skip_while(|b| !b.contains("### kiln"))
            .nth(1)
            .unwrap();
        assert!(block.starts_with(first), "{name}: starts with {block:?}");
    }
    if case["empty"] == Value::Bool(true) {
        assert!(diff.is_empty(), "{text}");
    }
    if case["committed_drift"].is_array() {
        let affected = kiln::affected(&diff);
        assert_eq!(affected.committed_drift, strings(&case["committed_drift"]));
        assert_eq!(affected.include.len(), 1, "{affected:?}");
        assert!(affected.include[0].app.is_some(), "{affected:?}");
    }
    // Commit ids change with every run: the snapshot names them by role.
    let mut md = md;
    for (commit, role) in [(&diff.base_commit, "<base>"), (&diff.head_commit, "<head>")] {
        if let Some(c) = commit {
            md = md.replace(&c[..7], role);
        }
    }
    insta::assert_snapshot!(name, md);
}

#[test]
fn image_bump() {
    run("image-bump");
}

#[test]
fn replicas_two_to_one_says_the_pdb_goes_and_one_replica_runs() {
    run("replicas");
}

#[test]
fn template_change_lists_restarting_workloads() {
    run("template");
}

#[test]
fn on_delete_statefulset_needs_a_manual_rollout() {
    run("convex-ondelete");
}

#[test]
fn namespace_rename_starts_with_the_deleted_namespace() {
    run("namespace-rename");
}

#[test]
fn configmap_edit_is_a_line_diff() {
    run("configmap");
}

#[test]
fn new_app_in_an_environment() {
    run("new-app");
}

#[test]
fn secrets_are_masked_and_lint_errors_shown() {
    run("secret");
}

#[test]
fn a_hand_edit_of_the_committed_tree_is_called_out() {
    run("hand-edit");
}
