//! The authorisation matrix (issue 22 item 8; G1, G5): every route the application's router serves
//! × every role of the permission model and the anonymous caller × own, foreign and missing ids.
//!
//! The routes are read from the router itself (`cyltrace_server::web::router`, the same walk as
//! `tests/openapi.rs`): the API, `/PS`, the operations endpoints and every page, so a route is in
//! the matrix the day it is added — and the test fails until the rights table
//! (`authz_kit/rights.rs`) says who may use it and, for a new path parameter, `authz_kit::fill` says
//! what it names.
//!
//! The rules asserted, per route and caller:
//! - no answer is a 5xx;
//! - anonymous: `401` on `/api` (a problem), `401` with `State` 1 on `/PS`, a redirect to `/login`
//!   on a page — except the routes public by design (`Rights::Public`), which answer without a login;
//! - with the own side's ids, a role the table allows is neither refused (`401`/`403`, or a `/PS`
//!   refusal on a permission) nor sent to sign in; a role it does not allow is refused with `403`
//!   (`/PS`: `State` 1 naming the missing right). Writes carry an empty body: a body refused for
//!   its shape (`400`/`415`/`422`) before any object is looked up tells nothing either way, and
//!   counts as a refusal only when the answer for a missing id is the same — so authorisation
//!   must come first, or at least must not depend on the object;
//! - with the foreign side's ids (the other enterprise, under another prefecture): `403` or `404`,
//!   or exactly the answer a missing id gets (then nothing about the foreign object is revealed).
//!   That a foreign object answers `403` and a missing one `404` is the platform's rule (G1, as
//!   `tests/scope_and_audit.rs` asserts); what must not differ is anything beyond that status;
//! - no answer to anyone but the node admin (whose scope is everything), outside the public
//!   routes, holds any of the foreign side's marker strings (organisation name, cylinder code,
//!   customer name, phone and ID number, file hash, plate, waybill number, account name, address);
//!   and each marker does appear in some answer to the node admin, so none is a string the server
//!   never shows.
//!
//! Reads run first, then writes, then `/logout`; the callers of one route run at once. A `/PS`
//! refusal is `State` 1: one naming a right (`无权…`) is a refusal, any other a refusal of the data.
//! Runs on SQLite, and on PostgreSQL when `CYLTRACE_TEST_DATABASE_URL` is set.

mod authz_kit;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use authz_kit::rights::{RIGHTS, Rights, allowed_roles};
use authz_kit::{Side, fill, fixed, fixtures};
use cyltrace_domain::Role;
use cyltrace_server::web::pages::session::csrf_of;
use cyltrace_testkit::TestApp;
use cyltrace_testkit::reqwest::{self, Method, StatusCode, redirect};
use cyltrace_testkit::routes::{Route, routed};
use serde_json::Value;

/// The session cookie of a page (over plain HTTP, as the test server speaks: no `__Host-` prefix).
const SESSION_COOKIE: &str = "cyltrace_session";

/// Which kind of route: it decides how a caller is identified and how a refusal looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Area {
    Api,
    Ps,
    Page,
}

fn area(path: &str) -> Area {
    if path.starts_with("/api/") || matches!(path, "/healthz" | "/readyz" | "/metrics") {
        Area::Api
    } else if path.starts_with("/PS/") {
        Area::Ps
    } else {
        Area::Page
    }
}

/// Which ids fill the path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ids {
    Own,
    Foreign,
    Missing,
}

/// One answer, reduced to what the rules look at.
#[derive(Clone, Debug)]
struct Answer {
    status: u16,
    location: String,
    /// `State` of a `/PS` envelope.
    ps_state: Option<i64>,
    text: String,
}

impl Answer {
    fn brief(&self) -> String {
        let flat = self.text.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut t: String = flat.chars().take(200).collect();
        if !self.location.is_empty() {
            t = format!("-> {}", self.location);
        }
        format!("{} {t}", self.status)
    }
}

/// How a caller fared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Asked to sign in.
    Unauthenticated,
    /// Refused for want of a right (or scope).
    Refused,
    /// The body was refused for its shape.
    BodyRefused,
    /// Got through (an answer, a 404, a 409, …).
    Through,
}

