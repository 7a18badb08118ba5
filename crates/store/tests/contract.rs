//! The store contract: one suite, run against SQLite (default) or PostgreSQL (when
//! `CYLTRACE_TEST_DATABASE_URL` is set). Every test opens a fresh store of its own, so tests are
//! isolated and run in parallel.

mod common;

use chrono::{DateTime, Duration, Utc};
use cyltrace_domain::{
    Archive, CylinderCode, CylinderState, CylinderStatus, Event, LabelStatus, LocationKind,
    NewSite, Role,
};
use cyltrace_store::{
    AppendContext, Appended, AuditFilter, AuditRecord, DeclaredLeaf, EventFilter, LedgerParams,
    NewCylinder, OrgRecord, OutboxItem, OutboxMark, OutboxStats, Page, PsDoc, PsDocFilter,
    RegAlarm, RegAlarmFilter, Scope, SiteRecord, Store, StoreError, UserRecord, WitnessRecord,
    refold,
};
use serde_json::{Value, json};
use uuid::Uuid;

use common::store;

// ---------------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------------

/// An instant given in RFC 3339.
fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

/// The reference instant of the event tests.
fn t0() -> DateTime<Utc> {
    ts("2026-11-21T08:00:00+08:00")
}

const ALL: Page = Page {
    limit: 1000,
    offset: 0,
};

fn code(s: &str) -> CylinderCode {
    CylinderCode::parse(s).expect("cylinder code")
}

fn org(
    kind: &str,
    name: &str,
    region: &str,
    parent: Option<&OrgRecord>,
    licences: Value,
) -> OrgRecord {
    let id = Uuid::new_v4();
    OrgRecord {
        id,
        kind: serde_json::from_value(json!(kind)).expect("org kind"),
        name: name.to_owned(),
        region_code: serde_json::from_value(json!(region)).expect("region code"),
        parent_id: parent.map(|p| p.id),
        credit_code: None,
        licences: serde_json::from_value(licences).expect("licences"),
        phone: None,
        address: None,
        path: OrgRecord::child_path(parent.map(|p| p.path.as_str()), id),
        created_at: ts("2026-01-01T00:00:00Z"),
    }
}

fn regulator() -> OrgRecord {
    org(
        "regulator",
        "昆明市市场监督管理局",
        "530100",
        None,
        json!([]),
    )
}

fn enterprise(parent: &OrgRecord, name: &str) -> OrgRecord {
    org(
        "filling_enterprise",
        name,
        "530102",
        Some(parent),
        json!([{"kind": "filling", "number": "TS4253001-2027", "valid_until": "2027-06-30"}]),
    )
}

fn user(o: &OrgRecord, username: &str, roles: &[Role]) -> UserRecord {
    UserRecord {
        id: Uuid::new_v4(),
        org_id: o.id,
        username: username.to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".to_owned(),
        name: format!("{username} 姓名"),
        roles: roles.to_vec(),
        failed_logins: 0,
        locked_until: None,
        org_path: o.path.clone(),
        created_at: ts("2026-02-01T09:30:00.123456Z"),
        active: true,
        must_change_password: false,
        totp_enabled: false,
    }
}

fn new_site(o: &OrgRecord, kind: &str, name: &str) -> NewSite {
    serde_json::from_value(json!({"org_id": o.id, "kind": kind, "name": name, "address": "昆明市五华区", "lat": 25.04, "lon": 102.71}))
        .expect("site")
}

/// A minimal archive.
fn archive(c: &str) -> Archive {
    serde_json::from_value(json!({"code": c, "next_check_date": "2028-01-01"})).expect("archive")
}

/// An archive with most fields set (table A.1 / Yunnan `GenericBottle`).
fn full_archive(c: &str) -> Archive {
    serde_json::from_value(json!({
        "code": c, "region_code": "530102", "factory_serial": "1260419", "inner_no": "XY60235", "style": "YSP35.5",
        "valve": 1, "medium": "液化石油气", "tare_kg": 16.5, "fill_limit_kg": 14.5, "volume_l": 35.5,
        "working_pressure_mpa": 1.6, "test_pressure_mpa": 2.4, "wall_thickness_mm": 2.5, "life_years": 8,
        "check_period_years": 4, "manufacturer": "江苏特种设备生产有限公司", "manufacture_date": "2024-09",
        "last_check_date": "2024-09-01", "next_check_date": "2028-09-01",
        "registration": {"number": "537007004136", "date": "2024-10-01", "authority": "昆明市市场监督管理局"},
        "state": "normal"
    }))
    .expect("archive")
}

/// Valid `data` for each kind used here (as in the domain tests).
fn data_of(kind: &str, t: DateTime<Utc>) -> Value {
    match kind {
        "pre_fill_check" => {
            json!({"own_property": true, "medium_matches": true, "no_cracks": true, "no_corrosion": true,
            "no_deformation": true, "no_damage": true, "inspection_valid": true, "valve_valid": true, "residual_pressure_ok": true})
        }
        // The fill ends at the event's time and took two minutes.
        "fill" => {
            json!({"scale_no": "S1", "begin": (t - Duration::minutes(2)).to_rfc3339(), "end": t.to_rfc3339(),
            "tare_kg": 16.5, "gross_kg": 31.0, "medium": "液化石油气", "batch": "B20261121"})
        }
        "post_fill_check" => {
            json!({"fill_within_limit": true, "no_valve_neck_leak": true, "no_valve_outlet_leak": true,
            "no_bulge_or_defect": true, "no_temperature_rise": true})
        }
        "store_in" => json!({"full": false}),
        "store_out" => json!({"full": true}),
        "deliver" => json!({"customer_id": "C1", "order_id": "O42"}),
        "recycle" => json!({"customer_id": "C1"}),
        "scrap" => json!({"reason": "腐蚀严重"}),
        "tag_bind" => json!({"tag_uid": "E2000017221101441890"}),
        "inspection_result" => {
            json!({"conclusion": "pass", "check_date": "2026-11-01", "next_check_date": "2030-11-01",
            "report_no": "R1", "station_org_id": Uuid::nil(), "inspector": "张三"})
        }
        other => panic!("no sample data for {other}"),
    }
}

/// An event of `kind` on `codes` at `t`, built through the wire form and its validation.
fn event_on(kind: &str, codes: &[&str], t: DateTime<Utc>, site: Uuid) -> Event {
    let v = json!({
        "id": Uuid::new_v4(), "kind": kind, "codes": codes, "time": t.to_rfc3339(), "site_id": site,
        "operator": "张三", "device": "PDA-07", "lat": 25.0406, "lon": 102.7123, "data": data_of(kind, t)
    });
    Event::parse(&v, "").unwrap_or_else(|e| panic!("{kind}: {e}"))
}

fn event(kind: &str, c: &str, t: DateTime<Utc>, site: Uuid) -> Event {
    event_on(kind, &[c], t, site)
}

/// A store with one regulator › enterprise, a filling station of the enterprise and the given cylinders.
struct World {
    store: std::sync::Arc<dyn Store>,
    _guard: common::Guard,
    ent: OrgRecord,
    site: Uuid,
    ctx: AppendContext,
}

async fn world(codes: &[&str]) -> World {
    world_with(codes, &LedgerParams::default()).await
}

/// The same world in a store opened with these ledger parameters.
async fn world_with(codes: &[&str], params: &LedgerParams) -> World {
    let (store, guard) = common::store_with(params).await;
    let reg = regulator();
    let ent = enterprise(&reg, "昆明燃气");
    store.insert_org(&reg).await.expect("regulator");
    store.insert_org(&ent).await.expect("enterprise");
    let site = Uuid::new_v4();
    store
        .insert_site(site, &new_site(&ent, "filling_station", "一号充装站"), t0())
        .await
        .expect("site");
    let filler = user(&ent, "filler1", &[Role::Filler]);
    store.insert_user(&filler).await.expect("user");
    let cylinders: Vec<NewCylinder> = codes
        .iter()
        .map(|c| NewCylinder {
            archive: archive(c),
            org_id: ent.id,
        })
        .collect();
    assert_eq!(
        store
            .insert_cylinders(&cylinders, t0())
            .await
            .expect("cylinders"),
        codes.len()
    );
    let ctx = AppendContext {
        recorded_by: Some(filler.id),
        org_id: ent.id,
        recorded_at: ts("2026-11-21T12:00:00.250000+08:00"),
    };
    World {
        store,
        _guard: guard,
        ent,
        site,
        ctx,
    }
}

impl World {
    async fn append(&self, events: &[Event]) -> Vec<Appended> {
        self.store
            .append_events(events, &self.ctx)
            .await
            .expect("append")
    }

    async fn status(&self, c: &str) -> CylinderStatus {
        self.store
            .get_cylinder(&code(c))
            .await
            .expect("get cylinder")
            .expect("cylinder exists")
            .status
    }

    /// The stored projection equals the fold of the stored events in time order.
    async fn assert_projection_is_the_fold(&self, c: &str) -> CylinderStatus {
        let rec = self
            .store
            .get_cylinder(&code(c))
            .await
            .expect("get cylinder")
            .expect("cylinder exists");
        let events = self.store.events_of(&code(c)).await.expect("events of");
        assert_eq!(
            rec.status,
            refold(&rec.archive, &events),
            "projection of {c} differs from the fold of its events"
        );
        assert_eq!(rec.status.event_count, events.len() as u64);
        rec.status
    }
}

fn indexes(appended: &[Appended]) -> Vec<i64> {
    appended.iter().map(|a| a.ledger_index).collect()
}

// ---------------------------------------------------------------------------------------------------
// Organisations, sites, users, tokens
// ---------------------------------------------------------------------------------------------------

#[tokio::test]
async fn orgs_round_trip_and_list_by_tree_scope() {
    let (s, _g) = store().await;
    let reg = regulator();
    let mut ent = enterprise(&reg, "昆明燃气有限公司");
    ent.credit_code = Some("91530100MA6K0000X0".to_owned());
    assert_eq!(reg.path, format!("/{}/", reg.id));
    assert_eq!(ent.path, format!("/{}/{}/", reg.id, ent.id));
    s.insert_org(&reg).await.unwrap();
    s.insert_org(&ent).await.unwrap();

    // Every field round-trips, licences included.
    assert_eq!(s.get_org(reg.id).await.unwrap(), Some(reg.clone()));
    let got = s.get_org(ent.id).await.unwrap().expect("enterprise stored");
    assert_eq!(got, ent);
    assert_eq!(got.licences.len(), 1);
    assert_eq!(s.get_org(Uuid::new_v4()).await.unwrap(), None);

    // The parent's scope holds its subtree; the child's scope only the child.
    let ids = |v: Vec<OrgRecord>| v.into_iter().map(|o| o.id).collect::<Vec<_>>();
    let mut both = vec![reg.id, ent.id];
    both.sort();
    let mut under_parent = ids(s.list_orgs(&Scope(reg.path.clone()), ALL).await.unwrap());
    under_parent.sort();
    assert_eq!(under_parent, both);
    assert_eq!(
        ids(s.list_orgs(&Scope(ent.path.clone()), ALL).await.unwrap()),
        vec![ent.id]
    );
    let mut everything = ids(s.list_orgs(&Scope::all(), ALL).await.unwrap());
    everything.sort();
    assert_eq!(everything, both);
    // Paging.
    assert_eq!(
        s.list_orgs(
            &Scope::all(),
            Page {
                limit: 1,
                offset: 0
            }
        )
        .await
        .unwrap()
        .len(),
        1
    );
    assert!(
        s.list_orgs(
            &Scope::all(),
            Page {
                limit: 10,
                offset: 2
            }
        )
        .await
        .unwrap()
        .is_empty()
    );

    // The same org twice is a conflict.
    assert!(matches!(
        s.insert_org(&ent).await,
        Err(StoreError::Conflict(_))
    ));
}

