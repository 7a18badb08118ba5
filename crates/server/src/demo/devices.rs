//! The demo's devices (issue 18): per enterprise two filling scales and a camera at the filling
//! station, a label reader at the warehouse and three household leak alarms, with recent readings so
//! that the device pages are not empty (one alarm silent for two hours, one never seen). Their
//! secrets go to `demo-devices.json` in the data directory (owner-only), which `cyltrace simulate`
//! reads.

use chrono::{DateTime, Duration, Utc};
use cyltrace_domain::devices::model;
use cyltrace_store::{Activity, DeviceRecord, Reading};
use serde::{Deserialize, Serialize};
use serde_json::{Map, json};
use uuid::Uuid;

use super::Enterprise;
use crate::auth::new_token;
use crate::state::AppState;

/// The file the demo's device secrets are written to, in the data directory.
pub const DEMO_DEVICES_FILE: &str = "demo-devices.json";

/// One demo device as `cyltrace simulate` needs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoDevice {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub type_id: String,
    pub name: String,
    pub secret: String,
    /// Codes this device works with (the scales: cylinders of its enterprise).
    #[serde(default)]
    pub codes: Vec<String>,
}

#[allow(clippy::too_many_arguments)]
fn device(
    ent: &Enterprise,
    type_id: &str,
    name: String,
    site_id: Option<Uuid>,
    position: Option<i32>,
    channel_id: Option<String>,
    secret_hash: String,
    now: DateTime<Utc>,
) -> DeviceRecord {
    DeviceRecord {
        id: Uuid::new_v4(),
        type_id: type_id.to_owned(),
        org_id: ent.org.id,
        org_path: ent.org.path.clone(),
        site_id,
        name,
        serial: position.map(|p| format!("CZ-{p:02}")),
        group: Some(
            if type_id == model::LEAK_ALARM {
                "居民用户"
            } else {
                "充装站"
            }
            .to_owned(),
        ),
        tags: vec![],
        customer_id: None,
        vehicle: None,
        channel_id: channel_id.clone(),
        position,
        phone: None,
        stream_url: channel_id.map(|c| format!("rtsp://192.168.10.20:554/{c}")),
        secret_hash,
        disabled: false,
        created_at: now,
        last_seen: None,
        online: false,
        up_count: 0,
        down_count: 0,
        bad_count: 0,
        properties: Map::new(),
    }
}

/// Registers the demo devices of `ents`; answers them with their secrets.
pub(super) async fn seed(
    st: &AppState,
    ents: &[(&Enterprise, Vec<String>)],
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<DemoDevice>> {
    let mut out = Vec::new();
    for (n, (ent, codes)) in ents.iter().enumerate() {
        let mut made: Vec<(DeviceRecord, String)> = Vec::new();
        let mut push = |type_id: &str,
                        name: String,
                        site: Option<Uuid>,
                        pos: Option<i32>,
                        ch: Option<String>|
         -> anyhow::Result<()> {
            let (secret, hash) = new_token().map_err(|e| anyhow::anyhow!("{e}"))?;
            made.push((device(ent, type_id, name, site, pos, ch, hash, now), secret));
            Ok(())
        };
        for p in 1..=2 {
            push(
                model::FILLING_SCALE,
                format!("{p}号充装秤"),
                Some(ent.filling_station),
                Some(p),
                None,
            )?;
        }
        push(
            model::CAMERA,
            "1号充装位摄像机".to_owned(),
            Some(ent.filling_station),
            Some(1),
            Some(format!("5301000000131000{:04}", n + 1)),
        )?;
        push(
            model::LABEL_READER,
            "仓库门口读写器".to_owned(),
            Some(ent.warehouse),
            None,
            None,
        )?;
        for h in 1..=3 {
            push(
                model::LEAK_ALARM,
                format!("居民{h}号厨房报警器"),
                None,
                None,
                None,
            )?;
        }
        for (i, (d, secret)) in made.into_iter().enumerate() {
            st.store.insert_device(&d).await?;
            let t = model::builtin(&d.type_id).ok_or_else(|| anyhow::anyhow!("no type"))?;
            // The last leak alarm has never reported; the one before it fell silent.
            let seen = match (d.type_id.as_str(), i) {
                (model::LEAK_ALARM, 6) => None,
                (model::LEAK_ALARM, 5) => Some(now - Duration::hours(2)),
                _ => Some(now - Duration::seconds(30)),
            };
            if let Some(at) = seen {
                let readings = t
                    .properties
                    .iter()
                    .map(|p| Reading {
                        property: p.id.clone(),
                        time: at,
                        value: match p.data_type {
                            model::DataType::Bool => json!(false),
                            model::DataType::Int => json!(p.max.map_or(1, |m| (m * 0.9) as i64)),
                            _ => json!(p.min.unwrap_or(0.0) + (i as f64) * 0.7),
                        },
                    })
                    .collect();
                let a = Activity {
                    at,
                    up: 24,
                    seen: true,
                    readings,
                    ..Default::default()
                };
                st.store.record_activity(d.id, &a).await?;
                st.store
                    .set_online(d.id, at > now - Duration::minutes(5))
                    .await?;
            }
            out.push(DemoDevice {
                id: d.id,
                type_id: d.type_id.clone(),
                name: format!("{} {}", ent.org.name, d.name),
                secret,
                codes: if d.type_id == model::FILLING_SCALE {
                    codes.clone()
                } else {
                    vec![]
                },
            });
        }
    }
    Ok(out)
}
