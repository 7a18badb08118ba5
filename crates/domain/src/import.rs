//! Bulk archive import and export (A6): the columns of the platform's template, and turning the rows
//! of a CSV or Excel file into validated [`Archive`]s.
//!
//! Pure: the caller reads the file (CSV text or an `.xlsx` workbook) into header and cell strings; this
//! module maps headers to archive fields, converts each cell to the JSON type of its field, parses the
//! row with [`from_value`] and checks it with [`Archive::validate`] — the very rules of
//! `POST /api/v1/cylinders` — and reports every bad cell with its row number (the header is row 1),
//! its column (the Chinese header) and a Chinese reason. Duplicate codes inside a file are reported
//! with the rows involved.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::archive::{Archive, CylinderState};
use crate::codes::{CylinderCode, truncate};
use crate::filling::{canonical_medium, known_media};
use crate::parse::from_value;

/// How a cell is converted to the JSON value of its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    /// A string, as written (trimmed).
    Text,
    /// A decimal number.
    Number,
    /// A whole number (years).
    Integer,
    /// A day: `YYYY-MM-DD` (also `YYYY/M/D`, `YYYY.M.D`, `YYYYMMDD`).
    Date,
    /// A month or a day: `YYYY-MM` or `YYYY-MM-DD` (same alternatives).
    MonthOrDate,
    /// Valve type: 1, 2, 3 or its Chinese name.
    Valve,
    /// Archive state: `normal` / `locked` / `scrapped`, 正常 / 锁定 / 报废, or the Yunnan 0 / 1 / 2.
    State,
    /// A medium the platform knows (stored under its canonical name).
    Medium,
    /// An organisation id (UUID).
    OrgId,
    /// Recognised (an export's status column, the Yunnan `Id`) and ignored on import.
    Ignored,
}

/// One column of the template.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Column {
    /// The archive's JSON field (`registration.number` for the nested registration).
    pub key: &'static str,
    /// The Chinese header of the template.
    pub header: &'static str,
    /// A value must be given in every row (and so the column must be present).
    pub required: bool,
    /// The example row of the template.
    pub example: &'static str,
    /// What the column holds (the template's 说明 sheet).
    pub note: &'static str,
    /// The Yunnan `GenericBottle` name, also accepted as a header.
    #[serde(skip)]
    pub yunnan: Option<&'static str>,
    #[serde(skip)]
    pub kind: CellKind,
}

const fn col(
    key: &'static str,
    header: &'static str,
    required: bool,
    example: &'static str,
    note: &'static str,
    yunnan: Option<&'static str>,
    kind: CellKind,
) -> Column {
    Column {
        key,
        header,
        required,
        example,
        note,
        yunnan,
        kind,
    }
}

use CellKind as K;

