//! Reading the interface's capitalised JSON: a property at a time, every error naming its path
//! (`Items[1].GrossWeight`), tolerant of the spec's sloppy examples (white space, numbers as
//! strings).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::codes::CylinderCode;
use crate::error::ValidationErrors;
use crate::event::{CheckResult, CheckSummary};
use crate::time::Date;
use crate::units::{Kg, Text};

use super::*;

/// A JSON object being read, with the path of its properties for errors.
pub(crate) struct Obj<'a> {
    pub(crate) map: &'a Map<String, Value>,
    pub(crate) prefix: String,
}

impl<'a> Obj<'a> {
    pub(crate) fn root(
        v: &'a Value,
        errs: &mut ValidationErrors,
    ) -> Result<Self, ValidationErrors> {
        match Obj::new(v, String::new(), errs) {
            Some(o) => Ok(o),
            None => Err(std::mem::take(errs)),
        }
    }

    pub(crate) fn new(v: &'a Value, prefix: String, errs: &mut ValidationErrors) -> Option<Self> {
        match v.as_object() {
            Some(map) => Some(Obj { map, prefix }),
            None => {
                errs.push(prefix, "应为 JSON 对象");
                None
            }
        }
    }

    pub(crate) fn at(&self, name: &str) -> String {
        crate::error::join_path(&self.prefix, name)
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    pub(crate) fn get(&self, name: &str, errs: &mut ValidationErrors) -> Option<&'a Value> {
        match self.map.get(name) {
            None => {
                errs.push(self.at(name), "缺少必填属性");
                None
            }
            Some(Value::Null) => {
                // The spec: an optional property is omitted, never null; a required one is a value.
                errs.push(self.at(name), "不能为 null");
                None
            }
            Some(v) => Some(v),
        }
    }

