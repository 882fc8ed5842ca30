use std::path::{Path, PathBuf};

use super::*;

fn crd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/crds")
}

fn load_all() -> CrdSet {
    let mut set = CrdSet::default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(crd_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        for (line, doc) in crate::yaml::parse_values(&text, Path::new(&name)).unwrap() {
            set.add(&name, line, &doc).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    set
}

#[test]
fn loads_every_shared_crd() {
    let t = std::time::Instant::now();
    let set = load_all();
    eprintln!("loaded {} kinds in {:?}", set.len(), t.elapsed());
    assert_eq!(set.len(), 22);
}
