//! Labels (A4, A5, A7, A8): label numbers issued in medium blocks with issuance records, the
//! anti-counterfeit signature every QR URL carries, and label rendering — QR (SVG, PNG), Code128 of the
//! 10 digits, and a printable SVG label with the enterprise name and medium in Chinese.
//!
//! The QR content is `<public_url>/Q?id=<6-digit region><10-digit code>&s=<signature>`, where the
//! signature is the first 8 bytes (16 hex digits) of HMAC-SM3 over the 16 digits under a key derived
//! from the node's secret. A copied code with a missing or forged signature is "not genuine": the
//! public page, the handheld's check and fill-control all say so.

use cyltrace_domain::access::Action;
use cyltrace_domain::parse::from_value;
use cyltrace_domain::{CylinderCode, QrId, RegionCode, Text};
use cyltrace_store::{BizFilter, BizRecord, CylinderRecord, Scope, StoreError};
use qrcode::{EcLevel, QrCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub const LABEL_BLOCK: &str = "label_block";
pub const LABEL_ISSUE: &str = "label_issue";

/// Hex digits of the signature in a label URL (64 bits: forging one takes ~2^63 online guesses).
const SIGNATURE_HEX: usize = 16;

// ---------------------------------------------------------------------------------------------
// Signatures

/// The signature of a label's 16 digits.
pub fn signature(st: &AppState, qr: &QrId) -> String {
    let mac = st
        .pii_key
        .mac(&[b"cyltrace label v1", qr.digits().as_bytes()]);
    hex::encode_upper(&mac[..SIGNATURE_HEX / 2])
}

/// The URL the label's QR code carries.
pub fn label_url(st: &AppState, qr: &QrId) -> String {
    format!(
        "{}/Q?id={}&s={}",
        st.config.public_url.trim_end_matches('/'),
        qr.digits(),
        signature(st, qr)
    )
}

/// What a scanned label says about itself.
#[derive(Debug, Clone, Serialize)]
pub struct LabelCheck {
    pub qr_id: Option<String>,
    pub code: Option<String>,
    pub genuine: bool,
    /// Why it is not genuine (Chinese).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Checks a scanned label: the full URL (or `id=…&s=…`), or the 16 digits with `sig` given apart.
pub fn check(st: &AppState, scanned: &str, sig: Option<&str>) -> LabelCheck {
    let qr = match QrId::parse(scanned) {
        Ok(q) => q,
        Err(e) => {
            return LabelCheck {
                qr_id: None,
                code: None,
                genuine: false,
                reason: Some(e),
            };
        }
    };
    let given = sig
        .map(str::to_owned)
        .or_else(|| QrId::signature_in(scanned).map(str::to_owned));
    let reason = match given.as_deref().map(str::trim) {
        None | Some("") => Some("标签缺少防伪签名，非本平台签发的标签".to_owned()),
        Some(s) if !s.eq_ignore_ascii_case(&signature(st, &qr)) => {
            Some("标签防伪签名不符，标签非正品".to_owned())
        }
        Some(_) => None,
    };
    LabelCheck {
        qr_id: Some(qr.digits()),
        code: Some(qr.code.as_str().to_owned()),
        genuine: reason.is_none(),
        reason,
    }
}

/// The QR id of a cylinder: the archive's region, else its owner's.
pub async fn qr_of(st: &AppState, c: &CylinderRecord) -> ApiResult<QrId> {
    let region = match c.archive.region_code {
        Some(r) => r,
        None => match st
            .store
            .get_org(c.archive.owner_org_id.unwrap_or(c.org_id))
            .await?
        {
            Some(o) => o.region_code,
            None => RegionCode::parse(&st.config.node_region)
                .map_err(|e| ApiError::Internal(format!("node_region: {e}")))?,
        },
    };
    Ok(QrId {
        region,
        code: c.archive.code.clone(),
    })
}

// ---------------------------------------------------------------------------------------------
// Rendering

fn qr_code(url: &str) -> ApiResult<QrCode> {
    QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M)
        .map_err(|e| ApiError::Internal(format!("QR encoding: {e}")))
}

/// The QR code alone as SVG.
pub fn qr_svg(url: &str) -> ApiResult<String> {
    Ok(qr_code(url)?
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build())
}

/// The QR code as a greyscale PNG, `scale` pixels per module, with the 4-module quiet zone.
pub fn qr_png(url: &str, scale: u32) -> ApiResult<Vec<u8>> {
    let code = qr_code(url)?;
    let n = code.width() as u32;
    let colors = code.to_colors();
    let quiet = 4;
    let side = (n + 2 * quiet) * scale;
    let mut pixels = vec![255u8; (side * side) as usize];
    for (i, c) in colors.iter().enumerate() {
        if *c != qrcode::Color::Dark {
            continue;
        }
        let (mx, my) = (i as u32 % n + quiet, i as u32 / n + quiet);
        for y in my * scale..(my + 1) * scale {
            let row = (y * side) as usize;
            pixels[row + (mx * scale) as usize..row + ((mx + 1) * scale) as usize].fill(0);
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, side, side);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc
            .write_header()
            .map_err(|e| ApiError::Internal(format!("PNG: {e}")))?;
        w.write_image_data(&pixels)
            .map_err(|e| ApiError::Internal(format!("PNG: {e}")))?;
    }
    Ok(out)
}

/// Code128 (set C) of the 10 digits as SVG bars, `height` units tall.
pub fn code128_svg(code: &CylinderCode, height: u32) -> ApiResult<String> {
    let bc = barcoders::sym::code128::Code128::new(format!("Ć{}", code.as_str()))
        .map_err(|e| ApiError::Internal(format!("Code128: {e}")))?;
    barcoders::generators::svg::SVG::new(height)
        .generate(&bc.encode()[..])
        .map_err(|e| ApiError::Internal(format!("Code128 SVG: {e}")))
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Places a standalone SVG document inside another at (x, y) with the given size.
fn nested(svg: &str, x: u32, y: u32, w: u32, h: u32) -> String {
    let body = svg.trim_start();
    let body = body
        .strip_prefix("<?xml")
        .and_then(|r| r.split_once("?>").map(|(_, rest)| rest.trim_start()))
        .unwrap_or(body);
    body.replacen(
        "<svg",
        &format!(
            r#"<svg x="{x}" y="{y}" width="{w}" height="{h}" preserveAspectRatio="xMidYMid meet""#
        ),
        1,
    )
}

/// A printable label (60 mm × 40 mm): QR code, enterprise name and medium in Chinese, the 10 digits
/// and their Code128 barcode.
pub fn label_svg(
    url: &str,
    code: &CylinderCode,
    enterprise: &str,
    medium: &str,
) -> ApiResult<String> {
    let qr = qr_svg(url)?;
    let bars = code128_svg(code, 60)?;
    let digits: String = code.as_str().chars().collect();
    Ok(format!(
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="60mm" height="40mm" viewBox="0 0 600 400">
<rect width="600" height="400" fill="#fff" stroke="#000" stroke-width="2"/>
{qr}
<g font-family="Noto Sans CJK SC, Source Han Sans SC, WenQuanYi Zen Hei, sans-serif" fill="#000">
<text x="280" y="60" font-size="30" font-weight="bold">{enterprise}</text>
<text x="280" y="110" font-size="28">充装介质：{medium}</text>
<text x="280" y="160" font-size="28">气瓶编码：{digits}</text>
<text x="280" y="205" font-size="22">扫码查验 · 一瓶一码</text>
</g>
{bars}
</svg>
"##,
        qr = nested(&qr, 10, 10, 260, 260),
        bars = nested(&bars, 40, 290, 520, 100),
        enterprise = xml_escape(enterprise),
        medium = xml_escape(medium),
    ))
}

/// A cylinder in the caller's scope with its label URL, enterprise name and medium.
pub async fn label_of(
    st: &AppState,
    p: &Principal,
    code: &str,
) -> ApiResult<(CylinderRecord, String, String, String)> {
    let c = super::get_cylinder(st, p, code).await?;
    if c.status.label == cyltrace_domain::LabelStatus::Void {
        return Err(ApiError::invalid(
            "code",
            "该气瓶标签已作废（报废气瓶的标签不再打印）",
        ));
    }
    let qr = qr_of(st, &c).await?;
    let owner = st
        .store
        .get_org(c.archive.owner_org_id.unwrap_or(c.org_id))
        .await?
        .map_or_else(String::new, |o| o.name);
    let medium = c
        .archive
        .medium
        .as_ref()
        .map_or_else(|| "未登记".to_owned(), |m| m.as_str().to_owned());
    let url = label_url(st, &qr);
    Ok((c, url, owner, medium))
}

// ---------------------------------------------------------------------------------------------
// Blocks and issuance (A4, A5)

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBlock {
    medium: Text,
    /// The first five digits of every label number in the block (e.g. `01101` for oxygen).
    prefix: String,
    #[serde(default)]
    org_id: Option<Uuid>,
}

/// Reserves a block of label numbers for a medium: `prefix` + a five-digit sequence.
pub async fn create_block(st: &AppState, p: &Principal, body: &Value) -> ApiResult<BizRecord> {
    p.require(Action::WriteCylinders)?;
    let b: NewBlock = from_value(body, "")?;
    if b.prefix.len() != 5 || !b.prefix.bytes().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::invalid("prefix", "号段前缀应为 5 位数字"));
    }
    let org_id = b.org_id.unwrap_or(p.org_id);
    let org = st
        .store
        .get_org(org_id)
        .await?
        .ok_or_else(|| ApiError::invalid("org_id", "机构不存在"))?;
    p.require_scope(&org.path, "该机构")?;
    let now = st.now();
    let r = BizRecord {
        id: Uuid::new_v4(),
        kind: LABEL_BLOCK.to_owned(),
        org_id,
        org_path: String::new(),
        key: Some(b.prefix.clone()),
        ref_id: None,
        state: "active".to_owned(),
        due: None,
        body: json!({"medium": b.medium, "prefix": b.prefix, "next": 1, "issued": 0}),
        created_at: now,
        updated_at: now,
    };
    match st.store.insert_biz(&r).await {
        Err(StoreError::Conflict(_)) => Err(ApiError::Conflict(
            format!("号段 {} 已分配", b.prefix),
            vec![cyltrace_domain::FieldError::new("prefix", "号段已分配")],
        )),
        other => other.map(|()| r).map_err(Into::into),
    }
}

