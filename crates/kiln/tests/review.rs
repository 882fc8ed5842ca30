//! The review diff on realistic changes of the repository's own platform, committed into a
//! temporary git repository (with its rendered `k8s/` tree, as a real platform commits it):
//! each case's markdown is a snapshot (tests/snapshots/review__*.snap), and the impact line or
//! readable form each case exists for is asserted. No secret value may appear in any format.

mod common;

use std::fs;
use std::path::PathBuf;

use tempfile::TempDir;

const SECRET: &str = "hunter2-plaintext-value";

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
        for dir in ["environments", "templates", "files"] {
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

    fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.root.join(file);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} lacks {from:?}");
        fs::write(path, text.replacen(from, to, 1)).unwrap();
    }

    fn edit_all(&self, file: &str, from: &str, to: &str) {
        let path = self.root.join(file);
        let text = fs::read_to_string(&path).unwrap();
        fs::write(path, text.replace(from, to)).unwrap();
    }

    fn diff(&self) -> kiln::Diff {
        kiln::diff_revisions(&self.root, "HEAD~1", Some("HEAD")).unwrap()
    }
}

/// Every format of the diff, checked for the secret; the markdown (one part) returned.
fn formats(diff: &kiln::Diff) -> (String, String) {
    let text = kiln::present::diff_text(diff, false);
    let parts = kiln::present::diff_markdown(diff, kiln::present::GITHUB_COMMENT_LIMIT);
    let json = serde_json::to_string(diff).unwrap();
    let affected = serde_json::to_string(&kiln::affected(diff)).unwrap();
    for (name, out) in [("text", &text), ("json", &json), ("affected", &affected)] {
        assert!(!out.contains(SECRET), "{name} shows the secret");
    }
    for p in &parts {
        assert!(!p.contains(SECRET), "markdown shows the secret");
        assert!(p.len() <= kiln::present::GITHUB_COMMENT_LIMIT);
    }
    (text, parts.join("\n<!-- next -->\n"))
}

/// Writes the markdown where the screenshot script finds it (KILN_REVIEW_OUT), if asked.
fn keep(name: &str, md: &str) {
    if let Ok(dir) = std::env::var("KILN_REVIEW_OUT") {
        fs::create_dir_all(&dir).unwrap();
        fs::write(PathBuf::from(dir).join(format!("{name}.md")), md).unwrap();
    }
}

fn impact_of(diff: &kiln::Diff, env: &str) -> Vec<String> {
    diff.environments
        .iter()
        .find(|e| e.name == env)
        .unwrap()
        .impact
        .iter()
        .map(|i| format!("{:?} {:?} {:?}: {}", i.level, i.kind, i.app, i.message))
        .collect()
}

#[test]
fn image_bump() {
    let repo = Repo::new();
    repo.edit("environments/production.yaml", "4b7e1d9", "9a9a9a9");
    repo.commit("bump archus");
    let diff = repo.diff();
    let (text, md) = formats(&diff);
    keep("image-bump", &md);
    assert!(text.contains("archus"), "{text}");
    assert!(
        md.contains("| archus | archus | `archus:4b7e1d9` → `9a9a9a9` |"),
        "{md}"
    );
    assert!(impact_of(&diff, "production")
        .iter()
        .any(|l| l.contains("Restart") && l.contains("pods restart (image)")));
    insta::assert_snapshot!(md);
}

#[test]
fn replicas_two_to_one() {
    let repo = Repo::new();
    repo.edit(
        "environments/production.yaml",
        "      tag: \"9c2d6e1\"\n      replicas: 2\n",
        "      tag: \"9c2d6e1\"\n      replicas: 1\n",
    );
    repo.commit("calnexus to one replica");
    let diff = repo.diff();
    let (_, md) = formats(&diff);
    keep("replicas", &md);
    assert!(md.contains("PodDisruptionBudget calnexus removed"), "{md}");
    assert!(md.contains("runs a single replica"), "{md}");
    assert!(md.contains("replicas 2 → 1"), "{md}");
    insta::assert_snapshot!(md);
}

#[test]
fn template_change_lists_restarting_workloads() {
    let repo = Repo::new();
    repo.edit(
        "templates/web/deployment.yaml.j2",
        "    spec:\n",
        "    spec:\n      terminationGracePeriodSeconds: 45\n",
    );
    repo.commit("longer grace period");
    let diff = repo.diff();
    let (_, md) = formats(&diff);
    keep("template", &md);
    let restarts = impact_of(&diff, "production")
        .into_iter()
        .filter(|l| l.contains("Restart"))
        .count();
    assert!(restarts >= 5, "{md}");
    assert!(md.contains("pods restart"), "{md}");
    assert!(md.contains("The same change in"), "{md}");
    insta::assert_snapshot!(md);
}

#[test]
fn on_delete_statefulset_needs_a_manual_rollout() {
    let repo = Repo::new();
    repo.edit(
        "kiln.yaml",
        "2b6a4e0c2f1d9c8e7a5b3d1f0e9c8b7a6d5e4f3c",
        "3c7b5f1d3e2e0d9f8b6c4e2a1f0d9c8b7e6f5a4d",
    );
    repo.commit("convex upgrade");
    let diff = repo.diff();
    let (_, md) = formats(&diff);
    keep("convex-ondelete", &md);
    assert!(md.contains("manual rollout needed"), "{md}");
    insta::assert_snapshot!(md);
}

