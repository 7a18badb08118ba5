//! Notification channels for alarms and the pure delivery policy (DEVICES.md "Alarm rules and
//! notification"; 004 §8.1.2; requirement H3).
//!
//! A channel is parsed from the body of `POST /api/v1/notify-channels` ([`parse_channel`]): a
//! webhook (the alarm JSON POSTed to a URL, signed with HMAC-SM3, see [`sign_webhook`]), an email
//! account (SMTP) or an SMS HTTP gateway with a body template ([`render_sms`]). The policy is pure:
//! retries back off ([`backoff`], [`MAX_ATTEMPTS`]), one channel is capped per rolling hour
//! ([`HourlyCap`]) and an unacknowledged alarm is re-notified ([`due_repeat`]). The sender (IO)
//! lives in the server.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value, json};
use sm3::Sm3;
use uuid::Uuid;

use super::rules::{Severity, walk};
use crate::error::ValidationErrors;
use crate::time::cst;

/// The header a webhook delivery carries: `X-Cyltrace-Signature: t={timestamp},sm3={hex}`.
pub const SIGNATURE_HEADER: &str = "X-Cyltrace-Signature";
/// How many times one delivery is tried before it is given up (recorded as failed).
pub const MAX_ATTEMPTS: u32 = 6;
/// `max_per_hour` when the channel does not say.
pub const DEFAULT_MAX_PER_HOUR: u32 = 60;
/// The most `max_per_hour` may be.
pub const MAX_MAX_PER_HOUR: u32 = 10_000;
/// The longest `repeat_every_secs` (7 days).
pub const MAX_REPEAT_SECS: u32 = 7 * 86_400;
/// The most email recipients or SMS phone numbers on one channel.
pub const MAX_RECIPIENTS: usize = 20;
/// The placeholders an SMS body template may use.
pub const SMS_PLACEHOLDERS: [&str; 6] = ["phone", "text", "severity", "device", "alarm_id", "time"];

/// How an email channel talks to its SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SmtpTls {
    /// Plain SMTP (a relay on the local network).
    None,
    /// Plain connection upgraded with STARTTLS (usually port 587).
    Starttls,
    /// TLS from the first byte (usually port 465).
    Tls,
}

impl SmtpTls {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Starttls => "starttls",
            Self::Tls => "tls",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::None, Self::Starttls, Self::Tls]
            .into_iter()
            .find(|v| v.as_str() == s)
    }

    /// The default when `smtp_tls` is not given: `tls` on 465, `starttls` on 587, else `none`.
    pub fn default_for_port(port: u16) -> Self {
        match port {
            465 => Self::Tls,
            587 => Self::Starttls,
            _ => Self::None,
        }
    }
}

/// What a channel of each kind needs to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelConfig {
    Webhook {
        url: String,
        /// The HMAC-SM3 key; without it deliveries are not signed.
        secret: Option<String>,
    },
    Email {
        smtp_host: String,
        smtp_port: u16,
        smtp_tls: SmtpTls,
        username: Option<String>,
        password: Option<String>,
        from: String,
        to: Vec<String>,
    },
    Sms {
        url: String,
        body_template: String,
        content_type: String,
        phones: Vec<String>,
    },
}

/// A validated notification channel (the body of `POST /api/v1/notify-channels`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChannel {
    pub name: String,
    /// Re-notify an unacknowledged alarm this often (none: notify once).
    pub repeat_every_secs: Option<u32>,
    pub max_per_hour: u32,
    pub config: ChannelConfig,
}

