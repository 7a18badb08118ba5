//! Archive import and export (A6).
//!
//! **Import.** A CSV (UTF-8) or Excel (`.xlsx`) file laid out like the platform's template is read
//! row by row; every row is validated by `cyltrace_domain::import` with the rules of
//! `POST /api/v1/cylinders`; owners are checked against the caller's scope and codes against the store;
//! then every archive is inserted in **one** `insert_cylinders` call, so that a file is imported
//! whole or not at all. [`import_archives`] does this for the API (a background job recorded as a
//! business record of kind [`IMPORT_JOB`]) and for `cyltrace import` alike, reporting progress
//! through a callback.
//!
//! **Export.** Archives in scope (template columns plus status columns), the Yunnan `GenericBottle`
//! form (JSON or `.xlsx`), fill records and stock, as CSV (UTF-8 with BOM, formulas neutralised) or
//! `.xlsx`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use cyltrace_domain::access::Action;
use cyltrace_domain::archive::GenericBottle;
use cyltrace_domain::event::EventData;
use cyltrace_domain::import::{self as imp, COLUMNS, CellKind, Importer, RowError, STATUS_COLUMNS};
use cyltrace_domain::time::cst;
use cyltrace_domain::{Archive, CylinderCode, LabelStatus, LicenceKind, OrgKind, Role};
use cyltrace_store::{
    BizFilter, BizRecord, CylinderRecord, NewCylinder, OrgRecord, Scope, Store, StoreError,
};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use uuid::Uuid;

pub use axum::body::Bytes;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The business-record kind of an import job.
pub const IMPORT_JOB: &str = "import_job";
/// The largest file `POST /cylinders/import` accepts.
pub const MAX_IMPORT_BYTES: usize = 256 * 1024 * 1024;
/// The most data rows of one file (memory: every archive of a file is held until it is inserted).
pub const MAX_IMPORT_ROWS: usize = 200_000;
/// Progress is reported every this many rows.
pub const PROGRESS_EVERY: usize = 5_000;
/// The most row errors a job keeps (`error_count` tells how many there were).
pub const MAX_REPORTED_ERRORS: usize = 1_000;
/// The sheet an `.xlsx` template and export hold the archives in.
pub const SHEET: &str = "气瓶档案";
/// Archives read per store page when exporting.
const EXPORT_PAGE: i64 = 2_000;

// ---------------------------------------------------------------------------------------------
// Formats

/// The two file formats of an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    Csv,
    Xlsx,
}

impl FileFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::Xlsx => "xlsx",
        }
    }

    /// The `format` parameter (`csv` or `xlsx`).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(FileFormat::Csv),
            "xlsx" => Ok(FileFormat::Xlsx),
            other => Err(format!("文件格式应为 csv 或 xlsx，收到“{other}”")),
        }
    }

    /// The format of a file name's extension (`.csv`, `.xlsx`).
    pub fn from_path(path: &std::path::Path) -> Result<Self, String> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Ok(FileFormat::Csv),
            "xlsx" => Ok(FileFormat::Xlsx),
            "xls" => Err("不支持旧版 Excel（.xls）文件，请在 Excel 中另存为 .xlsx".to_owned()),
            _ => Err(format!(
                "无法从文件名 {} 判断格式：应为 .csv 或 .xlsx",
                path.display()
            )),
        }
    }
}

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
const OLE_MAGIC: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0];

/// Checks that the bytes are what `format` says (an `.xlsx` is a zip; a CSV is UTF-8 text); without a
/// format, tells it from the bytes. The message names what is wrong and what to do.
pub fn check_file(format: Option<FileFormat>, bytes: &[u8]) -> Result<FileFormat, String> {
    if bytes.is_empty() {
        return Err("文件为空".to_owned());
    }
    let zip = bytes.starts_with(ZIP_MAGIC);
    let ole = bytes.starts_with(OLE_MAGIC);
    match format {
        None if zip => Ok(FileFormat::Xlsx),
        Some(FileFormat::Xlsx) if zip => Ok(FileFormat::Xlsx),
        None | Some(FileFormat::Xlsx) if ole => {
            Err("不支持旧版 Excel（.xls）文件，请在 Excel 中另存为 .xlsx 后再导入".to_owned())
        }
        Some(FileFormat::Xlsx) => Err(format!(
            "文件不是 Excel 工作簿（.xlsx）：{}",
            describe(bytes)
        )),
        Some(FileFormat::Csv) if zip || ole => Err(
            "文件是 Excel 工作簿而不是 CSV 文本，请使用 format=xlsx 导入，或在 Excel 中另存为“CSV UTF-8（逗号分隔）”"
                .to_owned(),
        ),
        None | Some(FileFormat::Csv) => {
            let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            if text.contains(&0) {
                return Err(format!("文件不是 CSV 文本：{}", describe(bytes)));
            }
            if let Err(e) = std::str::from_utf8(text) {
                return Err(format!(
                    "CSV 文件应为 UTF-8 编码（第 {} 个字节起不是 UTF-8）。请在 Excel 中另存为“CSV UTF-8（逗号分隔）”",
                    e.valid_up_to() + 1
                ));
            }
            Ok(FileFormat::Csv)
        }
    }
}

