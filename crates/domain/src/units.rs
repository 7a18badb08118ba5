//! Measured quantities (kg, L, MPa, mm) and bounded text. Each is finite and non-negative.

use serde::{Deserialize, Serialize};

macro_rules! quantity {
    ($name:ident, $unit:literal, $max:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
        #[serde(try_from = "f64", into = "f64")]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = f64))]
        pub struct $name(f64);

        impl $name {
            pub fn new(v: f64) -> Result<Self, String> {
                if !v.is_finite() {
                    Err("应为有限数值".to_owned())
                } else if v < 0.0 {
                    Err(format!("不能为负数（收到 {v}）"))
                } else if v > $max {
                    Err(format!("数值过大（收到 {v} {}，上限 {}）", $unit, $max))
                } else {
                    Ok(Self(v))
                }
            }

            pub fn get(self) -> f64 {
                self.0
            }
        }

        impl TryFrom<f64> for $name {
            type Error = String;
            fn try_from(v: f64) -> Result<Self, String> {
                Self::new(v)
            }
        }

        impl From<$name> for f64 {
            fn from(v: $name) -> f64 {
                v.0
            }
        }
    };
}

quantity!(
    Kg,
    "kg",
    10_000.0,
    "A mass in kilograms (tare, gross, allowed fill)."
);
quantity!(
    Litres,
    "L",
    100_000.0,
    "A volume in litres (nominal water capacity)."
);
quantity!(Mpa, "MPa", 1_000.0, "A pressure in megapascals.");
quantity!(
    Mm,
    "mm",
    1_000.0,
    "A length in millimetres (design wall thickness)."
);

/// Non-empty text, trimmed, at most 200 characters: names, numbers of documents, reasons.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String))]
pub struct Text(String);

impl Text {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.is_empty() {
            Err("不能为空".to_owned())
        } else if t.chars().count() > Self::MAX_CHARS {
            Err(format!("过长（最多 {} 个字符）", Self::MAX_CHARS))
        } else if t.chars().any(char::is_control) {
            Err("不能包含控制字符".to_owned())
        } else {
            Ok(Self(t.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Text {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<Text> for String {
    fn from(t: Text) -> String {
        t.0
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why text that arrives from outside cannot be taken as text at all, whatever field it is for:
/// NUL (U+0000), which no PostgreSQL text column can hold (SQLite would store it, so the two
/// backends would disagree). Other control characters are the business of each field (`Text`
/// refuses them; a note may hold a line break).
pub fn unstorable(s: &str) -> Option<&'static str> {
    s.contains('\0').then_some("不能包含 NUL 字符（U+0000）")
}

/// The path (`items[2].name`, `Man.Name`) of the first string or property name in `v` that is
/// [`unstorable`], with the reason.
pub fn unstorable_in(v: &serde_json::Value) -> Option<(String, &'static str)> {
    use serde_json::Value;
    fn walk(v: &Value, path: &str) -> Option<(String, &'static str)> {
        match v {
            Value::String(s) => unstorable(s).map(|m| (path.to_owned(), m)),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .find_map(|(i, x)| walk(x, &format!("{path}[{i}]"))),
            Value::Object(m) => m.iter().find_map(|(k, x)| {
                // The path names a bad name without the NUL itself.
                let at = crate::error::join_path(path, &k.replace('\0', "\u{FFFD}"));
                match unstorable(k) {
                    Some(m) => Some((at, m)),
                    None => walk(x, &at),
                }
            }),
            _ => None,
        }
    }
    walk(v, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_refuse_negative_and_non_finite() {
        assert!(Kg::new(-0.1).is_err());
        assert!(Kg::new(f64::NAN).is_err());
        assert!(Kg::new(f64::INFINITY).is_err());
        assert_eq!(Kg::new(14.5).unwrap().get(), 14.5);
        assert!(serde_json::from_str::<Kg>("-1").is_err());
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(Text::parse("  昆明燃气 ").unwrap().as_str(), "昆明燃气");
        assert!(Text::parse("   ").is_err());
        assert!(Text::parse(&"字".repeat(201)).is_err());
        assert!(Text::parse("a\u{0}b").is_err());
    }

    #[test]
    fn nul_is_found_wherever_it_is() {
        // G4: NUL is refused in any text, and the refusal names where it was.
        assert!(unstorable("ab").is_none());
        assert!(unstorable("a\u{0}b").is_some());
        let v = serde_json::json!({"Man": {"Name": "张三"}, "Items": [{"Barcode": "1"}, {"Remark": "x\u{0}"}]});
        assert_eq!(unstorable_in(&v).unwrap().0, "Items[1].Remark");
        let k = serde_json::json!({"a\u{0}": 1});
        assert_eq!(unstorable_in(&k).unwrap().0, "a\u{FFFD}");
        assert!(unstorable_in(&serde_json::json!({"a": ["b", 1, null]})).is_none());
    }
}
