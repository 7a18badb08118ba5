//! Issue 15: what one request writes commits in one transaction. The writer is made to fail at the
//! second write of a request (the audit row; the waybill a `load` moves), and neither the event nor
//! the second write is then stored; without the failure, both are.

mod common;

use chrono::{DateTime, Utc};
use cyltrace_domain::intake::{Actor, Naming};
use cyltrace_domain::{Archive, Event, NewSite, Role};
use cyltrace_store::{
    AuditFilter, AuditRecord, BizRecord, EventStore, FailPoint, Intake, Judge, LedgerStore,
    NewCylinder, OrgRecord, Store, WriteRequest,
};
use serde_json::{Value, json};
use uuid::Uuid;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T08:00:00+08:00")
        .expect("time")
        .to_utc()
}

const CODE: &str = "1103007831";
const PLATE: &str = "云A12345";
const WAYBILL: &str = "YD202611210001";

/// An enterprise with a warehouse and one cylinder; answers the enterprise and the site.
async fn world(s: &dyn Store) -> (OrgRecord, Uuid) {
    let id = Uuid::new_v4();
    let ent = OrgRecord {
        id,
        kind: serde_json::from_value(json!("filling_enterprise")).expect("kind"),
        name: "昆明燃气".to_owned(),
        region_code: serde_json::from_value(json!("530102")).expect("region"),
        parent_id: None,
        credit_code: None,
        licences: vec![],
        phone: None,
        address: None,
        path: OrgRecord::child_path(None, id),
        created_at: t0(),
    };
    s.insert_org(&ent).await.expect("org");
    let site = Uuid::new_v4();
    let new_site: NewSite =
        serde_json::from_value(json!({"org_id": id, "kind": "warehouse", "name": "一号仓库"}))
            .expect("site");
    s.insert_site(site, &new_site, t0()).await.expect("site");
    let archive: Archive = serde_json::from_value(
        json!({"code": CODE, "next_check_date": "2028-01-01", "discard_date": "2030-01-01"}),
    )
    .expect("archive");
    s.insert_cylinders(
        &[NewCylinder {
            archive,
            org_id: id,
        }],
        t0(),
    )
    .await
    .expect("cylinder");
    (ent, site)
}

fn actor(ent: &OrgRecord) -> Actor {
    Actor {
        user_id: Some(Uuid::new_v4()),
        org_id: ent.id,
        org_path: ent.path.clone(),
        sees_all: false,
        roles: vec![Role::EnterpriseAdmin],
    }
}

fn event(kind: &str, site: Option<Uuid>, data: Value) -> Event {
    Event::parse(
        &json!({"id": Uuid::new_v4(), "kind": kind, "codes": [CODE], "time": t0().to_rfc3339(),
                "site_id": site, "data": data}),
        "",
    )
    .expect("event")
}

fn audit_row(ent: &OrgRecord) -> AuditRecord {
    AuditRecord {
        id: 0,
        at: t0(),
        user_id: None,
        username: Some("admin".to_owned()),
        org_id: Some(ent.id),
        org_path: Some(ent.path.clone()),
        method: "POST".to_owned(),
        path: "/api/v1/events".to_owned(),
        status: 201,
        ip: None,
        detail: Some("1 events".to_owned()),
    }
}

fn request(ent: &OrgRecord, e: &Event, audit: bool) -> WriteRequest {
    WriteRequest {
        intake: Some(Intake {
            events: vec![e.clone()],
            recorded_at: t0(),
            judge: Judge::Judged {
                actor: actor(ent),
                naming: Naming::Events,
                order: None,
                max_age: None,
            },
        }),
        audit: audit.then(|| audit_row(ent)),
        ..Default::default()
    }
}

async fn audit_rows(s: &dyn Store) -> i64 {
    let f = AuditFilter {
        limit: 10,
        ..Default::default()
    };
    s.list_audit(&f).await.expect("audit").1
}

async fn event_count(s: &dyn Store) -> u64 {
    let code = cyltrace_domain::CylinderCode::parse(CODE).expect("code");
    let c = s
        .get_cylinder(&code)
        .await
        .expect("read")
        .expect("cylinder");
    c.status.event_count
}