impl NewChannel {
    /// `webhook`, `email` or `sms`.
    pub fn kind(&self) -> &'static str {
        match self.config {
            ChannelConfig::Webhook { .. } => "webhook",
            ChannelConfig::Email { .. } => "email",
            ChannelConfig::Sms { .. } => "sms",
        }
    }

    /// The channel as request JSON, secrets included (for storage):
    /// `parse_channel(&c.to_json())` gives it back.
    pub fn to_json(&self) -> Value {
        self.json(true)
    }

    /// The channel as shown to users: the webhook `secret` and the SMTP `password` are left out
    /// and replaced by `has_secret` / `has_password`.
    pub fn redacted_json(&self) -> Value {
        self.json(false)
    }

    fn json(&self, secrets: bool) -> Value {
        let mut m = Map::new();
        m.insert("kind".into(), json!(self.kind()));
        m.insert("name".into(), json!(self.name));
        match &self.config {
            ChannelConfig::Webhook { url, secret } => {
                m.insert("url".into(), json!(url));
                if secrets {
                    if let Some(s) = secret {
                        m.insert("secret".into(), json!(s));
                    }
                } else {
                    m.insert("has_secret".into(), json!(secret.is_some()));
                }
            }
            ChannelConfig::Email {
                smtp_host,
                smtp_port,
                smtp_tls,
                username,
                password,
                from,
                to,
            } => {
                m.insert("smtp_host".into(), json!(smtp_host));
                m.insert("smtp_port".into(), json!(smtp_port));
                m.insert("smtp_tls".into(), json!(smtp_tls.as_str()));
                if let Some(u) = username {
                    m.insert("username".into(), json!(u));
                }
                if secrets {
                    if let Some(p) = password {
                        m.insert("password".into(), json!(p));
                    }
                } else {
                    m.insert("has_password".into(), json!(password.is_some()));
                }
                m.insert("from".into(), json!(from));
                m.insert("to".into(), json!(to));
            }
            ChannelConfig::Sms {
                url,
                body_template,
                content_type,
                phones,
            } => {
                m.insert("url".into(), json!(url));
                m.insert("body_template".into(), json!(body_template));
                m.insert("content_type".into(), json!(content_type));
                m.insert("phones".into(), json!(phones));
            }
        }
        if let Some(r) = self.repeat_every_secs {
            m.insert("repeat_every_secs".into(), json!(r));
        }
        m.insert("max_per_hour".into(), json!(self.max_per_hour));
        Value::Object(m)
    }
}

const COMMON_FIELDS: [&str; 4] = ["kind", "name", "repeat_every_secs", "max_per_hour"];
const WEBHOOK_FIELDS: &[&str] = &["url", "secret"];
const EMAIL_FIELDS: &[&str] = &[
    "smtp_host",
    "smtp_port",
    "smtp_tls",
    "username",
    "password",
    "from",
    "to",
];
const SMS_FIELDS: &[&str] = &["url", "body_template", "content_type", "phones"];

/// Parses the body of `POST /api/v1/notify-channels`, naming every wrong field in Chinese.
///
/// `null` counts as absent for optional fields; fields of another kind are refused as unknown.
pub fn parse_channel(v: &Value) -> Result<NewChannel, ValidationErrors> {
    let mut errs = ValidationErrors::default();
    let Some(obj) = walk::object(v, "", &mut errs) else {
        return Err(errs);
    };
    let kind = walk::req(obj, "kind", "", &mut errs).and_then(|v| {
        let k = v
            .as_str()
            .filter(|k| ["webhook", "email", "sms"].contains(k));
        if k.is_none() {
            errs.push("kind", "渠道类型应为 webhook、email 或 sms");
        }
        k
    });
    if let Some(kind) = kind {
        let specific = match kind {
            "webhook" => WEBHOOK_FIELDS,
            "email" => EMAIL_FIELDS,
            _ => SMS_FIELDS,
        };
        let allowed: Vec<&str> = COMMON_FIELDS.iter().chain(specific).copied().collect();
        walk::no_unknown(obj, &allowed, "", &mut errs);
    }
    let name = walk::req(obj, "name", "", &mut errs)
        .and_then(|v| walk::text(v, "name", "渠道名称", 64, &mut errs));
    let repeat_every_secs = walk::opt(obj, "repeat_every_secs").map(|v| {
        walk::int_in(
            v,
            "repeat_every_secs",
            "重复通知间隔（秒）",
            1,
            MAX_REPEAT_SECS.into(),
            &mut errs,
        )
        .map(|n| n as u32)
    });
    let max_per_hour = match walk::opt(obj, "max_per_hour") {
        None => Some(DEFAULT_MAX_PER_HOUR),
        Some(v) => walk::int_in(
            v,
            "max_per_hour",
            "每小时最多通知次数",
            1,
            MAX_MAX_PER_HOUR.into(),
            &mut errs,
        )
        .map(|n| n as u32),
    };
    let config = match kind {
        Some("webhook") => parse_webhook(obj, &mut errs),
        Some("email") => parse_email(obj, &mut errs),
        Some("sms") => parse_sms(obj, &mut errs),
        _ => None,
    };
    match (name, repeat_every_secs, max_per_hour, config) {
        (Some(name), repeat, Some(max_per_hour), Some(config)) if errs.is_empty() => {
            Ok(NewChannel {
                name,
                repeat_every_secs: repeat.flatten(),
                max_per_hour,
                config,
            })
        }
        _ => Err(errs),
    }
}