/// What a refused file looks like, for the message.
fn describe(bytes: &[u8]) -> String {
    if bytes.starts_with(b"\x89PNG") {
        "这是一张 PNG 图片".to_owned()
    } else if bytes.starts_with(b"%PDF") {
        "这是一个 PDF 文件".to_owned()
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "这是一张 JPEG 图片".to_owned()
    } else {
        "无法识别的文件内容".to_owned()
    }
}

// ---------------------------------------------------------------------------------------------
// Import

/// Where an import stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Validating,
    Importing,
    Done,
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Validating => "validating",
            JobState::Importing => "importing",
            JobState::Done => "done",
            JobState::Failed => "failed",
        }
    }
}

/// Progress of one import: rows in the file (known once the file is opened), rows validated so far,
/// archives inserted (all of them at once, at the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub state: JobState,
    pub total: usize,
    pub validated: usize,
    pub inserted: usize,
}

/// Why an import stored nothing.
#[derive(Debug)]
pub enum ImportFailure {
    /// The file was refused: every bad header, row and cell (row 0 = the file as a whole).
    Rejected(Vec<RowError>),
    /// The store failed; the cause is logged.
    Internal(String),
}

impl From<StoreError> for ImportFailure {
    fn from(e: StoreError) -> Self {
        ImportFailure::Internal(e.to_string())
    }
}

/// One import: the file and whom it is for.
pub struct ImportRequest {
    pub format: FileFormat,
    pub bytes: Bytes,
    /// The owner of rows that name none (their region code defaults to the owner's).
    pub owner: OrgRecord,
    /// Owners that rows may name (the caller's data scope).
    pub scope: Scope,
}

/// Called with each progress report (from a blocking thread while rows are validated).
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Imports a file whole or not at all: validates every row, checks owners and codes already stored,
/// then inserts every archive in one `insert_cylinders` call. Answers the number inserted.
pub async fn import_archives(
    store: &dyn Store,
    req: ImportRequest,
    now: DateTime<Utc>,
    progress: ProgressFn,
) -> Result<usize, ImportFailure> {
    let ImportRequest {
        format,
        bytes,
        owner,
        scope,
    } = req;
    let report = progress.clone();
    let rows = tokio::task::spawn_blocking(move || read_file(format, &bytes, &*report))
        .await
        .map_err(|e| ImportFailure::Internal(format!("import task: {e}")))??;
    let total = rows.len();
    let mut p = Progress {
        state: JobState::Validating,
        total,
        validated: total,
        inserted: 0,
    };
    progress(&p);

    // Owners named by rows: each must exist and lie in scope.
    let mut errs = Vec::new();
    let mut owners: HashMap<Uuid, Option<OrgRecord>> = HashMap::new();
    owners.insert(owner.id, Some(owner.clone()));
    let owner_col = header("owner_org_id");
    for (row, a) in &rows {
        let Some(id) = a.owner_org_id else { continue };
        if let std::collections::hash_map::Entry::Vacant(v) = owners.entry(id) {
            v.insert(store.get_org(id).await?);
        }
        match &owners[&id] {
            None => errs.push(RowError::new(
                *row,
                owner_col,
                format!("产权单位 {id} 不存在"),
            )),
            Some(o) if !scope.contains(&o.path) => errs.push(RowError::new(
                *row,
                owner_col,
                format!("产权单位“{}”不在您的数据权限范围内", o.name),
            )),
            Some(_) => {}
        }
    }
    // Codes archived already.
    let codes: Vec<CylinderCode> = rows.iter().map(|(_, a)| a.code.clone()).collect();
    let taken: HashSet<CylinderCode> = store.existing_codes(&codes).await?.into_iter().collect();
    drop(codes);
    let code_col = header("code");
    if !taken.is_empty() {
        for (row, a) in &rows {
            if taken.contains(&a.code) {
                errs.push(RowError::new(
                    *row,
                    code_col,
                    format!("气瓶编码 {} 已存在于平台中（已建档）", a.code),
                ));
            }
        }
    }
    if !errs.is_empty() {
        errs.sort_by_key(|e| e.row);
        return Err(ImportFailure::Rejected(errs));
    }

    p.state = JobState::Importing;
    progress(&p);
    let mut row_of: Vec<usize> = Vec::with_capacity(total);
    let batch: Vec<NewCylinder> = rows
        .into_iter()
        .map(|(row, mut a)| {
            row_of.push(row);
            let o = owners[&a.owner_org_id.unwrap_or(owner.id)]
                .as_ref()
                .expect("owners checked above");
            a.owner_org_id = Some(o.id);
            a.region_code.get_or_insert(o.region_code);
            NewCylinder {
                org_id: o.id,
                archive: a,
            }
        })
        .collect();
    match store.insert_cylinders(&batch, now).await {
        Ok(n) => Ok(n),
        // Archived in between by someone else.
        Err(StoreError::Conflict(code)) => {
            let row = batch
                .iter()
                .position(|c| c.archive.code.as_str() == code)
                .map_or(0, |i| row_of[i]);
            Err(ImportFailure::Rejected(vec![RowError::new(
                row,
                code_col,
                format!("气瓶编码 {code} 已存在于平台中（已建档）"),
            )]))
        }
        Err(e) => Err(e.into()),
    }
}