/// The columns of the import template, in template order. Every archive field of the v1 contract is
/// one column; the registration is three.
#[rustfmt::skip]
pub const COLUMNS: &[Column] = &[
    col("code", "气瓶编码", true, "1103007831", "气瓶唯一性瓶号（标签号），10 位数字，不可重复", Some("Barcode"), K::Text),
    col("region_code", "行政区划代码", false, "530102", "6 位 GB/T 2260 代码；不填则取产权单位的区划", None, K::Text),
    col("factory_serial", "出厂编号", false, "1260419", "出厂编号", Some("Printno"), K::Text),
    col("inner_no", "单位内编号", false, "XY60235", "产权单位内部编号", Some("InnerNo"), K::Text),
    col("style", "规格型号", false, "YSP35.5", "规格型号", Some("Style"), K::Text),
    col("valve", "阀门类型", false, "1", "1 角阀液相，2 角阀气相，3 直阀气相（填数字或名称）", Some("Valve"), K::Valve),
    col("medium", "充装介质", false, "液化石油气", "平台支持的介质：液化石油气（LPG）、二甲醚等", Some("Medium"), K::Medium),
    col("tare_kg", "皮重(kg)", false, "16.5", "气瓶质量，千克", Some("IdleWeight"), K::Number),
    col("fill_limit_kg", "允许充装量(kg)", false, "14.5", "允许充装量，千克", Some("FillWeight"), K::Number),
    col("volume_l", "公称容积(L)", false, "35.5", "公称容积，升", Some("Volumn"), K::Number),
    col("working_pressure_mpa", "公称工作压力(MPa)", false, "2.1", "公称工作压力，兆帕", Some("NominalPressure"), K::Number),
    col("test_pressure_mpa", "水压试验压力(MPa)", false, "3.2", "水压试验压力，兆帕，不低于公称工作压力", Some("WaterPressure"), K::Number),
    col("wall_thickness_mm", "设计壁厚(mm)", false, "2.5", "设计壁厚，毫米", Some("Thickness"), K::Number),
    col("life_years", "设计使用年限(年)", false, "8", "1–50 的整数", Some("LifePeriod"), K::Integer),
    col("check_period_years", "检验周期(年)", false, "4", "1–20 的整数", Some("CheckPeriod"), K::Integer),
    col("manufacturer", "制造单位", false, "江苏特种设备生产有限公司", "制造单位名称", Some("Factory"), K::Text),
    col("manufacture_date", "制造年月", false, "2022-09", "YYYY-MM 或 YYYY-MM-DD", Some("ProductDate"), K::MonthOrDate),
    col("product_standard", "产品标准", false, "GB 5842-2006", "产品标准编号", None, K::Text),
    col("manufacture_licence", "制造许可证编号", false, "TS2210100-2027", "制造许可证编号", None, K::Text),
    col("designer", "设计单位", false, "江苏特种设备设计有限公司", "设计单位名称", Some("Designer"), K::Text),
    col("supervision_org", "监督检验单位", false, "江苏特种设备监督检验公司", "监督检验单位名称", Some("Supervise"), K::Text),
    col("check_org", "检验单位", false, "昆明市特种设备检测站", "最近一次定期检验的单位", Some("Check"), K::Text),
    col("last_check_date", "检验日期", false, "2022-09-01", "最近一次检验日期，YYYY-MM-DD", Some("CheckDate"), K::Date),
    col("next_check_date", "下次检验日期", false, "2026-09-01", "YYYY-MM-DD，晚于检验日期", Some("NextDate"), K::Date),
    col("discard_date", "报废日期", false, "2030-09-01", "YYYY-MM-DD；不填则按制造年月加设计使用年限", Some("DiscardDate"), K::Date),
    col("owner_org_id", "产权单位ID", false, "", "平台中产权单位的机构 ID；不填则为导入时选定的单位", None, K::OrgId),
    col("registration.number", "使用登记证编号", false, "553001000001", "使用登记证编号；登记三项须同时填写或同时留空", Some("RegisterNo"), K::Text),
    col("registration.date", "登记日期", false, "2022-10-01", "YYYY-MM-DD", Some("RegisterDate"), K::Date),
    col("registration.authority", "登记机构", false, "昆明市市场监督管理局", "使用登记机关", Some("Office"), K::Text),
    col("state", "档案状态", false, "正常", "正常、锁定或报废（也可填 normal / locked / scrapped）；不填为正常", Some("State"), K::State),
];

/// Status columns that exports add after the template's columns; an import recognises and ignores
/// them, so that an export can be imported elsewhere.
#[rustfmt::skip]
pub const STATUS_COLUMNS: &[Column] = &[
    col("status.location_kind", "当前位置", false, "", "导出时的流转位置（导入时忽略）", None, K::Ignored),
    col("status.next_check_date", "当前下次检验日期", false, "", "计入检验记录后的下次检验日期（导入时忽略）", None, K::Ignored),
    col("status.label", "标签状态", false, "", "有效或作废（导入时忽略）", None, K::Ignored),
    col("status.last_fill_at", "最近充装时间", false, "", "导出时的最近充装时间（导入时忽略）", None, K::Ignored),
    col("id", "档案ID", false, "", "平台档案序号（导入时忽略）", Some("Id"), K::Ignored),
];

/// One refused cell, row or header: the file's row number (the header is row 1), the column's Chinese
/// header (empty for a whole row) and the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub row: usize,
    pub column: String,
    pub message: String,
}