#[tokio::test]
async fn an_event_and_its_audit_row_commit_together_or_not_at_all() {
    let (s, _g) = common::sql_store(&Default::default()).await;
    let (ent, site) = world(s.as_ref()).await;
    let e = event("store_in", Some(site), json!({"full": false}));

    s.fail_at(Some(FailPoint::Audit));
    let failed = s.write(request(&ent, &e, true)).await;
    assert!(failed.is_err(), "{failed:?}");
    assert_eq!(s.get_event(e.id).await.expect("read"), None);
    assert_eq!(audit_rows(s.as_ref()).await, 0);
    assert_eq!(s.ledger_size().await.expect("size"), 0);
    assert_eq!(event_count(s.as_ref()).await, 0);

    s.fail_at(None);
    let written = s.write(request(&ent, &e, true)).await.expect("write");
    assert!(written.appended[0].new);
    assert!(s.get_event(e.id).await.expect("read").is_some());
    assert_eq!(audit_rows(s.as_ref()).await, 1);
    assert_eq!(event_count(s.as_ref()).await, 1);
}

/// A vehicle with a valid permit, its driver and a waybill for it, as the services record them.
async fn transport(s: &dyn Store, ent: &OrgRecord, site: Uuid) {
    let record = |kind: &str, key: Option<&str>, ref_id: Option<Uuid>, body: Value| BizRecord {
        id: Uuid::new_v4(),
        kind: kind.to_owned(),
        org_id: ent.id,
        org_path: String::new(),
        key: key.map(str::to_owned),
        ref_id,
        state: "active".to_owned(),
        due: None,
        body,
        created_at: t0(),
        updated_at: t0(),
    };
    let vehicle = record(
        "vehicle",
        Some(PLATE),
        None,
        json!({"vehicle": {"plate": PLATE, "vehicle_type": "危险品运输车", "permit_no": "滇交运 530100001",
                           "permit_valid_until": "2030-01-01"}}),
    );
    let certificate = json!({"role": "driver", "name": "李师傅", "certificate_no": "530100198001011234",
                             "certificate_valid_until": "2030-01-01"});
    let driver = record(
        "staff",
        Some("driver:x"),
        None,
        json!({"certificate": certificate, "phone": "13812345678", "id_masked": "530102********1234",
               "id_sealed": {"iv": "00", "c": "00"}}),
    );
    let mut waybill = record(
        "waybill",
        Some(WAYBILL),
        Some(vehicle.id),
        json!({"number": WAYBILL, "plate": PLATE, "driver": certificate, "loaded": [], "unloaded": [],
               "waybill": {"origin_site_id": site, "destination": "呈贡区经销点", "vehicle_id": vehicle.id,
                           "driver_id": driver.id, "depart_at": t0()}}),
    );
    waybill.state = "created".to_owned();
    for r in [&vehicle, &driver, &waybill] {
        s.insert_biz(r).await.expect("record");
    }
}

async fn waybill(s: &dyn Store) -> (String, Value) {
    let w = s
        .biz_by_key("waybill", WAYBILL)
        .await
        .expect("read")
        .expect("waybill");
    (w.state, w.body["loaded"].clone())
}

#[tokio::test]
async fn a_load_and_its_waybill_commit_together_or_not_at_all() {
    // C2: a load under a waybill notes the cylinder on the waybill.
    let (s, _g) = common::sql_store(&Default::default()).await;
    let (ent, site) = world(s.as_ref()).await;
    transport(s.as_ref(), &ent, site).await;
    let e = event("load", None, json!({"vehicle": PLATE, "waybill": WAYBILL}));

    s.fail_at(Some(FailPoint::RecordUpdate));
    let failed = s.write(request(&ent, &e, false)).await;
    assert!(failed.is_err(), "{failed:?}");
    assert_eq!(s.get_event(e.id).await.expect("read"), None);
    assert_eq!(waybill(s.as_ref()).await, ("created".to_owned(), json!([])));
    assert_eq!(event_count(s.as_ref()).await, 0);

    s.fail_at(None);
    s.write(request(&ent, &e, false)).await.expect("write");
    assert!(s.get_event(e.id).await.expect("read").is_some());
    assert_eq!(
        waybill(s.as_ref()).await,
        ("in_transit".to_owned(), json!([CODE]))
    );
}
