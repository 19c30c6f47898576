//! Every CSV the service writes (the campaign bank file, the audit export) goes through here:
//! RFC 4180 by the `csv` crate (quoted when a cell holds a comma, a quote or a line break; CRLF
//! line ends), and formula-safe.
//!
//! **Formula injection** (OWASP, "CSV Injection"): a spreadsheet reads a cell that begins with
//! `=`, `+`, `-`, `@`, a tab or a carriage return as a formula, so a beneficiary named
//! `=HYPERLINK(…)` or a request id `=1+2` would run in the finance office's spreadsheet. OWASP's
//! rule is applied to every *text* cell: one that begins with one of those six characters is
//! written with a single quote `'` before it (`=1+2` becomes `'=1+2`), which spreadsheets read
//! as "this is text" and do not evaluate. The rule is decided per column, by the writer: a
//! *number* cell (a row number, a sequence number, an amount — values the service formats
//! itself) is written as it is, so that a negative amount such as `-12.50` stays a number; a
//! number cell that does not hold a plain number is treated as text. The NDJSON export carries
//! every value exactly, and is the one to verify.

use std::borrow::Cow;

use crate::error::Error;

/// The first characters that make a spreadsheet evaluate a cell (OWASP, "CSV Injection").
pub const FORMULA_TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// One cell, and what kind of column it is in.
#[derive(Debug, Clone, Copy)]
pub enum Cell<'a> {
    /// Text: names, ids, JSON, anything a caller could have chosen. Neutralised.
    Text(&'a str),
    /// A number the service formatted (an integer, or an amount with decimals). Written as it
    /// is when it is a plain number (`-?digits[.digits]`), else neutralised like text.
    Number(&'a str),
}

/// A text value made safe for a spreadsheet: a `'` before a leading formula character.
pub fn neutralise(v: &str) -> Cow<'_, str> {
    if v.starts_with(FORMULA_TRIGGERS) { Cow::Owned(format!("'{v}")) } else { Cow::Borrowed(v) }
}

/// `-?[0-9]+(\.[0-9]+)?`: what the service writes for an integer or an amount.
fn is_plain_number(v: &str) -> bool {
    let digits = v.strip_prefix('-').unwrap_or(v);
    let (int, frac) = digits.split_once('.').map_or((digits, None), |(i, f)| (i, Some(f)));
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    all_digits(int) && frac.is_none_or(all_digits)
}

impl Cell<'_> {
    /// The cell as written.
    fn written(&self) -> Cow<'_, str> {
        match *self {
            Cell::Number(v) if is_plain_number(v) => Cow::Borrowed(v),
            Cell::Text(v) | Cell::Number(v) => neutralise(v),
        }
    }
}

/// A CSV document (or one chunk of a streamed one) being written into memory.
pub struct CsvOut {
    writer: csv::Writer<Vec<u8>>,
}

impl Default for CsvOut {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl CsvOut {
    /// An empty document with room for `bytes`.
    pub fn with_capacity(bytes: usize) -> Self {
        let writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .quote_style(csv::QuoteStyle::Necessary)
            .from_writer(Vec::with_capacity(bytes));
        Self { writer }
    }

    /// A header row: the column names, as text cells.
    pub fn header(&mut self, names: &[&str]) -> Result<(), Error> {
        self.row(&names.iter().map(|n| Cell::Text(n)).collect::<Vec<_>>())
    }

    /// One row.
    pub fn row(&mut self, cells: &[Cell<'_>]) -> Result<(), Error> {
        for cell in cells {
            self.writer.write_field(cell.written().as_bytes()).map_err(Error::internal)?;
        }
        // An empty record ends the row of fields written one by one.
        self.writer.write_record(None::<&[u8]>).map_err(Error::internal)
    }

    /// The bytes written.
    pub fn into_bytes(self) -> Result<Vec<u8>, Error> {
        self.writer.into_inner().map_err(|e| Error::internal(e.error()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn written(cells: &[Cell<'_>]) -> String {
        let mut out = CsvOut::default();
        out.row(cells).unwrap();
        String::from_utf8(out.into_bytes().unwrap()).unwrap()
    }

    fn read_back(text: &str) -> Vec<String> {
        let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
        r.records().next().unwrap().unwrap().iter().map(str::to_owned).collect()
    }

    #[test]
    fn a_text_cell_that_begins_with_a_formula_character_gets_a_quote_before_it() {
        for v in ["=1+2", "+SUM(1,1)", "-2+3", "@SUM(1)", "=HYPERLINK(\"http://x\",\"y\")", "\t=1", "\r=1"] {
            assert_eq!(read_back(&written(&[Cell::Text(v)])), [format!("'{v}")], "{v:?}");
        }
    }

    #[test]
    fn ordinary_cells_are_unchanged_and_quoted_only_when_needed() {
        let line = written(&[Cell::Text("李春梅"), Cell::Text("Smith, J"), Cell::Text("a\"b"), Cell::Text("")]);
        assert_eq!(line, "李春梅,\"Smith, J\",\"a\"\"b\",\r\n");
        assert_eq!(read_back(&line), ["李春梅", "Smith, J", "a\"b", ""]);
        // A formula character inside a cell is harmless and left alone; so is a leading quote.
        assert_eq!(read_back(&written(&[Cell::Text("1=2"), Cell::Text("'=x")])), ["1=2", "'=x"]);
    }

    #[test]
    fn numbers_stay_numbers_even_when_negative_but_a_number_cell_holding_text_is_neutralised() {
        let line = written(&[Cell::Number("-12.50"), Cell::Number("400.00"), Cell::Number("17"), Cell::Number("-3")]);
        assert_eq!(line, "-12.50,400.00,17,-3\r\n");
        for v in ["-2+3", "-", "-.5", "1.", "+1", "-1e5", "=1"] {
            assert_eq!(read_back(&written(&[Cell::Number(v)])), [neutralise(v).into_owned()], "{v:?}");
        }
        assert_eq!(read_back(&written(&[Cell::Number("-2+3")])), ["'-2+3"]);
        // The same text in a text column is neutralised: the column decides.
        assert_eq!(read_back(&written(&[Cell::Text("-12.50")])), ["'-12.50"]);
    }

    #[test]
    fn a_header_is_a_row_of_names() {
        let mut out = CsvOut::default();
        out.header(&["row_no", "worker_name"]).unwrap();
        assert_eq!(out.into_bytes().unwrap(), b"row_no,worker_name\r\n");
    }
}
