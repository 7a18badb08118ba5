//! Reading the rows of an import file (CSV or xlsx) as text cells, handing them to a [`Rows`] sink
//! one by one; what the cells mean is the domain's `import::Importer`'s.
//!
//! Pure (no IO, no store, nothing of this crate but `super::bounds`): `fuzz/` compiles this very
//! file into its `import_csv` and `import_xlsx` targets, so keep it free of other `crate::` paths.

use super::bounds::MAX_COLUMNS;

/// The sheet an `.xlsx` template and export hold the archives in.
pub const SHEET: &str = "气瓶档案";

/// Where the rows of a file go.
pub trait Rows {
    /// How many rows (after the header) the file says it has, for progress.
    fn total(&mut self, n: usize);
    /// Takes the next row (numbered as a spreadsheet shows it; the header is row 1); false to stop
    /// reading.
    fn push(&mut self, row: usize, cells: Vec<String>) -> bool;
}

fn csv_reader(text: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text)
}

/// CSV rows are numbered by record (the header is row 1), as a spreadsheet shows them.
pub fn read_csv(bytes: &[u8], c: &mut dyn Rows) -> Result<(), String> {
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // A first pass counts the rows, so that progress has a total.
    let mut record = csv::ByteRecord::new();
    let mut counter = csv_reader(text);
    let mut n = 0usize;
    while counter.read_byte_record(&mut record).unwrap_or(false) {
        n += 1;
    }
    c.total(n.saturating_sub(1));
    let mut reader = csv_reader(text);
    let mut record = csv::StringRecord::new();
    let mut row = 0usize;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                row += 1;
                if !c.push(row, record.iter().map(str::to_owned).collect()) {
                    return Ok(());
                }
            }
            Err(e) => {
                return Err(format!("CSV 格式错误（第 {} 行附近）：{e}", row + 1));
            }
        }
    }
}

/// Reads the sheet 气瓶档案 (or the first sheet), streaming its cells row by row.
pub fn read_xlsx(bytes: &[u8], c: &mut dyn Rows) -> Result<(), String> {
    use calamine::Reader;
    let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes))
        .map_err(|e| format!("无法读取 Excel 工作簿（.xlsx）：{e}"))?;
    let names = book.sheet_names();
    let sheet = names
        .iter()
        .find(|n| n.as_str() == SHEET)
        .or_else(|| names.iter().find(|n| n.as_str() != "说明"))
        .or_else(|| names.first())
        .cloned()
        .ok_or_else(|| "Excel 工作簿中没有工作表".to_owned())?;
    let mut cells = book
        .worksheet_cells_reader(&sheet)
        .map_err(|e| format!("无法读取工作表“{sheet}”：{e}"))?;
    let dim = cells.dimensions();
    c.total(dim.end.0.saturating_sub(dim.start.0) as usize);
    let mut current: Option<(u32, Vec<String>)> = None;
    loop {
        let cell = cells
            .next_cell()
            .map_err(|e| format!("工作表“{sheet}”格式错误：{e}"))?;
        let Some(cell) = cell else { break };
        let (r, col) = cell.get_position();
        let text = cell_text(cell.get_value());
        if current.as_ref().is_some_and(|(cr, _)| *cr != r) {
            let (cr, row) = current.take().expect("checked");
            if !c.push(cr as usize + 1, row) {
                return Ok(());
            }
        }
        let (_, row) = current.get_or_insert_with(|| (r, Vec::new()));
        let col = col as usize;
        if text.is_empty() {
            continue;
        }
        if col >= MAX_COLUMNS {
            return Err(format!(
                "工作表“{sheet}”第 {} 行第 {} 列有内容，超过 {MAX_COLUMNS} 列上限",
                r + 1,
                col + 1
            ));
        }
        if row.len() <= col {
            row.resize(col + 1, String::new());
        }
        row[col] = text;
    }
    if let Some((cr, row)) = current {
        c.push(cr as usize + 1, row);
    }
    Ok(())
}

/// A cell as the text the template expects: whole numbers without `.0`, dates as `YYYY-MM-DD`.
fn cell_text(v: &calamine::DataRef) -> String {
    use calamine::DataRef as D;
    match v {
        D::Empty => String::new(),
        D::String(s) | D::DateTimeIso(s) | D::DurationIso(s) => s.clone(),
        D::SharedString(s) => (*s).to_owned(),
        D::Int(i) => i.to_string(),
        D::Float(f) => number_text(*f),
        D::Bool(b) => b.to_string(),
        D::DateTime(d) if d.is_datetime() => {
            let (y, m, day, h, min, s, _) = d.to_ymd_hms_milli();
            if (h, min, s) == (0, 0, 0) {
                format!("{y:04}-{m:02}-{day:02}")
            } else {
                format!("{y:04}-{m:02}-{day:02} {h:02}:{min:02}:{s:02}")
            }
        }
        D::DateTime(d) => number_text(d.as_f64()),
        D::Error(e) => format!("#{e:?}"),
    }
}

/// A number as the template writes it: whole numbers without `.0`.
pub fn number_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        f.to_string()
    }
}