/// Issues `count` consecutive label numbers from a block (发卡) and records the issuance.
pub async fn issue(
    st: &AppState,
    p: &Principal,
    block: Uuid,
    body: &Value,
) -> ApiResult<(BizRecord, Vec<String>)> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Issue {
        count: u32,
    }
    p.require(Action::WriteCylinders)?;
    let i: Issue = from_value(body, "")?;
    if !(1..=10_000).contains(&i.count) {
        return Err(ApiError::invalid("count", "每次发卡数量应为 1–10000"));
    }
    for _ in 0..5 {
        let mut b = st
            .store
            .get_biz(LABEL_BLOCK, block)
            .await?
            .ok_or_else(|| ApiError::NotFound("号段不存在".to_owned()))?;
        p.require_scope(&b.org_path, "该号段")?;
        let next = b.body["next"].as_u64().unwrap_or(1) as u32;
        let last = next + i.count - 1;
        if last > 99_999 {
            return Err(ApiError::invalid(
                "count",
                format!("号段剩余 {} 个号码，不足 {} 个", 100_000 - next, i.count),
            ));
        }
        let prefix = b.body["prefix"].as_str().unwrap_or_default().to_owned();
        let expected = b.updated_at;
        b.body["next"] = json!(last + 1);
        b.body["issued"] = json!(b.body["issued"].as_u64().unwrap_or(0) + u64::from(i.count));
        b.updated_at = st.now().max(expected + chrono::Duration::microseconds(1));
        if !st.store.update_biz(&b, expected).await? {
            continue; // issued by someone else meanwhile: read again
        }
        let codes: Vec<String> = (next..=last).map(|n| format!("{prefix}{n:05}")).collect();
        let now = st.now();
        let rec = BizRecord {
            id: Uuid::new_v4(),
            kind: LABEL_ISSUE.to_owned(),
            org_id: b.org_id,
            org_path: String::new(),
            key: None,
            ref_id: Some(block),
            state: "issued".to_owned(),
            due: None,
            body: json!({"block_id": block, "medium": b.body["medium"], "from": codes[0],
                         "to": codes[codes.len() - 1], "count": i.count, "by": p.user_id}),
            created_at: now,
            updated_at: now,
        };
        st.store.insert_biz(&rec).await?;
        return Ok((rec, codes));
    }
    Err(ApiError::Conflict(
        "号段正被同时发卡，请重试".to_owned(),
        vec![],
    ))
}

