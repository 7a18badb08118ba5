//! Household safety checks (C9, E8): the configurable items, a recorded check and the rectification
//! tasks its failed items open, with reminders.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ValidationErrors;
use crate::org::check_position;
use crate::units::Text;

// ---------------------------------------------------------------------------------------------
// Household safety checks (C9, E8)

/// A configurable item of the household safety check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckItem {
    /// Short stable code, e.g. `hose`.
    pub code: Text,
    pub text: Text,
    /// Days the customer has to rectify a failed item.
    pub rectify_days: u32,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// The check items a node starts with (seed 000 §6.5.5, seed 003 §5: 随瓶安检).
pub fn default_check_items() -> Vec<CheckItem> {
    let item = |code: &str, text: &str, days| CheckItem {
        code: Text::parse(code).expect("static"),
        text: Text::parse(text).expect("static"),
        rectify_days: days,
        active: true,
    };
    vec![
        item("leak", "气瓶、阀门及连接处无泄漏", 1),
        item("hose", "连接软管未老化、无龟裂，长度不超过 2 米且未穿墙", 7),
        item("regulator", "使用合格的减压阀", 7),
        item("room", "用气场所通风良好，不在卧室、地下室使用", 7),
        item("distance", "气瓶与灶具保持安全距离（不小于 0.5 米）", 7),
        item("upright", "气瓶直立放置，无倒置、卧放、加热", 1),
        item("alarm", "商业用户安装可燃气体报警器并正常工作", 15),
        item("stove", "燃气灶具有熄火保护装置", 15),
    ]
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckAnswer {
    pub item: Text,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remark: Option<Text>,
}

/// A household safety check as recorded by the courier or inspector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewHouseholdCheck {
    /// The idempotency key: a retry with the same id answers the check recorded first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    pub customer_id: Uuid,
    #[serde(default)]
    pub address_index: usize,
    pub time: DateTime<Utc>,
    pub answers: Vec<CheckAnswer>,
    /// SM3 hashes (hex) of photos uploaded through `POST /api/v1/files`.
    #[serde(default)]
    pub photos: Vec<String>,
    /// SM3 hash of the customer's e-signature image.
    pub signature: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
}

/// A rectification task for one failed item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rectification {
    pub item: Text,
    pub text: Text,
    pub due: DateTime<Utc>,
}

impl NewHouseholdCheck {
    /// Validates against the active items: every one answered once, nothing unknown; returns the
    /// rectification tasks the failed items create.
    pub fn rectifications(
        &self,
        items: &[CheckItem],
        addresses: usize,
    ) -> Result<Vec<Rectification>, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        let active: Vec<&CheckItem> = items.iter().filter(|i| i.active).collect();
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for (i, a) in self.answers.iter().enumerate() {
            match active.iter().find(|c| c.code == a.item) {
                None => errs.push(
                    format!("answers[{i}].item"),
                    format!("未知的安检项目“{}”", a.item),
                ),
                Some(_) if !seen.insert(a.item.as_str()) => {
                    errs.push(format!("answers[{i}].item"), "安检项目重复")
                }
                Some(c) if !a.ok => out.push(Rectification {
                    item: c.code.clone(),
                    text: c.text.clone(),
                    due: self.time + Duration::days(i64::from(c.rectify_days)),
                }),
                Some(_) => {}
            }
        }
        for c in &active {
            if !seen.contains(c.code.as_str()) {
                errs.push("answers", format!("缺少安检项目“{}”（{}）", c.code, c.text));
            }
        }
        for (field, h) in std::iter::once(("signature".to_owned(), &self.signature)).chain(
            self.photos
                .iter()
                .enumerate()
                .map(|(i, p)| (format!("photos[{i}]"), p)),
        ) {
            if !is_file_hash(h) {
                errs.push(field, "应为已上传文件的 SM3 值（64 位十六进制）");
            }
        }
        if self.address_index >= addresses {
            errs.push("address_index", format!("该用户只有 {addresses} 个地址"));
        }
        check_position(self.lat, self.lon, &mut errs);
        errs.into_result(out)
    }
}

/// Whether `s` is a content address (64 lower-case hex characters).
pub fn is_file_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The reminder a rectification task due at `due` needs at `now`, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reminder {
    /// Due within a day.
    DueSoon,
    Overdue,
}

pub fn reminder(due: DateTime<Utc>, now: DateTime<Utc>) -> Option<Reminder> {
    if now > due {
        Some(Reminder::Overdue)
    } else if due - now <= Duration::days(1) {
        Some(Reminder::DueSoon)
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------------