/// The Chinese header of a template column.
fn header(key: &str) -> &'static str {
    COLUMNS
        .iter()
        .find(|c| c.key == key)
        .map_or("", |c| c.header)
}

/// Collects rows into archives, reporting progress.
struct Collector<'a> {
    importer: Option<Importer>,
    archives: Vec<(usize, Archive)>,
    errors: Vec<RowError>,
    total: usize,
    seen: usize,
    progress: &'a (dyn Fn(&Progress) + Send + Sync),
}

impl Collector<'_> {
    /// Takes the next row of the file (the first is the header); false to stop reading.
    fn push(&mut self, row: usize, cells: Vec<String>) -> bool {
        let Some(importer) = self.importer.as_mut() else {
            // The header row.
            match Importer::new(&cells) {
                Ok(i) => {
                    self.importer = Some(i);
                    return true;
                }
                Err(e) => {
                    self.errors = e;
                    return false;
                }
            }
        };
        self.seen += 1;
        if self.seen > MAX_IMPORT_ROWS {
            self.errors.push(RowError::new(
                row,
                "",
                format!("单个文件最多 {MAX_IMPORT_ROWS} 行数据，请拆分后分批导入"),
            ));
            return false;
        }
        match importer.row(row, &cells) {
            Ok(Some(a)) => self.archives.push((row, a)),
            Ok(None) => {}
            Err(mut e) => self.errors.append(&mut e),
        }
        if self.seen.is_multiple_of(PROGRESS_EVERY) {
            (self.progress)(&Progress {
                state: JobState::Validating,
                total: self.total.max(self.seen),
                validated: self.seen,
                inserted: 0,
            });
        }
        true
    }

    fn finish(mut self) -> Result<Vec<(usize, Archive)>, ImportFailure> {
        match self.importer.take() {
            Some(i) => self.errors.extend(i.finish()),
            None if self.errors.is_empty() => {
                self.errors
                    .push(RowError::new(1, "", "文件中没有表头行（第 1 行应为列名）"));
            }
            None => {}
        }
        if self.errors.is_empty() && self.archives.is_empty() {
            self.errors.push(RowError::new(
                2,
                "",
                "文件中没有数据行（表头下方至少需要一行档案）",
            ));
        }
        if self.errors.is_empty() {
            Ok(self.archives)
        } else {
            self.errors.sort_by_key(|e| e.row);
            Err(ImportFailure::Rejected(self.errors))
        }
    }
}

/// Reads and validates every row of a file (blocking: CPU work).
pub fn read_file(
    format: FileFormat,
    bytes: &[u8],
    progress: &(dyn Fn(&Progress) + Send + Sync),
) -> Result<Vec<(usize, Archive)>, ImportFailure> {
    let file_error = |m: String| ImportFailure::Rejected(vec![RowError::new(0, "", m)]);
    check_file(Some(format), bytes).map_err(file_error)?;
    let mut c = Collector {
        importer: None,
        archives: Vec::new(),
        errors: Vec::new(),
        total: 0,
        seen: 0,
        progress,
    };
    match format {
        FileFormat::Csv => read_csv(bytes, &mut c).map_err(file_error)?,
        FileFormat::Xlsx => read_xlsx(bytes, &mut c).map_err(file_error)?,
    }
    c.finish()
}

fn csv_reader(text: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text)
}

/// CSV rows are numbered by record (the header is row 1), as a spreadsheet shows them.
fn read_csv(bytes: &[u8], c: &mut Collector) -> Result<(), String> {
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // A first pass counts the rows, so that progress has a total.
    let mut record = csv::ByteRecord::new();
    let mut counter = csv_reader(text);
    let mut n = 0usize;
    while counter.read_byte_record(&mut record).unwrap_or(false) {
        n += 1;
    }
    c.total = n.saturating_sub(1);
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
fn read_xlsx(bytes: &[u8], c: &mut Collector) -> Result<(), String> {
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
    c.total = (dim.end.0.saturating_sub(dim.start.0)) as usize;
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

fn number_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        f.to_string()
    }
}

