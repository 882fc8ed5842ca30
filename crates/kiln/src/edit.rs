//! Comment-preserving edits of source YAML, for `kiln set-image` and `kiln promote`: one
//! scalar's text is replaced where it stands, so comments, key order, flow or block style and
//! every other byte of the file stay as they were.
//!
//! The scalar is found from the position [`crate::yaml`] records for its value (line and column
//! of its first character, the opening quote for a quoted scalar). Only single-line scalars are
//! edited. The new text keeps the old quoting style (a plain scalar stays plain when kiln reads
//! the new value back as the same string, and is double-quoted otherwise), and the result is
//! proven by parsing it again: the document must equal the old one with only that value changed.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::error::{Error, ErrorKind, Location, Result};
use crate::load::SourceFile;
use crate::yaml::{self, Node, NodeValue};

/// Replaces the string scalar at the dotted `key` of the YAML document `text` with `value`,
/// keeping every other byte. `file` names the source in errors.
pub fn replace_scalar(text: &str, file: &Path, key: &str, value: &str) -> Result<String> {
    let doc = yaml::parse_document(text, file)?;
    let at = || {
        let (line, column) = doc.position_of(key);
        Location::at(file, line, column).with_key(key)
    };
    let refuse = |why: String| Error::new(ErrorKind::Model, why).at(at());
    let node = find(&doc, key).ok_or_else(|| refuse(format!("no `{key}` in the file")))?;
    let NodeValue::String(old) = &node.value else {
        return Err(refuse(format!("`{key}` is not a string")));
    };
    if value.is_empty() || value.chars().any(|c| c.is_control()) {
        return Err(refuse(format!(
            "`{}` cannot be written in place (empty or a control character)",
            value.escape_debug()
        )));
    }
    if text.replace("\r\n", "\n").contains('\r') {
        return Err(refuse(
            "the file has bare carriage-return line endings; kiln edits LF or CRLF files only"
                .into(),
        ));
    }
    let start = offset(text, node.line, node.column)
        .ok_or_else(|| refuse("the value's position is outside the file".into()))?;
    let rest = &text[start..];
    let line_end = rest.find(['\n', '\r']).unwrap_or(rest.len());
    let line = &rest[..line_end];
    let (len, style) = match line.chars().next() {
        Some('"') => (closing_double(line), Style::Double),
        Some('\'') => (closing_single(line), Style::Single),
        _ => {
            let end = line
                .find([' ', '\t', ',', ']', '}', '#'])
                .unwrap_or(line.len());
            (Some(end), Style::Plain)
        }
    };
    let Some(len) = len.filter(|&len| style != Style::Plain || &line[..len] == old) else {
        return Err(refuse(format!(
            "`{key}` is not a one-line scalar kiln can edit in place; change it by hand"
        )));
    };
    let replacement = match style {
        Style::Plain if reads_back_plain(value) => value.to_owned(),
        Style::Single => format!("'{}'", value.replace('\'', "''")),
        Style::Plain | Style::Double => {
            format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
        }
    };
    let mut out = String::with_capacity(text.len() + replacement.len());
    out.push_str(&text[..start]);
    out.push_str(&replacement);
    out.push_str(&text[start + len..]);

    // Proof: the edited document is the old one with exactly this value changed.
    let edited = yaml::parse_document(&out, file)?;
    let mut expected = doc.to_json();
    set(&mut expected, key, Value::String(value.to_owned()));
    if edited.to_json() != expected {
        return Err(Error::new(
            ErrorKind::Output,
            format!("editing `{key}` in place would change more than its value; change it by hand"),
        )
        .at(at()));
    }
    Ok(out)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
}

fn find<'a>(root: &'a Node, key: &str) -> Option<&'a Node> {
    key.split('.').try_fold(root, |node, k| match &node.value {
        NodeValue::Seq(items) => k.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => node.get(k),
    })
}

fn set(root: &mut Value, key: &str, value: Value) {
    let mut node = root;
    for k in key.split('.') {
        node = match node {
            Value::Array(items) => &mut items[k.parse::<usize>().expect("found above")],
            other => &mut other[k],
        };
    }
    *node = value;
}

/// The byte offset of 1-based `line` and `column` (in characters) in `text`, where the parser
/// saw the text without a byte order mark.
fn offset(text: &str, line: usize, column: usize) -> Option<usize> {
    let bom = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let mut start = bom;
    for _ in 1..line {
        start += text[start..].find('\n')? + 1;
    }
    let line_text = &text[start..];
    let within = line_text.char_indices().nth(column - 1).map(|(i, _)| i)?;
    Some(start + within)
}

