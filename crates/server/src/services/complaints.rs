//! Complaints from the public (E5, F3): made on the page behind a label against the cylinder's
//! enterprise, with up to three photos; decided by the regulator in scope (upheld ones count against
//! the enterprise's credit rating) with an answer (答复); read back by the person who complained with
//! the complaint code they were given.
//!
//! The code is a secret of the complainant: only a keyed hash of it (HMAC-SM3 under the node's
//! personal-data key) is stored, as the record's unique key, and a code is looked up through that
//! hash only, so a wrong code costs the same as a right one. Photos are content-addressed files
//! referenced from the record and served to the regulator in scope only.

use chrono::{DateTime, Utc};
use cyltrace_domain::CylinderCode;
use cyltrace_domain::ValidationErrors;
use cyltrace_domain::access::Action;
use cyltrace_domain::circulation::Phone;
use cyltrace_store::BizRecord;
use serde_json::{Value, json};
use uuid::Uuid;

use super::files::{self, Upload, check_photos};
use super::notices::{list, new_record, org_name, stamp, supervising, text_of};
use super::supervision::COMPLAINT;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The characters of a complaint code: digits and capitals without 0/O, 1/I/L (easily confused).
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Characters in a complaint code (31^8 ≈ 8.5 × 10^11 codes).
pub const CODE_LEN: usize = 8;
/// Characters a complaint's content may have.
const CONTENT_CHARS: std::ops::RangeInclusive<usize> = 5..=2000;
/// Characters an answer may have.
const ANSWER_MAX: usize = 2000;

/// A new complaint code.
fn new_code() -> String {
    (0..CODE_LEN)
        .map(|_| char::from(CODE_ALPHABET[rand::random_range(0..CODE_ALPHABET.len())]))
        .collect()
}

/// A code as a person typed it: capitals, without spaces and dashes (`abcd-efgh` → `ABCDEFGH`).
fn normalise(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

/// `ABCDEFGH` → `ABCD-EFGH`, as the code is shown.
pub fn display_code(code: &str) -> String {
    let (a, b) = code.split_at(code.len().min(CODE_LEN / 2));
    if b.is_empty() {
        a.to_owned()
    } else {
        format!("{a}-{b}")
    }
}

/// The stored key of a code: its keyed hash.
fn code_key(st: &AppState, code: &str) -> String {
    hex::encode(
        st.pii_key
            .mac(&[b"cyltrace complaint code v1", code.as_bytes()]),
    )
}

/// A complaint's state in Chinese.
pub fn complaint_state_zh(s: &str) -> &'static str {
    match s {
        "open" => "待处理",
        "upheld" => "属实",
        "rejected" => "不属实",
        _ => "—",
    }
}

/// A complaint as the regulator sees it (the phone masked).
pub struct Complaint {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub code: String,
    pub org: String,
    pub content: String,
    /// Masked, or `—` when none was given.
    pub phone: String,
    /// `open`, `upheld` or `rejected`.
    pub state: String,
    /// The verdict and when (`属实（2026-11-21 10:00）`).
    pub reply: String,
    /// The regulator's answer to the complainant.
    pub answer: String,
    /// How many photos came with it.
    pub photos: usize,
}

