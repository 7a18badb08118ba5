//! Server-rendered HTML pages (Chinese, askama templates, auto-escaped; our own stylesheet and small
//! scripts, no external assets): the page kit (`kit.rs`) and SVG charts (`charts.rs`), sign-in and the
//! session cookie (`session.rs`), one's own account security (`account.rs`), the enterprise and
//! inspector console (`console/`), the regulator console (`supervision/`), the handheld app
//! (`handheld.rs`) and the public page behind every label (`public_label.rs`). Pages call the
//! services only, like the API.

use axum::Router;
use axum::extract::Extension;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use cyltrace_domain::Role;

use crate::auth::Principal;
use crate::state::AppState;
use session::home_of;

pub mod account;
pub mod charts;
pub mod console;
pub mod handheld;
pub mod kit;
pub mod photos;
pub mod public_label;
pub mod session;
pub mod supervision;

const SITE_CSS: &str = include_str!("../../../assets/site.css");

/// The pages behind a session (sign-in, the consoles, the handheld app) and the public pages reached
/// from a label's page; they pass through the session and audit layers.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .route("/assets/site.css", get(css))
        .merge(session::router())
        .merge(account::router())
        .merge(console::router())
        .merge(supervision::router())
        .merge(handheld::router())
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SITE_CSS,
    )
        .into_response()
}

async fn root(p: Option<Extension<Principal>>) -> Response {
    match p {
        Some(Extension(p)) => Redirect::to(home_of(&p)).into_response(),
        None => Redirect::to("/login").into_response(),
    }
}

/// The menu of each role (UI.md "Who sees what").
fn nav_for(p: &Principal) -> Vec<(&'static str, &'static str)> {
    let has = |r| p.roles.contains(&r);
    let mut nav = Vec::new();
    // Until the account is in order (a temporary password, a required second factor) there is
    // nowhere else to go.
    if p.restriction.is_some() {
        return nav;
    }
    if has(Role::NodeAdmin) || has(Role::Regulator) {
        nav.extend(supervision::NAV);
    }
    if has(Role::NodeAdmin) {
        nav.extend([
            ("/admin/node", "节点与存证"),
            ("/admin/audit", "审计日志"),
            ("/admin/orgs", "组织机构"),
            ("/admin/users", "用户管理"),
        ]);
    }
    if has(Role::EnterpriseAdmin) {
        nav.extend(console::ENTERPRISE_NAV);
    }
    if has(Role::Inspector) {
        nav.push(("/inspection", "检验工作台"));
    }
    if p.roles.iter().any(|r| {
        matches!(
            r,
            Role::Filler | Role::Checker | Role::Warehouse | Role::Driver | Role::Courier
        )
    }) || has(Role::EnterpriseAdmin)
    {
        nav.push(("/app/", "手持终端"));
    }
    if !has(Role::EnterpriseAdmin)
        && p.roles.iter().any(|r| {
            matches!(
                r,
                Role::Filler | Role::Checker | Role::Warehouse | Role::Driver | Role::Courier
            )
        })
    {
        nav.push(("/messages", "通知消息"));
    }
    nav
}