/// The length of a double-quoted scalar at the start of `line`, quotes included.
fn closing_double(line: &str) -> Option<usize> {
    let mut chars = line.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '"' => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// The length of a single-quoted scalar at the start of `line`, quotes included.
fn closing_single(line: &str) -> Option<usize> {
    let b = line.as_bytes();
    let mut i = 1;
    while i < b.len() {
        if b[i] == b'\'' {
            if b.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

/// Whether `value` written plain, in block or flow context, reads back as this string.
fn reads_back_plain(value: &str) -> bool {
    if value.contains([' ', '\t', ',', '[', ']', '{', '}', '#', ':', '"', '\'']) {
        return false;
    }
    matches!(
        yaml::parse_document(&format!("v: {value}\n"), Path::new("-")),
        Ok(doc) if doc.get("v").map(|n| &n.value) == Some(&NodeValue::String(value.to_owned()))
    )
}

/// Replaces a platform source file with `text`, atomically: a temporary file beside it, synced
/// and renamed over it. Refuses symlinks and anything but a regular file, and a file whose
/// contents changed since `original` was read.
pub fn write_source(root: &Path, original: &SourceFile, text: &str) -> Result<()> {
    let rel = &original.path;
    let abs = root.join(rel);
    let meta = fs::symlink_metadata(&abs).map_err(|e| Error::io("read", rel, e))?;
    if !meta.file_type().is_file() {
        return Err(Error::new(
            ErrorKind::Unsafe,
            "is not a regular file (a symbolic link or special file); kiln edits only regular \
             files",
        )
        .at(Location::file(rel)));
    }
    let now = fs::read(&abs).map_err(|e| Error::io("read", rel, e))?;
    if now != original.text.as_bytes() {
        return Err(Error::new(
            ErrorKind::Io,
            "changed on disk while kiln was editing it; run the command again",
        )
        .at(Location::file(rel)));
    }
    let dir = abs.parent().expect("a file has a parent");
    let name = abs
        .file_name()
        .expect("a file has a name")
        .to_string_lossy()
        .into_owned();
    let tmp = dir.join(format!(".{name}.kiln-edit-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let _ = fs::remove_file(&tmp);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.set_permissions(meta.permissions())?;
        file.sync_all()?;
        fs::rename(&tmp, &abs)?;
        if let Ok(dir) = fs::File::open(dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io("write", rel, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(text: &str, key: &str, value: &str) -> String {
        replace_scalar(text, Path::new("e.yaml"), key, value).unwrap()
    }

    #[test]
    fn each_style_keeps_its_quotes_and_the_rest_of_the_line() {
        let src = "# head\na:\n  plain: 0.5.0  # why\n  dq: \"b82e4f1\" # sha\n  sq: 'x1'\n  flow: { tag: 0.5.0-alpha.1.1, replicas: 2 }\n";
        assert_eq!(
            edit(src, "a.plain", "0.5.1"),
            src.replace("plain: 0.5.0 ", "plain: 0.5.1 ")
        );
        assert_eq!(
            edit(src, "a.dq", "1234567"),
            src.replace("b82e4f1", "1234567")
        );
        assert_eq!(edit(src, "a.sq", "it's"), src.replace("'x1'", "'it''s'"));
        assert_eq!(
            edit(src, "a.flow.tag", "0.5.0-alpha.2.1"),
            src.replace("0.5.0-alpha.1.1", "0.5.0-alpha.2.1")
        );
        // A plain value that would read as a number is quoted.
        assert_eq!(
            edit(src, "a.plain", "1234567"),
            src.replace("plain: 0.5.0 ", "plain: \"1234567\" ")
        );
    }

    #[test]
    fn crlf_and_bom_files_keep_their_bytes() {
        let src = "\u{feff}a: x1\r\nb: 'y'\r\n";
        assert_eq!(edit(src, "a", "z2"), "\u{feff}a: z2\r\nb: 'y'\r\n");
        assert_eq!(edit(src, "b", "w"), "\u{feff}a: x1\r\nb: 'w'\r\n");
    }

    #[test]
    fn refuses_what_it_cannot_edit_in_place() {
        let file = Path::new("e.yaml");
        let err = |src: &str, key: &str| {
            replace_scalar(src, file, key, "v1")
                .unwrap_err()
                .to_string()
        };
        assert!(err("a: 1\n", "a").contains("is not a string"));
        assert!(err("a: x\n", "b").contains("no `b`"));
        assert!(err("a: two\n  words\n", "a").contains("not a one-line scalar"));
        assert!(err("a: \"two\n  lines\"\n", "a").contains("not a one-line scalar"));
        assert!(err("a: |\n  block\n", "a").contains("not a one-line scalar"));
    }
}
