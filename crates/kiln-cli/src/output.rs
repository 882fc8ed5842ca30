//! The `--format` choices of every command, in one place: each command offers only the
//! formats it has. The text itself comes from `kiln::present`; JSON is the serde form of the
//! library's reports.

/// `--format` of `kiln envs` and `kiln explain`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Format {
    /// For people: aligned columns.
    Text,
    /// For scripts: one pretty-printed JSON document.
    Json,
}

/// `--format` of `kiln lint`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum LintFormat {
    Text,
    Json,
    /// GitHub workflow annotations.
    Github,
}

/// `--format` of `kiln diff`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum DiffFormat {
    Text,
    Markdown,
    Json,
}

/// `--format` of `kiln promote`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PromoteFormat {
    Text,
    Markdown,
}
