//! The regulator console (E4–E9): the supervision views of UI.md for the regulator's region
//! subtree and a chosen period, complaints, messages to enterprises, safety articles, household
//! check items, and the self-refreshing big screen. Charts and the map are SVG drawn here.

use std::fmt::Write as _;

use askama::Template;
use axum::Router;
use axum::extract::{Extension, Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use cyltrace_domain::Role;
use cyltrace_domain::supervision::Granularity;
use cyltrace_domain::time::china_date;
use cyltrace_store::{BizFilter, BizRecord};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::console::{
    Block, Card, Cell, Chrome, Field, Filter, FormSpec, PageError, PageResult, Table, Viewer,
    day_start, error_page, jcell, local, ok, pe, render, se, this_month,
};
use crate::error::ApiError;
use crate::services::audit::RequestMeta;
use crate::services::supervision::{self as svc, ARTICLE, COMPLAINT, Listing, MESSAGE};
use crate::services::{self, circulation as circ};
use crate::state::AppState;

pub const NAV: [(&str, &str); 17] = [
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
    ("/bigscreen", "指挥大屏"),
];

/// The figures as JSON for other systems and the tests: `GET /api/v1/supervision?from&to` and
/// `GET /api/v1/supervision/statistics?g=month|quarter|year`.
pub fn api() -> Router<AppState> {
    Router::new()
        .route("/supervision", get(api_figures))
        .route("/supervision/statistics", get(api_statistics))
}

async fn api_figures(
    State(st): State<AppState>,
    p: crate::auth::Principal,
    Query(q): Query<PeriodQuery>,
) -> Result<axum::Json<svc::Supervision>, ApiError> {
    let (from, to) = api_period(&st, &q)?;
    Ok(axum::Json(svc::compute(&st, &p, from, to).await?))
}

fn api_period(st: &AppState, q: &PeriodQuery) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let (mf, mt) = this_month(st.now());
    let day = |s: &Option<String>, name: &str| -> Result<Option<NaiveDate>, ApiError> {
        match s.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| ApiError::invalid(name, "日期格式应为 YYYY-MM-DD")),
        }
    };
    // A period within the calendar this platform can have records for (and no date arithmetic
    // at the edges of chrono's range).
    let in_range = |d: Option<NaiveDate>, name: &str| match d {
        Some(d) if !(2000..=2100).contains(&chrono::Datelike::year(&d)) => {
            Err(ApiError::invalid(name, "日期应在 2000–2100 年之间"))
        }
        d => Ok(d),
    };
    let from = in_range(day(&q.from, "from")?, "from")?.map_or(mf, day_start);
    let to =
        in_range(day(&q.to, "to")?, "to")?.map_or(mt, |d| day_start(d + chrono::Duration::days(1)));
    if to <= from {
        return Err(ApiError::invalid("to", "结束日期应不早于开始日期"));
    }
    Ok((from, to))
}

async fn api_statistics(
    State(st): State<AppState>,
    p: crate::auth::Principal,
    Query(q): Query<StatsQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let g = match q.g.as_deref().filter(|s| !s.is_empty()) {
        None => Granularity::Month,
        Some(s) => Granularity::parse(s)
            .ok_or_else(|| ApiError::invalid("g", "应为 month、quarter 或 year"))?,
    };
    let n = q.n.unwrap_or(12).clamp(1, 60);
    Ok(axum::Json(
        json!({"buckets": svc::statistics(&st, &p, g, n).await?}),
    ))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/supervision", get(overview))
        .route("/supervision/map", get(map))
        .route("/supervision/inspection", get(inspection))
        .route("/supervision/scrap", get(scrap))
        .route("/supervision/abnormal", get(abnormal))
        .route("/supervision/recycling", get(recycling))
        .route("/supervision/progress", get(progress))
        .route("/supervision/overstock", get(overstock))
        .route("/supervision/statistics", get(statistics))
        .route("/supervision/enterprises", get(enterprises))
        .route("/supervision/complaints", get(complaints))
        .route("/supervision/complaints/{id}", post(answer_complaint))
        .route("/supervision/messages", get(messages).post(send_message))
        .route("/supervision/articles", get(articles).post(post_article))
        .route(
            "/supervision/check-items",
            get(check_items).post(save_check_items),
        )
        .route("/supervision/registrations", get(registrations))
        .route(
            "/supervision/registrations/{id}/{decision}",
            post(decide_registration),
        )
        .route("/supervision/spot-checks", get(spot_checks))
        .route("/bigscreen", get(bigscreen))
        .route("/console/messages", get(inbox))
        .route("/console/messages/{id}/ack", post(ack_message))
        .route("/articles", get(public_articles))
        .route("/articles/{id}", get(public_article))
        .route(
            "/q/{code}/complaint",
            get(complaint_form).post(submit_complaint),
        )
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
    st: &AppState,
    q: &PeriodQuery,
) -> Result<(DateTime<Utc>, DateTime<Utc>, String, String), PageError> {
    let (from, to) = api_period(st, q).map_err(error_page)?;
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
    let (from, to, f, t) = period(st, q)?;
    Ok((pe(svc::compute(st, &v.p, from, to).await)?, f, t))
}

