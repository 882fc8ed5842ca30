//! A fast reader for the plain block YAML that templates write.
//!
//! Template output is most of what a render reads, and nearly all of it is one small subset of
//! YAML: block mappings and sequences, one scalar per line (plain, single- or double-quoted, or
//! a one-line JSON-style flow collection as `tojson` writes it), comments and `---` separators.
//! This reader handles exactly that subset, line by line, straight into [`Value`]s. Anything
//! else (block scalars, multi-line scalars, tabs, anchors, tags, directives, duplicate keys,
//! ambiguous scalars, errors of any kind) makes it answer `None`, and the caller reads the text
//! again with the full parser, which either accepts it or reports the error with its position.
//!
//! So this reader never decides what is an error; it only has to agree with the full parser on
//! what it accepts. Its tests check that agreement on every template output of the repository's
//! platforms and on thousands of mutations of them.

use serde_json::{Map, Value};

use super::{resolve_scalar, NodeValue, MAX_DEPTH, MAX_KEY_LEN};

/// The documents of `src` with the line each starts on, or `None` when `src` leaves the subset.
/// `src` has had its newlines normalised and its characters checked.
pub(super) fn documents(src: &str) -> Option<Vec<(usize, Value)>> {
    let mut docs = Vec::new();
    let mut lines = Vec::new();
    for (i, raw) in src.split('\n').enumerate() {
        let text = raw.trim_end_matches(' ');
        if text.as_bytes().contains(&b'\t') {
            return None;
        }
        if text == "---" {
            read_document(&mut lines, &mut docs)?;
            continue;
        }
        if text.starts_with("---") || text.starts_with("...") || text.starts_with('%') {
            return None;
        }
        let content = text.trim_start_matches(' ');
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        lines.push(Line {
            no: i + 1,
            indent: text.len() - content.len(),
            text: content,
        });
    }
    read_document(&mut lines, &mut docs)?;
    Some(docs)
}

/// One line with content: its 1-based number, its indentation and what follows it (no
/// trailing spaces).
#[derive(Clone, Copy)]
struct Line<'a> {
    no: usize,
    indent: usize,
    text: &'a str,
}

fn read_document<'a>(lines: &mut Vec<Line<'a>>, docs: &mut Vec<(usize, Value)>) -> Option<()> {
    if lines.is_empty() {
        // Comments only, or nothing: the full parser skips such a document too.
        return Some(());
    }
    let first = lines[0];
    // Only a mapping or a sequence as the root (a lone scalar is not a mapping entry, so
    // `block` leaves it to the full parser).
    let mut reader = Reader { lines, pos: 0 };
    let value = reader.block(0)?;
    if reader.pos != reader.lines.len() {
        return None;
    }
    lines.clear();
    docs.push((first.no, value));
    Some(())
}

struct Reader<'r, 'a> {
    lines: &'r mut Vec<Line<'a>>,
    pos: usize,
}

impl Reader<'_, '_> {
    /// The block collection that starts at the current line.
    fn block(&mut self, depth: usize) -> Option<Value> {
        // A block collection always has an entry, one level deeper.
        if depth >= MAX_DEPTH {
            return None;
        }
        let line = *self.lines.get(self.pos)?;
        if is_seq_entry(line.text) {
            self.seq(line.indent, depth)
        } else {
            self.map(line.indent, depth)
        }
    }

    fn map(&mut self, indent: usize, depth: usize) -> Option<Value> {
        let mut entries = Vec::new();
        while let Some(&line) = self.lines.get(self.pos) {
            if line.indent < indent {
                break;
            }
            if line.indent > indent || is_seq_entry(line.text) {
                return None;
            }
            let (key, rest) = entry(line.text)??;
            self.pos += 1;
            let value = if rest.is_empty() {
                match self.lines.get(self.pos) {
                    Some(next) if next.indent > indent => self.block(depth + 1)?,
                    // `key:` then `- item` at the key's own indentation.
                    Some(next) if next.indent == indent && is_seq_entry(next.text) => {
                        self.seq(indent, depth + 1)?
                    }
                    _ => Value::Null,
                }
            } else {
                inline(rest, depth + 1)?
            };
            entries.push((key, value));
        }
        object(entries)
    }

