//! Writing rows as text (an aligned table), CSV (RFC 4180 quoting, `\n`
//! line ends) and JSON (an array of objects, counts as numbers).

use std::io::{self, Write};

use super::views::{Cell, Rows};

/// An aligned table: a header, then one line per row; counts right-aligned,
/// two spaces between columns, no spaces at the end of a line.
pub fn text(rows: &Rows, out: &mut dyn Write) -> io::Result<()> {
    let mut widths: Vec<usize> = rows.columns.iter().map(|c| c.chars().count()).collect();
    for row in &rows.rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell_text(cell).chars().count());
        }
    }
    let header: Vec<Cell> = rows.columns.iter().map(|c| Cell::Text((*c).to_string())).collect();
    let numeric: Vec<bool> = (0..rows.columns.len()).map(|i| rows.rows.first().is_some_and(|r| matches!(r.get(i), Some(Cell::Count(_))))).collect();
    for row in std::iter::once(&header).chain(&rows.rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let t = cell_text(cell);
            let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(t.chars().count());
            let last = i + 1 == row.len();
            if i > 0 {
                line.push_str("  ");
            }
            if numeric.get(i).copied().unwrap_or(false) {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(&t);
            } else {
                line.push_str(&t);
                if !last {
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// CSV: a header line with the view's columns, then the rows. A field with
/// a comma, a double quote, CR or LF is quoted, its quotes doubled.
pub fn csv(rows: &Rows, out: &mut dyn Write) -> io::Result<()> {
    let mut line = String::new();
    let header = rows.columns.iter().map(|c| Cell::Text((*c).to_string())).collect::<Vec<_>>();
    for row in std::iter::once(&header).chain(&rows.rows) {
        line.clear();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            let t = cell_text(cell);
            if t.contains([',', '"', '\r', '\n']) {
                line.push('"');
                line.push_str(&t.replace('"', "\"\""));
                line.push('"');
            } else {
                line.push_str(&t);
            }
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// JSON: `[{"column": value, ...}, ...]`, one row per line.
pub fn json(rows: &Rows, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(b"[")?;
    for (n, row) in rows.rows.iter().enumerate() {
        let mut line = String::from(if n == 0 { "\n{" } else { ",\n{" });
        for (i, (column, cell)) in rows.columns.iter().zip(row).enumerate() {
            if i > 0 {
                line.push(',');
            }
            json_string(column, &mut line);
            line.push(':');
            match cell {
                Cell::Count(c) => line.push_str(&c.to_string()),
                Cell::Text(t) => json_string(t, &mut line),
            }
        }
        line.push('}');
        out.write_all(line.as_bytes())?;
    }
    out.write_all(if rows.rows.is_empty() { b"]" } else { b"\n]" })
}

/// A JSON string literal, with every control character escaped.
pub fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

pub fn cell_text(cell: &Cell) -> std::borrow::Cow<'_, str> {
    match cell {
        Cell::Text(t) => t.as_str().into(),
        Cell::Count(n) => n.to_string().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Rows {
        Rows {
            columns: &["key", "count"],
            rows: vec![vec![Cell::Text("a,\"b\"".into()), Cell::Count(12)], vec![Cell::Text("long key".into()), Cell::Count(3)]],
        }
    }

    fn written(f: fn(&Rows, &mut dyn Write) -> io::Result<()>, rows: &Rows) -> String {
        let mut out = Vec::new();
        f(rows, &mut out).unwrap_or_else(|e| panic!("{e}"));
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn csv_quotes_as_rfc_4180() {
        assert_eq!(written(csv, &rows()), "key,count\n\"a,\"\"b\"\"\",12\nlong key,3\n");
    }

    #[test]
    fn text_is_aligned() {
        assert_eq!(written(text, &rows()), "key       count\na,\"b\"        12\nlong key      3\n");
        let r = Rows { columns: &["a", "b"], rows: vec![vec![Cell::Text("x".into()), Cell::Text(String::new())]] };
        assert_eq!(written(text, &r), "a  b\nx\n");
    }

    #[test]
    fn json_is_an_array_of_objects() {
        let mut r = rows();
        r.rows[1][0] = Cell::Text("\u{1}\\".into());
        assert_eq!(written(json, &r), "[\n{\"key\":\"a,\\\"b\\\"\",\"count\":12},\n{\"key\":\"\\u0001\\\\\",\"count\":3}\n]");
        r.rows.clear();
        assert_eq!(written(json, &r), "[]");
    }
}
