//! Fixtures of the authorisation matrix (`tests/authz_matrix.rs`): one principal per role, all on
//! the "own" side, and two enterprises — own (A, under prefecture X) and foreign (B, under
//! prefecture Y, both under one province) — each with a cylinder, an event, sites, a customer, a
//! file, a vehicle, a waybill, an order, a batch and a spare user, created through the API as a
//! client would. Path parameters are filled by name from them.
// Tests stand at real time (the events are posted minutes ago).
#![allow(clippy::disallowed_methods)]

pub mod rights;

use chrono::{Duration, SecondsFormat, Utc};
use cyltrace_domain::Role;
use cyltrace_testkit::{PASSWORD, Resp, TestApp, World, archive, enterprise_body, event};
use serde_json::json;
use uuid::Uuid;

/// Who calls: a role (one role per account) or nobody.
pub struct Caller {
    pub label: &'static str,
    pub role: Option<Role>,
    pub token: Option<String>,
}

/// The objects of one side (own or foreign), by the kind a path parameter names.
#[derive(Clone, Debug, Default)]
pub struct Side {
    pub org: String,
    pub station: String,
    pub warehouse: String,
    pub cylinder: String,
    pub event: String,
    pub ledger_index: String,
    pub customer: String,
    pub file: String,
    pub vehicle: String,
    pub waybill: String,
    pub order: String,
    pub batch: String,
    pub user: String,
}

pub struct Fixtures {
    pub callers: Vec<Caller>,
    pub own: Side,
    pub foreign: Side,
    /// Objects nobody has, of the same shapes.
    pub ghost: Side,
    /// Strings only the foreign side's objects hold: none may appear in an answer to an own-side
    /// caller outside the public routes.
    pub foreign_markers: Vec<String>,
}

const OWN_CODE: &str = "1103061001";
const FOREIGN_CODE: &str = "2203062002";

fn ago(minutes: i64) -> String {
    (Utc::now() - Duration::minutes(minutes))
        .to_rfc3339_opts(SecondsFormat::Secs, true)
        .replace('Z', "+00:00")
}

#[track_caller]
fn id_of(r: &Resp) -> String {
    r.body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {}", r.text))
        .to_owned()
}

/// Everything on one side: the objects and the markers that name them.
async fn side(app: &TestApp, w: &World, tag: &str, code: &str, seed: &str) -> (Side, Vec<String>) {
    app.post_cylinders(&w.admin, vec![archive(code, w.org)])
        .await
        .expect(201);
    let ev = event(
        "pre_fill_check",
        &[code],
        &ago(30),
        Some(w.station),
        cyltrace_testkit::sample_data("pre_fill_check"),
    );
    let event_id = ev["id"].as_str().expect("id").to_owned();
    let r = app.post_events(&w.filler, vec![ev]).await.expect(201);
    let ledger_index = r.body["accepted"][0]["ledger_index"]
        .as_i64()
        .expect("ledger index")
        .to_string();

    let customer_name = format!("{tag}客户");
    let phone = format!("1390000{seed}");
    let id_number = cyltrace_testkit::id_number(&format!("5301021985061{seed}"));
    let r = app
        .post(
            &w.admin,
            "/api/v1/customers",
            &json!({"kind": "residential", "name": customer_name, "id_number": id_number,
                    "phone": phone, "addresses": [{"address": format!("{tag}路1号"), "label": "家"}]}),
        )
        .await
        .expect(201);
    let customer = id_of(&r);

    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend_from_slice(tag.as_bytes());
    let r = app
        .post_raw(&w.admin, "/api/v1/files", bytes)
        .await
        .expect(201);
    let file = r.body["hash"].as_str().expect("hash").to_owned();

    let plate = format!("云{}{seed}8", if tag.ends_with('甲') { "A" } else { "C" });
    let waybill_no = format!("YD{seed}{}", if tag.ends_with('甲') { "" } else { "9" });
    let waybill = app.transport(w, &plate, &waybill_no).await.to_string();
    let vehicles = app.get(&w.admin, "/api/v1/vehicles").await.expect(200);
    let vehicle = vehicles.body["items"][0]["id"]
        .as_str()
        .expect("the vehicle")
        .to_owned();

    let r = app
        .post(
            &w.admin,
            "/api/v1/orders",
            &json!({"customer_id": customer, "items": [{"medium": "LPG", "spec": "YSP15", "quantity": 1}],
                    "requested_at": ago(5)}),
        )
        .await
        .expect(201);
    let order = id_of(&r);

    let r = app
        .post(
            &w.admin,
            "/api/v1/batches",
            &json!({"number": format!("PC{seed}")}),
        )
        .await
        .expect(201);
    let batch = id_of(&r);

    let spare = format!("{}_spare", w_tag(tag));
    let r = app
        .post(
            &w.admin,
            "/api/v1/users",
            &json!({"username": spare, "password": PASSWORD, "name": format!("{tag}备用"),
                    "org_id": w.org, "roles": ["filler"]}),
        )
        .await
        .expect(201);
    let user = id_of(&r);

    let org = app
        .get(&w.admin, &format!("/api/v1/orgs/{}", w.org))
        .await
        .expect(200);
    let org_name = org.body["name"].as_str().expect("org name").to_owned();

    let markers = vec![
        org_name,
        code.to_owned(),
        customer_name,
        phone,
        id_number,
        file.clone(),
        plate,
        waybill_no,
        spare,
        format!("{tag}路1号"),
    ];
    (
        Side {
            org: w.org.to_string(),
            station: w.station.to_string(),
            warehouse: w.warehouse.to_string(),
            cylinder: code.to_owned(),
            event: event_id,
            ledger_index,
            customer,
            file,
            vehicle,
            waybill,
            order,
            batch,
            user,
        },
        markers,
    )
}

