//! The `mini` test platform, in memory: the fixed part of every fuzz input.

use std::path::{Path, PathBuf};

use kiln::{SourceFile, Sources};

macro_rules! fixture {
    ($path:literal) => {
        include_str!(concat!("../../crates/kiln/tests/fixtures/mini/", $path))
    };
}

fn file(path: &str, text: &str) -> SourceFile {
    SourceFile {
        path: PathBuf::from(path),
        text: text.to_owned(),
    }
}

/// The mini platform's sources, with `environments/prod.yaml` replaced by `prod` when given and
/// `templates/web/deployment.yaml.j2` by `deployment` when given.
pub fn sources(prod: Option<&str>, deployment: Option<&str>) -> Sources {
    Sources {
        root: Path::new("/nonexistent/mini").to_path_buf(),
        platform: file("kiln.yaml", fixture!("kiln.yaml")),
        environments: vec![
            file("environments/preview.yaml", fixture!("environments/preview.yaml")),
            file(
                "environments/prod.yaml",
                prod.unwrap_or(fixture!("environments/prod.yaml")),
            ),
        ],
        templates: vec![
            file(
                "namespace/namespace.yaml.j2",
                fixture!("templates/namespace/namespace.yaml.j2"),
            ),
            file(
                "web/deployment.yaml.j2",
                deployment.unwrap_or(fixture!("templates/web/deployment.yaml.j2")),
            ),
            file("web/pdb.yaml.j2", fixture!("templates/web/pdb.yaml.j2")),
        ],
        files: Vec::new(),
        crds: Vec::new(),
    }
}

/// What every successful render must satisfy: each file is kiln-generated YAML that reads back.
pub fn check_rendered(rendered: &kiln::Rendered) {
    for (path, file) in &rendered.files {
        assert!(file.text.starts_with(kiln::GENERATED_MARKER), "{path}");
        assert!(file.text.ends_with('\n') && !file.text.contains('\r'), "{path}");
        let docs = kiln::yaml::parse_documents(&file.text, Path::new(path))
            .unwrap_or_else(|e| panic!("{path} does not read back: {e}\n{}", file.text));
        if !file.objects.is_empty() {
            let read: Vec<_> = docs.iter().map(kiln::yaml::Node::to_json).collect();
            assert_eq!(read, file.objects, "{path} reads back differently");
        }
    }
}