fn parse_webhook(obj: &Map<String, Value>, errs: &mut ValidationErrors) -> Option<ChannelConfig> {
    let url = walk::req(obj, "url", "", errs).and_then(|v| http_url(v, "url", errs));
    let secret = walk::opt(obj, "secret").map(|v| {
        let s = walk::string(v, "secret", errs)?;
        let n = s.chars().count();
        if !(16..=256).contains(&n) || s.chars().any(char::is_control) {
            errs.push("secret", "签名密钥应为 16–256 个字符（不含控制字符）");
            None
        } else {
            Some(s.to_owned())
        }
    });
    Some(ChannelConfig::Webhook {
        url: url?,
        secret: match secret {
            None => None,
            Some(s) => Some(s?),
        },
    })
}

fn parse_email(obj: &Map<String, Value>, errs: &mut ValidationErrors) -> Option<ChannelConfig> {
    let smtp_host = walk::req(obj, "smtp_host", "", errs).and_then(|v| host(v, "smtp_host", errs));
    let smtp_port = match walk::opt(obj, "smtp_port") {
        None => Some(25),
        Some(v) => walk::int_in(v, "smtp_port", "SMTP 端口", 1, 65_535, errs).map(|n| n as u16),
    };
    let smtp_tls = walk::opt(obj, "smtp_tls").map(|v| {
        let t = v.as_str().and_then(SmtpTls::parse);
        if t.is_none() {
            errs.push("smtp_tls", "加密方式应为 none、starttls 或 tls");
        }
        t
    });
    let username =
        walk::opt(obj, "username").map(|v| walk::text(v, "username", "SMTP 用户名", 256, errs));
    let password = walk::opt(obj, "password").map(|v| {
        let s = walk::string(v, "password", errs)?;
        if s.is_empty() || s.len() > 1024 {
            errs.push("password", "SMTP 密码应为 1–1024 个字符");
            None
        } else {
            Some(s.to_owned())
        }
    });
    if username.is_some() != password.is_some() {
        let (field, msg) = if username.is_some() {
            ("password", "提供了用户名时须同时提供密码")
        } else {
            ("username", "提供了密码时须同时提供用户名")
        };
        errs.push(field, msg);
    }
    let from = walk::req(obj, "from", "", errs).and_then(|v| {
        let s = walk::string(v, "from", errs)?;
        address(s, "from", "发件人", errs)
    });
    let to = walk::req(obj, "to", "", errs).and_then(|v| {
        recipients(v, "to", "收件人", errs, |s, path, errs| {
            address(s, path, "收件人", errs)
        })
    });
    let smtp_port = smtp_port?;
    Some(ChannelConfig::Email {
        smtp_host: smtp_host?,
        smtp_port,
        smtp_tls: match smtp_tls {
            None => SmtpTls::default_for_port(smtp_port),
            Some(t) => t?,
        },
        username: username.flatten(),
        password: password.flatten(),
        from: from?,
        to: to?,
    })
}

fn parse_sms(obj: &Map<String, Value>, errs: &mut ValidationErrors) -> Option<ChannelConfig> {
    let url = walk::req(obj, "url", "", errs).and_then(|v| http_url(v, "url", errs));
    let content_type = match walk::opt(obj, "content_type") {
        None => Some("application/json".to_owned()),
        Some(v) => walk::string(v, "content_type", errs).and_then(|s| {
            let s = s.trim();
            let essence = s.split(';').next().unwrap_or("").trim();
            let ok = s.len() <= 128
                && !s.chars().any(char::is_control)
                && essence.split_once('/').is_some_and(|(a, b)| {
                    let token = |t: &str| {
                        !t.is_empty()
                            && t.bytes()
                                .all(|c| c.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&c))
                    };
                    token(a) && token(b)
                });
            if ok {
                Some(s.to_owned())
            } else {
                errs.push(
                    "content_type",
                    "内容类型应形如 application/json 或 application/x-www-form-urlencoded",
                );
                None
            }
        }),
    };
    let body_template = walk::req(obj, "body_template", "", errs).and_then(|v| {
        let s = walk::string(v, "body_template", errs)?;
        template(s, content_type.as_deref(), errs)
    });
    let phones = walk::req(obj, "phones", "", errs).and_then(|v| {
        recipients(v, "phones", "手机号", errs, |s, path, errs| {
            if is_mainland_mobile(s) {
                Some(s.to_owned())
            } else {
                errs.push(path, "手机号应为 11 位中国大陆手机号（1 开头，第二位 3–9）");
                None
            }
        })
    });
    Some(ChannelConfig::Sms {
        url: url?,
        body_template: body_template?,
        content_type: content_type?,
        phones: phones?,
    })
}

