//! The import template (CSV, or xlsx with a 说明 sheet describing each column).

use cyltrace_domain::import::{self as imp, COLUMNS, CellKind};

use cyltrace_domain::access::Action;

use super::{Cell, Download, FileFormat, SHEET, TableWriter, content_type};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};

/// The import template: the header row and an example row; the xlsx has a second sheet 说明 that
/// describes each column.
pub fn template(format: FileFormat) -> Result<Vec<u8>, String> {
    let headers = imp::template_headers();
    match format {
        FileFormat::Csv => {
            let mut w = TableWriter::new(format, SHEET, &headers)?;
            w.row(
                &imp::template_example()
                    .into_iter()
                    .map(Cell::text)
                    .collect::<Vec<_>>(),
            )?;
            w.finish()
        }
        FileFormat::Xlsx => {
            use rust_xlsxwriter::{Color, Format, Workbook};
            let xe = |e: rust_xlsxwriter::XlsxError| e.to_string();
            let mut book = Workbook::new();
            let bold = Format::new().set_bold();
            let required = Format::new().set_bold().set_font_color(Color::Red);
            // Text cells, so that Excel keeps codes' leading zeros and dates as written.
            let text = Format::new().set_num_format("@");
            let ws = book.add_worksheet();
            ws.set_name(SHEET).map_err(xe)?;
            for (i, c) in COLUMNS.iter().enumerate() {
                let col = i as u16;
                let f = if c.required { &required } else { &bold };
                ws.write_string_with_format(0, col, c.header, f)
                    .map_err(xe)?;
                let width = (c.header.chars().count() as f64 * 2.2).clamp(12.0, 30.0);
                ws.set_column_width(col, width).map_err(xe)?;
                if !matches!(
                    c.kind,
                    CellKind::Number | CellKind::Integer | CellKind::Valve
                ) {
                    ws.set_column_format(col, &text).map_err(xe)?;
                }
                match c.kind {
                    CellKind::Number | CellKind::Integer | CellKind::Valve
                        if !c.example.is_empty() =>
                    {
                        let n: f64 = c.example.parse().unwrap_or_default();
                        ws.write_number(1, col, n).map_err(xe)?;
                    }
                    _ if c.example.is_empty() => {}
                    _ => {
                        ws.write_string_with_format(1, col, c.example, &text)
                            .map_err(xe)?;
                    }
                }
            }
            ws.set_freeze_panes(1, 0).map_err(xe)?;
            let notes = book.add_worksheet();
            notes.set_name("说明").map_err(xe)?;
            for (i, h) in ["列名", "字段", "是否必填", "示例", "说明"]
                .iter()
                .enumerate()
            {
                notes
                    .write_string_with_format(0, i as u16, *h, &bold)
                    .map_err(xe)?;
            }
            for (i, c) in COLUMNS.iter().enumerate() {
                let r = i as u32 + 1;
                notes.write_string(r, 0, c.header).map_err(xe)?;
                notes.write_string(r, 1, c.key).map_err(xe)?;
                notes
                    .write_string(r, 2, if c.required { "必填" } else { "选填" })
                    .map_err(xe)?;
                notes.write_string(r, 3, c.example).map_err(xe)?;
                notes.write_string(r, 4, c.note).map_err(xe)?;
            }
            let last = COLUMNS.len() as u32 + 2;
            notes
                .write_string(
                    last,
                    0,
                    "第 1 行为列名（可用中文列名或字段名），第 2 行起每行一个气瓶档案；任何一行有误则整个文件不导入，错误会指明行号、列名和原因。",
                )
                .map_err(xe)?;
            for (col, w) in [(0u16, 20.0), (1, 24.0), (2, 10.0), (3, 26.0), (4, 60.0)] {
                notes.set_column_width(col, w).map_err(xe)?;
            }
            book.save_to_buffer().map_err(xe)
        }
    }
}

/// `GET /cylinders/import-template`: the template as a download (built on a blocking thread).
pub async fn template_download(p: &Principal, format: FileFormat) -> ApiResult<Download> {
    p.require(Action::Read)?;
    let bytes = tokio::task::spawn_blocking(move || template(format))
        .await
        .map_err(|e| ApiError::Internal(format!("template task: {e}")))?
        .map_err(ApiError::Internal)?;
    Ok(Download {
        bytes,
        content_type: content_type(format),
        filename: format!("cylinder-import-template.{}", format.as_str()),
    })
}