    pub(crate) fn obj(&self, name: &str, errs: &mut ValidationErrors) -> Option<Obj<'a>> {
        let v = self.get(name, errs)?;
        Obj::new(v, self.at(name), errs)
    }

    pub(crate) fn array(&self, name: &str, errs: &mut ValidationErrors) -> &'a [Value] {
        match self.get(name, errs) {
            Some(Value::Array(a)) => a,
            Some(_) => {
                errs.push(self.at(name), "类型错误：应为数组");
                &[]
            }
            None => &[],
        }
    }

    /// A string; a number is accepted as its decimal text (senders differ).
    pub(crate) fn str(&self, name: &str, errs: &mut ValidationErrors) -> Option<String> {
        match self.get(name, errs)? {
            Value::String(s) => Some(s.trim().to_owned()),
            Value::Number(n) => Some(n.to_string()),
            _ => {
                errs.push(self.at(name), "类型错误：应为字符串");
                None
            }
        }
    }

    pub(crate) fn opt_str(&self, name: &str, errs: &mut ValidationErrors) -> Option<String> {
        if self.map.contains_key(name) {
            self.str(name, errs)
        } else {
            None
        }
    }

    pub(crate) fn parse_text(
        &self,
        name: &str,
        s: &str,
        errs: &mut ValidationErrors,
    ) -> Option<Text> {
        match Text::parse(s) {
            Ok(t) => Some(t),
            Err(m) => {
                errs.push(self.at(name), m);
                None
            }
        }
    }

    /// A JSON string, and only a string: a name or a remark sent as a number (`"Name": 7`) is a
    /// wrong type (YUNNAN-API: `State` 1), not its decimal text.
    pub(crate) fn string(&self, name: &str, errs: &mut ValidationErrors) -> Option<String> {
        match self.get(name, errs)? {
            Value::String(s) => Some(s.trim().to_owned()),
            _ => {
                errs.push(self.at(name), "类型错误：应为字符串");
                None
            }
        }
    }

    pub(crate) fn opt_string(&self, name: &str, errs: &mut ValidationErrors) -> Option<String> {
        if self.map.contains_key(name) {
            self.string(name, errs)
        } else {
            None
        }
    }

    /// Bounded text (`Text`) from a JSON string.
    pub(crate) fn text(&self, name: &str, errs: &mut ValidationErrors) -> Option<Text> {
        let s = self.string(name, errs)?;
        self.parse_text(name, &s, errs)
    }

    pub(crate) fn code(&self, name: &str, errs: &mut ValidationErrors) -> Option<CylinderCode> {
        let s = self.str(name, errs)?;
        match CylinderCode::parse(&s) {
            Ok(c) => Some(c),
            Err(m) => {
                errs.push(self.at(name), m);
                None
            }
        }
    }

    /// An id (`ThridId`, `ThirdId`): a bigint in the spec, so an integer or the decimal digits of
    /// one in a string; or a UUID, which cyltrace's own uplink sends (the event's id). Anything
    /// else (`"abc"`, `1.5`, `true`) is a wrong type.
    pub(crate) fn id(&self, name: &str, errs: &mut ValidationErrors) -> Option<String> {
        let digits = |s: &str| {
            let d = s.strip_prefix('-').unwrap_or(s);
            !d.is_empty() && d.len() <= 19 && d.bytes().all(|b| b.is_ascii_digit())
        };
        match self.get(name, errs)? {
            Value::String(s) if digits(s.trim()) || uuid::Uuid::parse_str(s.trim()).is_ok() => {
                Some(s.trim().to_owned())
            }
            Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
            _ => {
                errs.push(
                    self.at(name),
                    "类型错误：应为整数（或 cyltrace 事件的 UUID）",
                );
                None
            }
        }
    }

    /// An integer property: a JSON integer, or the decimal digits of one in a string (the spec's
    /// examples send numbers as strings); `"x"` and `1.5` are a wrong type.
    pub(crate) fn integer(&self, name: &str, errs: &mut ValidationErrors) -> Option<i64> {
        let n = match self.get(name, errs)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        if n.is_none() {
            errs.push(self.at(name), "类型错误：应为整数");
        }
        n
    }

    pub(crate) fn num(&self, name: &str, errs: &mut ValidationErrors) -> Option<f64> {
        let v = self.get(name, errs)?;
        let n = match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if n.is_finite() => Some(n),
            _ => {
                errs.push(self.at(name), "类型错误：应为数值");
                None
            }
        }
    }

    pub(crate) fn opt_num(&self, name: &str, errs: &mut ValidationErrors) -> Option<f64> {
        if self.map.contains_key(name) {
            self.num(name, errs)
        } else {
            None
        }
    }

    pub(crate) fn int(&self, name: &str, errs: &mut ValidationErrors) -> Option<i64> {
        let n = self.num(name, errs)?;
        if n.fract() != 0.0 || n.abs() > 9.0e15 {
            errs.push(self.at(name), "类型错误：应为整数");
            return None;
        }
        Some(n as i64)
    }

    pub(crate) fn unit<T>(
        &self,
        name: &str,
        n: f64,
        make: fn(f64) -> Result<T, String>,
        errs: &mut ValidationErrors,
    ) -> Option<T> {
        match make(n) {
            Ok(v) => Some(v),
            Err(m) => {
                errs.push(self.at(name), m);
                None
            }
        }
    }

    pub(crate) fn kg(&self, name: &str, errs: &mut ValidationErrors) -> Option<Kg> {
        let n = self.num(name, errs)?;
        self.unit(name, n, Kg::new, errs)
    }

    pub(crate) fn date_of(&self, name: &str, s: &str, errs: &mut ValidationErrors) -> Option<Date> {
        match parse_ymd(s) {
            Ok(d) => Some(d),
            Err(m) => {
                errs.push(self.at(name), m);
                None
            }
        }
    }

    pub(crate) fn date(&self, name: &str, errs: &mut ValidationErrors) -> Option<Date> {
        let s = self.str(name, errs)?;
        self.date_of(name, &s, errs)
    }

    pub(crate) fn time_of(
        &self,
        name: &str,
        s: &str,
        errs: &mut ValidationErrors,
    ) -> Option<DateTime<Utc>> {
        match parse_ymdhms(s) {
            Ok(t) => Some(t),
            Err(m) => {
                errs.push(self.at(name), m);
                None
            }
        }
    }

    /// `State` 0/1 and the optional `Remark` of a check.
    pub(crate) fn check(&self, errs: &mut ValidationErrors) -> Option<CheckSummary> {
        let result = match self.int("State", errs)? {
            0 => CheckResult::Pass,
            1 => CheckResult::Fail,
            other => {
                errs.push(
                    self.at("State"),
                    format!("检查结果应为 0（合格）或 1（不合格），收到 {other}"),
                );
                return None;
            }
        };
        let remark = self
            .opt_string("Remark", errs)
            .filter(|s| !s.is_empty())
            .and_then(|s| self.parse_text("Remark", &s, errs));
        Some(CheckSummary { result, remark })
    }

    pub(crate) fn leaf(&self, errs: &mut ValidationErrors) -> Option<LeafRef> {
        if !self.has("LedgerIndex") && !self.has("LeafHash") {
            return None;
        }
        let index = self.int("LedgerIndex", errs)?;
        let hash = self.str("LeafHash", errs)?;
        match unhex32(&hash) {
            Some(leaf_hash) if index >= 0 => Some(LeafRef { index, leaf_hash }),
            _ => {
                errs.push(
                    self.at("LeafHash"),
                    "应为非负 LedgerIndex 与 64 位十六进制 LeafHash",
                );
                None
            }
        }
    }
}