impl RowError {
    pub fn new(row: usize, column: impl Into<String>, message: impl Into<String>) -> Self {
        RowError {
            row,
            column: column.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.column.is_empty() {
            write!(f, "第 {} 行: {}", self.row, self.message)
        } else {
            write!(
                f,
                "第 {} 行「{}」列: {}",
                self.row, self.column, self.message
            )
        }
    }
}

/// Headers compare without white space, case, full-width brackets or a unit in brackets:
/// `皮重（kg）`, `皮重(KG)`, `皮重` and ` 皮重 (kg)` are the same column.
fn norm(h: &str) -> String {
    let s: String = h
        .trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '（' => '(',
            '）' => ')',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    match s.find('(') {
        Some(i) if i > 0 && s.ends_with(')') => s[..i].to_owned(),
        _ => s,
    }
}

/// The column a header names (its Chinese header, its key, or its Yunnan name).
pub fn find_column(header: &str) -> Option<&'static Column> {
    let h = norm(header);
    if h.is_empty() {
        return None;
    }
    COLUMNS.iter().chain(STATUS_COLUMNS).find(|c| {
        norm(c.header) == h
            || c.key.eq_ignore_ascii_case(&h)
            || c.yunnan.is_some_and(|y| norm(y) == h)
    })
}

/// The template's header row.
pub fn template_headers() -> Vec<&'static str> {
    COLUMNS.iter().map(|c| c.header).collect()
}

/// The template's example row.
pub fn template_example() -> Vec<&'static str> {
    COLUMNS.iter().map(|c| c.example).collect()
}

/// The header row of an archive export: the template's columns, then the status columns.
pub fn export_headers() -> Vec<&'static str> {
    COLUMNS
        .iter()
        .chain(STATUS_COLUMNS)
        .map(|c| c.header)
        .collect()
}

/// An archive as the template's cells (in [`COLUMNS`] order): what an import of those cells gives back.
pub fn archive_cells(a: &Archive) -> Vec<String> {
    let v = serde_json::to_value(a).unwrap_or(Value::Null);
    COLUMNS
        .iter()
        .map(|c| {
            let cell = match c.key.split_once('.') {
                Some((outer, inner)) => &v[outer][inner],
                None => &v[c.key],
            };
            match (c.kind, cell) {
                (K::State, _) => state_zh(a.state).to_owned(),
                (_, Value::String(s)) => s.clone(),
                (_, Value::Number(n)) => n.to_string(),
                _ => String::new(),
            }
        })
        .collect()
}

/// The Chinese name of an archive state.
pub fn state_zh(s: CylinderState) -> &'static str {
    match s {
        CylinderState::Normal => "正常",
        CylinderState::Locked => "锁定",
        CylinderState::Scrapped => "报废",
    }
}

/// Reads the rows of one file. Feed it the header row ([`Importer::new`]), then each data row
/// ([`Importer::row`]), then ask [`Importer::finish`] for the duplicate codes.
#[derive(Debug)]
pub struct Importer {
    /// For each column of the file: the template column it is, or `None` (no header: must stay empty).
    slots: Vec<Option<&'static Column>>,
    /// Each code's rows, in file order.
    codes: HashMap<CylinderCode, Vec<usize>>,
    /// Today on the China calendar, for the plausible-value rules that need it (nothing made or
    /// checked in the future); unset: those rules are not applied.
    today: Option<chrono::NaiveDate>,
    /// Every row must have a cell for each column of the header (CSV, where a short row is a
    /// broken row; a spreadsheet leaves trailing empty cells out).
    complete_rows: bool,
}

impl Importer {
    /// Maps the header row (row 1). Unknown, repeated or missing required columns are refused: one
    /// error per column, each naming it.
    pub fn new(headers: &[String]) -> Result<Importer, Vec<RowError>> {
        let mut errs = Vec::new();
        let mut slots = Vec::with_capacity(headers.len());
        let mut seen: HashMap<&'static str, usize> = HashMap::new();
        for (i, h) in headers.iter().enumerate() {
            let shown = h.trim_start_matches('\u{feff}').trim();
            if shown.is_empty() {
                slots.push(None);
                continue;
            }
            match find_column(shown) {
                Some(c) => {
                    if let Some(first) = seen.insert(c.key, i) {
                        errs.push(RowError::new(
                            1,
                            c.header,
                            format!(
                                "列重复：第 {} 列与第 {} 列都是“{}”",
                                first + 1,
                                i + 1,
                                c.header
                            ),
                        ));
                    }
                    slots.push(Some(c));
                }
                None => {
                    errs.push(RowError::new(
                        1,
                        truncate(shown),
                        format!(
                            "未知的列“{}”（第 {} 列），请使用平台导入模板中的列名",
                            truncate(shown),
                            i + 1
                        ),
                    ));
                    slots.push(None);
                }
            }
        }
        for c in COLUMNS.iter().filter(|c| c.required) {
            if !seen.contains_key(c.key) {
                errs.push(RowError::new(
                    1,
                    c.header,
                    format!("缺少必填列“{}”", c.header),
                ));
            }
        }
        if errs.is_empty() {
            Ok(Importer {
                slots,
                codes: HashMap::new(),
                today: None,
                complete_rows: false,
            })
        } else {
            Err(errs)
        }
    }

