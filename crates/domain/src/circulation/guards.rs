//! Guards on circulation: refuse a move that would send a cylinder where it must not go, the warnings
//! a handheld shows with a scanned cylinder, and the handheld's scan actions (G9).

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::archive::{Archive, CylinderState};
use crate::event::{EventData, EventKind};
use crate::status::{CylinderStatus, LocationKind, Verdict};
use crate::time::Date;

// ---------------------------------------------------------------------------------------------
// Guards: refuse a move that would send a cylinder where it must not go

/// Why an event may not be recorded for this cylinder (its archive and status before the event),
/// on `today`; empty when it may. Observations (receiving, recycling to the store, checks) are never
/// refused here except a recycle naming a customer who does not hold the cylinder.
pub fn cylinder_refusals(
    data: &EventData,
    archive: &Archive,
    status: &CylinderStatus,
    today: Date,
) -> Vec<String> {
    let mut out = Vec::new();
    let sends_full_out = match data {
        EventData::Deliver(_) => true,
        EventData::StoreOut(m) => m.full,
        EventData::Load(_) => status.full,
        _ => false,
    };
    if sends_full_out {
        let verdict = Verdict::of(archive, status, today);
        let what = data.kind().label_zh();
        match verdict {
            Verdict::Ok => {}
            Verdict::Overdue => out.push(format!(
                "气瓶已超期未检验（下次检验日期 {}），不能{what}",
                status
                    .next_check_date
                    .map_or_else(|| "未知".to_owned(), |d| d.to_string())
            )),
            v => out.push(format!("气瓶{}，不能{what}", v.label_zh())),
        }
        if let Some(k) = &status.failed_check {
            let k = EventKind::parse(k).map_or(k.as_str(), |k| k.label_zh());
            out.push(format!("气瓶{k}不合格，复检合格前不能{what}"));
        }
    }
    // A10: a locked cylinder is out of use: no circulation move at all until it is put back to
    // normal (sending it for inspection or scrapping it are not moves and stay possible).
    if status.state == CylinderState::Locked && !sends_full_out {
        out.push(format!(
            "气瓶已停用（锁定），不能{}；请先恢复使用，或送检、报废",
            data.kind().label_zh()
        ));
    }
    match data {
        EventData::Deliver(_) if status.location_kind == LocationKind::AtCustomer => {
            out.push("气瓶在用户处，须先回收才能再次配送".to_owned())
        }
        EventData::Deliver(_) if !status.full => out.push(format!(
            "气瓶不是重瓶（当前位置：{}），不能配送给用户",
            status.location_kind.label_zh()
        )),
        EventData::StoreOut(m) if m.full && !status.full => out.push(format!(
            "气瓶不是重瓶（当前位置：{}），不能按重瓶出库",
            status.location_kind.label_zh()
        )),
        EventData::Recycle(r) => {
            if let Some(c) = &r.customer_id
                && status.holder.as_ref() != Some(c)
            {
                out.push(format!(
                    "该用户未领用此气瓶（气瓶当前位置：{}），不能从该用户回收",
                    status.location_kind.label_zh()
                ));
            }
        }
        _ => {}
    }
    out
}

/// Non-blocking warnings a handheld shows with a scanned cylinder.
pub fn scan_warnings(archive: &Archive, status: &CylinderStatus, today: Date) -> Vec<String> {
    let mut out = Vec::new();
    match Verdict::of(archive, status, today) {
        Verdict::Ok => {
            if let Some(d) = status.next_check_date
                && d.naive() - today.naive() <= Duration::days(30)
            {
                out.push(format!("气瓶将于 {d} 到期检验"));
            }
        }
        Verdict::Overdue => out.push("气瓶已超期未检验，请送检".to_owned()),
        v => out.push(format!("气瓶{}", v.label_zh())),
    }
    if status.failed_check.is_some() {
        out.push("气瓶检查不合格，待复检".to_owned());
    }
    if status.location_kind == LocationKind::Unknown {
        out.push("气瓶此前无流转记录".to_owned());
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Handheld scan-to-act (G9)

/// One handheld action on scanned cylinders and the event it records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanAction {
    /// 空瓶入库
    ReceiveEmpty,
    /// 重瓶入库 (after filling)
    StoreFull,
    /// 重瓶出库
    Dispatch,
    /// 装车
    Load,
    /// 卸车
    Unload,
    /// 配送交付
    Deliver,
    /// 空瓶回收
    Recycle,
}

impl ScanAction {
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }

    pub fn kind(self) -> EventKind {
        match self {
            Self::ReceiveEmpty | Self::StoreFull => EventKind::StoreIn,
            Self::Dispatch => EventKind::StoreOut,
            Self::Load => EventKind::Load,
            Self::Unload => EventKind::Unload,
            Self::Deliver => EventKind::Deliver,
            Self::Recycle => EventKind::Recycle,
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::ReceiveEmpty => "空瓶入库",
            Self::StoreFull => "重瓶入库",
            Self::Dispatch => "重瓶出库",
            Self::Load => "装车",
            Self::Unload => "卸车",
            Self::Deliver => "配送交付",
            Self::Recycle => "空瓶回收",
        }
    }

    /// Whether the action happens at a site (the warehouse or store the handheld stands in).
    pub fn needs_site(self) -> bool {
        matches!(self, Self::ReceiveEmpty | Self::StoreFull | Self::Dispatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Deliver, Recycle, StoreMove};

    // A10: a locked cylinder makes no circulation move, full or empty, out or back; unlocked, the
    // same moves pass again.
    #[test]
    fn a_locked_cylinder_makes_no_move() {
        let archive: Archive = crate::parse::from_value(
            &serde_json::json!({"code": "1103007831", "next_check_date": "2030-01-01",
                                "discard_date": "2031-01-01"}),
            "",
        )
        .unwrap();
        let mut status = CylinderStatus::initial(&archive);
        status.full = true;
        status.state = CylinderState::Locked;
        let today = Date::parse("2026-12-04").unwrap();
        let moves = [
            EventData::Deliver(Deliver {
                customer_id: None,
                order_id: None,
                confirmation: None,
            }),
            EventData::StoreOut(StoreMove { full: false }),
            EventData::StoreIn(StoreMove { full: false }),
            EventData::Recycle(Recycle {
                customer_id: None,
                recycling_order_id: None,
            }),
        ];
        for m in &moves {
            let r = cylinder_refusals(m, &archive, &status, today);
            assert!(r.iter().any(|r| r.contains("停用")), "{m:?}: {r:?}");
        }
        status.state = CylinderState::Normal;
        assert!(cylinder_refusals(&moves[0], &archive, &status, today).is_empty());
        assert!(cylinder_refusals(&moves[3], &archive, &status, today).is_empty());
    }
}
