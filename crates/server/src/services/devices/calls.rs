//! Remote service calls and parameter sets (004 §8.1.3): `POST /devices/{id}/services/{service}`
//! sends `down/service` and waits for the device's `up/service_reply` or a timeout.

use std::time::Duration;

use cyltrace_domain::access::Action;
use cyltrace_domain::devices::model;
use cyltrace_domain::devices::up::DownKind;
use cyltrace_store::Activity;
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::registry::{get, type_of};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The most a caller may wait for a reply.
pub const MAX_TIMEOUT_SECS: u64 = 60;

/// What became of a call.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallOutcome {
    pub request_id: String,
    /// `replied` or `timeout`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
}

/// Calls `service` of device `id` with the body's `input` (checked against the model); waits
/// `timeout_secs` (default: the node's `device_service_timeout_secs`).
pub async fn call(
    st: &AppState,
    p: &Principal,
    id: Uuid,
    service: &str,
    body: &Value,
) -> ApiResult<CallOutcome> {
    p.require(Action::ManageDevices)?;
    let d = get(st, p, id).await?;
    let t = type_of(st, &d).await?;
    let spec = t
        .service(service)
        .ok_or_else(|| ApiError::NotFound(format!("设备类型“{}”没有服务“{service}”", t.name)))?;
    let o = match body {
        Value::Null => Map::new(),
        Value::Object(o) => o.clone(),
        _ => return Err(ApiError::invalid("", "请求体应为 JSON 对象")),
    };
    let mut errs = cyltrace_domain::ValidationErrors::default();
    for k in o
        .keys()
        .filter(|k| !["input", "timeout_secs"].contains(&k.as_str()))
    {
        errs.push(k.as_str(), "不允许的字段（未知字段）");
    }
    let input = match o.get("input") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(i)) => i.clone(),
        Some(_) => {
            errs.push("input", "类型错误：应为对象");
            Map::new()
        }
    };
    if let Err(e) = model::check_values(&spec.input, &input, "input") {
        errs.0.extend(e.0);
    }
    let timeout = match o.get("timeout_secs") {
        None => st.config.device_service_timeout_secs,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=MAX_TIMEOUT_SECS).contains(&n) => n,
            _ => {
                errs.push("timeout_secs", format!("应为 1–{MAX_TIMEOUT_SECS} 秒"));
                0
            }
        },
    };
    errs.into_result(())?;
    if d.disabled {
        return Err(ApiError::Forbidden("该设备已停用".to_owned()));
    }
    let request_id = Uuid::new_v4().to_string();
    let reply = st.devices.expect_reply(d.id, &request_id);
    let sent = st.devices.send(
        d.id,
        DownKind::Service,
        json!({"request_id": request_id, "service": service, "input": input}),
    );
    if let Err(m) = sent {
        st.devices.forget_call(d.id, &request_id);
        return Err(ApiError::Conflict(m, vec![]));
    }
    let activity = Activity {
        at: st.now(),
        down: 1,
        ..Default::default()
    };
    st.store.record_activity(d.id, &activity).await?;
    match tokio::time::timeout(Duration::from_secs(timeout), reply).await {
        Ok(Ok(r)) => Ok(CallOutcome {
            request_id,
            status: "replied",
            code: Some(r.code),
            message: r.message,
            output: r.output,
        }),
        _ => {
            st.devices.forget_call(d.id, &request_id);
            Ok(CallOutcome {
                request_id,
                status: "timeout",
                code: None,
                message: None,
                output: None,
            })
        }
    }
}