fn photos_of(r: &BizRecord) -> Vec<String> {
    r.body["photos"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn masked_phone(r: &BizRecord) -> String {
    Phone::parse(&text_of(r, "phone")).map_or_else(|_| "—".to_owned(), |p| p.masked())
}

async fn complaint_of(st: &AppState, r: &BizRecord) -> ApiResult<Complaint> {
    Ok(Complaint {
        id: r.id,
        created_at: r.created_at,
        code: text_of(r, "code"),
        org: org_name(st, r.org_id).await?,
        content: text_of(r, "content"),
        phone: masked_phone(r),
        state: r.state.clone(),
        reply: text_of(r, "reply"),
        answer: text_of(r, "answer"),
        photos: photos_of(r).len(),
    })
}

/// Complaints against the enterprises in the caller's scope, newest first.
pub async fn complaints(st: &AppState, p: &Principal) -> ApiResult<Vec<Complaint>> {
    p.require(Action::Read)?;
    let mut out = Vec::new();
    for r in list(st, COMPLAINT, Some(p.scope())).await? {
        out.push(complaint_of(st, &r).await?);
    }
    Ok(out)
}

/// A complaint the caller may decide: it exists and its enterprise is in the caller's scope.
async fn visible(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<BizRecord> {
    supervising(p)?;
    let r = st
        .store
        .get_biz(COMPLAINT, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("投诉不存在".to_owned()))?;
    if !p.sees(&r.org_path) {
        return Err(ApiError::Forbidden("该投诉不在您的辖区内".to_owned()));
    }
    Ok(r)
}

/// One complaint of the caller's region (regulators and the node admin).
pub async fn complaint(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<Complaint> {
    let r = visible(st, p, id).await?;
    complaint_of(st, &r).await
}

/// Photo `n` (from 0) of a complaint of the caller's region, and its media type.
pub async fn complaint_photo(
    st: &AppState,
    p: &Principal,
    id: Uuid,
    n: usize,
) -> ApiResult<(Vec<u8>, &'static str)> {
    let r = visible(st, p, id).await?;
    let reference = photos_of(&r)
        .into_iter()
        .nth(n)
        .ok_or_else(|| ApiError::NotFound("照片不存在".to_owned()))?;
    let bytes = files::read(st, &reference)
        .await
        .ok_or_else(|| ApiError::NotFound("照片不存在".to_owned()))?;
    let ct = files::media_type(&bytes);
    Ok((bytes, ct))
}

/// Decides a complaint: `upheld` or `rejected`, with the answer the complainant reads (optional
/// here; the console's form asks for it).
pub async fn answer_complaint(
    st: &AppState,
    p: &Principal,
    id: Uuid,
    verdict: &str,
    answer: &str,
) -> ApiResult<()> {
    supervising(p)?;
    let mut errs = ValidationErrors::default();
    if !matches!(verdict, "upheld" | "rejected") {
        errs.push("verdict", "请选择属实或不属实");
    }
    let answer = answer.trim();
    if answer.chars().count() > ANSWER_MAX {
        errs.push("answer", format!("答复不能超过 {ANSWER_MAX} 个字"));
    }
    errs.into_result(())?;
    let mut r = visible(st, p, id).await?;
    if r.state != "open" {
        return Err(ApiError::Conflict(
            "该投诉已处理，不能再次答复".to_owned(),
            vec![],
        ));
    }
    let expected = r.updated_at;
    let now = st.now();
    r.state = verdict.to_owned();
    r.body["reply"] = json!(format!("{}（{}）", complaint_state_zh(verdict), stamp(now)));
    r.body["answer"] = json!(answer);
    r.body["answered_at"] = json!(stamp(now));
    r.body["answered_by"] = json!(p.username);
    r.updated_at = now;
    if !st.store.update_biz(&r, expected).await? {
        return Err(ApiError::Conflict(
            "投诉已被他人处理，请刷新".to_owned(),
            vec![],
        ));
    }
    Ok(())
}

/// The cylinder a complaint form is for, and the enterprise the complaint goes to.
pub async fn complaint_target(st: &AppState, code: &str) -> ApiResult<(CylinderCode, Uuid)> {
    let c = super::parse_code(code)?;
    let rec = st
        .store
        .get_cylinder(&c)
        .await?
        .ok_or_else(|| ApiError::NotFound("气瓶不存在".to_owned()))?;
    let org = rec.archive.owner_org_id.unwrap_or(rec.org_id);
    Ok((c, org))
}

/// A complaint as stored: its id and the code the complainant reads its answer with.
pub struct Submitted {
    pub id: Uuid,
    pub code: String,
    pub photos: usize,
}

/// A complaint from the public (F3): recorded against the cylinder's enterprise for the regulator,
/// with its photos. Everything is judged before anything is stored: a refused content, phone or
/// photo is `Invalid` naming the field (`content`, `phone`, `photos`) and stores nothing.
pub async fn submit_complaint(
    st: &AppState,
    code: &CylinderCode,
    org: Uuid,
    content: &str,
    phone: Option<&str>,
    photos: &[Upload],
) -> ApiResult<Submitted> {
    let mut errs = ValidationErrors::default();
    let content = content.trim();
    if !CONTENT_CHARS.contains(&content.chars().count()) {
        errs.push("content", "内容应为 5–2000 个字");
    }
    let phone = phone.unwrap_or_default().trim().to_owned();
    if !phone.is_empty() && Phone::parse(&phone).is_err() {
        errs.push(
            "phone",
            "联系电话格式不正确（11 位手机号或带区号的固定电话）",
        );
    }
    check_photos("photos", photos, &mut errs);
    errs.into_result(())?;
    let bytes: Vec<Vec<u8>> = photos.iter().map(|p| p.bytes.clone()).collect();
    let refs = files::put_photos(st, org, None, &bytes).await?;
    // A fresh code is all but certainly unused; look anyway rather than fail on the unique key.
    let mut secret = new_code();
    while st
        .store
        .biz_by_key(COMPLAINT, &code_key(st, &secret))
        .await?
        .is_some()
    {
        secret = new_code();
    }
    let body = json!({"code": code.as_str(), "content": content, "phone": phone, "photos": refs});
    let mut r = new_record(st, COMPLAINT, org, "open", body);
    r.key = Some(code_key(st, &secret));
    st.store.insert_biz(&r).await?;
    Ok(Submitted {
        id: r.id,
        code: secret,
        photos: refs.len(),
    })
}

/// What the person who complained reads with their code.
pub struct ComplaintStatus {
    /// The complaint code, as shown (`ABCD-EFGH`).
    pub code: String,
    pub cylinder: String,
    pub created_at: DateTime<Utc>,
    pub content: String,
    pub photos: usize,
    pub state: String,
    pub answer: String,
    pub answered_at: String,
}

/// The complaint with code `code` (as typed: case, spaces and dashes do not matter). A wrong code
/// is `NotFound`, answered through the same hash lookup as a right one.
pub async fn complaint_by_code(st: &AppState, code: &str) -> ApiResult<ComplaintStatus> {
    let code = normalise(code);
    let r = st
        .store
        .biz_by_key(COMPLAINT, &code_key(st, &code))
        .await?
        .ok_or_else(|| ApiError::NotFound("没有这个投诉编号，请核对后重新输入".to_owned()))?;
    Ok(ComplaintStatus {
        code: display_code(&code),
        cylinder: text_of(&r, "code"),
        created_at: r.created_at,
        content: text_of(&r, "content"),
        photos: photos_of(&r).len(),
        state: r.state.clone(),
        answer: text_of(&r, "answer"),
        answered_at: text_of(&r, "answered_at"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unambiguous_and_typed_forgivingly() {
        for _ in 0..200 {
            let c = new_code();
            assert_eq!(c.len(), CODE_LEN);
            assert!(
                c.bytes().all(|b| CODE_ALPHABET.contains(&b)),
                "{c} uses only the alphabet"
            );
            assert!(!c.contains(['0', 'O', '1', 'I', 'L']), "{c}");
        }
        assert_eq!(normalise(" abcd-efgh "), "ABCDEFGH");
        assert_eq!(normalise("AB CD EF GH"), "ABCDEFGH");
        assert_eq!(display_code("ABCDEFGH"), "ABCD-EFGH");
    }
}