fn summary_cards(s: &svc::Supervision) -> Vec<Card> {
    let abnormal = s.overdue_used.count
        + s.scrap_past.count
        + s.scrapped_scanned
        + s.illegal_labels
        + s.circulation_gaps;
    vec![
        Card::new("total", "在册钢瓶", s.total),
        Card::new("active", "在用钢瓶（正常且标签有效）", s.active).class("good"),
        Card::new(
            "in_use",
            "在用户处",
            s.in_use.iter().map(|u| u.cylinders).sum::<u64>(),
        )
        .link("/supervision/map"),
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
        Card::new("abnormal", "异常钢瓶事项", abnormal)
            .class("bad")
            .link("/supervision/abnormal"),
        Card::new(
            "recycling_rate",
            "回收率",
            pct(cyltrace_domain::supervision::recycling_rate(
                s.recycled,
                s.delivered,
            )),
        )
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

async fn overview(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<PeriodQuery>,
) -> PageResult {
    let (s, f, t) = figures(&st, &v, &q).await?;
    let mut page = v.page(&st, "监管总览", "/supervision").await;
    page.intro = format!("辖区内全部数据；统计期间 {f} 至 {t}（中国标准时间）。");
    page.filter = Some(period_filter("/supervision", &f, &t));
    page.cards = summary_cards(&s);
    page.blocks.push(Block::Svg(
        "钢瓶实时分布".to_owned(),
        map_svg(&s, 900, 420, false),
    ));
    page.blocks.push(Block::Table(enterprise_table(&s)));
    ok(page)
}

/// XML text escaping for the SVG we draw.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The distribution map: sites as points at their coordinates (size = cylinders held, colour =
/// kind), with the active cylinders per county listed beside.
pub fn map_svg(s: &svc::Supervision, w: u32, h: u32, dark: bool) -> String {
    let (bg, plot, fg, frame) = if dark {
        ("#102a4c", "#0b1a2e", "#e8f0fb", "#1f3f69")
    } else {
        ("#eef3f8", "#fff", "#1f2328", "#c8d1db")
    };
    let (w, h) = (f64::from(w), f64::from(h));
    let pad = 40.0;
    let legend_w = 260.0;
    let pts = &s.sites;
    let (mut lat0, mut lat1, mut lon0, mut lon1) = (90.0f64, -90.0f64, 180.0f64, -180.0f64);
    for p in pts {
        lat0 = lat0.min(p.lat);
        lat1 = lat1.max(p.lat);
        lon0 = lon0.min(p.lon);
        lon1 = lon1.max(p.lon);
    }
    // A margin of a tenth on every side, so that no point sits on the frame.
    let span_lat = (lat1 - lat0).max(0.01) * 1.25;
    let span_lon = (lon1 - lon0).max(0.01) * 1.25;
    lat0 -= span_lat * 0.1;
    lon0 -= span_lon * 0.1;
    let plot_w = w - legend_w - 2.0 * pad;
    let plot_h = h - 2.0 * pad;
    let mut out = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" aria-label="钢瓶实时分布图" font-family="sans-serif" font-size="13" fill="{fg}"><rect width="{w}" height="{h}" fill="{bg}"/><rect x="{pad}" y="{pad}" width="{plot_w}" height="{plot_h}" fill="{plot}" stroke="{frame}"/>"##
    );
    let max = pts.iter().map(|p| p.cylinders).max().unwrap_or(1).max(1) as f64;
    for p in pts {
        let x = pad + (p.lon - lon0) / span_lon * plot_w;
        let y = pad + plot_h - (p.lat - lat0) / span_lat * plot_h;
        let r = 5.0 + 18.0 * (p.cylinders as f64 / max).sqrt();
        let colour = match p.kind {
            cyltrace_domain::SiteKind::FillingStation => "#1a5fb4",
            cyltrace_domain::SiteKind::Warehouse => "#6d4aa8",
            cyltrace_domain::SiteKind::Store => "#1b7f3b",
            cyltrace_domain::SiteKind::DeliveryStation => "#b86e00",
        };
        let _ = write!(
            out,
            r##"<circle class="site" cx="{x:.1}" cy="{y:.1}" r="{r:.1}" fill="{colour}" fill-opacity=".55" stroke="{colour}"><title>{} · {} · {} · {} 只（重瓶 {}）</title></circle>"##,
            esc(&p.name),
            p.kind.label_zh(),
            esc(&p.org),
            p.cylinders,
            p.full,
        );
    }
    let lx = w - legend_w;
    let _ = write!(
        out,
        r##"<text x="{lx}" y="{}" font-weight="bold">在用钢瓶（按区县）</text>"##,
        pad + 4.0
    );
    let mut y = pad + 28.0;
    for (county, n) in &s.by_county {
        let _ = write!(
            out,
            r##"<text x="{lx}" y="{y}" class="county">{}：{n} 只</text>"##,
            esc(county)
        );
        y += 20.0;
    }
    y += 10.0;
    for (label, colour) in [
        ("充装站", "#1a5fb4"),
        ("仓库", "#6d4aa8"),
        ("供应站", "#1b7f3b"),
        ("配送站", "#b86e00"),
    ] {
        let _ = write!(
            out,
            r##"<circle cx="{}" cy="{}" r="6" fill="{colour}" fill-opacity=".55"/><text x="{}" y="{}">{label}</text>"##,
            lx + 6.0,
            y - 4.0,
            lx + 18.0,
            y
        );
        y += 20.0;
    }
    out.push_str("</svg>");
    out
}

/// Grouped bars: one group per label, one bar per series.
pub fn bar_chart(
    labels: &[String],
    series: &[(&str, &str, Vec<u64>)],
    w: u32,
    h: u32,
    dark: bool,
) -> String {
    let (bg, fg, grid) = if dark {
        ("#102a4c", "#e8f0fb", "#1f3f69")
    } else {
        ("#fff", "#1f2328", "#e7ebf0")
    };
    let (w, h) = (f64::from(w), f64::from(h));
    let (left, bottom, top) = (50.0, 40.0, 30.0);
    let plot_w = w - left - 10.0;
    let plot_h = h - bottom - top;
    // Four gridlines at whole numbers: the axis top is the next multiple of 4 × step.
    let top_value = series
        .iter()
        .flat_map(|s| s.2.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let step = top_value.div_ceil(4);
    let max = (step * 4) as f64;
    let mut out = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" aria-label="统计图" font-family="sans-serif" font-size="12" fill="{fg}"><rect width="{w}" height="{h}" fill="{bg}"/>"##
    );
    for i in 0..=4 {
        let v = max * f64::from(i) / 4.0;
        let y = top + plot_h - plot_h * f64::from(i) / 4.0;
        let _ = write!(
            out,
            r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="{grid}"/><text x="{}" y="{:.1}" text-anchor="end">{:.0}</text>"##,
            w - 10.0,
            left - 4.0,
            y + 4.0,
            v
        );
    }
    let groups = labels.len().max(1) as f64;
    let gw = plot_w / groups;
    let bw = (gw * 0.8) / series.len().max(1) as f64;
    for (gi, label) in labels.iter().enumerate() {
        let gx = left + gw * gi as f64 + gw * 0.1;
        for (si, (name, colour, values)) in series.iter().enumerate() {
            let v = values.get(gi).copied().unwrap_or(0) as f64;
            let bh = plot_h * v / max;
            let _ = write!(
                out,
                r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}" fill="{colour}"><title>{} {}：{v}</title></rect>"##,
                gx + bw * si as f64,
                top + plot_h - bh,
                bw.max(1.0) - 1.0,
                esc(label),
                esc(name)
            );
        }
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"##,
            gx + gw * 0.4,
            h - bottom + 16.0,
            esc(label)
        );
    }
    let mut lx = left;
    for (name, colour, _) in series {
        let _ = write!(
            out,
            r##"<rect x="{lx}" y="8" width="12" height="12" fill="{colour}"/><text x="{}" y="18">{}</text>"##,
            lx + 16.0,
            esc(name)
        );
        lx += 100.0;
    }
    out.push_str("</svg>");
    out
}

