//! Dates and times on the China calendar (UTC+8): "overdue" and "expired" are judged on the calendar
//! date in China Standard Time, whatever the server's time zone.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// China Standard Time, UTC+8 (no daylight saving).
pub fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// The calendar date in China at instant `t`.
pub fn china_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&cst()).date_naive()
}

/// A calendar date written `YYYY-MM-DD`. Dates that do not exist (2023-02-29) are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, format = Date, example = "2024-04-01"))]
pub struct Date(pub NaiveDate);

impl Date {
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let shaped = t.len() == 10
            && t.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        if !shaped {
            return Err(format!(
                "日期格式应为 YYYY-MM-DD，收到“{}”",
                crate::codes::truncate(t)
            ));
        }
        NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map(Date)
            .map_err(|_| format!("日期“{t}”不存在"))
    }

    pub fn naive(self) -> NaiveDate {
        self.0
    }

    /// The same day `years` later (29 February → 28 February in a common year).
    pub fn plus_years(self, years: u32) -> Date {
        let d = self.0;
        let y = d.year() + years as i32;
        Date(
            NaiveDate::from_ymd_opt(y, d.month(), d.day())
                .or_else(|| NaiveDate::from_ymd_opt(y, d.month(), d.day() - 1))
                .unwrap_or(d),
        )
    }
}

impl TryFrom<String> for Date {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<Date> for String {
    fn from(d: Date) -> String {
        d.to_string()
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

/// A month or a day: `YYYY-MM` or `YYYY-MM-DD` (manufacture dates are often stamped by month).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MonthOrDate {
    first_day: NaiveDate,
    has_day: bool,
}

impl MonthOrDate {
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.len() == 7 {
            let d = Date::parse(&format!("{t}-01"))
                .map_err(|_| format!("年月格式应为 YYYY-MM 或 YYYY-MM-DD，收到“{t}”"))?;
            return Ok(Self {
                first_day: d.0,
                has_day: false,
            });
        }
        let d = Date::parse(t).map_err(|e| e.replace("YYYY-MM-DD", "YYYY-MM 或 YYYY-MM-DD"))?;
        Ok(Self {
            first_day: d.0,
            has_day: true,
        })
    }

    /// A known day.
    pub fn day(d: Date) -> Self {
        Self {
            first_day: d.0,
            has_day: true,
        }
    }

    /// The day itself, or the first day of the month when only the month is known.
    pub fn first_day(self) -> Date {
        Date(self.first_day)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for MonthOrDate {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("YYYY-MM or YYYY-MM-DD"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for MonthOrDate {}

impl TryFrom<String> for MonthOrDate {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<MonthOrDate> for String {
    fn from(m: MonthOrDate) -> String {
        if m.has_day {
            m.first_day.format("%Y-%m-%d").to_string()
        } else {
            m.first_day.format("%Y-%m").to_string()
        }
    }
}

/// An instant written in RFC 3339 with an explicit offset (`2026-11-21T08:30:00+08:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, format = DateTime))]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// Parses RFC 3339; the instant is kept to the microsecond, the precision every store keeps, so
    /// that what is stored, folded and hashed is the same value.
    pub fn parse(s: &str) -> Result<Self, String> {
        DateTime::parse_from_rfc3339(s.trim())
            .ok()
            .and_then(|t| DateTime::from_timestamp_micros(t.timestamp_micros()))
            .map(Timestamp)
            .ok_or_else(|| {
                format!(
                    "时间格式应为 RFC 3339 且带时区，如 2026-11-21T08:30:00+08:00，收到“{}”",
                    crate::codes::truncate(s)
                )
            })
    }

    pub fn utc(self) -> DateTime<Utc> {
        self.0
    }

    /// RFC 3339 in China Standard Time, to the second or finer as stored.
    pub fn to_cst_string(self) -> String {
        self.0
            .with_timezone(&cst())
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
    }
}

impl TryFrom<String> for Timestamp {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<Timestamp> for String {
    fn from(t: Timestamp) -> String {
        t.to_cst_string()
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(t: DateTime<Utc>) -> Self {
        Timestamp(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn china_calendar_turns_at_16_utc() {
        let t = DateTime::parse_from_rfc3339("2024-03-31T15:59:59Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(china_date(t).to_string(), "2024-03-31");
        let t = DateTime::parse_from_rfc3339("2024-03-31T16:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(china_date(t).to_string(), "2024-04-01");
    }

    #[test]
    fn impossible_dates_are_refused() {
        assert!(Date::parse("2023-02-29").is_err());
        assert!(Date::parse("2024-02-29").is_ok());
        assert!(Date::parse("2024-13-01").is_err());
        assert!(Date::parse("2024-4-1").is_err());
        assert!(Date::parse("20240401").is_err());
    }

    #[test]
    fn month_or_date() {
        assert_eq!(
            String::from(MonthOrDate::parse("2014-09").unwrap()),
            "2014-09"
        );
        assert_eq!(
            MonthOrDate::parse("2014-09")
                .unwrap()
                .first_day()
                .to_string(),
            "2014-09-01"
        );
        assert_eq!(
            String::from(MonthOrDate::parse("2014-09-15").unwrap()),
            "2014-09-15"
        );
        assert!(MonthOrDate::parse("2014-13").is_err());
    }

    #[test]
    fn plus_years_handles_leap_day() {
        assert_eq!(
            Date::parse("2020-02-29").unwrap().plus_years(4).to_string(),
            "2024-02-29"
        );
        assert_eq!(
            Date::parse("2020-02-29").unwrap().plus_years(1).to_string(),
            "2021-02-28"
        );
    }

    #[test]
    fn timestamps_need_an_offset() {
        assert!(Timestamp::parse("2026-11-21T08:30:00+08:00").is_ok());
        assert!(Timestamp::parse("2026-11-21T08:30:00").is_err());
        assert_eq!(
            Timestamp::parse("2026-11-21T00:30:00Z")
                .unwrap()
                .to_cst_string(),
            "2026-11-21T08:30:00+08:00"
        );
    }
}
