//! The plausible-value policy (issue 22): values that parse but cannot mean what their field means
//! are refused with a named Chinese reason, wherever they arrive (API, import, `/PS`, devices).
//!
//! - Event times: never before [`EARLIEST_EVENT_TIME`]; a judged event (a person, a device or a
//!   lower platform) no older than the node's `max_event_age`, so that backdating cannot slip an
//!   action past the guards of today (an offline handheld legitimately sends the past, up to the
//!   limit). Trusted paths (demo seeding, benchmark data, upstream decisions) have no age limit.
//! - Archives: dates within sane bounds of a cylinder's life, weights, volumes, pressures and wall
//!   thicknesses within the physical ranges of the cylinder types the platform tracks (household
//!   LPG cylinders of GB 5842, YSP4.7 … YSP118, and the larger industrial vessels of the same
//!   media), a medium the platform knows.
//!
//! Pure: the caller passes `now` (or today) where a rule needs it.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use crate::archive::Archive;
use crate::error::ValidationErrors;
use crate::filling::canonical_medium;
use crate::time::{Date, cst};
use crate::units::{Kg, Litres, Mm, Mpa};

/// No event of this platform happened before 2000-01-01 00:00 China Standard Time.
pub fn earliest_event_time() -> DateTime<Utc> {
    cst()
        .with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .expect("a valid instant")
        .with_timezone(&Utc)
}

/// The text form of [`earliest_event_time`], for messages.
pub const EARLIEST_EVENT_TIME: &str = "2000-01-01";

/// Why an event time is refused whatever the path: before [`EARLIEST_EVENT_TIME`].
pub fn absurd_time(time: DateTime<Utc>) -> Option<String> {
    (time < earliest_event_time())
        .then(|| format!("事件时间早于 {EARLIEST_EVENT_TIME}，不是可信的作业时间"))
}

/// Why a judged event's time is refused at `now`: before [`EARLIEST_EVENT_TIME`], or older than
/// `max_age` (none: no age limit). The reason names the limit.
pub fn event_time_refusal(
    time: DateTime<Utc>,
    now: DateTime<Utc>,
    max_age: Option<Duration>,
) -> Option<String> {
    if let Some(r) = absurd_time(time) {
        return Some(r);
    }
    let max = max_age?;
    (time < now - max).then(|| {
        format!(
            "事件时间超过补录期限：只接受 {} 以内的事件（max_event_age），请按实际作业时间及时上传",
            age_zh(max)
        )
    })
}

/// A duration in words: whole days, else whole hours, else minutes.
fn age_zh(d: Duration) -> String {
    if d.num_days() >= 1 && d == Duration::days(d.num_days()) {
        format!("{} 天", d.num_days())
    } else if d.num_hours() >= 1 && d == Duration::hours(d.num_hours()) {
        format!("{} 小时", d.num_hours())
    } else {
        format!("{} 分钟", d.num_minutes())
    }
}

// ---------------------------------------------------------------------------------------------
// Archives

/// Earliest plausible date of an archive (manufacture, checks, registration, discard).
pub fn earliest_archive_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(1950, 1, 1).expect("a valid date")
}

/// Latest plausible date of an archive (a next check or discard date lies in the future, but not
/// beyond the life of a cylinder made today).
pub fn latest_archive_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2100, 12, 31).expect("a valid date")
}

/// The media of vehicle cylinders (A9), besides those the platform fills (name, then its alias).
pub const VEHICLE_MEDIA: [&str; 4] = ["压缩天然气", "CNG", "液化天然气", "LNG"];

/// Physical ranges, inclusive: (low, high, unit).
pub const TARE_KG: (f64, f64) = (1.0, 200.0);
pub const FILL_LIMIT_KG: (f64, f64) = (0.1, 500.0);
pub const VOLUME_L: (f64, f64) = (0.5, 1000.0);
pub const PRESSURE_MPA: (f64, f64) = (0.1, 50.0);
pub const WALL_MM: (f64, f64) = (0.5, 30.0);
/// A next check date may lie at most this many years after the last check plus the check period
/// (an inspection that was moved).
pub const NEXT_CHECK_MARGIN_YEARS: u32 = 1;

fn range(
    errs: &mut ValidationErrors,
    field: &str,
    what: &str,
    v: Option<f64>,
    r: (f64, f64),
    unit: &str,
) {
    if let Some(v) = v
        && !(r.0..=r.1).contains(&v)
    {
        errs.push(
            field,
            format!("{what}应在 {} 到 {} {unit} 之间（收到 {v}）", r.0, r.1),
        );
    }
}

