//! Filling control (table B.1 of seed 000, REQUIREMENTS B1–B4): before each fill the platform answers
//! allow or refuse, naming **every** failing rule in rule order, and gives the scale its cut-off weight.
//! Pure: the caller passes the facts and `now`; all dates are judged on the China calendar (UTC+8).

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::archive::{Archive, CylinderState};
use crate::event::{EventData, Fill};
use crate::org::{Licence, LicenceKind};
use crate::status::{CylinderStatus, LabelStatus};
use crate::time::{Date, china_date};

/// The media the platform fills (household cylinders: LPG and DME), with accepted aliases.
const MEDIA: [(&str, &[&str]); 4] = [
    ("液化石油气", &["LPG", "lpg", "液化气"]),
    ("二甲醚", &["DME", "dme"]),
    ("丙烷", &["propane"]),
    ("丁烷", &["butane"]),
];

/// The canonical name of a medium the platform knows (`LPG` → `液化石油气`), or `None`.
pub fn canonical_medium(s: &str) -> Option<&'static str> {
    let t = s.trim();
    MEDIA
        .iter()
        .find(|(name, aliases)| *name == t || aliases.contains(&t))
        .map(|(name, _)| *name)
}

/// The names of the known media, for messages.
pub fn known_media() -> Vec<&'static str> {
    MEDIA.iter().map(|(n, _)| *n).collect()
}

/// A refusal rule: B1.1–B1.12 of table B.1, A8 for a label that is not genuine or is void, and A10
/// for a cylinder whose archive is locked (taken out of use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    A8,
    A10,
    B1_1,
    B1_2,
    B1_3,
    B1_4,
    B1_5,
    B1_6,
    B1_7,
    B1_8,
    B1_9,
    B1_10,
    B1_11,
    B1_12,
}

impl Rule {
    pub const TABLE_B1: [Rule; 12] = [
        Rule::B1_1,
        Rule::B1_2,
        Rule::B1_3,
        Rule::B1_4,
        Rule::B1_5,
        Rule::B1_6,
        Rule::B1_7,
        Rule::B1_8,
        Rule::B1_9,
        Rule::B1_10,
        Rule::B1_11,
        Rule::B1_12,
    ];

    /// The stable id used in API answers.
    pub fn id(self) -> &'static str {
        match self {
            Rule::A8 => "A8",
            Rule::A10 => "A10",
            Rule::B1_1 => "B1.1",
            Rule::B1_2 => "B1.2",
            Rule::B1_3 => "B1.3",
            Rule::B1_4 => "B1.4",
            Rule::B1_5 => "B1.5",
            Rule::B1_6 => "B1.6",
            Rule::B1_7 => "B1.7",
            Rule::B1_8 => "B1.8",
            Rule::B1_9 => "B1.9",
            Rule::B1_10 => "B1.10",
            Rule::B1_11 => "B1.11",
            Rule::B1_12 => "B1.12",
        }
    }

    pub fn parse(s: &str) -> Option<Rule> {
        [Rule::A8, Rule::A10]
            .into_iter()
            .chain(Rule::TABLE_B1)
            .find(|r| r.id() == s)
    }

    /// The rule as table B.1 states it.
    pub fn title_zh(self) -> &'static str {
        match self {
            Rule::A8 => "非法或已作废的标签",
            Rule::A10 => "已停用（锁定）的气瓶",
            Rule::B1_1 => "燃气气瓶充装许可证过期",
            Rule::B1_2 => "燃气经营许可证过期",
            Rule::B1_3 => "未使用登记气瓶",
            Rule::B1_4 => "超期未检验气瓶",
            Rule::B1_5 => "超使用年限气瓶",
            Rule::B1_6 => "已报废气瓶",
            Rule::B1_7 => "非本站办理使用登记的气瓶",
            Rule::B1_8 => "距上次充装不足 24 h",
            Rule::B1_9 => "两次充装间流转数据不全",
            Rule::B1_10 => "无 16 h 内的充装前检查合格记录",
            Rule::B1_11 => "燃气气瓶与所充介质不符",
            Rule::B1_12 => "前次充装未录入复检记录",
        }
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

/// One failing rule and a reason a filler understands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub rule: Rule,
    pub reason: String,
}