/// Issuance per organisation in scope (A5): labels issued, cylinders archived, cylinders with a bound
/// label (a `tag_bind` recorded) and the issuance rate (bound ÷ archived).
/// One organisation's issuance: labels issued, cylinders archived and with a bound label, the rate.
#[derive(Debug, Clone, Serialize)]
pub struct IssuanceRow {
    pub org_id: Uuid,
    pub org_name: Option<String>,
    pub issued: u64,
    pub archived: u64,
    pub bound: u64,
    /// bound ÷ archived, to four decimals.
    pub rate: f64,
}

pub async fn issuance(st: &AppState, p: &Principal) -> ApiResult<Vec<IssuanceRow>> {
    p.require(Action::Read)?;
    let scope = p.scope();
    let mut per_org: std::collections::BTreeMap<Uuid, (u64, u64, u64)> = Default::default();
    let issues = st
        .store
        .list_biz(&BizFilter {
            kind: LABEL_ISSUE.to_owned(),
            scope: Some(scope.clone()),
            limit: 100_000,
            ..Default::default()
        })
        .await?;
    for r in &issues {
        per_org.entry(r.org_id).or_default().0 += r.body["count"].as_u64().unwrap_or(0);
    }
    let mut offset = 0;
    loop {
        let page = st
            .store
            .list_cylinders(
                &scope,
                cyltrace_store::Page {
                    limit: 1000,
                    offset,
                },
            )
            .await?;
        for c in &page {
            let e = per_org.entry(c.org_id).or_default();
            e.1 += 1;
            if c.status.tag_bound {
                e.2 += 1;
            }
        }
        if page.len() < 1000 {
            break;
        }
        offset += 1000;
    }
    let mut out = Vec::new();
    for (org, (issued, archived, bound)) in per_org {
        let name = st.store.get_org(org).await?.map(|o| o.name);
        let rate = if archived == 0 {
            0.0
        } else {
            bound as f64 / archived as f64
        };
        out.push(IssuanceRow {
            org_id: org,
            org_name: name,
            issued,
            archived,
            bound,
            rate: (rate * 10_000.0).round() / 10_000.0,
        });
    }
    Ok(out)
}

