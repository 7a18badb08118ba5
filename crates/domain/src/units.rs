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
}
