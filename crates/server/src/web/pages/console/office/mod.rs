//! The enterprise office's forms (issue 17): every daily record the JSON API takes, through a page.
//! Each page lists its records (filters and paging where the service has them) with the form that
//! makes a new one; the form calls the very service function the API handler calls, so the
//! validation, the data scope and the audit are the API's. A refused form comes back filled in with
//! each reason next to its field; a stored one redirects with a note for the audit record.
//!
//! - `sites`: 站点仓库 (a new site; editing is `masterdata`);
//! - `customers`: 用户管理 (a new customer; a customer's page with deposits and real-name
//!   verification);
//! - `transport`: vehicles, drivers and escorts, waybills; `waybill`: a waybill's page, with the
//!   loads and unloads the floor did not scan;
//! - `batches`: 充装批次 (a new batch; a batch's page with its fills and counts, B5);
//! - `labels`: 标签号段 (a new block of label numbers, issuing from it, A5);
//! - `household`: 入户安检 (the checks with filters; one recorded from the office, C9).

use axum::response::Redirect;
use serde_json::{Map, Value, json};

use super::{MAX_PAGE_NO, PAGE_ROWS};
use crate::error::ApiError;
use crate::web::middleware::noted;
use crate::web::pages::kit::{Block, FormFailure, Page, PageError, PageResult, Pager};

pub(super) mod batches;
pub(super) mod customers;
pub(super) mod household;
pub(super) mod labels;
pub(super) mod sites;
pub(super) mod transport;
pub(super) mod waybill;

/// A posted form as it came: every `name=value` pair in order (a name may repeat, e.g. ticked
/// cylinders).
pub(super) struct Posted(pub Vec<(String, String)>);

impl Posted {
    /// The first value sent for `name` ("" when none).
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value sent for `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn csrf(&self) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == "_csrf")
            .map(|(_, v)| v.as_str())
    }

    /// What was sent, to fill the form in again (not the CSRF token).
    pub fn sent(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .filter(|(k, _)| k != "_csrf")
            .cloned()
            .collect()
    }

    /// The trimmed text of `name`, or JSON null when empty (an optional field left out).
    pub fn text(&self, name: &str) -> Value {
        let s = self.get(name).trim();
        if s.is_empty() { Value::Null } else { json!(s) }
    }

    /// The trimmed text of `name` as it is, even empty (a required field: the service says why).
    pub fn required(&self, name: &str) -> Value {
        json!(self.get(name).trim())
    }

    /// A number field: null when empty, a number when it is one, else the text as sent (so that
    /// the service names the field and the type it wants).
    pub fn number(&self, name: &str) -> Value {
        let s = self.get(name).trim();
        if s.is_empty() {
            Value::Null
        } else if let Ok(n) = s.parse::<i64>() {
            json!(n)
        } else if let Ok(x) = s.parse::<f64>() {
            json!(x)
        } else {
            json!(s)
        }
    }
}

/// A JSON object of the given members, the null ones left out (optional fields not filled in).
pub(super) fn object(members: Vec<(&str, Value)>) -> Value {
    Value::Object(
        members
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<Map<String, Value>>(),
    )
}

/// The answer to a posted form: a redirect to `to` (the audit row gets `note`) when the service
/// stored it, else the page again (`page`) with the form posted to `action` filled in as `sent`
/// and each reason next to its field. `adjust` may move reasons to the fields the form has.
pub(super) async fn finish<T>(
    result: Result<T, ApiError>,
    action: &str,
    sent: Vec<(String, String)>,
    done: impl FnOnce(&T) -> (String, String),
    adjust: impl FnOnce(FormFailure) -> FormFailure,
    page: impl AsyncFnOnce() -> Result<Page, PageError>,
) -> PageResult {
    match result {
        Ok(r) => {
            let (to, note) = done(&r);
            Ok(noted(Redirect::to(&to), note))
        }
        Err(e) => {
            let failure = adjust(FormFailure::of(action, sent, e)?);
            page().await?.refused(failure)
        }
    }
}

/// Reasons about `from` (and its members, `from[0].x`) shown next to the form's field `to`.
pub(super) fn rename(mut failure: FormFailure, from: &str, to: &str) -> FormFailure {
    for e in &mut failure.errors {
        if e.field == from || e.field.starts_with(&format!("{from}[")) {
            e.field = to.to_owned();
        }
    }
    failure
}

/// The number (from 0) of the page of a list asked for.
pub(super) fn page_no(page: Option<i64>) -> i64 {
    page.unwrap_or(0).clamp(0, MAX_PAGE_NO as i64)
}

/// The offset of page `n` of a list.
pub(super) fn offset(n: i64) -> i64 {
    n * PAGE_ROWS as i64
}

/// Previous / next links of page `n` of a list whose total is not counted: there is a next page
/// when this one came back full. `params` are the list's filters, kept on every link.
pub(super) fn pager(action: &str, params: &[(&str, &str)], n: i64, shown: usize) -> Pager {
    let link = |p: i64| {
        let mut pairs: Vec<(&str, String)> = params
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (*k, (*v).to_owned()))
            .collect();
        pairs.push(("page", p.to_string()));
        format!(
            "{action}?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    };
    Pager {
        prev: if n > 0 { link(n - 1) } else { String::new() },
        next: if shown >= PAGE_ROWS && n < MAX_PAGE_NO as i64 {
            link(n + 1)
        } else {
            String::new()
        },
        note: format!("第 {} 页", n + 1),
    }
}

/// The list, or — when there is nothing on its first page — what to do first.
pub(super) fn table_or(t: crate::web::pages::kit::Table, n: i64, empty: &str) -> Block {
    if t.rows.is_empty() && n == 0 {
        Block::Note(empty.to_owned())
    } else {
        Block::Table(t)
    }
}

/// A `datetime-local` value (China time, `YYYY-MM-DDTHH:MM[:SS]`) as RFC 3339; anything else as sent,
/// for the service to name.
pub(super) fn china_time(s: &str) -> Value {
    let s = s.trim();
    if s.is_empty() {
        return Value::Null;
    }
    match chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
    {
        Ok(t) => json!(format!("{}+08:00", t.format("%Y-%m-%dT%H:%M:%S"))),
        Err(_) => json!(s),
    }
}

/// Now in China time as a `datetime-local` value.
pub(super) fn china_now(now: chrono::DateTime<chrono::Utc>) -> String {
    now.with_timezone(&cyltrace_domain::time::cst())
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}
