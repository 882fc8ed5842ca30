//! YAML in and out, with one rule for both directions: a value means the same thing to a
//! YAML 1.1 reader (Kubernetes' go-yaml, kubectl, PyYAML) and a YAML 1.2 reader.
//!
//! Reading builds a [`Node`] tree with line numbers on top of `saphyr-parser`'s event stream and
//! refuses what kiln does not need and what has hurt others: anchors and aliases (alias bombs),
//! merge keys, tags, duplicate keys, nesting deeper than [`MAX_DEPTH`], and plain scalars that the
//! two YAML versions read differently (`yes`, `on`, `0755`, `1e3`, `2001-12-14`) or that would not
//! survive a round trip unchanged (`1.10`, `+1`, `2^64 + 1`).
//!
//! Writing ([`emit_document`]) is kiln's own emitter: block style, two-space indents, sequences
//! indented under their key, and a string is written plain only when both YAML versions read it
//! back as the same string; otherwise it is double-quoted (or a literal block when multi-line).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Number, Value};

use crate::error::{Error, ErrorKind, Location, Result};

mod fast;

/// Deeper nesting than this is refused (hostile input, and no manifest needs it).
pub const MAX_DEPTH: usize = 64;

/// A YAML value with the position it was read from (1-based line and column).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What the node holds.
    pub value: NodeValue,
    /// The 1-based line the node starts on.
    pub line: usize,
    /// The 1-based column the node starts at.
    pub column: usize,
}

/// What a [`Node`] holds: JSON-shaped data, read under kiln's rules.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    /// A null.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer or a float.
    Number(Number),
    /// A string.
    String(String),
    /// A sequence, items in document order.
    Seq(Vec<Node>),
    /// Keys in document order, each with its own position.
    Map(Vec<(Key, Node)>),
}

/// A mapping key and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The key's text.
    pub name: String,
    /// The 1-based line of the key.
    pub line: usize,
    /// The 1-based column of the key.
    pub column: usize,
}

impl Node {
    /// Converts to JSON-shaped data, keeping key order.
    pub fn to_json(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Number(n) => Value::Number(n.clone()),
            NodeValue::String(s) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => {
                let mut map = Map::with_capacity(entries.len());
                for (key, node) in entries {
                    map.insert(key.name.clone(), node.to_json());
                }
                Value::Object(map)
            }
        }
    }

    /// Like [`Node::to_json`], but moves the strings instead of copying them.
    pub fn into_json(self) -> Value {
        match self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(b),
            NodeValue::Number(n) => Value::Number(n),
            NodeValue::String(s) => Value::String(s),
            NodeValue::Seq(items) => Value::Array(items.into_iter().map(Node::into_json).collect()),
            NodeValue::Map(entries) => {
                let mut map = Map::with_capacity(entries.len());
                for (key, node) in entries {
                    map.insert(key.name, node.into_json());
                }
                Value::Object(map)
            }
        }
    }

    /// The value of `key` in a mapping; `None` when this is not a mapping or `key` is not in it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            NodeValue::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The key `key` of a mapping, with its position; `None` when this is not a mapping or `key` is
    /// not in it.
    pub fn key(&self, key: &str) -> Option<&Key> {
        match &self.value {
            NodeValue::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(k, _)| k),
            _ => None,
        }
    }

    /// The entries of a mapping, in document order; `None` when this is not a mapping.
    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            NodeValue::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// Follows a dotted key path (`apps.lexilink.web`; numbers index sequences) as far as it
    /// goes and returns the position of the deepest node or key reached.
    pub fn position_of(&self, path: &str) -> (usize, usize) {
        let mut node = self;
        let mut pos = (self.line, self.column);
        for segment in path.split('.').filter(|s| !s.is_empty()) {
            let next = match &node.value {
                NodeValue::Map(entries) => entries
                    .iter()
                    .find(|(k, _)| k.name == segment)
                    .map(|(k, v)| ((k.line, k.column), v)),
                NodeValue::Seq(items) => segment
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| items.get(i))
                    .map(|v| ((v.line, v.column), v)),
                _ => None,
            };
            match next {
                Some((p, n)) => {
                    pos = p;
                    node = n;
                }
                None => break,
            }
        }
        pos
    }
}

/// Parses every document of a YAML stream. `file` only names the source in errors.
/// A leading byte order mark and CRLF line endings are accepted.
pub fn parse_documents(src: &str, file: &Path) -> Result<Vec<Node>> {
    let src = normalize_newlines(src);
    check_printable(&src, file)?;
    let mut builder = Builder {
        file,
        events: Parser::new_from_str(&src),
        documents: Vec::new(),
    };
    builder.stream()?;
    Ok(builder.documents)
}

