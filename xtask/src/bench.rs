//! `cargo xtask bench-peers`: kiln against the tools users would pick instead, side by side in
//! one run, on synthetic fleets of N web apps in four environments (`cargo xtask fleet`).
//!
//! For every N, in rounds, each round running every command once in a rotating order:
//!
//! - `kiln render` into an empty output root (the whole tree written and synced; a platform's
//!   first render). The previous tree is moved aside, not removed, and the trees moved aside
//!   are removed after the last round: on ext4, creating files within minutes of deleting as
//!   many makes the inode allocator skip the freed inodes one by one (`recently_deleted`),
//!   which made these renders take 11-15 s of kernel time instead of about 2 s,
//! - `kiln render` over an up-to-date tree (what a pre-commit `cargo xtask render` costs),
//! - `kiln render` after a one-line change (one app's image tag in one environment, flipped
//!   between two values before each run): the everyday render before a commit,
//! - `kiln check` (render in memory, lint, compare with the tree on disk),
//! - `helm template` of the fleet chart once per environment (4 processes),
//! - `kubectl kustomize` of each environment's overlay (4 processes), skipped for the rest of
//!   the run once one build takes longer than the cap.
//!
//! It reports the median wall time, the ratios to kiln and the peak resident memory of each
//! (`wait4`'s rusage of the process; the largest of the four for helm and kustomize), and checks
//! that all three tools rendered the same objects. kiln is the release build of `kiln-cli`;
//! helm and kubectl come from `../shared/tools/install-kubectl`.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use crate::fleet::{self, Fleet, PeerOutputs, Tools, ENVS};

pub const HELP: &str = "\
cargo xtask bench-peers [--apps 10,100,1000] [--runs 5] [--cap 120] [--out /tmp/kiln-bench]

Times kiln render, kiln check, helm template and kubectl kustomize on fleets of each size
(alternating, in one run), checks the three tools render the same objects, and prints
markdown tables of medians, ratios and peak memory (paste them into BENCHMARKS.md).
  --apps   fleet sizes, comma-separated
  --runs   rounds per size (medians over these)
  --cap    seconds one kubectl kustomize build may take; past it kustomize is reported as
           \"> cap\" for that size and skipped for larger ones
  --out    where the fleets are generated (outside the repository)
";

struct Options {
    apps: Vec<usize>,
    runs: usize,
    cap: Duration,
    out: PathBuf,
}

pub fn main(args: &[String]) -> Result<()> {
    let mut options = Options {
        apps: vec![10, 100, 1000],
        runs: 5,
        cap: Duration::from_secs(120),
        out: std::env::temp_dir().join("kiln-bench"),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--apps" => {
                options.apps = value()?
                    .split(',')
                    .map(|n| n.trim().parse())
                    .collect::<Result<_, _>>()
                    .context("--apps takes numbers separated by commas")?
            }
            "--runs" => options.runs = value()?.parse()?,
            "--cap" => options.cap = Duration::from_secs_f64(value()?.parse()?),
            "--out" => options.out = PathBuf::from(value()?),
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(());
            }
            other => bail!("unknown argument `{other}`\n\n{HELP}"),
        }
    }
    ensure!(options.runs > 0, "--runs must be at least 1");
    run(&options)
}

/// One command's measurements over the rounds.
#[derive(Default)]
struct Series {
    seconds: Vec<f64>,
    peak_kib: u64,
    /// A kustomize build went past the cap.
    capped: bool,
    skipped: bool,
}