/// A scanned label checked, and what the public sees of its cylinder when it is genuine.
pub async fn lookup(
    st: &AppState,
    scanned: &str,
    sig: Option<&str>,
) -> ApiResult<(LabelCheck, Option<super::public::PublicCylinder>)> {
    let check = check(st, scanned, sig);
    let cylinder = match (&check.code, check.genuine) {
        (Some(code), true) => Some(super::public::cylinder(st, code).await?),
        _ => None,
    };
    Ok((check, cylinder))
}

/// The handheld's check of a scanned label (`{"label": …}`): [`lookup`] for a signed-in caller.
pub async fn verify(
    st: &AppState,
    p: &Principal,
    body: &Value,
) -> ApiResult<(LabelCheck, Option<super::public::PublicCylinder>)> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Scanned {
        label: String,
    }
    p.require(Action::Read)?;
    let s: Scanned = from_value(body, "")?;
    lookup(st, &s.label, None).await
}

/// Label number blocks of the organisations in the caller's scope.
pub async fn blocks(st: &AppState, p: &Principal) -> ApiResult<Vec<BizRecord>> {
    p.require(Action::Read)?;
    Ok(st
        .store
        .list_biz(&list_filter(LABEL_BLOCK, p.scope()))
        .await?)
}

/// Issuance records (发卡) of the organisations in the caller's scope.
pub async fn issues(st: &AppState, p: &Principal) -> ApiResult<Vec<BizRecord>> {
    p.require(Action::Read)?;
    Ok(st
        .store
        .list_biz(&list_filter(LABEL_ISSUE, p.scope()))
        .await?)
}

/// What a label block record holds (`create_block`, advanced by `issue`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlockDoc {
    pub medium: String,
    pub prefix: String,
    pub next: u64,
    pub issued: u64,
}

impl BlockDoc {
    pub fn of(r: &BizRecord) -> ApiResult<BlockDoc> {
        serde_json::from_value(r.body.clone())
            .map_err(|e| ApiError::Internal(format!("label block {}: {e}", r.id)))
    }
}

/// The scope a list of blocks or issuances is read in.
pub fn list_filter(kind: &str, scope: Scope) -> BizFilter {
    BizFilter {
        kind: kind.to_owned(),
        scope: Some(scope),
        limit: 1000,
        ..Default::default()
    }
}

