//! Charts drawn on the server as SVG (our own markup; every text inside is escaped here): the
//! distribution map of the regulator's sites and counties, and grouped bar charts.

use std::fmt::Write as _;

use crate::services::supervision as svc;

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