// --- the API's import jobs ---------------------------------------------------------------

/// Starts an import job for `POST /cylinders/import`: checks role, file type and owner at once (an
/// error here is the answer), records the job, and validates and imports in the background.
pub async fn start_import(
    st: &AppState,
    p: &Principal,
    format: Option<&str>,
    org_id: Option<&str>,
    bytes: Bytes,
) -> ApiResult<BizRecord> {
    p.require(Action::WriteCylinders)?;
    let format = format
        .map(FileFormat::parse)
        .transpose()
        .map_err(|m| ApiError::invalid("format", m))?;
    let format = check_file(format, &bytes).map_err(|m| ApiError::invalid("file", m))?;
    let owner_id = match org_id.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => {
            Uuid::parse_str(s).map_err(|_| ApiError::invalid("org_id", "应为机构 id（UUID）"))?
        }
        None if p.is_node_admin() || p.roles.contains(&Role::Regulator) => {
            return Err(ApiError::invalid(
                "org_id",
                "请用 org_id 指定产权单位（导入的档案归属的机构）",
            ));
        }
        None => p.org_id,
    };
    let owner = st
        .store
        .get_org(owner_id)
        .await?
        .ok_or_else(|| ApiError::invalid("org_id", "产权单位不存在"))?;
    p.require_scope(&owner.path, "产权单位")?;
    let now = st.now();
    let job = BizRecord {
        id: Uuid::new_v4(),
        kind: IMPORT_JOB.to_owned(),
        org_id: owner.id,
        org_path: owner.path.clone(),
        key: None,
        ref_id: None,
        state: JobState::Validating.as_str().to_owned(),
        due: None,
        body: json!({"format": format.as_str(), "bytes": bytes.len(), "owner_org_id": owner.id,
                     "created_by": p.username, "total": 0, "validated": 0, "inserted": 0,
                     "errors": [], "error_count": 0}),
        created_at: now,
        updated_at: now,
    };
    st.store.insert_biz(&job).await?;
    let req = ImportRequest {
        format,
        bytes,
        owner,
        scope: p.scope(),
    };
    tokio::spawn(run_job(st.clone(), job.clone(), req));
    Ok(job)
}

/// The background half of an import job: progress goes to the job record as it comes (at most one
/// write at a time, the latest report winning), then the outcome.
async fn run_job(st: AppState, job: BizRecord, req: ImportRequest) {
    let started = Instant::now();
    let (tx, rx) = watch::channel(None::<Progress>);
    let writer = tokio::spawn(write_progress(st.clone(), job, rx, started));
    let report: ProgressFn = Arc::new(move |p: &Progress| {
        tx.send_replace(Some(*p));
    });
    let outcome = import_archives(st.store.as_ref(), req, st.now(), report).await;
    // The sender went with the callback: the writer drains the last report and hands the record back.
    let mut job = match writer.await {
        Ok(job) => job,
        Err(e) => {
            tracing::error!(error = %e, "import progress writer failed");
            return;
        }
    };
    let ms = started.elapsed().as_millis() as u64;
    job.body["duration_ms"] = json!(ms);
    match outcome {
        Ok(n) => {
            job.state = JobState::Done.as_str().to_owned();
            job.body["inserted"] = json!(n);
            job.body["validated"] = job.body["total"].clone();
            job.body["message"] = json!(format!("已导入 {n} 条气瓶档案"));
            tracing::info!(job = %job.id, inserted = n, ms, "archive import done");
        }
        Err(ImportFailure::Rejected(errors)) => {
            job.state = JobState::Failed.as_str().to_owned();
            job.body["error_count"] = json!(errors.len());
            job.body["message"] = json!(format!(
                "文件未通过校验：共 {} 处错误，未导入任何数据",
                errors.len()
            ));
            job.body["errors"] = json!(
                errors
                    .into_iter()
                    .take(MAX_REPORTED_ERRORS)
                    .collect::<Vec<_>>()
            );
            tracing::info!(job = %job.id, ms, "archive import refused");
        }
        Err(ImportFailure::Internal(e)) => {
            tracing::error!(job = %job.id, error = %e, "archive import failed");
            job.state = JobState::Failed.as_str().to_owned();
            job.body["message"] = json!("服务器内部错误，导入未完成，未导入任何数据");
        }
    }
    if let Err(e) = save(&st, &mut job).await {
        tracing::error!(job = %job.id, error = %e, "import job outcome could not be recorded");
    }
}

