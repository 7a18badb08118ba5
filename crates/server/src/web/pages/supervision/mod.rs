//! The regulator console (E4–E9, `/supervision/…`): the supervision views of UI.md for the
//! regulator's region subtree and a chosen period (`figures.rs`, `lists.rs`, `statistics.rs`,
//! `enterprises.rs`), complaints with their photos and answers (`complaints.rs`), messages to
//! enterprises and their staff, articles and household check items (`notices.rs`), the public pages
//! reached from a label — complaint, complaint code, order gas (`public.rs`, `public_order.rs`) —
//! the self-refreshing big screen (`bigscreen.rs`),
//! registration approvals and spot checks (`registrations.rs`), and entrusted filling permissions
//! and cylinder locks (`permissions.rs`).

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use cyltrace_domain::Role;
use cyltrace_domain::time::china_date;
use serde::Deserialize;

use crate::services::supervision::{self as svc, Listing};
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::pages::kit::{Card, Cell, Field, Filter, PageError, Table, error_page, pe};
use crate::web::pages::photos;

mod bigscreen;
mod complaints;
mod enterprises;
mod figures;
mod lists;
mod notices;
mod permissions;
mod public;
mod public_order;
mod registrations;
mod statistics;

pub(crate) use complaints::thumbnails;
pub(crate) use registrations::ps_time;

pub const NAV: [(&str, &str); 18] = [
    ("/supervision", "监管总览"),
    ("/supervision/map", "钢瓶分布"),
    ("/supervision/inspection", "待检钢瓶"),
    ("/supervision/scrap", "待报废钢瓶"),
    ("/supervision/abnormal", "异常钢瓶"),
    ("/supervision/recycling", "回收率"),
    ("/supervision/progress", "开户实名进度"),
    ("/supervision/overstock", "重瓶超量预警"),
    ("/supervision/statistics", "统计分析"),
    ("/supervision/enterprises", "企业概况与信用"),
    ("/supervision/complaints", "投诉建议"),
    ("/supervision/messages", "通知消息"),
    ("/supervision/articles", "安全宣传"),
    ("/supervision/check-items", "安检项维护"),
    ("/supervision/registrations", "使用登记审批"),
    ("/supervision/spot-checks", "抽查"),
    ("/supervision/permissions", "委托充装与停用"),
    ("/bigscreen", "指挥大屏"),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/supervision", get(figures::overview))
        .route("/supervision/map", get(figures::map))
        .route("/supervision/inspection", get(lists::inspection))
        .route("/supervision/scrap", get(lists::scrap))
        .route("/supervision/abnormal", get(lists::abnormal))
        .route("/supervision/recycling", get(lists::recycling))
        .route("/supervision/progress", get(lists::progress))
        .route("/supervision/overstock", get(lists::overstock))
        .route("/supervision/statistics", get(statistics::statistics))
        .route("/supervision/enterprises", get(enterprises::enterprises))
        .route("/supervision/complaints", get(complaints::complaints))
        .route(
            "/supervision/complaints/{id}",
            get(complaints::complaint).post(complaints::answer_complaint),
        )
        .route(
            "/supervision/complaints/{id}/photos/{n}",
            get(complaints::complaint_photo),
        )
        .route(
            "/supervision/messages",
            get(notices::messages).post(notices::send_message),
        )
        .route(
            "/supervision/articles",
            get(notices::articles).post(notices::post_article),
        )
        .route(
            "/supervision/check-items",
            get(notices::check_items).post(notices::save_check_items),
        )
        .route(
            "/supervision/registrations",
            get(registrations::registrations),
        )
        .route(
            "/supervision/registrations/{id}/{decision}",
            post(registrations::decide_registration),
        )
        .route("/supervision/spot-checks", get(registrations::spot_checks))
        .route(
            "/supervision/spot-checks/{id}/photos/{n}",
            get(registrations::spot_check_photo),
        )
        .route(
            "/supervision/permissions",
            get(permissions::page).post(permissions::grant),
        )
        .route(
            "/supervision/permissions/{id}/revoke",
            post(permissions::revoke),
        )
        .route(
            "/supervision/permissions/cylinder-state",
            post(permissions::cylinder_state),
        )
        .route("/bigscreen", get(bigscreen::bigscreen))
        .route("/console/messages", get(notices::inbox))
        .route("/console/messages/{id}/ack", post(notices::ack_message))
        .route("/articles", get(public::public_articles))
        .route("/articles/{id}", get(public::public_article))
        .route(
            "/q/{code}/complaint",
            get(public::complaint_form)
                .post(public::submit_complaint)
                .layer(DefaultBodyLimit::max(photos::BODY_LIMIT)),
        )
        .route(
            "/q/{code}/order",
            get(public_order::order_form).post(public_order::submit_order),
        )
        .route("/complaint", get(public::lookup_form).post(public::lookup))
        .route("/complaint/{code}", get(public::complaint_status))
        .route("/messages", get(notices::staff_messages))
}

fn regulator(v: &Viewer) -> Result<(), PageError> {
    v.require_role(&[Role::Regulator, Role::NodeAdmin])
}