/// Checks an SMS body template: 1..=4096 characters, only known `{{…}}` placeholders, and, sent
/// as JSON, valid JSON once the placeholders are filled in.
fn template(s: &str, content_type: Option<&str>, errs: &mut ValidationErrors) -> Option<String> {
    if s.trim().is_empty() || s.chars().count() > 4096 {
        errs.push("body_template", "短信模板应为 1–4096 个字符");
        return None;
    }
    let mut rest = s;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else { break };
        let name = &after[..j];
        if !SMS_PLACEHOLDERS.contains(&name) {
            errs.push(
                "body_template",
                format!(
                    "未知的占位符 {{{{{name}}}}}，可用：{{{{phone}}}}、{{{{text}}}}、{{{{severity}}}}、{{{{device}}}}、{{{{alarm_id}}}}、{{{{time}}}}"
                ),
            );
            return None;
        }
        rest = &after[j + 2..];
    }
    if let Some(ct) = content_type
        && is_json_content_type(ct)
    {
        let sample = AlarmVars {
            alarm_id: Uuid::nil(),
            phase: Phase::Raised,
            severity: Severity::Critical,
            rule_name: "规则\"1\"",
            device: "设备\\\"1\"\n",
            detail_zh: "浓度 = 1 > 0",
            time: DateTime::<Utc>::UNIX_EPOCH,
            phone: "13800000000",
        };
        if serde_json::from_str::<Value>(&render_sms(s, &sample, true)).is_err() {
            errs.push(
                "body_template",
                "按 JSON 发送的模板填入占位符后应为合法 JSON（占位符写在字符串内，如 \"{{text}}\"）",
            );
            return None;
        }
    }
    Some(s.to_owned())
}

/// Whether a content type is JSON (`application/json`, `…+json`, any parameters).
pub fn is_json_content_type(ct: &str) -> bool {
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// An `http`/`https` URL with a host.
fn http_url(v: &Value, path: &str, errs: &mut ValidationErrors) -> Option<String> {
    let s = walk::string(v, path, errs)?.trim();
    let ok = s.len() <= 2048
        && url::Url::parse(s).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
        });
    if ok {
        Some(s.to_owned())
    } else {
        errs.push(path, "地址应为 http:// 或 https:// 开头且带主机名的 URL");
        None
    }
}

/// A host name or an IP address.
fn host(v: &Value, path: &str, errs: &mut ValidationErrors) -> Option<String> {
    let s = walk::string(v, path, errs)?.trim();
    if s.parse::<IpAddr>().is_ok() || is_domain(s) {
        Some(s.to_owned())
    } else {
        errs.push(path, "SMTP 服务器应为主机名或 IP 地址");
        None
    }
}

/// Labels of ASCII letters, digits and inner hyphens, 1..=63 each, 253 in all.
fn is_domain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// A structural check of an email address: `local@domain`, the local part 1..=64 printable ASCII
/// without spaces or the specials `()<>[]:;,\"@`, the domain a host name.
pub fn is_email_address(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>[]:;,\\\"@".contains(&b))
        && is_domain(domain)
}

/// `^1[3-9]\d{9}$`: an 11-digit mainland mobile number.
pub fn is_mainland_mobile(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 11
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
        && b.iter().all(u8::is_ascii_digit)
}

fn address(s: &str, path: &str, what: &str, errs: &mut ValidationErrors) -> Option<String> {
    let s = s.trim();
    if is_email_address(s) {
        Some(s.to_owned())
    } else {
        errs.push(path, format!("{what}应为邮箱地址，如 ops@example.com"));
        None
    }
}

