//! The API's import jobs: `POST /cylinders/import` records a job (a business record of kind
//! [`IMPORT_JOB`]) and imports in the background, writing progress and the outcome to the job.

use std::sync::Arc;
use std::time::Instant;

use cyltrace_domain::Role;
use cyltrace_domain::access::Action;
use cyltrace_store::{BizFilter, BizRecord, StoreError};
use serde_json::{Value, json};
use tokio::sync::watch;
use uuid::Uuid;

use super::{
    Bytes, FileFormat, IMPORT_JOB, ImportFailure, ImportRequest, JobState, MAX_REPORTED_ERRORS,
    Progress, ProgressFn, check_file, import_archives,
};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

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
