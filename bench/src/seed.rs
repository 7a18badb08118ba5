//! Seeds an empty cyltrace database for the filling-control benchmark: one filling enterprise with a
//! filling station and a filler, N cylinders (codes 2000000001…), and for each a filling history —
//! pre-fill check, fill and post-fill check three days ago, delivery and recycling since — so that
//! the projection, the events and the indexes have a realistic size. One cylinder in ten also has a
//! fresh pre-fill check, so that some decisions allow. Prints what the load script needs as JSON.
//!
//! `cargo run --release -p cyltrace-bench -- --data-dir DIR --cylinders 1000000`
//! (or with `CYLTRACE_DATABASE_URL=postgres://…`).
// Benchmarks and data generators run on real time.
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use chrono::{Duration, Utc};
use clap::Parser;
use cyltrace_domain::event::{Check, Deliver, Fill, PostFillCheck, PreFillCheck, Recycle};
use cyltrace_domain::parse::from_value;
use cyltrace_domain::{
    Archive, CylinderCode, Event, EventData, Kg, Licence, OrgKind, RegionCode, Role, Text,
    Timestamp,
};
use cyltrace_store::{AppendContext, NewCylinder, OrgRecord, UserRecord};
use serde_json::json;
use uuid::Uuid;

#[derive(Parser)]
struct Args {
    /// SQLite data directory (ignored when CYLTRACE_DATABASE_URL is set).
    #[arg(long)]
    data_dir: PathBuf,
    #[arg(long, default_value_t = 1_000_000)]
    cylinders: u64,
}