/// The ASCII tag of an account name.
fn w_tag(tag: &str) -> &'static str {
    if tag.ends_with('甲') { "azj" } else { "azy" }
}

pub async fn fixtures(app: &TestApp) -> Fixtures {
    let province = app
        .create_org(
            &app.admin,
            json!({"kind": "regulator", "name": "矩阵省局", "region_code": "530000"}),
        )
        .await;
    let x = app
        .create_org(&app.admin, json!({"kind": "regulator", "name": "矩阵甲市局", "region_code": "530100", "parent_id": province}))
        .await;
    let y = app
        .create_org(&app.admin, json!({"kind": "regulator", "name": "矩阵乙市局", "region_code": "530300", "parent_id": province}))
        .await;
    let a = app
        .enterprise_from("azj", province, enterprise_body("矩阵甲燃气", x))
        .await;
    let mut b_body = enterprise_body("矩阵乙燃气", y);
    b_body["region_code"] = json!("530302");
    let b = app.enterprise_from("azy", province, b_body).await;

    let (own, _) = side(app, &a, "矩阵甲", OWN_CODE, "1101").await;
    let (foreign, foreign_markers) = side(app, &b, "矩阵乙", FOREIGN_CODE, "2202").await;

    let station = app
        .create_org(
            &app.admin,
            json!({"kind": "inspection_station", "name": "矩阵检验所", "region_code": "530102",
                   "parent_id": x}),
        )
        .await;
    let mut callers = vec![
        Caller {
            label: "anonymous",
            role: None,
            token: None,
        },
        Caller {
            label: "node_admin",
            role: Some(Role::NodeAdmin),
            token: Some(app.admin.clone()),
        },
        Caller {
            label: "regulator",
            role: Some(Role::Regulator),
            token: Some(
                app.user_token(&app.admin, x, "azx_regulator", &["regulator"])
                    .await,
            ),
        },
        Caller {
            label: "inspector",
            role: Some(Role::Inspector),
            token: Some(
                app.user_token(&app.admin, station, "azs_inspector", &["inspector"])
                    .await,
            ),
        },
        Caller {
            label: "enterprise_admin",
            role: Some(Role::EnterpriseAdmin),
            token: Some(a.admin.clone()),
        },
        Caller {
            label: "filler",
            role: Some(Role::Filler),
            token: Some(a.filler.clone()),
        },
    ];
    for role in [
        Role::Checker,
        Role::Warehouse,
        Role::Driver,
        Role::Courier,
        Role::Customer,
        Role::Platform,
    ] {
        let name = role.as_str();
        let token = app
            .user_token(&app.admin, a.org, &format!("azj_{name}"), &[name])
            .await;
        callers.push(Caller {
            label: name,
            role: Some(role),
            token: Some(token),
        });
    }
    // Every role of the permission model has its caller.
    for role in Role::ALL {
        assert!(
            callers.iter().any(|c| c.role == Some(role)),
            "the matrix has no caller of role {role:?}: add one"
        );
    }

    let ghost = Side {
        org: Uuid::new_v4().to_string(),
        station: Uuid::new_v4().to_string(),
        warehouse: Uuid::new_v4().to_string(),
        cylinder: "9903069999".to_owned(),
        event: Uuid::new_v4().to_string(),
        ledger_index: "999999".to_owned(),
        customer: Uuid::new_v4().to_string(),
        file: "0".repeat(64),
        vehicle: Uuid::new_v4().to_string(),
        waybill: Uuid::new_v4().to_string(),
        order: Uuid::new_v4().to_string(),
        batch: Uuid::new_v4().to_string(),
        user: Uuid::new_v4().to_string(),
    };
    Fixtures {
        callers,
        own,
        foreign,
        ghost,
        foreign_markers,
    }
}