    /// Checks rows against the plausible-value rules that need today (China calendar).
    pub fn on(mut self, today: chrono::NaiveDate) -> Self {
        self.today = Some(today);
        self
    }

    /// Refuses a row with fewer cells than the header has columns (a CSV row cut short), naming
    /// the first missing column.
    pub fn complete_rows(mut self) -> Self {
        self.complete_rows = true;
        self
    }

    /// Parses one data row: `Ok(None)` for a blank row (skipped), the archive, or every bad cell of
    /// the row. `row` is the file's row number.
    pub fn row(&mut self, row: usize, cells: &[String]) -> Result<Option<Archive>, Vec<RowError>> {
        if cells.iter().all(|c| c.trim().is_empty()) {
            return Ok(None);
        }
        if self.complete_rows && cells.len() < self.slots.len() {
            let missing = self.slots[cells.len()..].iter().flatten().next();
            let column = missing.map_or_else(
                || format!("第 {} 列", cells.len() + 1),
                |c| c.header.to_owned(),
            );
            let message = format!(
                "该行只有 {} 列，表头有 {} 列：从“{column}”起的 {} 列缺失（空值也须保留分隔符），整行未导入",
                cells.len(),
                self.slots.len(),
                self.slots.len() - cells.len()
            );
            return Err(vec![RowError::new(row, column, message)]);
        }
        let mut errs = Vec::new();
        let mut obj = Map::new();
        let mut registration = Map::new();
        for (i, cell) in cells.iter().enumerate() {
            let t = cell.trim();
            // An export's formula guard (`'=…`) comes off again.
            let t = match t.strip_prefix('\'') {
                Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest,
                _ => t,
            };
            if t.is_empty() {
                continue;
            }
            let Some(Some(c)) = self.slots.get(i) else {
                errs.push(RowError::new(
                    row,
                    format!("第 {} 列", i + 1),
                    "该列没有列名，但填写了内容",
                ));
                continue;
            };
            match convert(c.kind, t) {
                Ok(None) => {}
                Ok(Some(v)) => match c.key.strip_prefix("registration.") {
                    Some(inner) => {
                        registration.insert(inner.to_owned(), v);
                    }
                    None => {
                        obj.insert(c.key.to_owned(), v);
                    }
                },
                Err(m) => errs.push(RowError::new(row, c.header, m)),
            }
        }
        if !registration.is_empty() {
            obj.insert("registration".to_owned(), Value::Object(registration));
        }
        match obj.get("code").and_then(Value::as_str) {
            Some(s) => {
                if let Ok(code) = CylinderCode::parse(s) {
                    self.codes.entry(code).or_default().push(row);
                }
            }
            None => {
                if !errs.iter().any(|e| e.column == "气瓶编码") {
                    errs.push(RowError::new(row, "气瓶编码", "气瓶编码为必填项"));
                }
                // A stand-in, so that the row's other cells are still checked.
                obj.insert("code".to_owned(), Value::from("0000000000"));
            }
        }
        // Parse; on a bad field, name it, drop it and parse again, so that every bad cell is named.
        let mut value = Value::Object(obj);
        for _ in 0..=COLUMNS.len() {
            match from_value::<Archive>(&value, "") {
                Ok(a) => {
                    let checked = match self.today {
                        Some(today) => a.validate_on(today),
                        None => a.validate(),
                    };
                    if let Err(v) = checked {
                        for e in v.0 {
                            errs.push(RowError::new(row, header_of(&e.field), e.message));
                        }
                    }
                    return if errs.is_empty() {
                        Ok(Some(a))
                    } else {
                        Err(sorted(errs))
                    };
                }
                Err(v) => {
                    let Some(e) = v.0.into_iter().next() else {
                        break;
                    };
                    errs.push(RowError::new(row, header_of(&e.field), e.message));
                    if !remove_path(&mut value, &e.field) {
                        break;
                    }
                }
            }
        }
        if errs.is_empty() {
            errs.push(RowError::new(row, "", "无法解析该行"));
        }
        Err(sorted(errs))
    }

