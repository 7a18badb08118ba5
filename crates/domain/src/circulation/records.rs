//! Stock-taking (C1) and the cylinder's flow table (C8).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{EventData, EventKind};

// ---------------------------------------------------------------------------------------------
// Stock-taking (C1)

/// The result of scanning everything present in a store against what the records say is there.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Stocktake {
    /// Expected and scanned.
    pub present: Vec<String>,
    /// Expected but not scanned.
    pub missing: Vec<String>,
    /// Scanned but not expected here.
    pub unexpected: Vec<String>,
}

impl Stocktake {
    pub fn compare(expected: &[String], scanned: &[String]) -> Self {
        let exp: std::collections::BTreeSet<&String> = expected.iter().collect();
        let got: std::collections::BTreeSet<&String> = scanned.iter().collect();
        Stocktake {
            present: exp.intersection(&got).map(|s| (*s).clone()).collect(),
            missing: exp.difference(&got).map(|s| (*s).clone()).collect(),
            unexpected: got.difference(&exp).map(|s| (*s).clone()).collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Trajectory (C8)

/// One row of a cylinder's flow table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrajectoryRow {
    pub time: DateTime<Utc>,
    pub kind: EventKind,
    /// 操作 (Chinese)
    pub operation: String,
    /// 操作人
    pub operator: String,
    /// 地点
    pub place: String,
    /// 去向 / 对象: the vehicle, customer, order, station …
    pub target: String,
    pub tare_kg: Option<f64>,
    pub gross_kg: Option<f64>,
    pub ledger_index: i64,
}

/// What an event's `data` points at, in words, given the names the caller resolved.
pub fn trajectory_target(data: &EventData, name: &dyn Fn(&str) -> Option<String>) -> String {
    let named = |id: &str| name(id).unwrap_or_else(|| id.to_owned());
    match data {
        EventData::Load(v) | EventData::Unload(v) => match &v.waybill {
            Some(w) => format!("车辆 {} · 运单 {}", v.vehicle, w),
            None => format!("车辆 {}", v.vehicle),
        },
        EventData::Deliver(d) => {
            let mut s = match &d.customer_id {
                Some(c) => format!("用户 {}", named(c.as_str())),
                None => "经销点".to_owned(),
            };
            if let Some(o) = &d.order_id {
                s.push_str(&format!(" · 订单 {o}"));
            }
            s
        }
        EventData::Recycle(r) => {
            let mut s = r
                .customer_id
                .as_ref()
                .map_or_else(String::new, |c| format!("用户 {}", named(c.as_str())));
            if r.recycling_order_id.is_some() {
                s.push_str(if s.is_empty() {
                    "回收单"
                } else {
                    " · 回收单"
                });
            }
            s
        }
        EventData::StoreIn(m) | EventData::StoreOut(m) => {
            if m.full { "重瓶" } else { "空瓶" }.to_owned()
        }
        EventData::InspectionSend(s) => {
            format!("检验机构 {}", named(&s.station_org_id.to_string()))
        }
        EventData::InspectionResult(r) => format!(
            "{} · 报告 {}",
            named(&r.station_org_id.to_string()),
            r.report_no
        ),
        EventData::Scrap(s) => s.reason.to_string(),
        EventData::Register(r) => format!("登记证 {}", r.number),
        EventData::Fill(f) => format!("秤 {}", f.scale_no),
        EventData::LabTest(t) => format!(
            "样品 {} · {} · 化验员 {}",
            t.sample_no,
            t.result.label_zh(),
            t.tester
        ),
        EventData::Repair(r) => format!(
            "{}{} · 维修人 {}",
            r.items,
            if r.valve_replaced {
                " · 更换阀门"
            } else {
                ""
            },
            r.repairer
        ),
        _ => String::new(),
    }
}
