//! The API's import jobs: `POST /cylinders/import` records a job (a business record of kind
//! [`IMPORT_JOB`] whose body is a [`JobDoc`]) and imports in the background, writing progress and the
//! outcome to the job.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use cyltrace_domain::Role;
use cyltrace_domain::access::Action;
use cyltrace_domain::import::RowError;
use cyltrace_store::{BizFilter, BizRecord, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::watch;
use uuid::Uuid;

use super::{
    Bytes, FileFormat, IMPORT_JOB, ImportFailure, ImportRequest, JobState, MAX_REPORTED_ERRORS,
    Progress, ProgressFn, check_bounds, check_file, import_archives,
};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// What an import job's record holds: the file, whom it is for, its progress and outcome. Every
/// field may be missing from a record (an older or partial one reads as it did before: `null`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JobDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<FileFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_org_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validated: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inserted: Option<usize>,
    /// The first [`MAX_REPORTED_ERRORS`] row errors of a refused file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<JobRowError>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_count: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// How long reading and validating took (the rest is the insert).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validated_ms: Option<u64>,
}

impl JobDoc {
    pub fn of(r: &BizRecord) -> ApiResult<JobDoc> {
        serde_json::from_value(r.body.clone())
            .map_err(|e| ApiError::Internal(format!("import job {}: {e}", r.id)))
    }
}

/// A refused cell, row or header of an import file, as a job keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobRowError {
    pub row: usize,
    pub column: String,
    pub message: String,
}

impl From<RowError> for JobRowError {
    fn from(e: RowError) -> Self {
        JobRowError {
            row: e.row,
            column: e.column,
            message: e.message,
        }
    }
}