async fn map(State(st): State<AppState>, v: Viewer, Query(q): Query<PeriodQuery>) -> PageResult {
    let (s, _, _) = figures(&st, &v, &q).await?;
    let mut page = v.page(&st, "钢瓶实时分布", "/supervision/map").await;
    page.intro = "在用钢瓶（状态正常且标签有效）按其最后所在站点或用户所属区县汇总；站点按坐标绘制，圆点大小为当前在站钢瓶数。".to_owned();
    page.blocks.push(Block::Svg(
        "分布图".to_owned(),
        map_svg(&s, 1000, 520, false),
    ));
    let mut c = Table::new("by_county", "在用钢瓶（按区县）", &["区县", "钢瓶数"]);
    c.rows = s
        .by_county
        .iter()
        .map(|(k, n)| vec![Cell::text(k), Cell::num(n)])
        .collect();
    page.blocks.push(Block::Table(c));
    let mut u = Table::new(
        "in_use",
        "在用钢瓶分布表（位于用户处，按区县和企业）",
        &["区县", "企业", "钢瓶数"],
    );
    u.rows = s
        .in_use
        .iter()
        .map(|u| {
            vec![
                Cell::text(&u.county),
                Cell::text(&u.org),
                Cell::num(u.cylinders),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(u));
    let mut p = Table::new(
        "sites",
        "站点",
        &[
            "站点",
            "类型",
            "企业",
            "区县",
            "在站钢瓶",
            "其中重瓶",
            "纬度",
            "经度",
        ],
    );
    p.rows = s
        .sites
        .iter()
        .map(|x| {
            vec![
                Cell::text(&x.name),
                Cell::text(x.kind.label_zh()),
                Cell::text(&x.org),
                Cell::text(&x.county),
                Cell::num(x.cylinders),
                Cell::num(x.full),
                Cell::num(x.lat),
                Cell::num(x.lon),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(p));
    ok(page)
}

async fn inspection(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<PeriodQuery>,
) -> PageResult {
    let (s, _, _) = figures(&st, &v, &q).await?;
    let mut page = v.page(&st, "待检钢瓶", "/supervision/inspection").await;
    page.intro = format!(
        "在用钢瓶中下次检验日期在今后 {} 天内的为待检，早于今天（或未记录）的为超期未检。",
        s.inspection_days
    );
    page.cards = vec![
        Card::new("inspection_soon", "待检", s.inspection_soon.count).class("warn"),
        Card::new("inspection_overdue", "超期未检", s.inspection_overdue.count).class("bad"),
    ];
    page.blocks.push(Block::Table(lines_table(
        "soon",
        "待检钢瓶",
        "下次检验日期",
        &s.inspection_soon,
    )));
    page.blocks.push(Block::Table(lines_table(
        "overdue",
        "超期未检钢瓶",
        "下次检验日期",
        &s.inspection_overdue,
    )));
    ok(page)
}

async fn scrap(State(st): State<AppState>, v: Viewer, Query(q): Query<PeriodQuery>) -> PageResult {
    let (s, _, _) = figures(&st, &v, &q).await?;
    let mut page = v.page(&st, "待报废钢瓶", "/supervision/scrap").await;
    page.intro = format!(
        "在用钢瓶中报废日期（或制造日期加设计使用年限）在今后 {} 天内的为待报废，已过的单独列出。",
        s.scrap_days
    );
    page.cards = vec![
        Card::new("scrap_soon", "待报废", s.scrap_soon.count).class("warn"),
        Card::new("scrap_past", "超过报废期仍在用", s.scrap_past.count).class("bad"),
    ];
    page.blocks.push(Block::Table(lines_table(
        "soon",
        "待报废钢瓶",
        "报废日期",
        &s.scrap_soon,
    )));
    page.blocks.push(Block::Table(lines_table(
        "past",
        "超过报废期仍在用",
        "报废日期",
        &s.scrap_past,
    )));
    ok(page)
}

async fn abnormal(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<PeriodQuery>,
) -> PageResult {
    let (s, f, t) = figures(&st, &v, &q).await?;
    let mut page = v.page(&st, "异常钢瓶", "/supervision/abnormal").await;
    page.filter = Some(period_filter("/supervision/abnormal", &f, &t));
    page.cards = vec![
        Card::new("overdue_used", "超期仍在充装/流转", s.overdue_used.count).class("bad"),
        Card::new("scrap_past", "超过报废期仍在用", s.scrap_past.count).class("bad"),
        Card::new("scrapped_scanned", "报废瓶被扫码充装", s.scrapped_scanned).class("bad"),
        Card::new("illegal_labels", "非法标签", s.illegal_labels).class("bad"),
        Card::new("circulation_gaps", "流转断档（B1.9）", s.circulation_gaps).class("warn"),
    ];
    page.blocks.push(Block::Table(lines_table(
        "overdue_used",
        "本期超期仍被充装或扫码的钢瓶",
        "下次检验日期",
        &s.overdue_used,
    )));
    let mut e = Table::new(
        "per_enterprise",
        "各企业钢瓶状态",
        &["企业", "正常", "超期", "超年限", "报废"],
    );
    e.rows = s
        .enterprises
        .iter()
        .map(|x| {
            vec![
                Cell::text(&x.name),
                Cell::num(x.ok),
                Cell::num(x.overdue),
                Cell::num(x.expired),
                Cell::num(x.scrapped),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(e));
    ok(page)
}

async fn recycling(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<PeriodQuery>,
) -> PageResult {
    let (s, f, t) = figures(&st, &v, &q).await?;
    let mut page = v.page(&st, "钢瓶回收率", "/supervision/recycling").await;
    page.intro = "回收率 = 本期回收空瓶数 ÷ 本期配送交付数。".to_owned();
    page.filter = Some(period_filter("/supervision/recycling", &f, &t));
    page.cards = vec![
        Card::new("delivered", "本期配送", s.delivered),
        Card::new("recycled", "本期回收", s.recycled),
        Card::new(
            "recycling_rate",
            "回收率",
            pct(cyltrace_domain::supervision::recycling_rate(
                s.recycled,
                s.delivered,
            )),
        ),
    ];
    let mut e = Table::new(
        "recycling",
        "各企业回收率",
        &["企业", "配送", "回收", "回收率"],
    );
    e.rows = s
        .enterprises
        .iter()
        .map(|x| {
            vec![
                Cell::text(&x.name),
                Cell::num(x.delivered),
                Cell::num(x.recycled),
                Cell::text(pct(x.recycling_rate)),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(e));
    ok(page)
}

async fn progress(State(st): State<AppState>, v: Viewer) -> PageResult {
    regulator(&v)?;
    let rows = pe(circ::progress(&st, &v.p).await)?;
    let mut page = v
        .page(&st, "开户与实名制进度", "/supervision/progress")
        .await;
    let reg: i64 = rows.iter().filter_map(|r| r["registered"].as_i64()).sum();
    let ver: i64 = rows.iter().filter_map(|r| r["verified"].as_i64()).sum();
    let held: i64 = rows
        .iter()
        .filter_map(|r| r["held_without_real_name"].as_i64())
        .sum();
    page.cards = vec![
        Card::new("registered", "已开户用户", reg),
        Card::new("verified", "已实名", ver).class("good"),
        Card::new("held_unverified", "未实名用户持瓶", held).class("warn"),
    ];
    let mut t = Table::new(
        "progress",
        "各企业进度",
        &["企业", "已开户", "已实名", "未实名用户持瓶"],
    );
    t.rows = rows
        .iter()
        .map(|r| {
            vec![
                jcell(r, "org_name"),
                jcell(r, "registered"),
                jcell(r, "verified"),
                jcell(r, "held_without_real_name"),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    ok(page)
}

async fn overstock(State(st): State<AppState>, v: Viewer) -> PageResult {
    let (s, _, _) = figures(&st, &v, &PeriodQuery::default()).await?;
    let mut page = v
        .page(&st, "重瓶超量存放预警", "/supervision/overstock")
        .await;
    page.intro = format!(
        "供应站、仓库、配送站存放重瓶超过 {} 只，或单个用户持有重瓶超过 {} 只时预警（限值由平台管理员配置）。",
        st.config.site_full_limit, st.config.customer_full_limit
    );
    let mut t = Table::new(
        "overstock",
        &format!("预警 {} 处", s.overstock.len()),
        &["地点", "类型", "企业", "重瓶数", "限值"],
    );
    t.rows = s
        .overstock
        .iter()
        .map(|o| {
            vec![
                Cell::text(&o.place),
                Cell::text(o.kind),
                Cell::text(&o.org),
                Cell::num(o.full).class("bad"),
                Cell::num(o.limit),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    ok(page)
}

#[derive(Deserialize, Default)]
struct StatsQuery {
    g: Option<String>,
    n: Option<usize>,
}

async fn statistics(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<StatsQuery>,
) -> PageResult {
    regulator(&v)?;
    let g = match q.g.as_deref().filter(|s| !s.is_empty()) {
        None => Granularity::Month,
        Some(s) => Granularity::parse(s)
            .ok_or_else(|| error_page(ApiError::invalid("g", "应为 month、quarter 或 year")))?,
    };
    let n = match g {
        Granularity::Month => 12,
        Granularity::Quarter => 8,
        Granularity::Year => 5,
    };
    let buckets = pe(svc::statistics(&st, &v.p, g, n).await)?;
    let mut page = v.page(&st, "统计分析", "/supervision/statistics").await;
    page.intro = format!("按{}统计，最近 {n} 期（中国日历）。", g.label_zh());
    page.filter = Some(Filter {
        action: "/supervision/statistics".to_owned(),
        fields: vec![Field::new("g", "周期", g_str(g)).options(vec![
            ("month".to_owned(), "按月".to_owned()),
            ("quarter".to_owned(), "按季度".to_owned()),
            ("year".to_owned(), "按年".to_owned()),
        ])],
    });
    let labels: Vec<String> = buckets.iter().map(|b| b.label.clone()).collect();
    let col = |f: fn(&svc::Bucket) -> u64| buckets.iter().map(f).collect::<Vec<_>>();
    page.blocks.push(Block::Svg(
        "充装、配送与回收".to_owned(),
        bar_chart(
            &labels,
            &[
                ("充装", "#1a5fb4", col(|b| b.fills)),
                ("配送", "#1b7f3b", col(|b| b.delivered)),
                ("回收", "#b86e00", col(|b| b.recycled)),
            ],
            1000,
            320,
            false,
        ),
    ));
    page.blocks.push(Block::Svg(
        "拒绝充装、检查不合格与定期检验".to_owned(),
        bar_chart(
            &labels,
            &[
                ("拒绝充装", "#b3261e", col(|b| b.refusals)),
                ("检查不合格", "#b86e00", col(|b| b.checks_failed)),
                ("检验合格", "#1b7f3b", col(|b| b.inspections_passed)),
                ("检验判废", "#6d4aa8", col(|b| b.inspections_scrapped)),
            ],
            1000,
            320,
            false,
        ),
    ));
    let mut t = Table::new(
        "statistics",
        "明细",
        &[
            "期间",
            "充装",
            "拒绝充装",
            "按规则",
            "检查不合格",
            "配送",
            "回收",
            "检验合格",
            "检验判废",
        ],
    );
    t.rows = buckets
        .iter()
        .map(|b| {
            vec![
                Cell::text(&b.label),
                Cell::num(b.fills),
                Cell::num(b.refusals),
                Cell::text(if b.refusals_by_rule.is_empty() {
                    "—".to_owned()
                } else {
                    b.refusals_by_rule
                        .iter()
                        .map(|(r, n)| format!("{r}：{n}"))
                        .collect::<Vec<_>>()
                        .join("，")
                }),
                Cell::num(b.checks_failed),
                Cell::num(b.delivered),
                Cell::num(b.recycled),
                Cell::num(b.inspections_passed),
                Cell::num(b.inspections_scrapped),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    ok(page)
}

fn g_str(g: Granularity) -> &'static str {
    match g {
        Granularity::Month => "month",
        Granularity::Quarter => "quarter",
        Granularity::Year => "year",
    }
}

async fn enterprises(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<PeriodQuery>,
) -> PageResult {
    let (s, f, t) = figures(&st, &v, &q).await?;
    let mut page = v
        .page(&st, "企业概况与信用评价", "/supervision/enterprises")
        .await;
    page.filter = Some(period_filter("/supervision/enterprises", &f, &t));
    page.intro = "信用分 = 100 − Σ 权重 × 次数（本期）：拒充后仍充装、迟报（记录晚于发生 24 小时以上）、超期瓶充装、投诉属实；A ≥ 90，B ≥ 75，C ≥ 60，其余 D。各项权重由平台管理员配置。".to_owned();
    page.blocks.push(Block::Table(enterprise_table(&s)));
    let mut c = Table::new(
        "credit",
        "信用评价明细",
        &[
            "企业",
            "拒充后仍充装",
            "迟报",
            "超期瓶充装",
            "投诉属实",
            "信用分",
            "等级",
        ],
    );
    c.rows = s
        .enterprises
        .iter()
        .map(|e| {
            vec![
                Cell::text(&e.name),
                Cell::num(e.credit_counts.refusals_overridden),
                Cell::num(e.credit_counts.late_uploads),
                Cell::num(e.credit_counts.overdue_filled),
                Cell::num(e.credit_counts.complaints_upheld),
                Cell::num(format!("{:.0}", e.credit_score)),
                Cell::text(e.credit_grade),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(c));
    let mut l = Table::new(
        "licences",
        "许可证",
        &["企业", "许可证号", "有效期至", "状态"],
    );
    for e in &s.enterprises {
        for (no, until, valid) in &e.licences {
            l.rows.push(vec![
                Cell::text(&e.name),
                Cell::text(no),
                Cell::text(until),
                Cell::text(if *valid { "有效" } else { "已过期" }).class(if *valid {
                    "ok"
                } else {
                    "bad"
                }),
            ]);
        }
    }
    page.blocks.push(Block::Table(l));
    ok(page)
}

// ---------------------------------------------------------------------------------------------
// Complaints (E5, F3), messages (E6), articles (E7), check items (E8)

async fn list(
    st: &AppState,
    kind: &str,
    scope: Option<cyltrace_store::Scope>,
) -> Result<Vec<BizRecord>, PageError> {
    se(st
        .store
        .list_biz(&BizFilter {
            kind: kind.to_owned(),
            scope,
            limit: 500,
            ..Default::default()
        })
        .await)
}

fn text_of(r: &BizRecord, k: &str) -> String {
    r.body[k].as_str().unwrap_or("").to_owned()
}

fn complaint_state_zh(s: &str) -> &'static str {
    match s {
        "open" => "待处理",
        "upheld" => "属实",
        "rejected" => "不属实",
        _ => "—",
    }
}

async fn complaints(State(st): State<AppState>, v: Viewer) -> PageResult {
    regulator(&v)?;
    let rows = list(&st, COMPLAINT, Some(v.p.scope())).await?;
    let mut page = v.page(&st, "投诉建议", "/supervision/complaints").await;
    page.intro = "群众在气瓶二维码页面提交的投诉和建议（电话已脱敏）；核实后标记属实或不属实，属实的计入企业信用评价。".to_owned();
    let mut t = Table::new(
        "complaints",
        "",
        &["时间", "气瓶", "企业", "内容", "联系电话", "状态", "处理"],
    );
    for r in &rows {
        let org = se(st.store.get_org(r.org_id).await)?
            .map(|o| o.name)
            .unwrap_or_default();
        let mut row = vec![
            Cell::text(local(r.created_at)),
            Cell::text(text_of(r, "code")),
            Cell::text(org),
            Cell::text(text_of(r, "content")),
            Cell::text(
                cyltrace_domain::circulation::Phone::parse(&text_of(r, "phone"))
                    .map_or_else(|_| "—".to_owned(), |p| p.masked()),
            ),
            Cell::text(complaint_state_zh(&r.state)),
        ];
        row.push(if r.state == "open" {
            Cell::button(
                format!("/supervision/complaints/{}?verdict=upheld", r.id),
                "属实",
            )
        } else {
            Cell::text(text_of(r, "reply"))
        });
        t.rows.push(row);
        if r.state == "open" {
            t.rows.push(vec![
                Cell::text(""),
                Cell::text(""),
                Cell::text(""),
                Cell::text(""),
                Cell::text(""),
                Cell::text(""),
                Cell::button(
                    format!("/supervision/complaints/{}?verdict=rejected", r.id),
                    "不属实",
                ),
            ]);
        }
    }
    page.blocks.push(Block::Table(t));
    ok(page)
}

#[derive(Deserialize)]
struct VerdictQuery {
    verdict: String,
}

async fn answer_complaint(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<Uuid>,
    Query(q): Query<VerdictQuery>,
    Form(f): Form<super::console::CsrfOnly>,
) -> PageResult {
    v.check_csrf(f.csrf.as_deref())?;
    regulator(&v)?;
    if !matches!(q.verdict.as_str(), "upheld" | "rejected") {
        return Err(error_page(ApiError::invalid(
            "verdict",
            "应为 upheld 或 rejected",
        )));
    }
    let mut r = se(st.store.get_biz(COMPLAINT, id).await)?
        .ok_or_else(|| error_page(ApiError::NotFound("投诉不存在".to_owned())))?;
    if !v.p.sees(&r.org_path) {
        return Err(error_page(ApiError::Forbidden(
            "该投诉不在您的辖区内".to_owned(),
        )));
    }
    let expected = r.updated_at;
    r.state = q.verdict.clone();
    r.body["reply"] = json!(format!(
        "{}（{}）",
        complaint_state_zh(&q.verdict),
        local(st.now())
    ));
    r.updated_at = st.now();
    if !se(st.store.update_biz(&r, expected).await)? {
        return Err(error_page(ApiError::Conflict(
            "投诉已被他人处理，请刷新".to_owned(),
            vec![],
        )));
    }
    Ok(Redirect::to("/supervision/complaints").into_response())
}

async fn enterprise_options(st: &AppState, v: &Viewer) -> Result<Vec<(String, String)>, PageError> {
    Ok(pe(svc::orgs_in(st, &v.p.scope()).await)?
        .into_iter()
        .filter(|o| o.kind == cyltrace_domain::OrgKind::FillingEnterprise)
        .map(|o| (o.id.to_string(), o.name))
        .collect())
}

async fn messages(State(st): State<AppState>, v: Viewer) -> PageResult {
    regulator(&v)?;
    let rows = list(&st, MESSAGE, Some(v.p.scope())).await?;
    let mut page = v.page(&st, "通知消息", "/supervision/messages").await;
    let mut t = Table::new(
        "messages",
        "已发送",
        &["时间", "接收企业", "标题", "内容", "签收"],
    );
    for r in &rows {
        let org = se(st.store.get_org(r.org_id).await)?
            .map(|o| o.name)
            .unwrap_or_default();
        t.rows.push(vec![
            Cell::text(local(r.created_at)),
            Cell::text(org),
            Cell::text(text_of(r, "title")),
            Cell::text(text_of(r, "content")),
            Cell::text(if r.state == "acknowledged" {
                "已签收"
            } else {
                "未签收"
            }),
        ]);
    }
    page.blocks.push(Block::Form(FormSpec {
        title: "发送通知".to_owned(),
        action: "/supervision/messages".to_owned(),
        fields: vec![
            Field::new("org_id", "接收企业", "").options(enterprise_options(&st, &v).await?),
            Field::new("title", "标题", "").required(),
            Field::new("content", "内容", "")
                .kind("textarea")
                .required(),
        ],
        submit: "发送",
    }));
    page.blocks.push(Block::Table(t));
    ok(page)
}

#[derive(Deserialize)]
struct MessageForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    org_id: String,
    title: String,
    content: String,
}

fn required(name: &str, value: &str, max: usize) -> Result<String, PageError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(error_page(ApiError::invalid(name, "不能为空")));
    }
    if v.chars().count() > max {
        return Err(error_page(ApiError::invalid(
            name,
            format!("不能超过 {max} 个字"),
        )));
    }
    Ok(v.to_owned())
}

fn new_record(st: &AppState, kind: &str, org_id: Uuid, state: &str, body: Value) -> BizRecord {
    let now = st.now();
    BizRecord {
        id: Uuid::new_v4(),
        kind: kind.to_owned(),
        org_id,
        org_path: String::new(),
        key: None,
        ref_id: None,
        state: state.to_owned(),
        due: None,
        body,
        created_at: now,
        updated_at: now,
    }
}

async fn send_message(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<MessageForm>,
) -> PageResult {
    v.check_csrf(f.csrf.as_deref())?;
    regulator(&v)?;
    let org_id: Uuid = f
        .org_id
        .parse()
        .map_err(|_| error_page(ApiError::invalid("org_id", "请选择接收企业")))?;
    let org = se(st.store.get_org(org_id).await)?
        .ok_or_else(|| error_page(ApiError::invalid("org_id", "企业不存在")))?;
    if !v.p.sees(&org.path) {
        return Err(error_page(ApiError::Forbidden(
            "该企业不在您的辖区内".to_owned(),
        )));
    }
    let body = json!({
        "title": required("title", &f.title, 100)?, "content": required("content", &f.content, 5000)?,
        "from_org_id": v.p.org_id, "from_user": v.p.username,
    });
    se(st
        .store
        .insert_biz(&new_record(&st, MESSAGE, org_id, "sent", body))
        .await)?;
    Ok(Redirect::to("/supervision/messages").into_response())
}

/// The enterprise's inbox of regulator messages, with sign-off (签收).
async fn inbox(State(st): State<AppState>, v: Viewer) -> PageResult {
    v.require_role(&[Role::EnterpriseAdmin])?;
    let rows = list(&st, MESSAGE, Some(v.p.scope())).await?;
    let mut page = v.page(&st, "监管通知", "/console/messages").await;
    let mut t = Table::new("inbox", "", &["时间", "标题", "内容", "签收"]);
    t.rows = rows
        .iter()
        .map(|r| {
            vec![
                Cell::text(local(r.created_at)),
                Cell::text(text_of(r, "title")),
                Cell::text(text_of(r, "content")),
                if r.state == "acknowledged" {
                    Cell::text(format!("已签收 {}", text_of(r, "acknowledged_at")))
                } else {
                    Cell::button(format!("/console/messages/{}/ack", r.id), "签收")
                },
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    ok(page)
}

async fn ack_message(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<Uuid>,
    Form(f): Form<super::console::CsrfOnly>,
) -> PageResult {
    v.check_csrf(f.csrf.as_deref())?;
    v.require_role(&[Role::EnterpriseAdmin])?;
    let mut r = se(st.store.get_biz(MESSAGE, id).await)?
        .ok_or_else(|| error_page(ApiError::NotFound("通知不存在".to_owned())))?;
    if !v.p.sees(&r.org_path) {
        return Err(error_page(ApiError::Forbidden(
            "该通知不是发给本企业的".to_owned(),
        )));
    }
    if r.state != "acknowledged" {
        let expected = r.updated_at;
        r.state = "acknowledged".to_owned();
        r.body["acknowledged_at"] = json!(local(st.now()));
        r.body["acknowledged_by"] = json!(v.p.username);
        r.updated_at = st.now();
        se(st.store.update_biz(&r, expected).await)?;
    }
    Ok(Redirect::to("/console/messages").into_response())
}

async fn articles(State(st): State<AppState>, v: Viewer) -> PageResult {
    regulator(&v)?;
    let rows = list(&st, ARTICLE, Some(v.p.scope())).await?;
    let mut page = v.page(&st, "安全宣传", "/supervision/articles").await;
    page.intro = "发布的文章在公众页面 /articles 展示，并链接自每个气瓶二维码页面。".to_owned();
    page.blocks.push(Block::Form(FormSpec {
        title: "发布文章".to_owned(),
        action: "/supervision/articles".to_owned(),
        fields: vec![
            Field::new("title", "标题", "").required(),
            Field::new("content", "正文", "")
                .kind("textarea")
                .required(),
        ],
        submit: "发布",
    }));
    let mut t = Table::new("articles", "已发布", &["时间", "标题"]);
    t.rows = rows
        .iter()
        .map(|r| {
            vec![
                Cell::text(local(r.created_at)),
                Cell::link(text_of(r, "title"), format!("/articles/{}", r.id)),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    ok(page)
}

#[derive(Deserialize)]
struct ArticleForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    title: String,
    content: String,
}

async fn post_article(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<ArticleForm>,
) -> PageResult {
    v.check_csrf(f.csrf.as_deref())?;
    regulator(&v)?;
    let body = json!({"title": required("title", &f.title, 100)?, "content": required("content", &f.content, 20000)?});
    se(st
        .store
        .insert_biz(&new_record(&st, ARTICLE, v.p.org_id, "published", body))
        .await)?;
    Ok(Redirect::to("/supervision/articles").into_response())
}

#[derive(Template)]
#[template(path = "public.html")]
struct PublicPage {
    title: String,
    paragraphs: Vec<String>,
    links: Vec<(String, String)>,
    form: Option<ComplaintFormView>,
}

struct ComplaintFormView {
    action: String,
    csrf: String,
    error: String,
}

async fn public_articles(State(st): State<AppState>) -> PageResult {
    let rows = list(&st, ARTICLE, None).await?;
    Ok(render(
        StatusCode::OK,
        &PublicPage {
            title: "安全用气宣传".to_owned(),
            paragraphs: if rows.is_empty() {
                vec!["暂无文章".to_owned()]
            } else {
                vec![]
            },
            links: rows
                .iter()
                .map(|r| (format!("/articles/{}", r.id), text_of(r, "title")))
                .collect(),
            form: None,
        },
    ))
}

async fn public_article(State(st): State<AppState>, Path(id): Path<Uuid>) -> PageResult {
    let r = se(st.store.get_biz(ARTICLE, id).await)?
        .ok_or_else(|| error_page(ApiError::NotFound("文章不存在".to_owned())))?;
    Ok(render(
        StatusCode::OK,
        &PublicPage {
            title: text_of(&r, "title"),
            paragraphs: text_of(&r, "content").lines().map(str::to_owned).collect(),
            links: vec![("/articles".to_owned(), "全部文章".to_owned())],
            form: None,
        },
    ))
}

const COMPLAINT_COOKIE: &str = "cyltrace_complaint";

fn complaint_page(code: &str, error: &str) -> Response {
    let pre = hex::encode(rand::random::<[u8; 16]>());
    let mut resp = render(
        if error.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        },
        &PublicPage {
            title: format!("投诉举报 · 气瓶 {code}"),
            paragraphs: vec![
                "请描述问题（如漏气、无证充装、超期瓶仍在使用、缺斤短两等），监管部门将核实处理。"
                    .to_owned(),
            ],
            links: vec![(format!("/q/{code}"), "返回气瓶信息".to_owned())],
            form: Some(ComplaintFormView {
                action: format!("/q/{code}/complaint"),
                csrf: pre.clone(),
                error: error.to_owned(),
            }),
        },
    );
    let c = cookie::Cookie::build((COMPLAINT_COOKIE, pre))
        .path("/q/")
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .build();
    if let Ok(v) = axum::http::HeaderValue::from_str(&c.to_string()) {
        resp.headers_mut().append(axum::http::header::SET_COOKIE, v);
    }
    resp
}

async fn complaint_form(State(st): State<AppState>, Path(code): Path<String>) -> PageResult {
    let c = pe(services::parse_code(&code))?;
    se(st.store.get_cylinder(&c).await)?
        .ok_or_else(|| error_page(ApiError::NotFound("气瓶不存在".to_owned())))?;
    Ok(complaint_page(c.as_str(), ""))
}

#[derive(Deserialize)]
struct ComplaintForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    content: String,
    phone: Option<String>,
}

/// A complaint from the public (F3): recorded against the cylinder's enterprise for the regulator.
async fn submit_complaint(
    State(st): State<AppState>,
    headers: axum::http::HeaderMap,
    Path(code): Path<String>,
    Form(f): Form<ComplaintForm>,
) -> PageResult {
    let c = pe(services::parse_code(&code))?;
    let rec = se(st.store.get_cylinder(&c).await)?
        .ok_or_else(|| error_page(ApiError::NotFound("气瓶不存在".to_owned())))?;
    let pre = super::session::cookie_value(&headers, COMPLAINT_COOKIE);
    if pre.as_deref() != Some(f.csrf.as_str()) {
        return Ok(complaint_page(c.as_str(), "页面已过期，请重新填写"));
    }
    let content = f.content.trim();
    if content.chars().count() < 5 || content.chars().count() > 2000 {
        return Ok(complaint_page(c.as_str(), "内容应为 5–2000 个字"));
    }
    let phone = f.phone.unwrap_or_default().trim().to_owned();
    if !phone.is_empty() && cyltrace_domain::circulation::Phone::parse(&phone).is_err() {
        return Ok(complaint_page(c.as_str(), "联系电话格式不正确"));
    }
    let org = rec.archive.owner_org_id.unwrap_or(rec.org_id);
    let body = json!({"code": c.as_str(), "content": content, "phone": phone});
    se(st
        .store
        .insert_biz(&new_record(&st, COMPLAINT, org, "open", body))
        .await)?;
    Ok(render(
        StatusCode::CREATED,
        &PublicPage {
            title: "已收到您的投诉".to_owned(),
            paragraphs: vec!["感谢您的监督，监管部门将尽快核实处理。".to_owned()],
            links: vec![(format!("/q/{}", c.as_str()), "返回气瓶信息".to_owned())],
            form: None,
        },
    ))
}

async fn check_items(State(st): State<AppState>, v: Viewer) -> PageResult {
    regulator(&v)?;
    let items = pe(circ::check_items(&st).await)?;
    let mut page = v
        .page(&st, "入户安检项目维护", "/supervision/check-items")
        .await;
    page.intro = "配送员入户安检时逐项检查；不合格项自动生成整改任务，期限为整改天数。每行一项：代码|检查内容|整改天数|启用(是/否)。".to_owned();
    let mut t = Table::new(
        "check_items",
        "当前项目",
        &["代码", "检查内容", "整改天数", "启用"],
    );
    t.rows = items
        .iter()
        .map(|i| {
            vec![
                Cell::text(i.code.as_str()),
                Cell::text(i.text.as_str()),
                Cell::num(i.rectify_days),
                Cell::text(if i.active { "是" } else { "否" }),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    let text = items
        .iter()
        .map(|i| {
            format!(
                "{}|{}|{}|{}",
                i.code.as_str(),
                i.text.as_str(),
                i.rectify_days,
                if i.active { "是" } else { "否" }
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    if v.p
        .require(cyltrace_domain::access::Action::ConfigureCheckItems)
        .is_ok()
    {
        page.blocks.push(Block::Form(FormSpec {
            title: "修改项目".to_owned(),
            action: "/supervision/check-items".to_owned(),
            fields: vec![
                Field::new("items", "项目（每行一项）", text)
                    .kind("textarea")
                    .required(),
            ],
            submit: "保存",
        }));
    }
    ok(page)
}

#[derive(Deserialize)]
struct ItemsForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    items: String,
}

async fn save_check_items(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<ItemsForm>,
) -> PageResult {
    v.check_csrf(f.csrf.as_deref())?;
    let mut items = Vec::new();
    for (i, line) in f
        .items
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let parts: Vec<&str> = line.split('|').map(str::trim).collect();
        if parts.len() != 4 {
            return Err(error_page(ApiError::invalid(
                format!("items[{i}]"),
                "应为 代码|检查内容|整改天数|启用",
            )));
        }
        let days: Value = parts[2]
            .parse::<u32>()
            .map_or_else(|_| json!(parts[2]), |d| json!(d));
        items.push(json!({"code": parts[0], "text": parts[1], "rectify_days": days, "active": parts[3] != "否"}));
    }
    pe(circ::set_check_items(&st, &v.p, &json!({"items": items})).await)?;
    Ok(Redirect::to("/supervision/check-items").into_response())
}

// ---------------------------------------------------------------------------------------------
// Big screen (E9)

#[derive(Template)]
#[template(path = "bigscreen.html")]
struct BigScreen {
    chrome: Chrome,
    region: String,
    updated: String,
    cards: Vec<Card>,
    map: String,
    chart: String,
    enterprises: Vec<(String, String, u64, u64, String)>,
    alerts: Vec<String>,
}

async fn bigscreen(State(st): State<AppState>, v: Viewer) -> PageResult {
    let (s, _, _) = figures(&st, &v, &PeriodQuery::default()).await?;
    let buckets = pe(svc::statistics(&st, &v.p, Granularity::Month, 6).await)?;
    let labels: Vec<String> = buckets.iter().map(|b| b.label.clone()).collect();
    let mut chrome = v.chrome(&st, "指挥大屏", "/bigscreen").await;
    chrome.refresh = 60;
    let mut alerts = Vec::new();
    for l in s.overdue_used.items.iter().take(5) {
        alerts.push(format!("超期仍在流转：{}（{}）", l.code, l.org));
    }
    for o in s.overstock.iter().take(5) {
        alerts.push(format!(
            "重瓶超量：{} {} 只（限 {}）",
            o.place, o.full, o.limit
        ));
    }
    if s.illegal_labels > 0 {
        alerts.push(format!("本月非法标签 {} 次", s.illegal_labels));
    }
    let page = BigScreen {
        region: chrome.org.clone(),
        updated: local(st.now()),
        cards: summary_cards(&s),
        map: map_svg(&s, 900, 460, true),
        chart: bar_chart(
            &labels,
            &[
                ("充装", "#4d9bff", buckets.iter().map(|b| b.fills).collect()),
                (
                    "配送",
                    "#3ccf7a",
                    buckets.iter().map(|b| b.delivered).collect(),
                ),
                (
                    "回收",
                    "#ffb13d",
                    buckets.iter().map(|b| b.recycled).collect(),
                ),
            ],
            600,
            300,
            true,
        ),
        enterprises: s
            .enterprises
            .iter()
            .map(|e| {
                (
                    e.name.clone(),
                    e.credit_grade.to_string(),
                    e.cylinders,
                    e.fills,
                    pct(e.recycling_rate),
                )
            })
            .collect(),
        alerts,
        chrome,
    };
    regulator(&v)?;
    Ok(render(StatusCode::OK, &page))
}

// ---------------------------------------------------------------------------------------------
// Registration approvals and spot checks (the `/PS` documents, seen from the console)

fn doc_state_zh(s: &str) -> &'static str {
    match s {
        "pending" => "待审批",
        "approved" => "已通过",
        "rejected" => "已驳回",
        "open" => "待企业答复",
        "answered" => "已答复",
        "ended" => "已结束",
        _ => "—",
    }
}

async fn registrations(State(st): State<AppState>, v: Viewer) -> PageResult {
    regulator(&v)?;
    let page_all = cyltrace_store::Page {
        limit: 500,
        offset: 0,
    };
    let mut docs = pe(services::ps::list_docs(&st, &v.p, "apply_new", None, page_all).await)?;
    docs.extend(pe(services::ps::list_docs(
        &st,
        &v.p,
        "apply_old",
        None,
        page_all,
    )
    .await)?);
    docs.sort_by_key(|d| std::cmp::Reverse(d.created_at));
    let mut page = v
        .page(&st, "使用登记审批", "/supervision/registrations")
        .await;
    page.intro = "企业提交的新瓶 / 在用瓶使用登记申请；通过后为每只气瓶分配登记证编号并记入档案。"
        .to_owned();
    let mut t = Table::new(
        "registrations",
        "",
        &["申请时间", "申请单位", "类型", "气瓶数", "状态", "审批", ""],
    );
    for d in &docs {
        let org = se(st.store.get_org(d.org_id).await)?
            .map(|o| o.name)
            .unwrap_or_default();
        let n = d.body["Request"]["Items"].as_array().map_or(0, Vec::len);
        let pending = d.state == "pending";
        t.rows.push(vec![
            Cell::text(local(d.created_at)),
            Cell::text(org),
            Cell::text(if d.kind == "apply_new" {
                "新瓶登记"
            } else {
                "在用瓶登记"
            }),
            Cell::num(n),
            Cell::text(doc_state_zh(&d.state)),
            if pending {
                Cell::button(
                    format!("/supervision/registrations/{}/approve", d.id),
                    "通过",
                )
            } else {
                Cell::text("")
            },
            if pending {
                Cell::button(
                    format!("/supervision/registrations/{}/reject", d.id),
                    "驳回",
                )
            } else {
                Cell::text(d.body["Reason"].as_str().unwrap_or(""))
            },
        ]);
    }
    page.blocks.push(Block::Table(t));
    ok(page)
}

async fn decide_registration(
    State(st): State<AppState>,
    v: Viewer,
    Path((id, decision)): Path<(i64, String)>,
    Extension(meta): Extension<RequestMeta>,
    Form(f): Form<super::console::CsrfOnly>,
) -> PageResult {
    v.check_csrf(f.csrf.as_deref())?;
    regulator(&v)?;
    match decision.as_str() {
        "approve" => {
            let audit = super::audit_to(meta, StatusCode::SEE_OTHER)
                .note(format!("registration application {id} approved"));
            pe(services::ps::approve_registration(&st, &v.p, id, Some(&audit)).await)?;
            return Ok(super::audited(Redirect::to("/supervision/registrations")));
        }
        "reject" => {
            pe(
                services::ps::reject_registration(&st, &v.p, id, "资料不全，请补充后重新申请")
                    .await,
            )?
        }
        _ => return Err(error_page(ApiError::NotFound("未知的审批操作".to_owned()))),
    }
    Ok(Redirect::to("/supervision/registrations").into_response())
}

async fn spot_checks(State(st): State<AppState>, v: Viewer) -> PageResult {
    regulator(&v)?;
    let docs = pe(services::ps::list_docs(
        &st,
        &v.p,
        "spot_check",
        None,
        cyltrace_store::Page {
            limit: 500,
            offset: 0,
        },
    )
    .await)?;
    let mut page = v.page(&st, "抽查", "/supervision/spot-checks").await;
    page.intro =
        "向企业下达的气瓶抽查任务及企业答复（下达：POST /api/v1/ps/spot-checks）。".to_owned();
    let mut t = Table::new(
        "spot_checks",
        "",
        &["下达时间", "被抽查企业", "气瓶数", "说明", "状态"],
    );
    for d in &docs {
        let org = se(st.store.get_org(d.org_id).await)?
            .map(|o| o.name)
            .unwrap_or_default();
        t.rows.push(vec![
            Cell::text(local(d.created_at)),
            Cell::text(org),
            Cell::num(d.body["CheckCount"].as_u64().unwrap_or(0)),
            Cell::text(d.body["CheckComment"].as_str().unwrap_or("")),
            Cell::text(doc_state_zh(&d.state)),
        ]);
    }
    page.blocks.push(Block::Table(t));
    ok(page)
}
