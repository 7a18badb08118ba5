//! The supervision figures of UI.md (seed 003 §4.1.5–17), decided here from facts the store
//! gathers: which cylinders are active, due for inspection or scrap, abnormal; periods on the China
//! calendar; recycling rates; overstock; and the credit rating of an enterprise (E5).

use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::archive::{Archive, CylinderState};
use crate::status::{CylinderStatus, LabelStatus};
use crate::time::Date;

/// "Active" cylinder: state normal and label active (UI.md).
pub fn is_active(archive: &Archive, status: &CylinderStatus) -> bool {
    status.state == CylinderState::Normal
        && archive.state != CylinderState::Scrapped
        && status.label == LabelStatus::Active
}

/// Where a date stands against a look-ahead window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Before today.
    Past,
    /// Today or within the window.
    Soon,
    Later,
}

/// `date` against today and a window of `days` (today counts as soon; no date counts as past, as
/// the phone page treats a cylinder without a next inspection date as overdue).
pub fn due(date: Option<Date>, today: Date, days: u32) -> Due {
    match date {
        None => Due::Past,
        Some(d) if d < today => Due::Past,
        Some(d) if d.0 <= today.0 + Duration::days(i64::from(days)) => Due::Soon,
        Some(_) => Due::Later,
    }
}

/// Pending inspection (待检): the next inspection date against the window; no date = overdue.
pub fn pending_inspection(status: &CylinderStatus, today: Date, days: u32) -> Due {
    due(status.next_check_date, today, days)
}

/// Pending scrap (待报废): the discard date against the window; a cylinder with no known discard
/// date is never pending.
pub fn pending_scrap(archive: &Archive, today: Date, days: u32) -> Due {
    match archive.effective_discard_date() {
        None => Due::Later,
        d => due(d, today, days),
    }
}

/// The statistics granularity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    Month,
    Quarter,
    Year,
}

impl Granularity {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "month" => Some(Self::Month),
            "quarter" => Some(Self::Quarter),
            "year" => Some(Self::Year),
            _ => None,
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Month => "月",
            Self::Quarter => "季度",
            Self::Year => "年",
        }
    }

    /// The bucket a China calendar day falls in: `2026-11`, `2026Q4`, `2026`.
    pub fn bucket(self, d: NaiveDate) -> String {
        match self {
            Self::Month => format!("{}-{:02}", d.year(), d.month()),
            Self::Quarter => format!("{}Q{}", d.year(), (d.month() - 1) / 3 + 1),
            Self::Year => d.year().to_string(),
        }
    }

    /// The first day of the bucket holding `d`.
    pub fn start(self, d: NaiveDate) -> NaiveDate {
        let m = match self {
            Self::Month => d.month(),
            Self::Quarter => (d.month() - 1) / 3 * 3 + 1,
            Self::Year => 1,
        };
        NaiveDate::from_ymd_opt(d.year(), m, 1).unwrap_or(d)
    }

    /// The first day of the next bucket.
    pub fn next(self, start: NaiveDate) -> NaiveDate {
        let months = match self {
            Self::Month => 1,
            Self::Quarter => 3,
            Self::Year => 12,
        };
        start
            .checked_add_months(chrono::Months::new(months))
            .unwrap_or(start)
    }

    /// The last `n` buckets up to and including the one holding `today`, oldest first, as
    /// `[start, end)` day ranges.
    pub fn last(self, today: NaiveDate, n: usize) -> Vec<(NaiveDate, NaiveDate)> {
        let mut out = Vec::with_capacity(n);
        let mut start = self.start(today);
        for _ in 0..n {
            out.push((start, self.next(start)));
            let prev = start - Duration::days(1);
            start = self.start(prev);
        }
        out.reverse();
        out
    }
}

/// Recycling rate = returned empty ÷ delivered in the period (`None` when nothing was delivered).
pub fn recycling_rate(recycled: u64, delivered: u64) -> Option<f64> {
    (delivered > 0).then(|| recycled as f64 / delivered as f64)
}

/// A fill whose most recent filling-control decision for the same cylinder (within `window` before
/// it) was a refusal — the station filled anyway. Both lists are `(code, time)`; decisions carry
/// whether they allowed.
pub fn refusals_overridden<T: Ord + Copy>(
    fills: &[(String, T)],
    decisions: &[(String, T, bool)],
    within: impl Fn(T, T) -> bool,
) -> u64 {
    let mut by_code: std::collections::HashMap<&str, Vec<(T, bool)>> = Default::default();
    for (code, t, allow) in decisions {
        by_code.entry(code.as_str()).or_default().push((*t, *allow));
    }
    for v in by_code.values_mut() {
        v.sort_by_key(|(t, _)| *t);
    }
    fills
        .iter()
        .filter(|(code, fill_t)| {
            by_code.get(code.as_str()).is_some_and(|ds| {
                ds.iter()
                    .rev()
                    .find(|(t, _)| t <= fill_t)
                    .is_some_and(|(t, allow)| !allow && within(*t, *fill_t))
            })
        })
        .count() as u64
}