fn within(errs: &mut ValidationErrors, field: &str, what: &str, d: Option<NaiveDate>) {
    if let Some(d) = d
        && !(earliest_archive_date()..=latest_archive_date()).contains(&d)
    {
        errs.push(
            field,
            format!(
                "{what} {} 不可信（应在 {} 到 {} 之间）",
                Date(d),
                Date(earliest_archive_date()),
                Date(latest_archive_date())
            ),
        );
    }
}

/// The policy's rules that need no clock, added to `errs` by field name.
pub fn archive_refusals(a: &Archive, errs: &mut ValidationErrors) {
    if let Some(m) = &a.medium
        && canonical_medium(m.as_str()).is_none()
        && !VEHICLE_MEDIA.contains(&m.as_str().trim())
    {
        let mut known = crate::filling::known_media();
        known.extend(VEHICLE_MEDIA.iter().step_by(2));
        errs.push(
            "medium",
            format!(
                "平台不支持的充装介质“{}”，可选：{}",
                crate::codes::truncate(m.as_str()),
                known.join("、")
            ),
        );
    }
    range(
        errs,
        "tare_kg",
        "气瓶质量",
        a.tare_kg.map(Kg::get),
        TARE_KG,
        "kg",
    );
    range(
        errs,
        "fill_limit_kg",
        "允许充装量",
        a.fill_limit_kg.map(Kg::get),
        FILL_LIMIT_KG,
        "kg",
    );
    range(
        errs,
        "volume_l",
        "公称容积",
        a.volume_l.map(Litres::get),
        VOLUME_L,
        "L",
    );
    range(
        errs,
        "working_pressure_mpa",
        "公称工作压力",
        a.working_pressure_mpa.map(Mpa::get),
        PRESSURE_MPA,
        "MPa",
    );
    range(
        errs,
        "test_pressure_mpa",
        "水压试验压力",
        a.test_pressure_mpa.map(Mpa::get),
        PRESSURE_MPA,
        "MPa",
    );
    range(
        errs,
        "wall_thickness_mm",
        "设计壁厚",
        a.wall_thickness_mm.map(Mm::get),
        WALL_MM,
        "mm",
    );
    let made = a.manufacture_date.map(|m| m.first_day().naive());
    within(errs, "manufacture_date", "制造年月", made);
    within(
        errs,
        "last_check_date",
        "检验日期",
        a.last_check_date.map(Date::naive),
    );
    within(
        errs,
        "next_check_date",
        "下次检验日期",
        a.next_check_date.map(Date::naive),
    );
    within(
        errs,
        "discard_date",
        "报废日期",
        a.discard_date.map(Date::naive),
    );
    if let Some(r) = &a.registration {
        within(errs, "registration.date", "登记日期", Some(r.date.naive()));
    }
    // The next check lies after the last one, and not beyond it by more than the check period
    // (the longest allowed, 20 years, when unknown) plus a margin.
    if let (Some(last), Some(next)) = (a.last_check_date, a.next_check_date)
        && next > last
    {
        let years = u32::from(a.check_period_years.unwrap_or(20)) + NEXT_CHECK_MARGIN_YEARS;
        let latest = last.plus_years(years);
        if next > latest {
            errs.push(
                "next_check_date",
                format!(
                    "下次检验日期 {next} 晚于检验日期 {last} 加检验周期和 {NEXT_CHECK_MARGIN_YEARS} 年余量（{latest}）"
                ),
            );
        }
    }
    if let (Some(made), Some(reg)) = (a.manufacture_date, &a.registration)
        && reg.date.naive() < made.first_day().naive()
    {
        errs.push("registration.date", "登记日期早于制造日期");
    }
}