    fn seq(&mut self, indent: usize, depth: usize) -> Option<Value> {
        let mut items = Vec::new();
        while let Some(&line) = self.lines.get(self.pos) {
            if line.indent < indent || !is_seq_entry(line.text) {
                // Back to the mapping this sequence is a value of (which checks the line).
                break;
            }
            if line.indent > indent {
                return None;
            }
            let after = &line.text[1..];
            let content = after.trim_start_matches(' ');
            if content.is_empty() || content.starts_with('#') {
                self.pos += 1;
                items.push(match self.lines.get(self.pos) {
                    Some(next) if next.indent > indent => self.block(depth + 1)?,
                    _ => Value::Null,
                });
            } else if is_seq_entry(content) || entry(content)?.is_some() {
                // `- key: value` or `- - item`: the rest of the line is a block collection at
                // its own column, which the lines below continue.
                self.lines[self.pos] = Line {
                    no: line.no,
                    indent: indent + 1 + (after.len() - content.len()),
                    text: content,
                };
                items.push(self.block(depth + 1)?);
            } else {
                self.pos += 1;
                items.push(inline(content, depth + 1)?);
            }
        }
        items.shrink_to_fit();
        Some(Value::Array(items))
    }
}

/// A mapping of exactly its size (objects are held a whole environment at a time), or `None`
/// for a duplicate key.
fn object(entries: Vec<(String, Value)>) -> Option<Value> {
    let len = entries.len();
    let map: Map<String, Value> = entries.into_iter().collect();
    (map.len() == len).then_some(Value::Object(map))
}