#[tokio::test]
async fn sites_and_users_round_trip_and_stay_in_their_scope() {
    let (s, _g) = store().await;
    let reg = regulator();
    let a = enterprise(&reg, "企业甲");
    let b = enterprise(&reg, "企业乙");
    for o in [&reg, &a, &b] {
        s.insert_org(o).await.unwrap();
    }

    // Sites.
    let (site_a, site_b) = (Uuid::new_v4(), Uuid::new_v4());
    let new_a = new_site(&a, "filling_station", "甲充装站");
    s.insert_site(site_a, &new_a, t0()).await.unwrap();
    s.insert_site(site_b, &new_site(&b, "warehouse", "乙仓库"), t0())
        .await
        .unwrap();
    let expected_a = SiteRecord {
        id: site_a,
        org_id: a.id,
        kind: new_a.kind,
        name: "甲充装站".to_owned(),
        address: Some("昆明市五华区".to_owned()),
        lat: Some(25.04),
        lon: Some(102.71),
        active: true,
        org_path: a.path.clone(),
        created_at: t0(),
    };
    assert_eq!(s.get_site(site_a).await.unwrap(), Some(expected_a.clone()));
    assert_eq!(s.get_site(Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(
        s.list_sites(&Scope(a.path.clone()), ALL).await.unwrap(),
        vec![expected_a]
    );
    let in_b: Vec<Uuid> = s
        .list_sites(&Scope(b.path.clone()), ALL)
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.id)
        .collect();
    assert_eq!(in_b, vec![site_b]);
    assert_eq!(
        s.list_sites(&Scope(reg.path.clone()), ALL)
            .await
            .unwrap()
            .len(),
        2
    );

    // Users.
    let ua = user(&a, "alice", &[Role::EnterpriseAdmin, Role::Filler]);
    let ub = user(&b, "bob", &[Role::Checker]);
    s.insert_user(&ua).await.unwrap();
    s.insert_user(&ub).await.unwrap();
    assert_eq!(s.get_user(ua.id).await.unwrap(), Some(ua.clone()));
    assert_eq!(s.user_by_username("bob").await.unwrap(), Some(ub.clone()));
    assert_eq!(s.user_by_username("carol").await.unwrap(), None);
    assert_eq!(s.get_user(Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(
        s.list_users(&Scope(a.path.clone()), ALL).await.unwrap(),
        vec![ua.clone()]
    );
    assert_eq!(
        s.list_users(&Scope(b.path.clone()), ALL).await.unwrap(),
        vec![ub.clone()]
    );
    assert_eq!(
        s.list_users(&Scope(reg.path.clone()), ALL).await.unwrap(),
        vec![ua.clone(), ub.clone()]
    );

    // A taken username is a conflict, even in another organisation, and nothing is stored.
    let dup = user(&b, "alice", &[Role::Driver]);
    match s.insert_user(&dup).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(s.get_user(dup.id).await.unwrap(), None);
    assert_eq!(s.user_by_username("alice").await.unwrap(), Some(ua));
}

// Issue 16: master data changes (a renewed licence, a closed site) are read back as written, and
// the permissions for entrusted filling (B9) answer their last day until revoked.
#[tokio::test]
async fn orgs_and_sites_change_and_permissions_are_granted_and_revoked() {
    let (s, _g) = store().await;
    let reg = regulator();
    let a = enterprise(&reg, "甲燃气");
    let b = enterprise(&reg, "乙燃气");
    for o in [&reg, &a, &b] {
        s.insert_org(o).await.unwrap();
    }
    let mut changed = a.clone();
    changed.name = "甲燃气有限公司".to_owned();
    changed.phone = Some("0871-65550000".to_owned());
    changed.address = Some("昆明市盘龙区".to_owned());
    changed.licences[0].valid_until = cyltrace_domain::Date::parse("2031-12-31").unwrap();
    s.update_org(&changed).await.unwrap();
    assert_eq!(s.get_org(a.id).await.unwrap(), Some(changed));

    let site = Uuid::new_v4();
    s.insert_site(site, &new_site(&a, "filling_station", "甲站"), t0())
        .await
        .unwrap();
    let mut closed = s.get_site(site).await.unwrap().unwrap();
    assert!(closed.active, "a new site is open");
    closed.active = false;
    closed.name = "甲站（已关闭）".to_owned();
    s.update_site(&closed).await.unwrap();
    assert_eq!(s.get_site(site).await.unwrap(), Some(closed));

    assert_eq!(s.entrusted_until(b.id, a.id).await.unwrap(), None);
    let grant = |until: &str| cyltrace_store::FillingPermission {
        id: Uuid::new_v4(),
        owner_org_id: b.id,
        filler_org_id: a.id,
        valid_until: cyltrace_domain::Date::parse(until).unwrap(),
        granted_by: Uuid::new_v4(),
        granted_org_id: reg.id,
        created_at: t0(),
        revoked_at: None,
        revoked_by: None,
    };
    let (p1, p2) = (grant("2027-06-30"), grant("2027-12-31"));
    s.insert_permission(&p1).await.unwrap();
    s.insert_permission(&p2).await.unwrap();
    let until = |d: &str| Some(cyltrace_domain::Date::parse(d).unwrap());
    assert_eq!(
        s.entrusted_until(b.id, a.id).await.unwrap(),
        until("2027-12-31")
    );
    assert_eq!(
        s.entrusted_until(a.id, b.id).await.unwrap(),
        None,
        "one way only"
    );
    assert!(s.revoke_permission(p2.id, reg.id, t0()).await.unwrap());
    assert!(
        !s.revoke_permission(p2.id, reg.id, t0()).await.unwrap(),
        "revoked once"
    );
    assert_eq!(
        s.entrusted_until(b.id, a.id).await.unwrap(),
        until("2027-06-30")
    );
    let got = s.get_permission(p2.id).await.unwrap().unwrap();
    assert_eq!(got.revoked_by, Some(reg.id));
    assert_eq!(
        s.list_permissions(&Scope(a.path.clone()), ALL)
            .await
            .unwrap()
            .len(),
        2
    );
    let other = enterprise(&reg, "丙燃气");
    s.insert_org(&other).await.unwrap();
    assert!(
        s.list_permissions(&Scope(other.path.clone()), ALL)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn tokens_are_honoured_until_they_expire() {
    let (s, _g) = store().await;
    let reg = regulator();
    s.insert_org(&reg).await.unwrap();
    let u = user(&reg, "regulator1", &[Role::Regulator]);
    s.insert_user(&u).await.unwrap();
    let issued = ts("2026-11-21T08:00:00Z");
    let expires = issued + Duration::hours(12);
    s.insert_token("hash-1", u.id, expires, issued)
        .await
        .unwrap();

    assert_eq!(
        s.user_by_token("hash-1", issued).await.unwrap(),
        Some((u.clone(), expires))
    );
    assert_eq!(
        s.user_by_token("hash-1", expires - Duration::microseconds(1))
            .await
            .unwrap(),
        Some((u, expires))
    );
    assert_eq!(s.user_by_token("hash-1", expires).await.unwrap(), None);
    assert_eq!(
        s.user_by_token("hash-1", expires + Duration::hours(1))
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.user_by_token("no-such-hash", issued).await.unwrap(), None);
}

#[tokio::test]
async fn failed_logins_count_lock_and_reset() {
    let (s, _g) = store().await;
    let reg = regulator();
    s.insert_org(&reg).await.unwrap();
    let u = user(&reg, "regulator1", &[Role::Regulator]);
    s.insert_user(&u).await.unwrap();
    let lock_until = ts("2026-11-21T08:15:00.500000Z");

    s.note_failed_login(u.id, None).await.unwrap();
    let got = s.get_user(u.id).await.unwrap().unwrap();
    assert_eq!((got.failed_logins, got.locked_until), (1, None));

    s.note_failed_login(u.id, Some(lock_until)).await.unwrap();
    let got = s.get_user(u.id).await.unwrap().unwrap();
    assert_eq!((got.failed_logins, got.locked_until), (2, Some(lock_until)));

    // A further failure without a new lock keeps the lock.
    s.note_failed_login(u.id, None).await.unwrap();
    let got = s.get_user(u.id).await.unwrap().unwrap();
    assert_eq!((got.failed_logins, got.locked_until), (3, Some(lock_until)));

    s.reset_failed_logins(u.id).await.unwrap();
    let got = s.get_user(u.id).await.unwrap().unwrap();
    assert_eq!((got.failed_logins, got.locked_until), (0, None));
    assert_eq!(got, u);
}

// ---------------------------------------------------------------------------------------------------
// Cylinders
// ---------------------------------------------------------------------------------------------------

#[tokio::test]
async fn cylinders_are_inserted_all_or_nothing() {
    let w = world(&["1103000003"]).await;
    let s = &w.store;
    let batch: Vec<NewCylinder> = ["1103000001", "1103000002", "1103000003"]
        .iter()
        .map(|c| NewCylinder {
            archive: archive(c),
            org_id: w.ent.id,
        })
        .collect();
    match s.insert_cylinders(&batch, t0()).await {
        Err(StoreError::Conflict(taken)) => assert_eq!(taken, "1103000003"),
        other => panic!("expected Conflict(1103000003), got {other:?}"),
    }
    assert_eq!(s.get_cylinder(&code("1103000001")).await.unwrap(), None);
    assert_eq!(s.get_cylinder(&code("1103000002")).await.unwrap(), None);
    assert_eq!(s.count_cylinders().await.unwrap(), 1);

    // A code twice inside one batch is a conflict as well.
    let twice: Vec<NewCylinder> = ["1103000004", "1103000004"]
        .iter()
        .map(|c| NewCylinder {
            archive: archive(c),
            org_id: w.ent.id,
        })
        .collect();
    assert!(matches!(
        s.insert_cylinders(&twice, t0()).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.get_cylinder(&code("1103000004")).await.unwrap(), None);

    // A good batch: the archive round-trips and the status is the initial one.
    let at = ts("2026-11-21T09:00:00.000001Z");
    let good = vec![
        NewCylinder {
            archive: full_archive("1103000001"),
            org_id: w.ent.id,
        },
        NewCylinder {
            archive: archive("1103000002"),
            org_id: w.ent.id,
        },
    ];
    assert_eq!(s.insert_cylinders(&good, at).await.unwrap(), 2);
    for c in &good {
        let rec = s
            .get_cylinder(&c.archive.code)
            .await
            .unwrap()
            .expect("stored");
        assert_eq!(rec.archive, c.archive);
        assert_eq!(rec.status, CylinderStatus::initial(&c.archive));
        assert_eq!(
            (rec.org_id, rec.org_path.as_str()),
            (w.ent.id, w.ent.path.as_str())
        );
        assert_eq!((rec.created_at, rec.updated_at), (at, at));
    }
    assert_eq!(s.count_cylinders().await.unwrap(), 3);
    let listed: Vec<String> = s
        .list_cylinders(&Scope(w.ent.path.clone()), ALL)
        .await
        .unwrap()
        .iter()
        .map(|c| c.archive.code.to_string())
        .collect();
    assert_eq!(listed, ["1103000001", "1103000002", "1103000003"]);
    // Archive ids are distinct.
    let ids: std::collections::HashSet<i64> = s
        .list_cylinders(&Scope::all(), ALL)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids.len(), 3);
    // Another enterprise's scope sees none of them.
    assert!(
        s.list_cylinders(&Scope(format!("/{}/", Uuid::new_v4())), ALL)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn bulk_insert_existing_codes_and_keyset_listing() {
    // A6: an import checks which codes are taken (one query per chunk), inserts thousands of archives
    // in one all-or-nothing call, and an export reads them back page by page in code order.
    let w = world(&["1103000500"]).await;
    let s = &w.store;
    let codes: Vec<String> = (0..1203).map(|i| format!("11030{i:05}")).collect();
    let mut wanted: Vec<CylinderCode> = codes.iter().map(|c| code(c)).collect();
    wanted.push(code("1199999999"));
    let mut taken = s.existing_codes(&wanted).await.unwrap();
    assert_eq!(taken, [code("1103000500")]);
    assert!(s.existing_codes(&[]).await.unwrap().is_empty());

    // A batch spanning several multi-row statements with one taken code in its middle: nothing stored.
    let batch: Vec<NewCylinder> = codes
        .iter()
        .map(|c| NewCylinder {
            archive: archive(c),
            org_id: w.ent.id,
        })
        .collect();
    match s.insert_cylinders(&batch, t0()).await {
        Err(StoreError::Conflict(c)) => assert_eq!(c, "1103000500"),
        other => panic!("expected Conflict(1103000500), got {other:?}"),
    }
    assert_eq!(s.count_cylinders().await.unwrap(), 1);

    let fresh: Vec<NewCylinder> = batch
        .into_iter()
        .filter(|c| c.archive.code.as_str() != "1103000500")
        .collect();
    assert_eq!(s.insert_cylinders(&fresh, t0()).await.unwrap(), 1202);
    assert_eq!(s.count_cylinders().await.unwrap(), 1203);
    taken = s.existing_codes(&wanted).await.unwrap();
    taken.sort();
    assert_eq!(taken, wanted[..1203]);
    let rec = s
        .get_cylinder(&code("1103001202"))
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(rec.archive, archive("1103001202"));
    assert_eq!(rec.status, CylinderStatus::initial(&rec.archive));

    // Keyset pages: every archive once, in code order; another scope sees none.
    let scope = Scope(w.ent.path.clone());
    let mut listed = Vec::new();
    let mut after: Option<CylinderCode> = None;
    loop {
        let page = s
            .list_cylinders_after(&scope, after.as_ref(), 500)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.archive.code.clone());
        listed.extend(page.into_iter().map(|c| c.archive.code.to_string()));
    }
    assert_eq!(listed, codes);
    assert!(
        s.list_cylinders_after(&Scope(format!("/{}/", Uuid::new_v4())), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------------

#[tokio::test]
async fn events_append_densely_and_update_the_projection() {
    // B1.8 last fill, B1.9 out and back since the fill, B1.10 pre-fill check, B1.12 post-fill check.
    let c = "1103007831";
    let w = world(&[c]).await;
    let t = t0();
    let pre = event("pre_fill_check", c, t, w.site);
    let fill = event("fill", c, t + Duration::minutes(10), w.site);
    let post = event("post_fill_check", c, t + Duration::minutes(15), w.site);
    let deliver = event("deliver", c, t + Duration::hours(1), w.site);
    let recycle = event("recycle", c, t + Duration::hours(3), w.site);

    let first = w.append(&[pre.clone(), fill.clone(), post.clone()]).await;
    assert_eq!(indexes(&first), [0, 1, 2]);
    assert!(first.iter().all(|a| a.new));
    assert_eq!(
        first.iter().map(|a| a.id).collect::<Vec<_>>(),
        [pre.id, fill.id, post.id]
    );
    let st = w.assert_projection_is_the_fold(c).await;
    assert_eq!(st.last_pre_fill_pass_at, Some(t));
    assert_eq!(st.last_fill_at, Some(t + Duration::minutes(10)));
    assert!(st.post_fill_checked && st.full);
    assert!(!st.out_since_fill && !st.back_since_out);
    assert_eq!(st.location_kind, LocationKind::FullStore);

    let second = w.append(std::slice::from_ref(&deliver)).await;
    assert_eq!(indexes(&second), [3]);
    let st = w.assert_projection_is_the_fold(c).await;
    assert!(st.out_since_fill && !st.back_since_out);
    assert_eq!(st.location_kind, LocationKind::AtCustomer);

    let third = w.append(std::slice::from_ref(&recycle)).await;
    assert_eq!(indexes(&third), [4]);
    let st = w.assert_projection_is_the_fold(c).await;
    assert!(st.out_since_fill && st.back_since_out && !st.full);
    assert_eq!(st.last_fill_at, Some(t + Duration::minutes(10)));
    assert_eq!(st.location_kind, LocationKind::EmptyStore);
    assert_eq!(st.last_event_at, Some(t + Duration::hours(3)));
    assert_eq!(st.event_count, 5);
    let rec = w.store.get_cylinder(&code(c)).await.unwrap().unwrap();
    assert_eq!(rec.updated_at, w.ctx.recorded_at);

    // Time order, data intact, with who recorded them and when.
    let appended = [pre, fill, post, deliver, recycle];
    let stored = w.store.events_of(&code(c)).await.unwrap();
    assert_eq!(
        stored.iter().map(|e| &e.event).collect::<Vec<_>>(),
        appended.iter().collect::<Vec<_>>()
    );
    assert_eq!(
        stored.iter().map(|e| e.ledger_index).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );
    for e in &stored {
        assert_eq!(
            (e.recorded_at, e.recorded_by, e.org_id),
            (w.ctx.recorded_at, w.ctx.recorded_by, w.ctx.org_id)
        );
    }
    for (i, e) in appended.iter().enumerate() {
        let got = w
            .store
            .get_event(e.id)
            .await
            .unwrap()
            .expect("stored event");
        assert_eq!(got.event, *e);
        assert_eq!(got.ledger_index, i as i64);
    }
    assert_eq!(w.store.get_event(Uuid::new_v4()).await.unwrap(), None);
    assert!(
        w.store
            .events_of(&code("1999999999"))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_event_on_many_cylinders_is_one_log_entry_for_each_of_them() {
    let (c1, c2) = ("1103000011", "1103000012");
    let w = world(&[c1, c2]).await;
    let out = event_on("store_out", &[c1, c2], t0(), w.site);
    assert_eq!(indexes(&w.append(std::slice::from_ref(&out)).await), [0]);
    for c in [c1, c2] {
        let evs = w.store.events_of(&code(c)).await.unwrap();
        assert_eq!(
            evs.iter()
                .map(|e| (e.ledger_index, &e.event))
                .collect::<Vec<_>>(),
            [(0, &out)]
        );
        let st = w.assert_projection_is_the_fold(c).await;
        assert_eq!(st.location_kind, LocationKind::InTransport);
    }
}

#[tokio::test]
async fn appending_is_idempotent_by_event_id() {
    let c = "1103007831";
    let w = world(&[c]).await;
    let t = t0();
    let a = event("pre_fill_check", c, t, w.site);
    let b = event("fill", c, t + Duration::minutes(5), w.site);
    let first = w.append(&[a.clone(), b.clone()]).await;
    assert_eq!(
        first,
        [
            Appended {
                id: a.id,
                ledger_index: 0,
                new: true
            },
            Appended {
                id: b.id,
                ledger_index: 1,
                new: true
            }
        ]
    );
    let status = w.status(c).await;

    // A retry of the whole batch: the original indexes, nothing new stored, the projection unchanged.
    let retry = w.append(&[a.clone(), b.clone()]).await;
    assert_eq!(
        retry,
        [
            Appended {
                id: a.id,
                ledger_index: 0,
                new: false
            },
            Appended {
                id: b.id,
                ledger_index: 1,
                new: false
            }
        ]
    );
    assert_eq!(w.store.events_of(&code(c)).await.unwrap().len(), 2);
    assert_eq!(w.status(c).await, status);
    w.assert_projection_is_the_fold(c).await;

    // A retry mixed with a new event: the new one gets the next dense index.
    let d = event("post_fill_check", c, t + Duration::minutes(6), w.site);
    let mixed = w.append(&[b.clone(), d.clone()]).await;
    assert_eq!(
        mixed,
        [
            Appended {
                id: b.id,
                ledger_index: 1,
                new: false
            },
            Appended {
                id: d.id,
                ledger_index: 2,
                new: true
            }
        ]
    );

    // The same id twice inside one batch is stored once.
    let e = event("deliver", c, t + Duration::hours(1), w.site);
    let twice = w.append(&[e.clone(), e.clone()]).await;
    assert_eq!(
        twice,
        [
            Appended {
                id: e.id,
                ledger_index: 3,
                new: true
            },
            Appended {
                id: e.id,
                ledger_index: 3,
                new: false
            }
        ]
    );
    let stored = w.store.events_of(&code(c)).await.unwrap();
    assert_eq!(
        stored.iter().map(|x| x.event.id).collect::<Vec<_>>(),
        [a.id, b.id, d.id, e.id]
    );
    let st = w.assert_projection_is_the_fold(c).await;
    assert_eq!(st.event_count, 4);
    assert!(st.out_since_fill);

    // The next new event gets the next dense index.
    let f = event("recycle", c, t + Duration::hours(2), w.site);
    assert_eq!(indexes(&w.append(std::slice::from_ref(&f)).await), [4]);
}

#[tokio::test]
async fn a_batch_with_an_unknown_cylinder_stores_nothing() {
    let c = "1103007831";
    let w = world(&[c]).await;
    let t = t0();
    let first = event("pre_fill_check", c, t, w.site);
    w.append(std::slice::from_ref(&first)).await;
    let before = w.store.get_cylinder(&code(c)).await.unwrap().unwrap();

    let good = event("fill", c, t + Duration::minutes(5), w.site);
    let bad = event("fill", "1999999999", t + Duration::minutes(6), w.site);
    match w
        .store
        .append_events(&[good.clone(), bad.clone()], &w.ctx)
        .await
    {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(w.store.get_event(good.id).await.unwrap(), None);
    assert_eq!(w.store.get_event(bad.id).await.unwrap(), None);
    assert_eq!(w.store.get_cylinder(&code(c)).await.unwrap(), Some(before));
    assert_eq!(w.store.events_of(&code(c)).await.unwrap().len(), 1);

    // The log stays dense: the next event follows the last stored one.
    assert_eq!(indexes(&w.append(std::slice::from_ref(&good)).await), [1]);
    w.assert_projection_is_the_fold(c).await;
}

#[tokio::test]
async fn late_events_are_folded_in_time_order() {
    // DESIGN §2.1: an offline handheld sends the past; the projection is the fold in time order, not
    // in arrival order.
    let c = "1103007831";
    let w = world(&[c]).await;
    let t = t0();
    let fill = event("fill", c, t + Duration::hours(2), w.site);
    w.append(std::slice::from_ref(&fill)).await;
    let late = event("pre_fill_check", c, t, w.site);
    assert_eq!(indexes(&w.append(std::slice::from_ref(&late)).await), [1]);

    let st = w.assert_projection_is_the_fold(c).await;
    assert_eq!(st.last_pre_fill_pass_at, Some(t));
    assert_eq!(st.last_fill_at, Some(t + Duration::hours(2)));
    // Applied in arrival order the check would have moved the cylinder to the empty store.
    assert_eq!(st.location_kind, LocationKind::FullStore);
    assert!(st.full);
    assert_eq!(st.last_event_at, Some(t + Duration::hours(2)));
    let order: Vec<(i64, Uuid)> = w
        .store
        .events_of(&code(c))
        .await
        .unwrap()
        .iter()
        .map(|e| (e.ledger_index, e.event.id))
        .collect();
    assert_eq!(order, [(1, late.id), (0, fill.id)]);

    // Late inside one batch: a delivery, then an older post-fill check.
    let deliver = event("deliver", c, t + Duration::hours(4), w.site);
    let post = event("post_fill_check", c, t + Duration::hours(3), w.site);
    w.append(&[deliver, post]).await;
    let st = w.assert_projection_is_the_fold(c).await;
    assert!(st.post_fill_checked && st.out_since_fill);
    assert_eq!(st.location_kind, LocationKind::AtCustomer);

    // Late in a batch that also carries a timely event: both count.
    let recycle = event("recycle", c, t + Duration::hours(5), w.site);
    let store_in = event("store_in", c, t + Duration::hours(1), w.site);
    w.append(&[recycle, store_in]).await;
    let st = w.assert_projection_is_the_fold(c).await;
    assert!(st.back_since_out);
    assert_eq!(st.location_kind, LocationKind::EmptyStore);
    assert_eq!(st.event_count, 6);
}

#[tokio::test]
async fn a_scrapped_cylinder_keeps_a_void_label() {
    // A7: a void label is never re-activated by a later event.
    let c = "1103007831";
    let w = world(&[c]).await;
    let t = t0();
    w.append(&[event("scrap", c, t, w.site)]).await;
    let st = w.status(c).await;
    assert_eq!(
        (st.state, st.label, st.location_kind),
        (
            CylinderState::Scrapped,
            LabelStatus::Void,
            LocationKind::Scrapped
        )
    );

    w.append(&[event("tag_bind", c, t + Duration::hours(1), w.site)])
        .await;
    let st = w.assert_projection_is_the_fold(c).await;
    assert_eq!(st.label, LabelStatus::Void);
    assert_eq!(
        (st.state, st.location_kind),
        (CylinderState::Scrapped, LocationKind::Scrapped)
    );

    // Nor by an event that arrives late, before the scrapping.
    w.append(&[event("tag_bind", c, t - Duration::hours(1), w.site)])
        .await;
    let st = w.assert_projection_is_the_fold(c).await;
    assert_eq!(
        (st.state, st.label),
        (CylinderState::Scrapped, LabelStatus::Void)
    );
}

#[tokio::test]
async fn events_their_index_and_the_audit_log_cannot_be_changed_or_removed() {
    // G3 groundwork: the database itself refuses to rewrite history, whoever connects.
    let c = "1103007831";
    let w = world(&[c]).await;
    w.append(&[event("scrap", c, t0(), w.site)]).await;
    w.store
        .insert_audit(&AuditRecord {
            id: 0,
            at: t0(),
            user_id: None,
            username: Some("filler1".to_owned()),
            org_id: Some(w.ent.id),
            org_path: Some(w.ent.path.clone()),
            method: "POST".to_owned(),
            path: "/api/v1/events".to_owned(),
            status: 201,
            ip: Some("127.0.0.1".to_owned()),
            detail: None,
        })
        .await
        .expect("audit");
    for sql in [
        "update events set kind = 'fill'",
        "delete from events",
        "update event_codes set code = '0000000000'",
        "delete from event_codes",
        "update audit set status = 200",
        "delete from audit",
    ] {
        let err = w._guard.execute_raw(sql).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(w.store.events_of(&code(c)).await.expect("events").len(), 1);
    let (audit, total) = w
        .store
        .list_audit(&AuditFilter {
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .expect("audit");
    assert_eq!((audit.len(), total), (1, 1));
}

#[tokio::test]
async fn event_times_are_kept_to_the_microsecond_in_log_and_projection_alike() {
    // `Utc::now()` and RFC 3339 input may carry nanoseconds; the log keeps microseconds, and the
    // projection must agree with a refold of the log.
    let c = "1103007831";
    let w = world(&[c]).await;
    let t = t0() + Duration::nanoseconds(123_456_789);
    let stored_t = t0() + Duration::microseconds(123_456);
    let check = event("pre_fill_check", c, t, w.site);
    w.append(std::slice::from_ref(&check)).await;
    let st = w.assert_projection_is_the_fold(c).await;
    assert_eq!(st.last_pre_fill_pass_at, Some(stored_t));
    assert_eq!(st.last_event_at, Some(stored_t));
    let got = w.store.get_event(check.id).await.unwrap().expect("stored");
    assert_eq!(
        got.event,
        Event {
            time: stored_t,
            ..check
        }
    );
    // A later event within the same microsecond is not late: it follows in record order.
    w.append(&[event("fill", c, t + Duration::nanoseconds(100), w.site)])
        .await;
    let st = w.assert_projection_is_the_fold(c).await;
    assert_eq!(st.location_kind, LocationKind::FullStore);
}

// ---------------------------------------------------------------------------------------------------
// Audit
// ---------------------------------------------------------------------------------------------------

#[tokio::test]
async fn audit_is_filtered_paged_and_newest_first() {
    let (s, _g) = store().await;
    let reg = regulator();
    let a = enterprise(&reg, "企业甲");
    let b = enterprise(&reg, "企业乙");
    let (ua, ub) = (
        user(&a, "alice", &[Role::Filler]),
        user(&b, "bob", &[Role::Warehouse]),
    );
    let t = t0();
    let record =
        |at: DateTime<Utc>, u: &UserRecord, method: &str, path: &str, status: i64| AuditRecord {
            id: 0,
            at,
            user_id: Some(u.id),
            username: Some(u.username.clone()),
            org_id: Some(u.org_id),
            org_path: Some(u.org_path.clone()),
            method: method.to_owned(),
            path: path.to_owned(),
            status,
            ip: Some("10.0.0.7".to_owned()),
            detail: Some("{\"count\":1}".to_owned()),
        };
    let r1 = record(t, &ua, "POST", "/api/v1/cylinders", 201);
    let r2 = record(t + Duration::hours(1), &ub, "POST", "/api/v1/events", 200);
    let r3 = record(
        t + Duration::hours(2),
        &ua,
        "PUT",
        "/api/v1/cylinders/1103007831",
        200,
    );
    for r in [&r1, &r2, &r3] {
        s.insert_audit(r).await.unwrap();
    }
    let filter = AuditFilter {
        limit: 100,
        ..AuditFilter::default()
    };
    let paths = |(v, total): (Vec<AuditRecord>, i64)| {
        (v.into_iter().map(|r| r.path).collect::<Vec<_>>(), total)
    };
    let list = |f: AuditFilter| {
        let s = s.clone();
        async move { paths(s.list_audit(&f).await.unwrap()) }
    };
    let (p1, p2, p3) = (r1.path.clone(), r2.path.clone(), r3.path.clone());

    // Everything, newest first, every field kept.
    let (all, total) = s.list_audit(&filter).await.unwrap();
    assert_eq!(total, 3);
    let without_id: Vec<AuditRecord> = all
        .iter()
        .map(|r| AuditRecord { id: 0, ..r.clone() })
        .collect();
    assert_eq!(without_id, [r3.clone(), r2.clone(), r1.clone()]);
    assert!(all[0].id > all[1].id && all[1].id > all[2].id);

    // Scope: an enterprise sees its own users' actions; the regulator above sees both.
    assert_eq!(
        list(AuditFilter {
            scope: Some(Scope(a.path.clone())),
            ..filter.clone()
        })
        .await,
        (vec![p3.clone(), p1.clone()], 2)
    );
    assert_eq!(
        list(AuditFilter {
            scope: Some(Scope(b.path.clone())),
            ..filter.clone()
        })
        .await,
        (vec![p2.clone()], 1)
    );
    assert_eq!(
        list(AuditFilter {
            scope: Some(Scope(reg.path.clone())),
            ..filter.clone()
        })
        .await
        .1,
        3
    );
    // Username, method, path prefix.
    assert_eq!(
        list(AuditFilter {
            username: Some("bob".into()),
            ..filter.clone()
        })
        .await,
        (vec![p2.clone()], 1)
    );
    assert_eq!(
        list(AuditFilter {
            username: Some("nobody".into()),
            ..filter.clone()
        })
        .await,
        (vec![], 0)
    );
    assert_eq!(
        list(AuditFilter {
            method: Some("POST".into()),
            ..filter.clone()
        })
        .await,
        (vec![p2.clone(), p1.clone()], 2)
    );
    assert_eq!(
        list(AuditFilter {
            path_prefix: Some("/api/v1/cylinders".into()),
            ..filter.clone()
        })
        .await,
        (vec![p3.clone(), p1.clone()], 2)
    );
    assert_eq!(
        list(AuditFilter {
            path_prefix: Some("/api/v1/ev".into()),
            ..filter.clone()
        })
        .await,
        (vec![p2.clone()], 1)
    );
    // Time window.
    let half = Duration::minutes(30);
    assert_eq!(
        list(AuditFilter {
            from: Some(t + half),
            ..filter.clone()
        })
        .await,
        (vec![p3.clone(), p2.clone()], 2)
    );
    assert_eq!(
        list(AuditFilter {
            to: Some(t + half),
            ..filter.clone()
        })
        .await,
        (vec![p1.clone()], 1)
    );
    assert_eq!(
        list(AuditFilter {
            from: Some(t + half),
            to: Some(t + Duration::hours(1) + half),
            ..filter.clone()
        })
        .await,
        (vec![p2.clone()], 1)
    );
    // Filters combine.
    let scoped_posts = AuditFilter {
        scope: Some(Scope(a.path.clone())),
        method: Some("POST".into()),
        ..filter.clone()
    };
    assert_eq!(list(scoped_posts).await, (vec![p1.clone()], 1));
    // Paging: the total counts every match regardless of the page.
    assert_eq!(
        list(AuditFilter {
            limit: 1,
            offset: 0,
            ..filter.clone()
        })
        .await,
        (vec![p3.clone()], 3)
    );
    assert_eq!(
        list(AuditFilter {
            limit: 1,
            offset: 1,
            ..filter.clone()
        })
        .await,
        (vec![p2.clone()], 3)
    );
    assert_eq!(
        list(AuditFilter {
            limit: 2,
            offset: 1,
            ..filter.clone()
        })
        .await,
        (vec![p2, p1.clone()], 3)
    );
    assert_eq!(
        list(AuditFilter {
            limit: 2,
            offset: 2,
            ..filter.clone()
        })
        .await,
        (vec![p1], 3)
    );
    assert_eq!(
        list(AuditFilter {
            limit: 2,
            offset: 5,
            ..filter.clone()
        })
        .await,
        (vec![], 3)
    );
    let scoped_page = AuditFilter {
        scope: Some(Scope(a.path.clone())),
        limit: 1,
        offset: 1,
        ..filter.clone()
    };
    assert_eq!(list(scoped_page).await.1, 2);
}

// ---------------------------------------------------------------------------------------------------
// Bootstrap
// ---------------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_fresh_store_is_empty_until_an_org_exists() {
    let (s, _g) = store().await;
    let expected_backend =
        if std::env::var(common::DATABASE_URL_VAR).is_ok_and(|u| !u.trim().is_empty()) {
            "postgres"
        } else {
            "sqlite"
        };
    assert_eq!(s.backend(), expected_backend);
    s.ping().await.unwrap();
    assert!(s.is_empty().await.unwrap());
    assert_eq!(s.count_cylinders().await.unwrap(), 0);
    s.insert_org(&regulator()).await.unwrap();
    assert!(!s.is_empty().await.unwrap());
}

// ---------------------------------------------------------------------------------------------------
// Uplink outbox
// ---------------------------------------------------------------------------------------------------

fn with_outbox() -> LedgerParams {
    LedgerParams {
        outbox: true,
        ..LedgerParams::default()
    }
}

/// The pending outbox as (kind, ledger index, attempts), in outbox order.
async fn pending(s: &dyn Store) -> Vec<(&'static str, i64, i64)> {
    s.outbox_pending(1000)
        .await
        .expect("outbox")
        .iter()
        .map(|o| {
            (
                o.event.event.kind().as_str(),
                o.event.ledger_index,
                o.attempts,
            )
        })
        .collect()
}

#[tokio::test]
async fn only_new_events_of_the_uplink_kinds_enter_the_outbox() {
    let c = "1103007831";
    let w = world_with(&[c], &with_outbox()).await;
    let s = w.store.as_ref();
    let t = t0();
    let evs = [
        event("tag_bind", c, t - Duration::hours(1), w.site),
        event("pre_fill_check", c, t, w.site),
        event("fill", c, t + Duration::minutes(10), w.site),
        event("post_fill_check", c, t + Duration::minutes(15), w.site),
        event("deliver", c, t + Duration::hours(1), w.site),
        event("recycle", c, t + Duration::hours(2), w.site),
        event("inspection_result", c, t + Duration::hours(3), w.site),
        event("store_in", c, t + Duration::hours(4), w.site),
    ];
    assert_eq!(indexes(&w.append(&evs).await), [0, 1, 2, 3, 4, 5, 6, 7]);
    let expected = vec![
        ("pre_fill_check", 1, 0),
        ("fill", 2, 0),
        ("post_fill_check", 3, 0),
        ("inspection_result", 6, 0),
    ];
    assert_eq!(pending(s).await, expected);
    // Each row carries its event as stored, in log order, created when the event was recorded.
    let items: Vec<OutboxItem> = s.outbox_pending(1000).await.unwrap();
    for item in &items {
        let stored = s.get_event(item.event.event.id).await.unwrap().unwrap();
        assert_eq!(item.event, stored);
        assert_eq!(item.created_at, w.ctx.recorded_at);
    }
    assert!(items.windows(2).all(|p| p[0].outbox_id < p[1].outbox_id));
    assert_eq!(
        s.outbox_pending(2)
            .await
            .unwrap()
            .iter()
            .map(|o| o.event.ledger_index)
            .collect::<Vec<_>>(),
        [1, 2]
    );

    // An idempotent retry adds nothing; a retry beside a new event adds only the new one.
    let retry = w.append(std::slice::from_ref(&evs[2])).await;
    assert!(!retry[0].new);
    assert_eq!(pending(s).await, expected);
    let fill2 = event("fill", c, t + Duration::hours(5), w.site);
    let mixed = w.append(&[evs[1].clone(), fill2.clone()]).await;
    assert_eq!(
        mixed.iter().map(|a| a.new).collect::<Vec<_>>(),
        [false, true]
    );
    let mut expected = expected;
    expected.push(("fill", 8, 0));
    assert_eq!(pending(s).await, expected);

    // A refused batch leaves no outbox row: an unknown cylinder …
    let good = event("post_fill_check", c, t + Duration::hours(6), w.site);
    let unknown = event("fill", "1999999999", t + Duration::hours(6), w.site);
    assert!(matches!(
        s.append_events(&[good.clone(), unknown.clone()], &w.ctx)
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(pending(s).await, expected);
    // … or an id reused for another kind.
    let reused = Event {
        id: evs[0].id,
        ..event("fill", c, t + Duration::hours(6), w.site)
    };
    assert!(matches!(
        s.append_events(&[good.clone(), reused], &w.ctx).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(pending(s).await, expected);
    assert_eq!(s.get_event(good.id).await.unwrap(), None);

    // Refused and accepted batches committed together (group commit): only the accepted one's rows.
    let (ok, refused) = tokio::join!(
        s.append_events(std::slice::from_ref(&good), &w.ctx),
        s.append_events(std::slice::from_ref(&unknown), &w.ctx)
    );
    assert_eq!(indexes(&ok.expect("good batch")), [9]);
    assert!(matches!(refused, Err(StoreError::NotFound(_))));
    expected.push(("post_fill_check", 9, 0));
    assert_eq!(pending(s).await, expected);
    assert_eq!(s.ledger_size().await.unwrap(), 10);
}

#[tokio::test]
async fn the_outbox_stays_empty_without_an_upstream() {
    let c = "1103007831";
    let w = world(&[c]).await;
    let t = t0();
    w.append(&[
        event("pre_fill_check", c, t, w.site),
        event("fill", c, t + Duration::minutes(10), w.site),
        event("post_fill_check", c, t + Duration::minutes(15), w.site),
        event("inspection_result", c, t + Duration::hours(1), w.site),
    ])
    .await;
    assert!(w.store.outbox_pending(100).await.unwrap().is_empty());
    assert_eq!(
        w.store.outbox_stats().await.unwrap(),
        OutboxStats::default()
    );
}

#[tokio::test]
async fn outbox_rows_fail_then_are_sent_or_refused() {
    let c = "1103007831";
    let w = world_with(&[c], &with_outbox()).await;
    let s = w.store.as_ref();
    let t = t0();
    w.append(&[
        event("pre_fill_check", c, t, w.site),
        event("fill", c, t + Duration::minutes(10), w.site),
    ])
    .await;
    let later = AppendContext {
        recorded_at: w.ctx.recorded_at + Duration::minutes(30),
        ..w.ctx.clone()
    };
    s.append_events(
        &[
            event("post_fill_check", c, t + Duration::minutes(15), w.site),
            event("inspection_result", c, t + Duration::hours(1), w.site),
        ],
        &later,
    )
    .await
    .unwrap();
    let ids: Vec<i64> = s
        .outbox_pending(100)
        .await
        .unwrap()
        .iter()
        .map(|o| o.outbox_id)
        .collect();
    assert_eq!(ids.len(), 4);
    assert_eq!(
        s.outbox_stats().await.unwrap(),
        OutboxStats {
            pending: 4,
            sent: 0,
            refused: 0,
            oldest_pending: Some(w.ctx.recorded_at),
        }
    );

    // Failed: still pending, one more attempt each time, the error kept.
    let down = OutboxMark::Failed {
        error: "connection refused".to_owned(),
    };
    s.outbox_mark(&ids[..2], &down).await.unwrap();
    assert_eq!(
        pending(s).await,
        [
            ("pre_fill_check", 0, 1),
            ("fill", 1, 1),
            ("post_fill_check", 2, 0),
            ("inspection_result", 3, 0)
        ]
    );
    s.outbox_mark(&ids[..1], &down).await.unwrap();
    assert_eq!(pending(s).await[0], ("pre_fill_check", 0, 2));
    assert_eq!(s.outbox_stats().await.unwrap().pending, 4);
    // Nothing named, nothing changed.
    s.outbox_mark(
        &[],
        &OutboxMark::Sent {
            at: t + Duration::hours(2),
        },
    )
    .await
    .unwrap();
    assert_eq!(s.outbox_stats().await.unwrap().pending, 4);

    // Sent and refused rows leave the pending list and are counted.
    let sent_at = ts("2026-11-21T13:00:00.000001+08:00");
    s.outbox_mark(&ids[..1], &OutboxMark::Sent { at: sent_at })
        .await
        .unwrap();
    s.outbox_mark(
        &ids[1..2],
        &OutboxMark::Refused {
            at: sent_at,
            reason: "B1.9 无效".to_owned(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        pending(s).await,
        [("post_fill_check", 2, 0), ("inspection_result", 3, 0)]
    );
    assert_eq!(
        s.outbox_stats().await.unwrap(),
        OutboxStats {
            pending: 2,
            sent: 1,
            refused: 1,
            oldest_pending: Some(later.recorded_at),
        }
    );
    // What was recorded on the rows (read beside the API).
    let count = |sql: String| {
        let g = &w._guard;
        async move { g.execute_raw(&sql).await.expect("raw sql") }
    };
    let sent_us = sent_at.timestamp_micros();
    assert_eq!(
        count(format!("update outbox set attempts = attempts where outbox_id = {} and state = 'sent' and sent_at = {sent_us} and attempts = 2 and last_error = 'connection refused'", ids[0])).await,
        1
    );
    assert_eq!(
        count(format!("update outbox set attempts = attempts where outbox_id = {} and state = 'refused' and sent_at = {sent_us} and last_error = 'B1.9 无效'", ids[1])).await,
        1
    );

    s.outbox_mark(&ids[2..], &OutboxMark::Sent { at: sent_at })
        .await
        .unwrap();
    assert!(pending(s).await.is_empty());
    assert_eq!(
        s.outbox_stats().await.unwrap(),
        OutboxStats {
            pending: 0,
            sent: 3,
            refused: 1,
            oldest_pending: None,
        }
    );
}

// ---------------------------------------------------------------------------------------------------
// Documents of the /PS interface
// ---------------------------------------------------------------------------------------------------

fn ps_doc(
    kind: &str,
    o: &OrgRecord,
    target: Option<&OrgRecord>,
    third_id: Option<&str>,
    at: DateTime<Utc>,
) -> PsDoc {
    PsDoc {
        id: 0,
        kind: kind.to_owned(),
        org_id: o.id,
        org_path: o.path.clone(),
        target_org_id: target.map(|t| t.id),
        third_id: third_id.map(str::to_owned),
        state: "pending".to_owned(),
        body: json!({"Name": o.name, "Items": [1, 2, 3], "At": at.to_rfc3339()}),
        created_at: at,
        updated_at: at,
    }
}

#[tokio::test]
async fn ps_docs_are_idempotent_on_third_id_and_scoped_by_owner_or_target() {
    let (s, _g) = store().await;
    let reg = regulator();
    let a = enterprise(&reg, "企业甲");
    let b = enterprise(&reg, "企业乙");
    let station = org(
        "inspection_station",
        "昆明检验站",
        "530102",
        Some(&reg),
        json!([]),
    );
    for o in [&reg, &a, &b, &station] {
        s.insert_org(o).await.unwrap();
    }
    let t = ts("2026-11-21T08:00:00.000007Z");
    let d1 = ps_doc("check_apply", &a, Some(&station), Some("T1"), t);
    let (id1, new) = s.insert_ps_doc(&d1).await.unwrap();
    assert!(new);
    // The same ThirdId again: nothing stored, the first id answered.
    let again = PsDoc {
        body: json!({"other": true}),
        state: "approved".to_owned(),
        ..d1.clone()
    };
    assert_eq!(s.insert_ps_doc(&again).await.unwrap(), (id1, false));
    let d1 = PsDoc { id: id1, ..d1 };
    assert_eq!(s.get_ps_doc(id1).await.unwrap(), Some(d1.clone()));
    // The same ThirdId of another organisation, or of another kind, is another document.
    let (id2, new2) = s
        .insert_ps_doc(&ps_doc("check_apply", &b, Some(&station), Some("T1"), t))
        .await
        .unwrap();
    let (id3, new3) = s
        .insert_ps_doc(&ps_doc("apply_new", &a, None, Some("T1"), t))
        .await
        .unwrap();
    // Documents without a ThirdId never collide.
    let (id4, new4) = s
        .insert_ps_doc(&ps_doc("check_apply", &a, None, None, t))
        .await
        .unwrap();
    let (id5, new5) = s
        .insert_ps_doc(&ps_doc("check_apply", &a, None, None, t))
        .await
        .unwrap();
    assert!(new2 && new3 && new4 && new5);
    let all = [id1, id2, id3, id4, id5];
    assert_eq!(
        all.iter().collect::<std::collections::HashSet<_>>().len(),
        5
    );
    assert_eq!(s.get_ps_doc(id5 + 1000).await.unwrap(), None);

    // Update: state, body and time; the rest stays.
    let later = t + Duration::hours(1);
    let body = json!({"Result": "通过", "Remark": null});
    s.update_ps_doc(id1, "approved", &body, later)
        .await
        .unwrap();
    assert_eq!(
        s.get_ps_doc(id1).await.unwrap(),
        Some(PsDoc {
            state: "approved".to_owned(),
            body: body.clone(),
            updated_at: later,
            ..d1.clone()
        })
    );
    assert!(matches!(
        s.update_ps_doc(id5 + 1000, "approved", &body, later).await,
        Err(StoreError::NotFound(_))
    ));

    let filter = PsDocFilter {
        kind: "check_apply".to_owned(),
        limit: 100,
        ..PsDocFilter::default()
    };
    let list = |f: PsDocFilter| {
        let s = s.clone();
        async move {
            s.list_ps_docs(&f)
                .await
                .unwrap()
                .iter()
                .map(|d| d.id)
                .collect::<Vec<_>>()
        }
    };
    // Newest first, of the kind asked for only.
    assert_eq!(list(filter.clone()).await, [id5, id4, id2, id1]);
    assert_eq!(
        list(PsDocFilter {
            kind: "apply_new".to_owned(),
            ..filter.clone()
        })
        .await,
        [id3]
    );
    // Scope: the owner's subtree, or the target's.
    let scoped = |o: &OrgRecord| PsDocFilter {
        scope: Some(Scope(o.path.clone())),
        ..filter.clone()
    };
    assert_eq!(list(scoped(&station)).await, [id2, id1]);
    assert_eq!(list(scoped(&a)).await, [id5, id4, id1]);
    assert_eq!(list(scoped(&b)).await, [id2]);
    assert_eq!(list(scoped(&reg)).await, [id5, id4, id2, id1]);
    assert!(
        list(PsDocFilter {
            scope: Some(Scope(format!("/{}/", Uuid::new_v4()))),
            ..filter.clone()
        })
        .await
        .is_empty()
    );
    // Organisation, target, state.
    assert_eq!(
        list(PsDocFilter {
            org_id: Some(b.id),
            ..filter.clone()
        })
        .await,
        [id2]
    );
    assert_eq!(
        list(PsDocFilter {
            target_org_id: Some(station.id),
            ..filter.clone()
        })
        .await,
        [id2, id1]
    );
    assert_eq!(
        list(PsDocFilter {
            state: Some("approved".to_owned()),
            ..filter.clone()
        })
        .await,
        [id1]
    );
    assert_eq!(
        list(PsDocFilter {
            state: Some("pending".to_owned()),
            scope: Some(Scope(station.path.clone())),
            ..filter.clone()
        })
        .await,
        [id2]
    );
    // Paging.
    assert_eq!(
        list(PsDocFilter {
            limit: 2,
            offset: 1,
            ..filter.clone()
        })
        .await,
        [id4, id2]
    );
    // The listed document is the whole document.
    let listed = s
        .list_ps_docs(&PsDocFilter {
            org_id: Some(a.id),
            target_org_id: Some(station.id),
            ..filter.clone()
        })
        .await
        .unwrap();
    assert_eq!(listed, [s.get_ps_doc(id1).await.unwrap().unwrap()]);
}

// ---------------------------------------------------------------------------------------------------
// Witnessing lower nodes' ledgers
// ---------------------------------------------------------------------------------------------------

/// Declares a lower node's leaf the way a `/PS` upload does (through the writer).
async fn declare(
    s: &std::sync::Arc<dyn Store>,
    user_id: Uuid,
    ledger_index: i64,
    leaf_hash: cyltrace_ledger::Hash,
) {
    let leaf = DeclaredLeaf {
        user_id,
        ledger_index,
        leaf_hash,
        event_id: Uuid::new_v4(),
        at: t0(),
    };
    let req = cyltrace_store::WriteRequest {
        ps_leaves: vec![leaf],
        ..Default::default()
    };
    s.write(req).await.expect("declared leaf");
}

#[tokio::test]
async fn declared_leaves_are_kept_once_and_audited_in_index_order() {
    let (s, _g) = store().await;
    let (u, v) = (Uuid::new_v4(), Uuid::new_v4());
    let h = |i: u8| cyltrace_ledger::Hash([i; 32]);
    for i in 0..6u8 {
        declare(&s, u, i64::from(i), h(i)).await;
    }
    declare(&s, v, 0, h(100)).await;
    // Kept once per index: a second declaration changes nothing.
    declare(&s, u, 2, h(200)).await;

    let unaudited = |user: Uuid, size: u64, limit: i64| {
        let s = s.clone();
        async move { s.ps_leaves_unaudited(user, size, limit).await.unwrap() }
    };
    assert_eq!(
        unaudited(u, 4, 100).await,
        [(0, h(0)), (1, h(1)), (2, h(2)), (3, h(3))]
    );
    assert_eq!(unaudited(u, 4, 2).await, [(0, h(0)), (1, h(1))]);
    assert_eq!(unaudited(u, u64::MAX, 100).await.len(), 6);
    assert!(unaudited(u, 0, 100).await.is_empty());
    assert_eq!(unaudited(v, 10, 100).await, [(0, h(100))]);

    s.ps_leaves_mark_audited(u, &[0, 2, 5]).await.unwrap();
    s.ps_leaves_mark_audited(u, &[]).await.unwrap();
    assert_eq!(unaudited(u, 4, 100).await, [(1, h(1)), (3, h(3))]);
    assert_eq!(
        unaudited(u, 6, 100).await,
        [(1, h(1)), (3, h(3)), (4, h(4))]
    );
    // Another user's leaves are untouched by the marks.
    assert_eq!(unaudited(v, 10, 100).await, [(0, h(100))]);
}

fn witness(user_id: Uuid, size: u64, text: &str, at: DateTime<Utc>) -> WitnessRecord {
    WitnessRecord {
        user_id,
        origin: "cyltrace.example.cn/530102".to_owned(),
        size,
        root: cyltrace_ledger::Hash([size as u8; 32]),
        text: text.to_owned(),
        signature: vec![0x30, 0x44, size as u8],
        public_key: vec![0x04; 65],
        received_at: at,
    }
}

#[tokio::test]
async fn the_latest_witnessed_checkpoint_is_the_largest_and_the_history_is_append_only() {
    let (s, g) = store().await;
    let (u, v) = (Uuid::new_v4(), Uuid::new_v4());
    let t = ts("2026-11-21T08:00:00.000123Z");
    assert_eq!(s.latest_witness(u).await.unwrap(), None);
    let w5 = witness(u, 5, "five", t);
    let w10a = witness(u, 10, "ten a", t + Duration::minutes(1));
    let w10b = witness(u, 10, "ten b", t + Duration::minutes(2));
    let w7 = witness(u, 7, "seven", t + Duration::minutes(3));
    s.insert_witness(&w5).await.unwrap();
    assert_eq!(s.latest_witness(u).await.unwrap(), Some(w5));
    for w in [&w10a, &w10b, &w7] {
        s.insert_witness(w).await.unwrap();
    }
    // The largest size; among equal sizes the last received.
    assert_eq!(s.latest_witness(u).await.unwrap(), Some(w10b.clone()));
    assert_eq!(s.latest_witness(v).await.unwrap(), None);
    let wv = witness(v, 3, "other node", t);
    s.insert_witness(&wv).await.unwrap();
    assert_eq!(s.latest_witness(v).await.unwrap(), Some(wv));

    for sql in [
        "update ps_witness set size = 1000",
        "delete from ps_witness",
    ] {
        let err = g.execute_raw(sql).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(s.latest_witness(u).await.unwrap(), Some(w10b));
}

// ---------------------------------------------------------------------------------------------------
// Regulator alarms and settings
// ---------------------------------------------------------------------------------------------------

#[tokio::test]
async fn regulator_alarms_are_scoped_and_newest_first() {
    let (s, _g) = store().await;
    let reg = regulator();
    let a = enterprise(&reg, "企业甲");
    let b = enterprise(&reg, "企业乙");
    for o in [&reg, &a, &b] {
        s.insert_org(o).await.unwrap();
    }
    let t = ts("2026-11-21T08:00:00.000001Z");
    let alarm = |o: &OrgRecord, kind: &str, at: DateTime<Utc>| RegAlarm {
        id: 0,
        org_id: o.id,
        kind: kind.to_owned(),
        message: format!("{} {kind}", o.name),
        at,
    };
    let mut stored = Vec::new();
    for a in [
        alarm(&a, "ledger_tamper", t),
        alarm(&b, "business_count_mismatch", t + Duration::hours(1)),
        alarm(&a, "uplink_stale", t + Duration::hours(2)),
    ] {
        let id = s.insert_reg_alarm(&a).await.unwrap();
        stored.push(RegAlarm { id, ..a });
    }
    assert!(stored[0].id < stored[1].id && stored[1].id < stored[2].id);
    let (a1, a2, a3) = (stored[0].clone(), stored[1].clone(), stored[2].clone());

    let filter = RegAlarmFilter {
        limit: 100,
        ..RegAlarmFilter::default()
    };
    let list = |f: RegAlarmFilter| {
        let s = s.clone();
        async move { s.list_reg_alarms(&f).await.unwrap() }
    };
    assert_eq!(
        list(filter.clone()).await,
        [a3.clone(), a2.clone(), a1.clone()]
    );
    let scoped = |o: &OrgRecord| RegAlarmFilter {
        scope: Some(Scope(o.path.clone())),
        ..filter.clone()
    };
    assert_eq!(list(scoped(&a)).await, [a3.clone(), a1.clone()]);
    assert_eq!(list(scoped(&b)).await, std::slice::from_ref(&a2));
    assert_eq!(list(scoped(&reg)).await.len(), 3);
    assert_eq!(
        list(RegAlarmFilter {
            kind: Some("ledger_tamper".to_owned()),
            ..filter.clone()
        })
        .await,
        std::slice::from_ref(&a1)
    );
    assert!(
        list(RegAlarmFilter {
            kind: Some("ledger_tamper".to_owned()),
            ..scoped(&b)
        })
        .await
        .is_empty()
    );
    assert_eq!(
        list(RegAlarmFilter {
            limit: 1,
            offset: 1,
            ..filter.clone()
        })
        .await,
        [a2]
    );
}

#[tokio::test]
async fn settings_are_upserted() {
    let (s, _g) = store().await;
    assert_eq!(s.get_setting("uplink.url").await.unwrap(), None);
    s.set_setting("uplink.url", "https://up.example.cn/PS", t0())
        .await
        .unwrap();
    assert_eq!(
        s.get_setting("uplink.url").await.unwrap().as_deref(),
        Some("https://up.example.cn/PS")
    );
    s.set_setting("uplink.url", "https://other.example.cn/PS", t0())
        .await
        .unwrap();
    s.set_setting("uplink.user", "530102-node", t0())
        .await
        .unwrap();
    assert_eq!(
        s.get_setting("uplink.url").await.unwrap().as_deref(),
        Some("https://other.example.cn/PS")
    );
    assert_eq!(
        s.get_setting("uplink.user").await.unwrap().as_deref(),
        Some("530102-node")
    );
    assert_eq!(s.get_setting("uplink.password").await.unwrap(), None);
}

// ---------------------------------------------------------------------------------------------------
// Circulation records (issue 6): business records, vehicle positions, stock and holders
// ---------------------------------------------------------------------------------------------------

use cyltrace_store::{BizFilter, BizRecord, StockRow, VehiclePosition};

/// A business record of `kind` owned by `o`, created and last changed at `at`.
fn biz(kind: &str, o: &OrgRecord, key: Option<&str>, state: &str, at: DateTime<Utc>) -> BizRecord {
    BizRecord {
        id: Uuid::new_v4(),
        kind: kind.to_owned(),
        org_id: o.id,
        org_path: o.path.clone(),
        key: key.map(str::to_owned),
        ref_id: None,
        state: state.to_owned(),
        due: None,
        body: json!({"name": format!("{} {kind}", o.name), "items": [1, 2], "at": at.to_rfc3339()}),
        created_at: at,
        updated_at: at,
    }
}

#[tokio::test]
async fn biz_records_round_trip_keep_keys_unique_per_kind_and_update_optimistically() {
    // C2, C6: a plate or an identity is registered once per kind; concurrent edits do not overwrite.
    let (s, _g) = store().await;
    let reg = regulator();
    let a = enterprise(&reg, "企业甲");
    let b = enterprise(&reg, "企业乙");
    for o in [&reg, &a, &b] {
        s.insert_org(o).await.unwrap();
    }
    let t = ts("2026-11-21T08:00:00.000007Z");
    let plate = "云A·12345";
    let vehicle = BizRecord {
        ref_id: Some(Uuid::new_v4()),
        due: Some(t + Duration::days(30)),
        ..biz("vehicle", &a, Some(plate), "active", t)
    };
    // The path given on a write is ignored; reads fill in the owner's.
    s.insert_biz(&BizRecord {
        org_path: "/ignored/".to_owned(),
        ..vehicle.clone()
    })
    .await
    .unwrap();
    assert_eq!(
        s.get_biz("vehicle", vehicle.id).await.unwrap(),
        Some(vehicle.clone())
    );
    assert_eq!(
        s.biz_by_key("vehicle", plate).await.unwrap(),
        Some(vehicle.clone())
    );
    // The kind is part of the identity.
    assert_eq!(s.get_biz("staff", vehicle.id).await.unwrap(), None);
    assert_eq!(s.biz_by_key("staff", plate).await.unwrap(), None);
    assert_eq!(s.get_biz("vehicle", Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(s.biz_by_key("vehicle", "云A·99999").await.unwrap(), None);

    // The same key of the same kind, even of another organisation: a conflict that stores nothing.
    let taken = biz("vehicle", &b, Some(plate), "active", t + Duration::hours(1));
    match s.insert_biz(&taken).await {
        Err(StoreError::Conflict(k)) => assert_eq!(k, plate),
        other => panic!("expected a conflict on the plate, got {other:?}"),
    }
    assert_eq!(s.get_biz("vehicle", taken.id).await.unwrap(), None);
    assert_eq!(
        s.biz_by_key("vehicle", plate).await.unwrap(),
        Some(vehicle.clone())
    );
    // The same key of another kind, and records without a key, never collide.
    let staff = biz("staff", &b, Some(plate), "active", t);
    s.insert_biz(&staff).await.unwrap();
    let (n1, n2) = (
        biz("vehicle", &a, None, "active", t),
        biz("vehicle", &a, None, "active", t),
    );
    s.insert_biz(&n1).await.unwrap();
    s.insert_biz(&n2).await.unwrap();
    assert_eq!(s.get_biz("vehicle", n2.id).await.unwrap(), Some(n2.clone()));
    assert_eq!(
        s.biz_by_key("staff", plate).await.unwrap(),
        Some(staff.clone())
    );
    let all_vehicles = BizFilter {
        kind: "vehicle".to_owned(),
        limit: 100,
        ..BizFilter::default()
    };
    assert_eq!(s.list_biz(&all_vehicles).await.unwrap().len(), 3);

    // Optimistic update: state, due, ref_id, body and time change; key and owner do not.
    let later = t + Duration::minutes(5) + Duration::microseconds(3);
    let changed = BizRecord {
        state: "suspended".to_owned(),
        due: None,
        ref_id: Some(Uuid::new_v4()),
        body: json!({"reason": "年检过期", "n": 2}),
        updated_at: later,
        key: Some("云A·00000".to_owned()),
        org_id: b.id,
        ..vehicle.clone()
    };
    assert!(s.update_biz(&changed, t).await.unwrap());
    let stored = BizRecord {
        key: vehicle.key.clone(),
        org_id: a.id,
        org_path: a.path.clone(),
        ..changed.clone()
    };
    assert_eq!(
        s.get_biz("vehicle", vehicle.id).await.unwrap(),
        Some(stored.clone())
    );
    assert_eq!(
        s.biz_by_key("vehicle", plate).await.unwrap(),
        Some(stored.clone())
    );
    // A writer that read the record before that change loses, and nothing changes.
    let stale = BizRecord {
        state: "active".to_owned(),
        updated_at: later + Duration::minutes(1),
        ..vehicle.clone()
    };
    assert!(!s.update_biz(&stale, t).await.unwrap());
    assert_eq!(
        s.get_biz("vehicle", vehicle.id).await.unwrap(),
        Some(stored.clone())
    );
    // Nor does an update of the wrong kind or of an unknown record.
    assert!(
        !s.update_biz(
            &BizRecord {
                kind: "staff".to_owned(),
                ..stale.clone()
            },
            later
        )
        .await
        .unwrap()
    );
    assert!(
        !s.update_biz(
            &BizRecord {
                id: Uuid::new_v4(),
                ..stale.clone()
            },
            later
        )
        .await
        .unwrap()
    );
    // With the current time as expected, it goes through (and can clear the reference).
    let again = BizRecord {
        ref_id: None,
        due: Some(later + Duration::days(1)),
        ..stale.clone()
    };
    assert!(s.update_biz(&again, later).await.unwrap());
    assert_eq!(
        s.get_biz("vehicle", vehicle.id).await.unwrap(),
        Some(BizRecord {
            org_path: a.path.clone(),
            ..again.clone()
        })
    );
    // The staff record of the same key was never touched.
    assert_eq!(s.get_biz("staff", staff.id).await.unwrap(), Some(staff));
}

#[tokio::test]
async fn biz_records_are_listed_newest_first_filtered_scoped_paged_and_counted_by_state() {
    // C9: rectification tasks per organisation and check, open ones past their due time.
    let (s, _g) = store().await;
    let reg = regulator();
    let a = enterprise(&reg, "企业甲");
    let b = enterprise(&reg, "企业乙");
    for o in [&reg, &a, &b] {
        s.insert_org(o).await.unwrap();
    }
    let t = ts("2026-11-21T08:00:00.000001Z");
    let (check1, check2) = (Uuid::new_v4(), Uuid::new_v4());
    let task =
        |o: &OrgRecord, state: &str, check: Uuid, due: Option<DateTime<Utc>>, h: i64| BizRecord {
            ref_id: Some(check),
            due,
            ..biz("rectification", o, None, state, t + Duration::hours(h))
        };
    let r1 = task(&a, "open", check1, Some(t + Duration::days(1)), 1);
    let r2 = task(&a, "done", check1, Some(t + Duration::days(2)), 2);
    let r3 = task(&b, "open", check2, Some(t + Duration::days(3)), 3);
    let r4 = task(&a, "open", check2, None, 4);
    // Two created at the same instant: the larger id is listed first.
    let r5 = task(&b, "overdue", check1, Some(t + Duration::days(1)), 5);
    let r6 = task(&b, "open", check1, Some(t + Duration::hours(12)), 5);
    let other_kind = BizRecord {
        ref_id: Some(check1),
        ..biz("order", &a, None, "open", t + Duration::hours(9))
    };
    for r in [&r1, &r2, &r3, &r4, &r5, &r6, &other_kind] {
        s.insert_biz(r).await.unwrap();
    }
    // r5 and r6 were created at the same instant: the larger id comes first.
    let tied: [&BizRecord; 2] = if r5.id.to_string() > r6.id.to_string() {
        [&r5, &r6]
    } else {
        [&r6, &r5]
    };
    let ids = |rs: &[&BizRecord]| rs.iter().map(|r| r.id).collect::<Vec<_>>();

    let filter = BizFilter {
        kind: "rectification".to_owned(),
        limit: 100,
        ..BizFilter::default()
    };
    let list = |f: BizFilter| {
        let s = s.clone();
        async move {
            s.list_biz(&f)
                .await
                .unwrap()
                .iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        }
    };
    // Newest first, of the kind asked for only; a limit of 0 means the default page.
    let everything = ids(&[tied[0], tied[1], &r4, &r3, &r2, &r1]);
    assert_eq!(list(filter.clone()).await, everything);
    assert_eq!(
        list(BizFilter {
            limit: 0,
            ..filter.clone()
        })
        .await,
        everything
    );
    assert_eq!(
        list(BizFilter {
            kind: "order".to_owned(),
            ..filter.clone()
        })
        .await,
        [other_kind.id]
    );
    assert!(
        list(BizFilter {
            kind: "vehicle".to_owned(),
            ..filter.clone()
        })
        .await
        .is_empty()
    );
    // The listed record is the whole record.
    let listed = s.list_biz(&filter).await.unwrap();
    assert_eq!(listed.last(), Some(&r1));
    assert_eq!(
        listed[0],
        s.get_biz("rectification", tied[0].id)
            .await
            .unwrap()
            .unwrap()
    );

    // Scope: the owner's subtree.
    let scoped = |o: &OrgRecord| BizFilter {
        scope: Some(Scope(o.path.clone())),
        ..filter.clone()
    };
    assert_eq!(list(scoped(&a)).await, ids(&[&r4, &r2, &r1]));
    assert_eq!(list(scoped(&b)).await, ids(&[tied[0], tied[1], &r3]));
    assert_eq!(list(scoped(&reg)).await, everything);
    assert!(
        list(BizFilter {
            scope: Some(Scope(format!("/{}/", Uuid::new_v4()))),
            ..filter.clone()
        })
        .await
        .is_empty()
    );
    // Organisation, reference, state, due before (exclusive; records without a due never match).
    assert_eq!(
        list(BizFilter {
            org_id: Some(b.id),
            ..filter.clone()
        })
        .await,
        ids(&[tied[0], tied[1], &r3])
    );
    assert_eq!(
        list(BizFilter {
            ref_id: Some(check2),
            ..filter.clone()
        })
        .await,
        ids(&[&r4, &r3])
    );
    assert_eq!(
        list(BizFilter {
            state: Some("open".to_owned()),
            ..filter.clone()
        })
        .await,
        ids(&[&r6, &r4, &r3, &r1])
    );
    assert_eq!(
        list(BizFilter {
            due_before: Some(t + Duration::days(1)),
            ..filter.clone()
        })
        .await,
        ids(&[&r6])
    );
    assert_eq!(
        list(BizFilter {
            due_before: Some(t + Duration::days(1) + Duration::microseconds(1)),
            ..filter.clone()
        })
        .await,
        ids(&[tied[0], tied[1], &r1])
    );
    assert_eq!(
        list(BizFilter {
            state: Some("open".to_owned()),
            due_before: Some(t + Duration::days(10)),
            scope: Some(Scope(a.path.clone())),
            ..filter.clone()
        })
        .await,
        ids(&[&r1])
    );
    // Paging.
    assert_eq!(
        list(BizFilter {
            limit: 2,
            offset: 1,
            ..filter.clone()
        })
        .await,
        everything[1..3]
    );
    assert!(
        list(BizFilter {
            limit: 2,
            offset: 6,
            ..filter.clone()
        })
        .await
        .is_empty()
    );

    // Counts per state, sorted by state, of the matching records whatever the page.
    let count = |f: BizFilter| {
        let s = s.clone();
        async move { s.count_biz(&f).await.unwrap() }
    };
    let pairs = |v: &[(&str, i64)]| {
        v.iter()
            .map(|(k, n)| ((*k).to_owned(), *n))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        count(BizFilter {
            limit: 1,
            offset: 3,
            ..filter.clone()
        })
        .await,
        pairs(&[("done", 1), ("open", 4), ("overdue", 1)])
    );
    assert_eq!(count(scoped(&a)).await, pairs(&[("done", 1), ("open", 2)]));
    assert_eq!(
        count(BizFilter {
            ref_id: Some(check1),
            scope: Some(Scope(b.path.clone())),
            ..filter.clone()
        })
        .await,
        pairs(&[("open", 1), ("overdue", 1)])
    );
    assert_eq!(
        count(BizFilter {
            state: Some("open".to_owned()),
            due_before: Some(t + Duration::days(2)),
            ..filter.clone()
        })
        .await,
        pairs(&[("open", 2)])
    );
    assert_eq!(
        count(BizFilter {
            kind: "order".to_owned(),
            ..filter.clone()
        })
        .await,
        pairs(&[("open", 1)])
    );
    assert!(
        count(BizFilter {
            kind: "vehicle".to_owned(),
            ..filter.clone()
        })
        .await
        .is_empty()
    );
}

/// A position of `vehicle` (owned by `o`) at `at`.
fn position(vehicle: Uuid, o: &OrgRecord, at: DateTime<Utc>, lat: f64) -> VehiclePosition {
    VehiclePosition {
        vehicle_id: vehicle,
        org_id: o.id,
        time: at,
        lat,
        lon: 102.7123,
        speed: Some(42.5),
        heading: Some(271.0),
    }
}

#[tokio::test]
async fn vehicle_positions_are_kept_once_per_time_latest_per_vehicle_in_scope_and_tracked() {
    // C2, C8: the latest position of each vehicle on the map, and one vehicle's track.
    let (s, _g) = store().await;
    let reg = regulator();
    let a = enterprise(&reg, "企业甲");
    let b = enterprise(&reg, "企业乙");
    for o in [&reg, &a, &b] {
        s.insert_org(o).await.unwrap();
    }
    let t = ts("2026-11-21T08:00:00.000003Z");
    let (v1, v2, v3) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let p1 = position(v1, &a, t, 25.01);
    let p2 = position(v1, &a, t + Duration::minutes(1), 25.02);
    let p3 = VehiclePosition {
        speed: None,
        heading: None,
        ..position(v1, &a, t + Duration::minutes(2), 25.03)
    };
    let q1 = position(v2, &a, t + Duration::seconds(30), 24.9);
    let w1 = position(v3, &b, t + Duration::minutes(5), 26.1);
    s.insert_positions(&[], t0()).await.unwrap();
    // Out of order, and the same point twice in one call.
    s.insert_positions(
        &[p2.clone(), w1.clone(), p1.clone(), p2.clone(), q1.clone()],
        t0(),
    )
    .await
    .unwrap();
    s.insert_positions(std::slice::from_ref(&p3), t0())
        .await
        .unwrap();
    // A point already stored for the same vehicle and time is kept once, as first stored.
    s.insert_positions(
        &[
            VehiclePosition {
                lat: 0.0,
                ..p1.clone()
            },
            p3.clone(),
        ],
        t0(),
    )
    .await
    .unwrap();

    let by_vehicle = |mut v: Vec<VehiclePosition>| {
        v.sort_by_key(|p| p.vehicle_id.to_string());
        v
    };
    assert_eq!(
        s.latest_positions(&Scope::all()).await.unwrap(),
        by_vehicle(vec![p3.clone(), q1.clone(), w1.clone()])
    );
    assert_eq!(
        s.latest_positions(&Scope(reg.path.clone())).await.unwrap(),
        by_vehicle(vec![p3.clone(), q1.clone(), w1.clone()])
    );
    assert_eq!(
        s.latest_positions(&Scope(a.path.clone())).await.unwrap(),
        by_vehicle(vec![p3.clone(), q1.clone()])
    );
    assert_eq!(
        s.latest_positions(&Scope(b.path.clone())).await.unwrap(),
        std::slice::from_ref(&w1)
    );
    assert!(
        s.latest_positions(&Scope(format!("/{}/", Uuid::new_v4())))
            .await
            .unwrap()
            .is_empty()
    );

    // The track: [from, to), oldest first, at most `limit`.
    let end = t + Duration::minutes(2);
    assert_eq!(
        s.vehicle_track(v1, t, end, 100).await.unwrap(),
        [p1.clone(), p2.clone()]
    );
    assert_eq!(
        s.vehicle_track(v1, t, end + Duration::microseconds(1), 100)
            .await
            .unwrap(),
        [p1.clone(), p2.clone(), p3.clone()]
    );
    assert_eq!(
        s.vehicle_track(
            v1,
            t + Duration::microseconds(1),
            t + Duration::hours(1),
            100
        )
        .await
        .unwrap(),
        [p2.clone(), p3.clone()]
    );
    assert_eq!(
        s.vehicle_track(v1, t - Duration::hours(1), t + Duration::hours(1), 2)
            .await
            .unwrap(),
        [p1.clone(), p2.clone()]
    );
    assert_eq!(
        s.vehicle_track(v2, t - Duration::hours(1), t + Duration::hours(1), 100)
            .await
            .unwrap(),
        std::slice::from_ref(&q1)
    );
    assert!(
        s.vehicle_track(Uuid::new_v4(), t, t + Duration::hours(1), 100)
            .await
            .unwrap()
            .is_empty()
    );
}

/// An event of `kind` on `c` at `t` with the `data` given.
fn event_with(kind: &str, c: &str, t: DateTime<Utc>, site: Uuid, data: Value) -> Event {
    let v = json!({
        "id": Uuid::new_v4(), "kind": kind, "codes": [c], "time": t.to_rfc3339(), "site_id": site,
        "operator": "张三", "device": "PDA-07", "data": data
    });
    Event::parse(&v, "").unwrap_or_else(|e| panic!("{kind}: {e}"))
}

#[tokio::test]
async fn stock_per_site_and_cylinders_held_per_customer_follow_the_projection() {
    // C1 (stock per site, stock-taking) and C5 (cylinders held per customer), read from the columns
    // written with the status projection, late events included.
    let codes = [
        "1103000001",
        "1103000002",
        "1103000003",
        "1103000004",
        "1103000005",
        "1103000006",
        "1103000007",
    ];
    let [c1, c2, c3, c4, c5, c6, c7] = codes;
    let w = world(&codes).await;
    let s = &w.store;
    // A second site of the enterprise, and a site of another organisation.
    let site1 = w.site;
    let site2 = Uuid::new_v4();
    s.insert_site(site2, &new_site(&w.ent, "store", "二号仓库"), t0())
        .await
        .unwrap();
    let other = org("filling_enterprise", "企业乙", "530103", None, json!([]));
    s.insert_org(&other).await.unwrap();
    let site3 = Uuid::new_v4();
    s.insert_site(site3, &new_site(&other, "store", "乙仓库"), t0())
        .await
        .unwrap();

    // A cylinder inserted is nowhere and held by nobody, in the JSON and in the columns alike.
    for c in codes {
        let st = w.status(c).await;
        assert_eq!((st.site_id, st.holder), (None, None));
    }
    let unplaced = w
        ._guard
        .execute_raw("update cylinders set code = code where site_id is null and holder is null")
        .await
        .unwrap();
    assert_eq!(unplaced, codes.len() as u64);
    assert!(s.stock(&Scope::all(), None).await.unwrap().is_empty());
    assert!(s.stock_codes(site1).await.unwrap().is_empty());
    assert!(s.held_by("c1").await.unwrap().is_empty());

    let t = t0();
    let h = Duration::hours;
    let store_in =
        |c: &str, at, site, full: bool| event_with("store_in", c, at, site, json!({"full": full}));
    let deliver = |c: &str, at, site, customer: &str| {
        event_with("deliver", c, at, site, json!({"customer_id": customer}))
    };
    w.append(&[
        store_in(c1, t + h(1), site1, true),
        store_in(c2, t + h(1), site1, false),
        store_in(c3, t + h(1), site2, true),
        store_in(c4, t + h(1), site1, true),
        store_in(c5, t + h(1), site1, true),
        store_in(c6, t + h(1), site2, false),
        store_in(c7, t + h(1), site3, true),
    ])
    .await;
    w.append(&[
        event_with("store_out", c4, t + h(2), site1, json!({"full": true})),
        deliver(c5, t + h(3), site1, "c1"),
        deliver(c3, t + h(3), site2, "c1"),
    ])
    .await;
    for c in codes {
        w.assert_projection_is_the_fold(c).await;
    }
    assert_eq!(
        w.status(c5).await.holder.map(String::from).as_deref(),
        Some("c1")
    );

    let row = |site: Uuid, full: i64, empty: i64| StockRow {
        site_id: site,
        full,
        empty,
    };
    let sorted = |mut v: Vec<StockRow>| {
        v.sort_by_key(|r| r.site_id.to_string());
        v
    };
    assert_eq!(
        s.stock(&Scope::all(), None).await.unwrap(),
        sorted(vec![row(site1, 1, 1), row(site2, 0, 1), row(site3, 1, 0)])
    );
    // Scoped by the site's organisation, not the cylinder's owner.
    assert_eq!(
        s.stock(&Scope(w.ent.path.clone()), None).await.unwrap(),
        sorted(vec![row(site1, 1, 1), row(site2, 0, 1)])
    );
    assert_eq!(
        s.stock(&Scope(other.path.clone()), None).await.unwrap(),
        [row(site3, 1, 0)]
    );
    assert_eq!(
        s.stock(&Scope::all(), Some(site2)).await.unwrap(),
        [row(site2, 0, 1)]
    );
    assert!(
        s.stock(&Scope(other.path.clone()), Some(site1))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.stock(&Scope::all(), Some(Uuid::new_v4()))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.stock_codes(site1).await.unwrap(),
        [(code(c1), true), (code(c2), false)]
    );
    assert_eq!(s.stock_codes(site2).await.unwrap(), [(code(c6), false)]);
    assert_eq!(s.stock_codes(site3).await.unwrap(), [(code(c7), true)]);
    assert_eq!(s.held_by("c1").await.unwrap(), [code(c3), code(c5)]);
    assert!(s.held_by("c2").await.unwrap().is_empty());
    assert!(s.held_by("C1").await.unwrap().is_empty());

    // Coming back clears the holder; the cylinder is in the empty store again.
    w.append(&[event_with(
        "recycle",
        c5,
        t + h(4),
        site1,
        json!({"customer_id": "c1"}),
    )])
    .await;
    assert_eq!(s.held_by("c1").await.unwrap(), [code(c3)]);
    assert_eq!(
        s.stock_codes(site1).await.unwrap(),
        [(code(c1), true), (code(c2), false), (code(c5), false)]
    );
    assert_eq!(
        s.stock(&Scope::all(), Some(site1)).await.unwrap(),
        [row(site1, 1, 2)]
    );

    // A late event (older than one already applied) refolds the projection; the columns follow.
    // c2: delivered to c2 now, with a late store_in at the second site in the same batch.
    w.append(&[
        deliver(c2, t + h(6), site1, "c2"),
        store_in(c2, t + h(5), site2, false),
    ])
    .await;
    let st = w.assert_projection_is_the_fold(c2).await;
    assert_eq!(
        (st.location_kind, st.site_id, st.holder.map(String::from)),
        (LocationKind::AtCustomer, Some(site1), Some("c2".to_owned()))
    );
    assert_eq!(s.held_by("c2").await.unwrap(), [code(c2)]);
    // c1: a late delivery before its store_in; it ends up in the full store all the same.
    w.append(&[deliver(c1, t, site1, "c3")]).await;
    let st = w.assert_projection_is_the_fold(c1).await;
    assert_eq!(
        (st.location_kind, st.holder),
        (LocationKind::FullStore, None)
    );
    assert!(s.held_by("c3").await.unwrap().is_empty());
    // c6: a late store_in at the first site, alone in its batch, after a timely move to it.
    w.append(&[store_in(c6, t + h(8), site1, true)]).await;
    w.append(&[store_in(c6, t + h(7), site2, false)]).await;
    let st = w.assert_projection_is_the_fold(c6).await;
    assert_eq!(
        (st.location_kind, st.site_id),
        (LocationKind::FullStore, Some(site1))
    );
    assert_eq!(
        s.stock_codes(site1).await.unwrap(),
        [(code(c1), true), (code(c5), false), (code(c6), true)]
    );
    assert!(s.stock_codes(site2).await.unwrap().is_empty());
    assert_eq!(
        s.stock(&Scope(w.ent.path.clone()), None).await.unwrap(),
        [row(site1, 2, 1)]
    );
    // A scrapped cylinder is held by nobody.
    w.append(&[event("scrap", c3, t + h(9), site2)]).await;
    assert!(s.held_by("c1").await.unwrap().is_empty());
    // The columns equal what the JSON status says, for every cylinder.
    for c in codes {
        let st = w.assert_projection_is_the_fold(c).await;
        let in_store = matches!(
            st.location_kind,
            LocationKind::EmptyStore | LocationKind::FullStore
        );
        if let (Some(site), true) = (st.site_id, in_store) {
            assert!(
                s.stock_codes(site)
                    .await
                    .unwrap()
                    .contains(&(code(c), st.location_kind == LocationKind::FullStore)),
                "{c}"
            );
        }
        if let Some(holder) = &st.holder {
            assert!(
                s.held_by(holder.as_str()).await.unwrap().contains(&code(c)),
                "{c}"
            );
        }
    }
}

/// `for_each_event` visits exactly the events `list_events` would select — across pages, in
/// ledger order, each once — however many there are.
#[tokio::test]
async fn every_selected_event_is_visited_once_across_pages() {
    let (c1, c2) = ("1109000001", "1109000002");
    let w = world(&[c1, c2]).await;
    let n = 11_000i64;
    let mut expected = Vec::new();
    let events: Vec<Event> = (0..n)
        .map(|i| {
            let kind = if i % 2 == 0 { "store_in" } else { "store_out" };
            let t = t0() + Duration::seconds(i);
            if kind == "store_out" && (1_000..10_500).contains(&i) {
                expected.push(i);
            }
            event(kind, if i % 3 == 0 { c1 } else { c2 }, t, w.site)
        })
        .collect();
    for chunk in events.chunks(1_000) {
        w.append(chunk).await;
    }
    let filter = EventFilter {
        scope: Some(Scope(w.ent.path.clone())),
        kinds: vec!["store_out"],
        from: Some(t0() + Duration::seconds(1_000)),
        to: Some(t0() + Duration::seconds(10_500)),
        limit: 1,
        offset: 7,
        ..Default::default()
    };
    let mut seen = Vec::new();
    let visited = w
        .store
        .for_each_event(&filter, &mut |e| seen.push(e.ledger_index))
        .await
        .expect("visit");
    assert_eq!(visited as usize, expected.len());
    assert_eq!(seen, expected, "ledger order, each once");
    let (_, total) = w.store.list_events(&filter).await.expect("list");
    assert_eq!(total as usize, expected.len());
    // Outside the scope: nothing.
    let other = EventFilter {
        scope: Some(Scope("/elsewhere/".to_owned())),
        ..filter
    };
    let mut none = 0;
    w.store
        .for_each_event(&other, &mut |_| none += 1)
        .await
        .expect("visit");
    assert_eq!(none, 0);
}