    /// Codes given on more than one row: one error on each such row, naming the other rows.
    pub fn finish(self) -> Vec<RowError> {
        let mut errs = Vec::new();
        for (code, rows) in self.codes {
            if rows.len() < 2 {
                continue;
            }
            let first = rows[0];
            let others: Vec<String> = rows[1..].iter().map(|r| r.to_string()).collect();
            errs.push(RowError::new(
                first,
                "气瓶编码",
                format!(
                    "气瓶编码 {code} 在文件中重复出现（第 {} 行）",
                    others.join("、")
                ),
            ));
            for r in &rows[1..] {
                errs.push(RowError::new(
                    *r,
                    "气瓶编码",
                    format!("气瓶编码 {code} 与第 {first} 行重复"),
                ));
            }
        }
        errs.sort_by_key(|e| e.row);
        errs
    }
}

/// Parses a whole file: the archives, or every error (header errors alone when the header is bad),
/// ordered by row. Rows are numbered as in the file (header = 1).
pub fn parse_rows(
    headers: &[String],
    rows: impl Iterator<Item = (usize, Vec<String>)>,
) -> Result<Vec<Archive>, Vec<RowError>> {
    let mut imp = Importer::new(headers)?;
    let mut out = Vec::new();
    let mut errs = Vec::new();
    for (n, cells) in rows {
        match imp.row(n, &cells) {
            Ok(Some(a)) => out.push(a),
            Ok(None) => {}
            Err(mut e) => errs.append(&mut e),
        }
    }
    errs.extend(imp.finish());
    if errs.is_empty() {
        Ok(out)
    } else {
        errs.sort_by_key(|e| e.row);
        Err(errs)
    }
}

/// A row's errors in template column order.
fn sorted(mut errs: Vec<RowError>) -> Vec<RowError> {
    errs.sort_by_key(|e| {
        COLUMNS
            .iter()
            .position(|c| c.header == e.column)
            .unwrap_or(COLUMNS.len())
    });
    errs
}

/// The Chinese header of an archive field path (`registration.date` → 登记日期); the path itself when
/// it is no column, empty for the whole row.
fn header_of(field: &str) -> String {
    if field.is_empty() {
        return String::new();
    }
    COLUMNS
        .iter()
        .find(|c| c.key == field)
        .or_else(|| {
            // `registration` itself (e.g. given incompletely): its first column.
            COLUMNS
                .iter()
                .find(|c| c.key.starts_with(&format!("{field}.")))
        })
        .map_or_else(|| field.to_owned(), |c| c.header.to_owned())
}

/// Removes the field at `path` (`tare_kg`, `registration.date`); false when there is none.
fn remove_path(v: &mut Value, path: &str) -> bool {
    let Some(obj) = v.as_object_mut() else {
        return false;
    };
    match path.split_once('.') {
        None => obj.remove(path).is_some(),
        Some((outer, inner)) => {
            let removed = obj
                .get_mut(outer)
                .and_then(Value::as_object_mut)
                .is_some_and(|m| m.remove(inner).is_some());
            // A nested object that cannot be repaired (a missing part) goes as a whole.
            removed || obj.remove(outer).is_some()
        }
    }
}