async fn write_progress(
    st: AppState,
    mut job: BizRecord,
    mut rx: watch::Receiver<Option<Progress>>,
    started: Instant,
) -> BizRecord {
    while rx.changed().await.is_ok() {
        let Some(p) = *rx.borrow_and_update() else {
            continue;
        };
        if p.state == JobState::Importing && job.state != p.state.as_str() {
            // How long reading and validating took (the rest is the insert).
            job.body["validated_ms"] = json!(started.elapsed().as_millis() as u64);
        }
        job.state = p.state.as_str().to_owned();
        job.body["total"] = json!(p.total);
        job.body["validated"] = json!(p.validated);
        job.body["inserted"] = json!(p.inserted);
        if let Err(e) = save(&st, &mut job).await {
            tracing::warn!(job = %job.id, error = %e, "import progress not recorded");
        }
    }
    job
}

/// Writes the job record (only its own task writes it).
async fn save(st: &AppState, job: &mut BizRecord) -> Result<(), StoreError> {
    let expected = job.updated_at;
    job.updated_at = st.now().max(expected + chrono::Duration::microseconds(1));
    if !st.store.update_biz(job, expected).await? {
        tracing::warn!(job = %job.id, "import job record changed under its task");
    }
    Ok(())
}

/// An import job the caller sees.
pub async fn get_import(st: &AppState, p: &Principal, id: &str) -> ApiResult<Value> {
    p.require(Action::Read)?;
    let id =
        Uuid::parse_str(id.trim()).map_err(|_| ApiError::NotFound("导入任务不存在".to_owned()))?;
    let r = super::circulation::visible_record(st, p, IMPORT_JOB, id, "导入任务").await?;
    Ok(job_view(&r))
}

/// At start-up: an import still `validating` or `importing` was cut off by a stop of the server (its
/// task lived in that process). It is marked failed with what the user should check — the archives
/// are written in one transaction, so they are all there or none is.
pub async fn fail_interrupted_imports(st: &AppState) -> Result<usize, StoreError> {
    let mut n = 0;
    for state in [JobState::Validating, JobState::Importing] {
        let list = st
            .store
            .list_biz(&BizFilter {
                kind: IMPORT_JOB.to_owned(),
                state: Some(state.as_str().to_owned()),
                limit: 1000,
                ..Default::default()
            })
            .await?;
        for mut job in list {
            let expected = job.updated_at;
            job.state = JobState::Failed.as_str().to_owned();
            job.body["message"] = json!(if state == JobState::Validating {
                "服务重启，导入在校验阶段中断，未导入任何数据，请重新导入"
            } else {
                "服务重启，导入在写入阶段中断：档案是一次性整体写入的，请查询档案确认，未写入时请重新导入"
            });
            job.updated_at = st.now().max(expected + chrono::Duration::microseconds(1));
            if st.store.update_biz(&job, expected).await? {
                n += 1;
            }
        }
    }
    Ok(n)
}

/// The answer of `GET /imports/{id}`.
pub fn job_view(r: &BizRecord) -> Value {
    let b = &r.body;
    json!({"job_id": r.id, "state": r.state, "format": b["format"], "owner_org_id": b["owner_org_id"],
           "total": b["total"], "validated": b["validated"], "inserted": b["inserted"],
           "errors": b["errors"], "error_count": b["error_count"], "message": b.get("message"),
           "duration_ms": b.get("duration_ms"), "validated_ms": b.get("validated_ms"), "created_at": r.created_at, "updated_at": r.updated_at})
}

// ---------------------------------------------------------------------------------------------
// Tables: CSV and xlsx output

/// One cell of an exported table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Number(f64),
}

impl Cell {
    fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }

    fn opt(s: Option<impl Into<String>>) -> Cell {
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
    fn table(format: FileFormat, stem: &str, bytes: Vec<u8>, now: DateTime<Utc>) -> Download {
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

fn internal(e: String) -> ApiError {
    ApiError::Internal(e)
}

// ---------------------------------------------------------------------------------------------
// The template

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

// ---------------------------------------------------------------------------------------------
// Archive export

/// The formats of an archive export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Xlsx,
    GenericBottleJson,
    GenericBottleXlsx,
}

impl ExportFormat {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(ExportFormat::Csv),
            "xlsx" => Ok(ExportFormat::Xlsx),
            "generic_bottle_json" => Ok(ExportFormat::GenericBottleJson),
            "generic_bottle_xlsx" => Ok(ExportFormat::GenericBottleXlsx),
            other => Err(format!(
                "导出格式应为 csv、xlsx、generic_bottle_json 或 generic_bottle_xlsx，收到“{other}”"
            )),
        }
    }
}

