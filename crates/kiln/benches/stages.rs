//! Stage benchmarks: each stage of kiln's pipeline on synthetic fleets of 10, 100 and 1000 web
//! apps in four environments (the fleet of `cargo xtask fleet`), so that a regression points at
//! its stage.
//!
//! ```text
//! cargo bench -p kiln --bench stages               # every stage, every size
//! cargo bench -p kiln --bench stages -- render     # one stage (a name filter)
//! ```
//!
//! `render` is the whole of `kiln::render` (templates, YAML parse of their output, layout and
//! serialisation); `render_and_lint` is what `kiln render` and `kiln check` run (environment by
//! environment, lint included, objects dropped as they go); `serialise` is its emitter share alone. `write` writes a fresh tree (the
//! atomic swap with its `syncfs`), `compare` checks an up-to-date tree on disk (`kiln check`
//! without the render). End-to-end numbers against helm and kustomize are in BENCHMARKS.md
//! (`cargo xtask bench-peers`).

use std::path::{Path, PathBuf};

use divan::Bencher;

/// The allocator `kiln` itself runs with, so the stages cost here what they cost in the CLI.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../../../xtask/src/fleet/platform.rs"]
#[allow(dead_code)]
mod platform;

fn main() {
    divan::main();
}

const SIZES: &[usize] = &[10, 100, 1000];

/// A fleet of `apps` written to a temporary directory.
struct Fleet {
    dir: tempfile::TempDir,
}

impl Fleet {
    fn new(apps: usize) -> Fleet {
        let dir = tempfile::tempdir().expect("a temporary directory");
        for (path, text) in platform::kiln_files(&platform::names(apps)) {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().expect("files are in directories"))
                .expect("create a fleet directory");
            std::fs::write(path, text).expect("write a fleet file");
        }
        Fleet { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn platform(&self) -> kiln::Platform {
        kiln::Platform::load(self.root()).expect("the fleet loads")
    }

    /// The fleet rendered and written to its output root.
    fn written(&self) -> (kiln::Platform, kiln::Rendered, PathBuf) {
        let platform = self.platform();
        let rendered = kiln::render(&platform).expect("the fleet renders");
        let out = platform.output_root();
        kiln::write_tree(&out, &rendered, &Default::default()).expect("the fleet writes");
        (platform, rendered, out)
    }
}

// At most a few seconds per stage and size, so that a full run stays within minutes.
#[divan::bench(args = SIZES, max_time = 3)]
fn load(bencher: Bencher, apps: usize) {
    let fleet = Fleet::new(apps);
    bencher
        .with_inputs(|| ())
        .bench_values(|()| kiln::load(fleet.root()).expect("loads"));
}

#[divan::bench(args = SIZES, max_time = 3)]
fn resolve(bencher: Bencher, apps: usize) {
    let fleet = Fleet::new(apps);
    let sources = kiln::load(fleet.root()).expect("loads");
    bencher
        .with_inputs(|| ())
        .bench_values(|()| kiln::resolve(&sources).expect("resolves"));
}

#[divan::bench(args = SIZES, max_time = 3)]
fn render(bencher: Bencher, apps: usize) {
    let platform = Fleet::new(apps).platform();
    bencher
        .with_inputs(|| ())
        .bench_values(|()| kiln::render(&platform).expect("renders"));
}

/// What `kiln render` and `kiln check` run: render and lint environment by environment, keeping
/// only the bytes. Against `render` alone, this is what lint adds.
#[divan::bench(args = SIZES, max_time = 3)]
fn render_and_lint(bencher: Bencher, apps: usize) {
    let platform = Fleet::new(apps).platform();
    bencher
        .with_inputs(|| ())
        .bench_values(|()| kiln::render_and_lint(&platform).expect("renders"));
}

#[divan::bench(args = SIZES, max_time = 3)]
fn serialise(bencher: Bencher, apps: usize) {
    let rendered = kiln::render(&Fleet::new(apps).platform()).expect("renders");
    let objects: Vec<&serde_json::Value> = rendered
        .files
        .values()
        .flat_map(|f| f.objects.iter())
        .collect();
    bencher.with_inputs(|| ()).bench_values(|()| {
        let mut out = String::new();
        for object in &objects {
            kiln::yaml::emit_document(object, &mut out);
        }
        out
    });
}

#[divan::bench(args = SIZES, max_time = 3)]
fn lint(bencher: Bencher, apps: usize) {
    let platform = Fleet::new(apps).platform();
    let rendered = kiln::render(&platform).expect("renders");
    bencher
        .with_inputs(|| ())
        .bench_values(|()| kiln::lint::lint(&platform, &rendered));
}

#[divan::bench(args = SIZES, max_time = 3)]
fn write(bencher: Bencher, apps: usize) {
    let platform = Fleet::new(apps).platform();
    let rendered = kiln::render(&platform).expect("renders");
    bencher
        .with_inputs(|| tempfile::tempdir().expect("a temporary directory"))
        .bench_values(|dir| {
            kiln::write_tree(&dir.path().join("k8s"), &rendered, &Default::default())
                .expect("writes");
            // Returned, so that removing the tree is not timed.
            dir
        });
}

#[divan::bench(args = SIZES, max_time = 3)]
fn compare(bencher: Bencher, apps: usize) {
    let fleet = Fleet::new(apps);
    let (_platform, rendered, out) = fleet.written();
    bencher.with_inputs(|| ()).bench_values(|()| {
        let drift = kiln::check_tree(&out, &rendered).expect("compares");
        assert!(drift.is_empty());
    });
}
