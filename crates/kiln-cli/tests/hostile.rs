//! Hostile input and faults through the `kiln` binary: the library's cases
//! (`crates/kiln/tests/hostile/<case>/`) run once more as `kiln render` and `kiln check`, which
//! must exit 2 on an error (1 when check finds drift), print the library's message as the first
//! line of stderr, and leave every file as it was. Faults that need a real process (a full disk,
//! a kill, two renders at once, another process's hash seeds) are tested here too.

#[path = "../../kiln/tests/common.rs"]
mod common;
#[path = "../../kiln/tests/hostile/harness.rs"]
mod harness;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use harness::{dir_state, listing, prepare, Case, Prepared};

fn lib_render(root: &Path) -> kiln::Result<kiln::WriteReport> {
    let platform = kiln::Platform::load(root)?;
    let rendered = kiln::render(&platform)?;
    kiln::write_tree(&platform.output_root(), &rendered, &Default::default())
}

fn lib_check(root: &Path) -> kiln::Result<Vec<kiln::Drift>> {
    let platform = kiln::Platform::load(root)?;
    let rendered = kiln::render(&platform)?;
    kiln::check_tree(&platform.output_root(), &rendered)
}

fn kiln(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .arg("--root")
        .arg(root)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// The error line of stderr (a panic inside minijinja that kiln caught prints its message
/// first).
fn first_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .or_else(|| stderr.lines().next())
        .unwrap_or_default()
        .to_owned()
}

fn prepared(case: &Case, each: Option<&str>) -> Prepared {
    prepare(case, each, |root| {
        lib_render(root).expect("the pristine platform renders");
    })
}

/// What the binary must print and exit with, as the library decides it on its own copy.
fn expected(case: &Case, each: Option<&str>) -> [(i32, String); 2] {
    let p = prepared(case, each);
    let render = match lib_render(&p.root) {
        Ok(_) => (0, String::new()),
        Err(e) => (2, format!("error: {}", p.redact(&e.to_string()))),
    };
    let check = match lib_check(&p.root) {
        Ok(drift) if drift.is_empty() => (0, String::new()),
        Ok(_) => (1, String::new()),
        Err(e) => (2, format!("error: {}", p.redact(&e.to_string()))),
    };
    [render, check]
}

