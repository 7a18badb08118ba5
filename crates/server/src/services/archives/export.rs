//! Exports: archives in scope (template columns plus status, or the Yunnan `GenericBottle` form),
//! fill records and stock, as CSV or xlsx.

use std::collections::HashMap;

use cyltrace_domain::access::Action;
use cyltrace_domain::archive::GenericBottle;
use cyltrace_domain::event::EventData;
use cyltrace_domain::import::{self as imp, COLUMNS, CellKind, STATUS_COLUMNS};
use cyltrace_domain::time::cst;
use cyltrace_domain::{Archive, CylinderCode, LabelStatus, LicenceKind};
use cyltrace_store::{CylinderRecord, Scope, Store};
use serde_json::Value;
use uuid::Uuid;

use super::{Cell, Download, EXPORT_PAGE, FileFormat, SHEET, TableWriter, internal};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

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
    for r in &rows {
        let full = r.full as f64;
        let empty = r.empty as f64;
        table
            .row(&[
                Cell::text(r.site_name.clone().unwrap_or_default()),
                Cell::text(site_kind_zh(r.site_kind.map_or("", |k| k.as_str()))),
                Cell::text(r.site_id.to_string()),
                Cell::text(r.org_id.map(|o| o.to_string()).unwrap_or_default()),
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