/// Validation error for a label scanned at fill-control (A8).
pub fn scanned_refusal(st: &AppState, scanned: &str, code: &CylinderCode) -> Option<String> {
    let c = check(st, scanned, None);
    if c.code.as_deref().is_some_and(|c| c != code.as_str()) {
        return Some("扫描的标签与气瓶编码不一致".to_owned());
    }
    c.reason
}

/// A printable A4 sheet of labels (2 × 5, 90 × 50 mm cells): QR code, enterprise, medium, the digits
/// and their Code128 bars, for the cylinders `codes` in the caller's scope.
pub async fn sheet(st: &AppState, p: &Principal, codes: &[String]) -> ApiResult<Vec<u8>> {
    if codes.is_empty() || codes.len() > 500 {
        return Err(ApiError::invalid("codes", "每次打印 1–500 个标签"));
    }
    struct Cell {
        modules: Vec<bool>,
        width: usize,
        bars: Vec<u8>,
        code: String,
        owner: String,
        medium: String,
    }
    let mut cells = Vec::with_capacity(codes.len());
    for (i, code) in codes.iter().enumerate() {
        let (c, url, owner, medium) = label_of(st, p, code).await.map_err(|e| match e {
            ApiError::Invalid(errs) => ApiError::Invalid(cyltrace_domain::ValidationErrors(
                errs.0
                    .into_iter()
                    .map(|f| cyltrace_domain::FieldError::new(format!("codes[{i}]"), f.message))
                    .collect(),
            )),
            other => other,
        })?;
        let qr = qr_code(&url)?;
        let bars = barcoders::sym::code128::Code128::new(format!("Ć{}", c.archive.code.as_str()))
            .map_err(|e| ApiError::Internal(format!("Code128: {e}")))?
            .encode();
        cells.push(Cell {
            width: qr.width(),
            modules: qr
                .to_colors()
                .iter()
                .map(|m| *m == qrcode::Color::Dark)
                .collect(),
            bars,
            code: c.archive.code.as_str().to_owned(),
            owner,
            medium,
        });
    }
    const MM: f32 = 72.0 / 25.4;
    let per_page = 10;
    let pages = cells.len().div_ceil(per_page);
    super::pdf::document(pages, super::pdf::A4, |n, page| {
        for (k, cell) in cells.iter().skip(n * per_page).take(per_page).enumerate() {
            let (x0, y0) = (
                (12.0 + (k % 2) as f32 * 96.0) * MM,
                (12.0 + (k / 2) as f32 * 55.0) * MM,
            );
            // Cut marks: the cell's outline.
            page.line(x0, y0, x0 + 90.0 * MM, y0, 0.3);
            page.line(x0, y0 + 50.0 * MM, x0 + 90.0 * MM, y0 + 50.0 * MM, 0.3);
            page.line(x0, y0, x0, y0 + 50.0 * MM, 0.3);
            page.line(x0 + 90.0 * MM, y0, x0 + 90.0 * MM, y0 + 50.0 * MM, 0.3);
            let module = 32.0 * MM / cell.width as f32;
            let (qx, qy) = (x0 + 3.0 * MM, y0 + 3.0 * MM);
            page.boxes(
                cell.modules
                    .iter()
                    .enumerate()
                    .filter(|(_, d)| **d)
                    .map(|(i, _)| {
                        let (mx, my) = ((i % cell.width) as f32, (i / cell.width) as f32);
                        (qx + mx * module, qy + my * module, module, module)
                    }),
            );
            let tx = x0 + 38.0 * MM;
            page.text(tx, y0 + 9.0 * MM, 10.0, &cell.owner);
            page.text(
                tx,
                y0 + 16.0 * MM,
                9.0,
                &format!("充装介质：{}", cell.medium),
            );
            page.text(tx, y0 + 23.0 * MM, 9.0, &format!("编码：{}", cell.code));
            page.text(tx, y0 + 30.0 * MM, 8.0, "扫码查验 · 一瓶一码");
            let bar = 80.0 * MM / cell.bars.len() as f32;
            let (bx, by) = (x0 + 5.0 * MM, y0 + 38.0 * MM);
            page.boxes(
                cell.bars
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| **b == 1)
                    .map(|(i, _)| (bx + i as f32 * bar, by, bar, 9.0 * MM)),
            );
        }
    })
}