#[test]
fn every_hostile_case_through_the_binary() {
    let mut failures = Vec::new();
    for case in harness::cases() {
        let cli = case.cli();
        if cli["skip"].as_bool() == Some(true) || cli["only"].as_bool() == Some(true) {
            continue;
        }
        for each in case.runs() {
            let each = each.as_deref();
            let [want_render, want_check] = expected(&case, each);
            let p = prepared(&case, each);
            let everything = p.tmp.path();
            let before = dir_state(everything);

            let out = kiln(&p.root, &["render"]);
            let got = (out.status.code().unwrap_or(-1), p.redact(&first_line(&out)));
            let got_render = if got.0 == 0 { (0, String::new()) } else { got };
            if got_render != want_render {
                failures.push(format!(
                    "{} {each:?} render: got {got_render:?}, want {want_render:?}",
                    case.name
                ));
            }
            if got_render.0 != 0 && dir_state(everything) != before {
                failures.push(format!("{} {each:?}: a failed render wrote", case.name));
            }

            let before = dir_state(everything);
            let out = kiln(&p.root, &["check"]);
            let code = out.status.code().unwrap_or(-1);
            let got_check = if code == 2 {
                (2, p.redact(&first_line(&out)))
            } else {
                (code, String::new())
            };
            if got_check != want_check {
                failures.push(format!(
                    "{} {each:?} check: got {got_check:?}, want {want_check:?}",
                    case.name
                ));
            }
            if dir_state(everything) != before {
                failures.push(format!("{} {each:?}: check wrote", case.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Cases only a process can make: `cli: { only: true, fsize_bytes: N }` runs `kiln render` with
/// RLIMIT_FSIZE of N bytes (a multiple of 512; SIGXFSZ ignored), so writing a larger file fails with EFBIG as on a
/// full disk. Snapshotted here, since the library cannot run them.
#[test]
fn process_only_cases() {
    for case in harness::cases() {
        let cli = case.cli();
        if cli["only"].as_bool() != Some(true) {
            continue;
        }
        let p = prepared(&case, None);
        let everything = p.tmp.path();
        let before = dir_state(everything);
        let blocks = cli["fsize_bytes"].as_u64().unwrap() / 512;
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -f {blocks}; trap '' XFSZ; exec \"$0\" --root \"$1\" render"
            ))
            .arg(env!("CARGO_BIN_EXE_kiln"))
            .arg(&p.root)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let text = format!(
            "{}\n\nexit {}\n{}platform directory: {}\n",
            case.about(),
            out.status.code().unwrap_or(-1),
            p.redact(&String::from_utf8_lossy(&out.stderr)),
            listing(&p.root)
        );
        assert_eq!(
            dir_state(everything),
            before,
            "{}: the failed render changed files",
            case.name
        );
        let mut settings = insta::Settings::clone_current();
        settings.set_omit_expression(true);
        settings.set_input_file(case.dir.join("case.yaml"));
        settings.bind(|| insta::assert_snapshot!(case.name.clone(), text));
    }
}

/// The mini platform, rendered once.
fn rendered_mini() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("mini");
    harness::copy_dir(&harness::kiln_tests_dir().join("fixtures/mini"), &root);
    lib_render(&root).unwrap();
    (tmp, root)
}

/// Sets blog's image tag in the prod environment.
fn set_tag(root: &Path, tag: &str) {
    let path = root.join("environments/prod.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let marker = "  blog:\n    web: { tag: ";
    let (head, rest) = text.split_once(marker).unwrap();
    let (_, tail) = rest.split_once(' ').unwrap();
    std::fs::write(&path, format!("{head}{marker}{tag} {tail}")).unwrap();
}

/// Two (three) renders at once on one tree: each one succeeds or fails at once with the lock
/// message, and the tree is always exactly one render's result, never a mix.
#[test]
fn concurrent_renders_never_mix_trees() {
    let (_tmp, root) = rendered_mini();
    for round in 0..8 {
        set_tag(&root, &format!("b{round:06}"));
        let children: Vec<_> = (0..3)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_kiln"))
                    .arg("--root")
                    .arg(&root)
                    .arg("render")
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            match out.status.code() {
                Some(0) => {}
                Some(2) => assert!(
                    stderr.contains("another kiln process is writing this output tree"),
                    "{stderr}"
                ),
                other => panic!("exit {other:?}: {stderr}"),
            }
        }
        assert_eq!(lib_check(&root).unwrap(), [], "round {round}");
        assert_eq!(listing(&root), "environments k8s kiln.yaml templates");
    }
}

/// A render killed at a random moment leaves the old tree or the new one, never a mix; the next
/// render removes what the killed one left behind.
#[test]
fn a_killed_render_leaves_one_whole_tree_and_the_next_cleans_up() {
    let (tmp, root) = rendered_mini();
    // Kill times spread over one whole render, measured here.
    set_tag(&root, "b999999");
    let started = std::time::Instant::now();
    assert_eq!(kiln(&root, &["render"]).status.code(), Some(0));
    let span = started.elapsed().as_micros() as u64 * 5 / 4 + 1;
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    let mut outcomes = [0usize; 2];
    for round in 0..24 {
        let old = dir_state(&root.join("k8s"));
        set_tag(&root, &format!("b{round:06}"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
            .arg("--root")
            .arg(&root)
            .arg("render")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_micros((seed >> 33) % span));
        let _ = child.kill();
        let _ = child.wait();

        let now = dir_state(&root.join("k8s"));
        let new = lib_check(&root).unwrap().is_empty();
        assert!(
            now == old || new,
            "round {round}: the tree is neither the old one nor the new one"
        );
        outcomes[usize::from(new)] += 1;
        // Whatever was left, the next render finishes the job and cleans up.
        let out = kiln(&root, &["render"]);
        assert_eq!(out.status.code(), Some(0), "{}", first_line(&out));
        assert_eq!(lib_check(&root).unwrap(), []);
        assert_eq!(listing(&root), "environments k8s kiln.yaml templates");
    }
    drop(tmp);
    eprintln!(
        "a render takes {span} us; killed before the swap: {}, after: {}",
        outcomes[0], outcomes[1]
    );
}

/// Same inputs, same bytes in another process (other hash seeds, another directory).
#[test]
fn two_processes_render_the_same_bytes() {
    let (tmp, first) = rendered_mini();
    let second = tmp.path().join("again");
    harness::copy_dir(&harness::kiln_tests_dir().join("fixtures/mini"), &second);
    let out = kiln(&second, &["render"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        dir_state(&first.join("k8s")),
        dir_state(&second.join("k8s"))
    );
    let out = kiln(&second, &["check"]);
    assert_eq!(out.status.code(), Some(0));
}