impl Series {
    fn median(&self) -> Option<f64> {
        if self.capped || self.skipped || self.seconds.is_empty() {
            return None;
        }
        let mut s = self.seconds.clone();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        Some(if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    RenderFresh,
    RenderNoop,
    Check,
    Helm,
    Kustomize,
    RenderChange,
}

/// The steps of a round; a series' index is its step's index here.
const STEPS: [Step; 6] = [
    Step::RenderFresh,
    Step::RenderNoop,
    Step::Check,
    Step::Helm,
    Step::Kustomize,
    Step::RenderChange,
];

/// The one-line change of `Step::RenderChange`: the first image tag of the first environment's
/// file, flipped between its own value and another before each run, and put back at the end so
/// that the peers' renders still agree with kiln's.
struct TagFlip {
    path: PathBuf,
    original: String,
    changed: String,
    flipped: bool,
}

impl TagFlip {
    fn new(dir: &Path) -> Result<TagFlip> {
        let path = dir.join(format!("environments/{}.yaml", ENVS[0].0));
        let original = fs::read_to_string(&path)?;
        let at = original
            .find("tag: \"")
            .with_context(|| format!("{} has no image tag", path.display()))?
            + "tag: \"".len();
        let end = at + original[at..].find('"').context("unterminated tag")?;
        let other = if &original[at..end] == "c0ffee0" {
            "c0ffee1"
        } else {
            "c0ffee0"
        };
        let changed = format!("{}{other}{}", &original[..at], &original[end..]);
        Ok(TagFlip {
            path,
            original,
            changed,
            flipped: false,
        })
    }

    fn flip(&mut self) -> Result<()> {
        self.flipped = !self.flipped;
        let text = if self.flipped {
            &self.changed
        } else {
            &self.original
        };
        Ok(fs::write(&self.path, text)?)
    }
}

struct SizeResult {
    apps: usize,
    objects: usize,
    files: usize,
    series: Vec<Series>,
}

fn run(options: &Options) -> Result<()> {
    let root = crate::repo_root();
    let tools_dir = capture_line(
        &mut Command::new(root.join("../shared/tools/install-kubectl")),
        "install-kubectl",
    )?;
    let tools = Tools {
        helm: Path::new(&tools_dir).join("helm"),
        kubectl: Path::new(&tools_dir).join("kubectl"),
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args(["build", "--release", "--quiet", "--package", "kiln-cli"])
        .current_dir(&root)
        .status()?;
    ensure!(status.success(), "cargo build --release -p kiln-cli failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let kiln = target.join("release/kiln");

    let versions = format!(
        "{}; {}; {}",
        capture_line(Command::new(&kiln).arg("--version"), "kiln")?,
        capture_line(
            Command::new(&tools.helm).args(["version", "--short"]),
            "helm"
        )?,
        capture_line(
            Command::new(&tools.kubectl).args(["version", "--client"]),
            "kubectl"
        )?
        .replace('\n', ", "),
    );
    eprintln!("tools: {versions}");

    let mut results = Vec::new();
    let mut kustomize_over_cap = false;
    for &apps in &options.apps {
        let dir = options.out.join(format!("fleet-{apps}"));
        eprintln!("fleet of {apps} apps in {}", dir.display());
        Fleet { apps }.write(&dir, true)?;
        let outputs = dir.join("peers/out");
        fs::create_dir_all(&outputs)?;
        let logs = dir.join("peers/logs");
        fs::create_dir_all(&logs)?;
        // The first render, untimed: the no-op render and the check need a tree.
        measure(
            Command::new(&kiln).arg("--root").arg(&dir).arg("render"),
            &logs.join("kiln.log"),
            None,
        )?;

        let mut series: Vec<Series> = STEPS.iter().map(|_| Series::default()).collect();
        let mut flip = TagFlip::new(&dir)?;
        let aside = dir.join("peers/old-trees");
        if aside.exists() {
            fs::remove_dir_all(&aside)?;
        }
        fs::create_dir_all(&aside)?;
        if kustomize_over_cap {
            series[4].skipped = true;
        }
        for round in 0..options.runs {
            for i in 0..STEPS.len() {
                let index = (round + i) % STEPS.len();
                let step = STEPS[index];
                let s = &mut series[index];
                if s.capped || s.skipped {
                    continue;
                }
                eprint!(".");
                let mut seconds = 0.0;
                let mut peak = 0;
                match step {
                    Step::RenderFresh | Step::RenderNoop | Step::Check | Step::RenderChange => {
                        if step == Step::RenderFresh {
                            fs::rename(dir.join("k8s"), aside.join(round.to_string()))?;
                        }
                        if step == Step::RenderChange {
                            flip.flip()?;
                        }
                        let verb = if step == Step::Check {
                            "check"
                        } else {
                            "render"
                        };
                        let m = measure(
                            Command::new(&kiln).arg("--root").arg(&dir).arg(verb),
                            &logs.join("kiln.log"),
                            None,
                        )?;
                        (seconds, peak) = (m.seconds, m.peak_kib);
                    }
                    Step::Helm | Step::Kustomize => {
                        for (env, _) in ENVS {
                            let (program, args, name) = if step == Step::Helm {
                                (&tools.helm, fleet::helm_args(&dir, env), "helm")
                            } else {
                                (
                                    &tools.kubectl,
                                    fleet::kustomize_args(&dir, env),
                                    "kustomize",
                                )
                            };
                            let cap = (step == Step::Kustomize).then_some(options.cap);
                            let m = measure_to(
                                Command::new(program).args(&args),
                                &outputs.join(format!("{name}-{env}.yaml")),
                                &logs.join(format!("{name}.log")),
                                cap,
                            )?;
                            if m.capped {
                                s.capped = true;
                                kustomize_over_cap = true;
                                break;
                            }
                            seconds += m.seconds;
                            peak = peak.max(m.peak_kib);
                        }
                    }
                }
                if !s.capped {
                    s.seconds.push(seconds);
                    s.peak_kib = s.peak_kib.max(peak);
                }
            }
        }
        eprintln!();
        fs::remove_dir_all(&aside)?;
        if flip.flipped {
            flip.flip()?;
            measure(
                Command::new(&kiln).arg("--root").arg(&dir).arg("render"),
                &logs.join("kiln.log"),
                None,
            )?;
        }

        // All three rendered the same objects (kustomize unless it went past the cap).
        let mut peers = PeerOutputs::default();
        for (env, _) in ENVS {
            peers.helm.insert(
                env.into(),
                fs::read_to_string(outputs.join(format!("helm-{env}.yaml")))?,
            );
            if series[4].median().is_some() {
                peers.kustomize.insert(
                    env.into(),
                    fs::read_to_string(outputs.join(format!("kustomize-{env}.yaml")))?,
                );
            }
        }
        let counts = fleet::verify(&dir, &peers)?;
        let objects = counts.iter().map(|(_, n)| n).sum();
        let files = walk_count(&dir.join("k8s"))?;
        eprintln!(
            "verified: kiln, helm{} render the same {objects} objects",
            if peers.kustomize.is_empty() {
                ""
            } else {
                " and kustomize"
            }
        );
        results.push(SizeResult {
            apps,
            objects,
            files,
            series,
        });
    }
    print!("{}", report(&results, options, &versions));
    Ok(())
}

fn walk_count(dir: &Path) -> Result<usize> {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                stack.push(entry.path());
            } else {
                n += 1;
            }
        }
    }
    Ok(n)
}

fn secs(v: Option<f64>, cap: Duration) -> String {
    match v {
        Some(s) if s < 1.0 => format!("{:.0} ms", s * 1000.0),
        Some(s) => format!("{s:.2} s"),
        None => format!("> {} s (cap)", cap.as_secs()),
    }
}

fn report(results: &[SizeResult], options: &Options, versions: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Medians of {} alternating rounds; helm and kustomize are the sum of the 4 \
         environments. Tools: {versions}.\n",
        options.runs
    );
    out.push_str(
        "| apps | objects | files | kiln render (empty tree) | kiln render (one change) | \
         kiln render (up to date) | kiln check | helm template x4 | kubectl kustomize x4 | \
         helm / kiln render (one change) | helm / kiln check | kustomize / kiln check |\n",
    );
    out.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in results {
        let m: Vec<Option<f64>> = r.series.iter().map(Series::median).collect();
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if a / b < 10.0 => format!("{:.1}x", a / b),
            (Some(a), Some(b)) => format!("{:.0}x", a / b),
            (None, Some(_)) => "-".into(),
            _ => "?".into(),
        };
        let kustomize = if r.series[4].skipped {
            "not run (over the cap at a smaller size)".to_owned()
        } else {
            secs(m[4], options.cap)
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.apps,
            r.objects,
            r.files,
            secs(m[0], options.cap),
            secs(m[5], options.cap),
            secs(m[1], options.cap),
            secs(m[2], options.cap),
            secs(m[3], options.cap),
            kustomize,
            ratio(m[3], m[5]),
            ratio(m[3], m[2]),
            if r.series[4].capped {
                // One overlay alone took longer than the cap.
                m[2].map_or("?".into(), |k| {
                    format!("> {:.0}x", options.cap.as_secs_f64() / k)
                })
            } else {
                ratio(m[4], m[2])
            },
        );
    }
    out.push_str(
        "\nPeak resident memory (MiB; for helm and kustomize the largest of the 4 processes):\n\n",
    );
    out.push_str(
        "| apps | kiln render (empty tree) | kiln render (one change) | kiln render (up to date) \
         | kiln check | helm template | kubectl kustomize |\n",
    );
    out.push_str("|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in results {
        let mib = |s: &Series| {
            if s.seconds.is_empty() {
                "-".to_owned()
            } else {
                format!("{:.0}", s.peak_kib as f64 / 1024.0)
            }
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.apps,
            mib(&r.series[0]),
            mib(&r.series[5]),
            mib(&r.series[1]),
            mib(&r.series[2]),
            mib(&r.series[3]),
            mib(&r.series[4]),
        );
    }
    // Growth between consecutive sizes, for the linearity bar.
    for pair in results.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let growth = |i: usize| match (a.series[i].median(), b.series[i].median()) {
            (Some(x), Some(y)) => format!("{:.1}x", y / x),
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "\n{} -> {} apps ({:.0}x): kiln render (empty tree) {}, kiln render (one change) {}, \
             kiln render (up to date) {}, kiln check {}, helm {}, kustomize {}",
            a.apps,
            b.apps,
            b.apps as f64 / a.apps as f64,
            growth(0),
            growth(5),
            growth(1),
            growth(2),
            growth(3),
            growth(4),
        );
    }
    out
}