/// A list of 1..=MAX_RECIPIENTS distinct strings, each checked by `each`.
fn recipients(
    v: &Value,
    path: &str,
    what: &str,
    errs: &mut ValidationErrors,
    each: impl Fn(&str, &str, &mut ValidationErrors) -> Option<String>,
) -> Option<Vec<String>> {
    let items = walk::array(v, path, errs)?;
    if items.is_empty() || items.len() > MAX_RECIPIENTS {
        errs.push(path, format!("{what}应有 1–{MAX_RECIPIENTS} 个"));
        return None;
    }
    let before = errs.0.len();
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let Some(s) = walk::string(item, &p, errs) else {
            continue;
        };
        if let Some(s) = each(s, &p, errs) {
            if out.iter().any(|o| o.eq_ignore_ascii_case(&s)) {
                errs.push(p, format!("{what}重复"));
            } else {
                out.push(s);
            }
        }
    }
    (errs.0.len() == before).then_some(out)
}

// ---------------------------------------------------------------------------------------------
// Message text

/// Why a notification is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// The alarm was raised.
    Raised,
    /// A reminder for an alarm still unacknowledged (`repeat_every_secs`).
    Repeated,
    /// The alarm's condition no longer holds.
    Cleared,
}

/// What a notification says about one alarm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlarmVars<'a> {
    pub alarm_id: Uuid,
    pub phase: Phase,
    pub severity: Severity,
    pub rule_name: &'a str,
    /// The device's name (or id when it has none).
    pub device: &'a str,
    /// `Transition::Raise`'s `detail_zh`.
    pub detail_zh: &'a str,
    /// When the alarm was raised (or cleared).
    pub time: DateTime<Utc>,
    /// The recipient's phone number (SMS; empty otherwise).
    pub phone: &'a str,
}

