//! What devices send (DEVICES.md "MQTT access"), whichever way it came (MQTT or HTTP): each up
//! message is rate-limited per device, parsed, checked against the thing model and applied —
//! readings stored, device events stored once per id, `fill_request` decided exactly as
//! `POST /fill-control` for the scale's station, `fill_report` appended once as a `fill` event
//! (committed before its `ack`), `scan` recorded as `POST /scan/{action}` at the reader's site.
//! A refused message stores nothing and counts as bad on the device.

use chrono::{DateTime, Duration, Utc};
use cyltrace_domain::devices::model::{self, DeviceType};
use cyltrace_domain::devices::rules::Input;
use cyltrace_domain::devices::up::{self, DownKind, Up, UpKind};
use cyltrace_domain::event::{EventData, Fill};
use cyltrace_domain::intake::Naming;
use cyltrace_domain::{CylinderCode, Event, FieldError, Kg, Role, Text, ValidationErrors};
use cyltrace_store::{Activity, DecisionFilter, DeviceEventRecord, DeviceRecord, Reading};
use serde_json::{Value, json};
use uuid::Uuid;

use super::hub::ServiceReply;
use super::registry::type_of;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::services::events::{Submission, api_error, submit};
use crate::state::AppState;

/// How long before a fill began its allowing decision may have been taken.
const DECISION_VALID: Duration = Duration::hours(24);

/// An accepted message: the answer for HTTP, and what goes down to the device over MQTT.
#[derive(Debug)]
pub struct Answer {
    pub body: Value,
    pub down: Option<(DownKind, Value)>,
}

/// A refused message: nothing of it was stored.
#[derive(Debug)]
pub struct Refused {
    /// The message's id (or request id) when it could be read, so the device can match the refusal.
    pub id: Option<String>,
    pub error: ApiError,
}

impl Refused {
    /// `down/ack` `{"id","error":{…}}`.
    pub fn ack(&self) -> Value {
        json!({"id": self.id, "error": error_json(&self.error)})
    }
}

/// An error as a device reads it: status, reason and the fields.
pub fn error_json(e: &ApiError) -> Value {
    let (status, detail, errors): (u16, String, Vec<FieldError>) = match e {
        ApiError::Invalid(v) => (
            422,
            v.0.first()
                .map(|f| format!("{}: {}", f.field, f.message))
                .unwrap_or_default(),
            v.0.clone(),
        ),
        ApiError::Conflict(d, f) => (409, d.clone(), f.clone()),
        ApiError::Unauthorized(d) => (401, d.clone(), vec![]),
        ApiError::Forbidden(d) => (403, d.clone(), vec![]),
        ApiError::NotFound(d) => (404, d.clone(), vec![]),
        ApiError::TooManyRequests(d, _) => (429, d.clone(), vec![]),
        ApiError::BadRequest(d) => (400, d.clone(), vec![]),
        ApiError::Internal(_) => (500, "服务器内部错误，请稍后重试".to_owned(), vec![]),
        other => (400, other.to_string(), vec![]),
    };
    json!({"status": status, "detail": detail,
           "errors": errors.iter().map(|f| json!({"field": f.field, "message": f.message})).collect::<Vec<_>>()})
}

/// The principal a device acts as: its organisation, and the roles of what its type does.
pub fn principal(d: &DeviceRecord) -> Principal {
    let roles = match d.type_id.as_str() {
        model::FILLING_SCALE => vec![Role::Filler],
        model::LABEL_READER => vec![Role::Warehouse, Role::Driver, Role::Courier],
        _ => vec![],
    };
    Principal {
        user_id: d.id,
        username: format!("device:{}", d.id),
        org_id: d.org_id,
        org_path: d.org_path.clone(),
        roles,
        restriction: None,
        token_hash: None,
    }
}

/// Applies one up message of `device` (already authenticated: its login or its topic).
pub async fn handle(
    st: &AppState,
    d: &DeviceRecord,
    kind: &str,
    payload: &[u8],
) -> Result<Answer, Refused> {
    let now = st.now();
    let result = apply(st, d, kind, payload, now).await;
    let activity = Activity {
        at: now,
        up: 1,
        down: i64::from(matches!(&result, Ok(a) if a.0.down.is_some())),
        bad: i64::from(result.is_err()),
        seen: result.is_ok(),
        readings: match &result {
            Ok((_, r)) => r.clone(),
            Err(_) => vec![],
        },
    };
    // A flooding device's surplus is refused before it costs a write: counted in the metrics only,
    // so that it cannot slow the store for the others.
    let flooding = matches!(&result, Err(ApiError::TooManyRequests(..)));
    if !flooding && let Err(e) = record(st, d, &activity).await {
        tracing::error!(device = %d.id, error = %e, "recording device activity");
    }
    match result {
        Ok((a, _)) => {
            st.metrics.device_messages.inc();
            Ok(a)
        }
        Err(error) => {
            st.metrics.device_messages_bad.inc();
            Err(Refused {
                id: up::guess_id(payload),
                error,
            })
        }
    }
}