/// Reads every document of a YAML stream as JSON-shaped data, each with the line it starts on.
/// The same as [`parse_documents`] followed by [`Node::into_json`], and faster: the plain
/// block YAML that templates write is read by a line reader of its own (the private `fast`
/// module), and only text outside that subset (or in error) goes through the full parser.
pub fn parse_values(src: &str, file: &Path) -> Result<Vec<(usize, Value)>> {
    let src = normalize_newlines(src);
    check_printable(&src, file)?;
    if let Some(docs) = fast::documents(&src) {
        // Every test that renders also checks the fast reader against the full parser.
        #[cfg(debug_assertions)]
        {
            let full = parse_values_fully(&src, file)
                .expect("the full parser accepts what the fast reader reads");
            assert_eq!(
                full,
                docs,
                "the YAML readers disagree on {}",
                file.display()
            );
        }
        return Ok(docs);
    }
    parse_values_fully(&src, file)
}

/// [`parse_values`] through the full parser alone.
fn parse_values_fully(src: &str, file: &Path) -> Result<Vec<(usize, Value)>> {
    Ok(parse_documents(src, file)?
        .into_iter()
        .map(|doc| (doc.line, doc.into_json()))
        .collect())
}

/// Parses a file that must hold exactly one document.
pub fn parse_document(src: &str, file: &Path) -> Result<Node> {
    let mut documents = parse_documents(src, file)?;
    match documents.len() {
        1 => Ok(documents.pop().unwrap()),
        0 => Err(Error::new(
            ErrorKind::Yaml,
            "the file is empty; expected one YAML document",
        )
        .at(Location::file(file))),
        n => {
            let second = &documents[1];
            Err(Error::new(
                ErrorKind::Yaml,
                format!("expected one YAML document, found {n}; remove the `---` separators"),
            )
            .at(Location::at(file, second.line, second.column)))
        }
    }
}

/// The longest mapping key kiln reads, as kiln would write it (quoted and escaped if need be):
/// YAML limits an implicit key to 1024 characters, so a longer one could not be written back.
pub const MAX_KEY_LEN: usize = 1024;

/// Refuses characters YAML does not allow in a stream (C0 and C1 controls other than tab and
/// line feed, DEL, U+FFFE, U+FFFF), naming the line and column of the first. Some parsers let
/// them through; kiln's output would then not read back.
fn check_printable(src: &str, file: &Path) -> Result<()> {
    let b = src.as_bytes();
    let bad_at = b.iter().enumerate().position(|(i, &c)| match c {
        b'\t' | b'\n' => false,
        0..=0x1f | 0x7f => true,
        // U+0080..U+009F except U+0085 (NEL), in UTF-8.
        0xc2 => b
            .get(i + 1)
            .is_some_and(|&n| (0x80..=0x9f).contains(&n) && n != 0x85),
        // U+FFFE and U+FFFF.
        0xef => b.get(i + 1) == Some(&0xbf) && matches!(b.get(i + 2), Some(0xbe | 0xbf)),
        _ => false,
    });
    let Some(at) = bad_at else {
        return Ok(());
    };
    let ch = src[at..].chars().next().expect("a character starts here");
    let line = src[..at].matches('\n').count() + 1;
    let column = src[..at]
        .rfind('\n')
        .map_or(src[..at].chars().count(), |nl| {
            src[nl + 1..at].chars().count()
        })
        + 1;
    Err(Error::new(
        ErrorKind::Yaml,
        format!(
            "control character U+{:04X} is not allowed in YAML; write it as an escape in a \
             double-quoted string (\"\\u{:04X}\")",
            ch as u32, ch as u32
        ),
    )
    .at(Location::at(file, line, column)))
}

/// Strips a byte order mark and turns CRLF (and lone CR) into LF.
pub fn normalize_newlines(src: &str) -> Cow<'_, str> {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    if src.contains('\r') {
        Cow::Owned(src.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(src)
    }
}

struct Builder<'a, 'src> {
    file: &'a Path,
    events: Parser<'src, saphyr_parser::StrInput<'src>>,
    documents: Vec<Node>,
}

