//! Release channels (seed 004): the image tag rule every component follows, the platform
//! version's progression rules, alpha tags, and the tag a promotion derives. Also the planning
//! half of `kiln set-image` and `kiln promote`: which tag locations of which environment file
//! change, computed on [`Sources`] in memory. Pure: no IO ([`crate::edit`] writes).
//!
//! Every rule rejects a missing tag, `latest`, branch and mutable channel names
//! ([`MUTABLE_TAGS`]), SemVer build metadata (`+`, which image tags cannot carry) and anything
//! that is not an image tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`). On top of that:
//!
//! | rule | takes | example |
//! |---|---|---|
//! | `sha` | a git commit SHA: 7 to 40 lowercase hex digits | `3f9c2ab` |
//! | `alpha` | `X.Y.Z-alpha.RUN.ATTEMPT` (CI) or `X.Y.Z-alpha.N` (manual) | `0.5.0-alpha.123.1` |
//! | `rc` | `X.Y.Z-rc.N` | `0.5.0-rc.1` |
//! | `stable` | `X.Y.Z` | `0.5.0` |
//! | `pinned` | an upstream version: any tag with a digit and no `latest` part | `7-alpine` |
//!
//! The SemVer rules accept a leading `v` and strip it: `v0.5.0` renders as `0.5.0`.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use semver::Version;
use serde::Serialize;
use serde_json::Value;

use crate::edit;
use crate::error::{Error, ErrorKind, Location, Result};
use crate::load::{SourceFile, Sources};
use crate::model::{Channel, ComponentChannel};
use crate::resolve::{self, Component, Environment, Platform, Source};
use crate::yaml;

/// Tags no rule accepts (compared case-insensitively): they name a branch or a channel and
/// move with every push, so git would no longer say what runs.
pub const MUTABLE_TAGS: &[&str] = &[
    "latest",
    "main",
    "master",
    "trunk",
    "head",
    "develop",
    "development",
    "dev",
    "staging",
    "stage",
    "test",
    "testing",
    "preview",
    "stable",
    "edge",
    "nightly",
    "canary",
    "next",
    "beta",
    "alpha",
    "rc",
    "release",
    "prod",
    "production",
    "current",
    "unstable",
    "snapshot",
    "lts",
];

/// The rule one component's image tag follows: its environment's channel, or `pinned` when the
/// workload says `channel: pinned`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TagRule {
    Sha,
    Alpha,
    Rc,
    Stable,
    Pinned,
}

impl fmt::Display for TagRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<Channel> for TagRule {
    fn from(channel: Channel) -> TagRule {
        match channel {
            Channel::Sha => TagRule::Sha,
            Channel::Alpha => TagRule::Alpha,
            Channel::Rc => TagRule::Rc,
            Channel::Stable => TagRule::Stable,
        }
    }
}

impl TagRule {
    /// The rule of a component: `pinned` if the workload says so, else the environment's.
    pub fn of(channel: Channel, own: Option<ComponentChannel>) -> TagRule {
        match own {
            Some(ComponentChannel::Pinned) => TagRule::Pinned,
            None => channel.into(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TagRule::Sha => "sha",
            TagRule::Alpha => "alpha",
            TagRule::Rc => "rc",
            TagRule::Stable => "stable",
            TagRule::Pinned => "pinned",
        }
    }

    /// What the rule takes, for messages.
    pub fn shape(self) -> &'static str {
        match self {
            TagRule::Sha => "a git commit SHA, 7 to 40 lowercase hex digits (3f9c2ab)",
            TagRule::Alpha => {
                "an alpha pre-release X.Y.Z-alpha.RUN.ATTEMPT or X.Y.Z-alpha.N (0.5.0-alpha.123.1)"
            }
            TagRule::Rc => "a release candidate X.Y.Z-rc.N (0.5.0-rc.1)",
            TagRule::Stable => "a stable version X.Y.Z (0.5.0)",
            TagRule::Pinned => {
                "an upstream version pinned as an immutable tag: a digit somewhere, no `latest` \
                 (7-alpine, 2.17.2-pg16, a commit SHA)"
            }
        }
    }

