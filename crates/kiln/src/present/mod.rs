//! Presentation: the one place reports become text for people, markdown for pull requests and
//! GitHub annotations. The other modules return data (JSON is their serde form); nothing here
//! computes a result. Colour is ANSI SGR through [`paint`], on only when the caller says so:
//! the CLI decides from `--color`, the terminal and `NO_COLOR`.

mod diff;
mod drift;
mod envs;
mod explain;
mod lint;
mod table;

pub use diff::{diff_markdown, diff_text, COMMENT_MARKER, GITHUB_COMMENT_LIMIT};
pub use drift::{drift_text, unowned_text};
pub use envs::envs_text;
pub use explain::explain_text;
pub use lint::{lint_github, lint_text};
pub use table::{bold, show, table, table_with_headings, Item};

/// `text` in the ANSI SGR style `code` (`1` bold, `31` red, `32` green, `33` yellow, `36`
/// cyan, combinable as `1;31`) when `color` is on and `code` is not empty; `text` as it is
/// otherwise. Every coloured byte kiln prints comes from here.
pub fn paint(color: bool, code: &str, text: &str) -> String {
    if color && !code.is_empty() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}