/// The policy's rules that need today (China calendar): nothing made, checked or registered in
/// the future.
pub fn archive_refusals_on(a: &Archive, today: NaiveDate, errs: &mut ValidationErrors) {
    let future = |errs: &mut ValidationErrors, field: &str, what: &str, d: Option<NaiveDate>| {
        if let Some(d) = d
            && d > today
        {
            errs.push(
                field,
                format!("{what} {} 晚于今天（{}）", Date(d), Date(today)),
            );
        }
    };
    future(
        errs,
        "manufacture_date",
        "制造年月",
        a.manufacture_date.map(|m| m.first_day().naive()),
    );
    future(
        errs,
        "last_check_date",
        "检验日期",
        a.last_check_date.map(Date::naive),
    );
    if let Some(r) = &a.registration {
        future(errs, "registration.date", "登记日期", Some(r.date.naive()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::from_value;
    use serde_json::json;

    fn ysp35() -> serde_json::Value {
        json!({
            "code": "1103007831", "style": "YSP35.5", "medium": "液化石油气", "tare_kg": 16.5,
            "fill_limit_kg": 14.5, "volume_l": 35.5, "working_pressure_mpa": 2.1,
            "test_pressure_mpa": 3.2, "wall_thickness_mm": 2.5, "life_years": 8,
            "check_period_years": 4, "manufacture_date": "2022-09", "last_check_date": "2022-09-01",
            "next_check_date": "2026-09-01", "discard_date": "2030-09-01",
            "registration": {"number": "553001000001", "date": "2022-10-01", "authority": "昆明市市场监督管理局"}
        })
    }

    fn fields(v: serde_json::Value, today: NaiveDate) -> Vec<String> {
        let a: Archive = from_value(&v, "").unwrap();
        match a.validate_on(today) {
            Ok(()) => vec![],
            Err(e) => e.0.into_iter().map(|f| f.field).collect(),
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 4).unwrap()
    }

    // A1 (issue 22, defect 6): the household types of GB 5842 pass; nonsense is refused by field.
    #[test]
    fn household_types_pass_and_nonsense_is_named() {
        assert!(fields(ysp35(), today()).is_empty());
        for (style, tare, fill, vol, wall) in [
            ("YSP4.7", 4.2, 2.0, 4.7, 2.0),
            ("YSP12", 5.5, 5.0, 12.0, 2.5),
            ("YSP26.2", 11.5, 10.0, 26.2, 2.5),
            ("YSP118", 47.5, 49.5, 118.0, 3.0),
        ] {
            let mut v = ysp35();
            v["style"] = json!(style);
            v["tare_kg"] = json!(tare);
            v["fill_limit_kg"] = json!(fill);
            v["volume_l"] = json!(vol);
            v["wall_thickness_mm"] = json!(wall);
            assert!(fields(v, today()).is_empty(), "{style}");
        }
        let cases: [(&str, serde_json::Value, &str); 12] = [
            ("medium", json!("<script>alert(1)</script>"), "medium"),
            ("medium", json!("🔥"), "medium"),
            ("tare_kg", json!(0), "tare_kg"),
            ("tare_kg", json!(5e-324), "tare_kg"),
            ("tare_kg", json!(900), "tare_kg"),
            ("volume_l", json!(0), "volume_l"),
            ("working_pressure_mpa", json!(0), "working_pressure_mpa"),
            ("wall_thickness_mm", json!(0), "wall_thickness_mm"),
            ("manufacture_date", json!("1900-01"), "manufacture_date"),
            ("next_check_date", json!("9999-12-31"), "next_check_date"),
            ("next_check_date", json!("2040-01-01"), "next_check_date"),
            ("discard_date", json!("2022-09-01"), "discard_date"),
        ];
        for (field, value, named) in cases {
            let mut v = ysp35();
            v[field] = value.clone();
            let got = fields(v, today());
            assert!(got.iter().any(|f| f == named), "{field}={value}: {got:?}");
        }
        // 0000-01-01 is a date that parses; it is refused as implausible.
        let mut v = ysp35();
        v["last_check_date"] = json!("0000-01-01");
        v.as_object_mut().unwrap().remove("manufacture_date");
        assert!(fields(v, today()).contains(&"last_check_date".to_owned()));
        // Made tomorrow, checked tomorrow, registered tomorrow: in the future.
        let mut v = ysp35();
        v["manufacture_date"] = json!("2026-12-05");
        v["last_check_date"] = json!("2026-12-05");
        v["next_check_date"] = json!("2030-12-05");
        v["registration"]["date"] = json!("2026-12-05");
        v["discard_date"] = json!("2034-12-05");
        let got = fields(v, today());
        for f in ["manufacture_date", "last_check_date", "registration.date"] {
            assert!(got.contains(&f.to_owned()), "{f}: {got:?}");
        }
    }

    // C1–C5 (issue 22, defect 4): a judged event is refused past the age limit, naming it, and
    // before 2000 whatever the limit.
    #[test]
    fn old_event_times_are_refused_with_the_limit_named() {
        let now: DateTime<Utc> = "2026-12-04T08:00:00Z".parse().unwrap();
        let week = Some(Duration::days(7));
        assert_eq!(event_time_refusal(now - Duration::days(6), now, week), None);
        let r = event_time_refusal(now - Duration::days(30), now, week).unwrap();
        assert!(r.contains("7 天") && r.contains("max_event_age"), "{r}");
        assert_eq!(
            event_time_refusal(now - Duration::days(30), now, None),
            None
        );
        let ancient: DateTime<Utc> = "0001-01-01T00:00:00Z".parse().unwrap();
        assert!(
            event_time_refusal(ancient, now, None)
                .unwrap()
                .contains("2000-01-01")
        );
        assert!(absurd_time("1999-12-31T15:59:59Z".parse().unwrap()).is_some());
        assert!(absurd_time("1999-12-31T16:00:00Z".parse().unwrap()).is_none());
    }
}
