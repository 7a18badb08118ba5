//! The demo's station records beside the circulation: lab tests and repairs (B8) on a few cylinders,
//! and recycling orders (C4) waiting at the station, so that those pages show work on first look.

use chrono::{DateTime, Duration, Utc};
use cyltrace_domain::{Event, Role};
use cyltrace_store::{AppendContext, NewCylinder};
use serde_json::json;
use uuid::Uuid;

use super::Enterprise;
use super::circulation::Refs;
use crate::auth::Principal;
use crate::services;
use crate::state::AppState;

pub(super) async fn station_records(
    st: &AppState,
    ent: &Enterprise,
    refs: &Refs,
    archives: &[NewCylinder],
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let code = |i: usize| archives[i].archive.code.as_str().to_owned();
    let at = |days: i64| (now - Duration::days(days)).to_rfc3339();
    let raw = [
        json!({"kind": "lab_test", "codes": [code(0), code(1), code(2)], "time": at(2),
               "data": {"sample_no": format!("HY-{}-001", ent.prefix.to_uppercase()), "medium": "液化石油气",
                        "composition": {"丙烷": 63.2, "丁烷": 35.1, "C5及以上": 1.2}, "result": "pass", "tester": "李化验"}}),
        json!({"kind": "lab_test", "codes": [code(3)], "time": at(1),
               "data": {"sample_no": format!("HY-{}-002", ent.prefix.to_uppercase()), "medium": "液化石油气",
                        "composition": {"丙烷": 58.0, "丁烷": 37.5, "C5及以上": 4.1}, "result": "fail", "tester": "李化验",
                        "remark": "残液偏高，抽残后复检"}}),
        json!({"kind": "repair", "codes": [code(10)], "time": at(5),
               "data": {"items": "更换瓶阀", "valve_replaced": true, "valve_maker": "宁波明峰阀门有限公司", "repairer": "周维修"}}),
        json!({"kind": "repair", "codes": [code(11)], "time": at(3),
               "data": {"items": "护罩校正，底座除锈涂漆", "valve_replaced": false, "repairer": "周维修"}}),
    ];
    let mut events = Vec::with_capacity(raw.len());
    for mut v in raw {
        v["id"] = json!(Uuid::new_v4());
        v["site_id"] = json!(ent.filling_station);
        events.push(Event::parse(&v, "demo").map_err(anyhow::Error::msg)?);
    }
    let ctx = AppendContext {
        recorded_by: Some(ent.recorder),
        org_id: ent.org.id,
        recorded_at: now,
    };
    st.store.append_events(&events, &ctx).await?;

    let admin = Principal {
        user_id: ent.courier,
        username: format!("{}_courier", ent.prefix),
        org_id: ent.org.id,
        org_path: ent.org.path.clone(),
        roles: vec![Role::Courier],
        restriction: None,
        token_hash: None,
    };
    let err = |e: crate::error::ApiError| anyhow::anyhow!("demo recycling orders: {e}");
    for body in [
        json!({"customer_id": refs.customers[4], "count": 2, "note": "周末上午在家"}),
        json!({"contact": "吴先生", "phone": "13987100000", "address": "昆明市盘龙区北京路 88 号", "count": 1}),
    ] {
        services::circulation::create_recycling_order(st, &admin, &body)
            .await
            .map_err(err)?;
    }
    Ok(())
}