/// An import job as `GET /imports/{id}` and the console show it (`null` for what the record lacks).
#[derive(Debug, Clone, Serialize)]
pub struct ImportJob {
    pub job_id: Uuid,
    pub state: String,
    pub format: Option<FileFormat>,
    pub owner_org_id: Option<Uuid>,
    pub total: Option<usize>,
    pub validated: Option<usize>,
    pub inserted: Option<usize>,
    pub errors: Option<Vec<JobRowError>>,
    pub error_count: Option<usize>,
    pub message: Option<String>,
    pub duration_ms: Option<u64>,
    pub validated_ms: Option<u64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ImportJob {
    pub fn of(r: &BizRecord) -> ApiResult<ImportJob> {
        let d = JobDoc::of(r)?;
        Ok(ImportJob {
            job_id: r.id,
            state: r.state.clone(),
            format: d.format,
            owner_org_id: d.owner_org_id,
            total: d.total,
            validated: d.validated,
            inserted: d.inserted,
            errors: d.errors,
            error_count: d.error_count,
            message: d.message,
            duration_ms: d.duration_ms,
            validated_ms: d.validated_ms,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }

    /// Whether the job is still running (the console page reloads itself until it ends).
    pub fn running(&self) -> bool {
        matches!(self.state.as_str(), "validating" | "importing")
    }
}

/// A job being run: its record and its document (written into the record when saved).
struct Job {
    record: BizRecord,
    doc: JobDoc,
}

/// Starts an import job for `POST /cylinders/import`: checks role, file type and owner at once (an
/// error here is the answer), records the job, and validates and imports in the background.
pub async fn start_import(
    st: &AppState,
    p: &Principal,
    format: Option<&str>,
    org_id: Option<&str>,
    bytes: Bytes,
) -> ApiResult<ImportJob> {
    p.require(Action::WriteCylinders)?;
    let format = format
        .map(FileFormat::parse)
        .transpose()
        .map_err(|m| ApiError::invalid("format", m))?;
    let format = check_file(format, &bytes).map_err(|m| ApiError::invalid("file", m))?;
    // Refused now, with the reason, rather than by the job: a file that would inflate past the
    // bounds is never read (an xlsx is inflated once, into nothing, off the async threads).
    let probe = bytes.clone();
    tokio::task::spawn_blocking(move || check_bounds(format, &probe))
        .await
        .map_err(|e| ApiError::Internal(format!("checking an import file: {e}")))?
        .map_err(|m| ApiError::invalid("file", m))?;
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
    let doc = JobDoc {
        format: Some(format),
        bytes: Some(bytes.len()),
        owner_org_id: Some(owner.id),
        created_by: Some(p.username.clone()),
        total: Some(0),
        validated: Some(0),
        inserted: Some(0),
        errors: Some(Vec::new()),
        error_count: Some(0),
        ..JobDoc::default()
    };
    let job = BizRecord {
        id: Uuid::new_v4(),
        kind: IMPORT_JOB.to_owned(),
        org_id: owner.id,
        org_path: owner.path.clone(),
        key: None,
        ref_id: None,
        state: JobState::Validating.as_str().to_owned(),
        due: None,
        body: json!(doc),
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
    let view = ImportJob::of(&job)?;
    tokio::spawn(run_job(st.clone(), Job { record: job, doc }, req));
    Ok(view)
}

/// The background half of an import job: progress goes to the job record as it comes (at most one
/// write at a time, the latest report winning), then the outcome.
async fn run_job(st: AppState, job: Job, req: ImportRequest) {
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
    job.doc.duration_ms = Some(ms);
    let id = job.record.id;
    match outcome {
        Ok(n) => {
            job.record.state = JobState::Done.as_str().to_owned();
            job.doc.inserted = Some(n);
            job.doc.validated = job.doc.total;
            job.doc.message = Some(format!("已导入 {n} 条气瓶档案"));
            tracing::info!(job = %id, inserted = n, ms, "archive import done");
        }
        Err(ImportFailure::Rejected(errors)) => {
            job.record.state = JobState::Failed.as_str().to_owned();
            job.doc.error_count = Some(errors.len());
            job.doc.message = Some(format!(
                "文件未通过校验：共 {} 处错误，未导入任何数据",
                errors.len()
            ));
            job.doc.errors = Some(
                errors
                    .into_iter()
                    .take(MAX_REPORTED_ERRORS)
                    .map(JobRowError::from)
                    .collect(),
            );
            tracing::info!(job = %id, ms, "archive import refused");
        }
        Err(ImportFailure::Internal(e)) => {
            tracing::error!(job = %id, error = %e, "archive import failed");
            job.record.state = JobState::Failed.as_str().to_owned();
            job.doc.message = Some("服务器内部错误，导入未完成，未导入任何数据".to_owned());
        }
    }
    if let Err(e) = save(&st, &mut job).await {
        tracing::error!(job = %id, error = %e, "import job outcome could not be recorded");
    }
    let detail = format!(
        "import job {id} {}: {}",
        job.record.state,
        job.doc.message.as_deref().unwrap_or("")
    );
    crate::services::audit::system(&st, "archives/import", detail).await;
}

async fn write_progress(
    st: AppState,
    mut job: Job,
    mut rx: watch::Receiver<Option<Progress>>,
    started: Instant,
) -> Job {
    while rx.changed().await.is_ok() {
        let Some(p) = *rx.borrow_and_update() else {
            continue;
        };
        if p.state == JobState::Importing && job.record.state != p.state.as_str() {
            // How long reading and validating took (the rest is the insert).
            job.doc.validated_ms = Some(started.elapsed().as_millis() as u64);
        }
        job.record.state = p.state.as_str().to_owned();
        job.doc.total = Some(p.total);
        job.doc.validated = Some(p.validated);
        job.doc.inserted = Some(p.inserted);
        if let Err(e) = save(&st, &mut job).await {
            tracing::warn!(job = %job.record.id, error = %e, "import progress not recorded");
        }
    }
    job
}

/// Writes the job record with its document (only its own task writes it).
async fn save(st: &AppState, job: &mut Job) -> Result<(), StoreError> {
    let r = &mut job.record;
    r.body = json!(job.doc);
    let expected = r.updated_at;
    r.updated_at = st.now().max(expected + chrono::Duration::microseconds(1));
    if !st.store.update_biz(r, expected).await? {
        tracing::warn!(job = %r.id, "import job record changed under its task");
    }
    Ok(())
}

/// An import job the caller sees.
pub async fn get_import(st: &AppState, p: &Principal, id: &str) -> ApiResult<ImportJob> {
    p.require(Action::Read)?;
    let id =
        Uuid::parse_str(id.trim()).map_err(|_| ApiError::NotFound("导入任务不存在".to_owned()))?;
    let r = super::circulation::visible_record(st, p, IMPORT_JOB, id, "导入任务").await?;
    ImportJob::of(&r)
}

/// The newest `limit` import jobs of the organisations in the caller's scope.
pub async fn recent_jobs(st: &AppState, p: &Principal, limit: i64) -> ApiResult<Vec<ImportJob>> {
    p.require(Action::Read)?;
    let jobs = st
        .store
        .list_biz(&BizFilter {
            kind: IMPORT_JOB.to_owned(),
            scope: Some(p.scope()),
            limit,
            ..Default::default()
        })
        .await?;
    jobs.iter().map(ImportJob::of).collect()
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
            let message = if state == JobState::Validating {
                "服务重启，导入在校验阶段中断，未导入任何数据，请重新导入"
            } else {
                "服务重启，导入在写入阶段中断：档案是一次性整体写入的，请查询档案确认，未写入时请重新导入"
            };
            match JobDoc::of(&job) {
                Ok(mut doc) => {
                    doc.message = Some(message.to_owned());
                    job.body = json!(doc);
                }
                Err(e) => {
                    tracing::error!(job = %job.id, error = %e, "import job record unreadable")
                }
            }
            job.updated_at = st.now().max(expected + chrono::Duration::microseconds(1));
            if st.store.update_biz(&job, expected).await? {
                n += 1;
            }
        }
    }
    Ok(n)
}