/// The answer to "may this cylinder be filled now?".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub allow: bool,
    /// Every failing rule, in rule order; empty when allowed.
    pub refusals: Vec<Refusal>,
    /// 允许充装量 (kg) from the archive.
    pub fill_limit_kg: Option<f64>,
    /// Cut-off gross weight for the scale: tare + allowed fill (B4).
    pub target_gross_kg: Option<f64>,
}

/// What the rules read about one cylinder and one filling station.
#[derive(Debug, Clone, Copy)]
pub struct FillFacts<'a> {
    pub archive: &'a Archive,
    pub status: &'a CylinderStatus,
    /// The organisation of the filling station (the filling enterprise).
    pub enterprise_id: Uuid,
    /// The filling enterprise's licences.
    pub licences: &'a [Licence],
    /// The medium about to be filled (canonical name).
    pub medium: &'a str,
    /// The last day of the regulator's permission for this enterprise to fill the owner's
    /// cylinders (B9 委托充装), when one is in force or was.
    pub entrusted_until: Option<Date>,
    /// A vehicle cylinder (A9): never refused under B1.7.
    pub vehicle: bool,
}

pub const MIN_HOURS_BETWEEN_FILLS: i64 = 24;
pub const PRE_CHECK_VALID_HOURS: i64 = 16;

/// Rounds to grams, so that sums of decimals read as decimals (16.5 + 14.5 = 31.0, not 31.000000001).
fn grams(kg: f64) -> f64 {
    (kg * 1000.0).round() / 1000.0
}