/// Counts the message and, the first time after silence, records the device coming back online.
async fn record(st: &AppState, d: &DeviceRecord, a: &Activity) -> ApiResult<()> {
    st.store.record_activity(d.id, a).await?;
    if a.seen && !d.online {
        st.store.set_online(d.id, true).await?;
        st.devices.records.remove(&d.id);
        status_event(st, d, "online", a.at).await?;
        super::on_input(st, d, Input::Online { at: a.at }).await?;
    }
    Ok(())
}

/// Records a device's going offline or coming back as a device event (8.1.1).
pub async fn status_event(
    st: &AppState,
    d: &DeviceRecord,
    what: &str,
    at: DateTime<Utc>,
) -> ApiResult<()> {
    st.store
        .insert_device_event(&DeviceEventRecord {
            id: Uuid::new_v4(),
            device_id: d.id,
            event: what.to_owned(),
            time: at,
            output: None,
            recorded_at: at,
        })
        .await?;
    Ok(())
}

async fn apply(
    st: &AppState,
    d: &DeviceRecord,
    kind: &str,
    payload: &[u8],
    now: DateTime<Utc>,
) -> ApiResult<(Answer, Vec<Reading>)> {
    if !st.devices.admit(d.id) {
        return Err(ApiError::TooManyRequests(
            "设备上报过于频繁，请降低上报频率".to_owned(),
            1,
        ));
    }
    let kind = UpKind::parse(kind).ok_or_else(|| {
        ApiError::invalid(
            "kind",
            format!(
                "未知的上报类型“{kind}”，允许：{}",
                UpKind::ALL.map(UpKind::as_str).join("、")
            ),
        )
    })?;
    let msg = up::parse_up(kind, payload)?;
    let t = type_of(st, d).await?;
    let none = |body| Ok((Answer { body, down: None }, vec![]));
    match msg {
        Up::Heartbeat => none(json!({})),
        Up::Property(p) => {
            t.check_properties(&p.values)?;
            let at = p.time.unwrap_or(now);
            let readings: Vec<Reading> = p
                .values
                .iter()
                .map(|(k, v)| Reading {
                    property: k.clone(),
                    time: at,
                    value: v.clone(),
                })
                .collect();
            super::on_input(
                st,
                d,
                Input::Property {
                    values: &p.values,
                    at,
                },
            )
            .await?;
            Ok((
                Answer {
                    body: json!({"stored": readings.len()}),
                    down: None,
                },
                readings,
            ))
        }
        Up::Event(e) => event(st, d, &t, e, now).await.map(|a| (a, vec![])),
        Up::FillRequest(r) => fill_request(st, d, r).await.map(|a| (a, vec![])),
        Up::FillReport(r) => fill_report(st, d, r).await.map(|a| (a, vec![])),
        Up::Scan(s) => scan(st, d, s).await.map(|a| (a, vec![])),
        Up::ServiceReply(r) => {
            let waited = st.devices.reply(
                d.id,
                &r.request_id,
                ServiceReply {
                    code: r.code,
                    message: r.message,
                    output: r.output,
                },
            );
            none(json!({"request_id": r.request_id, "matched": waited}))
        }
    }
}

async fn event(
    st: &AppState,
    d: &DeviceRecord,
    t: &DeviceType,
    e: up::EventUp,
    now: DateTime<Utc>,
) -> ApiResult<Answer> {
    let spec = t
        .event(&e.event)
        .ok_or_else(|| ApiError::invalid("event", format!("物模型中没有事件“{}”", e.event)))?;
    if let Some(out) = &e.output {
        model::check_values(&spec.output, out, "output")?;
    }
    let new = st
        .store
        .insert_device_event(&DeviceEventRecord {
            id: e.id,
            device_id: d.id,
            event: e.event.clone(),
            time: e.time,
            output: e.output.clone().map(Value::Object),
            recorded_at: now,
        })
        .await?;
    if new {
        super::on_input(
            st,
            d,
            Input::Event {
                event: &e.event,
                at: e.time,
            },
        )
        .await?;
    }
    let ack = json!({"id": e.id, "new": new});
    Ok(Answer {
        body: ack.clone(),
        down: Some((DownKind::Ack, ack)),
    })
}

fn require_type(d: &DeviceRecord, t: &str, what: &str) -> ApiResult<()> {
    if d.type_id == t {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "只有{what}可以上报该类型的消息"
        )))
    }
}

fn site(d: &DeviceRecord) -> ApiResult<Uuid> {
    d.site_id
        .ok_or_else(|| ApiError::Forbidden("设备未绑定站点，请先在设备档案中绑定站点".to_owned()))
}