fn is_seq_entry(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// `Some(Some((key, rest)))` for a mapping entry `key: rest` (rest without leading spaces),
/// `Some(None)` for a line that is not one, `None` for anything this reader leaves alone.
fn entry(text: &str) -> Option<Option<(String, &str)>> {
    let (key, after) = match text.as_bytes()[0] {
        b'"' => {
            let (key, after) = double_quoted(text)?;
            (short_key(key)?, after)
        }
        b'\'' => {
            let (key, after) = single_quoted(text)?;
            (short_key(key)?, after)
        }
        b'[' | b'{' => return Some(None),
        _ => {
            let Some(colon) = find_value_indicator(text) else {
                return Some(None);
            };
            (plain_key(&text[..colon])?, &text[colon..])
        }
    };
    let Some(rest) = after.strip_prefix(':') else {
        // A quoted scalar, not a key.
        return Some(None);
    };
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    let rest = rest.trim_start_matches(' ');
    let rest = if rest.starts_with('#') { "" } else { rest };
    Some(Some((key, rest)))
}

/// Where `: ` (or a final `:`) first appears in `text`.
fn find_value_indicator(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(i) = b[from..].iter().position(|&c| c == b':') {
        let at = from + i;
        if b.get(at + 1).is_none_or(|&c| c == b' ') {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn plain_key(text: &str) -> Option<String> {
    if !plain_start(text) || text.ends_with(' ') || text.contains(" #") || text == "<<" {
        return None;
    }
    let name = match resolve_scalar(text, saphyr_parser::ScalarStyle::Plain).ok()? {
        NodeValue::String(s) => s,
        NodeValue::Number(n) => n.to_string(),
        _ => return None,
    };
    short_key(name)
}

/// Long keys are measured by the full parser, which explains the limit.
fn short_key(name: String) -> Option<String> {
    (name.len() <= MAX_KEY_LEN / 6).then_some(name)
}

/// Whether `text` can start a plain scalar without any doubt about what it is.
fn plain_start(text: &str) -> bool {
    let b = text.as_bytes();
    match b.first() {
        None => false,
        Some(b'-') => b.get(1).is_some_and(|&c| c != b' '),
        Some(
            b'?' | b':' | b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|'
            | b'>' | b'\'' | b'"' | b'%' | b'@' | b'`',
        ) => false,
        Some(_) => true,
    }
}

/// The value that follows `key: ` or `- ` on one line (comments and spaces removed).
fn inline(text: &str, depth: usize) -> Option<Value> {
    if depth > MAX_DEPTH {
        return None;
    }
    let (value, after) = match text.as_bytes()[0] {
        b'"' => {
            let (s, after) = double_quoted(text)?;
            (Value::String(s), after)
        }
        b'\'' => {
            let (s, after) = single_quoted(text)?;
            (Value::String(s), after)
        }
        b'[' | b'{' => flow(text, depth)?,
        _ => {
            let text = match text.find(" #") {
                Some(at) => text[..at].trim_end_matches(' '),
                None => text,
            };
            if !plain_start(text) || find_value_indicator(text).is_some() {
                return None;
            }
            return plain(text);
        }
    };
    end_of_line(after)?;
    Some(value)
}

fn plain(text: &str) -> Option<Value> {
    Some(
        match resolve_scalar(text, saphyr_parser::ScalarStyle::Plain).ok()? {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(b),
            NodeValue::Number(n) => Value::Number(n),
            NodeValue::String(s) => Value::String(s),
            NodeValue::Seq(_) | NodeValue::Map(_) => unreachable!("scalars resolve to scalars"),
        },
    )
}

/// What may follow a complete value on its line: nothing, or spaces and a comment.
fn end_of_line(after: &str) -> Option<()> {
    let rest = after.trim_start_matches(' ');
    (rest.is_empty() || (rest.starts_with('#') && rest.len() < after.len())).then_some(())
}

/// A one-line flow collection (`[...]` or `{...}`) and what follows it.
fn flow(text: &str, depth: usize) -> Option<(Value, &str)> {
    if depth > MAX_DEPTH {
        return None;
    }
    let close = if text.starts_with('[') { b']' } else { b'}' };
    let mut rest = text[1..].trim_start_matches(' ');
    let mut items = Vec::new();
    let mut entries = Vec::new();
    if rest.as_bytes().first() == Some(&close) {
        rest = &rest[1..];
    } else {
        loop {
            if close == b'}' {
                let (key, after) = match rest.as_bytes().first()? {
                    b'"' => {
                        let (key, after) = double_quoted(rest)?;
                        (short_key(key)?, after)
                    }
                    b'\'' => {
                        let (key, after) = single_quoted(rest)?;
                        (short_key(key)?, after)
                    }
                    _ => {
                        let colon = rest.find(": ")?;
                        let key = &rest[..colon];
                        if key.contains([',', '[', ']', '{', '}', '#']) {
                            return None;
                        }
                        (plain_key(key)?, &rest[colon..])
                    }
                };
                let after = after.strip_prefix(':')?.trim_start_matches(' ');
                let (value, after) = flow_item(after, depth + 1)?;
                entries.push((key, value));
                rest = after;
            } else {
                let (value, after) = flow_item(rest, depth + 1)?;
                items.push(value);
                rest = after;
            }
            rest = rest.trim_start_matches(' ');
            match rest.as_bytes().first()? {
                b',' => {
                    rest = rest[1..].trim_start_matches(' ');
                    // A trailing comma is left to the full parser.
                    if rest.as_bytes().first()? == &close {
                        return None;
                    }
                }
                &c if c == close => {
                    rest = &rest[1..];
                    break;
                }
                _ => return None,
            }
        }
    }
    let value = if close == b']' {
        items.shrink_to_fit();
        Value::Array(items)
    } else {
        object(entries)?
    };
    Some((value, rest))
}

/// One value inside a flow collection and what follows it.
fn flow_item(text: &str, depth: usize) -> Option<(Value, &str)> {
    if depth > MAX_DEPTH {
        return None;
    }
    match text.as_bytes().first()? {
        b'"' => double_quoted(text).map(|(s, after)| (Value::String(s), after)),
        b'\'' => single_quoted(text).map(|(s, after)| (Value::String(s), after)),
        b'[' | b'{' => flow(text, depth),
        _ => {
            let end = text.find([',', ']', '}']).unwrap_or(text.len());
            let item = text[..end].trim_end_matches(' ');
            if !plain_start(item) || item.contains(['[', '{', '#', ':']) {
                return None;
            }
            Some((plain(item)?, &text[end..]))
        }
    }
}

/// A double-quoted scalar on one line, with the escapes JSON writes, and what follows it.
fn double_quoted(text: &str) -> Option<(String, &str)> {
    let body = &text[1..];
    let end = body.find(['"', '\\'])?;
    if body.as_bytes()[end] == b'"' {
        // No escapes: one copy.
        return Some((body[..end].to_owned(), &body[end + 1..]));
    }
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &body[i + 1..])),
            '\\' => {
                let (_, e) = chars.next()?;
                out.push(match e {
                    '"' => '"',
                    '\\' => '\\',
                    '/' => '/',
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'u' => {
                        let hex = chars.as_str().get(..4)?;
                        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                            return None;
                        }
                        let code = u32::from_str_radix(hex, 16).ok()?;
                        for _ in 0..4 {
                            chars.next();
                        }
                        // Surrogates (and so pairs of them) are left to the full parser.
                        char::from_u32(code)?
                    }
                    _ => return None,
                });
            }
            c => out.push(c),
        }
    }
    // The string goes on past the line.
    None
}

