//! The thing model (物模型, 004 §4.2.5 b) in the shape of the Alibaba IoT TSL: a device type declares
//! the properties its devices report, the events they raise and the services they accept. Property
//! values and event outputs are checked against it; a value outside it is refused, never stored.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ValidationErrors;
use crate::parse::from_value;

/// The most properties, events or services one type declares, and the most parameters of one.
pub const MAX_MEMBERS: usize = 64;
/// How long a device of a type that says nothing stays online without a message.
pub const DEFAULT_OFFLINE_AFTER_SECS: u32 = 300;

/// The value types of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataType {
    Int,
    Float,
    Bool,
    Text,
}

impl DataType {
    fn label_zh(self) -> &'static str {
        match self {
            DataType::Int => "整数",
            DataType::Float => "数值",
            DataType::Bool => "布尔值",
            DataType::Text => "文本",
        }
    }
}

/// A property (or an event's output, a service's input parameter).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Param {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub data_type: DataType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

impl Param {
    /// `v` as this parameter's type and range, or why not.
    pub fn check(&self, v: &Value) -> Result<(), String> {
        let n = match (self.data_type, v) {
            (DataType::Bool, Value::Bool(_)) => return Ok(()),
            (DataType::Text, Value::String(s)) if s.chars().count() <= 256 => return Ok(()),
            (DataType::Text, Value::String(_)) => return Err("文本超过 256 个字符".to_owned()),
            (DataType::Int, Value::Number(n)) if n.is_i64() || n.is_u64() => {
                n.as_f64().unwrap_or(f64::NAN)
            }
            (DataType::Float, Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
            (t, _) => return Err(format!("类型错误：应为{}", t.label_zh())),
        };
        if let Some(min) = self.min
            && n < min
        {
            return Err(format!("取值 {n} 小于下限 {min}"));
        }
        if let Some(max) = self.max
            && n > max
        {
            return Err(format!("取值 {n} 大于上限 {max}"));
        }
        Ok(())
    }

    /// The name users see: the declared name, else the id.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }
}

/// An event a device raises.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    pub id: String,
    pub name: String,
    /// `info`, `warning` or `alert`.
    #[serde(default = "info")]
    pub level: String,
    #[serde(default)]
    pub output: Vec<Param>,
}

fn info() -> String {
    "info".to_owned()
}

/// A service (remote command or parameter set, 004 §8.1.3) a device accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub input: Vec<Param>,
}

/// A device type: what its devices report and accept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceType {
    #[serde(rename = "type")]
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub properties: Vec<Param>,
    #[serde(default)]
    pub events: Vec<EventSpec>,
    #[serde(default)]
    pub services: Vec<ServiceSpec>,
    #[serde(default = "default_offline")]
    pub offline_after_secs: u32,
}

fn default_offline() -> u32 {
    DEFAULT_OFFLINE_AFTER_SECS
}

/// The built-in types' ids.
pub const FILLING_SCALE: &str = "filling_scale";
pub const LABEL_READER: &str = "label_reader";
pub const LEAK_ALARM: &str = "leak_alarm";
pub const VEHICLE_TERMINAL: &str = "vehicle_terminal";
pub const CAMERA: &str = "camera";

fn param(
    id: &str,
    name: &str,
    t: DataType,
    unit: Option<&str>,
    range: Option<(f64, f64)>,
) -> Param {
    Param {
        id: id.to_owned(),
        name: Some(name.to_owned()),
        data_type: t,
        unit: unit.map(str::to_owned),
        min: range.map(|r| r.0),
        max: range.map(|r| r.1),
    }
}

fn event(id: &str, name: &str, level: &str, output: Vec<Param>) -> EventSpec {
    EventSpec {
        id: id.to_owned(),
        name: name.to_owned(),
        level: level.to_owned(),
        output,
    }
}

fn service(id: &str, name: &str, input: Vec<Param>) -> ServiceSpec {
    ServiceSpec {
        id: id.to_owned(),
        name: name.to_owned(),
        input,
    }
}

