//! `GenericStatistics/BusinessCount` (§9): what an uploader says it sent in a month.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};

use crate::error::ValidationErrors;
use crate::time::cst;

use super::*;

/// `BusinessCount` (§9): what an uploader says it sent in a month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusinessCount {
    pub year: i32,
    pub month: u32,
    pub count: i64,
    pub kind: TraceKind,
}

impl BusinessCount {
    pub fn parse(data: &Value) -> Result<Self, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        let root = Obj::root(data, &mut errs)?;
        let year = root.int("Year", &mut errs);
        let month = root.int("Month", &mut errs);
        let count = root.int("Count", &mut errs);
        let kind = root.int("Type", &mut errs);
        if year.is_some_and(|y| !(2000..=2100).contains(&y)) {
            errs.push("Year", "年份应在 2000 到 2100 之间");
        }
        if month.is_some_and(|m| !(1..=12).contains(&m)) {
            errs.push("Month", "月份应在 1 到 12 之间");
        }
        if count.is_some_and(|c| c < 0) {
            errs.push("Count", "数量不能为负数");
        }
        let kind = kind.and_then(|t| {
            let k = TraceKind::from_count_type(t);
            if k.is_none() {
                errs.push(
                    "Type",
                    format!("类型应为 1（充装前检查）、2（充装）或 3（充装后检查），收到 {t}"),
                );
            }
            k
        });
        let out = match (year, month, count, kind) {
            (Some(y), Some(m), Some(c), Some(k)) => Some(BusinessCount {
                year: y as i32,
                month: m as u32,
                count: c,
                kind: k,
            }),
            _ => None,
        };
        errs.into_result(out).map(|o| o.expect("no errors"))
    }

    pub fn to_json(&self) -> Value {
        json!({"Year": self.year, "Month": self.month, "Count": self.count, "Type": self.kind.count_type()})
    }

    /// The month as [from, to) instants on the China calendar.
    pub fn range(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        month_range(self.year, self.month)
    }
}

/// The instants [first day 00:00, next month's first day 00:00) of a month in China Standard Time.
pub fn month_range(year: i32, month: u32) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = |y: i32, m: u32| {
        let d = NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(NaiveDate::MIN);
        cst()
            .from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
            .single()
            .map_or(DateTime::<Utc>::MIN_UTC, |t| t.with_timezone(&Utc))
    };
    let (ny, nm) = if month >= 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    (start(year, month), start(ny, nm))
}