/// One cell as the JSON value of its field; `None` for an ignored column.
fn convert(kind: CellKind, t: &str) -> Result<Option<Value>, String> {
    let v = match kind {
        K::Ignored => return Ok(None),
        K::Text => Value::String(t.to_owned()),
        K::Number => {
            let n: f64 = t
                .parse()
                .ok()
                .filter(|n: &f64| n.is_finite())
                .ok_or_else(|| format!("应为数字，收到“{}”", truncate(t)))?;
            serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
        }
        K::Integer => {
            let n = integer(t).ok_or_else(|| format!("应为整数，收到“{}”", truncate(t)))?;
            if n > 255 {
                return Err(format!("数值过大（收到 {n}）"));
            }
            Value::from(n)
        }
        K::Date => Value::String(date(t, false)),
        K::MonthOrDate => Value::String(date(t, true)),
        K::Valve => {
            let n = match t {
                "角阀液相" => Some(1),
                "角阀气相" => Some(2),
                "直阀气相" => Some(3),
                _ => integer(t),
            };
            match n {
                Some(n @ 1..=3) => Value::from(n),
                _ => {
                    return Err(format!(
                        "阀门类型应为 1（角阀液相）、2（角阀气相）或 3（直阀气相），收到“{}”",
                        truncate(t)
                    ));
                }
            }
        }
        K::State => {
            let s = match t.to_ascii_lowercase().as_str() {
                "正常" | "normal" | "0" => "normal",
                "锁定" | "locked" | "1" => "locked",
                "报废" | "scrapped" | "2" => "scrapped",
                _ => {
                    return Err(format!(
                        "档案状态应为 正常、锁定 或 报废，收到“{}”",
                        truncate(t)
                    ));
                }
            };
            Value::String(s.to_owned())
        }
        K::OrgId => match uuid::Uuid::parse_str(t) {
            Ok(id) => Value::String(id.to_string()),
            Err(_) => return Err(format!("应为机构 ID（UUID），收到“{}”", truncate(t))),
        },
        K::Medium => match canonical_medium(t) {
            Some(m) => Value::String(m.to_owned()),
            None => {
                return Err(format!(
                    "平台不支持的充装介质“{}”，可填：{}",
                    truncate(t),
                    known_media().join("、")
                ));
            }
        },
    };
    Ok(Some(v))
}

/// A whole number, also written `4.0` (as spreadsheets store numbers).
fn integer(t: &str) -> Option<u64> {
    let t = t.strip_suffix(".0").unwrap_or(t);
    t.parse().ok()
}