/// The built-in types (DEVICES.md), listed by `GET /api/v1/device-types`.
pub fn builtins() -> Vec<DeviceType> {
    use DataType::*;
    let ty = |id: &str, name: &str, properties, events, services, offline| DeviceType {
        id: id.to_owned(),
        name: name.to_owned(),
        properties,
        events,
        services,
        offline_after_secs: offline,
    };
    vec![
        ty(
            FILLING_SCALE,
            "充装秤/充装控制终端",
            vec![
                param("weight_kg", "重量", Float, Some("kg"), Some((0.0, 500.0))),
                param("valve_open", "充装阀开启", Bool, None, None),
            ],
            vec![
                event("estop", "紧急停止", "alert", vec![]),
                event(
                    "fault",
                    "设备故障",
                    "warning",
                    vec![param("code", "故障码", Int, None, None)],
                ),
            ],
            vec![
                service("stop", "停止充装", vec![]),
                service(
                    "set_tolerance",
                    "设置超装容差",
                    vec![param(
                        "tolerance_kg",
                        "容差",
                        Float,
                        Some("kg"),
                        Some((0.0, 2.0)),
                    )],
                ),
            ],
            300,
        ),
        ty(
            LABEL_READER,
            "标签读写器",
            vec![param("battery", "电量", Int, Some("%"), Some((0.0, 100.0)))],
            vec![event("tamper", "防拆报警", "alert", vec![])],
            vec![service("beep", "蜂鸣", vec![])],
            300,
        ),
        ty(
            LEAK_ALARM,
            "家用燃气泄漏报警器",
            vec![
                param(
                    "concentration",
                    "浓度",
                    Float,
                    Some("%LEL"),
                    Some((0.0, 100.0)),
                ),
                param("battery", "电量", Int, Some("%"), Some((0.0, 100.0))),
            ],
            vec![
                event(
                    "leak",
                    "泄漏报警",
                    "alert",
                    vec![param(
                        "concentration",
                        "浓度",
                        Float,
                        Some("%LEL"),
                        Some((0.0, 100.0)),
                    )],
                ),
                event("fault", "传感器故障", "warning", vec![]),
                event("valve_closed", "切断阀已关闭", "info", vec![]),
            ],
            vec![
                service("mute", "消音", vec![]),
                service("close_valve", "关闭切断阀", vec![]),
            ],
            600,
        ),
        ty(
            VEHICLE_TERMINAL,
            "车载终端（JT/T 808）",
            vec![
                param("speed_kmh", "速度", Float, Some("km/h"), Some((0.0, 300.0))),
                param(
                    "mileage_km",
                    "里程",
                    Float,
                    Some("km"),
                    Some((0.0, 10_000_000.0)),
                ),
            ],
            vec![event("sos", "紧急报警", "alert", vec![])],
            vec![],
            300,
        ),
        ty(
            CAMERA,
            "视频通道（GB/T 28181）",
            vec![param("recording", "录像中", Bool, None, None)],
            vec![event("video_loss", "视频丢失", "warning", vec![])],
            vec![],
            300,
        ),
    ]
}

/// The built-in type `id`.
pub fn builtin(id: &str) -> Option<DeviceType> {
    builtins().into_iter().find(|t| t.id == id)
}

fn check_id(id: &str, field: &str, errs: &mut ValidationErrors) {
    let ok = (1..=48).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        errs.push(field, "标识应为 1–48 位小写字母、数字或下划线，以字母开头");
    }
}

fn check_name(name: &str, field: &str, errs: &mut ValidationErrors) {
    let n = name.trim().chars().count();
    if n == 0 || n > 64 {
        errs.push(field, "名称应为 1–64 个字符");
    }
}

fn check_params(params: &[Param], field: &str, errs: &mut ValidationErrors) {
    if params.len() > MAX_MEMBERS {
        errs.push(field, format!("最多 {MAX_MEMBERS} 项"));
        return;
    }
    let mut seen = std::collections::HashSet::new();
    for (i, p) in params.iter().enumerate() {
        check_id(&p.id, &format!("{field}[{i}].id"), errs);
        if !seen.insert(p.id.as_str()) {
            errs.push(format!("{field}[{i}].id"), format!("标识 {} 重复", p.id));
        }
        if let Some(n) = &p.name {
            check_name(n, &format!("{field}[{i}].name"), errs);
        }
        if let (Some(min), Some(max)) = (p.min, p.max)
            && min > max
        {
            errs.push(format!("{field}[{i}].min"), "下限大于上限");
        }
        if matches!(p.data_type, DataType::Bool | DataType::Text)
            && (p.min.is_some() || p.max.is_some())
        {
            errs.push(format!("{field}[{i}].min"), "布尔值和文本没有上下限");
        }
    }
}