pub const FIRST_CODE: u64 = 2_000_000_001;
const CHUNK: u64 = 500;
const USERNAME: &str = "bench_filler";
const PASSWORD: &str = "Bench2026ok";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let url = std::env::var("CYLTRACE_DATABASE_URL").ok();
    let store = cyltrace_store::open(url.as_deref(), &args.data_dir, &Default::default()).await?;
    anyhow::ensure!(store.is_empty().await?, "the database is not empty");
    let now = Utc::now();
    let started = Instant::now();

    let org = |id: Uuid,
               kind,
               name: &str,
               region: &str,
               parent: Option<&OrgRecord>,
               licences: Vec<Licence>| OrgRecord {
        id,
        kind,
        name: name.to_owned(),
        region_code: RegionCode::parse(region).expect("region"),
        parent_id: parent.map(|p| p.id),
        credit_code: None,
        licences,
        phone: None,
        address: None,
        path: OrgRecord::child_path(parent.map(|p| p.path.as_str()), id),
        created_at: now,
    };
    let regulator = org(
        Uuid::new_v4(),
        OrgKind::Regulator,
        "昆明市市场监督管理局",
        "530100",
        None,
        vec![],
    );
    store.insert_org(&regulator).await?;
    let licences: Vec<Licence> = from_value(
        &json!([{"kind": "filling", "number": "TS4253001-2030", "valid_until": "2030-12-31"},
                {"kind": "gas_business", "number": "云燃经字第0001号", "valid_until": "2030-12-31"}]),
        "licences",
    )
    .map_err(anyhow::Error::msg)?;
    let ent = org(
        Uuid::new_v4(),
        OrgKind::FillingEnterprise,
        "基准测试燃气有限公司",
        "530102",
        Some(&regulator),
        licences,
    );
    store.insert_org(&ent).await?;
    let site = Uuid::new_v4();
    let new_site = from_value(
        &json!({"org_id": ent.id, "kind": "filling_station", "name": "基准充装站"}),
        "site",
    )
    .map_err(anyhow::Error::msg)?;
    store.insert_site(site, &new_site, now).await?;
    let hash =
        cyltrace_server::auth::hash_password(PASSWORD).map_err(|e| anyhow::anyhow!("{e}"))?;
    let filler = UserRecord {
        id: Uuid::new_v4(),
        org_id: ent.id,
        username: USERNAME.to_owned(),
        password_hash: hash,
        name: "基准充装工".to_owned(),
        roles: vec![Role::Filler],
        failed_logins: 0,
        locked_until: None,
        org_path: ent.path.clone(),
        created_at: now,
        active: true,
        must_change_password: false,
        totp_enabled: false,
    };
    store.insert_user(&filler).await?;

    let template: Archive = from_value(
        &json!({"code": "2000000000", "region_code": "530100", "style": "YSP35.5", "valve": 1, "medium": "液化石油气", "tare_kg": 16.5,
                "fill_limit_kg": 14.5, "volume_l": 35.5, "working_pressure_mpa": 2.1, "test_pressure_mpa": 3.2, "wall_thickness_mm": 2.5,
                "life_years": 8, "check_period_years": 4, "manufacturer": "江苏民生重工有限公司", "manufacture_date": "2022-09",
                "product_standard": "GB 5842-2006", "last_check_date": "2022-09-01", "next_check_date": "2026-12-01",
                "discard_date": "2030-09-01", "owner_org_id": ent.id,
                "registration": {"number": "553001000001", "date": "2022-10-01", "authority": "昆明市市场监督管理局"}}),
        "archive",
    )
    .map_err(anyhow::Error::msg)?;
    let ctx = AppendContext {
        recorded_by: Some(filler.id),
        org_id: ent.id,
        recorded_at: now,
    };
    let text = |s: &str| Text::parse(s).expect("text");
    let kg = |v: f64| Kg::new(v).expect("kg");
    let ok_pre = PreFillCheck {
        own_property: true,
        medium_matches: true,
        no_cracks: true,
        no_corrosion: true,
        no_deformation: true,
        no_damage: true,
        inspection_valid: true,
        valve_valid: true,
        residual_pressure_ok: true,
    };
    let ok_post = PostFillCheck {
        fill_within_limit: true,
        no_valve_neck_leak: true,
        no_valve_outlet_leak: true,
        no_bulge_or_defect: true,
        no_temperature_rise: true,
    };
    let event = |data: EventData, codes: Vec<CylinderCode>, time| Event {
        id: Uuid::new_v4(),
        data,
        codes,
        time,
        site_id: Some(site),
        operator: Some(text("基准充装工")),
        device: None,
        position: None,
    };

    let mut first = FIRST_CODE;
    let end = FIRST_CODE + args.cylinders;
    while first < end {
        let last = (first + CHUNK).min(end);
        let codes: Vec<CylinderCode> = (first..last)
            .map(|n| CylinderCode::parse(&n.to_string()).expect("code"))
            .collect();
        let archives: Vec<NewCylinder> = codes
            .iter()
            .map(|c| NewCylinder {
                archive: Archive {
                    code: c.clone(),
                    ..template.clone()
                },
                org_id: ent.id,
            })
            .collect();
        store
            .insert_cylinders(&archives, now)
            .await
            .context("cylinders")?;
        let mut events = Vec::with_capacity(codes.len() * 3 + 2 + codes.len() / 10);
        for (k, c) in codes.iter().enumerate() {
            let t0 = now - Duration::days(3) - Duration::seconds(k as i64 * 7);
            let end_fill = t0 + Duration::minutes(8);
            let fill = Fill {
                scale_no: text("CZ-01"),
                begin: Timestamp(t0 + Duration::minutes(5)),
                end: Timestamp(end_fill),
                tare_kg: kg(16.5),
                gross_kg: kg(30.9),
                medium: Some(text("液化石油气")),
                batch: None,
            };
            events.push(event(
                EventData::PreFillCheck(Check::Items(ok_pre.clone())),
                vec![c.clone()],
                t0,
            ));
            events.push(event(EventData::Fill(fill), vec![c.clone()], end_fill));
            events.push(event(
                EventData::PostFillCheck(Check::Items(ok_post.clone())),
                vec![c.clone()],
                t0 + Duration::minutes(12),
            ));
        }
        let deliver = Deliver {
            customer_id: None,
            order_id: None,
            confirmation: None,
        };
        events.push(event(
            EventData::Deliver(deliver),
            codes.clone(),
            now - Duration::days(2),
        ));
        events.push(event(
            EventData::Recycle(Recycle {
                customer_id: None,
                recycling_order_id: None,
            }),
            codes.clone(),
            now - Duration::days(1),
        ));
        for c in codes.iter().step_by(10) {
            events.push(event(
                EventData::PreFillCheck(Check::Items(ok_pre.clone())),
                vec![c.clone()],
                now - Duration::hours(1),
            ));
        }
        store.append_events(&events, &ctx).await.context("events")?;
        if (last - FIRST_CODE) % 50_000 < CHUNK {
            eprintln!(
                "{} cylinders, {:.0} s",
                last - FIRST_CODE,
                started.elapsed().as_secs_f64()
            );
        }
        first = last;
    }
    eprintln!(
        "seeded {} cylinders in {:.0} s",
        args.cylinders,
        started.elapsed().as_secs_f64()
    );
    println!(
        "{}",
        json!({"site_id": site, "username": USERNAME, "password": PASSWORD, "first_code": FIRST_CODE, "cylinders": args.cylinders})
    );
    Ok(())
}
