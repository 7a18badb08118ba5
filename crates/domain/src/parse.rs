//! Turning untrusted JSON into domain types with the failing field's path and a Chinese reason.
//!
//! JSON is first parsed into a `serde_json::Value` by the caller (so malformed JSON is told apart from
//! invalid content), then deserialised into a domain type here. Newtypes validate in `TryFrom`, so their
//! messages arrive already in Chinese; serde's own messages (missing, unknown or mistyped fields) are
//! translated.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ValidationErrors, join_path};

/// Deserialises `value` into `T`; on failure the error names the path below `prefix`.
pub fn from_value<T: DeserializeOwned>(value: &Value, prefix: &str) -> Result<T, ValidationErrors> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let (extra, message) = translate(&err.inner().to_string());
        let mut field = join_path(prefix, &path);
        if let Some(name) = extra
            && !field.ends_with(&name)
        {
            field = join_path(&field, &name);
        }
        ValidationErrors::one(field, message)
    })
}

/// Maps serde's English messages to Chinese ones; returns the field name serde mentions in backticks
/// when the path does not include it (missing and unknown fields).
fn translate(msg: &str) -> (Option<String>, String) {
    let ticked = || msg.split('`').nth(1).map(str::to_owned);
    if msg.starts_with("missing field") {
        (ticked(), "缺少必填字段".to_owned())
    } else if msg.starts_with("unknown field") {
        (ticked(), "不允许的字段（未知字段）".to_owned())
    } else if msg.starts_with("unknown variant") {
        let allowed = msg.split("expected ").nth(1).unwrap_or("").replace('`', "");
        (None, format!("取值不在允许范围内，允许：{allowed}"))
    } else if let Some(rest) = msg.strip_prefix("invalid type: ") {
        let (got, want) = rest.split_once(", expected ").unwrap_or((rest, "?"));
        (
            None,
            format!("类型错误：应为 {}，实际为 {}", kind_zh(want), kind_zh(got)),
        )
    } else if msg.starts_with("invalid value") || msg.starts_with("invalid length") {
        (None, format!("取值无效（{msg}）"))
    } else {
        (None, msg.to_owned())
    }
}

fn kind_zh(s: &str) -> String {
    let s = s.trim();
    let zh = if s.contains("bool") {
        "布尔值"
    } else if s.contains("f64")
        || s.contains("floating")
        || s.contains("integer")
        || s.contains("u8")
        || s.contains("u16")
        || s.contains("u32")
        || s.contains("i64")
    {
        "数字"
    } else if s.starts_with("string") || s.contains("a string") {
        "字符串"
    } else if s.contains("sequence") {
        "数组"
    } else if s.contains("map") || s.contains("struct") {
        "对象"
    } else if s == "null" {
        "null"
    } else {
        return s.to_owned();
    };
    zh.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        weight: f64,
        ok: bool,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        items: Vec<Inner>,
    }

    #[test]
    fn names_the_path_of_a_mistyped_field() {
        let v = serde_json::json!({"items": [{"weight": 1.0, "ok": true}, {"weight": "x", "ok": true}]});
        let e = from_value::<Outer>(&v, "body").unwrap_err();
        assert_eq!(e.0[0].field, "body.items[1].weight");
        assert!(e.0[0].message.contains("数字"), "{}", e.0[0].message);
    }

    #[test]
    fn names_a_missing_and_an_unknown_field() {
        let v = serde_json::json!({"items": [{"weight": 1.0}]});
        let e = from_value::<Outer>(&v, "").unwrap_err();
        assert_eq!(e.0[0].field, "items[0].ok");
        assert_eq!(e.0[0].message, "缺少必填字段");
        let v = serde_json::json!({"items": [{"weight": 1.0, "ok": true, "extra": 1}]});
        let e = from_value::<Outer>(&v, "").unwrap_err();
        assert_eq!(e.0[0].field, "items[0].extra");
    }
}
