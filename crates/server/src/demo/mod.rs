//! `serve --demo`: a realistic demo data set on an empty database — a province (530000) and a
//! prefecture (530100) regulator, two filling enterprises with valid licences, an inspection station,
//! stations, warehouses, stores, staff for each role, a few thousand cylinders (some overdue, some near
//! their discard date, one scrapped) and a few weeks of circulation events.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use cyltrace_domain::org::CreditCode;
use cyltrace_domain::parse::from_value;
use cyltrace_domain::time::china_date;
use cyltrace_domain::{Archive, Event, OrgKind, Role};
use cyltrace_store::{AppendContext, BatchRecord, NewCylinder, OrgRecord, UserRecord};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::hash_password;
use crate::services;
use crate::state::AppState;

mod circulation;
pub mod devices;
mod records;

use circulation::{Refs, circulation};

/// Cylinders per enterprise, and how many of them carry a few weeks of history.
pub const CYLINDERS_PER_ENTERPRISE: usize = 1500;
pub const WITH_HISTORY: usize = 200;

/// A login printed for the person trying the demo.
pub struct DemoLogin {
    pub username: String,
    pub password: String,
    pub who: String,
}

pub const DEMO_PASSWORD: &str = "Demo2026ok";

struct Enterprise {
    org: OrgRecord,
    prefix: &'static str,
    filling_station: Uuid,
    warehouse: Uuid,
    store: Uuid,
    recorder: Uuid,
    driver: Uuid,
    courier: Uuid,
}