/// What a path parameter names, from the literal segment before it and its name. `None` for a
/// parameter the table does not know: the matrix fails naming the route, so that a new route with
/// a new parameter gets its fixture here.
pub fn fill(side: &Side, _ghost: &Side, before: &str, name: &str) -> Option<String> {
    let v = match (before, name) {
        ("orgs" | "org", "id") => &side.org,
        ("sites", "id") => &side.station,
        ("stock", "site_id") => &side.warehouse,
        ("users", "id") | ("staff", "id") | ("accounts", "user_id") => &side.user,
        ("cylinders" | "labels" | "q" | "vehicle-cylinders", "code") => &side.cylinder,
        ("events", "id") => &side.event,
        ("entries", "index") => &side.ledger_index,
        ("customers", "id") => &side.customer,
        ("files", "hash") => &side.file,
        ("vehicles", "id") => &side.vehicle,
        ("waybills", "id") => &side.waybill,
        ("orders", "id") => &side.order,
        ("batches", "id") => &side.batch,
        ("services", "service") => return Some("stop".to_owned()),
        ("up", "kind") => return Some("heartbeat".to_owned()),
        // Kinds the matrix has no fixture of yet: a well-formed id nobody has, the same for both
        // sides (so every caller gets the answer for a missing object).
        (kind, "id") if GHOSTED.contains(&kind) => return Some(ghost_uuid(kind)),
        (kind, "id") if NUMBERED.contains(&kind) => return Some("987654".to_owned()),
        _ => return None,
    };
    Some(v.clone())
}

/// The kinds (the segment before `{id}`) filled with an id nobody has.
const GHOSTED: &[&str] = &[
    "alarm-rules",
    "alarms",
    "articles",
    "device-alarms",
    "complaints",
    "devices",
    "filling-permissions",
    "imports",
    "label-blocks",
    "messages",
    "notify-channels",
    "order-requests",
    "permissions",
    "rectifications",
    "recycling-orders",
];

/// The kinds whose ids are numbers, filled with a number nobody has.
const NUMBERED: &[&str] = &["applications", "registrations", "spot-checks"];

/// A fixed, well-formed id nobody has, per kind (stable across the three sides).
fn ghost_uuid(kind: &str) -> String {
    let mut h: u128 = 0xcbf2_9ce4_8422_2325;
    for b in kind.bytes() {
        h = (h ^ u128::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    Uuid::from_u128(h).to_string()
}

/// The value of a parameter everybody passes the same (an action name, a public query): `None`
/// when unknown.
pub fn fixed(before: &str, name: &str) -> Option<&'static str> {
    Some(match (before, name) {
        ("scan", "action") => "dispatch",
        ("photos", "n") => "0",
        ("{id}", "decision") => "approve",
        ("{id}", "state") => "rejected",
        ("app", "file") => "app.js",
        ("complaint", "code") => "TS20261204000",
        _ => return None,
    })
}