fn verdict(area: Area, a: &Answer) -> Verdict {
    match (area, a.status) {
        (_, 401) => Verdict::Unauthenticated,
        (Area::Page, 302 | 303 | 307) if a.location.starts_with("/login") => {
            Verdict::Unauthenticated
        }
        (_, 403) => Verdict::Refused,
        (Area::Ps, 200) if a.ps_state == Some(1) => {
            if ps_permission_refusal(&a.text) {
                Verdict::Refused
            } else {
                Verdict::BodyRefused
            }
        }
        (_, 400 | 415 | 422) => Verdict::BodyRefused,
        _ => Verdict::Through,
    }
}

/// A `/PS` refusal for want of a right (the service's `403` carried in the envelope).
fn ps_permission_refusal(text: &str) -> bool {
    ["无权", "权限", "只有", "不在"]
        .iter()
        .any(|w| text.contains(w))
}

/// `path` with its parameters filled from `side`; `Err` names the unknown parameter.
fn concrete(path: &str, side: &Side, ghost: &Side) -> Result<String, String> {
    let segs: Vec<&str> = path.split('/').collect();
    let mut out = Vec::new();
    for (i, seg) in segs.iter().enumerate() {
        match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => {
                let before = if i > 0 { segs[i - 1] } else { "" };
                let v = fill(side, ghost, before, name)
                    .or_else(|| fixed(before, name).map(str::to_owned))
                    .ok_or_else(|| {
                        format!(
                            "{path}: the parameter {{{name}}} after {before:?} names nothing the \
                             matrix knows; add it to authz_kit::fill"
                        )
                    })?;
                out.push(v);
            }
            None => out.push((*seg).to_owned()),
        }
    }
    Ok(out.join("/"))
}

async fn call(
    client: &reqwest::Client,
    base: &str,
    method: &Method,
    path: &str,
    token: Option<&str>,
) -> Answer {
    let url = format!("{base}{path}");
    let write = method != Method::GET;
    let mut req = client.request(method.clone(), &url);
    match (area(path), token) {
        (Area::Api, Some(t)) => req = req.bearer_auth(t),
        (Area::Ps, Some(t)) => req = req.query(&[("ticket", t), ("token", t)]),
        (Area::Page, Some(t)) => {
            req = req.header("cookie", format!("{SESSION_COOKIE}={t}"));
        }
        (_, None) => {}
    }
    if write {
        req = match area(path) {
            Area::Page => {
                let csrf = token.map(csrf_of).unwrap_or_default();
                req.form(&[("_csrf", csrf)])
            }
            _ => req.header("content-type", "application/json").body("{}"),
        };
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let bytes = r.bytes().await.expect("body");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let ps_state = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["State"].as_i64());
    Answer {
        status,
        location,
        ps_state,
        text,
    }
}

/// Routes whose call ends the caller's session: run last.
const SESSION_ENDING: &[(&str, &str)] = &[("POST", "/logout")];

