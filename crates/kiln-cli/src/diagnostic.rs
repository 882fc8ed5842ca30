//! Printing a library error for a person: the error line, then, when the error has a file and
//! line, that line of the file with a caret under the column (the file is read here only for
//! display), then each cause.
//!
//! ```text
//! error: environments/prod.yaml:10:26 (key `apps.shop.web.replicas`): invalid type: ...
//!   --> environments/prod.yaml:10:26
//!    |
//! 10 |     web: { tag: 1a2b3c4, replicas: two }
//!    |                                    ^^^
//! ```

use std::fmt::Write as _;
use std::path::Path;

/// Files larger than this are not read for a snippet.
const MAX_SNIPPET_FILE: u64 = 4 * 1024 * 1024;

const RED: &str = "1;31";
const BLUE: &str = "1;34";
const BOLD: &str = "1";

/// The whole report for `err`; paths of relative locations are read under `root`.
pub fn render(err: &kiln::Error, root: &Path, color: bool) -> String {
    let paint = |code: &str, text: &str| kiln::present::paint(color, code, text);
    let mut out = format!(
        "{}{}\n",
        paint(RED, "error"),
        paint(BOLD, &format!(": {err}"))
    );
    if let Some(snippet) = err.location().and_then(|l| snippet(l, root)) {
        let gutter = " ".repeat(snippet.line_number.to_string().len());
        let _ = writeln!(out, "{gutter}{} {}", paint(BLUE, "-->"), snippet.position);
        let _ = writeln!(out, "{gutter} {}", paint(BLUE, "|"));
        let _ = writeln!(
            out,
            "{} {}",
            paint(BLUE, &format!("{} |", snippet.line_number)),
            snippet.text
        );
        let _ = writeln!(
            out,
            "{gutter} {} {}{}",
            paint(BLUE, "|"),
            " ".repeat(snippet.caret_start),
            paint(RED, &"^".repeat(snippet.caret_len))
        );
    }
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let _ = writeln!(out, "  caused by: {cause}");
        source = cause.source();
    }
    out
}

struct Snippet {
    /// `file:line[:column]`.
    position: String,
    line_number: usize,
    /// The line, tabs expanded.
    text: String,
    caret_start: usize,
    caret_len: usize,
}

fn snippet(location: &kiln::Location, root: &Path) -> Option<Snippet> {
    let line_number = location.line?;
    let path = if location.file.is_absolute() {
        location.file.clone()
    } else {
        root.join(&location.file)
    };
    let meta = std::fs::metadata(&path).ok()?;
    if !meta.is_file() || meta.len() > MAX_SNIPPET_FILE {
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    let line = text.lines().nth(line_number.checked_sub(1)?)?;
    let line = line.strip_suffix('\r').unwrap_or(line);
    let chars: Vec<char> = line.chars().collect();
    let width = |c: char| if c == '\t' { 4 } else { 1 };
    let (start, len) = match location.column {
        Some(column) if column >= 1 && column <= chars.len() + 1 => {
            let start = column - 1;
            (start, token_len(&chars[start..]))
        }
        _ => {
            // No column: underline the line's content.
            let first = chars.iter().position(|c| !c.is_whitespace())?;
            let last = chars.iter().rposition(|c| !c.is_whitespace())?;
            (first, last + 1 - first)
        }
    };
    let caret_start = chars[..start].iter().map(|&c| width(c)).sum();
    let mut position = format!("{}:{line_number}", location.file.display());
    if let Some(column) = location.column {
        let _ = write!(position, ":{column}");
    }
    Some(Snippet {
        position,
        line_number,
        text: line.replace('\t', "    ").trim_end().to_owned(),
        caret_start,
        caret_len: len.max(1),
    })
}

/// The length of the YAML token starting at `rest`: a quoted string, or a run up to
/// whitespace or flow punctuation (without a key's trailing `:`).
fn token_len(rest: &[char]) -> usize {
    match rest.first() {
        None => 1,
        Some(&q) if q == '"' || q == '\'' => {
            let mut i = 1;
            while i < rest.len() && rest[i] != q {
                i += if rest[i] == '\\' && q == '"' { 2 } else { 1 };
            }
            (i + 1).min(rest.len())
        }
        Some(_) => {
            let end = rest
                .iter()
                .position(|c| c.is_whitespace() || matches!(c, ',' | '{' | '}' | '[' | ']' | '#'))
                .unwrap_or(rest.len());
            let token = &rest[..end];
            let token = token.strip_suffix(&[':']).unwrap_or(token);
            token.len().max(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn the_caret_covers_the_token_at_the_column() {
        assert_eq!(token_len(&chars("two }")), 3);
        assert_eq!(token_len(&chars("replicas: two")), 8);
        assert_eq!(token_len(&chars(r#""a b" }"#)), 5);
        assert_eq!(token_len(&chars("x,")), 1);
        assert_eq!(token_len(&chars("")), 1);
    }

    #[test]
    fn a_location_with_a_line_shows_the_line_and_a_caret() {
        let tmp = std::env::temp_dir().join(format!("kiln-diag-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        std::fs::write(tmp.join("a.yaml"), "a: 1\n\tb: [x, yes]\n").unwrap();
        let err = kiln::Error::new(kiln::ErrorKind::Yaml, "ambiguous")
            .at(kiln::Location::at("a.yaml", 2, 9));
        let text = render(&err, &tmp, false);
        let no_column = render(
            &kiln::Error::new(kiln::ErrorKind::Yaml, "bad").at(kiln::Location {
                line: Some(2),
                ..kiln::Location::file("a.yaml")
            }),
            &tmp,
            false,
        );
        std::fs::remove_dir_all(&tmp).unwrap();
        assert_eq!(
            text,
            "error: a.yaml:2:9: ambiguous\n --> a.yaml:2:9\n  |\n2 |     b: [x, yes]\n  |            ^^^\n"
        );
        assert_eq!(
            no_column,
            "error: a.yaml:2: bad\n --> a.yaml:2\n  |\n2 |     b: [x, yes]\n  |     ^^^^^^^^^^^\n"
        );
    }
}