    /// The SemVer channels, whose tags can be ordered and promoted.
    pub fn is_semver(self) -> bool {
        matches!(self, TagRule::Alpha | TagRule::Rc | TagRule::Stable)
    }

    /// Checks `tag` against the rule. Returns the tag to deploy (a SemVer tag without its
    /// leading `v`) or why the tag breaks the rule.
    pub fn check(self, tag: &str) -> std::result::Result<String, String> {
        let shown = tag.escape_debug();
        if tag.is_empty() {
            return Err("the tag is empty".into());
        }
        if let Some((_, build)) = tag.split_once('+') {
            return Err(format!(
                "`{shown}` carries SemVer build metadata (`+{}`), which image tags cannot hold",
                build.escape_debug()
            ));
        }
        if !is_image_tag(tag) {
            return Err(format!(
                "`{shown}` is not an image tag (letters, digits, `_`, `.` and `-`, not starting \
                 with `.` or `-`, at most 128 characters)"
            ));
        }
        let lower = tag.to_ascii_lowercase();
        if lower == "latest" {
            return Err("`latest` is mutable: it moves with every push".into());
        }
        if MUTABLE_TAGS.contains(&lower.as_str()) {
            return Err(format!(
                "`{tag}` is a branch or mutable channel name, not an immutable tag"
            ));
        }
        match self {
            TagRule::Sha => {
                let hex = tag.bytes().all(|c| c.is_ascii_hexdigit());
                if hex && (7..=40).contains(&tag.len()) {
                    if tag.bytes().any(|c| c.is_ascii_uppercase()) {
                        return Err(format!(
                            "`{tag}` has upper-case hex digits; git SHAs are lower case"
                        ));
                    }
                    Ok(tag.to_owned())
                } else {
                    Err(format!("`{tag}` is not a git commit SHA"))
                }
            }
            TagRule::Pinned => {
                if !tag.bytes().any(|c| c.is_ascii_digit()) {
                    return Err(format!(
                        "`{tag}` names no version (it has no digit): it looks like a branch or a \
                         moving channel"
                    ));
                }
                if lower.split(['-', '.', '_']).any(|part| part == "latest") {
                    return Err(format!("`{tag}` contains `latest`, which moves"));
                }
                Ok(tag.to_owned())
            }
            TagRule::Alpha | TagRule::Rc | TagRule::Stable => {
                let bare = tag.strip_prefix('v').unwrap_or(tag);
                let version = Version::parse(bare)
                    .map_err(|e| format!("`{tag}` is not a SemVer version: {e}"))?;
                let pre = version.pre.as_str();
                let ok = match self {
                    TagRule::Stable => pre.is_empty(),
                    TagRule::Rc => numeric_suffix(pre, "rc").is_some_and(|n| n == 1),
                    _ => numeric_suffix(pre, "alpha").is_some_and(|n| n == 1 || n == 2),
                };
                if ok {
                    Ok(bare.to_owned())
                } else if pre.is_empty() {
                    Err(format!(
                        "`{tag}` is a stable version, not {}",
                        self.article()
                    ))
                } else {
                    Err(format!(
                        "`{tag}` has the pre-release `{pre}`, not {}",
                        self.article()
                    ))
                }
            }
        }
    }

