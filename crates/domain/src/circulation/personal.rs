//! Personal data of customers, drivers and escorts: identity numbers and phones parsed and checked,
//! masking for roles without need (G1), and who may see what.

use serde::{Deserialize, Serialize};

use crate::org::Role;

// ---------------------------------------------------------------------------------------------
// Personal data

/// A resident identity card number (GB 11643): 17 digits and a check character (0–9 or X).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdNumber(String);

impl IdNumber {
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim().to_ascii_uppercase();
        let b = t.as_bytes();
        if b.len() != 18
            || !b[..17].iter().all(u8::is_ascii_digit)
            || !(b[17].is_ascii_digit() || b[17] == b'X')
        {
            return Err("身份证号应为 18 位（17 位数字加 1 位校验码）".to_owned());
        }
        if b[17] != check_char(&b[..17]) {
            return Err("身份证号校验码错误".to_owned());
        }
        // The birth date (digits 7–14) must be a real date.
        if chrono::NaiveDate::parse_from_str(&t[6..14], "%Y%m%d").is_err() {
            return Err("身份证号中的出生日期无效".to_owned());
        }
        Ok(Self(t))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number made of 17 digits and their check character.
    pub fn with_check(first17: &str) -> Result<Self, String> {
        if first17.len() != 17 || !first17.bytes().all(|b| b.is_ascii_digit()) {
            return Err("应为 17 位数字".to_owned());
        }
        let check = check_char(first17.as_bytes()) as char;
        Self::parse(&format!("{first17}{check}"))
    }

    /// `530102********123X`: region kept for the regulator's statistics, birth date hidden.
    pub fn masked(&self) -> String {
        format!("{}********{}", &self.0[..6], &self.0[14..])
    }
}

/// The GB 11643 check character of 17 digits.
fn check_char(digits: &[u8]) -> u8 {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = digits
        .iter()
        .zip(W)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    b"10X98765432"[(sum % 11) as usize]
}

impl TryFrom<String> for IdNumber {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<IdNumber> for String {
    fn from(v: IdNumber) -> String {
        v.0
    }
}

/// A phone number: an 11-digit mobile number or a fixed line (area code, digits, optional dash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    pub fn parse(s: &str) -> Result<Self, String> {
        let t: String = s.trim().chars().filter(|c| *c != ' ').collect();
        let digits: String = t.chars().filter(char::is_ascii_digit).collect();
        let mobile = digits.len() == 11 && t == digits && t.starts_with('1');
        let fixed = t.starts_with('0')
            && (10..=12).contains(&digits.len())
            && t.chars().all(|c| c.is_ascii_digit() || c == '-')
            && t.matches('-').count() <= 1;
        if mobile || fixed {
            Ok(Self(t))
        } else {
            Err("电话号码格式不正确（11 位手机号或带区号的固定电话）".to_owned())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `138****5678`: the first three and last four characters.
    pub fn masked(&self) -> String {
        let c: Vec<char> = self.0.chars().collect();
        let n = c.len();
        let head: String = c[..3].iter().collect();
        let tail: String = c[n - 4..].iter().collect();
        format!("{head}{}{tail}", "*".repeat(n - 7))
    }
}

impl TryFrom<String> for Phone {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<Phone> for String {
    fn from(v: Phone) -> String {
        v.0
    }
}

/// `张*` / `欧阳**`: the family name (first character) kept.
pub fn mask_name(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(first) => format!("{first}{}", "*".repeat(c.count().max(1))),
        None => String::new(),
    }
}

/// An address shown to roles without need: the text up to the street/road, the rest hidden.
pub fn mask_address(addr: &str) -> String {
    let chars: Vec<char> = addr.chars().collect();
    let keep = chars
        .iter()
        .position(|c| matches!(c, '路' | '街' | '道' | '巷' | '村' | '镇'))
        .map_or(chars.len().min(6), |i| i + 1);
    let kept: String = chars[..keep.min(chars.len())].iter().collect();
    format!("{kept}***")
}

/// How much of a customer's personal data a principal sees (G1 masking).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonalView {
    /// Names, phones and addresses in full (delivering to the customer needs them); the ID number
    /// masked except through an audited reveal.
    Contact,
    /// Everything masked.
    Masked,
}

/// Roles that deliver to or serve customers see contact data; all others see it masked.
pub fn personal_view(roles: &[Role]) -> PersonalView {
    if roles
        .iter()
        .any(|r| matches!(r, Role::NodeAdmin | Role::EnterpriseAdmin | Role::Courier))
    {
        PersonalView::Contact
    } else {
        PersonalView::Masked
    }
}

/// Whether a principal may reveal a customer's full ID number (audited by the caller).
pub fn may_reveal_id(roles: &[Role]) -> bool {
    roles
        .iter()
        .any(|r| matches!(r, Role::NodeAdmin | Role::EnterpriseAdmin))
}

/// Personal data sealed at rest (SM4-CBC under the node's personal-data key): IV and ciphertext in
/// hex. The server seals and opens it; the domain only carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    pub iv: String,
    pub c: String,
}