/// Seeds the demo set when the database is empty; returns the logins, or `None` when it was not empty.
pub async fn seed(st: &AppState) -> anyhow::Result<Option<Vec<DemoLogin>>> {
    if !st.store.is_empty().await? {
        return Ok(None);
    }
    let now = st.now();
    let today = china_date(now);
    let mut logins = Vec::new();

    let province = org(
        st,
        OrgKind::Regulator,
        "云南省市场监督管理局",
        "530000",
        None,
        None,
        vec![],
    )
    .await?;
    let prefecture = org(
        st,
        OrgKind::Regulator,
        "昆明市市场监督管理局",
        "530100",
        Some(&province),
        None,
        vec![],
    )
    .await?;
    let station = org(
        st,
        OrgKind::InspectionStation,
        "昆明市特种设备安全检验所",
        "530102",
        Some(&prefecture),
        Some("12530100MB0000001"),
        vec![],
    )
    .await?;
    user(
        st,
        &province,
        "admin",
        "平台管理员",
        &[Role::NodeAdmin],
        &mut logins,
        "平台管理员（全部数据）",
    )
    .await?;
    user(
        st,
        &province,
        "yn_regulator",
        "省局监管员",
        &[Role::Regulator],
        &mut logins,
        "省级监管（530000）",
    )
    .await?;
    user(
        st,
        &prefecture,
        "km_regulator",
        "市局监管员",
        &[Role::Regulator],
        &mut logins,
        "州市级监管（530100）",
    )
    .await?;
    user(
        st,
        &station,
        "km_inspector",
        "检验员王工",
        &[Role::Inspector],
        &mut logins,
        "检验机构检验员",
    )
    .await?;

    let day = |days: i64| {
        (today + Duration::days(days))
            .format("%Y-%m-%d")
            .to_string()
    };
    // The second enterprise's gas business licence runs out in 45 days: the console overview and
    // the regulator's enterprise page remind of it (issue 16).
    let licences = |n: &str, gas_days: i64| {
        json!([
            {"kind": "filling", "number": format!("TS4253{n}-2028"), "valid_until": day(730)},
            {"kind": "gas_business", "number": format!("云燃经字第2023{n}号"), "valid_until": day(gas_days)}
        ])
    };
    let mut enterprises = Vec::new();
    for (prefix, name, region, credit, sites, gas_days, phone) in [
        (
            "ax",
            "昆明安信燃气有限公司",
            "530181",
            "91530181MA6K00001",
            [(24.919, 102.478), (24.925, 102.486), (24.905, 102.470)],
            730,
            "0871-68881234",
        ),
        (
            "dc",
            "昆明滇池液化气有限公司",
            "530112",
            "91530112MA6K00002",
            [(25.043, 102.640), (25.031, 102.655), (25.060, 102.700)],
            45,
            "0871-67775678",
        ),
    ] {
        let lic: Vec<cyltrace_domain::Licence> =
            from_value(&licences(&region[4..], gas_days), "licences")
                .map_err(anyhow::Error::msg)?;
        let mut o = org(
            st,
            OrgKind::FillingEnterprise,
            name,
            region,
            Some(&prefecture),
            Some(credit),
            lic,
        )
        .await?;
        o.phone = Some(phone.to_owned());
        st.store.update_org(&o).await?;
        let short = &name[6..name.len() - 12];
        let filling_station = site(
            st,
            &o,
            "filling_station",
            &format!("{short}充装站"),
            sites[0],
        )
        .await?;
        let warehouse = site(st, &o, "warehouse", &format!("{short}气瓶仓库"), sites[0]).await?;
        let store = site(st, &o, "store", &format!("{short}城区供应站"), sites[1]).await?;
        site(
            st,
            &o,
            "delivery_station",
            &format!("{short}配送站"),
            sites[2],
        )
        .await?;
        let who = |r: &str| format!("{short} {r}");
        let recorder = user(
            st,
            &o,
            &format!("{prefix}_admin"),
            "企业管理员",
            &[Role::EnterpriseAdmin],
            &mut logins,
            &who("企业管理员"),
        )
        .await?;
        user(
            st,
            &o,
            &format!("{prefix}_filler"),
            "充装工",
            &[Role::Filler],
            &mut logins,
            &who("充装工"),
        )
        .await?;
        user(
            st,
            &o,
            &format!("{prefix}_checker"),
            "检查员",
            &[Role::Checker],
            &mut logins,
            &who("检查员"),
        )
        .await?;
        user(
            st,
            &o,
            &format!("{prefix}_keeper"),
            "库管员",
            &[Role::Warehouse],
            &mut logins,
            &who("库管员"),
        )
        .await?;
        let driver = user(
            st,
            &o,
            &format!("{prefix}_driver"),
            "驾驶员",
            &[Role::Driver],
            &mut logins,
            &who("驾驶员/押运员"),
        )
        .await?;
        let courier = user(
            st,
            &o,
            &format!("{prefix}_courier"),
            "配送员",
            &[Role::Courier],
            &mut logins,
            &who("配送员"),
        )
        .await?;
        enterprises.push(Enterprise {
            org: o,
            prefix,
            filling_station,
            warehouse,
            store,
            recorder,
            driver,
            courier,
        });
    }

    for ent in &enterprises {
        // B5: one filling batch per day, as the demo fills name them.
        for d in -30..=1 {
            let day = today + Duration::days(d);
            st.store
                .insert_batch(&BatchRecord {
                    id: Uuid::new_v4(),
                    org_id: ent.org.id,
                    number: format!("B{}", day.format("%Y%m%d")),
                    name: Some(format!("{} 液化石油气充装批次", day.format("%Y-%m-%d"))),
                    site_id: Some(ent.filling_station),
                    medium: Some("液化石油气".to_owned()),
                    created_by: Some(ent.recorder),
                    created_at: now,
                })
                .await?;
        }
    }
    let mut device_codes = Vec::new();
    for (n, ent) in enterprises.iter().enumerate() {
        let archives: Vec<NewCylinder> = (0..CYLINDERS_PER_ENTERPRISE)
            .map(|i| {
                archive(n, i, today, ent).map(|a| NewCylinder {
                    archive: a,
                    org_id: ent.org.id,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        st.store.insert_cylinders(&archives, now).await?;
        let ctx = AppendContext {
            recorded_by: Some(ent.recorder),
            org_id: ent.org.id,
            recorded_at: now,
        };
        let refs = circulation(st, ent, n, now).await?;
        let mut all = Vec::new();
        for (i, c) in archives.iter().enumerate().take(WITH_HISTORY) {
            if c.archive.next_check_date.is_some_and(|d| d.naive() < today) {
                continue; // overdue cylinders were taken out of circulation
            }
            history(ent, &refs, i, &c.archive, now, &mut all)?;
        }
        // As a live node would have: the history arrives in time order, a few minutes after each
        // four-hour window of work (so upload delays and the credit rating look like real ones).
        all.sort_by_key(|e| e.time);
        let window = |t: DateTime<Utc>| t.timestamp().div_euclid(4 * 3600);
        for group in all.chunk_by(|a, b| window(a.time) == window(b.time)) {
            for part in group.chunks(500) {
                let last = part.iter().map(|e| e.time).max().unwrap_or(now);
                let at = AppendContext {
                    recorded_at: (last + Duration::minutes(3)).min(now),
                    ..ctx.clone()
                };
                st.store.append_events(part, &at).await?;
            }
        }
        records::station_records(st, ent, &refs, &archives, now).await?;
        // The demo scales' cylinders (`cyltrace simulate`): never filled yet, in date, checked
        // before filling ten minutes ago, so that the simulated scales are allowed to fill them.
        let ready: Vec<&Archive> = archives[WITH_HISTORY..]
            .iter()
            .map(|c| &c.archive)
            .filter(|a| {
                a.next_check_date
                    .is_some_and(|d| d.naive() > today + Duration::days(30))
            })
            .take(40)
            .collect();
        let checks = ready
            .iter()
            .map(|a| {
                event(
                    "pre_fill_check",
                    a,
                    now - Duration::minutes(10),
                    Some(ent.filling_station),
                    ok_pre_fill_check(),
                )
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        st.store.append_events(&checks, &ctx).await?;
        device_codes.push((
            ent,
            ready.iter().map(|a| a.code.to_string()).collect::<Vec<_>>(),
        ));
        let mut batch = Vec::new();
        // One cylinder found unfit at inspection and scrapped: its label is void.
        let scrapped = &archives[7].archive;
        batch.push(event(
            "inspection_send",
            scrapped,
            now - Duration::days(3),
            Some(ent.warehouse),
            json!({"station_org_id": station.id}),
        )?);
        st.store.append_events(&batch, &ctx).await?;
        let inspection = AppendContext {
            recorded_by: None,
            org_id: station.id,
            recorded_at: now,
        };
        let result = json!({"conclusion": "scrap", "check_date": (today - Duration::days(1)).format("%Y-%m-%d").to_string(),
            "report_no": format!("KMJY-{}-{:04}", today.year(), n + 1), "station_org_id": station.id, "inspector": "王工"});
        st.store
            .append_events(
                &[event(
                    "inspection_result",
                    scrapped,
                    now - Duration::days(1),
                    None,
                    result,
                )?],
                &inspection,
            )
            .await?;
    }
    let demo_devices = devices::seed(st, &device_codes, now).await?;
    write_private(
        &st.config.data_dir.join(devices::DEMO_DEVICES_FILE),
        &serde_json::to_vec_pretty(&demo_devices)?,
    )?;
    Ok(Some(logins))
}

/// Writes `bytes` to `path` readable by its owner only (device secrets).
fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)?.write_all(bytes)?;
    Ok(())
}

async fn org(
    st: &AppState,
    kind: OrgKind,
    name: &str,
    region: &str,
    parent: Option<&OrgRecord>,
    credit17: Option<&str>,
    licences: Vec<cyltrace_domain::Licence>,
) -> anyhow::Result<OrgRecord> {
    let id = Uuid::new_v4();
    let o = OrgRecord {
        id,
        kind,
        name: name.to_owned(),
        region_code: cyltrace_domain::RegionCode::parse(region).map_err(anyhow::Error::msg)?,
        parent_id: parent.map(|p| p.id),
        credit_code: credit17
            .map(|c| CreditCode::with_check(c).map(|c| c.as_str().to_owned()))
            .transpose()
            .map_err(anyhow::Error::msg)?,
        licences,
        phone: None,
        address: None,
        path: OrgRecord::child_path(parent.map(|p| p.path.as_str()), id),
        created_at: st.now(),
    };
    st.store.insert_org(&o).await?;
    Ok(o)
}

async fn site(
    st: &AppState,
    o: &OrgRecord,
    kind: &str,
    name: &str,
    (lat, lon): (f64, f64),
) -> anyhow::Result<Uuid> {
    let s: cyltrace_domain::NewSite = from_value(
        &json!({"org_id": o.id, "kind": kind, "name": name, "address": format!("云南省昆明市{name}"), "lat": lat, "lon": lon}),
        "site",
    )
    .map_err(anyhow::Error::msg)?;
    let id = Uuid::new_v4();
    st.store.insert_site(id, &s, st.now()).await?;
    Ok(id)
}

async fn user(
    st: &AppState,
    o: &OrgRecord,
    username: &str,
    name: &str,
    roles: &[Role],
    logins: &mut Vec<DemoLogin>,
    who: &str,
) -> anyhow::Result<Uuid> {
    let id = Uuid::new_v4();
    let hash = hash_password(DEMO_PASSWORD).map_err(|e| anyhow::anyhow!("{e}"))?;
    st.store
        .insert_user(&UserRecord {
            id,
            org_id: o.id,
            username: username.to_owned(),
            password_hash: hash,
            name: name.to_owned(),
            roles: roles.to_vec(),
            failed_logins: 0,
            locked_until: None,
            org_path: o.path.clone(),
            created_at: st.now(),
            active: true,
            must_change_password: false,
            totp_enabled: false,
        })
        .await?;
    logins.push(DemoLogin {
        username: username.to_owned(),
        password: DEMO_PASSWORD.to_owned(),
        who: who.to_owned(),
    });
    Ok(id)
}

const MAKERS: [&str; 3] = [
    "江苏民生重工有限公司",
    "浙江金盾压力容器有限公司",
    "宁波明欣化工机械有限责任公司",
];

fn ymd(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// A plausible archive; `i` picks type, age and the odd overdue or nearly discarded cylinder.
fn archive(n: usize, i: usize, today: NaiveDate, ent: &Enterprise) -> anyhow::Result<Archive> {
    let (style, tare, fill, volume, thickness) = match i % 20 {
        0..=2 => ("YSP12", 5.5 + (i % 5) as f64 * 0.1, 5.0, 12.0, 2.5),
        3 => ("YSP118", 47.5 + (i % 7) as f64 * 0.2, 49.5, 118.0, 3.0),
        _ => ("YSP35.5", 15.5 + (i % 9) as f64 * 0.15, 14.5, 35.5, 2.5),
    };
    let mut made =
        NaiveDate::from_ymd_opt(today.year() - 1 - (i % 7) as i32, 1 + (i % 12) as u32, 1)
            .unwrap_or(today);
    if i % 33 == 5 {
        // Near the end of its 8-year life: discarded within the next two months.
        made = today - Duration::days(8 * 365 + 2 - 10 - (i % 50) as i64);
    }
    let mut last = made;
    while last + Duration::days(4 * 365) <= today {
        last = last.with_year(last.year() + 4).unwrap_or(last);
    }
    let mut next = last.with_year(last.year() + 4).unwrap_or(last);
    if i % 20 == 9 {
        // Overdue for periodic inspection.
        next = today - Duration::days(1 + (i % 90) as i64);
        last = next.with_year(next.year() - 4).unwrap_or(next);
        made = made.min(last);
    }
    let discard = made.with_year(made.year() + 8).unwrap_or(made);
    let code = format!("11{:02}{:06}", 10 + n, i + 1);
    let mut v = json!({
        "code": code, "factory_serial": format!("{}{:06}", 14 + n, 200_000 + i), "inner_no": format!("{}-{:05}", ent.prefix.to_uppercase(), i + 1),
        "style": style, "valve": 1 + (i % 3), "medium": "液化石油气", "tare_kg": (tare * 100.0_f64).round() / 100.0, "fill_limit_kg": fill,
        "volume_l": volume, "working_pressure_mpa": 2.1, "test_pressure_mpa": 3.2, "wall_thickness_mm": thickness, "life_years": 8,
        "check_period_years": 4, "manufacturer": MAKERS[i % 3],
        "manufacture_date": made.format("%Y-%m").to_string(), "product_standard": "GB 5842-2006",
        "manufacture_licence": format!("TS2210{:03}-2027", 100 + i % 3), "designer": "江苏民生重工有限公司",
        "supervision_org": "江苏省特种设备安全监督检验研究院", "check_org": "昆明市特种设备安全检验所",
        "last_check_date": ymd(last), "next_check_date": ymd(next), "discard_date": ymd(discard), "owner_org_id": ent.org.id,
        "region_code": "530100"
    });
    if i % 50 != 17 {
        v["registration"] = json!({"number": format!("5{}{:03}{:06}", 53, 1 + n, i + 1), "date": ymd(made + Duration::days(40)),
            "authority": "昆明市市场监督管理局"});
    }
    let a: Archive = from_value(&v, "archive").map_err(anyhow::Error::msg)?;
    a.validate().map_err(anyhow::Error::msg)?;
    Ok(a)
}

/// A pre-fill check with every item passed.
fn ok_pre_fill_check() -> Value {
    json!({"own_property": true, "medium_matches": true, "no_cracks": true, "no_corrosion": true, "no_deformation": true,
        "no_damage": true, "inspection_valid": true, "valve_valid": true, "residual_pressure_ok": true})
}

fn event(
    kind: &str,
    a: &Archive,
    time: DateTime<Utc>,
    site: Option<Uuid>,
    data: Value,
) -> anyhow::Result<Event> {
    let mut v = json!({"id": Uuid::new_v4(), "kind": kind, "codes": [a.code.as_str()], "time": time.to_rfc3339(), "data": data});
    if let Some(s) = site {
        v["site_id"] = json!(s);
    }
    Event::parse(&v, "demo").map_err(anyhow::Error::msg)
}

/// Circulation cycles over the last weeks up to now: checks, fill, store, transport, delivery,
/// recycling.
fn history(
    ent: &Enterprise,
    refs: &Refs,
    i: usize,
    a: &Archive,
    now: DateTime<Utc>,
    out: &mut Vec<Event>,
) -> anyhow::Result<()> {
    let tare = a.tare_kg.map_or(15.0, |k| k.get());
    let fill = a.fill_limit_kg.map_or(14.5, |k| k.get());
    let ok_pre = ok_pre_fill_check();
    let ok_post = json!({"fill_within_limit": true, "no_valve_neck_leak": true, "no_valve_outlet_leak": true, "no_bulge_or_defect": true,
        "no_temperature_rise": true});
    let (plate, waybill) = &refs.transport[i % refs.transport.len()];
    let vehicle = json!({"vehicle": plate, "waybill": waybill});
    // Every other cylinder stays with its customer after the last cycle: spread those evenly.
    let customer = refs.customers[(i / 2) % refs.customers.len()].to_string();
    let start = now - Duration::days(24) + Duration::minutes(((i % 40) * 12) as i64);
    // A fourth cycle for half the cylinders that came back from their customers: it began in the last
    // hours and never before this month did (China calendar), so a fresh demo shows this month's
    // fills whatever the date; it runs up to the moment the demo starts.
    let month_start = services::calendar::this_month(now).0;
    let recent = (now - Duration::minutes(40 + ((i % 40) * 12) as i64)).max(month_start);
    for cycle in 0..4i64 {
        // Half of those back stay empty in the warehouse (stock of both kinds).
        if cycle == 3 && i % 4 != 1 {
            return Ok(());
        }
        let t0 = if cycle < 3 {
            start + Duration::days(cycle * 7)
        } else {
            recent
        };
        let m = |minutes: i64| t0 + Duration::minutes(minutes);
        let gross = tare + fill * (0.97 + (i % 3) as f64 * 0.01);
        let fill_data = json!({"scale_no": format!("CZ-{:02}", 1 + i % 6), "begin": m(5).to_rfc3339(), "end": m(8).to_rfc3339(),
            "tare_kg": tare, "gross_kg": (gross * 100.0).round() / 100.0, "medium": "液化石油气", "batch": format!("B{}", china_date(m(0)).format("%Y%m%d"))});
        let steps: Vec<(&str, i64, Option<Uuid>, Value)> = vec![
            (
                "pre_fill_check",
                0,
                Some(ent.filling_station),
                ok_pre.clone(),
            ),
            ("fill", 8, Some(ent.filling_station), fill_data),
            (
                "post_fill_check",
                12,
                Some(ent.filling_station),
                ok_post.clone(),
            ),
            ("store_in", 30, Some(ent.warehouse), json!({"full": true})),
            ("store_out", 120, Some(ent.warehouse), json!({"full": true})),
            ("load", 125, None, vehicle.clone()),
            ("unload", 180, Some(ent.store), vehicle.clone()),
            ("deliver", 24 * 60, None, json!({"customer_id": customer})),
            (
                "recycle",
                5 * 24 * 60,
                Some(ent.store),
                json!({"customer_id": customer}),
            ),
            ("load", 5 * 24 * 60 + 60, None, vehicle.clone()),
            (
                "unload",
                5 * 24 * 60 + 120,
                Some(ent.warehouse),
                vehicle.clone(),
            ),
            (
                "store_in",
                5 * 24 * 60 + 130,
                Some(ent.warehouse),
                json!({"full": false}),
            ),
        ];
        for (kind, minutes, site, data) in steps {
            let t = m(minutes);
            // Half the cylinders stay with their customers after the third cycle; the fourth is
            // still under way at the moment the demo starts.
            if t >= now - Duration::minutes(1)
                || (cycle == 2 && i.is_multiple_of(2) && kind == "recycle")
            {
                return Ok(());
            }
            let mut e = event(kind, a, t, site, data)?;
            // The staff who did it (the handheld records its user's name).
            let who = match kind {
                "pre_fill_check" | "post_fill_check" => "检查员",
                "fill" => "充装工",
                "store_in" | "store_out" => "库管员",
                "load" | "unload" => "驾驶员",
                _ => "配送员",
            };
            e.operator = Some(cyltrace_domain::Text::parse(who).map_err(anyhow::Error::msg)?);
            out.push(e);
        }
    }
    Ok(())
}
