//! `kubectl kustomize` builds the root and every directory of every rendered tree, and yields
//! exactly the objects kiln rendered there.
//!
//! Needs kubectl (kustomize v5 inside): `KILN_KUBECTL`, then `kubectl` on PATH, then the cache
//! of `../shared/tools/install-kubectl`. Without it the test says so loudly and passes, unless
//! `KILN_REQUIRE_KUBECTL=1` (CI sets it), which turns a missing kubectl into a failure.

mod common;
#[path = "support/kubectl.rs"]
mod kubectl;

use std::collections::BTreeMap;

use kubectl::{key, Key};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The objects kustomize should emit for `dir`: its files' objects and, recursively, those of
/// the directories its kustomization lists.
fn expected(rendered: &kiln::Rendered, dir: &str, out: &mut BTreeMap<Key, Value>) {
    let kpath = if dir == "." {
        "kustomization.yaml".to_owned()
    } else {
        format!("{dir}/kustomization.yaml")
    };
    let kfile = &rendered.files[&kpath];
    for resource in &kfile.resources {
        let path = if dir == "." {
            resource.clone()
        } else {
            format!("{dir}/{resource}")
        };
        match rendered.files.get(&path) {
            Some(file) => {
                for o in &file.objects {
                    assert!(
                        out.insert(key(o), o.clone()).is_none(),
                        "{path}: duplicate object {:?}",
                        key(o)
                    );
                }
            }
            None => expected(rendered, &path, out),
        }
    }
}

#[test]
fn kustomize_builds_every_directory_into_exactly_the_rendered_objects() {
    let Some(kubectl) = kubectl::kubectl_or_skip("the kustomize build test") else {
        return;
    };
    for (name, dir) in common::platforms() {
        let platform = kiln::Platform::load(&dir).unwrap();
        let rendered = kiln::render(&platform).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("k8s");
        kiln::write_tree(&out, &rendered, &Default::default()).unwrap();
        let dirs: Vec<String> = rendered
            .files
            .keys()
            .filter_map(|p| p.strip_suffix("kustomization.yaml"))
            .map(|d| {
                if d.is_empty() {
                    ".".to_owned()
                } else {
                    d.trim_end_matches('/').to_owned()
                }
            })
            .collect();
        for d in dirs {
            let output = Command::new(&kubectl)
                .arg("kustomize")
                .arg(out.join(&d))
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{name}: kubectl kustomize {d} failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let text = String::from_utf8(output.stdout).unwrap();
            let documents =
                kiln::yaml::parse_documents(&text, Path::new("kustomize output")).unwrap();
            let mut built = BTreeMap::new();
            for doc in documents {
                let o = doc.to_json();
                assert!(
                    built.insert(key(&o), o).is_none(),
                    "{name}: {d}: kustomize emitted a duplicate"
                );
            }
            let mut want = BTreeMap::new();
            expected(&rendered, &d, &mut want);
            let built_keys: Vec<_> = built.keys().collect();
            let want_keys: Vec<_> = want.keys().collect();
            assert_eq!(
                built_keys, want_keys,
                "{name}: {d}: kustomize built other objects than kiln rendered"
            );
            for (k, o) in &want {
                assert_eq!(&built[k], o, "{name}: {d}: {k:?} differs after kustomize");
            }
        }
    }
}