impl<'src> Builder<'_, 'src> {
    fn err(&self, span: Span, message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Yaml, message).at(Location::at(
            self.file,
            span.start.line(),
            span.start.col() + 1,
        ))
    }

    fn next(&mut self) -> Result<(Event<'src>, Span)> {
        match self.events.next() {
            Some(Ok(event)) => Ok(event),
            Some(Err(e)) => {
                let m = e.marker();
                Err(
                    Error::new(ErrorKind::Yaml, format!("invalid YAML: {}", e.info()))
                        .at(Location::at(self.file, m.line(), m.col() + 1)),
                )
            }
            None => Err(Error::new(ErrorKind::Yaml, "unexpected end of YAML stream")
                .at(Location::file(self.file))),
        }
    }

    fn stream(&mut self) -> Result<()> {
        loop {
            let (event, span) = self.next()?;
            match event {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::StreamEnd => return Ok(()),
                Event::DocumentStart(_) => {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::DocumentEnd) {
                        continue;
                    }
                    let node = self.node(event, span, 0)?;
                    // An empty document (`---` then nothing) reads as null; skip it so that a
                    // template separator at the end of a stream is harmless.
                    if node.value != NodeValue::Null {
                        self.documents.push(node);
                    }
                }
                other => return Err(self.err(span, format!("unexpected YAML event {other:?}"))),
            }
        }
    }

    fn node(&mut self, event: Event<'src>, span: Span, depth: usize) -> Result<Node> {
        if depth > MAX_DEPTH {
            return Err(self.err(span, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        let line = span.start.line();
        let column = span.start.col() + 1;
        let value = match event {
            Event::Alias(_) => {
                return Err(self.err(
                    span,
                    "YAML aliases (`*name`) are not accepted; write the value out, or move it \
                     into kind or environment defaults",
                ))
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.no_anchor_or_tag(span, anchor, tag.is_some())?;
                resolve_scalar(&text, style).map_err(|msg| self.err(span, msg))?
            }
            Event::SequenceStart(anchor, tag) => {
                self.no_anchor_or_tag(span, anchor, tag.is_some())?;
                let mut items = Vec::new();
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(event, span, depth + 1)?);
                }
                NodeValue::Seq(items)
            }
            Event::MappingStart(anchor, tag) => {
                self.no_anchor_or_tag(span, anchor, tag.is_some())?;
                let mut entries: Vec<(Key, Node)> = Vec::new();
                // Duplicate keys are found by a scan while the mapping is small and by an index
                // once it is not, so a file of many keys costs linear time, not quadratic.
                let mut index: Option<HashMap<String, usize>> = None;
                loop {
                    let (event, kspan) = self.next()?;
                    let name = match event {
                        Event::MappingEnd => break,
                        Event::Scalar(text, style, anchor, tag) => {
                            self.no_anchor_or_tag(kspan, anchor, tag.is_some())?;
                            self.key_name(&text, style, kspan)?
                        }
                        _ => return Err(self.err(kspan, "mapping keys must be plain scalars")),
                    };
                    let key = Key {
                        name,
                        line: kspan.start.line(),
                        column: kspan.start.col() + 1,
                    };
                    let first = match &index {
                        Some(index) => index.get(&key.name).copied(),
                        None => entries
                            .iter()
                            .find(|(k, _)| k.name == key.name)
                            .map(|(k, _)| k.line),
                    };
                    if let Some(first) = first {
                        return Err(self.err(
                            kspan,
                            format!(
                                "duplicate key `{}` (first defined on line {first})",
                                key.name
                            ),
                        ));
                    }
                    let (event, vspan) = self.next()?;
                    let value = self.node(event, vspan, depth + 1)?;
                    match &mut index {
                        Some(index) => {
                            index.insert(key.name.clone(), key.line);
                        }
                        None if entries.len() >= 16 => {
                            let mut all: HashMap<String, usize> = entries
                                .iter()
                                .map(|(k, _)| (k.name.clone(), k.line))
                                .collect();
                            all.insert(key.name.clone(), key.line);
                            index = Some(all);
                        }
                        None => {}
                    }
                    entries.push((key, value));
                }
                NodeValue::Map(entries)
            }
            other => return Err(self.err(span, format!("unexpected YAML event {other:?}"))),
        };
        Ok(Node {
            value,
            line,
            column,
        })
    }

    fn key_name(&self, text: &str, style: ScalarStyle, span: Span) -> Result<String> {
        if style == ScalarStyle::Plain && text == "<<" {
            return Err(self.err(
                span,
                "YAML merge keys (`<<`) are not accepted; kiln's layered defaults do that job",
            ));
        }
        let name = match resolve_scalar(text, style).map_err(|msg| self.err(span, msg))? {
            NodeValue::String(s) => s,
            NodeValue::Number(n) => n.to_string(),
            NodeValue::Bool(_) | NodeValue::Null => {
                let text = abbreviate(text);
                return Err(self.err(
                    span,
                    format!("the key `{text}` is not a string; quote it (\"{text}\")"),
                ));
            }
            _ => unreachable!("scalars resolve to scalars"),
        };
        // Escaping at most sextuples a character; only long keys need measuring.
        if name.len() > MAX_KEY_LEN / 6 {
            let written = if is_plain_safe(&name) {
                name.len()
            } else {
                let mut quoted = String::new();
                emit_double_quoted(&name, &mut quoted);
                quoted.len()
            };
            if written > MAX_KEY_LEN {
                return Err(self.err(
                    span,
                    format!(
                        "a mapping key of {written} characters (as written back); YAML keys \
                         are at most {MAX_KEY_LEN}"
                    ),
                ));
            }
        }
        Ok(name)
    }

    fn no_anchor_or_tag(&self, span: Span, anchor: usize, tagged: bool) -> Result<()> {
        if anchor != 0 {
            return Err(self.err(
                span,
                "YAML anchors (`&name`) are not accepted; kiln's layered defaults replace them",
            ));
        }
        if tagged {
            return Err(self.err(
                span,
                "YAML tags (`!tag`, `!!type`) are not accepted; quote strings instead",
            ));
        }
        Ok(())
    }
}

