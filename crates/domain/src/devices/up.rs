//! What devices send (DEVICES.md "MQTT access"): the topics, the up kinds and their payloads, parsed
//! from bytes into typed messages with the failing field named. The same kinds arrive over MQTT
//! (`cyltrace/{device_id}/up/{kind}`) and HTTP (`POST /api/v1/devices/{id}/up/{kind}`).

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::ValidationErrors;
use crate::parse::from_value;

/// The root of every topic.
pub const ROOT: &str = "cyltrace";
/// The largest payload a device may send.
pub const MAX_PAYLOAD: usize = 64 * 1024;
/// The most codes one `scan` carries.
pub const MAX_SCAN_CODES: usize = 200;

/// The kinds a device publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpKind {
    Property,
    Event,
    FillRequest,
    FillReport,
    Scan,
    Heartbeat,
    ServiceReply,
}

impl UpKind {
    pub const ALL: [UpKind; 7] = [
        UpKind::Property,
        UpKind::Event,
        UpKind::FillRequest,
        UpKind::FillReport,
        UpKind::Scan,
        UpKind::Heartbeat,
        UpKind::ServiceReply,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UpKind::Property => "property",
            UpKind::Event => "event",
            UpKind::FillRequest => "fill_request",
            UpKind::FillReport => "fill_report",
            UpKind::Scan => "scan",
            UpKind::Heartbeat => "heartbeat",
            UpKind::ServiceReply => "service_reply",
        }
    }

    pub fn parse(s: &str) -> Option<UpKind> {
        UpKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The kinds the node publishes to a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownKind {
    FillAnswer,
    Ack,
    Service,
}

impl DownKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DownKind::FillAnswer => "fill_answer",
            DownKind::Ack => "ack",
            DownKind::Service => "service",
        }
    }
}

/// `cyltrace/{device}/down/{kind}`.
pub fn down_topic(device: Uuid, kind: DownKind) -> String {
    format!("{ROOT}/{device}/down/{}", kind.as_str())
}

/// `cyltrace/+/up/#`: what the node subscribes to.
pub fn up_filter() -> String {
    format!("{ROOT}/+/up/#")
}

/// An up topic's device and kind; `Err` says why the topic is not one.
pub fn parse_up_topic(topic: &str) -> Result<(Uuid, Result<UpKind, String>), String> {
    let mut parts = topic.split('/');
    let (root, device, up, kind, rest) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    );
    if root != Some(ROOT) || up != Some("up") || rest.is_some() {
        return Err(format!("主题应为 {ROOT}/{{device_id}}/up/{{kind}}"));
    }
    let device = device
        .and_then(|d| Uuid::parse_str(d).ok())
        .ok_or_else(|| "主题中的设备标识无效".to_owned())?;
    let kind = kind.unwrap_or("");
    Ok((
        device,
        UpKind::parse(kind).ok_or_else(|| format!("未知的上报类型“{kind}”")),
    ))
}

/// `property`: readings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropertyUp {
    #[serde(default)]
    pub time: Option<DateTime<Utc>>,
    pub values: Map<String, Value>,
}

/// `event`: a device event, stored once per id.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventUp {
    pub id: Uuid,
    pub event: String,
    pub time: DateTime<Utc>,
    #[serde(default)]
    pub output: Option<Map<String, Value>>,
}

/// `fill_request`: may this cylinder be filled (the same decision as `POST /fill-control`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FillRequestUp {
    pub request_id: String,
    pub code: String,
    #[serde(default)]
    pub label: Option<String>,
    pub medium: String,
}

/// `fill_report`: a finished fill, appended once per id as a `fill` event.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FillReportUp {
    pub id: Uuid,
    pub code: String,
    pub begin: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub tare_kg: f64,
    pub gross_kg: f64,
    #[serde(default)]
    pub batch: Option<String>,
    #[serde(default)]
    pub decision_id: Option<Uuid>,
}

/// `scan`: a label reader's action on the codes it read.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanUp {
    pub id: Uuid,
    pub action: String,
    pub codes: Vec<String>,
    pub time: DateTime<Utc>,
}

/// `service_reply`: the device's answer to a service call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceReplyUp {
    pub request_id: String,
    pub code: i64,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub output: Option<Value>,
}

/// One parsed up message.
#[derive(Debug, Clone)]
pub enum Up {
    Property(PropertyUp),
    Event(EventUp),
    FillRequest(FillRequestUp),
    FillReport(FillReportUp),
    Scan(ScanUp),
    Heartbeat,
    ServiceReply(ServiceReplyUp),
}

impl Up {
    pub fn kind(&self) -> UpKind {
        match self {
            Up::Property(_) => UpKind::Property,
            Up::Event(_) => UpKind::Event,
            Up::FillRequest(_) => UpKind::FillRequest,
            Up::FillReport(_) => UpKind::FillReport,
            Up::Scan(_) => UpKind::Scan,
            Up::Heartbeat => UpKind::Heartbeat,
            Up::ServiceReply(_) => UpKind::ServiceReply,
        }
    }

    /// The message's own id, for the kinds that carry one (answered on `down/ack`).
    pub fn id(&self) -> Option<String> {
        match self {
            Up::Event(e) => Some(e.id.to_string()),
            Up::FillReport(r) => Some(r.id.to_string()),
            Up::Scan(s) => Some(s.id.to_string()),
            Up::FillRequest(r) => Some(r.request_id.clone()),
            Up::ServiceReply(r) => Some(r.request_id.clone()),
            Up::Property(_) | Up::Heartbeat => None,
        }
    }
}

