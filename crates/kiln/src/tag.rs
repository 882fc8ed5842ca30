//! Release channels (seed 004): the image tag rule every component follows, the platform
//! version's progression rules, alpha tags, and the tag a promotion derives. Pure, and below
//! `resolve` (which checks every tag against its rule): it knows nothing of platforms.
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
//! The SemVer rules accept a leading `v` and keep it: `v0.5.0` renders as `v0.5.0`, unless the
//! platform's tag policy says `strip_v` ([`deployed_tag`]).

use std::cmp::Ordering;
use std::fmt;

use semver::Version;
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, ErrorKind, Location, Result};
use crate::load::SourceFile;
use crate::model::{Channel, ComponentChannel};

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
    /// A git commit SHA: 7 to 40 lowercase hex digits.
    Sha,
    /// An alpha pre-release, `X.Y.Z-alpha.RUN.ATTEMPT` (CI) or `X.Y.Z-alpha.N` (manual).
    Alpha,
    /// A release candidate, `X.Y.Z-rc.N`.
    Rc,
    /// A stable version, `X.Y.Z`.
    Stable,
    /// An upstream image's own version: any tag with a digit and no `latest` part.
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

    /// The rule's name as written in the files (`sha`, `pinned`).
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

    /// Checks `tag` against the rule. Returns the tag as written (a SemVer tag keeps its
    /// leading `v`; [`deployed_tag`] applies the platform's policy) or why it breaks the rule.
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
                    Ok(tag.to_owned())
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

/// The tag a checked tag is deployed as: without its leading `v` when the platform's tag policy
/// strips it (`tags: { strip_v: true }`, SemVer rules only), else as written.
pub fn deployed_tag(rule: TagRule, checked: &str, strip_v: bool) -> String {
    match checked.strip_prefix('v') {
        Some(bare) if strip_v && rule.is_semver() => bare.to_owned(),
        _ => checked.to_owned(),
    }
}

/// The SemVer version of a tag a SemVer rule accepted (`v0.5.0` is 0.5.0).
pub fn semver_of(tag: &str) -> Option<Version> {
    Version::parse(tag.strip_prefix('v').unwrap_or(tag)).ok()
}

/// Checks an image digest: `sha256:` and 64 lowercase hex digits.
pub fn check_digest(digest: &str) -> std::result::Result<(), String> {
    let hex = digest.strip_prefix("sha256:");
    match hex {
        Some(hex)
            if hex.len() == 64 && hex.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "`{}` is not an image digest (`sha256:` and 64 lowercase hex digits)",
            digest.escape_debug()
        )),
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
    // A `v` the source's tag carries is kept in the derived tag (the platform's policy may
    // strip it when it is written).
    let v_prefix = if source_tag.starts_with('v') { "v" } else { "" };
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
                let v = semver_of(&source_tag).expect("checked by the source rule");
                format!("{v_prefix}{}", Version::new(v.major, v.minor, v.patch))
            }
            (TagRule::Rc, TagRule::Rc) => source_tag,
            (_, TagRule::Rc) => {
                let v = semver_of(&source_tag).expect("checked by the source rule");
                let core = Version::new(v.major, v.minor, v.patch);
                let last = target_current
                    .and_then(semver_of)
                    .filter(|t| (t.major, t.minor, t.patch) == (core.major, core.minor, core.patch))
                    .and_then(|t| {
                        t.pre
                            .as_str()
                            .strip_prefix("rc.")
                            .and_then(|n| n.parse::<u64>().ok())
                    })
                    .unwrap_or(0);
                format!("{v_prefix}{core}-rc.{}", last + 1)
            }
        };
    let derived = target_rule.check(&derived).map_err(|why| {
        format!(
            "the target's `{target_rule}` rule forbids the promoted tag: {why}; it takes {}",
            target_rule.shape()
        )
    })?;
    if target_rule.is_semver() {
        let current = target_current.and_then(semver_of);
        if let Some(current) = current {
            let new = semver_of(&derived).expect("checked by the target rule");
            if new.cmp_precedence(&current) == Ordering::Less {
                return Err(format!(
                    "promoting would downgrade the target from {current} to {new}"
                ));
            }
        }
    }
    Ok(derived)
}