#[derive(Deserialize, Default)]
struct PeriodQuery {
    from: Option<String>,
    to: Option<String>,
}

/// The chosen period `[from, to]` (China calendar days, `to` inclusive); default this month.
fn period(
    now: DateTime<Utc>,
    q: &PeriodQuery,
) -> Result<(DateTime<Utc>, DateTime<Utc>, String, String), PageError> {
    let (from, to) = svc::period(now, q.from.as_deref(), q.to.as_deref()).map_err(error_page)?;
    let f = china_date(from).to_string();
    let t = china_date(to - chrono::Duration::seconds(1)).to_string();
    Ok((from, to, f, t))
}

fn period_filter(action: &str, f: &str, t: &str) -> Filter {
    Filter {
        action: action.to_owned(),
        fields: vec![
            Field::new("from", "开始日期", f).kind("date"),
            Field::new("to", "结束日期", t).kind("date"),
        ],
    }
}

fn pct(r: Option<f64>) -> String {
    r.map_or("—".to_owned(), |r| format!("{:.1}%", r * 100.0))
}

fn lines_table(id: &str, title: &str, date_head: &str, list: &Listing) -> Table {
    let lines = &list.items;
    let shown = if list.count as usize > lines.len() {
        format!("，列出前 {} 只", lines.len())
    } else {
        String::new()
    };
    let mut t = Table::new(
        id,
        &format!("{title}（{} 只{shown}）", list.count),
        &["气瓶编码", "产权单位", date_head, "位置/操作"],
    );
    t.rows = lines
        .iter()
        .take(1000)
        .map(|l| {
            vec![
                Cell::link(&l.code, format!("/console/cylinders/{}", l.code)),
                Cell::text(&l.org),
                Cell::text(l.date.map_or("—".to_owned(), |d| d.to_string())),
                Cell::text(l.location),
            ]
        })
        .collect();
    t
}

async fn figures(
    st: &AppState,
    v: &Viewer,
    q: &PeriodQuery,
) -> Result<(svc::Supervision, String, String), PageError> {
    regulator(v)?;
    let (from, to, f, t) = period(st.now(), q)?;
    Ok((pe(svc::compute(st, &v.p, from, to).await)?, f, t))
}

fn summary_cards(s: &svc::Supervision) -> Vec<Card> {
    vec![
        Card::new("total", "在册钢瓶", s.total),
        Card::new("active", "在用钢瓶（正常且标签有效）", s.active).class("good"),
        Card::new("in_use", "在用户处", s.in_use_total()).link("/supervision/map"),
        Card::new(
            "inspection_soon",
            &format!("{} 天内待检", s.inspection_days),
            s.inspection_soon.count,
        )
        .class("warn")
        .link("/supervision/inspection"),
        Card::new("inspection_overdue", "超期未检", s.inspection_overdue.count)
            .class("bad")
            .link("/supervision/inspection"),
        Card::new(
            "scrap_soon",
            &format!("{} 天内待报废", s.scrap_days),
            s.scrap_soon.count,
        )
        .class("warn")
        .link("/supervision/scrap"),
        Card::new("scrap_past", "超过报废期仍在用", s.scrap_past.count)
            .class("bad")
            .link("/supervision/scrap"),
        Card::new("abnormal", "异常钢瓶事项", s.abnormal())
            .class("bad")
            .link("/supervision/abnormal"),
        Card::new("recycling_rate", "回收率", pct(s.recycling_rate()))
            .link("/supervision/recycling"),
        Card::new("overstock", "重瓶超量存放", s.overstock.len())
            .class(if s.overstock.is_empty() {
                "good"
            } else {
                "bad"
            })
            .link("/supervision/overstock"),
        Card::new("enterprises", "充装单位", s.enterprises.len()).link("/supervision/enterprises"),
    ]
}

fn enterprise_table(s: &svc::Supervision) -> Table {
    let mut t = Table::new(
        "enterprises",
        "企业概况",
        &[
            "企业",
            "区县",
            "在册",
            "正常",
            "超期",
            "超年限",
            "报废",
            "本期充装",
            "拒充",
            "非法标签",
            "平均上报延迟",
            "信用",
        ],
    );
    t.rows = s
        .enterprises
        .iter()
        .map(|e| {
            vec![
                Cell::text(&e.name),
                Cell::text(&e.county),
                Cell::num(e.cylinders),
                Cell::num(e.ok),
                Cell::num(e.overdue).class(if e.overdue > 0 { "warn" } else { "num" }),
                Cell::num(e.expired),
                Cell::num(e.scrapped),
                Cell::num(e.fills),
                Cell::num(e.refusals),
                Cell::num(e.illegal_labels),
                Cell::text(e.avg_upload_delay_secs.map_or("—".to_owned(), delay)),
                Cell::text(format!("{}（{:.0} 分）", e.credit_grade, e.credit_score)),
            ]
        })
        .collect();
    t
}

fn delay(secs: i64) -> String {
    if secs < 60 {
        format!("{secs} 秒")
    } else if secs < 3600 {
        format!("{} 分钟", secs / 60)
    } else {
        format!("{:.1} 小时", secs as f64 / 3600.0)
    }
}
