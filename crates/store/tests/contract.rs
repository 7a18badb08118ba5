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
    AppendContext, Appended, AuditFilter, AuditRecord, Durability, NewCylinder, OrgRecord, Page,
    Scope, SiteRecord, Store, StoreError, UserRecord, refold,
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
    let (store, guard) = store().await;
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
        .insert_audit(
            &AuditRecord {
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
            },
            Durability::Committed,
        )
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
        s.insert_audit(r, Durability::Committed).await.unwrap();
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