// G1, G5: the whole matrix.
#[tokio::test]
async fn every_route_refuses_whom_it_must_and_leaks_nothing_foreign() {
    let app = TestApp::spawn().await;
    let fx = Arc::new(fixtures(&app).await);

    // The routes: read from the router that serves them.
    let router = cyltrace_server::web::router(app.state.clone());
    let routes: BTreeSet<Route> = routed(&format!("{router:?}"));
    assert!(routes.len() > 100, "the route walk found {}", routes.len());

    // The table covers exactly the routes.
    let table: BTreeMap<(String, String), &Rights> = RIGHTS
        .iter()
        .map(|(r, rights)| {
            let (m, p) = r.split_once(' ').expect("\"METHOD /path\"");
            ((m.to_owned(), p.to_owned()), rights)
        })
        .collect();
    assert_eq!(table.len(), RIGHTS.len(), "a route twice in RIGHTS");
    let unlisted: Vec<_> = routes.iter().filter(|r| !table.contains_key(*r)).collect();
    let stale: Vec<_> = table.keys().filter(|r| !routes.contains(*r)).collect();
    let print = std::env::var("AUTHZ_PRINT").is_ok();
    assert!(
        print || (unlisted.is_empty() && stale.is_empty()),
        "routes without an entry in authz_kit/rights.rs RIGHTS (say who may use them): \
         {unlisted:#?}\nentries of RIGHTS no route has: {stale:#?}"
    );

    // The documented routes (`/api/v1`, `/PS`, operations: the OpenAPI document is generated
    // from exactly that router) are all walked, and the document's own word on who may call each
    // — an operation without a security requirement is public — agrees with the table.
    let doc = app.get_anon("/api/openapi.json").await.body;
    let mut doc_public = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            let route = (method.to_uppercase(), path.clone());
            if !cyltrace_testkit::routes::METHODS.contains(&method.as_str()) {
                continue;
            }
            assert!(
                routes.contains(&route),
                "documented but not walked: {route:?}"
            );
            let open = match op.get("security").or(doc.get("security")) {
                None => true,
                Some(Value::Array(reqs)) => {
                    reqs.is_empty()
                        || reqs
                            .iter()
                            .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
                }
                Some(_) => false,
            };
            let listed = matches!(table.get(&route), Some(Rights::Public));
            if open != listed && !print {
                doc_public.push(format!(
                    "{} {}: the document says {}, RIGHTS says {}",
                    route.0,
                    route.1,
                    if open { "public" } else { "signed in" },
                    if listed { "Public" } else { "not public" }
                ));
            }
        }
    }
    assert!(doc_public.is_empty(), "{doc_public:#?}");

    // Every parameter is known.
    let unknown: Vec<String> = routes
        .iter()
        .filter_map(|(_, p)| concrete(p, &fx.own, &fx.ghost).err())
        .collect();
    assert!(unknown.is_empty(), "{unknown:#?}");

    let client = reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .expect("client");
    // Reads first, then writes, then the calls that end a session.
    let mut ordered: Vec<&Route> = routes.iter().collect();
    ordered.sort_by_key(|(m, p)| {
        let ending = SESSION_ENDING.contains(&(m.as_str(), p.as_str()));
        (ending, m != "GET", (*m).clone(), (*p).clone())
    });

    let mut failures: Vec<String> = Vec::new();
    let mut observed: BTreeMap<Route, BTreeSet<&'static str>> = BTreeMap::new();
    let mut body_first = 0usize;
    let mut shown_to_admin: BTreeSet<String> = BTreeSet::new();
    let mut checked_writes_done = false;
    for (m, p) in ordered {
        let method: Method = m.parse().expect("method");
        if !checked_writes_done && SESSION_ENDING.contains(&(m.as_str(), p.as_str())) {
            // Nothing before the session-ending calls ended a session.
            for c in &fx.callers {
                if let Some(t) = &c.token {
                    assert_ne!(
                        app.get(t, "/api/v1/me").await.status,
                        StatusCode::UNAUTHORIZED,
                        "{}'s session ended before the session-ending routes",
                        c.label
                    );
                }
            }
            checked_writes_done = true;
        }
        let has_params = p.contains('{');
        let sides: &[Ids] = if has_params {
            &[Ids::Own, Ids::Foreign, Ids::Missing]
        } else {
            &[Ids::Own]
        };
        // All callers × sides of one route at once.
        let mut set = tokio::task::JoinSet::new();
        for (ci, c) in fx.callers.iter().enumerate() {
            for &ids in sides {
                let side = match ids {
                    Ids::Own => &fx.own,
                    Ids::Foreign => &fx.foreign,
                    Ids::Missing => &fx.ghost,
                };
                let path = concrete(p, side, &fx.ghost).expect("checked above");
                let (client, base, method, token) = (
                    client.clone(),
                    app.base.clone(),
                    method.clone(),
                    c.token.clone(),
                );
                set.spawn(async move {
                    let a = call(&client, &base, &method, &path, token.as_deref()).await;
                    (ci, ids, path, a)
                });
            }
        }
        let mut answers: BTreeMap<(usize, Ids), (String, Answer)> = BTreeMap::new();
        while let Some(r) = set.join_next().await {
            let (ci, ids, path, a) = r.expect("request task");
            answers.insert((ci, ids), (path, a));
        }
        if print {
            let mut line = format!("DETAIL {m} {p}:");
            for (ci, c) in fx.callers.iter().enumerate() {
                let st: Vec<String> = sides
                    .iter()
                    .map(|ids| {
                        let a = &answers[&(ci, *ids)].1;
                        match a.ps_state {
                            Some(s) if area(p) == Area::Ps => format!("{}s{s}", a.status),
                            _ => a.status.to_string(),
                        }
                    })
                    .collect();
                line += &format!(" {}={}", c.label, st.join("/"));
            }
            println!("{line}");
        }
        let rights = table.get(&(m.clone(), p.clone()));
        let ar = area(p);
        let route = format!("{m} {p}");
        for (ci, c) in fx.callers.iter().enumerate() {
            let (own_path, own) = &answers[&(ci, Ids::Own)];
            for &ids in sides {
                let (path, a) = &answers[&(ci, ids)];
                if a.status >= 500 {
                    failures.push(format!(
                        "{route} as {} ({ids:?}): {m} {path} answered {}",
                        c.label,
                        a.brief()
                    ));
                }
            }
            let public = matches!(rights, Some(Rights::Public));
            let v = verdict(ar, own);
            if v == Verdict::Through {
                observed
                    .entry((m.clone(), p.clone()))
                    .or_default()
                    .insert(c.label);
            }
            // Anonymous.
            let Some(role) = c.role else {
                if !public && v != Verdict::Unauthenticated && !print {
                    failures.push(format!(
                        "{route} answers the anonymous caller without a login: {m} {own_path} \
                         → {}",
                        own.brief()
                    ));
                }
                continue;
            };
            // A role, own ids.
            if let Some(rights) = rights {
                let may = allowed_roles(rights).contains(&role);
                let ok = match (may, v) {
                    // A public route may send anyone to sign in (`/logout` does).
                    (_, Verdict::Unauthenticated) => public,
                    (true, Verdict::Refused) => false,
                    (true, _) => true,
                    (false, Verdict::Refused) => true,
                    (false, Verdict::BodyRefused) => {
                        // Refused for the body's shape: only if a missing id gets the same.
                        let same =
                            !has_params || answers[&(ci, Ids::Missing)].1.status == own.status;
                        if same {
                            body_first += 1;
                        }
                        same
                    }
                    (false, Verdict::Through) => false,
                };
                if !ok && !print {
                    failures.push(format!(
                        "{route}: RIGHTS says {} {} but {m} {own_path} answered {}",
                        c.label,
                        if may { "may" } else { "may not" },
                        own.brief()
                    ));
                }
            }
            // A role, foreign ids.
            if has_params && !public && role != Role::NodeAdmin {
                let (fpath, f) = &answers[&(ci, Ids::Foreign)];
                let (_, g) = &answers[&(ci, Ids::Missing)];
                let hidden = matches!(f.status, 403 | 404)
                    || f.status == g.status && f.ps_state == g.ps_state;
                if !hidden {
                    failures.push(format!(
                        "{route} as {}: the foreign {m} {fpath} answered {} but a missing id {}",
                        c.label,
                        f.brief(),
                        g.brief()
                    ));
                }
            }
            // The node admin is shown every marker somewhere (so the markers are strings the
            // server does show, and their absence below means something).
            if role == Role::NodeAdmin {
                for &ids in sides {
                    let text = &answers[&(ci, ids)].1.text;
                    for mk in &fx.foreign_markers {
                        if text.contains(mk.as_str()) {
                            shown_to_admin.insert(mk.clone());
                        }
                    }
                }
            }
            // No foreign marker anywhere.
            if !public && role != Role::NodeAdmin {
                for &ids in sides {
                    let (path, a) = &answers[&(ci, ids)];
                    for mk in &fx.foreign_markers {
                        if a.text.contains(mk.as_str()) {
                            failures.push(format!(
                                "{route} as {} ({ids:?}): {m} {path} shows the foreign {mk:?}: {}",
                                c.label,
                                a.brief()
                            ));
                        }
                    }
                }
            }
        }
    }

    if print {
        print_table(&routes, &observed, &table);
    }
    let never: Vec<_> = fx
        .foreign_markers
        .iter()
        .filter(|m| !shown_to_admin.contains(*m))
        .collect();
    assert!(
        never.is_empty(),
        "foreign markers no answer to the node admin holds (the leak check would be blind to \
         them): {never:?}"
    );
    eprintln!(
        "authz matrix: {} routes × {} callers; {body_first} refusals of the body before the \
         role (the same for a missing id)",
        routes.len(),
        fx.callers.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures of the authorisation matrix:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `AUTHZ_PRINT=1`: the roles each route let through with the own side's ids, as table lines (for
/// a reviewer writing a new route's entry; never the source of the table's truth).
fn print_table(
    routes: &BTreeSet<Route>,
    observed: &BTreeMap<Route, BTreeSet<&'static str>>,
    table: &BTreeMap<(String, String), &Rights>,
) {
    for r in routes {
        let got = observed.get(r).cloned().unwrap_or_default();
        let listed = table
            .get(r)
            .map(|x| {
                allowed_roles(x)
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<BTreeSet<_>>()
            })
            .unwrap_or_default();
        let roles: BTreeSet<&str> = got.iter().copied().filter(|l| *l != "anonymous").collect();
        let mark = if listed == roles {
            ""
        } else {
            "  // ≠ table"
        };
        println!(
            "OBSERVED {} {} anon={} {:?}{mark}",
            r.0,
            r.1,
            got.contains("anonymous"),
            roles
        );
    }
}

/// A `/PS` POST with `data` as the body and `token` as the ticket.
async fn ps_post(app: &TestApp, token: &str, path: &str, data: &Value) -> Value {
    let r = app
        .client
        .post(app.url(path))
        .query(&[("ticket", token)])
        .json(data)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.json().await.expect("an envelope or a list")
}

// G1 (found by the matrix): a `/PS` call needs the right its `/api/v1` counterpart needs. Before,
// any account of an enterprise — a driver, a customer — opened inspection work orders
// (`CheckApply`), and a customer account, which reads nothing, listed the enterprise's vehicle
// cylinders and open spot checks and filed month counts (which raise regulator alarms).
#[tokio::test]
async fn ps_calls_need_the_right_of_their_api_counterpart() {
    #![allow(clippy::disallowed_methods)] // the month counted is this month
    let app = TestApp::spawn().await;
    let w = app.enterprise("psr").await;
    let station = app
        .create_org(
            &app.admin,
            serde_json::json!({"kind": "inspection_station", "name": "矩阵送检所",
                               "region_code": "530102", "parent_id": w.prefecture}),
        )
        .await;
    let driver = app
        .user_token(&app.admin, w.org, "psr_driver", &["driver"])
        .await;
    let customer = app
        .user_token(&app.admin, w.org, "psr_customer", &["customer"])
        .await;
    let refused =
        |v: &Value| v["State"] == 1 && v["Value"].as_str().is_some_and(|m| m.contains("无权"));

    // A work order: the driver is refused as by POST /api/v1/inspection-applications, the admin
    // opens it.
    let begin = serde_json::json!({"ThirdId": 601, "Station": {"Id": station.to_string(), "Name": "矩阵送检所"}});
    for token in [&driver, &customer] {
        let v = ps_post(&app, token, "/PS/CheckApply/BeginApply", &begin).await;
        assert!(refused(&v), "{v}");
    }
    let v = ps_post(&app, &w.admin, "/PS/CheckApply/BeginApply", &begin).await;
    assert_eq!(v["State"], 0, "{v}");
    let id: Value = serde_json::from_str(v["Value"].as_str().expect("Value")).expect("{Id}");
    let add = serde_json::json!({"ThirdId": 602, "Id": id["Id"], "Items": []});
    let v = ps_post(&app, &driver, "/PS/CheckApply/EndApply", &add).await;
    assert!(refused(&v), "{v}");

    // The customer reads nothing through /PS either.
    let now =
        chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("CST"));
    let count = serde_json::json!({"Year": chrono::Datelike::year(&now), "Month": chrono::Datelike::month(&now),
                                   "Count": 5, "Type": 2});
    for (path, data) in [
        ("/PS/CarBottle/List", serde_json::json!({})),
        ("/PS/BottleCheck/UnresponseList", serde_json::json!({})),
        ("/PS/GenericStatistics/BusinessCount", count.clone()),
    ] {
        let v = ps_post(&app, &customer, path, &data).await;
        assert!(refused(&v), "{path}: {v}");
    }
    // The driver (who reads) still may.
    assert!(
        ps_post(&app, &driver, "/PS/CarBottle/List", &serde_json::json!({}))
            .await
            .is_array()
    );
}
