//! Reading an import file (CSV or xlsx) row by row into validated archives, and importing it whole
//! or not at all (for the API's jobs and `cyltrace import` alike).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use cyltrace_domain::import::{COLUMNS, Importer, RowError};
use cyltrace_domain::{Archive, CylinderCode};
use cyltrace_store::{NewCylinder, OrgRecord, Scope, Store, StoreError};
use serde::Serialize;
use uuid::Uuid;

use super::read::{Rows, read_csv, read_xlsx};
use super::{Bytes, FileFormat, MAX_IMPORT_ROWS, PROGRESS_EVERY, check_file};

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
    let today = cyltrace_domain::time::china_date(now);
    let rows = tokio::task::spawn_blocking(move || read_file(format, &bytes, today, &*report))
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
    /// Today (China calendar), for the plausible-value rules; and whether rows must be complete.
    today: chrono::NaiveDate,
    complete_rows: bool,
    archives: Vec<(usize, Archive)>,
    errors: Vec<RowError>,
    total: usize,
    seen: usize,
    progress: &'a (dyn Fn(&Progress) + Send + Sync),
}

impl Rows for Collector<'_> {
    fn total(&mut self, n: usize) {
        self.total = n;
    }

    /// Takes the next row of the file (the first is the header); false to stop reading.
    fn push(&mut self, row: usize, cells: Vec<String>) -> bool {
        let Some(importer) = self.importer.as_mut() else {
            // The header row.
            match Importer::new(&cells) {
                Ok(i) => {
                    let i = i.on(self.today);
                    self.importer = Some(if self.complete_rows {
                        i.complete_rows()
                    } else {
                        i
                    });
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
}

impl Collector<'_> {
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
    today: chrono::NaiveDate,
    progress: &(dyn Fn(&Progress) + Send + Sync),
) -> Result<Vec<(usize, Archive)>, ImportFailure> {
    let file_error = |m: String| ImportFailure::Rejected(vec![RowError::new(0, "", m)]);
    check_file(Some(format), bytes).map_err(file_error)?;
    super::check_bounds(format, bytes).map_err(file_error)?;
    let mut c = Collector {
        importer: None,
        today,
        complete_rows: format == FileFormat::Csv,
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