    fn article(self) -> &'static str {
        match self {
            TagRule::Alpha => "an alpha pre-release (`alpha.RUN.ATTEMPT` or `alpha.N`)",
            TagRule::Rc => "a release candidate (`rc.N`)",
            TagRule::Stable => "a stable version (no pre-release)",
            TagRule::Sha => "a git commit SHA",
            TagRule::Pinned => "a pinned upstream version",
        }
    }
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`: the OCI distribution spec's tag grammar.
fn is_image_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    let ok = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-');
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(ok)
}

/// For a pre-release `word.N[.M...]` whose numeric parts are all numbers, how many there are.
fn numeric_suffix(pre: &str, word: &str) -> Option<usize> {
    let rest = pre.strip_prefix(word)?.strip_prefix('.')?;
    let parts: Vec<&str> = rest.split('.').collect();
    parts
        .iter()
        .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
        .then_some(parts.len())
}

// ---------------------------------------------------------------------------------------------
// The platform version: progression rules and alpha tags.

/// How the platform version moved, when the move is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Progression {
    /// The same version: repeated test builds on one release line.
    Unchanged,
    /// `X.Y.Z` to `X.Y.(Z+1)`.
    Patch,
    /// `X.Y.Z` to `X.(Y+1).0`.
    Minor,
    /// `X.Y.Z` to `(X+1).0.0`.
    Major,
}

impl fmt::Display for Progression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Progression::Unchanged => "unchanged",
            Progression::Patch => "patch increase",
            Progression::Minor => "minor increase",
            Progression::Major => "major increase",
        })
    }
}

/// The versions allowed after `previous` (its pre-release and build are ignored): unchanged,
/// next patch, next minor, next major.
pub fn next_versions(previous: &Version) -> [Version; 4] {
    let (x, y, z) = (previous.major, previous.minor, previous.patch);
    [
        Version::new(x, y, z),
        Version::new(x, y, z + 1),
        Version::new(x, y + 1, 0),
        Version::new(x + 1, 0, 0),
    ]
}

fn allowed_after(previous: &Version) -> String {
    let [same, patch, minor, major] = next_versions(previous);
    format!("allowed after {same}: {same} (unchanged), {patch}, {minor} or {major}")
}

/// Seed 004's progression check of the platform (root `package.json`) version: unchanged, the
/// next patch, the next minor with patch 0, or the next major with minor and patch 0. Everything
/// else, and any pre-release or build metadata on `current`, is refused with the rule it breaks
/// and the allowed next versions.
pub fn check_progression(
    previous: &Version,
    current: &Version,
) -> std::result::Result<Progression, String> {
    let allowed = allowed_after(previous);
    if !current.pre.is_empty() {
        return Err(format!(
            "`{current}` is a pre-release (`-{}`): the platform version must be stable SemVer; \
             the release workflow adds the channel suffix (alpha, rc). {allowed}",
            current.pre
        ));
    }
    if !current.build.is_empty() {
        return Err(format!(
            "`{current}` carries build metadata (`+{}`), which image tags cannot hold. {allowed}",
            current.build
        ));
    }
    let (x, y, z) = (previous.major, previous.minor, previous.patch);
    let cur = (current.major, current.minor, current.patch);
    let verdict = if cur == (x, y, z) {
        Ok(Progression::Unchanged)
    } else if cur < (x, y, z) {
        Err(format!("downgrade from {x}.{y}.{z} to {current}"))
    } else if cur.0 == x && cur.1 == y {
        if cur.2 == z + 1 {
            Ok(Progression::Patch)
        } else {
            Err(format!(
                "skipped patch versions: after {x}.{y}.{z} the next patch is {x}.{y}.{}",
                z + 1
            ))
        }
    } else if cur.0 == x {
        if cur.1 > y + 1 {
            Err(format!(
                "skipped minor versions: after {x}.{y}.{z} the next minor is {x}.{}.0",
                y + 1
            ))
        } else if cur.2 != 0 {
            Err(format!(
                "a minor increase resets the patch to 0: {x}.{}.0, not {current}",
                y + 1
            ))
        } else {
            Ok(Progression::Minor)
        }
    } else if cur.0 > x + 1 {
        Err(format!(
            "skipped major versions: after {x}.{y}.{z} the next major is {}.0.0",
            x + 1
        ))
    } else if (cur.1, cur.2) != (0, 0) {
        Err(format!(
            "a major increase resets minor and patch to 0: {}.0.0, not {current}",
            x + 1
        ))
    } else {
        Ok(Progression::Major)
    };
    verdict.map_err(|why| format!("{why}. {allowed}"))
}

/// The test channel's tag of a build: `<version>-alpha.<run>.<attempt>` (seed 004's
/// publish-images workflow). The version must be stable.
pub fn alpha_tag(version: &Version, run: u64, attempt: u64) -> std::result::Result<String, String> {
    if !version.pre.is_empty() || !version.build.is_empty() {
        return Err(format!(
            "the platform version `{version}` must be stable SemVer (X.Y.Z) to take the alpha \
             suffix"
        ));
    }
    let tag = format!("{version}-alpha.{run}.{attempt}");
    TagRule::Alpha.check(&tag)
}

/// Reads the `version` of a JSON version file (`package.json`): any SemVer version, strictly
/// parsed (no leading `v`). Errors name the file and line.
pub fn parse_version_file(file: &SourceFile) -> Result<Version> {
    let value: Value = serde_json::from_str(&file.text).map_err(|e| {
        Error::new(ErrorKind::Model, format!("not valid JSON: {e}")).at(Location::at(
            &file.path,
            e.line(),
            e.column(),
        ))
    })?;
    let line = file
        .text
        .lines()
        .position(|l| l.trim_start().starts_with("\"version\""))
        .map(|i| i + 1);
    let at = || Location {
        file: file.path.clone(),
        line,
        column: None,
        key: Some("version".into()),
    };
    let Some(text) = value.get("version") else {
        return Err(Error::new(
            ErrorKind::Model,
            "no top-level `version` key (expected a stable SemVer version such as \"0.5.0\")",
        )
        .at(Location::file(&file.path).with_key("version")));
    };
    let Some(text) = text.as_str() else {
        return Err(Error::new(ErrorKind::Model, "`version` must be a string").at(at()));
    };
    Version::parse(text).map_err(|e| {
        Error::new(
            ErrorKind::Model,
            format!("`{}` is not a SemVer version: {e}", text.escape_debug()),
        )
        .at(at())
    })
}

// ---------------------------------------------------------------------------------------------
// Promotion.

/// The tag a promotion writes into a target environment, derived from the source's tag (seed
/// 004: `0.0.1-alpha.10.1` to stable is `0.0.1`).
///
/// - to `stable`: the source's `X.Y.Z` (from an alpha, rc or stable tag);
/// - to `rc`: an rc source's tag as is; otherwise `X.Y.Z-rc.N`, N one more than the target's
///   current `X.Y.Z-rc.N` of the same version, else 1 (every promotion to rc is a new, immutable
///   candidate);
/// - `sha` to `sha`: the same commit (SHAs have no order, so no downgrade check);
/// - to `alpha`: refused (alpha tags come from CI builds), as is every other combination.
///
/// Refused too: a source tag that breaks its own rule, a result the target's rule forbids, and a
/// result that sorts below the target's current SemVer tag (a downgrade).
pub fn promoted_tag(
    source_rule: TagRule,
    source_tag: &str,
    target_rule: TagRule,
    target_current: Option<&str>,
) -> std::result::Result<String, String> {
    let source_tag = source_rule.check(source_tag).map_err(|why| {
        format!("the source holds no tag valid for promotion ({source_rule} rule: {why})")
    })?;
    let derived =
        match (source_rule, target_rule) {
            (TagRule::Pinned, _) | (_, TagRule::Pinned) => {
                return Err("pinned upstream tags are not promoted".into())
            }
            (_, TagRule::Alpha) => return Err(
                "an alpha environment takes its tags from CI builds (`kiln set-image`), not by \
                 promotion"
                    .into(),
            ),
            (TagRule::Sha, TagRule::Sha) => source_tag,
            (TagRule::Sha, _) => {
                return Err(format!(
                    "the source holds the commit SHA `{source_tag}`, but the target's \
                 `{target_rule}` rule takes {}",
                    target_rule.shape()
                ))
            }
            (_, TagRule::Sha) => {
                return Err(format!(
                    "the target's `sha` rule forbids the SemVer tag `{source_tag}`; a `sha` \
                 environment takes {}",
                    TagRule::Sha.shape()
                ))
            }
            (_, TagRule::Stable) => {
                let v = Version::parse(&source_tag).expect("checked by the source rule");
                Version::new(v.major, v.minor, v.patch).to_string()
            }
            (TagRule::Rc, TagRule::Rc) => source_tag,
            (_, TagRule::Rc) => {
                let v = Version::parse(&source_tag).expect("checked by the source rule");
                let core = Version::new(v.major, v.minor, v.patch);
                let last = target_current
                    .and_then(|t| Version::parse(t.strip_prefix('v').unwrap_or(t)).ok())
                    .filter(|t| (t.major, t.minor, t.patch) == (core.major, core.minor, core.patch))
                    .and_then(|t| {
                        t.pre
                            .as_str()
                            .strip_prefix("rc.")
                            .and_then(|n| n.parse::<u64>().ok())
                    })
                    .unwrap_or(0);
                format!("{core}-rc.{}", last + 1)
            }
        };
    let derived = target_rule.check(&derived).map_err(|why| {
        format!(
            "the target's `{target_rule}` rule forbids the promoted tag: {why}; it takes {}",
            target_rule.shape()
        )
    })?;
    if target_rule.is_semver() {
        let current =
            target_current.and_then(|t| Version::parse(t.strip_prefix('v').unwrap_or(t)).ok());
        if let Some(current) = current {
            let new = Version::parse(&derived).expect("checked by the target rule");
            if new.cmp_precedence(&current) == Ordering::Less {
                return Err(format!(
                    "promoting would downgrade the target from {current} to {new}"
                ));
            }
        }
    }
    Ok(derived)
}

// ---------------------------------------------------------------------------------------------
// Planning set-image and promote: which tag locations change.

/// One tag location of an environment file and what a change writes there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagChange {
    pub env: String,
    /// The environment file, relative to the platform root.
    pub file: PathBuf,
    /// The tag's key path in the file, like `apps.lexilink.web.tag` or `defaults.service.tag`.
    pub key: String,
    pub line: usize,
    /// `app/kind` of every component the location sets.
    pub components: Vec<String>,
    /// The tag as the file holds it now.
    pub from: String,
    pub to: String,
}

impl TagChange {
    pub fn is_noop(&self) -> bool {
        self.from == self.to
    }
}

impl fmt::Display for TagChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} {}: {} -> {} ({})",
            self.file.display(),
            self.line,
            self.key,
            self.from,
            self.to,
            self.components.join(", ")
        )
    }
}

/// A component a change leaves alone, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// `app/kind`.
    pub component: String,
    pub reason: String,
}

/// The outcome of planning `set-image` or `promote`: the changes, the edited sources and the
/// platform before and after. Nothing is written; [`TagPlan::write_sources`] does that.
#[derive(Debug, Clone)]
pub struct TagPlan {
    /// Every location the command sets, including those already at the wanted tag.
    pub changes: Vec<TagChange>,
    pub skipped: Vec<Skipped>,
    /// Each edited file as read, and its new text.
    pub edits: Vec<(SourceFile, String)>,
    /// The platform as it is (tags checked leniently, so that a bad tag can be replaced).
    pub before: Platform,
    /// The platform after the change, every tag rule checked.
    pub after: Platform,
}

impl TagPlan {
    /// True when every location already holds its tag.
    pub fn is_noop(&self) -> bool {
        self.changes.iter().all(TagChange::is_noop)
    }

    /// Writes the edited environment files (each atomically, refusing symlinks and files changed
    /// on disk since they were read). The caller renders `after` and writes the tree.
    pub fn write_sources(&self, root: &Path) -> Result<()> {
        for (original, text) in &self.edits {
            edit::write_source(root, original, text)?;
        }
        Ok(())
    }
}

/// A tag location shared by one or more components of an environment.
struct Group<'a> {
    source: &'a Source,
    components: Vec<&'a Component>,
}

fn label(c: &Component) -> String {
    format!("{}/{}", c.app, c.kind)
}

/// Groups the non-pinned components of `env` (only `apps` when given) by the location their
/// tag comes from. Tags from outside the environment file are skipped without `apps` and an
/// error with them; a location shared with components outside `apps` is an error.
fn tag_groups<'a>(
    env: &'a Environment,
    apps: &[String],
    command: &str,
) -> Result<(Vec<Group<'a>>, Vec<Skipped>)> {
    for app in apps {
        if !env.components.iter().any(|c| &c.app == app) {
            let why = match env.not_deployed.iter().find(|n| &n.app == app) {
                Some(n) => format!("is listed with `deploy: false` ({})", n.reason),
                None => "is not deployed there".to_owned(),
            };
            let deployed: BTreeSet<&str> = env.components.iter().map(|c| c.app.as_str()).collect();
            return Err(Error::new(
                ErrorKind::Model,
                format!(
                    "`{app}` {why} (environment `{}` deploys: {})",
                    env.name,
                    deployed.into_iter().collect::<Vec<_>>().join(", ")
                ),
            )
            .at(Location::file(&env.file)));
        }
    }
    let selected = |c: &Component| apps.is_empty() || apps.contains(&c.app);
    let mut groups: BTreeMap<&str, Group<'a>> = BTreeMap::new();
    let mut skipped = Vec::new();
    for c in env.components.iter().filter(|c| selected(c)) {
        if c.tag_rule == TagRule::Pinned {
            skipped.push(Skipped {
                component: label(c),
                reason: "`channel: pinned` (an upstream image)".into(),
            });
            continue;
        }
        let source = c.provenance.get("tag").expect("resolve requires a tag");
        if *source.file != *env.file {
            if !apps.is_empty() {
                return Err(Error::new(
                    ErrorKind::Model,
                    format!(
                        "`{}` ({}) takes its tag from {}, not from {}; {command} edits only the \
                         environment file: add `tag:` under `apps.{}.{}` there first",
                        c.app,
                        c.kind,
                        source.file.display(),
                        env.file.display(),
                        c.app,
                        c.kind
                    ),
                )
                .at(source.location()));
            }
            skipped.push(Skipped {
                component: label(c),
                reason: format!(
                    "its tag comes from {}:{} (`{}`), not the environment file",
                    source.file.display(),
                    source.line,
                    source.key
                ),
            });
            continue;
        }
        groups
            .entry(&*source.key)
            .or_insert_with(|| Group {
                source,
                components: Vec::new(),
            })
            .components
            .push(c);
    }
    if !apps.is_empty() {
        for group in groups.values() {
            let outside: Vec<String> = env
                .components
                .iter()
                .filter(|c| !selected(c) && c.tag_rule != TagRule::Pinned)
                .filter(|c| c.provenance.get("tag") == Some(group.source))
                .map(|c| c.app.clone())
                .collect();
            if !outside.is_empty() {
                let mine: BTreeSet<&str> =
                    group.components.iter().map(|c| c.app.as_str()).collect();
                let mine: Vec<&str> = mine.into_iter().collect();
                return Err(Error::new(
                    ErrorKind::Model,
                    format!(
                        "`{}` sets the tag of {} too: without --app, {command} changes it for \
                         all of them; to change only {}, give each its own \
                         `apps.<app>.<kind>.tag`",
                        group.source.key,
                        outside.join(", "),
                        mine.join(", ")
                    ),
                )
                .at(group.source.location()));
            }
        }
    }
    Ok((groups.into_values().collect(), skipped))
}

/// The current text of the tag at `key` in `env`'s file.
fn written_tag(sources: &Sources, file: &Path, key: &str) -> Result<String> {
    let text = &env_source(sources, file).text;
    let node = yaml::parse_document(text, file)?;
    let found = key
        .split('.')
        .try_fold(&node, |n, k| n.get(k))
        .and_then(|n| n.to_json().as_str().map(str::to_owned));
    found.ok_or_else(|| {
        Error::new(ErrorKind::Model, format!("`{key}` is not a string")).at(Location::file(file))
    })
}

fn env_source<'a>(sources: &'a Sources, file: &Path) -> &'a SourceFile {
    sources
        .environments
        .iter()
        .find(|s| s.path == file)
        .expect("environments come from the sources")
}

/// Applies `changes` to the sources and resolves the result with every tag rule checked.
fn finish(
    sources: &Sources,
    before: Platform,
    changes: Vec<TagChange>,
    skipped: Vec<Skipped>,
) -> Result<TagPlan> {
    let mut edited = sources.clone();
    let mut edits: Vec<(SourceFile, String)> = Vec::new();
    for change in changes.iter().filter(|c| !c.is_noop()) {
        let file = edited
            .environments
            .iter_mut()
            .find(|s| s.path == change.file)
            .expect("environments come from the sources");
        file.text = edit::replace_scalar(&file.text, &file.path, &change.key, &change.to)?;
        match edits.iter_mut().find(|(o, _)| o.path == change.file) {
            Some((_, text)) => text.clone_from(&file.text),
            None => edits.push((env_source(sources, &change.file).clone(), file.text.clone())),
        }
    }
    let after = resolve::resolve(&edited)?;
    Ok(TagPlan {
        changes,
        skipped,
        edits,
        before,
        after,
    })
}

/// Plans `kiln set-image --env ENV [--app APP ...] TAG`: writes `tag` (checked against the
/// environment's channel, its leading `v` stripped) at every tag location of the environment
/// file that the selected components read.
///
/// Without `apps`: every deployed component whose tag the environment file sets; components
/// with `channel: pinned` and those whose tag comes from kiln.yaml are skipped (and listed).
/// With `apps`: each app's non-pinned components, whose tags must come from the environment
/// file (kiln does not insert keys) and must not share a location (such as
/// `defaults.<kind>.tag`) with an app outside the list.
pub fn plan_set_image(sources: &Sources, env: &str, apps: &[String], tag: &str) -> Result<TagPlan> {
    let before = resolve::resolve_lenient(sources)?;
    let environment = before.environment_or_err(env)?;
    let rule = TagRule::from(environment.channel);
    let channel_at = || {
        let text = &env_source(sources, &environment.file).text;
        let (line, column) = yaml::parse_document(text, &environment.file)
            .map(|doc| doc.position_of("channel"))
            .unwrap_or((1, 1));
        Location::at(&environment.file, line, column).with_key("channel")
    };
    let tag = rule.check(tag).map_err(|why| {
        Error::new(
            ErrorKind::Model,
            format!(
                "tag breaks the `{rule}` rule of environment `{env}`: {why}; it takes {}",
                rule.shape()
            ),
        )
        .at(channel_at())
    })?;
    let (groups, skipped) = tag_groups(environment, apps, "set-image")?;
    if groups.is_empty() {
        return Err(nothing_to_set(environment, &skipped, "set-image"));
    }
    let mut changes = Vec::new();
    for group in groups {
        changes.push(TagChange {
            env: env.to_owned(),
            file: environment.file.clone(),
            key: group.source.key.to_string(),
            line: group.source.line,
            components: group.components.iter().map(|c| label(c)).collect(),
            from: written_tag(sources, &environment.file, &group.source.key)?,
            to: tag.clone(),
        });
    }
    finish(sources, before, changes, skipped)
}

fn nothing_to_set(env: &Environment, skipped: &[Skipped], command: &str) -> Error {
    let why: Vec<String> = skipped
        .iter()
        .map(|s| format!("{}: {}", s.component, s.reason))
        .collect();
    Error::new(
        ErrorKind::Model,
        format!(
            "{command}: nothing to change in environment `{}`: no selected component has its \
             tag in {}{}",
            env.name,
            env.file.display(),
            if why.is_empty() {
                String::new()
            } else {
                format!(" (skipped: {})", why.join("; "))
            }
        ),
    )
    .at(Location::file(&env.file))
}

/// Plans `kiln promote --from SOURCE --to TARGET [--app APP ...]`: for every tag location of
/// the target's file (selected as for [`plan_set_image`]), the tag [`promoted_tag`] derives from
/// the same components in the source. Components the source does not deploy are skipped; a
/// location shared by components with and without a source, or whose components would get
/// different tags, is refused.
pub fn plan_promote(sources: &Sources, from: &str, to: &str, apps: &[String]) -> Result<TagPlan> {
    let before = resolve::resolve_lenient(sources)?;
    if from == to {
        return Err(Error::new(
            ErrorKind::Model,
            format!("promote needs two different environments (got `{from}` twice)"),
        ));
    }
    let source_env = before.environment_or_err(from)?;
    let target_env = before.environment_or_err(to)?;
    let (groups, mut skipped) = tag_groups(target_env, apps, "promote")?;
    let mut changes = Vec::new();
    for group in groups {
        let current = written_tag(sources, &target_env.file, &group.source.key)?;
        let mut derived: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut missing = Vec::new();
        for c in &group.components {
            let Some(src) = source_env
                .components
                .iter()
                .find(|s| s.app == c.app && s.kind == c.kind)
            else {
                missing.push(label(c));
                continue;
            };
            let src_tag = src.workload.tag.as_deref().unwrap_or_default();
            let tag =
                promoted_tag(src.tag_rule, src_tag, c.tag_rule, Some(&current)).map_err(|why| {
                    let src_at = src
                        .provenance
                        .get("tag")
                        .map(|s| format!(" at {}:{}", s.file.display(), s.line))
                        .unwrap_or_default();
                    Error::new(
                        ErrorKind::Model,
                        format!(
                            "cannot promote `{}` ({}) from `{from}` (tag `{src_tag}`{src_at}) to \
                             `{to}` (tag `{current}`): {why}",
                            c.app, c.kind
                        ),
                    )
                    .at(group.source.location())
                })?;
            derived.entry(tag).or_default().push(label(c));
        }
        if derived.is_empty() {
            skipped.extend(missing.into_iter().map(|component| Skipped {
                component,
                reason: format!("not deployed in `{from}`"),
            }));
            continue;
        }
        if !missing.is_empty() {
            return Err(Error::new(
                ErrorKind::Model,
                format!(
                    "`{}` sets the tag of {} too, which `{from}` does not deploy: promoting would \
                     give them a tag `{from}` never ran",
                    group.source.key,
                    missing.join(", ")
                ),
            )
            .at(group.source.location()));
        }
        if derived.len() > 1 {
            let parts: Vec<String> = derived
                .iter()
                .map(|(tag, cs)| format!("{}: {tag}", cs.join(", ")))
                .collect();
            return Err(Error::new(
                ErrorKind::Model,
                format!(
                    "`{}` is shared, but its components would get different tags from \
                     `{from}` ({}); give each its own `apps.<app>.<kind>.tag`",
                    group.source.key,
                    parts.join("; ")
                ),
            )
            .at(group.source.location()));
        }
        let (tag, _) = derived.into_iter().next().expect("one tag");
        changes.push(TagChange {
            env: to.to_owned(),
            file: target_env.file.clone(),
            key: group.source.key.to_string(),
            line: group.source.line,
            components: group.components.iter().map(|c| label(c)).collect(),
            from: current,
            to: tag,
        });
    }
    if changes.is_empty() {
        return Err(nothing_to_set(target_env, &skipped, "promote"));
    }
    finish(sources, before, changes, skipped)
}
