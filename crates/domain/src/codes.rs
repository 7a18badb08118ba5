//! Identity of a cylinder: the 10-digit label number, the GB/T 2260 region code, and the 16-digit QR
//! form (region + number) found behind `…/Q?id=` (A4).

use serde::{Deserialize, Serialize};

/// The cylinder's label number: exactly 10 ASCII digits (seed 001 §5.1.1). Surrounding white space is
/// trimmed (the Yunnan examples write `" 1103007831"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, example = "1103007831"))]
pub struct CylinderCode(String);

impl CylinderCode {
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.len() != 10 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("气瓶编码应为10位数字，收到“{}”", truncate(t)));
        }
        Ok(Self(t.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CylinderCode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<CylinderCode> for String {
    fn from(c: CylinderCode) -> String {
        c.0
    }
}

impl std::fmt::Display for CylinderCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A GB/T 2260 administrative division code: 6 digits, province (11–82) + prefecture + county.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, example = "530100"))]
pub struct RegionCode([u8; 6]);

impl RegionCode {
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let bytes: [u8; 6] = t
            .as_bytes()
            .try_into()
            .ok()
            .filter(|b: &[u8; 6]| b.iter().all(u8::is_ascii_digit))
            .ok_or_else(|| format!("行政区划代码应为6位数字，收到“{}”", truncate(t)))?;
        let province = (bytes[0] - b'0') * 10 + (bytes[1] - b'0');
        if !(11..=82).contains(&province) {
            return Err(format!(
                "行政区划代码的省级部分“{}”不存在（GB/T 2260）",
                &t[..2]
            ));
        }
        Ok(Self(bytes))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("000000")
    }

    /// The level of the division: province (`xx0000`), prefecture (`xxxx00`) or county.
    pub fn level(&self) -> RegionLevel {
        match (&self.0[2..4], &self.0[4..6]) {
            (b"00", b"00") => RegionLevel::Province,
            (_, b"00") => RegionLevel::Prefecture,
            _ => RegionLevel::County,
        }
    }

    /// Whether `other` lies inside this division (a province contains its prefectures and counties).
    pub fn contains(&self, other: &RegionCode) -> bool {
        match self.level() {
            RegionLevel::Province => self.0[..2] == other.0[..2],
            RegionLevel::Prefecture => self.0[..4] == other.0[..4],
            RegionLevel::County => self == other,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionLevel {
    Province,
    Prefecture,
    County,
}

impl TryFrom<String> for RegionCode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<RegionCode> for String {
    fn from(c: RegionCode) -> String {
        c.as_str().to_owned()
    }
}

impl std::fmt::Display for RegionCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The QR content: 6-digit region code + 10-digit label number (16 digits), bare or as the `id`
/// parameter of a `…/Q?id=` URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QrId {
    pub region: RegionCode,
    pub code: CylinderCode,
}

impl QrId {
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let id = match t.find("id=") {
            Some(pos) if t.contains("/Q?") || t.starts_with("Q?") || t.starts_with('?') => {
                let rest = &t[pos + 3..];
                rest.split('&').next().unwrap_or(rest)
            }
            _ => t,
        };
        if id.len() != 16 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "二维码内容应为16位数字（6位行政区划代码+10位编码），收到“{}”",
                truncate(id)
            ));
        }
        Ok(Self {
            region: RegionCode::parse(&id[..6])?,
            code: CylinderCode::parse(&id[6..])?,
        })
    }

    /// The anti-counterfeit signature of a scanned label URL (its `s` parameter), when it has one
    /// (A8); checking it takes the node's key, which is the server's.
    pub fn signature_in(scanned: &str) -> Option<&str> {
        let query = scanned.split_once('?').map_or(scanned, |(_, q)| q);
        query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == "s").then_some(v)
        })
    }

    /// The 16 digits.
    pub fn digits(&self) -> String {
        format!("{}{}", self.region, self.code)
    }
}

impl std::fmt::Display for QrId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.region, self.code)
    }
}

/// Keeps echoed input short in messages.
pub(crate) fn truncate(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn code_is_ten_digits() {
        assert_eq!(
            CylinderCode::parse(" 1103007831").unwrap().as_str(),
            "1103007831"
        );
        assert!(CylinderCode::parse("110300783").is_err());
        assert!(CylinderCode::parse("11030078311").is_err());
        assert!(CylinderCode::parse("110300783a").is_err());
        assert!(
            CylinderCode::parse("１１０３００７８３１").is_err(),
            "full-width digits are not digits"
        );
    }

    #[test]
    fn region_levels_and_containment() {
        let yn = RegionCode::parse("530000").unwrap();
        let km = RegionCode::parse("530100").unwrap();
        let wh = RegionCode::parse("530102").unwrap();
        assert_eq!(yn.level(), RegionLevel::Province);
        assert_eq!(km.level(), RegionLevel::Prefecture);
        assert_eq!(wh.level(), RegionLevel::County);
        assert!(yn.contains(&wh) && km.contains(&wh) && !wh.contains(&km));
        assert!(!km.contains(&RegionCode::parse("530200").unwrap()));
        assert!(RegionCode::parse("000000").is_err());
        assert!(RegionCode::parse("99000").is_err());
    }

    #[test]
    fn a_label_urls_signature() {
        // A8: the `s` parameter of a scanned label URL, whatever the order of the parameters.
        let url = "https://trace.example.cn/Q?id=5301001103007831&s=0123456789ABCDEF";
        assert_eq!(QrId::signature_in(url), Some("0123456789ABCDEF"));
        assert_eq!(QrId::signature_in("Q?s=ab&id=5301001103007831"), Some("ab"));
        assert_eq!(QrId::signature_in("5301001103007831"), None);
        assert_eq!(QrId::signature_in("Q?id=5301001103007831&ss=1"), None);
    }

    #[test]
    fn qr_forms() {
        let q = QrId::parse("5301001103007831").unwrap();
        assert_eq!(
            (q.region.as_str(), q.code.as_str()),
            ("530100", "1103007831")
        );
        let q = QrId::parse("https://trace.example.cn/Q?id=5301001103007831&x=1").unwrap();
        assert_eq!(q.digits(), "5301001103007831");
        assert!(QrId::parse("530100110300783").is_err());
        assert!(QrId::parse("0001001103007831").is_err());
    }

    proptest! {
        #[test]
        fn any_ten_digits_round_trip(s in "[0-9]{10}") {
            let c = CylinderCode::parse(&s).unwrap();
            prop_assert_eq!(c.as_str(), s.as_str());
            let json = serde_json::to_string(&c).unwrap();
            let back: CylinderCode = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, c);
        }

        #[test]
        fn anything_but_ten_digits_is_refused(s in "\\PC{0,14}") {
            let t = s.trim();
            let ok = t.len() == 10 && t.bytes().all(|b| b.is_ascii_digit());
            prop_assert_eq!(CylinderCode::parse(&s).is_ok(), ok);
        }

        #[test]
        fn qr_splits_region_and_code(p in 11u8..=82, rest in "[0-9]{4}", code in "[0-9]{10}") {
            let digits = format!("{p:02}{rest}{code}");
            let q = QrId::parse(&digits).unwrap();
            prop_assert_eq!(q.code.as_str(), code.as_str());
            prop_assert_eq!(q.digits(), digits);
        }
    }
}