/// How a plain scalar reads under one YAML version's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// A null.
    Null,
    /// A boolean.
    Bool,
    /// An integer.
    Int,
    /// A float (including infinities and NaN).
    Float,
    /// YAML 1.1 only: timestamps, and `<<` / `=`.
    Other,
    /// A string.
    Str,
}

/// The YAML 1.2 core schema.
pub fn read_yaml12(s: &str) -> Reading {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Reading::Null,
        "true" | "True" | "TRUE" | "false" | "False" | "FALSE" => return Reading::Bool,
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => return Reading::Float,
        _ => {}
    }
    let b = s.as_bytes();
    if let Some(rest) = s.strip_prefix("0o") {
        if !rest.is_empty() && rest.bytes().all(|c| (b'0'..=b'7').contains(&c)) {
            return Reading::Int;
        }
    }
    if let Some(rest) = s.strip_prefix("0x") {
        if !rest.is_empty() && rest.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Reading::Int;
        }
    }
    let digits = b
        .strip_prefix(b"-")
        .or_else(|| b.strip_prefix(b"+"))
        .unwrap_or(b);
    if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
        return Reading::Int;
    }
    // [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
    let (mantissa, exponent) = match digits.iter().position(|&c| c == b'e' || c == b'E') {
        Some(i) => (&digits[..i], Some(&digits[i + 1..])),
        None => (digits, None),
    };
    let mantissa_ok = match mantissa.iter().position(|&c| c == b'.') {
        Some(i) => {
            let (int, frac) = (&mantissa[..i], &mantissa[i + 1..]);
            int.iter().all(u8::is_ascii_digit)
                && frac.iter().all(u8::is_ascii_digit)
                && (!int.is_empty() || !frac.is_empty())
        }
        None => !mantissa.is_empty() && mantissa.iter().all(u8::is_ascii_digit),
    };
    let exponent_ok = match exponent {
        None => true,
        Some(e) => {
            let e = e
                .strip_prefix(b"-")
                .or_else(|| e.strip_prefix(b"+"))
                .unwrap_or(e);
            !e.is_empty() && e.iter().all(u8::is_ascii_digit)
        }
    };
    if mantissa_ok && exponent_ok {
        return Reading::Float;
    }
    Reading::Str
}

/// The YAML 1.1 types as PyYAML and go-yaml v2 resolve them.
pub fn read_yaml11(s: &str) -> Reading {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Reading::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "n" | "N" | "no" | "No" | "NO" | "true" | "True"
        | "TRUE" | "false" | "False" | "FALSE" | "on" | "On" | "ON" | "off" | "Off" | "OFF" => {
            return Reading::Bool
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => return Reading::Float,
        "<<" | "=" => return Reading::Other,
        _ => {}
    }
    let b = s.as_bytes();
    let unsigned = b
        .strip_prefix(b"-")
        .or_else(|| b.strip_prefix(b"+"))
        .unwrap_or(b);
    let is = |bytes: &[u8], f: fn(&u8) -> bool| !bytes.is_empty() && bytes.iter().all(f);
    // Integers: binary, octal (leading 0), decimal, hex, sexagesimal; `_` allowed as separator.
    if let Some(rest) = unsigned.strip_prefix(b"0b") {
        if is(rest, |c| matches!(c, b'0' | b'1' | b'_')) {
            return Reading::Int;
        }
    }
    if let Some(rest) = unsigned.strip_prefix(b"0x") {
        if is(rest, |c| c.is_ascii_hexdigit() || *c == b'_') {
            return Reading::Int;
        }
    }
    if is(unsigned, |c| c.is_ascii_digit() || *c == b'_') && unsigned[0].is_ascii_digit() {
        return Reading::Int;
    }
    if let Some(first_colon) = unsigned.iter().position(|&c| c == b':') {
        let head = &unsigned[..first_colon];
        let (body, frac) = match unsigned.iter().position(|&c| c == b'.') {
            Some(dot) if dot > first_colon => {
                (&unsigned[first_colon..dot], Some(&unsigned[dot + 1..]))
            }
            Some(_) => (&b""[..], None),
            None => (&unsigned[first_colon..], None),
        };
        let parts_ok = !body.is_empty()
            && body.split(|&c| c == b':').skip(1).all(|p| {
                (1..=2).contains(&p.len())
                    && p.iter().all(u8::is_ascii_digit)
                    && (p.len() == 1 || p[0] <= b'5')
            });
        if is(head, |c| c.is_ascii_digit() || *c == b'_') && head[0] != b'0' && parts_ok {
            return match frac {
                None => Reading::Int,
                Some(f) if f.iter().all(|c| c.is_ascii_digit() || *c == b'_') => Reading::Float,
                Some(_) => Reading::Str,
            };
        }
    }
    // Floats: [-+]?([0-9][0-9_]*)?\.[0-9_]*([eE][-+][0-9]+)?  (PyYAML also takes `.5`).
    if let Some(dot) = unsigned.iter().position(|&c| c == b'.') {
        let (int, rest) = (&unsigned[..dot], &unsigned[dot + 1..]);
        let (frac, exp) = match rest.iter().position(|&c| c == b'e' || c == b'E') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let int_ok = int.is_empty()
            || (int[0].is_ascii_digit() && int.iter().all(|c| c.is_ascii_digit() || *c == b'_'));
        let frac_ok = frac.iter().all(|c| c.is_ascii_digit() || *c == b'_');
        let exp_ok = match exp {
            None => true,
            Some(e) => matches!(e.first(), Some(b'-' | b'+')) && is(&e[1..], u8::is_ascii_digit),
        };
        if int_ok && frac_ok && exp_ok && !(int.is_empty() && frac.is_empty()) {
            return Reading::Float;
        }
    }
    if is_yaml11_timestamp(b) {
        return Reading::Other;
    }
    Reading::Str
}

