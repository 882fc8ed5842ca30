//! `kiln diff` and `kiln affected` on a temporary git repository whose commits the test makes
//! itself: added, removed, changed and moved objects, an image tag bump, a template change
//! that touches every app, a change with no rendered effect, and the markdown split.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

struct Repo {
    _tmp: TempDir,
    root: PathBuf,
}

impl Repo {
    /// The mini fixture committed as the first revision.
    fn new() -> Repo {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("repo");
        common::copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mini"),
            &root,
        );
        let repo = Repo { _tmp: tmp, root };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.commit("base");
        repo
    }

    fn git(&self, args: &[&str]) {
        common::git(&self.root, args);
    }

    fn commit(&self, message: &str) {
        common::git_commit(&self.root, message);
    }

    fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.root.join(file);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} lacks {from:?}");
        fs::write(path, text.replace(from, to)).unwrap();
    }

    /// The diff of HEAD~1..HEAD.
    fn last_diff(&self) -> kiln::Diff {
        let base = kiln::render_at(&self.root, "HEAD~1").unwrap();
        let head = kiln::render_at(&self.root, "HEAD").unwrap();
        kiln::diff("HEAD~1", &base, "HEAD", &head)
    }
}
fn affected(diff: &kiln::Diff) -> Vec<(String, Option<String>)> {
    kiln::affected(diff)
        .include
        .into_iter()
        .map(|a| (a.environment, a.app))
        .collect()
}

#[test]
fn image_tag_bump_is_one_field_and_called_out() {
    let repo = Repo::new();
    repo.edit("environments/prod.yaml", "5d6e7f8", "9a9a9a9");
    repo.commit("bump blog");
    let diff = repo.last_diff();
    insta::assert_snapshot!(kiln::present::diff_text(&diff, false));
    assert_eq!(
        affected(&diff),
        [("prod".to_owned(), Some("blog".to_owned()))]
    );
}

#[test]
fn added_and_removed_objects_and_apps() {
    let repo = Repo::new();
    // shop leaves preview; blog joins it; shop goes to one replica in prod (its PDB goes).
    repo.edit(
        "environments/preview.yaml",
        "  shop:\n    web: { tag: 1a2b3c4, replicas: 2 }\n",
        "  blog:\n    web: { tag: 5d6e7f8 }\n",
    );
    repo.edit(
        "environments/prod.yaml",
        "web: { tag: 1a2b3c4, replicas: 2 }",
        "web: { tag: 1a2b3c4, replicas: 1 }",
    );
    repo.commit("reshuffle");
    let diff = repo.last_diff();
    insta::assert_snapshot!(kiln::present::diff_text(&diff, false));
    assert_eq!(
        affected(&diff),
        [
            ("preview".to_owned(), Some("blog".to_owned())),
            ("preview".to_owned(), Some("shop".to_owned())),
            ("prod".to_owned(), Some("shop".to_owned())),
        ]
    );
}

#[test]
fn a_moved_object_is_no_change() {
    let repo = Repo::new();
    repo.edit(
        "environments/prod.yaml",
        "web: { dir: \"apps/{app}\" }",
        "web: { dir: \"workloads/{app}\" }",
    );
    repo.commit("move apps");
    let diff = repo.last_diff();
    assert!(
        diff.is_empty(),
        "{}",
        kiln::present::diff_text(&diff, false)
    );
    assert!(affected(&diff).is_empty());
}

#[test]
fn a_change_without_rendered_effect_is_empty() {
    let repo = Repo::new();
    repo.edit(
        "kiln.yaml",
        "# A two-app platform",
        "# A small two-app platform",
    );
    repo.commit("comment");
    let diff = repo.last_diff();
    assert!(diff.is_empty());
    assert_eq!(
        kiln::present::diff_markdown(&diff, kiln::present::GITHUB_COMMENT_LIMIT).len(),
        1
    );
    assert!(
        kiln::present::diff_markdown(&diff, kiln::present::GITHUB_COMMENT_LIMIT)[0]
            .contains("No rendered object changes.")
    );
    assert_eq!(
        serde_json::to_value(kiln::affected(&diff)).unwrap()["include"],
        serde_json::json!([])
    );
}

#[test]
fn a_template_change_touches_every_app_it_renders() {
    let repo = Repo::new();
    repo.edit(
        "templates/web/deployment.yaml.j2",
        "    metadata:\n      labels:\n",
        "    metadata:\n      annotations:\n        team: web\n      labels:\n",
    );
    repo.commit("annotate pods");
    let diff = repo.last_diff();
    assert_eq!(
        affected(&diff),
        [
            ("preview".to_owned(), Some("shop".to_owned())),
            ("prod".to_owned(), Some("blog".to_owned())),
            ("prod".to_owned(), Some("shop".to_owned())),
        ]
    );
    let fields: Vec<&str> = diff.environments[1].objects[0]
        .fields
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    // The annotations mapping is new: one subtree, shown as a YAML block.
    assert_eq!(fields, ["spec.template.metadata.annotations"]);
}

