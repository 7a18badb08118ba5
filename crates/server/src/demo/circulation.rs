//! The demo's circulation records: drivers and escorts, vehicles with their tracks and waybills,
//! customers with deposits and real names, open orders and a household check with a rectification.

use chrono::{DateTime, Duration, Utc};
use cyltrace_domain::Role;
use cyltrace_domain::org::CreditCode;
use cyltrace_domain::time::china_date;
use serde_json::{Value, json};
use uuid::Uuid;

use super::Enterprise;
use crate::auth::Principal;
use crate::services;
use crate::state::AppState;

/// What the circulation history refers to: (plate, waybill) pairs and customer ids.
pub(super) struct Refs {
    pub(super) transport: Vec<(String, String)>,
    pub(super) customers: Vec<Uuid>,
}

const SURNAMES: [&str; 12] = [
    "张", "王", "李", "赵", "刘", "陈", "杨", "黄", "周", "吴", "徐", "孙",
];
const GIVEN: [&str; 8] = ["建国", "丽华", "志强", "秀英", "海燕", "国庆", "春梅", "明"];
const ROADS: [&str; 6] = [
    "人民中路",
    "北京路",
    "滇池路",
    "金碧路",
    "环城南路",
    "春城路",
];

/// Vehicles, drivers and escorts with their certificates, one waybill per vehicle, customers (some
/// commercial, most verified, some with deposits), open orders, vehicle tracks and a household check
/// with a rectification task — through the same services the API uses.
pub(super) async fn circulation(
    st: &AppState,
    ent: &Enterprise,
    n: usize,
    now: DateTime<Utc>,
) -> anyhow::Result<Refs> {
    let err = |e: crate::error::ApiError| anyhow::anyhow!("demo circulation: {e}");
    let admin = Principal {
        user_id: ent.recorder,
        username: format!("{}_admin", ent.prefix),
        org_id: ent.org.id,
        org_path: ent.org.path.clone(),
        roles: vec![Role::EnterpriseAdmin],
        restriction: None,
        token_hash: None,
    };
    let today = china_date(now);
    let valid = (today + Duration::days(400)).format("%Y-%m-%d").to_string();
    let region = ent.org.region_code.as_str().to_owned();
    let id_of = |seq: usize, year: usize| {
        cyltrace_domain::circulation::IdNumber::with_check(&format!(
            "{region}{year}{:02}{:02}{:03}",
            1 + seq % 12,
            1 + seq % 28,
            (seq * 7 + n) % 1000
        ))
        .map(|i| i.as_str().to_owned())
        .map_err(anyhow::Error::msg)
    };
    let mut staff = Vec::new();
    for (k, (role, name)) in [
        ("driver", "赵师傅"),
        ("escort", "钱押运"),
        ("driver", "孙师傅"),
        ("escort", "李押运"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = json!({"role": role, "name": name, "id_number": id_of(k, 1978 + k)?,
            "phone": format!("1390871{}{:03}", n, k), "certificate_no": format!("5301{:02}{:08}", n, 1000 + k),
            "certificate_valid_until": valid});
        if k == 0 {
            body["user_id"] = json!(ent.driver);
        }
        staff.push(
            services::circulation::create_staff(st, &admin, &body)
                .await
                .map_err(err)?
                .id,
        );
    }
    let mut transport = Vec::new();
    for k in 0..4 {
        let plate = format!("云A{}{:03}", ent.prefix.to_uppercase(), 100 + k);
        let v = services::circulation::create_vehicle(
            st,
            &admin,
            &json!({"plate": plate, "vehicle_type": "厢式危险品运输车", "permit_no": format!("云交运管许可危字 5301{:02}{:04}", n, k),
                    "permit_valid_until": valid, "capacity": 120}),
        )
        .await
        .map_err(err)?;
        let number = format!("YD{}{:04}", ent.prefix.to_uppercase(), k + 1);
        services::circulation::create_waybill(
            st,
            &admin,
            &json!({"number": number, "origin_site_id": ent.warehouse, "destination_site_id": ent.store,
                    "vehicle_id": v.id, "driver_id": staff[(k % 2) * 2], "escort_id": staff[(k % 2) * 2 + 1],
                    "depart_at": (now - Duration::days(25)).to_rfc3339()}),
        )
        .await
        .map_err(err)?;
        // The last hour of the vehicle's track, a point every three minutes.
        let points: Vec<Value> = (0..20)
            .map(|j| {
                json!({"time": (now - Duration::minutes(60 - 3 * j)).to_rfc3339(),
                       "lat": 24.9 + n as f64 * 0.12 + k as f64 * 0.01 + j as f64 * 0.0015,
                       "lon": 102.47 + n as f64 * 0.17 + j as f64 * 0.002, "speed": 35.0, "heading": 45.0})
            })
            .collect();
        services::circulation::report_positions(st, &admin, v.id, &json!({"positions": points}))
            .await
            .map_err(err)?;
        transport.push((plate, number));
    }
    let mut customers = Vec::new();
    for i in 0..24 {
        let name = format!(
            "{}{}",
            SURNAMES[(i + n) % SURNAMES.len()],
            GIVEN[i % GIVEN.len()]
        );
        let address = format!(
            "昆明市{}{} {} 号 {} 栋",
            if n == 0 { "安宁市" } else { "西山区" },
            ROADS[i % ROADS.len()],
            10 + i,
            1 + i % 5
        );
        let mut body = json!({"kind": "residential", "name": name, "id_number": id_of(100 + i, 1950 + i)?,
            "phone": format!("1388871{}{:03}", n, i),
            "addresses": [{"address": address, "lat": 24.9 + n as f64 * 0.12 + i as f64 * 0.002, "lon": 102.48 + n as f64 * 0.16 + i as f64 * 0.002}]});
        if i % 6 == 5 {
            body = json!({"kind": "commercial", "name": format!("{}家小馆", SURNAMES[i % SURNAMES.len()]),
                "credit_code": CreditCode::with_check(&format!("9253010{}MA6K{:05}", n, i)).map_err(anyhow::Error::msg)?.as_str(),
                "contact": name, "phone": format!("1388871{}{:03}", n, i), "addresses": body["addresses"].clone()});
        }
        let (c, _, _) = services::circulation::register_customer(st, &admin, &body)
            .await
            .map_err(err)?;
        if i % 3 != 2 {
            services::circulation::verify_customer(
                st,
                &admin,
                c.id,
                &json!({"method": "身份证核验"}),
            )
            .await
            .map_err(err)?;
        }
        if i % 2 == 0 {
            services::circulation::add_deposit(
                st,
                &admin,
                c.id,
                &json!({"count": 1, "amount_yuan": 150.0, "receipt_no": format!("YJ{}{:05}", ent.prefix.to_uppercase(), i)}),
            )
            .await
            .map_err(err)?;
        }
        customers.push(c.id);
    }
    // Open orders: three waiting, two out with the courier.
    for k in 0..5 {
        let o = services::circulation::create_order(
            st,
            &admin,
            &json!({"customer_id": customers[k * 3], "items": [{"medium": "液化石油气", "spec": "YSP35.5", "quantity": 1 + k % 2}],
                    "requested_at": (now + Duration::hours(2 + k as i64)).to_rfc3339()}),
        )
        .await
        .map_err(err)?;
        if k >= 3 {
            services::circulation::dispatch_order(
                st,
                &admin,
                o.id,
                &json!({"courier_id": ent.courier}),
            )
            .await
            .map_err(err)?;
        }
    }
    // A household check that found an aged hose: a rectification task is open.
    let signature = services::files::put(st, DEMO_SIGNATURE).await?;
    services::files::own(st, admin.org_id, Some(admin.user_id), &signature)
        .await
        .map_err(err)?;
    let items = services::circulation::check_items(st).await.map_err(err)?;
    let answers: Vec<Value> = items
        .iter()
        .filter(|i| i.active)
        .map(|i| json!({"item": i.code, "ok": i.code.as_str() != "hose", "remark": (i.code.as_str() == "hose").then_some("软管老化龟裂")}))
        .collect();
    services::circulation::record_household_check(
        st,
        &admin,
        &json!({"customer_id": customers[1], "time": (now - Duration::days(2)).to_rfc3339(), "answers": answers,
                "signature": signature.trim_start_matches("files/")}),
    )
    .await
    .map_err(err)?;
    Ok(Refs {
        transport,
        customers,
    })
}

/// A 1×1 PNG standing in for a customer's e-signature in the demo.
const DEMO_SIGNATURE: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];