fn is_yaml11_timestamp(b: &[u8]) -> bool {
    // YYYY-M?M-D?D, optionally followed by a time; a prefix check is enough to decide quoting.
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() < 8 || !digits(0..4) || b[4] != b'-' {
        return false;
    }
    let mut i = 5;
    let month = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if !(1..=2).contains(&month) || b.get(i + month) != Some(&b'-') {
        return false;
    }
    i += month + 1;
    let day = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    (1..=2).contains(&day)
}

/// Resolves one scalar as kiln reads it: quoted and block scalars are strings; plain scalars
/// follow YAML 1.2 but must read the same under YAML 1.1 and must round-trip unchanged.
fn resolve_scalar(text: &str, style: ScalarStyle) -> std::result::Result<NodeValue, String> {
    if style != ScalarStyle::Plain || is_plain_word(text) {
        return Ok(NodeValue::String(text.to_owned()));
    }
    let (v12, v11) = (read_yaml12(text), read_yaml11(text));
    if v11 != v12 {
        let (meaning11, meaning12) = (describe(v11), describe(v12));
        let text = abbreviate(text);
        return Err(format!(
            "`{text}` is ambiguous: YAML 1.1 readers (Kubernetes, kubectl) read it as {meaning11}, \
             YAML 1.2 readers as {meaning12}; quote it (\"{text}\") if you mean the text"
        ));
    }
    Ok(match v12 {
        Reading::Null => NodeValue::Null,
        Reading::Bool => NodeValue::Bool(text.eq_ignore_ascii_case("true")),
        Reading::Int | Reading::Float => NodeValue::Number(canonical_number(text)?),
        Reading::Str | Reading::Other => NodeValue::String(text.to_owned()),
    })
}

fn describe(r: Reading) -> &'static str {
    match r {
        Reading::Null => "null",
        Reading::Bool => "a boolean",
        Reading::Int => "an integer",
        Reading::Float => "a number",
        Reading::Other => "a timestamp or special value",
        Reading::Str => "a string",
    }
}

/// A scalar as error messages show it: whole when short, else its start and its length.
fn abbreviate(text: &str) -> Cow<'_, str> {
    const SHOWN: usize = 60;
    match text.char_indices().nth(SHOWN) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!(
            "{}... ({} characters)",
            &text[..end],
            text.chars().count()
        )),
    }
}

fn canonical_number(full: &str) -> std::result::Result<Number, String> {
    let text = abbreviate(full);
    let hint = |what: &str| {
        let what = abbreviate(what);
        format!(
            "`{text}` would be read as the number {what}, not as written; write the number \
             plainly or quote it (\"{text}\") if you mean the text"
        )
    };
    if let Ok(i) = full.parse::<i64>() {
        return if i.to_string() == full {
            Ok(i.into())
        } else {
            Err(hint(&i.to_string()))
        };
    }
    if let Ok(u) = full.parse::<u64>() {
        return if u.to_string() == full {
            Ok(u.into())
        } else {
            Err(hint(&u.to_string()))
        };
    }
    match full.parse::<f64>() {
        Ok(f) if f.is_finite() => {
            // Compared with the number as the emitter writes it: `0.0000001` would come out as
            // `1e-7`, which a YAML 1.1 reader takes for a string.
            let number = Number::from_f64(f).expect("finite");
            let shown = number.to_string();
            if shown == full && shown.contains('.') {
                Ok(number)
            } else {
                Err(hint(&shown))
            }
        }
        _ => Err(format!(
            "`{text}` is not a number kiln can keep exactly (JSON has no hex, octal, infinity or \
             NaN, and integers stop at 2^64 - 1); quote it (\"{text}\") if you mean the text"
        )),
    }
}

