//! Use cases. Each parses input into domain types, checks role and data scope, asks the domain to
//! decide, and has the store remember — in one transaction where it writes. The web layer calls only
//! these; each area is a module (or a directory of modules) of its own:
//!
//! - `auth` (logins, tokens, the second step of a login), `accounts` (deactivation, passwords, the
//!   TOTP second factor), `orgs` (organisations, sites, users), `cylinders` (archives),
//!   `events` (the event write path `record_events`), `audit` (the audit log);
//! - `filling` (filling control and its records), `circulation/` (transport, customers, orders,
//!   household checks, stock, the flow table, scan-to-act and the circulation guards), `labels`,
//!   `inspection`, `registry` (factory documents, vehicle cylinders), `archives/` (import, export);
//! - `overview` (the enterprise console's figures), `supervision` (the regulator's figures),
//!   `permissions` (entrusted filling, B9), `notices` (messages, articles), `complaints`
//!   (complaints from the public, with photos and codes), `public` (the phone page),
//!   `public_requests` (gas ordered from it), `ps/` (the `/PS` interface's receiving side),
//!   `ledger` (key, signer, proofs), `node` (readiness and status);
//! - shared helpers: `calendar` (China calendar days), `files` (content-addressed files), `pdf`.
//!
//! Services never see HTTP: they take the caller's `Principal` and parsed input, check the role and
//! data scope themselves, and answer records or typed views (`Serialize`, so the API sends them as
//! they are). The store is reached from here only.

use chrono::Duration;
use cyltrace_domain::ValidationErrors;
use cyltrace_store::Page;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// Most archives accepted in one `POST /cylinders`, and events in one `POST /events`.
pub const MAX_CYLINDERS_PER_REQUEST: usize = 10_000;
pub const MAX_EVENTS_PER_REQUEST: usize = 1_000;
/// How far in the future an event's time may lie (clock skew of handhelds).
pub const MAX_FUTURE_SKEW: Duration = Duration::minutes(5);

pub mod accounts;
pub mod archives;
pub mod audit;
pub mod auth;
pub mod calendar;
pub mod circulation;
pub mod complaints;
pub mod cylinders;
pub mod devices;
pub mod events;
pub mod files;
pub mod filling;
pub mod inspection;
pub mod labels;
pub mod ledger;
pub mod node;
pub mod notices;
pub mod orgs;
pub mod overview;
pub mod pdf;
pub mod permissions;
pub mod ps;
pub mod public;
pub mod public_requests;
pub mod registry;
pub mod supervision;
pub mod workshop;

pub use audit::{AuditQuery, list_audit};
pub use auth::{LoginInput, authenticate, login, login_for, logout};
pub use cylinders::{create_cylinders, cylinder_events, get_cylinder, parse_code};
pub use events::{get_event, record_events};
pub use orgs::{
    NewUserInput, bootstrap_admin, check_username, create_org, create_site, create_user, get_org,
    get_site, get_user,
};

/// An id as a path gives it: one that does not parse names nothing that exists (404 "{what}不存在").
pub fn parse_id(s: &str, what: &str) -> ApiResult<uuid::Uuid> {
    uuid::Uuid::parse_str(s).map_err(|_| ApiError::NotFound(format!("{what}不存在")))
}

/// Validated paging: limit 1–500 (default 50), offset ≥ 0.
pub fn page(limit: Option<i64>, offset: Option<i64>, errs: &mut ValidationErrors) -> Page {
    let limit = limit.unwrap_or(50);
    let offset = offset.unwrap_or(0);
    if !(1..=500).contains(&limit) {
        errs.push("limit", "每页条数应在 1 到 500 之间");
    }
    if offset < 0 {
        errs.push("offset", "偏移量不能为负数");
    }
    Page { limit, offset }
}

/// The list under `key` of a `{key: [...]}` body, with nothing else in the object.
pub(crate) fn envelope<'a>(body: &'a Value, key: &str, max: usize) -> ApiResult<&'a Vec<Value>> {
    let obj = body.as_object().ok_or_else(|| {
        ApiError::invalid("", format!("请求体应为 JSON 对象 {{\"{key}\": [...]}}"))
    })?;
    if let Some(other) = obj.keys().find(|k| k.as_str() != key) {
        return Err(ApiError::invalid(other.clone(), "不允许的字段（未知字段）"));
    }
    let list = obj
        .get(key)
        .ok_or_else(|| ApiError::invalid(key, "缺少必填字段"))?
        .as_array()
        .ok_or_else(|| ApiError::invalid(key, "类型错误：应为 数组"))?;
    if list.is_empty() {
        return Err(ApiError::invalid(key, "至少需要一条记录"));
    }
    if list.len() > max {
        return Err(ApiError::invalid(key, format!("一次最多提交 {max} 条")));
    }
    Ok(list)
}