#[test]
fn namespace_rename_starts_with_the_deleted_namespace() {
    let repo = Repo::new();
    repo.edit_all("environments/production.yaml", "hn-apps", "hn-web");
    repo.commit("rename namespace");
    let diff = repo.diff();
    let (_, md) = formats(&diff);
    keep("namespace-rename", &md);
    let first_block = md.split("\n\n").nth(2).unwrap();
    assert!(first_block.starts_with("> [!CAUTION]"), "{md}");
    assert!(
        first_block.contains("Namespace hn-apps deleted"),
        "{first_block}"
    );
    // An object that moves namespace with its image is no image change.
    assert!(!md.contains("| new"), "{md}");
    insta::assert_snapshot!(md);
}

#[test]
fn configmap_edit_is_a_line_diff() {
    let repo = Repo::new();
    repo.edit(
        "templates/signoz/configmap.yaml.j2",
        "        collection_interval: 30s\n",
        "        collection_interval: 60s\n",
    );
    repo.commit("scrape less often");
    let diff = repo.diff();
    let (text, md) = formats(&diff);
    keep("configmap", &md);
    assert!(text.contains("collection_interval: 30s -> 60s"), "{text}");
    assert!(
        md.contains("-         collection_interval: 30s\n+         collection_interval: 60s"),
        "{md}"
    );
    insta::assert_snapshot!(md);
}

#[test]
fn new_app_in_an_environment() {
    let repo = Repo::new();
    let staging = fs::read_to_string(repo.root.join("environments/staging.yaml")).unwrap();
    fs::write(
        repo.root.join("environments/staging.yaml"),
        format!(
            "{staging}  archus:\n    web:\n      tag: \"4b7e1d9\"\n      hosts: [archus-staging.hansenexus.dev]\n      onepassword: vaults/k3/items/archus-staging\n      env:\n        NEXT_PUBLIC_APP_URL: https://archus-staging.hansenexus.dev\n        NEXT_PUBLIC_CONVEX_URL: https://archus-staging-convex.hansenexus.dev\n    convex:\n      hosts: [archus-staging-convex.hansenexus.dev, archus-staging-convex-site.hansenexus.dev, archus-staging-convex-dashboard.hansenexus.dev]\n      onepassword: vaults/k3/items/archus-convex-staging\n      env: {{ INSTANCE_NAME: archus-staging }}\n"
        ),
    )
    .unwrap();
    repo.commit("archus on staging");
    let diff = repo.diff();
    let (_, md) = formats(&diff);
    keep("new-app", &md);
    assert!(
        md.contains("new public host https://archus-staging.hansenexus.dev"),
        "{md}"
    );
    assert!(md.contains("| archus | archus | `new` →"), "{md}");
    insta::assert_snapshot!(md);
}

#[test]
fn promotion_with_label_only_changes() {
    let repo = Repo::new();
    let sources = kiln::load(&repo.root).unwrap();
    let plan = kiln::plan_promote(&sources, "test", "production", &[]);
    let Ok(plan) = plan else {
        return; // no promotion path between these environments in this platform
    };
    let before = kiln::render(&plan.before).unwrap();
    let after = kiln::render(&plan.after).unwrap();
    let diff = kiln::diff(
        "production now",
        &before,
        "production with test's tags",
        &after,
    );
    let (_, md) = formats(&diff);
    keep("promotion", &md);
    insta::assert_snapshot!(md);
}

#[test]
fn secrets_are_masked_and_lint_errors_shown() {
    let repo = Repo::new();
    repo.edit(
        "environments/production.yaml",
        "        NEXT_PUBLIC_APP_URL: https://archus.hansenexus.dev\n",
        &format!("        NEXT_PUBLIC_APP_URL: https://archus.hansenexus.dev\n        DB_PASSWORD: {SECRET}\n"),
    );
    // The commit carries the secret (lint refuses to render it): commit the sources alone.
    common::git_commit(&repo.root, "a plaintext secret");
    let diff = repo.diff();
    let (text, md) = formats(&diff);
    keep("secret", &md);
    assert!(text.contains("‹hidden›"), "{text}");
    insta::assert_snapshot!(md);
}

#[test]
fn a_hand_edit_of_the_committed_tree_is_called_out() {
    let repo = Repo::new();
    let file = repo.root.join("k8s/apps/archus/deployment.yaml");
    let text = fs::read_to_string(&file).unwrap();
    fs::write(&file, text.replacen("replicas: 1\n", "replicas: 3\n", 1)).unwrap();
    common::git_commit(&repo.root, "hand edit");
    let diff = repo.diff();
    assert!(diff.is_empty());
    let (text, md) = formats(&diff);
    assert!(
        text.contains("differs from its render in 1 file(s)"),
        "{text}"
    );
    assert!(md.contains("The committed tree is not its render"), "{md}");
    let affected = kiln::affected(&diff);
    assert_eq!(affected.committed_drift, ["apps/archus/deployment.yaml"]);
    assert_eq!(affected.include.len(), 1, "{affected:?}");
    assert_eq!(affected.include[0].app.as_deref(), Some("archus"));
}