fn capture_line(command: &mut Command, what: &str) -> Result<String> {
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {what}"))?;
    ensure!(output.status.success(), "{what} failed");
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}

struct Measured {
    seconds: f64,
    peak_kib: u64,
    capped: bool,
}

/// Runs `command` with stdout discarded.
fn measure(command: &mut Command, log: &Path, cap: Option<Duration>) -> Result<Measured> {
    measure_to(command, Path::new("/dev/null"), log, cap)
}

/// Runs `command` with stdout to `out` and stderr to `log`, timing it and reading its peak
/// memory from `wait4`. With `cap`, a run that takes longer is killed and reported as capped.
fn measure_to(
    command: &mut Command,
    out: &Path,
    log: &Path,
    cap: Option<Duration>,
) -> Result<Measured> {
    let stdout = fs::File::create(out)?;
    let stderr = fs::File::create(log)?;
    let start = Instant::now();
    let child = command
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("running {command:?}"))?;
    let pid = child.id() as libc::pid_t;
    let (done, waiting) = std::sync::mpsc::channel::<()>();
    let capped = std::thread::scope(|scope| -> Result<bool> {
        let watchdog = cap.map(|cap| {
            scope.spawn(move || {
                if waiting.recv_timeout(cap).is_err() {
                    // SAFETY: the child is not reaped before the main thread has waited for
                    // it with WNOWAIT and then signalled `done`, so `pid` is still ours.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    true
                } else {
                    false
                }
            })
        });
        // Wait for the exit without reaping, so the pid stays ours while the watchdog decides.
        loop {
            // SAFETY: a zeroed siginfo_t is a valid out-parameter for waitid.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            let r = unsafe {
                libc::waitid(
                    libc::P_PID,
                    pid as libc::id_t,
                    &mut info,
                    libc::WEXITED | libc::WNOWAIT,
                )
            };
            if r == 0 {
                break;
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(err.into());
            }
        }
        let _ = done.send(());
        Ok(match watchdog {
            Some(w) => w.join().expect("the watchdog does not panic"),
            None => false,
        })
    })?;
    let seconds = start.elapsed().as_secs_f64();
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter for wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    ensure!(r == pid, "wait4: {}", std::io::Error::last_os_error());
    // `child` was reaped by wait4; dropping it neither waits nor kills.
    drop(child);
    if capped {
        return Ok(Measured {
            seconds,
            peak_kib: 0,
            capped: true,
        });
    }
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    if !ok {
        let text = fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "{command:?} failed ({status:#x}); last lines of {}:\n{}",
            log.display(),
            tail.join("\n")
        );
    }
    Ok(Measured {
        seconds,
        peak_kib: usage.ru_maxrss as u64,
        capped: false,
    })
}