/// A user-defined type from `POST /api/v1/device-types`: ids, names, ranges checked; a built-in id
/// is taken.
pub fn parse_device_type(v: &Value) -> Result<DeviceType, ValidationErrors> {
    let t: DeviceType = from_value(v, "")?;
    let mut errs = ValidationErrors::default();
    check_id(&t.id, "type", &mut errs);
    if builtin(&t.id).is_some() {
        errs.push("type", "该标识是内置设备类型");
    }
    check_name(&t.name, "name", &mut errs);
    check_params(&t.properties, "properties", &mut errs);
    for (list, field) in [
        (
            t.events
                .iter()
                .map(|e| (&e.id, &e.name, &e.output))
                .collect::<Vec<_>>(),
            "events",
        ),
        (
            t.services
                .iter()
                .map(|s| (&s.id, &s.name, &s.input))
                .collect(),
            "services",
        ),
    ] {
        if list.len() > MAX_MEMBERS {
            errs.push(field, format!("最多 {MAX_MEMBERS} 项"));
            continue;
        }
        let mut seen = std::collections::HashSet::new();
        for (i, (id, name, params)) in list.into_iter().enumerate() {
            check_id(id, &format!("{field}[{i}].id"), &mut errs);
            if !seen.insert(id.as_str()) {
                errs.push(format!("{field}[{i}].id"), format!("标识 {id} 重复"));
            }
            check_name(name, &format!("{field}[{i}].name"), &mut errs);
            let inner = if field == "events" { "output" } else { "input" };
            check_params(params, &format!("{field}[{i}].{inner}"), &mut errs);
        }
    }
    for (i, e) in t.events.iter().enumerate() {
        if !matches!(e.level.as_str(), "info" | "warning" | "alert") {
            errs.push(
                format!("events[{i}].level"),
                "级别应为 info、warning 或 alert",
            );
        }
    }
    if !(10..=7 * 86_400).contains(&t.offline_after_secs) {
        errs.push("offline_after_secs", "离线判定时间应为 10 秒到 7 天");
    }
    errs.into_result(t)
}

/// Checks `values` against `params` (a property report, an event's output, a service's input);
/// every value that does not fit is named under `prefix`.
pub fn check_values(
    params: &[Param],
    values: &Map<String, Value>,
    prefix: &str,
) -> Result<(), ValidationErrors> {
    let mut errs = ValidationErrors::default();
    for (id, v) in values {
        let field = format!("{prefix}.{id}");
        match params.iter().find(|p| &p.id == id) {
            None => errs.push(field, "物模型中没有该属性"),
            Some(p) => {
                if let Err(m) = p.check(v) {
                    errs.push(field, m);
                }
            }
        }
    }
    errs.into_result(())
}

impl DeviceType {
    pub fn event(&self, id: &str) -> Option<&EventSpec> {
        self.events.iter().find(|e| e.id == id)
    }

    pub fn service(&self, id: &str) -> Option<&ServiceSpec> {
        self.services.iter().find(|s| s.id == id)
    }

    pub fn property(&self, id: &str) -> Option<&Param> {
        self.properties.iter().find(|p| p.id == id)
    }

    /// Checks a property report's values (H1: a value outside the model is refused).
    pub fn check_properties(&self, values: &Map<String, Value>) -> Result<(), ValidationErrors> {
        if values.is_empty() {
            return Err(ValidationErrors::one("values", "至少上报一个属性"));
        }
        check_values(&self.properties, values, "values")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn builtins_are_the_five_of_the_contract() {
        let ids: Vec<_> = builtins().into_iter().map(|t| t.id).collect();
        assert_eq!(
            ids,
            [
                FILLING_SCALE,
                LABEL_READER,
                LEAK_ALARM,
                VEHICLE_TERMINAL,
                CAMERA
            ]
        );
    }

    #[test]
    fn values_outside_the_model_are_refused_naming_the_property() {
        // H1: type, range and unknown properties.
        let t = builtin(LEAK_ALARM).unwrap();
        assert!(
            t.check_properties(&obj(json!({"concentration": 12.5, "battery": 80})))
                .is_ok()
        );
        let e = t
            .check_properties(&obj(json!({"concentration": 120, "battery": 1.5, "x": 1})))
            .unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            ["values.battery", "values.concentration", "values.x"]
        );
        assert!(t.check_properties(&Map::new()).is_err());
        assert!(
            t.check_properties(&obj(json!({"concentration": "high"})))
                .is_err()
        );
    }

    #[test]
    fn a_user_type_is_checked() {
        let ok = json!({"type": "flow_meter", "name": "流量计",
            "properties": [{"id": "flow", "name": "流量", "data_type": "float", "min": 0, "max": 10}],
            "events": [{"id": "block", "name": "堵塞", "level": "warning"}],
            "services": [{"id": "reset", "name": "复位"}]});
        let t = parse_device_type(&ok).unwrap();
        assert_eq!(t.offline_after_secs, DEFAULT_OFFLINE_AFTER_SECS);
        let bad = json!({"type": "leak_alarm", "name": "",
            "properties": [{"id": "Flow", "data_type": "float", "min": 5, "max": 1},
                           {"id": "Flow", "data_type": "bool", "max": 1}],
            "events": [{"id": "e", "name": "e", "level": "loud"}], "offline_after_secs": 1});
        let e = parse_device_type(&bad).unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        for f in [
            "type",
            "name",
            "properties[0].id",
            "properties[0].min",
            "properties[1].id",
            "properties[1].min",
            "events[0].level",
            "offline_after_secs",
        ] {
            assert!(fields.contains(&f), "{f} not in {fields:?}");
        }
        assert!(parse_device_type(&json!({"type": "x", "name": "x", "colour": 1})).is_err());
    }
}