/// Writes one document (without the `---` separator) in kiln's canonical style.
pub fn emit_document(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) if !map.is_empty() => emit_map(map, 0, out),
        Value::Array(items) if !items.is_empty() => emit_seq(items, 0, out),
        // A literal block needs indentation, which a document's own scalar does not have.
        Value::String(s) if !is_plain_safe(s) => {
            emit_double_quoted(s, out);
            out.push('\n');
        }
        scalar => {
            emit_scalar(scalar, 0, out);
            out.push('\n');
        }
    }
}

fn indent(n: usize, out: &mut String) {
    for _ in 0..n {
        out.push(' ');
    }
}

fn emit_map(map: &Map<String, Value>, level: usize, out: &mut String) {
    let mut first = true;
    for (key, value) in map {
        if !first {
            indent(level, out);
        }
        first = false;
        if is_plain_safe(key) {
            out.push_str(key);
        } else {
            emit_double_quoted(key, out);
        }
        out.push(':');
        emit_child(value, level, out);
    }
}

fn emit_seq(items: &[Value], level: usize, out: &mut String) {
    let mut first = true;
    for item in items {
        if !first {
            indent(level, out);
        }
        first = false;
        out.push_str("- ");
        match item {
            Value::Object(map) if !map.is_empty() => emit_map(map, level + 2, out),
            Value::Array(inner) if !inner.is_empty() => emit_seq(inner, level + 2, out),
            scalar => {
                emit_scalar(scalar, level + 2, out);
                out.push('\n');
            }
        }
    }
}

/// Writes what follows `key:` — a nested block on the next lines, or a scalar on the same line.
fn emit_child(value: &Value, level: usize, out: &mut String) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            indent(level + 2, out);
            emit_map(map, level + 2, out);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            indent(level + 2, out);
            emit_seq(items, level + 2, out);
        }
        scalar => {
            out.push(' ');
            emit_scalar(scalar, level + 2, out);
            out.push('\n');
        }
    }
}

fn emit_scalar(value: &Value, level: usize, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write!(out, "{n}").expect("writing to a String"),
        Value::String(s) => emit_string(s, level, out),
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
    }
}

fn emit_string(s: &str, level: usize, out: &mut String) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else if is_literal_block_safe(s) {
        out.push_str(if s.ends_with('\n') { "|" } else { "|-" });
        for line in s.strip_suffix('\n').unwrap_or(s).split('\n') {
            out.push('\n');
            if !line.is_empty() {
                indent(level, out);
                out.push_str(line);
            }
        }
    } else {
        emit_double_quoted(s, out);
    }
}

/// True when `s` can be written as a plain scalar that every YAML reader reads back as this
/// exact string.
pub fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if matches!(
        first,
        '-' | '?'
            | ':'
            | ','
            | '['
            | ']'
            | '{'
            | '}'
            | '#'
            | '&'
            | '*'
            | '!'
            | '|'
            | '>'
            | '\''
            | '"'
            | '%'
            | '@'
            | '`'
            | ' '
    ) || s.ends_with([' ', ':'])
        // `...` at the start of a line ends the document (a top-level key or scalar).
        || s.starts_with("...")
        || !plain_chars(s)
    {
        return false;
    }
    is_plain_word(s)
        || (read_yaml12(s) == Reading::Str
            && read_yaml11(s) == Reading::Str
            && !is_yaml11_spec_float(s))
}

/// No `: ` or ` #` (which would end the scalar) and no control character, BOM or Unicode line
/// or paragraph separator: one pass over the bytes, and over the characters only when there
/// are non-ASCII ones.
fn plain_chars(s: &str) -> bool {
    let mut prev = 0;
    let mut ascii = true;
    for &b in s.as_bytes() {
        if b < 0x20 || b == 0x7f || (prev == b':' && b == b' ') || (prev == b' ' && b == b'#') {
            return false;
        }
        ascii &= b.is_ascii();
        prev = b;
    }
    ascii
        || !s
            .chars()
            .any(|c| c.is_control() || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}'))
}

/// Most plain scalars are words: one that starts with an ASCII letter reads as a string under
/// both YAML versions unless it is one of YAML 1.1's null and boolean words (which include all
/// of YAML 1.2's); numbers, timestamps and the other special values start with a digit, a sign,
/// a dot or a symbol. The short cut for the checks above, which agree (see the tests).
fn is_plain_word(s: &str) -> bool {
    s.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && (s.len() > 5 || read_yaml11(s) == Reading::Str)
}

/// The YAML 1.1 spec's float pattern, `[-+]?([0-9][0-9_]*)?\.[0-9.]*([eE][-+][0-9]+)?`, which is
/// looser than what PyYAML and go-yaml accept (it takes `0.0.0.0` and `1.2.3`). Readers are not
/// required to be that loose, but a string matching it is quoted on output all the same.
fn is_yaml11_spec_float(s: &str) -> bool {
    let b = s.as_bytes();
    let b = b
        .strip_prefix(b"-")
        .or_else(|| b.strip_prefix(b"+"))
        .unwrap_or(b);
    let int_len = b
        .iter()
        .take_while(|c| c.is_ascii_digit() || **c == b'_')
        .count();
    if int_len > 0 && !b[0].is_ascii_digit() {
        return false;
    }
    let Some(rest) = b[int_len..].strip_prefix(b".") else {
        return false;
    };
    let frac_len = rest
        .iter()
        .take_while(|c| c.is_ascii_digit() || **c == b'.')
        .count();
    match &rest[frac_len..] {
        [] => true,
        [b'e' | b'E', b'-' | b'+', digits @ ..] => {
            !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    }
}

fn is_literal_block_safe(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with([' ', '\n'])
        && !s.ends_with("\n\n")
        && !s.chars().any(|c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}' | '\u{85}')
        })
        && s.split('\n').all(|line| !line.ends_with(' '))
}