/// The best guess of a refused payload's id, so the refusal on `down/ack` can name it.
pub fn guess_id(payload: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    ["id", "request_id"]
        .iter()
        .find_map(|k| v.get(k).and_then(Value::as_str).map(str::to_owned))
}

fn check_request_id(id: &str, errs: &mut ValidationErrors) {
    if id.is_empty() || id.len() > 64 {
        errs.push("request_id", "请求标识应为 1–64 个字符");
    }
}

/// Parses a payload of `kind`. Not JSON, too large, a missing or unknown field → the errors name it.
pub fn parse_up(kind: UpKind, payload: &[u8]) -> Result<Up, ValidationErrors> {
    if payload.len() > MAX_PAYLOAD {
        return Err(ValidationErrors::one(
            "payload",
            format!("消息超过 {} KiB", MAX_PAYLOAD / 1024),
        ));
    }
    let v: Value = if payload.iter().all(u8::is_ascii_whitespace) && kind == UpKind::Heartbeat {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(payload)
            .map_err(|e| ValidationErrors::one("payload", format!("消息不是有效的 JSON：{e}")))?
    };
    if !v.is_object() {
        return Err(ValidationErrors::one("payload", "消息应为 JSON 对象"));
    }
    let mut errs = ValidationErrors::default();
    let up = match kind {
        UpKind::Property => Up::Property(from_value(&v, "")?),
        UpKind::Event => {
            let e: EventUp = from_value(&v, "")?;
            if e.event.is_empty() || e.event.len() > 48 {
                errs.push("event", "事件标识无效");
            }
            Up::Event(e)
        }
        UpKind::FillRequest => {
            let r: FillRequestUp = from_value(&v, "")?;
            check_request_id(&r.request_id, &mut errs);
            Up::FillRequest(r)
        }
        UpKind::FillReport => {
            let r: FillReportUp = from_value(&v, "")?;
            if r.end < r.begin {
                errs.push("end", "结束时间早于开始时间");
            }
            Up::FillReport(r)
        }
        UpKind::Scan => {
            let s: ScanUp = from_value(&v, "")?;
            if s.codes.is_empty() || s.codes.len() > MAX_SCAN_CODES {
                errs.push("codes", format!("应为 1–{MAX_SCAN_CODES} 个标签号"));
            }
            Up::Scan(s)
        }
        UpKind::Heartbeat => {
            if v.as_object().is_some_and(|o| !o.is_empty()) {
                errs.push("payload", "心跳消息应为空对象 {}");
            }
            Up::Heartbeat
        }
        UpKind::ServiceReply => {
            let r: ServiceReplyUp = from_value(&v, "")?;
            check_request_id(&r.request_id, &mut errs);
            Up::ServiceReply(r)
        }
    };
    errs.into_result(up)
}

/// The event id of the `i`th code of a scan: derived from the scan's id, so a redelivered scan
/// names the same events (exactly once).
pub fn scan_event_id(scan: Uuid, code: &str) -> Uuid {
    Uuid::new_v5(&scan, code.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_name_the_device_and_kind() {
        let d = Uuid::new_v4();
        let (dev, kind) = parse_up_topic(&format!("cyltrace/{d}/up/fill_request")).unwrap();
        assert_eq!((dev, kind), (d, Ok(UpKind::FillRequest)));
        assert!(
            parse_up_topic(&format!("cyltrace/{d}/up/teleport"))
                .unwrap()
                .1
                .is_err()
        );
        assert!(parse_up_topic(&format!("cyltrace/{d}/down/ack")).is_err());
        assert!(parse_up_topic("cyltrace/not-a-uuid/up/event").is_err());
        assert!(parse_up_topic(&format!("cyltrace/{d}/up/event/extra")).is_err());
        assert_eq!(
            down_topic(d, DownKind::Ack),
            format!("cyltrace/{d}/down/ack")
        );
    }

    #[test]
    fn payloads_are_parsed_with_the_field_named() {
        assert!(matches!(
            parse_up(UpKind::Heartbeat, b"{}"),
            Ok(Up::Heartbeat)
        ));
        assert!(matches!(
            parse_up(UpKind::Heartbeat, b""),
            Ok(Up::Heartbeat)
        ));
        let e = parse_up(UpKind::Property, b"not json").unwrap_err();
        assert_eq!(e.0[0].field, "payload");
        let e = parse_up(UpKind::FillRequest, br#"{"request_id":"r1","code":"1"}"#).unwrap_err();
        assert_eq!(e.0[0].field, "medium");
        let e = parse_up(
            UpKind::FillReport,
            br#"{"id":"8d2c1f2e-8a6b-4d7e-9a3c-0b1c2d3e4f50","code":"1","begin":"2026-01-01T10:05:00+08:00",
                "end":"2026-01-01T10:00:00+08:00","tare_kg":15,"gross_kg":29.5}"#,
        )
        .unwrap_err();
        assert_eq!(e.0[0].field, "end");
        let e = parse_up(UpKind::Property, br#"{"values":{},"colour":1}"#).unwrap_err();
        assert_eq!(e.0[0].field, "colour");
        assert!(parse_up(UpKind::Property, &vec![b' '; MAX_PAYLOAD + 1]).is_err());
    }

    #[test]
    fn scan_event_ids_are_stable() {
        let s = Uuid::new_v4();
        assert_eq!(
            scan_event_id(s, "5300000001"),
            scan_event_id(s, "5300000001")
        );
        assert_ne!(
            scan_event_id(s, "5300000001"),
            scan_event_id(s, "5300000002")
        );
    }
}