/// A date in the contract's form when it is written in a common other one (`2024/4/1`, `2024.04.01`,
/// `20240401`, the Yunnan `20240401000000`); anything else is passed on as written, for the date
/// parser to refuse with its own message.
fn date(t: &str, month_ok: bool) -> String {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if digits(t) && (t.len() == 8 || t.len() == 14 || (month_ok && t.len() == 6)) {
        let (y, rest) = t.split_at(4);
        return if t.len() == 6 {
            format!("{y}-{rest}")
        } else {
            format!("{y}-{}-{}", &rest[..2], &rest[2..4])
        };
    }
    // A spreadsheet date-time at midnight.
    let t = t
        .strip_suffix(" 00:00:00")
        .or_else(|| t.strip_suffix("T00:00:00"))
        .unwrap_or(t);
    let parts: Vec<&str> = t.split(['-', '/', '.']).collect();
    let ok = parts.iter().all(|p| digits(p)) && parts[0].len() == 4;
    match parts.as_slice() {
        [y, m, d] if ok && m.len() <= 2 && d.len() <= 2 => format!("{y}-{m:0>2}-{d:0>2}"),
        [y, m] if ok && month_ok && m.len() <= 2 => format!("{y}-{m:0>2}"),
        _ => t.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    fn rows(v: &[&[&str]]) -> impl Iterator<Item = (usize, Vec<String>)> {
        v.iter()
            .enumerate()
            .map(|(i, r)| (i + 2, s(r)))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn the_template_example_imports() {
        // A6: the template's own example row is a valid archive, and exporting it gives the same cells.
        let headers = s(&template_headers());
        let example = s(&template_example());
        let got = parse_rows(&headers, rows(&[&template_example()])).unwrap();
        assert_eq!(got.len(), 1);
        let a = &got[0];
        assert_eq!(a.code.as_str(), "1103007831");
        assert_eq!(
            a.registration.as_ref().unwrap().authority.as_str(),
            "昆明市市场监督管理局"
        );
        assert_eq!(a.valve, Some(crate::Valve::AngleLiquid));
        assert_eq!(archive_cells(a), example);
        assert_eq!(COLUMNS.len(), template_headers().len());
    }

    // A6 (issue 22, defect 6): a CSV row cut short is refused, naming the row and the first missing
    // column; nonsense values and future dates are refused as the API refuses them.
    #[test]
    fn short_rows_and_implausible_values_are_refused() {
        let headers = s(&template_headers());
        let mut imp = Importer::new(&headers).unwrap().complete_rows();
        let example = template_example();
        let e = imp.row(2, &s(&example[..7])).unwrap_err();
        assert_eq!((e[0].row, e[0].column.as_str()), (2, "皮重(kg)"), "{e:?}");
        assert!(e[0].message.contains("只有 7 列"), "{e:?}");
        assert!(imp.row(3, &s(&example)).unwrap().is_some());
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        let mut imp = Importer::new(&headers).unwrap().on(today);
        for (key, value) in [
            ("tare_kg", "0"),
            ("tare_kg", "5e-324"),
            ("volume_l", "0"),
            ("wall_thickness_mm", "0"),
            ("working_pressure_mpa", "0"),
            ("next_check_date", "9999-12-31"),
            ("manufacture_date", "2027-01"),
        ] {
            let mut cells = s(&example);
            let i = COLUMNS.iter().position(|c| c.key == key).unwrap();
            cells[i] = value.to_owned();
            let e = imp.row(2, &cells).unwrap_err();
            assert!(
                e.iter().any(|e| e.column == COLUMNS[i].header),
                "{key}={value}: {e:?}"
            );
        }
    }

    #[test]
    fn headers_match_by_chinese_name_key_or_yunnan_name() {
        for h in [
            "皮重(kg)",
            "皮重（KG）",
            " 皮重 ",
            "tare_kg",
            "IdleWeight",
            "TARE_KG",
        ] {
            assert_eq!(find_column(h).map(|c| c.key), Some("tare_kg"), "{h}");
        }
        assert_eq!(find_column("\u{feff}气瓶编码").map(|c| c.key), Some("code"));
        assert_eq!(
            find_column("registration.date").map(|c| c.header),
            Some("登记日期")
        );
        assert!(find_column("颜色").is_none());
    }

    #[test]
    fn header_errors_name_each_column() {
        let e = Importer::new(&s(&["出厂编号", "颜色", "皮重(kg)", "tare_kg"])).unwrap_err();
        let cols: Vec<&str> = e.iter().map(|e| e.column.as_str()).collect();
        assert_eq!(cols, ["颜色", "皮重(kg)", "气瓶编码"]);
        assert!(e.iter().all(|e| e.row == 1));
        assert!(
            e[2].message.contains("缺少必填列“气瓶编码”"),
            "{}",
            e[2].message
        );
        assert!(e[0].message.contains("未知的列"), "{}", e[0].message);
    }

    #[test]
    fn every_bad_cell_of_a_row_is_named() {
        let headers = s(&[
            "气瓶编码",
            "皮重(kg)",
            "检验日期",
            "下次检验日期",
            "充装介质",
            "阀门类型",
            "设计使用年限(年)",
        ]);
        let e = parse_rows(
            &headers,
            rows(&[
                &[
                    "1103000001",
                    "16.5",
                    "2024-01-01",
                    "2028-01-01",
                    "LPG",
                    "1",
                    "8",
                ],
                &[
                    "1103000002",
                    "abc",
                    "2024-13-01",
                    "2028-01-01",
                    "氧气",
                    "4",
                    "0",
                ],
            ]),
        )
        .unwrap_err();
        let got: Vec<(usize, &str)> = e.iter().map(|e| (e.row, e.column.as_str())).collect();
        assert_eq!(
            got,
            [
                (3, "阀门类型"),
                (3, "充装介质"),
                (3, "皮重(kg)"),
                (3, "设计使用年限(年)"),
                (3, "检验日期")
            ]
        );
        assert!(e[4].message.contains("2024-13-01"), "{}", e[4].message);
        assert!(e[1].message.contains("氧气"), "{}", e[1].message);
    }

    #[test]
    fn cross_field_rules_name_their_column() {
        let headers = s(&["气瓶编码", "检验日期", "下次检验日期"]);
        let e = parse_rows(
            &headers,
            rows(&[&["1103000001", "2024-01-01", "2023-01-01"]]),
        )
        .unwrap_err();
        assert_eq!((e[0].row, e[0].column.as_str()), (2, "下次检验日期"));
    }

    #[test]
    fn codes_are_required_and_unique_within_the_file() {
        let headers = s(&["气瓶编码", "出厂编号"]);
        let e = parse_rows(
            &headers,
            rows(&[
                &["1103000001", "a"],
                &["", "b"],
                &["1103000002", "c"],
                &["1103000001", "d"],
                &["", ""],
                &["1103000001", "e"],
            ]),
        )
        .unwrap_err();
        let got: Vec<(usize, &str)> = e.iter().map(|e| (e.row, e.message.as_str())).collect();
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(got[0].0, 2);
        assert!(got[0].1.contains("第 5、7 行"), "{}", got[0].1);
        assert_eq!(got[1], (3, "气瓶编码为必填项"));
        assert_eq!(got[2].0, 5);
        assert!(got[2].1.contains("与第 2 行重复"), "{}", got[2].1);
        assert_eq!(got[3].0, 7);
    }

    #[test]
    fn registration_is_three_columns_given_together() {
        let headers = s(&["气瓶编码", "使用登记证编号", "登记日期", "登记机构"]);
        let ok = parse_rows(
            &headers,
            rows(&[
                &["1103000001", "", "", ""],
                &["1103000002", "N1", "2024/3/5", "昆明市市场监督管理局"],
            ]),
        )
        .unwrap();
        assert!(ok[0].registration.is_none());
        assert_eq!(
            ok[1].registration.as_ref().unwrap().date.to_string(),
            "2024-03-05"
        );
        let e = parse_rows(&headers, rows(&[&["1103000001", "N1", "2024-03-05", ""]])).unwrap_err();
        assert_eq!((e[0].row, e[0].column.as_str()), (2, "登记机构"));
    }

    #[test]
    fn spreadsheet_forms_are_accepted() {
        assert_eq!(date("2024/4/1", false), "2024-04-01");
        assert_eq!(date("2024.04.01", false), "2024-04-01");
        assert_eq!(date("20240401", false), "2024-04-01");
        assert_eq!(date("20201001000000", false), "2020-10-01");
        assert_eq!(date("2024-04-01 00:00:00", false), "2024-04-01");
        assert_eq!(date("2014/9", true), "2014-09");
        assert_eq!(date("2014/9", false), "2014/9");
        assert_eq!(date("不是日期", false), "不是日期");
        let headers = s(&[
            "气瓶编码",
            "阀门类型",
            "档案状态",
            "检验周期(年)",
            "充装介质",
            "当前位置",
        ]);
        let a = parse_rows(
            &headers,
            rows(&[&["1103000001", "直阀气相", "锁定", "4.0", "LPG", "空瓶库"]]),
        )
        .unwrap();
        assert_eq!(a[0].valve, Some(crate::Valve::StraightGas));
        assert_eq!(a[0].state, CylinderState::Locked);
        assert_eq!(a[0].check_period_years, Some(4));
        assert_eq!(a[0].medium.as_ref().unwrap().as_str(), "液化石油气");
    }

    #[test]
    fn owner_ids_and_formula_guards() {
        let headers = s(&["气瓶编码", "产权单位ID", "单位内编号"]);
        let id = "4c3fd0d0-95f3-4d17-aa77-361efcb78f98";
        let a = parse_rows(&headers, rows(&[&["1103000001", id, "'-12"]])).unwrap();
        assert_eq!(a[0].owner_org_id.unwrap().to_string(), id);
        assert_eq!(
            a[0].inner_no.as_ref().unwrap().as_str(),
            "-12",
            "an export's formula guard comes off"
        );
        let e = parse_rows(&headers, rows(&[&["1103000001", "昆明燃气", ""]])).unwrap_err();
        assert_eq!((e[0].row, e[0].column.as_str()), (2, "产权单位ID"));
        assert!(e[0].message.contains("UUID"), "{}", e[0].message);
    }

    #[test]
    fn a_headerless_column_must_stay_empty() {
        let headers = s(&["气瓶编码", ""]);
        assert!(parse_rows(&headers, rows(&[&["1103000001", ""]])).is_ok());
        let e = parse_rows(&headers, rows(&[&["1103000001", "x"]])).unwrap_err();
        assert_eq!(e[0].column, "第 2 列");
    }
}
