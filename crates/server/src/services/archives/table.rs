//! Exported tables: CSV (UTF-8 with BOM, formulas neutralised) or one xlsx sheet, and the file a
//! download answers with.

use chrono::{DateTime, Utc};
use cyltrace_domain::time::cst;

use super::{FileFormat, number_text};

/// One cell of an exported table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Number(f64),
}

impl Cell {
    pub(super) fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }

    pub(super) fn opt(s: Option<impl Into<String>>) -> Cell {
        Cell::Text(s.map(Into::into).unwrap_or_default())
    }
}

/// A spreadsheet-safe CSV cell: text a spreadsheet would take for a formula (`=`, `+`, `-`, `@`, tab,
/// CR) is prefixed with `'` (CSV injection).
pub fn csv_safe(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}").into()
    } else {
        s.into()
    }
}

/// An export being written: CSV (UTF-8 with BOM) or one xlsx sheet with a bold header row.
pub enum TableWriter {
    Csv(Box<csv::Writer<Vec<u8>>>),
    Xlsx {
        book: Box<rust_xlsxwriter::Workbook>,
        row: u32,
    },
}

impl TableWriter {
    pub fn new(format: FileFormat, sheet: &str, headers: &[&str]) -> Result<Self, String> {
        match format {
            FileFormat::Csv => {
                let mut w = csv::WriterBuilder::new()
                    .terminator(csv::Terminator::CRLF)
                    .from_writer(b"\xEF\xBB\xBF".to_vec());
                w.write_record(headers).map_err(|e| e.to_string())?;
                Ok(TableWriter::Csv(Box::new(w)))
            }
            FileFormat::Xlsx => {
                let mut book = rust_xlsxwriter::Workbook::new();
                let bold = rust_xlsxwriter::Format::new().set_bold();
                // Rows go to a temporary file as they are written: a sheet of 100,000 archives
                // costs no more memory than one of ten.
                let ws = book
                    .add_worksheet_with_constant_memory()
                    .map_err(|e| e.to_string())?;
                ws.set_name(sheet).map_err(|e| e.to_string())?;
                for (i, h) in headers.iter().enumerate() {
                    ws.write_string_with_format(0, i as u16, *h, &bold)
                        .map_err(|e| e.to_string())?;
                    let width = (h.chars().count() as f64 * 2.2).clamp(10.0, 40.0);
                    ws.set_column_width(i as u16, width)
                        .map_err(|e| e.to_string())?;
                }
                ws.set_freeze_panes(1, 0).map_err(|e| e.to_string())?;
                Ok(TableWriter::Xlsx {
                    book: Box::new(book),
                    row: 1,
                })
            }
        }
    }

    pub fn row(&mut self, cells: &[Cell]) -> Result<(), String> {
        match self {
            TableWriter::Csv(w) => {
                for c in cells {
                    match c {
                        Cell::Text(s) => w.write_field(csv_safe(s).as_bytes()),
                        Cell::Number(n) => w.write_field(number_text(*n)),
                    }
                    .map_err(|e| e.to_string())?;
                }
                w.write_record(None::<&[u8]>).map_err(|e| e.to_string())
            }
            TableWriter::Xlsx { book, row } => {
                let ws = book.worksheet_from_index(0).map_err(|e| e.to_string())?;
                for (i, c) in cells.iter().enumerate() {
                    match c {
                        Cell::Text(s) if s.is_empty() => continue,
                        Cell::Text(s) => ws.write_string(*row, i as u16, s),
                        Cell::Number(n) => ws.write_number(*row, i as u16, *n),
                    }
                    .map_err(|e| e.to_string())?;
                }
                *row += 1;
                Ok(())
            }
        }
    }

    /// [`TableWriter::finish`] on a blocking thread (zipping a large workbook is CPU work).
    pub async fn finish_blocking(self) -> Result<Vec<u8>, String> {
        tokio::task::spawn_blocking(move || self.finish())
            .await
            .map_err(|e| format!("export task: {e}"))?
    }

    pub fn finish(self) -> Result<Vec<u8>, String> {
        match self {
            TableWriter::Csv(w) => w.into_inner().map_err(|e| e.to_string()),
            TableWriter::Xlsx { mut book, .. } => book.save_to_buffer().map_err(|e| e.to_string()),
        }
    }
}

/// An exported file: bytes, content type and a file name.
pub struct Download {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    pub filename: String,
}

impl Download {
    pub(super) fn table(
        format: FileFormat,
        stem: &str,
        bytes: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Download {
        let day = now.with_timezone(&cst()).format("%Y%m%d");
        Download {
            bytes,
            content_type: content_type(format),
            filename: format!("{stem}-{day}.{}", format.as_str()),
        }
    }
}

pub fn content_type(format: FileFormat) -> &'static str {
    match format {
        FileFormat::Csv => "text/csv; charset=utf-8",
        FileFormat::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }
}
