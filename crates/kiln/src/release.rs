//! The planning half of `kiln set-image` and `kiln promote`: which tag locations of which
//! environment file change, computed on [`Sources`] in memory under the rules of
//! [`crate::tag`]. Pure: no IO ([`crate::edit`] writes).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::edit;
use crate::error::{Error, ErrorKind, Location, Result};
use crate::load::{SourceFile, Sources};
use crate::resolve::{self, Component, Environment, Platform, Source};
use crate::tag::{promoted_tag, TagRule};
use crate::yaml;

/// One tag location of an environment file and what a change writes there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagChange {
    /// The environment's name.
    pub env: String,
    /// The environment file, relative to the platform root.
    pub file: PathBuf,
    /// The tag's key path in the file, like `apps.lexilink.web.tag` or `defaults.service.tag`.
    pub key: String,
    /// The 1-based line of the tag's key.
    pub line: usize,
    /// `app/kind` of every component the location sets.
    pub components: Vec<String>,
    /// The tag as the file holds it now.
    pub from: String,
    /// The tag the change writes; equal to `from` when the location already holds it.
    pub to: String,
    /// For a promotion, the tag the source environment runs, from which `to` derives (more
    /// than one when components sharing the location run different tags that derive the same
    /// one), sorted; empty for `set-image`.
    pub source_tags: Vec<String>,
}

impl TagChange {
    /// Whether the location already holds the new tag.
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
        )?;
        if !self.source_tags.is_empty() {
            write!(f, " from {}", self.source_tags.join(", "))?;
        }
        Ok(())
    }
}

/// A component a change leaves alone, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// `app/kind`.
    pub component: String,
    /// Why the command leaves it alone, in words (`` `channel: pinned` (an upstream image) ``).
    pub reason: String,
}

/// The outcome of planning `set-image` or `promote`: the changes, the edited sources and the
/// platform before and after. Nothing is written; [`TagPlan::write_sources`] does that.
#[derive(Debug, Clone)]
pub struct TagPlan {
    /// Every location the command sets, including those already at the wanted tag.
    pub changes: Vec<TagChange>,
    /// The selected components the command leaves alone, each with why.
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
/// environment's channel; its leading `v` stripped only under `tags: { strip_v: true }`, so
/// that the file holds the tag that renders) at every tag location of the environment
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
    // The tag comes from the command line, not from a file: the error has no location (a
    // caret under `channel:` would point at the wrong culprit), and names the rule's line in
    // its words.
    let channel_at = || {
        let text = &env_source(sources, &environment.file).text;
        let (line, _) = yaml::parse_document(text, &environment.file)
            .map(|doc| doc.position_of("channel"))
            .unwrap_or((1, 1));
        format!("{}:{line}", environment.file.display())
    };
    let tag = rule.check(tag).map_err(|why| {
        Error::new(
            ErrorKind::Model,
            format!(
                "the tag given on the command line breaks the `{rule}` rule of environment \
                 `{env}` (`channel: {rule}` at {}): {why}; it takes {}",
                channel_at(),
                rule.shape()
            ),
        )
    })?;
    // Written as it will render: without its `v` only where the platform's policy strips it.
    let tag = crate::tag::deployed_tag(rule, &tag, before.tags.strip_v);
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
            source_tags: Vec::new(),
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
        let mut source_tags: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
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
            let tag = crate::tag::deployed_tag(c.tag_rule, &tag, before.tags.strip_v);
            source_tags
                .entry(tag.clone())
                .or_default()
                .insert(crate::tag::deployed_tag(
                    src.tag_rule,
                    src_tag,
                    before.tags.strip_v,
                ));
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
            source_tags: source_tags
                .remove(&tag)
                .unwrap_or_default()
                .into_iter()
                .collect(),
            to: tag,
        });
    }
    if changes.is_empty() {
        return Err(nothing_to_set(target_env, &skipped, "promote"));
    }
    finish(sources, before, changes, skipped)
}
