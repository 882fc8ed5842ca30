//! Custom resources checked against CustomResourceDefinitions, through the whole pipeline: the
//! CRDs a platform keeps in `crds/` and those its tree renders. Each case edits a repository
//! platform in memory (a template or a CRD) and shows what `kiln lint` reports: the field path
//! and the template line. The validator itself is tested against the real upstream CRDs in
//! `src/crd/tests.rs`.

mod common;

use std::path::{Path, PathBuf};

/// Lints the platform at `root` with `edit` applied to its sources first.
fn lint_with(root: &Path, edit: impl FnOnce(&mut kiln::Sources)) -> kiln::Result<String> {
    let mut sources = kiln::load(root)?;
    edit(&mut sources);
    let platform = kiln::resolve(&sources)?;
    let rendered = kiln::render(&platform)?;
    let report = kiln::lint::lint(&platform, &rendered);
    Ok(kiln::present::lint_text(&report, false))
}

fn replace_in(files: &mut [kiln::SourceFile], path: &str, from: &str, to: &str) {
    let file = files
        .iter_mut()
        .find(|f| f.path == Path::new(path))
        .unwrap_or_else(|| panic!("no {path}"));
    assert!(file.text.contains(from), "{path} has no `{from}`");
    file.text = file.text.replacen(from, to, 1);
}

/// The repository platform that keeps a CRD of `group` in its `crds/` (chosen by its data, not
/// by its name).
fn platform_with_crd(group: &str) -> PathBuf {
    common::platforms()
        .into_iter()
        .map(|(_, root)| root)
        .find(|root| {
            std::fs::read_dir(root.join("crds")).is_ok_and(|entries| {
                entries
                    .flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with(group))
            })
        })
        .unwrap_or_else(|| panic!("no platform keeps a CRD of {group}"))
}

/// The findings of one environment only, so snapshots stay short.
fn only_env(text: &str, env: &str) -> String {
    let mut out = String::new();
    let mut keep = false;
    for line in text.lines() {
        if line.starts_with("error[") || line.starts_with("warning[") {
            keep = line.contains(&format!(": {env}: "));
        } else if line.starts_with("lint:") || line.starts_with("exception[") {
            keep = false;
        }
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn the_repository_platforms_lint_clean_against_their_crds() {
    for (name, root) in common::platforms() {
        let text = lint_with(&root, |_| {}).unwrap();
        assert!(text.contains("lint: 0 error(s)"), "{name}:\n{text}");
    }
}

#[test]
fn a_typo_in_a_middleware_field_names_the_path_and_the_template_line() {
    let text = lint_with(&platform_with_crd("traefik.io"), |s| {
        replace_in(
            &mut s.templates,
            "convex-dashboard-auth/middleware.yaml.j2",
            "secret:",
            "secrett:",
        )
    })
    .unwrap();
    insta::assert_snapshot!(only_env(&text, "production"), @r"
    error[schema]: production: Middleware convex/convex-dashboard-auth
      at convex/middleware.yaml `spec.basicAuth.secrett`
      unknown field `secrett` (did you mean `secret`?); known fields: secret, headerField, realm, removeHeader
      why: the API server rejects (or silently drops) fields its schema does not know, so the object is not what the file says
      from: templates/convex-dashboard-auth/middleware.yaml.j2:14; settings of environments/production.yaml
    ");
}

#[test]
fn a_wrong_type_in_an_application_sync_policy_names_the_path_and_the_template_line() {
    let text = lint_with(&platform_with_crd("argoproj.io"), |s| {
        replace_in(
            &mut s.templates,
            "argocd/application.yaml.j2",
            "selfHeal: true",
            "selfHeal: \"yes\"",
        )
    })
    .unwrap();
    insta::assert_snapshot!(only_env(&text, "test"), @r#"
    error[schema]: test: Application argocd/sens-platform-test
      at test/bootstrap/application.yaml `spec.syncPolicy.automated.selfHeal`
      expected boolean, found string "yes"
      why: the API server rejects (or silently drops) fields its schema does not know, so the object is not what the file says
      from: templates/argocd/application.yaml.j2:26; a literal in the template, no data key sets it
    "#);
}

#[test]
fn a_missing_required_field_and_a_wrong_scope_are_caught() {
    let text = lint_with(&platform_with_crd("argoproj.io"), |s| {
        replace_in(
            &mut s.templates,
            "argocd/application.yaml.j2",
            "  project:",
            "  projectName:",
        )
    })
    .unwrap();
    let test = only_env(&text, "test");
    assert!(test.contains("missing required field `project`"), "{test}");
    assert!(test.contains("unknown field `projectName`"), "{test}");
}

#[test]
fn a_version_the_crd_does_not_serve_is_an_error() {
    let text = lint_with(&platform_with_crd("traefik.io"), |s| {
        replace_in(
            &mut s.templates,
            "convex-dashboard-auth/middleware.yaml.j2",
            "traefik.io/v1alpha1",
            "traefik.io/v1beta1",
        )
    })
    .unwrap();
    let production = only_env(&text, "production");
    assert!(
        production.contains("`apiVersion`")
            && production.contains("does not serve version `v1beta1`; served: traefik.io/v1alpha1"),
        "{production}"
    );
}

#[test]
fn a_kind_without_a_crd_or_declaration_is_unknown() {
    let root = platform_with_crd("traefik.io");
    let text = lint_with(&root, |s| {
        s.crds
            .retain(|f| !f.path.to_string_lossy().starts_with("traefik.io"))
    })
    .unwrap();
    assert!(
        text.contains("error[unknown-kind]") && text.contains("`Middleware` (traefik.io/v1alpha1)"),
        "{text}"
    );
}

#[test]
fn a_file_in_crds_that_is_not_a_crd_is_refused_with_its_location() {
    let err = lint_with(&common::repo_root(), |s| {
        s.crds[0]
            .text
            .push_str("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n");
    })
    .unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.starts_with("crds/") && shown.contains("ConfigMap is not a CustomResourceDefinition"),
        "{shown}"
    );
    assert!(err.location().and_then(|l| l.line).is_some(), "{shown}");
}

#[test]
fn a_crd_the_tree_renders_defines_its_kind() {
    // The HelmChartConfig CRD moves from crds/ into the tree: a rendered CRD checks the custom
    // resources of its environment.
    let root = platform_with_crd("helm.cattle.io");
    let ok = lint_with(&root, |s| {
        let crd = s.crds.remove(0);
        let body: String = crd
            .text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        let traefik = s
            .templates
            .iter_mut()
            .find(|t| {
                t.path
                    .to_string_lossy()
                    .ends_with("helmchartconfig.yaml.j2")
            })
            .expect("the platform renders a HelmChartConfig");
        traefik.text = format!("{body}---\n{}", traefik.text);
    })
    .unwrap();
    assert!(ok.contains("lint: 0 error(s)"), "{ok}");
}
