//! Aligned tables, bold headings and values as people read them, for the inspection commands.

/// Bold, when colour is on.
pub fn bold(text: &str, color: bool) -> String {
    super::paint(color, "1", text)
}

/// Rows of cells printed with every column as wide as its widest cell, two spaces apart; the
/// last column is not padded.
pub fn table(rows: &[Vec<String>], indent: &str) -> String {
    let items: Vec<Item> = rows.iter().cloned().map(Item::Row).collect();
    table_with_headings(&items, indent)
}

/// A line of a table: aligned cells, or a heading printed as it is.
pub enum Item {
    /// A row of cells, aligned with every other row.
    Row(Vec<String>),
    /// A line printed as it is, after the indent; it takes no part in the alignment.
    Heading(String),
}

/// Like [`table`], with headings between the rows that do not take part in the alignment.
pub fn table_with_headings(items: &[Item], indent: &str) -> String {
    let rows: Vec<&Vec<String>> = items
        .iter()
        .filter_map(|i| match i {
            Item::Row(r) => Some(r),
            Item::Heading(_) => None,
        })
        .collect();
    let columns = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for item in items {
        let row = match item {
            Item::Heading(text) => {
                out.push_str(indent);
                out.push_str(text);
                out.push('\n');
                continue;
            }
            Item::Row(row) => row,
        };
        let mut line = indent.to_owned();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A value as people read it: strings bare (quoted when empty), the rest as compact JSON
/// without the unset (null) fields of mappings.
pub fn show(value: &serde_json::Value) -> String {
    fn strip(value: &serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => map
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect(),
            serde_json::Value::Array(items) => items.iter().map(strip).collect(),
            other => other.clone(),
        }
    }
    match value {
        serde_json::Value::String(s) if !s.is_empty() => s.clone(),
        other => strip(other).to_string(),
    }
}
