//! Snapshot tests over every platform of the repository: one snapshot per environment with the
//! full rendered YAML (the review surface), one of the tree layout, and the determinism
//! properties (render twice, same bytes; the committed tree equals a fresh render).

mod common;

use std::fmt::Write as _;

fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(common::repo_root().join("snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings
}

#[test]
fn every_environment_of_every_platform() {
    for (name, dir) in common::platforms() {
        let platform = kiln::Platform::load(&dir).unwrap_or_else(|e| panic!("{name}: {e}"));
        let rendered = kiln::render(&platform).unwrap_or_else(|e| panic!("{name}: {e}"));

        let mut layout = String::new();
        for (path, file) in &rendered.files {
            let owner = file.env.as_deref().unwrap_or("(layout)");
            let objects: Vec<String> = file
                .objects
                .iter()
                .map(|o| {
                    let ns = o["metadata"]["namespace"]
                        .as_str()
                        .map(|n| format!("{n}/"))
                        .unwrap_or_default();
                    format!(
                        "{} {ns}{}",
                        o["kind"].as_str().unwrap(),
                        o["metadata"]["name"].as_str().unwrap()
                    )
                })
                .collect();
            let what = if objects.is_empty() {
                format!("resources: {}", file.resources.join(", "))
            } else {
                objects.join(", ")
            };
            writeln!(layout, "{path} [{owner}] {what}").unwrap();
        }
        let mut settings = snapshot_settings();
        settings.set_description(format!(
            "{name}: every rendered file, its environment and its objects"
        ));
        settings.bind(|| insta::assert_snapshot!(format!("{name}__layout"), layout));

        for env in &platform.environments {
            let mut text = String::new();
            for (path, file) in rendered
                .files
                .iter()
                .filter(|(_, f)| f.env.as_deref() == Some(env.name.as_str()))
            {
                writeln!(text, "=== {path}").unwrap();
                text.push_str(&file.text);
            }
            let mut settings = snapshot_settings();
            settings.set_description(format!("{name}: environment {} as rendered", env.name));
            settings.set_info(&serde_json::json!({"platform": name, "environment": env.name, "namespace": env.namespace, "dir": env.dir}));
            settings.bind(|| insta::assert_snapshot!(format!("{name}__{}", env.name), text));
        }
    }
}

#[test]
fn rendering_is_deterministic() {
    for (name, dir) in common::platforms() {
        let first = kiln::render(&kiln::Platform::load(&dir).unwrap()).unwrap();
        let second = kiln::render(&kiln::Platform::load(&dir).unwrap()).unwrap();
        assert!(first == second, "{name}: two renders differ");
    }
}

#[test]
fn committed_trees_equal_a_fresh_render() {
    for (name, dir) in common::platforms() {
        let platform = kiln::Platform::load(&dir).unwrap();
        let rendered = kiln::render(&platform).unwrap();
        let drift = kiln::check_tree(&platform.output_root(), &rendered).unwrap();
        assert!(
            drift.is_empty(),
            "{name}: the committed tree differs from a fresh render; run `cargo xtask render`:\n{}",
            kiln::present::drift_text(&platform.output, &drift, false)
        );
    }
}

#[test]
fn every_file_is_marked_generated_with_lf_and_one_trailing_newline() {
    for (name, dir) in common::platforms() {
        let rendered = kiln::render(&kiln::Platform::load(&dir).unwrap()).unwrap();
        for (path, file) in &rendered.files {
            assert!(
                file.text.starts_with(kiln::GENERATED_MARKER),
                "{name}: {path}"
            );
            assert!(!file.text.contains('\r'), "{name}: {path} has CR");
            assert!(
                file.text.ends_with('\n') && !file.text.ends_with("\n\n"),
                "{name}: {path}"
            );
        }
    }
}

/// A platform is data: no string literal under `crates/` may name an app, a namespace or a
/// hostname of any platform in the repository (the names are read from the platforms
/// themselves). Identifiers and comments are not platform data (`k8s_openapi::api` is not the
/// `api` app), string literals are where hard-coded knowledge would hide.
#[test]
fn no_rust_code_names_a_platform_app_namespace_or_hostname() {
    let mut names = std::collections::BTreeSet::new();
    for (_, dir) in common::platforms() {
        let platform = kiln::Platform::load(&dir).unwrap();
        for env in &platform.environments {
            names.insert(env.namespace.clone());
            for c in &env.components {
                names.insert(c.app.clone());
                names.insert(c.namespace.clone());
                names.extend(c.workload.hosts.iter().flatten().cloned());
            }
            names.extend(env.not_deployed.iter().map(|n| n.app.clone()));
        }
        names.extend(platform.apps.keys().cloned());
    }
    let crates = common::repo_root().join("crates");
    let mut hits = Vec::new();
    for entry in walkdir::WalkDir::new(&crates)
        .into_iter()
        .map(Result::unwrap)
    {
        let path = entry.path();
        let rust = path.extension().is_some_and(|e| e == "rs");
        if !entry.file_type().is_file()
            || !rust
            || path.components().any(|c| c.as_os_str() == "target")
        {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        for (n, line) in text.lines().enumerate() {
            for literal in string_literals(line) {
                for name in &names {
                    let mut from = 0;
                    while let Some(i) = literal[from..].find(name.as_str()) {
                        let (start, end) = (from + i, from + i + name.len());
                        let word = |c: Option<char>| {
                            c.is_some_and(|c| {
                                c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'
                            })
                        };
                        if !word(literal[..start].chars().next_back())
                            && !word(literal[end..].chars().next())
                        {
                            hits.push(format!(
                                "{}:{}: `{name}`",
                                path.strip_prefix(&crates).unwrap().display(),
                                n + 1
                            ));
                        }
                        from = end;
                    }
                }
            }
        }
    }
    assert!(
        hits.is_empty(),
        "platform names in Rust string literals (move them into the platform's data):\n{}",
        hits.join("\n")
    );
}

/// The contents of the `"..."` literals on one line (escapes kept as written; a literal that
/// spans lines is read line by line, which only makes the scan stricter).
fn string_literals(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(open) = rest.find('"') {
        let body = &rest[open + 1..];
        let mut end = None;
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        let Some(end) = end else {
            out.push(body);
            break;
        };
        out.push(&body[..end]);
        rest = &body[end + 1..];
    }
    out
}