async fn fill_request(st: &AppState, d: &DeviceRecord, r: up::FillRequestUp) -> ApiResult<Answer> {
    require_type(d, model::FILLING_SCALE, "充装秤")?;
    let body = json!({"code": r.code, "site_id": site(d)?, "medium": r.medium, "label": r.label});
    let decision = crate::services::filling::fill_control(st, &principal(d), &body, None).await?;
    let answer = json!({
        "request_id": r.request_id,
        "allow": decision.allow,
        "refusals": decision.refusals,
        "fill_limit_kg": decision.fill_limit_kg,
        "target_gross_kg": decision.target_gross_kg,
        "decision_id": decision.id,
    });
    Ok(Answer {
        body: answer.clone(),
        down: Some((DownKind::FillAnswer, answer)),
    })
}

async fn fill_report(st: &AppState, d: &DeviceRecord, r: up::FillReportUp) -> ApiResult<Answer> {
    require_type(d, model::FILLING_SCALE, "充装秤")?;
    let site_id = site(d)?;
    let code = CylinderCode::parse(&r.code).map_err(|m| ApiError::invalid("code", m))?;
    // GB/T 38059: the scale fills only on the platform's allow; a report without one is refused.
    let (decisions, _) = st
        .store
        .list_decisions(&DecisionFilter {
            site_id: Some(site_id),
            code: Some(code.to_string()),
            limit: 50,
            ..Default::default()
        })
        .await?;
    let allowing = match r.decision_id {
        Some(id) => decisions.iter().find(|x| x.id == id),
        None => decisions.first(),
    };
    let decision = match allowing {
        Some(x)
            if x.allow
                && x.at <= r.begin + Duration::minutes(5)
                && r.begin - x.at <= DECISION_VALID =>
        {
            x
        }
        Some(x) if !x.allow => {
            return Err(ApiError::invalid(
                "decision_id",
                "该气瓶的充装请求被拒绝，不得充装",
            ));
        }
        _ => {
            return Err(ApiError::invalid(
                "decision_id",
                "没有该气瓶在本站 24 小时内的允许充装决定，请先发送 fill_request",
            ));
        }
    };
    let mut errs = ValidationErrors::default();
    let kg =
        |v: f64, f: &str, errs: &mut ValidationErrors| Kg::new(v).map_err(|m| errs.push(f, m)).ok();
    let tare = kg(r.tare_kg, "tare_kg", &mut errs);
    let gross = kg(r.gross_kg, "gross_kg", &mut errs);
    let text = |s: &str, f: &str, errs: &mut ValidationErrors| {
        Text::parse(s).map_err(|m| errs.push(f, m)).ok()
    };
    let scale_no = text(d.serial.as_deref().unwrap_or(&d.name), "serial", &mut errs);
    let operator = text(&d.name, "name", &mut errs);
    let device = text(&d.id.to_string(), "id", &mut errs);
    let medium = text(&decision.medium, "medium", &mut errs);
    let batch = match &r.batch {
        Some(b) => text(b, "batch", &mut errs),
        None => None,
    };
    let (Some(tare), Some(gross), Some(scale_no)) = (tare, gross, scale_no) else {
        return Err(errs.into_result(()).map_or_else(ApiError::from, |()| {
            ApiError::Internal("unreachable".to_owned())
        }));
    };
    errs.into_result(())?;
    let event = Event {
        id: r.id,
        data: EventData::Fill(Fill {
            scale_no,
            begin: r.begin.into(),
            end: r.end.into(),
            tare_kg: tare,
            gross_kg: gross,
            medium,
            batch,
        }),
        codes: vec![code],
        time: r.end,
        site_id: Some(site_id),
        operator,
        device,
        position: None,
    };
    let appended = submit(
        st,
        &principal(d),
        Submission::new(vec![event], Naming::Single),
        None,
    )
    .await
    .map_err(api_error)?;
    let a = appended
        .first()
        .ok_or_else(|| ApiError::Internal("no answer for the fill".to_owned()))?;
    let ack = json!({"id": r.id, "ledger_index": a.ledger_index, "new": a.new});
    Ok(Answer {
        body: ack.clone(),
        down: Some((DownKind::Ack, ack)),
    })
}

async fn scan(st: &AppState, d: &DeviceRecord, s: up::ScanUp) -> ApiResult<Answer> {
    require_type(d, model::LABEL_READER, "标签读写器")?;
    let scans: Vec<Value> = s
        .codes
        .iter()
        .map(|c| json!({"id": up::scan_event_id(s.id, c), "code": c, "time": s.time}))
        .collect();
    let body = json!({"scans": scans, "site_id": site(d)?});
    let results =
        crate::services::circulation::scan(st, &principal(d), &s.action, &body, None).await?;
    let ack = json!({"id": s.id, "results": results});
    Ok(Answer {
        body: ack.clone(),
        down: Some((DownKind::Ack, ack)),
    })
}