/// Weights of the credit rating (E5): points taken from 100 for each occurrence in the period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CreditWeights {
    pub refusal_overridden: f64,
    pub late_upload: f64,
    pub overdue_filled: f64,
    pub complaint_upheld: f64,
}

impl Default for CreditWeights {
    fn default() -> Self {
        CreditWeights {
            refusal_overridden: 10.0,
            late_upload: 1.0,
            overdue_filled: 5.0,
            complaint_upheld: 5.0,
        }
    }
}

impl CreditWeights {
    /// Parses `refusal_overridden=10,late_upload=1,…` (the configuration form); unknown names and
    /// negative or non-numeric weights are refused.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut w = Self::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("“{part}”应为 名称=权重"))?;
            let v: f64 = v
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| format!("“{part}”的权重应为非负数"))?;
            match k.trim() {
                "refusal_overridden" => w.refusal_overridden = v,
                "late_upload" => w.late_upload = v,
                "overdue_filled" => w.overdue_filled = v,
                "complaint_upheld" => w.complaint_upheld = v,
                other => return Err(format!("未知的信用评价项“{other}”")),
            }
        }
        Ok(w)
    }
}

/// What an enterprise did in the period that the credit rating counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CreditCounts {
    pub refusals_overridden: u64,
    pub late_uploads: u64,
    pub overdue_filled: u64,
    pub complaints_upheld: u64,
}

/// The rating: a score from 100 down to 0 and its grade (A ≥ 90, B ≥ 75, C ≥ 60, else D).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Credit {
    pub score: f64,
    pub grade: char,
}

pub fn credit(c: &CreditCounts, w: &CreditWeights) -> Credit {
    let lost = c.refusals_overridden as f64 * w.refusal_overridden
        + c.late_uploads as f64 * w.late_upload
        + c.overdue_filled as f64 * w.overdue_filled
        + c.complaints_upheld as f64 * w.complaint_upheld;
    let score = (100.0 - lost).clamp(0.0, 100.0);
    let grade = if score >= 90.0 {
        'A'
    } else if score >= 75.0 {
        'B'
    } else if score >= 60.0 {
        'C'
    } else {
        'D'
    };
    Credit { score, grade }
}

/// An upload is late when the platform recorded it more than this many hours after it happened.
pub const LATE_UPLOAD_HOURS: i64 = 24;

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn due_windows() {
        let today = d("2026-11-21");
        assert_eq!(due(Some(d("2026-11-20")), today, 30), Due::Past);
        assert_eq!(due(Some(d("2026-11-21")), today, 30), Due::Soon);
        assert_eq!(due(Some(d("2026-12-21")), today, 30), Due::Soon);
        assert_eq!(due(Some(d("2026-12-22")), today, 30), Due::Later);
        assert_eq!(due(None, today, 30), Due::Past);
    }

    #[test]
    fn buckets_on_the_china_calendar() {
        let day = d("2026-11-21").0;
        assert_eq!(Granularity::Month.bucket(day), "2026-11");
        assert_eq!(Granularity::Quarter.bucket(day), "2026Q4");
        assert_eq!(Granularity::Year.bucket(day), "2026");
        let q = Granularity::Quarter.last(day, 3);
        assert_eq!(
            q.iter()
                .map(|(s, e)| format!("{s}..{e}"))
                .collect::<Vec<_>>(),
            [
                "2026-04-01..2026-07-01",
                "2026-07-01..2026-10-01",
                "2026-10-01..2027-01-01"
            ]
        );
        let m = Granularity::Month.last(d("2026-01-15").0, 2);
        assert_eq!(m[0].0.to_string(), "2025-12-01");
        assert_eq!(m[1].1.to_string(), "2026-02-01");
    }

    #[test]
    fn overridden_refusals_count_fills_after_a_refusal() {
        let fills = vec![
            ("a".to_owned(), 10),
            ("b".to_owned(), 10),
            ("c".to_owned(), 10),
        ];
        let decisions = vec![
            ("a".to_owned(), 5, false),
            ("b".to_owned(), 4, false),
            ("b".to_owned(), 6, true),
            ("c".to_owned(), 1, false),
        ];
        // c's refusal is too old to be the decision for this fill.
        assert_eq!(
            refusals_overridden(&fills, &decisions, |d, f| f - d <= 8),
            1
        );
    }

    #[test]
    fn credit_grades_and_weights() {
        let w = CreditWeights::parse("late_upload=2, complaint_upheld=0").unwrap();
        assert_eq!(w.late_upload, 2.0);
        assert_eq!(w.refusal_overridden, 10.0);
        assert!(CreditWeights::parse("bogus=1").is_err());
        assert!(CreditWeights::parse("late_upload=-1").is_err());
        let c = CreditCounts {
            refusals_overridden: 1,
            late_uploads: 3,
            overdue_filled: 0,
            complaints_upheld: 9,
        };
        assert_eq!(
            credit(&c, &w),
            Credit {
                score: 84.0,
                grade: 'B'
            }
        );
        assert_eq!(credit(&CreditCounts::default(), &w).grade, 'A');
        let many = CreditCounts {
            overdue_filled: 100,
            ..Default::default()
        };
        assert_eq!(credit(&many, &w).score, 0.0);
    }
}