/// Evaluates rules B1.1–B1.12 at instant `now`.
pub fn decide(f: &FillFacts<'_>, now: DateTime<Utc>) -> Decision {
    let today = Date(china_date(now));
    let a = f.archive;
    let s = f.status;
    let mut refusals = Vec::new();
    let mut refuse = |rule: Rule, reason: String| refusals.push(Refusal { rule, reason });

    for (rule, kind, name) in [
        (Rule::B1_1, LicenceKind::Filling, "气瓶充装许可证"),
        (Rule::B1_2, LicenceKind::GasBusiness, "燃气经营许可证"),
    ] {
        let of_kind: Vec<&Licence> = f.licences.iter().filter(|l| l.kind == kind).collect();
        if of_kind.is_empty() {
            refuse(rule, format!("充装单位没有有效的{name}，不能充装"));
        } else if !of_kind.iter().any(|l| l.valid_on(today)) {
            let last = of_kind.iter().map(|l| l.valid_until).max().unwrap_or(today);
            refuse(rule, format!("充装单位的{name}已于 {last} 到期，不能充装"));
        }
    }
    if s.registration.is_none() {
        refuse(Rule::B1_3, "气瓶未办理使用登记，不能充装".to_owned());
    }
    match s.next_check_date {
        Some(next) if next < today => {
            refuse(Rule::B1_4, format!("气瓶已超过下次检验日期 {next}，请送检"))
        }
        Some(_) => {}
        None => refuse(
            Rule::B1_4,
            "气瓶档案缺少下次检验日期，请核实检验情况".to_owned(),
        ),
    }
    match a.effective_discard_date() {
        Some(end) if end < today => refuse(
            Rule::B1_5,
            format!("气瓶已超过设计使用年限（报废日期 {end}），应报废"),
        ),
        Some(_) => {}
        None => refuse(
            Rule::B1_5,
            "气瓶档案缺少报废日期和制造日期，无法确认使用年限".to_owned(),
        ),
    }
    if s.state == CylinderState::Scrapped {
        refuse(Rule::B1_6, "气瓶已报废，严禁充装".to_owned());
    }
    if s.state == CylinderState::Locked {
        refuse(
            Rule::A10,
            "气瓶档案已停用（锁定），严禁充装；解除锁定后方可充装".to_owned(),
        );
    }
    if a.owner_org_id != Some(f.enterprise_id) && !f.vehicle {
        match f.entrusted_until {
            Some(until) if until >= today => {}
            Some(until) => refuse(
                Rule::B1_7,
                format!("委托充装许可已于 {until} 到期，不能充装非本单位产权的气瓶"),
            ),
            None => refuse(
                Rule::B1_7,
                "该气瓶不是本单位办理使用登记的气瓶（非自有产权），不能充装".to_owned(),
            ),
        }
    }
    if let Some(last) = s.last_fill_at {
        let since = now - last;
        if since < Duration::hours(MIN_HOURS_BETWEEN_FILLS) {
            let next = last + Duration::hours(MIN_HOURS_BETWEEN_FILLS);
            refuse(
                Rule::B1_8,
                format!(
                    "距上次充装（{}）不足 24 小时，{} 后方可充装",
                    crate::time::Timestamp(last).to_cst_string(),
                    crate::time::Timestamp(next).to_cst_string()
                ),
            );
        }
        if !(s.out_since_fill && s.back_since_out) {
            let missing = if s.out_since_fill {
                "回收（空瓶返回）"
            } else {
                "出库/配送和回收"
            };
            refuse(
                Rule::B1_9,
                format!("上次充装后缺少{missing}记录，两次充装间流转数据不全"),
            );
        }
        if !s.post_fill_checked {
            let reason = if s.failed_check.as_deref() == Some("post_fill_check") {
                "上次充装后的复检不合格，复检合格前不能再次充装"
            } else {
                "上次充装后未录入充装后复检记录，不能再次充装"
            };
            refuse(Rule::B1_12, reason.to_owned());
        }
    }
    match s.last_pre_fill_pass_at {
        Some(t) if now - t <= Duration::hours(PRE_CHECK_VALID_HOURS) => {}
        Some(_) => refuse(
            Rule::B1_10,
            "充装前检查合格记录已超过 16 小时，请重新进行充装前检查".to_owned(),
        ),
        None => {
            let reason = match s.failed_check.as_deref() {
                Some("pre_fill_check") => "充装前检查不合格，须重新检查合格后才能充装",
                Some("in_fill_check") => "充装中检查发现异常，须重新进行充装前检查合格后才能充装",
                _ => "没有 16 小时内的充装前检查合格记录，请先进行充装前检查",
            };
            refuse(Rule::B1_10, reason.to_owned());
        }
    }
    match a
        .medium
        .as_ref()
        .map(|m| canonical_medium(m.as_str()).unwrap_or(m.as_str()))
    {
        Some(m) if m == f.medium => {}
        Some(m) => refuse(
            Rule::B1_11,
            format!(
                "气瓶登记的充装介质为“{m}”，与本次充装介质“{}”不符",
                f.medium
            ),
        ),
        None => refuse(
            Rule::B1_11,
            "气瓶档案未登记充装介质，不能确认与所充介质相符".to_owned(),
        ),
    }
    refusals.sort_by_key(|r| r.rule);
    let fill_limit_kg = a.fill_limit_kg.map(|k| k.get());
    let target_gross_kg = a
        .tare_kg
        .zip(a.fill_limit_kg)
        .map(|(t, l)| grams(t.get() + l.get()));
    Decision {
        allow: refusals.is_empty(),
        refusals,
        fill_limit_kg,
        target_gross_kg,
    }
}

/// The A8 refusal for a code without an archive, or for a void label.
pub fn illegal_label(status: Option<&CylinderStatus>) -> Refusal {
    let reason = match status {
        None => "标签无效：平台中没有该编码的气瓶档案，疑似非法标签，严禁充装",
        Some(s) if s.label == LabelStatus::Void => "标签已作废（气瓶已报废），严禁充装",
        Some(_) => "标签无效，严禁充装",
    };
    Refusal {
        rule: Rule::A8,
        reason: reason.to_owned(),
    }
}

/// An alarm raised by an event (B4).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alarm {
    pub kind: AlarmKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    /// A fill's net weight exceeds the cylinder's allowed fill.
    Overfill,
}

impl AlarmKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmKind::Overfill => "overfill",
        }
    }
}

/// Alarms an event raises for a cylinder with archive `a` (B4: overfill).
pub fn alarms_for(data: &EventData, a: &Archive) -> Vec<Alarm> {
    match (data, a.fill_limit_kg) {
        (EventData::Fill(f), Some(limit)) if overfilled(f, limit.get()) => vec![Alarm {
            kind: AlarmKind::Overfill,
            message: format!(
                "超装：充装量 {:.2} kg 超过允许充装量 {:.2} kg（超出 {:.2} kg）",
                f.net_kg(),
                limit.get(),
                f.net_kg() - limit.get()
            ),
        }],
        _ => vec![],
    }
}