/// The Yunnan `GenericBottle` field names, in the record's order.
pub const GENERIC_BOTTLE_FIELDS: &[&str] = &[
    "Barcode",
    "Printno",
    "InnerNo",
    "Style",
    "Valve",
    "ProductDate",
    "DiscardDate",
    "CheckDate",
    "NextDate",
    "State",
    "IdleWeight",
    "FillWeight",
    "Medium",
    "NominalPressure",
    "Volumn",
    "Thickness",
    "WaterPressure",
    "CheckPeriod",
    "LifePeriod",
    "Factory",
    "Designer",
    "Supervise",
    "Check",
    "RegisterDate",
    "RegisterNo",
    "Office",
    "Id",
];

/// The archive as it stands: registration and state from the status (events change them).
fn current_archive(c: &CylinderRecord) -> Archive {
    let mut a = c.archive.clone();
    if c.status.registration.is_some() {
        a.registration = c.status.registration.clone();
    }
    a.state = c.status.state;
    a
}

/// One archive export row: the template's cells, then the status columns.
fn archive_row(c: &CylinderRecord) -> Vec<Cell> {
    let a = current_archive(c);
    let mut out: Vec<Cell> = imp::archive_cells(&a)
        .into_iter()
        .zip(COLUMNS)
        .map(|(s, col)| match col.kind {
            CellKind::Number | CellKind::Integer | CellKind::Valve if !s.is_empty() => {
                s.parse().map_or(Cell::Text(s), Cell::Number)
            }
            _ => Cell::Text(s),
        })
        .collect();
    let s = &c.status;
    for col in STATUS_COLUMNS {
        out.push(match col.key {
            "status.location_kind" => Cell::text(s.location_kind.label_zh()),
            "status.next_check_date" => Cell::opt(s.next_check_date.map(|d| d.to_string())),
            "status.label" => Cell::text(match s.label {
                LabelStatus::Active => "有效",
                LabelStatus::Void => "作废",
            }),
            "status.last_fill_at" => Cell::opt(s.last_fill_at.map(|t| {
                t.with_timezone(&cst())
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string()
            })),
            "id" => Cell::Number(c.id as f64),
            _ => Cell::text(""),
        });
    }
    out
}

/// Every archive in `scope`, in code order, in `format` (shared by the API and `cyltrace export`).
pub async fn export_archives(
    store: &dyn Store,
    scope: &Scope,
    format: ExportFormat,
) -> Result<Vec<u8>, String> {
    let mut after: Option<CylinderCode> = None;
    let mut table = match format {
        ExportFormat::Csv => Some(TableWriter::new(
            FileFormat::Csv,
            SHEET,
            &imp::export_headers(),
        )?),
        ExportFormat::Xlsx => Some(TableWriter::new(
            FileFormat::Xlsx,
            SHEET,
            &imp::export_headers(),
        )?),
        ExportFormat::GenericBottleXlsx => Some(TableWriter::new(
            FileFormat::Xlsx,
            "GenericBottle",
            GENERIC_BOTTLE_FIELDS,
        )?),
        ExportFormat::GenericBottleJson => None,
    };
    let mut json_out: Vec<u8> = Vec::new();
    loop {
        let page = store
            .list_cylinders_after(scope, after.as_ref(), EXPORT_PAGE)
            .await
            .map_err(|e| e.to_string())?;
        let Some(last) = page.last() else { break };
        after = Some(last.archive.code.clone());
        for c in &page {
            match format {
                ExportFormat::Csv | ExportFormat::Xlsx => {
                    if let Some(t) = table.as_mut() {
                        t.row(&archive_row(c))?;
                    }
                }
                ExportFormat::GenericBottleJson => {
                    // Written record by record: a JSON array of 100,000 records is not held as values.
                    json_out.push(if json_out.is_empty() { b'[' } else { b',' });
                    serde_json::to_writer(
                        &mut json_out,
                        &GenericBottle::from_archive(&current_archive(c), c.id),
                    )
                    .map_err(|e| e.to_string())?;
                }
                ExportFormat::GenericBottleXlsx => {
                    let v = serde_json::to_value(GenericBottle::from_archive(
                        &current_archive(c),
                        c.id,
                    ))
                    .map_err(|e| e.to_string())?;
                    if let Some(t) = table.as_mut() {
                        t.row(
                            &GENERIC_BOTTLE_FIELDS
                                .iter()
                                .map(|f| match &v[*f] {
                                    Value::Number(n) => Cell::Number(n.as_f64().unwrap_or(0.0)),
                                    Value::String(s) => Cell::Text(s.clone()),
                                    _ => Cell::text(""),
                                })
                                .collect::<Vec<_>>(),
                        )?;
                    }
                }
            }
        }
        if (page.len() as i64) < EXPORT_PAGE {
            break;
        }
    }
    match table {
        Some(t) => t.finish_blocking().await,
        None => {
            if json_out.is_empty() {
                json_out.push(b'[');
            }
            json_out.push(b']');
            Ok(json_out)
        }
    }
}