fn emit_double_quoted(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if c.is_control() || c == '\u{feff}' => {
                write!(out, "\\u{:04X}", c as u32).expect("writing to a String")
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn parse(src: &str) -> Result<Node> {
        parse_document(src, &PathBuf::from("t.yaml"))
    }

    fn roundtrip(value: &Value) -> String {
        let mut out = String::new();
        emit_document(value, &mut out);
        out
    }

    #[test]
    fn ambiguous_plain_scalars_are_refused_with_their_reason() {
        let cases = [
            (
                "yes",
                "YAML 1.1 readers (Kubernetes, kubectl) read it as a boolean",
            ),
            ("on", "a boolean"),
            ("n", "a boolean"),
            ("0755", "would be read as the number 755"),
            ("1e3", "a string, YAML 1.2 readers as a number"),
            ("1.10", "would be read as the number 1.1"),
            ("0x1F", "JSON has no hex"),
            (".nan", "JSON has no hex, octal, infinity or NaN"),
            ("18446744073709551617", "would be read as the number"),
            ("2001-12-14", "a timestamp"),
            ("1:20", "read it as an integer"),
            ("+1", "would be read as the number 1"),
            // The emitter would write `1e-7`, which YAML 1.1 reads as a string.
            ("0.0000001", "would be read as the number 1e-7"),
        ];
        for (text, expected) in cases {
            let err = parse(&format!("k: {text}\n")).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
            assert!(err.starts_with("t.yaml:1:4: "), "{text}: {err}");
            // Quoted, every one of them is a plain string.
            let node = parse(&format!("k: \"{text}\"\n")).unwrap();
            assert_eq!(node.get("k").unwrap().value, NodeValue::String(text.into()));
        }
    }

    #[test]
    fn plain_chars_agrees_with_the_checks_it_replaces() {
        let reference = |s: &str| {
            !(s.contains(": ")
                || s.contains(" #")
                || s.chars()
                    .any(|c| c.is_control() || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}')))
        };
        let alphabet = [
            "a", ":", " ", "#", "\t", "\n", "\u{7f}", "\u{80}", "\u{9f}", "\u{a0}", "é",
            "\u{feff}", "\u{2028}", "\u{2029}", "\u{2027}",
        ];
        for a in alphabet {
            for b in alphabet {
                for c in alphabet {
                    for s in [a.to_owned(), format!("{a}{b}"), format!("{a}{b}{c}")] {
                        assert_eq!(plain_chars(&s), reference(&s), "{s:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn words_are_strings_exactly_when_both_readings_say_so() {
        let mut words: Vec<String> = [
            "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE",
            "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null",
            "NULL", "nan", "NaN", "inf", "Inf", "e5", "E10", "x1", "a", "abc", "web", "yes1",
            "Nullable", "offset", "b0", "o17", "x1f", "a:b", "z.5", "e", "tRUE", "nULL",
        ]
        .map(str::to_owned)
        .to_vec();
        // Every one- and two-letter word, and every casing of the special words.
        for a in b'A'..=b'z' {
            words.push((a as char).to_string());
            for b in b'A'..=b'z' {
                words.push(format!("{}{}", a as char, b as char));
            }
        }
        for word in ["yes", "no", "true", "false", "on", "off", "null"] {
            for mask in 0..1u32 << word.len() {
                let cased: String = word
                    .chars()
                    .enumerate()
                    .map(|(i, c)| {
                        if mask >> i & 1 == 1 {
                            c.to_ascii_uppercase()
                        } else {
                            c
                        }
                    })
                    .collect();
                words.push(cased);
            }
        }
        for word in &words {
            let slow = read_yaml12(word) == Reading::Str
                && read_yaml11(word) == Reading::Str
                && !is_yaml11_spec_float(word);
            if is_plain_word(word) {
                assert!(slow, "`{word}` taken for a string");
            } else if word.as_bytes()[0].is_ascii_alphabetic() {
                assert!(!slow, "`{word}` is a string but not taken for one");
            }
        }
    }

    #[test]
    fn unambiguous_scalars_resolve() {
        let node = parse("a: 1\nb: -2\nc: 0.5\nd: true\ne: null\nf: text\ng: 8080:80\nh: 1.1.1\n")
            .unwrap();
        assert_eq!(
            node.to_json(),
            serde_json::json!({"a": 1, "b": -2, "c": 0.5, "d": true, "e": null, "f": "text",
                                "g": "8080:80", "h": "1.1.1"})
        );
    }

    #[test]
    fn refuses_aliases_anchors_tags_merge_keys_and_duplicates() {
        let cases = [
            ("a: &x 1\nb: *x\n", "t.yaml:1:4: YAML anchors"),
            ("a: !!binary aGk=\n", "YAML tags"),
            ("a: !!python/object:os.system x\n", "YAML tags"),
            ("a: {b: 1}\n<<: {c: 2}\n", "t.yaml:2:1: YAML merge keys"),
            (
                "a: 1\nb: 2\na: 3\n",
                "t.yaml:3:1: duplicate key `a` (first defined on line 1)",
            ),
            ("a: [1, 2\n", "invalid YAML"),
            ("", "the file is empty"),
            (
                "a: 1\n---\nb: 2\n",
                "t.yaml:3:1: expected one YAML document, found 2",
            ),
        ];
        for (src, expected) in cases {
            let err = parse(src).unwrap_err().to_string();
            assert!(err.contains(expected), "{src:?}: {err}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let src = format!("{}{}", "[".repeat(100), "]".repeat(100));
        let err = parse(&src).unwrap_err().to_string();
        assert!(
            err.contains("t.yaml:1:66: nesting deeper than 64 levels"),
            "{err}"
        );
        // Far deeper input stops in the parser's own recursion limit, still as an error.
        let src = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let err = parse(&src).unwrap_err().to_string();
        assert!(err.contains("recursion limit exceeded"), "{err}");
    }

    #[test]
    fn a_document_that_is_one_multi_line_string_reads_back() {
        // Found by fuzzing: as a literal block at indent 0 its `---` line ended the document.
        let value = Value::String("\n---\ns>h-\n.1".into());
        let out = roundtrip(&value);
        assert_eq!(out, "\"\\n---\\ns>h-\\n.1\"\n");
        assert_eq!(parse(&out).unwrap().to_json(), value);
    }

    #[test]
    fn a_string_starting_with_a_document_end_marker_is_quoted() {
        // Found by fuzzing: written plain at column 0, `... x` ends the document.
        let value = serde_json::json!({"... key": "... value", "...": ["..."]});
        let out = roundtrip(&value);
        assert_eq!(out, "\"... key\": \"... value\"\n\"...\":\n  - \"...\"\n");
        assert_eq!(parse(&out).unwrap().to_json(), value);
        let top = Value::String("... -e..x".into());
        assert_eq!(parse(&roundtrip(&top)).unwrap().to_json(), top);
    }

    #[test]
    fn many_keys_cost_linear_time_not_quadratic() {
        // 100,000 keys: a pairwise duplicate scan would compare 5 * 10^9 pairs (minutes);
        // the index makes it a fraction of a second even unoptimised.
        let n = 100_000;
        let mut src = String::with_capacity(n * 12);
        for i in 0..n {
            src.push_str(&format!("k{i}: {i}\n"));
        }
        let started = std::time::Instant::now();
        let node = parse(&src).unwrap();
        assert_eq!(node.as_map().unwrap().len(), n);
        assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
        src.push_str("k77777: again\n");
        let err = parse(&src).unwrap_err().to_string();
        assert!(
            err.contains("t.yaml:100001:1: duplicate key `k77777` (first defined on line 77778)"),
            "{err}"
        );
    }

    #[test]
    fn bom_and_crlf_are_normalised() {
        let node = parse("\u{feff}a: 1\r\nb: two\r\n").unwrap();
        assert_eq!(node.to_json(), serde_json::json!({"a": 1, "b": "two"}));
        assert_eq!(node.key("b").unwrap().line, 2);
    }

    #[test]
    fn emitter_quotes_what_either_yaml_version_would_misread() {
        let value = serde_json::json!({
            "plain": "registry.example.dev/hn/app:3f9c2ab",
            "words": ["yes", "No", "on", "off", "y", "n", "null", "~", ""],
            "numbers": ["0755", "1.10", "1e3", "0x1F", ".nan", "18446744073709551617", "1:20",
                        "2001-12-14", "12"],
            "indicators": ["- a", "*x", "&a", "!t", "a: b", "a #c", "@x", "<<", "trailing ", "%p"],
            "spec_floats": ["0.0.0.0", "1.2.3", "0.5.0", "v1.2.3", "1.2.3-rc.1", "10.0.0.1/8"],
            "multi": "line one\nline two\n",
            "strip": "a\nb",
            "control": "tab\there",
            "empty_map": {},
            "empty_seq": [],
            "nested": [{"a": 1, "b": [true, null]}, [1, 2]],
        });
        let out = roundtrip(&value);
        insta::assert_snapshot!(out);
        // What was written reads back as the same value.
        assert_eq!(parse(&out).unwrap().to_json(), value);
    }
}