/// Net above the allowed fill, to the gram.
pub fn overfilled(f: &Fill, limit_kg: f64) -> bool {
    grams(f.net_kg()) > grams(limit_kg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::from_value;
    use crate::status::CylinderStatus;
    use proptest::prelude::*;
    use serde_json::json;

    const ENTERPRISE: Uuid = Uuid::from_u128(0xE1);
    const OTHER: Uuid = Uuid::from_u128(0xE2);
    const LPG: &str = "液化石油气";

    /// 2026-11-21 10:00 in China.
    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-21T10:00:00+08:00")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// A cylinder, enterprise and history that pass every rule at `now()`.
    struct Case {
        archive: Archive,
        status: CylinderStatus,
        licences: Vec<Licence>,
        medium: &'static str,
        entrusted_until: Option<Date>,
        vehicle: bool,
    }

    fn ok_case() -> Case {
        let archive: Archive = from_value(
            &json!({"code": "1103007831", "medium": LPG, "tare_kg": 16.5, "fill_limit_kg": 14.5,
                    "manufacture_date": "2022-09", "life_years": 8, "discard_date": "2030-09-01",
                    "last_check_date": "2022-09-01", "next_check_date": "2026-12-01", "owner_org_id": ENTERPRISE,
                    "registration": {"number": "553001000001", "date": "2022-10-01", "authority": "昆明市市场监督管理局"}}),
            "",
        )
        .unwrap();
        let mut status = CylinderStatus::initial(&archive);
        status.last_fill_at = Some(now() - Duration::days(3));
        status.post_fill_checked = true;
        status.out_since_fill = true;
        status.back_since_out = true;
        status.last_pre_fill_pass_at = Some(now() - Duration::hours(1));
        let licences = from_value(
            &json!([{"kind": "filling", "number": "TS4253001-2028", "valid_until": "2028-12-31"},
                    {"kind": "gas_business", "number": "云燃经字第001号", "valid_until": "2028-12-31"}]),
            "",
        )
        .unwrap();
        Case {
            archive,
            status,
            licences,
            medium: LPG,
            entrusted_until: None,
            vehicle: false,
        }
    }

    impl Case {
        fn decide_at(&self, now: DateTime<Utc>) -> Decision {
            decide(
                &FillFacts {
                    archive: &self.archive,
                    status: &self.status,
                    enterprise_id: ENTERPRISE,
                    licences: &self.licences,
                    medium: self.medium,
                    entrusted_until: self.entrusted_until,
                    vehicle: self.vehicle,
                },
                now,
            )
        }

        fn rules(&self) -> Vec<&'static str> {
            self.decide_at(now())
                .refusals
                .iter()
                .map(|r| r.rule.id())
                .collect()
        }
    }

    fn date(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    /// Breaks exactly one rule of table B.1 (index 0 = B1.1 … 11 = B1.12).
    fn break_rule(c: &mut Case, i: usize) {
        match i {
            0 => c.licences[0].valid_until = date("2026-11-20"),
            1 => c.licences[1].valid_until = date("2026-11-20"),
            2 => c.status.registration = None,
            3 => c.status.next_check_date = Some(date("2026-11-20")),
            4 => c.archive.discard_date = Some(date("2026-11-20")),
            5 => c.status.state = CylinderState::Scrapped,
            6 => c.archive.owner_org_id = Some(OTHER),
            7 => c.status.last_fill_at = Some(now() - Duration::hours(23) - Duration::minutes(59)),
            8 => c.status.back_since_out = false,
            9 => {
                c.status.last_pre_fill_pass_at =
                    Some(now() - Duration::hours(16) - Duration::minutes(1))
            }
            10 => c.medium = "二甲醚",
            11 => c.status.post_fill_checked = false,
            _ => unreachable!(),
        }
    }

    /// A cylinder failing only rule `i` is refused with exactly that rule.
    fn only(i: usize) {
        let mut c = ok_case();
        break_rule(&mut c, i);
        let d = c.decide_at(now());
        assert!(!d.allow);
        assert_eq!(c.rules(), vec![Rule::TABLE_B1[i].id()]);
        assert!(!d.refusals[0].reason.is_empty());
    }

    #[test]
    fn a_cylinder_passing_every_rule_is_allowed_with_its_cut_off_weight() {
        let d = ok_case().decide_at(now());
        assert!(d.allow, "{:?}", d.refusals);
        assert!(d.refusals.is_empty());
        assert_eq!(d.fill_limit_kg, Some(14.5));
        assert_eq!(d.target_gross_kg, Some(31.0));
    }

    #[test]
    fn b1_1_filling_licence_expired() {
        only(0);
        let mut c = ok_case();
        c.licences.retain(|l| l.kind != LicenceKind::Filling);
        assert_eq!(c.rules(), vec!["B1.1"], "a missing licence is refused too");
        // Fixed: valid through today.
        let mut c = ok_case();
        c.licences[0].valid_until = date("2026-11-21");
        assert!(c.decide_at(now()).allow);
    }

    #[test]
    fn b1_2_gas_business_licence_expired() {
        only(1);
        let mut c = ok_case();
        c.licences.retain(|l| l.kind != LicenceKind::GasBusiness);
        assert_eq!(c.rules(), vec!["B1.2"]);
        let mut c = ok_case();
        c.licences[1].valid_until = date("2026-11-21");
        assert!(c.decide_at(now()).allow);
    }

    #[test]
    fn b1_3_not_registered() {
        only(2);
        assert!(ok_case().decide_at(now()).allow);
    }

    #[test]
    fn b1_4_overdue_for_inspection() {
        only(3);
        let mut c = ok_case();
        c.status.next_check_date = Some(date("2026-11-21"));
        assert!(c.decide_at(now()).allow, "due today is not overdue");
        let mut c = ok_case();
        c.status.next_check_date = None;
        assert_eq!(
            c.rules(),
            vec!["B1.4"],
            "an unknown next check date is not assumed valid"
        );
        let mut c = ok_case();
        break_rule(&mut c, 3);
        assert!(
            c.decide_at(now()).refusals[0].reason.contains("2026-11-20"),
            "the reason names the date"
        );
    }

    #[test]
    fn b1_4_is_judged_on_the_china_calendar() {
        // 17:00 UTC on 20 November is already 01:00 on 21 November in China.
        let t = DateTime::parse_from_rfc3339("2026-11-20T17:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut c = ok_case();
        c.status.last_pre_fill_pass_at = Some(t - Duration::hours(1));
        c.status.last_fill_at = Some(t - Duration::days(3));
        c.status.next_check_date = Some(date("2026-11-21"));
        assert!(c.decide_at(t).allow, "due today (China) is allowed");
        c.status.next_check_date = Some(date("2026-11-20"));
        let d = c.decide_at(t);
        assert_eq!(
            d.refusals.iter().map(|r| r.rule.id()).collect::<Vec<_>>(),
            vec!["B1.4"],
            "yesterday in China, though still today in UTC"
        );
    }

    #[test]
    fn b1_5_past_design_life() {
        only(4);
        let mut c = ok_case();
        c.archive.discard_date = None;
        c.archive.manufacture_date = Some(crate::time::MonthOrDate::parse("2018-11").unwrap());
        assert_eq!(
            c.rules(),
            vec!["B1.5"],
            "manufacture date + life years when no discard date"
        );
        c.archive.manufacture_date = Some(crate::time::MonthOrDate::parse("2018-12").unwrap());
        assert!(c.decide_at(now()).allow);
        let mut c = ok_case();
        c.archive.discard_date = Some(date("2026-11-21"));
        assert!(
            c.decide_at(now()).allow,
            "the discard date itself is still usable"
        );
    }

    #[test]
    fn b1_6_scrapped() {
        only(5);
        assert!(ok_case().decide_at(now()).allow);
    }

    // A10: a locked archive is refused first (after A8), and only while locked.
    #[test]
    fn a10_locked_is_refused_first() {
        let mut c = ok_case();
        c.status.state = CylinderState::Locked;
        c.status.next_check_date = Some(date("2026-01-01"));
        assert_eq!(c.rules(), vec!["A10", "B1.4"]);
        c.status.state = CylinderState::Normal;
        assert_eq!(c.rules(), vec!["B1.4"]);
        assert_eq!(Rule::parse("A10"), Some(Rule::A10));
    }

    // B1.7 / B9: a regulator's permission (委托充装) lets the enterprise fill another owner's
    // cylinders up to and including its last day; vehicle cylinders (A9) are never refused.
    #[test]
    fn b1_7_entrusted_filling_and_vehicle_cylinders() {
        let mut c = ok_case();
        c.archive.owner_org_id = Some(OTHER);
        assert_eq!(c.rules(), vec!["B1.7"]);
        c.entrusted_until = Some(date("2026-11-21"));
        assert!(c.decide_at(now()).allow, "the last day still counts");
        c.entrusted_until = Some(date("2026-11-20"));
        let d = c.decide_at(now());
        assert_eq!(c.rules(), vec!["B1.7"]);
        assert!(d.refusals[0].reason.contains("2026-11-20"));
        c.entrusted_until = None;
        c.vehicle = true;
        assert!(c.decide_at(now()).allow);
    }

    #[test]
    fn b1_7_not_own_property() {
        only(6);
        let mut c = ok_case();
        c.archive.owner_org_id = None;
        assert_eq!(c.rules(), vec!["B1.7"]);
    }

    #[test]
    fn b1_8_less_than_24_hours_since_the_last_fill() {
        only(7);
        let mut c = ok_case();
        c.status.last_fill_at = Some(now() - Duration::hours(24) - Duration::minutes(1));
        assert!(c.decide_at(now()).allow, "24 h 01 min is enough");
        c.status.last_fill_at = Some(now() - Duration::hours(24));
        assert!(
            c.decide_at(now()).allow,
            "exactly 24 h is not less than 24 h"
        );
    }

    #[test]
    fn b1_9_circulation_incomplete() {
        only(8);
        let mut c = ok_case();
        c.status.out_since_fill = false;
        c.status.back_since_out = false;
        assert_eq!(c.rules(), vec!["B1.9"]);
    }

    #[test]
    fn b1_10_no_passed_pre_fill_check_in_16_hours() {
        only(9);
        let mut c = ok_case();
        c.status.last_pre_fill_pass_at = Some(now() - Duration::hours(15) - Duration::minutes(59));
        assert!(c.decide_at(now()).allow, "15 h 59 min is recent enough");
        c.status.last_pre_fill_pass_at = None;
        assert_eq!(c.rules(), vec!["B1.10"]);
        c.status.failed_check = Some("pre_fill_check".to_owned());
        assert!(c.decide_at(now()).refusals[0].reason.contains("不合格"));
    }

    #[test]
    fn b1_11_medium_differs() {
        only(10);
        let mut c = ok_case();
        c.archive.medium = None;
        assert_eq!(c.rules(), vec!["B1.11"]);
        let mut c = ok_case();
        c.archive.medium = Some(crate::units::Text::parse("LPG").unwrap());
        assert!(c.decide_at(now()).allow, "aliases are the same medium");
    }

    #[test]
    fn b1_12_no_post_fill_recheck() {
        only(11);
        let mut c = ok_case();
        c.status.post_fill_checked = false;
        c.status.failed_check = Some("post_fill_check".to_owned());
        let d = c.decide_at(now());
        assert_eq!(d.refusals.len(), 1);
        assert!(d.refusals[0].reason.contains("复检不合格"));
    }

    #[test]
    fn a_cylinder_never_filled_passes_b1_8_b1_9_and_b1_12() {
        let mut c = ok_case();
        c.status.last_fill_at = None;
        c.status.post_fill_checked = false;
        c.status.out_since_fill = false;
        c.status.back_since_out = false;
        assert!(c.decide_at(now()).allow);
    }

    #[test]
    fn several_failing_rules_are_all_listed_in_rule_order() {
        let mut c = ok_case();
        for i in [10, 3, 0, 7] {
            break_rule(&mut c, i);
        }
        assert_eq!(c.rules(), vec!["B1.1", "B1.4", "B1.8", "B1.11"]);
    }

    #[test]
    fn every_combination_of_broken_rules_is_reported_exactly() {
        // All 4096 subsets of the 12 rules: the refusals are exactly the broken ones, in order.
        for mask in 0u32..(1 << 12) {
            let mut c = ok_case();
            let mut expected = Vec::new();
            for i in 0..12 {
                if mask & (1 << i) != 0 {
                    break_rule(&mut c, i);
                    expected.push(Rule::TABLE_B1[i].id());
                }
            }
            let d = c.decide_at(now());
            assert_eq!(c.rules(), expected, "mask {mask:#014b}");
            assert_eq!(d.allow, mask == 0);
        }
    }

    #[test]
    fn illegal_labels() {
        assert_eq!(illegal_label(None).rule, Rule::A8);
        let mut s = ok_case().status;
        s.label = LabelStatus::Void;
        assert!(illegal_label(Some(&s)).reason.contains("作废"));
    }

    #[test]
    fn overfill_raises_an_alarm() {
        let a = ok_case().archive;
        let fill = |gross: f64| {
            EventData::parse(
                crate::event::EventKind::Fill,
                &json!({"scale_no": "S1", "begin": "2026-11-21T08:00:00+08:00", "end": "2026-11-21T08:03:00+08:00", "tare_kg": 16.5, "gross_kg": gross}),
                "",
            )
            .unwrap()
        };
        assert!(
            alarms_for(&fill(31.0), &a).is_empty(),
            "exactly the allowed fill"
        );
        let alarms = alarms_for(&fill(31.2), &a);
        assert_eq!(alarms.len(), 1);
        assert_eq!(alarms[0].kind, AlarmKind::Overfill);
        assert!(alarms[0].message.contains("14.70"), "{}", alarms[0].message);
    }

    #[test]
    fn media_and_aliases() {
        assert_eq!(canonical_medium(" LPG "), Some("液化石油气"));
        assert_eq!(canonical_medium("二甲醚"), Some("二甲醚"));
        assert_eq!(canonical_medium("氧气"), None);
    }

    proptest! {
        // The rule function never allows a cylinder that any single rule, read from the contract,
        // refuses — whatever the dates, times and flags.
        #[test]
        fn never_allows_what_a_single_rule_refuses(
            fill_licence_days in -3i64..3, gas_licence_days in -3i64..3, registered in any::<bool>(),
            next_check_days in proptest::option::of(-3i64..3), discard_days in -3i64..3, scrapped in any::<bool>(),
            own in any::<bool>(), last_fill_minutes in proptest::option::of(0i64..3000), out in any::<bool>(), back in any::<bool>(),
            pre_check_minutes in proptest::option::of(0i64..2000), same_medium in any::<bool>(), post_checked in any::<bool>(),
            minute_of_day in 0i64..1440,
        ) {
            let now = DateTime::parse_from_rfc3339("2026-11-20T16:00:00Z").unwrap().with_timezone(&Utc) + Duration::minutes(minute_of_day);
            let today = china_date(now);
            let day = |d: i64| Date(today + Duration::days(d));
            let mut c = ok_case();
            c.licences[0].valid_until = day(fill_licence_days);
            c.licences[1].valid_until = day(gas_licence_days);
            if !registered { c.status.registration = None; }
            c.status.next_check_date = next_check_days.map(day);
            c.archive.discard_date = Some(day(discard_days));
            if scrapped { c.status.state = CylinderState::Scrapped; }
            if !own { c.archive.owner_org_id = Some(OTHER); }
            c.status.last_fill_at = last_fill_minutes.map(|m| now - Duration::minutes(m));
            c.status.out_since_fill = out;
            c.status.back_since_out = back;
            c.status.last_pre_fill_pass_at = pre_check_minutes.map(|m| now - Duration::minutes(m));
            if !same_medium { c.medium = "二甲醚"; }
            c.status.post_fill_checked = post_checked;
            let d = c.decide_at(now);
            let filled = last_fill_minutes.is_some();
            let single_rule_refuses = [
                fill_licence_days < 0,
                gas_licence_days < 0,
                !registered,
                next_check_days.is_none_or(|d| d < 0),
                discard_days < 0,
                scrapped,
                !own,
                last_fill_minutes.is_some_and(|m| m < 24 * 60),
                filled && !(out && back),
                pre_check_minutes.is_none_or(|m| m > 16 * 60),
                !same_medium,
                filled && !post_checked,
            ];
            let expected: Vec<&str> = Rule::TABLE_B1.iter().zip(single_rule_refuses).filter(|(_, r)| *r).map(|(rule, _)| rule.id()).collect();
            let got: Vec<&str> = d.refusals.iter().map(|r| r.rule.id()).collect();
            prop_assert_eq!(&got, &expected);
            prop_assert_eq!(d.allow, expected.is_empty());
        }
    }
}
