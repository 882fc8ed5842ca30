//! Hostile input and faults, through the library: every folder of `tests/hostile/` is a case (see
//! `hostile/harness.rs` for its `case.yaml`). For each, the outcome of `render` and then
//! `check` is snapshotted (`snapshots/hostile__<case>.snap`), and the harness asserts:
//!
//! - a failed render leaves everything as it was (the platform, its output tree, the files next
//!   to it), byte for byte, symlinks and special files included;
//! - `check` never writes, whatever it finds;
//! - a render that succeeds is followed by a clean check, and a second render changes nothing.
//!
//! The binary runs the same cases for exit codes (`crates/kiln-cli/tests/hostile.rs`).

mod common;
#[path = "hostile/harness.rs"]
mod harness;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use harness::{dir_state, listing, prepare, Case, Prepared};

fn render_to(root: &Path, out: Option<&Path>) -> kiln::Result<kiln::WriteReport> {
    let platform = kiln::Platform::load(root)?;
    let rendered = kiln::render(&platform)?;
    let out = out.map_or_else(|| platform.output_root(), Path::to_path_buf);
    kiln::write_tree(&out, &rendered, &Default::default())
}

fn check_at(root: &Path, out: Option<&Path>) -> kiln::Result<Vec<kiln::Drift>> {
    let platform = kiln::Platform::load(root)?;
    let rendered = kiln::render(&platform)?;
    let out = out.map_or_else(|| platform.output_root(), Path::to_path_buf);
    kiln::check_tree(&out, &rendered)
}

fn error_text(p: &Prepared, err: &kiln::Error) -> String {
    format!("error ({:?})\n  {}", err.kind(), p.redact(&err.to_string()))
}

/// Runs one case (one `each` value) and returns its part of the snapshot.
fn run(case: &Case, each: Option<&str>) -> String {
    let p = prepare(case, each, |root| {
        render_to(root, None).expect("the pristine platform renders");
    });
    let out: Option<PathBuf> = p.output_root(case);
    let everything = p.tmp.path();
    let before = dir_state(everything);
    let mut text = String::new();

    let rendered = render_to(&p.root, out.as_deref());
    match &rendered {
        Ok(report) => {
            let _ = writeln!(
                text,
                "render: ok, {} added, {} changed, {} removed, {} unchanged",
                report.added.len(),
                report.changed.len(),
                report.removed.len(),
                report.unchanged
            );
        }
        Err(err) => {
            let _ = writeln!(text, "render: {}", error_text(&p, err));
            assert_eq!(
                dir_state(everything),
                before,
                "{}: a failed render changed files",
                case.name
            );
        }
    }

    let before_check = dir_state(everything);
    match check_at(&p.root, out.as_deref()) {
        Ok(drift) if drift.is_empty() => text.push_str("check: clean\n"),
        Ok(drift) => {
            let _ = write!(
                text,
                "check: drift\n{}",
                kiln::present::drift_text("k8s", &drift, false)
            );
        }
        Err(err) => {
            let _ = writeln!(text, "check: {}", error_text(&p, &err));
        }
    }
    assert_eq!(
        dir_state(everything),
        before_check,
        "{}: check wrote",
        case.name
    );

    if rendered.is_ok() {
        let again = render_to(&p.root, out.as_deref()).unwrap();
        assert!(
            again.is_noop(),
            "{}: a second render changed {again:?}",
            case.name
        );
        let drift = check_at(&p.root, out.as_deref()).unwrap();
        assert!(
            drift.is_empty(),
            "{}: drift after render: {drift:?}",
            case.name
        );
        let _ = writeln!(text, "platform directory: {}", listing(&p.root));
    }
    for path in case.show() {
        let shown =
            std::fs::read_to_string(p.root.join(&path)).unwrap_or_else(|e| format!("({e})\n"));
        let _ = write!(text, "--- {path}\n{shown}");
    }
    text
}

#[test]
fn hostile_cases() {
    let mut failures = Vec::new();
    for case in harness::cases() {
        if case.cli()["only"].as_bool() == Some(true) {
            continue;
        }
        let outcome = std::panic::catch_unwind(|| {
            let mut text = format!("{}\n\n", case.about());
            let runs = case.runs();
            for each in &runs {
                if let Some(value) = each {
                    let _ = writeln!(text, "[{}]", value.replace('\n', "\\n"));
                }
                text.push_str(&run(&case, each.as_deref()));
                if runs.len() > 1 {
                    text.push('\n');
                }
            }
            let mut settings = insta::Settings::clone_current();
            settings.set_omit_expression(true);
            settings.set_input_file(case.dir.join("case.yaml"));
            settings.bind(|| insta::assert_snapshot!(case.name.clone(), text));
        });
        if outcome.is_err() {
            failures.push(case.name.clone());
        }
    }
    assert!(failures.is_empty(), "failed cases: {failures:?}");
}

/// Same inputs, same bytes, whatever order the directory listings come in: the sources are fed
/// to resolve and render in shuffled orders and must render the same tree.
#[test]
fn the_order_of_inputs_does_not_change_a_byte() {
    let dir = harness::kiln_tests_dir().join("fixtures/mini");
    let sources = kiln::load(&dir).unwrap();
    let expected = kiln::render(&kiln::resolve(&sources).unwrap()).unwrap();
    for turn in 1..4 {
        let mut shuffled = sources.clone();
        shuffled.environments.reverse();
        shuffled.templates.reverse();
        shuffled.environments.rotate_left(turn % 2);
        shuffled.templates.rotate_left(turn);
        let rendered = kiln::render(&kiln::resolve(&shuffled).unwrap()).unwrap();
        assert_eq!(rendered, expected, "turn {turn}");
    }
}