#[test]
fn markdown_splits_at_the_limit_between_objects() {
    let repo = Repo::new();
    repo.edit("environments/prod.yaml", "5d6e7f8", "9a9a9a9");
    repo.edit("environments/prod.yaml", "replicas: 2", "replicas: 3");
    repo.edit("environments/preview.yaml", "replicas: 2", "replicas: 4");
    repo.commit("several");
    let diff = repo.last_diff();
    let whole = kiln::present::diff_markdown(&diff, kiln::present::GITHUB_COMMENT_LIMIT);
    assert_eq!(whole.len(), 1);
    insta::assert_snapshot!(whole[0]);
    let limit = 700;
    let parts = kiln::present::diff_markdown(&diff, limit);
    assert!(parts.len() > 1, "{parts:#?}");
    for (i, part) in parts.iter().enumerate() {
        assert!(part.len() <= limit, "part {i} has {} chars", part.len());
        assert!(part.starts_with(&format!(
            "{}{} -->\n<sub>part {} of {}</sub>",
            kiln::present::COMMENT_MARKER,
            i + 1,
            i + 1,
            parts.len()
        )));
        // No object block is cut: every ```diff fence is closed in the same part.
        assert_eq!(
            part.matches("```diff").count(),
            part.matches("\n```\n").count(),
            "{part}"
        );
        assert_eq!(
            part.matches("<details>").count(),
            part.matches("</details>").count(),
            "{part}"
        );
    }
}

#[test]
fn json_has_a_stable_shape() {
    let repo = Repo::new();
    repo.edit("environments/prod.yaml", "5d6e7f8", "9a9a9a9");
    repo.commit("bump");
    let diff = repo.last_diff();
    insta::assert_json_snapshot!(diff);
}

#[test]
fn reading_a_revision_leaves_the_working_tree_alone() {
    let repo = Repo::new();
    repo.edit("environments/prod.yaml", "5d6e7f8", "9a9a9a9");
    let before = fs::read_to_string(repo.root.join("environments/prod.yaml")).unwrap();
    let base = kiln::render_at(&repo.root, "HEAD").unwrap();
    let head = kiln::render(&kiln::Platform::load(&repo.root).unwrap()).unwrap();
    assert_eq!(
        kiln::diff("HEAD", &base, "working tree", &head).environments[1].changed,
        1
    );
    assert_eq!(
        fs::read_to_string(repo.root.join("environments/prod.yaml")).unwrap(),
        before
    );
    assert!(!repo.root.join("k8s").exists());
    let err = kiln::render_at(&repo.root, "no-such-rev").unwrap_err();
    assert!(
        err.to_string().contains("`no-such-rev` is not a commit"),
        "{err}"
    );
}

/// `environments:` of kiln.yaml orders the diff and `affected` (and `kiln envs`); a name that
/// is no environment is an error at its line.
#[test]
fn the_platforms_environment_order_orders_diff_and_affected() {
    let repo = Repo::new();
    repo.edit(
        "kiln.yaml",
        "output: k8s\n",
        "output: k8s\nenvironments: [prod, preview]\n",
    );
    repo.commit("order");
    repo.edit(
        "templates/web/deployment.yaml.j2",
        "    metadata:\n      labels:\n",
        "    metadata:\n      annotations:\n        team: web\n      labels:\n",
    );
    let diff = kiln::diff_revisions(&repo.root, "HEAD", None).unwrap();
    let names: Vec<&str> = diff.environments.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["prod", "preview"]);
    let affected = kiln::affected(&diff);
    assert_eq!(affected.environments, ["prod", "preview"]);
    assert_eq!(
        affected
            .include
            .iter()
            .map(|a| (a.environment.as_str(), a.app.as_deref()))
            .collect::<Vec<_>>(),
        [
            ("prod", Some("blog")),
            ("prod", Some("shop")),
            ("preview", Some("shop"))
        ]
    );
    let platform = kiln::Platform::load(&repo.root).unwrap();
    let envs: Vec<String> = kiln::explain::envs(&platform)
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(envs, ["prod", "preview"]);

    repo.edit(
        "kiln.yaml",
        "environments: [prod, preview]",
        "environments: [prod, staging]",
    );
    let err = kiln::Platform::load(&repo.root).unwrap_err().to_string();
    assert!(
        err == "kiln.yaml:4:22 (key `environments.1`): no environment `staging` (environments: preview, prod)",
        "{err}"
    );
    repo.edit(
        "kiln.yaml",
        "environments: [prod, staging]",
        "environments: [prod, prod]",
    );
    let err = kiln::Platform::load(&repo.root).unwrap_err().to_string();
    assert!(
        err.contains("(key `environments.1`): environment `prod` is listed twice"),
        "{err}"
    );
}