/// China time, `2026-12-04 16:00:00`.
fn time_cst(t: DateTime<Utc>) -> String {
    t.with_timezone(&cst())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// The one-line Chinese text used by email (subject and body) and SMS (`{{text}}`):
/// `【严重告警】浓度过高：设备 1号报警器，浓度 concentration = 23.5 > 20（持续 60 秒），2026-12-04 16:00:00`.
/// Control characters (line breaks) in names are replaced by spaces so the text stays one line.
pub fn alarm_text_zh(vars: &AlarmVars) -> String {
    let head = match vars.phase {
        Phase::Raised => format!("【{}告警】", vars.severity.label_zh()),
        Phase::Repeated => format!("【{}告警·未确认提醒】", vars.severity.label_zh()),
        Phase::Cleared => format!("【告警已恢复·{}】", vars.severity.label_zh()),
    };
    let text = format!(
        "{head}{}：设备 {}，{}，{}",
        vars.rule_name,
        vars.device,
        vars.detail_zh,
        time_cst(vars.time)
    );
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Fills an SMS gateway's body template: `{{phone}}`, `{{text}}` ([`alarm_text_zh`]),
/// `{{severity}}` (the Chinese label), `{{device}}`, `{{alarm_id}}`, `{{time}}` (China time).
///
/// With `json` the values are escaped for use inside a JSON string (the template writes the
/// quotes: `{"mobile": "{{phone}}", "content": "{{text}}"}`), so a quote or a backslash in a
/// device name cannot break the body. Unknown `{{…}}` are left as they are.
pub fn render_sms(template: &str, vars: &AlarmVars, json: bool) -> String {
    let value = |name: &str| -> Option<String> {
        Some(match name {
            "phone" => vars.phone.to_owned(),
            "text" => alarm_text_zh(vars),
            "severity" => vars.severity.label_zh().to_owned(),
            "device" => vars.device.to_owned(),
            "alarm_id" => vars.alarm_id.to_string(),
            "time" => time_cst(vars.time),
            _ => return None,
        })
    };
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else {
            out.push_str(&rest[i..]);
            return out;
        };
        match value(&after[..j]) {
            Some(v) if json => {
                let quoted = Value::String(v).to_string();
                out.push_str(&quoted[1..quoted.len() - 1]);
            }
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[i..i + 2 + j + 2]),
        }
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------------------------
// Delivery policy

/// The wait after the `attempt`-th failed try (1-based): 5 s, 30 s, 2 min, 10 min, then 30 min.
/// After [`MAX_ATTEMPTS`] tries the delivery is given up ([`retry_after`]).
pub fn backoff(attempt: u32) -> Duration {
    const STEPS: [u64; 5] = [5, 30, 120, 600, 1800];
    let i = (attempt.max(1) - 1) as usize;
    Duration::from_secs(STEPS[i.min(STEPS.len() - 1)])
}

/// The wait before the next try after `attempts_made` failed tries, or `None` to give up.
pub fn retry_after(attempts_made: u32) -> Option<Duration> {
    (attempts_made < MAX_ATTEMPTS).then(|| backoff(attempts_made))
}

/// Counts one channel's deliveries in a rolling hour so a flapping device cannot flood a phone
/// (`max_per_hour`). Rebuilt after a restart from the recorded deliveries ([`HourlyCap::with_history`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourlyCap {
    max_per_hour: u32,
    sent: Vec<DateTime<Utc>>,
}

impl HourlyCap {
    pub fn new(max_per_hour: u32) -> Self {
        Self {
            max_per_hour,
            sent: Vec::new(),
        }
    }

    /// A cap that already counts the deliveries sent at `times` (any order).
    pub fn with_history(max_per_hour: u32, times: impl IntoIterator<Item = DateTime<Utc>>) -> Self {
        Self {
            max_per_hour,
            sent: times.into_iter().collect(),
        }
    }

    /// Changes the limit (the channel was edited); the history is kept.
    pub fn set_max(&mut self, max_per_hour: u32) {
        self.max_per_hour = max_per_hour;
    }

    fn forget_old(&mut self, now: DateTime<Utc>) {
        let hour = TimeDelta::hours(1);
        self.sent.retain(|t| now - *t < hour);
    }

    /// Deliveries counted in the hour up to `now`.
    pub fn count(&mut self, now: DateTime<Utc>) -> u32 {
        self.forget_old(now);
        self.sent.len() as u32
    }

    /// Whether one more delivery may go out at `now`; if so it is counted.
    pub fn admit(&mut self, now: DateTime<Utc>) -> bool {
        self.forget_old(now);
        if (self.sent.len() as u64) < u64::from(self.max_per_hour) {
            self.sent.push(now);
            true
        } else {
            false
        }
    }
}

/// Whether an alarm last notified at `last_sent` is due for a reminder at `now`: only when the
/// channel repeats and the alarm is still unacknowledged.
pub fn due_repeat(
    last_sent: DateTime<Utc>,
    repeat_every_secs: Option<u32>,
    acked: bool,
    now: DateTime<Utc>,
) -> bool {
    match repeat_every_secs {
        Some(secs) if !acked => now - last_sent >= TimeDelta::seconds(secs.into()),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Webhook signature

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Hmac<Sm3> {
    let mut mac =
        <Hmac<Sm3> as KeyInit>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    mac
}

/// The webhook signature: lowercase hex of HMAC-SM3(secret, `"{timestamp}."` ‖ body), where
/// `timestamp` is Unix seconds.
///
/// The server sends it as `X-Cyltrace-Signature: t={timestamp},sm3={hex}` ([`SIGNATURE_HEADER`],
/// [`signature_header`]). A receiver recomputes it over the raw body it got and the `t` of the
/// header, compares in constant time and refuses a `t` too far from its clock (replays); see
/// [`verify_webhook`].
pub fn sign_webhook(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    tag.iter().map(|b| format!("{b:02x}")).collect()
}

/// The value of the [`SIGNATURE_HEADER`] header: `t={timestamp},sm3={hex}`.
pub fn signature_header(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp},sm3={}",
        sign_webhook(secret, timestamp, body)
    )
}

/// Checks a [`SIGNATURE_HEADER`] value (`t=…,sm3=…`, in any order, spaces allowed) against the
/// raw `body`: the signature must match (constant-time) and `t` lie within `tolerance_secs` of
/// `now_unix`.
pub fn verify_webhook(
    secret: &[u8],
    header_value: &str,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: u32,
) -> bool {
    let mut t = None;
    let mut sig = None;
    for part in header_value.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) if t.is_none() => match v.trim().parse::<i64>() {
                Ok(n) => t = Some(n),
                Err(_) => return false,
            },
            Some(("sm3", v)) if sig.is_none() => match hex_decode(v.trim()) {
                Some(b) => sig = Some(b),
                None => return false,
            },
            _ => return false,
        }
    }
    let (Some(t), Some(sig)) = (t, sig) else {
        return false;
    };
    if now_unix.abs_diff(t) > u64::from(tolerance_secs) {
        return false;
    }
    mac(secret, t, body).verify_slice(&sig).is_ok()
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
#[path = "notify_tests.rs"]
mod tests;
