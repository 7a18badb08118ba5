//! The supervision overview (监管总览) and the distribution map (钢瓶分布).

use axum::extract::{Query, State};

use super::{PeriodQuery, enterprise_table, figures, period_filter, summary_cards};
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::pages::charts::map_svg;
use crate::web::pages::kit::{Block, Card, Cell, PageResult, Table, ok};

pub(super) async fn overview(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<PeriodQuery>,
) -> PageResult {
    let (s, f, t) = figures(&st, &v, &q).await?;
    let mut page = v.page(&st, "监管总览", "/supervision").await;
    page.intro = format!("辖区内全部数据；统计期间 {f} 至 {t}（中国标准时间）。");
    page.filter = Some(period_filter("/supervision", &f, &t));
    page.cards = summary_cards(&s);
    let d = s.devices;
    page.cards.push(
        Card::new("leak_alarms", "未处理的燃气泄漏报警", d.leak_alarms_open).class(
            if d.leak_alarms_open > 0 {
                "bad"
            } else {
                "good"
            },
        ),
    );
    page.cards.push(
        Card::new(
            "station_devices_offline",
            &format!("站点设备离线（共 {} 台）", d.station_devices),
            d.station_offline,
        )
        .class(if d.station_offline > 0 {
            "warn"
        } else {
            "good"
        }),
    );
    page.blocks.push(Block::Svg(
        "钢瓶实时分布".to_owned(),
        map_svg(&s, 900, 420, false),
    ));
    page.blocks.push(Block::Table(enterprise_table(&s)));
    ok(page)
}

pub(super) async fn map(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<PeriodQuery>,
) -> PageResult {
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