/// A single-quoted scalar on one line and what follows it.
fn single_quoted(text: &str) -> Option<(String, &str)> {
    let body = &text[1..];
    let mut out = String::new();
    let mut from = 0;
    loop {
        let at = from + body[from..].find('\'')?;
        out.push_str(&body[from..at]);
        if body[at + 1..].starts_with('\'') {
            out.push('\'');
            from = at + 2;
        } else {
            return Some((out, &body[at + 1..]));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use serde_json::{json, Value};

    /// What the full parser reads, as `documents` answers it.
    fn full(src: &str) -> Option<Vec<(usize, Value)>> {
        super::super::parse_values_fully(src, Path::new("t.yaml")).ok()
    }

    /// The fast reader either leaves `src` alone or reads exactly what the full parser reads.
    fn agrees(src: &str) -> bool {
        match super::documents(src) {
            None => true,
            Some(fast) => full(src).as_ref() == Some(&fast),
        }
    }

    fn read(src: &str) -> Vec<(usize, Value)> {
        let fast = super::documents(src).unwrap_or_else(|| panic!("left alone:\n{src}"));
        assert_eq!(full(src).as_ref(), Some(&fast), "{src}");
        fast
    }

    /// Template output in the shapes the repository's templates write.
    const SAMPLES: &[&str] = &[
        "# leading comment\napiVersion: v1\nkind: Service\nmetadata:\n  name: \"web\"\n  labels:\n    app.kubernetes.io/name: web\nspec:\n  ports:\n    - name: http\n      port: 80\n      targetPort: http\n",
        "---\na: 1\n---\n# only a comment\n---\nb: [\"x\",\"y\"]\nc: {\"k\":\"v\",\"n\":2}\n",
        "items:\n- name: a\n  value: 'it''s'\n-   name: b\n    env:\n    - x\n    - - nested\n      - again\n-\n  late: true\n- # comment\n  k: v\nempty:\nnull_value: ~\n",
        "\"quoted key\": \"esc \\\" \\\\ \\n \\t \\u00e9 \\/\"\n'single': x # trailing comment\nurl: http://example.com/a#b\nlist: []\nmap: {}\nport: 8080\nratio: 0.5\nneg: -3\nflag: false\n",
        "  indented_root: 1\n  second: two\n",
        "- 1\n- two\n- {\"a\": [1, 2, {\"b\": null}]}\n",
    ];

    #[test]
    fn samples_are_read_fast_and_the_same() {
        for src in SAMPLES {
            read(src);
        }
        let docs = read(SAMPLES[1]);
        assert_eq!(docs.len(), 2);
        assert_eq!(
            docs[1],
            (6, json!({"b": ["x", "y"], "c": {"k": "v", "n": 2}}))
        );
    }

    #[test]
    fn what_the_subset_leaves_out_goes_to_the_full_parser() {
        for src in [
            "a: |\n  block\n",
            "a: >\n  folded\n",
            "a: multi\n  line\n",
            "a: \"multi\n  line\"\n",
            "a: &x 1\nb: *x\n",
            "a: !tag 1\n",
            "%YAML 1.2\n---\na: 1\n",
            "a: 1\na: 2\n",
            "a: yes\n",
            "a:\tb\n",
            "--- a\n",
            "just a scalar\n",
            "a: [1,\n  2]\n",
            "a: [1, 2,]\n",
            "? complex\n: key\n",
            "a: b: c\n",
            "<<: {a: 1}\n",
            "a: \"\\ud83d\\ude00\"\n",
            "a: \"x\"y\n",
        ] {
            assert_eq!(super::documents(src), None, "{src}");
        }
    }

    #[test]
    fn nesting_at_the_limit_agrees() {
        for depth in [super::MAX_DEPTH - 1, super::MAX_DEPTH, super::MAX_DEPTH + 1] {
            let mut block = String::new();
            for level in 0..depth {
                block.push_str(&" ".repeat(level));
                block.push_str("k:\n");
            }
            block.push_str(&" ".repeat(depth));
            block.push_str("k: v\n");
            assert!(agrees(&block), "block nesting {depth}");
            let flow = format!("k: {}1{}\n", "[".repeat(depth), "]".repeat(depth));
            assert!(agrees(&flow), "flow nesting {depth}");
        }
    }

    fn corpus() -> Vec<String> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut texts: Vec<String> = SAMPLES.iter().map(|s| (*s).to_owned()).collect();
        let mut trees = vec![root.join("k8s")];
        let mut examples: Vec<PathBuf> = std::fs::read_dir(root.join("examples"))
            .unwrap()
            .map(|e| e.unwrap().path().join("k8s"))
            .filter(|tree| tree.is_dir())
            .collect();
        examples.sort();
        trees.extend(examples);
        for tree in trees {
            for entry in walkdir::WalkDir::new(tree).sort_by_file_name() {
                let entry = entry.unwrap();
                if entry.file_type().is_file() {
                    texts.push(std::fs::read_to_string(entry.path()).unwrap());
                }
            }
        }
        texts
    }

    /// Thousands of small edits of real manifests (characters YAML gives meaning to, lines
    /// moved, dropped and re-indented): wherever the fast reader answers, it answers what the
    /// full parser reads.
    #[test]
    fn mutations_of_real_manifests_agree() {
        const ALPHABET: &[u8] = b" :-#\"'\n[]{},\\a0.!&*|>?%@`~t\tx1";
        let texts = corpus();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let (mut read_fast, mut cases) = (0, 0);
        for round in 0..12_000 {
            let text = &texts[round % texts.len()];
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            for _ in 0..1 + next(3) {
                if lines.is_empty() {
                    break;
                }
                let at = next(lines.len());
                match next(6) {
                    0 => lines.remove(at).truncate(0),
                    1 => lines.insert(at, lines[at].clone()),
                    2 => lines[at].insert_str(0, &" ".repeat(1 + next(2))),
                    3 => {
                        let trimmed = lines[at].trim_start_matches(' ').len();
                        let cut = (lines[at].len() - trimmed).min(1 + next(2));
                        lines[at].replace_range(..cut, "");
                    }
                    4 => {
                        let line = &mut lines[at];
                        let byte = ALPHABET[next(ALPHABET.len())] as char;
                        let mut pos = next(line.len() + 1);
                        while !line.is_char_boundary(pos) {
                            pos -= 1;
                        }
                        line.insert(pos, byte);
                    }
                    _ => {
                        let line = &mut lines[at];
                        if !line.is_empty() {
                            let mut pos = next(line.len());
                            while !line.is_char_boundary(pos) {
                                pos -= 1;
                            }
                            line.remove(pos);
                        }
                    }
                }
            }
            let src = lines.join("\n") + "\n";
            cases += 1;
            if super::documents(&src).is_some() {
                read_fast += 1;
            }
            assert!(agrees(&src), "the readers disagree on:\n{src}");
        }
        // The mutations must exercise the fast reader, not just its refusals.
        assert!(read_fast * 4 > cases, "{read_fast} of {cases} read fast");
    }
}