/// `GET /cylinders/export`: the caller's archives.
pub async fn export_for(st: &AppState, p: &Principal, format: &str) -> ApiResult<Download> {
    p.require(Action::Read)?;
    let format = ExportFormat::parse(format).map_err(|m| ApiError::invalid("format", m))?;
    let bytes = export_archives(st.store.as_ref(), &p.scope(), format)
        .await
        .map_err(internal)?;
    let now = st.now();
    Ok(match format {
        ExportFormat::Csv => Download::table(FileFormat::Csv, "cylinders", bytes, now),
        ExportFormat::Xlsx => Download::table(FileFormat::Xlsx, "cylinders", bytes, now),
        ExportFormat::GenericBottleXlsx => {
            Download::table(FileFormat::Xlsx, "GenericBottle", bytes, now)
        }
        ExportFormat::GenericBottleJson => Download {
            bytes,
            content_type: "application/json",
            filename: format!(
                "GenericBottle-{}.json",
                now.with_timezone(&cst()).format("%Y%m%d")
            ),
        },
    })
}

// ---------------------------------------------------------------------------------------------
// List views: fill records and stock

/// The most rows of a list export.
pub const MAX_LIST_EXPORT: i64 = 100_000;

/// Fill records (table C.1) matching the same filters as `GET /fills`, newest first.
pub async fn export_fills(
    st: &AppState,
    p: &Principal,
    mut q: super::filling::RecordQuery,
    format: FileFormat,
) -> ApiResult<Download> {
    const HEADERS: &[&str] = &[
        "气瓶编码",
        "充装单位",
        "充装许可证编号",
        "充装设备编号",
        "充装人员",
        "充装日期",
        "开始时间",
        "结束时间",
        "充装前重量(kg)",
        "充装后重量(kg)",
        "充装量(kg)",
        "充装介质",
        "充装批次",
        "存证序号",
    ];
    let mut table = TableWriter::new(format, "充装记录", HEADERS).map_err(internal)?;
    let mut enterprises: HashMap<Uuid, (String, String)> = HashMap::new();
    let time = |t: cyltrace_domain::Timestamp| {
        t.utc()
            .with_timezone(&cst())
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    let mut offset = 0i64;
    q.limit = Some(500);
    loop {
        q.offset = Some(offset);
        let (events, total, _) = super::filling::fills(st, p, &q).await?;
        let n = events.len() as i64;
        for s in events {
            let EventData::Fill(f) = &s.event.data else {
                continue;
            };
            let ent = match s.event.site_id {
                None => (String::new(), String::new()),
                Some(site_id) => {
                    if let std::collections::hash_map::Entry::Vacant(slot) =
                        enterprises.entry(site_id)
                    {
                        let org = match st.store.get_site(site_id).await? {
                            Some(site) => st.store.get_org(site.org_id).await?,
                            None => None,
                        };
                        slot.insert(org.map_or_else(Default::default, |o| {
                            let licence = o
                                .licences
                                .iter()
                                .find(|l| l.kind == LicenceKind::Filling)
                                .map(|l| l.number.to_string())
                                .unwrap_or_default();
                            (o.name, licence)
                        }));
                    }
                    enterprises[&site_id].clone()
                }
            };
            table
                .row(&[
                    Cell::opt(s.event.codes.first().map(|c| c.to_string())),
                    Cell::Text(ent.0),
                    Cell::Text(ent.1),
                    Cell::text(f.scale_no.as_str()),
                    Cell::opt(s.event.operator.as_ref().map(|o| o.to_string())),
                    Cell::text(
                        cyltrace_domain::time::china_date(f.begin.utc())
                            .format("%Y-%m-%d")
                            .to_string(),
                    ),
                    Cell::text(time(f.begin)),
                    Cell::text(time(f.end)),
                    Cell::Number(f.tare_kg.get()),
                    Cell::Number(f.gross_kg.get()),
                    Cell::Number((f.net_kg() * 1000.0).round() / 1000.0),
                    Cell::opt(f.medium.as_ref().map(|m| m.to_string())),
                    Cell::opt(f.batch.as_ref().map(|b| b.to_string())),
                    Cell::Number(s.ledger_index as f64),
                ])
                .map_err(internal)?;
        }
        offset += n;
        if n == 0 || offset >= total || offset >= MAX_LIST_EXPORT {
            break;
        }
    }
    let bytes = table.finish_blocking().await.map_err(internal)?;
    Ok(Download::table(format, "fills", bytes, st.now()))
}

/// Stock per site in scope (or one site), as `GET /stock` lists it.
pub async fn export_stock(
    st: &AppState,
    p: &Principal,
    site: Option<Uuid>,
    format: FileFormat,
) -> ApiResult<Download> {
    const HEADERS: &[&str] = &[
        "站点名称",
        "站点类型",
        "站点ID",
        "所属机构ID",
        "满瓶数",
        "空瓶数",
        "合计",
    ];
    let rows = super::circulation::stock(st, p, site).await?;
    let mut table = TableWriter::new(format, "库存", HEADERS).map_err(internal)?;
    let text = |v: &Value| Cell::text(v.as_str().unwrap_or_default());
    for r in &rows {
        let full = r["full"].as_f64().unwrap_or(0.0);
        let empty = r["empty"].as_f64().unwrap_or(0.0);
        table
            .row(&[
                text(&r["site_name"]),
                Cell::text(site_kind_zh(r["site_kind"].as_str().unwrap_or_default())),
                text(&r["site_id"]),
                text(&r["org_id"]),
                Cell::Number(full),
                Cell::Number(empty),
                Cell::Number(full + empty),
            ])
            .map_err(internal)?;
    }
    let bytes = table.finish_blocking().await.map_err(internal)?;
    Ok(Download::table(format, "stock", bytes, st.now()))
}

fn site_kind_zh(kind: &str) -> String {
    match kind {
        "filling_station" => "充装站",
        "warehouse" => "仓库",
        "store" => "门店",
        "delivery_station" => "配送站",
        other => other,
    }
    .to_owned()
}

// ---------------------------------------------------------------------------------------------
// The command line's choice of owner

/// The organisation `cyltrace import` imports for: `--org`, or the only filling enterprise.
pub async fn cli_owner(store: &dyn Store, org: Option<&str>) -> Result<OrgRecord, String> {
    if let Some(s) = org {
        let id = Uuid::parse_str(s.trim())
            .map_err(|_| format!("--org 应为机构 ID（UUID），收到“{s}”"))?;
        return store
            .get_org(id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("机构 {id} 不存在"));
    }
    let mut enterprises = Vec::new();
    let mut offset = 0;
    loop {
        let page = store
            .list_orgs(&Scope::all(), cyltrace_store::Page { limit: 500, offset })
            .await
            .map_err(|e| e.to_string())?;
        let n = page.len() as i64;
        enterprises.extend(
            page.into_iter()
                .filter(|o| o.kind == OrgKind::FillingEnterprise),
        );
        if n < 500 {
            break;
        }
        offset += n;
    }
    match enterprises.len() {
        1 => Ok(enterprises.remove(0)),
        0 => Err("平台中还没有充装单位，请先建立机构，或用 --org 指定产权单位".to_owned()),
        n => Err(format!(
            "平台中有 {n} 个充装单位，请用 --org 指定产权单位的机构 ID：\n{}",
            enterprises
                .iter()
                .map(|o| format!("  {}  {}", o.id, o.name))
                .collect::<Vec<_>>()
                .join("\n")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_types_are_told_apart() {
        assert_eq!(check_file(None, b"a,b\r\n"), Ok(FileFormat::Csv));
        assert_eq!(check_file(None, b"PK\x03\x04rest"), Ok(FileFormat::Xlsx));
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert!(
            check_file(Some(FileFormat::Xlsx), png)
                .unwrap_err()
                .contains("PNG")
        );
        assert!(
            check_file(Some(FileFormat::Csv), png)
                .unwrap_err()
                .contains("CSV")
        );
        assert!(
            check_file(Some(FileFormat::Csv), b"\xff\xfe\xb2\xe2")
                .unwrap_err()
                .contains("UTF-8")
        );
        assert!(
            check_file(Some(FileFormat::Csv), b"PK\x03\x04")
                .unwrap_err()
                .contains("xlsx")
        );
        assert!(check_file(None, b"").is_err());
    }

    #[test]
    fn csv_cells_cannot_be_formulas() {
        assert_eq!(csv_safe("=1+1"), "'=1+1");
        assert_eq!(csv_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_safe("-2"), "'-2");
        assert_eq!(csv_safe("+86"), "'+86");
        assert_eq!(csv_safe("液化石油气"), "液化石油气");
    }

    #[test]
    fn templates_read_back_as_their_example() {
        for format in [FileFormat::Csv, FileFormat::Xlsx] {
            let bytes = template(format).unwrap();
            let rows = read_file(format, &bytes, &|_| {}).unwrap();
            assert_eq!(rows.len(), 1, "{format:?}");
            assert_eq!(rows[0].0, 2);
            assert_eq!(rows[0].1.code.as_str(), "1103007831");
        }
    }
}
