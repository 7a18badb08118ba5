//! The regulator's supervision figures (E4, E5; UI.md "Supervision views — definitions"), gathered
//! from the archives, events and filling-control decisions of the regulator's region subtree. The
//! rules are decided in `cyltrace_domain::supervision`; this module only reads and counts.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use cyltrace_domain::event::Conclusion;
use cyltrace_domain::supervision::{
    self as sv, CreditCounts, CreditWeights, Due, Granularity, LATE_UPLOAD_HOURS,
};
use cyltrace_domain::time::china_date;
use cyltrace_domain::{Date, EventData, EventKind, LocationKind, OrgKind, SiteKind, Verdict};
use cyltrace_store::{
    BizFilter, CylinderRecord, DecisionFilter, EventFilter, OrgRecord, Page, Scope, SiteRecord,
    StoredEvent,
};
use serde::Serialize;
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::ApiResult;
use crate::state::AppState;

pub const COMPLAINT: &str = "complaint";
pub const MESSAGE: &str = "message";
pub const ARTICLE: &str = "article";

const CHUNK: i64 = 2_000;

/// Calls `f` for every archive in `scope`, reading them in keyset pages.
pub async fn each_cylinder(
    st: &AppState,
    scope: &Scope,
    mut f: impl FnMut(&CylinderRecord),
) -> ApiResult<()> {
    let mut after = None;
    loop {
        let page = st
            .store
            .list_cylinders_after(scope, after.as_ref(), CHUNK)
            .await?;
        for c in &page {
            f(c);
        }
        match page.last() {
            Some(c) if page.len() as i64 == CHUNK => after = Some(c.archive.code.clone()),
            _ => return Ok(()),
        }
    }
}

/// Visits every event in `scope` whose time is in `[from, to)`, a page at a time.
pub async fn each_event(
    st: &AppState,
    scope: &Scope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    each: &mut (dyn FnMut(StoredEvent) + Send),
) -> ApiResult<u64> {
    Ok(st
        .store
        .for_each_event(
            &EventFilter {
                scope: Some(scope.clone()),
                from: Some(from),
                to: Some(to),
                ..Default::default()
            },
            each,
        )
        .await?)
}

/// How many cylinders a list holds, and the first of them (a page shows at most [`Listing::MAX`]).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Listing {
    pub count: u64,
    pub items: Vec<CylinderLine>,
}

impl Listing {
    pub const MAX: usize = 1_000;

    fn push(&mut self, line: CylinderLine) {
        self.count += 1;
        if self.items.len() < Self::MAX {
            self.items.push(line);
        }
    }
}

/// The names of the counties (区县) of Kunming, for tables and the map; other codes show as codes.
pub fn county_name(code: &str) -> String {
    let name = match code {
        "530102" => "五华区",
        "530103" => "盘龙区",
        "530111" => "官渡区",
        "530112" => "西山区",
        "530113" => "东川区",
        "530114" => "呈贡区",
        "530115" => "晋宁区",
        "530124" => "富民县",
        "530125" => "宜良县",
        "530126" => "石林县",
        "530127" => "嵩明县",
        "530128" => "禄劝县",
        "530129" => "寻甸县",
        "530181" => "安宁市",
        "530100" => "昆明市",
        "530000" => "云南省",
        _ => "",
    };
    if name.is_empty() {
        code.to_owned()
    } else {
        format!("{name}（{code}）")
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CylinderLine {
    pub code: String,
    pub org: String,
    pub date: Option<Date>,
    pub location: &'static str,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct EnterpriseRow {
    pub org_id: Uuid,
    pub name: String,
    pub county: String,
    pub licences: Vec<(String, String, bool)>,
    pub cylinders: u64,
    pub ok: u64,
    pub overdue: u64,
    pub expired: u64,
    pub scrapped: u64,
    pub at_customers: u64,
    pub fills: u64,
    pub delivered: u64,
    pub recycled: u64,
    pub recycling_rate: Option<f64>,
    pub refusals: u64,
    pub illegal_labels: u64,
    pub avg_upload_delay_secs: Option<i64>,
    pub credit_counts: CreditCounts,
    pub credit_score: f64,
    pub credit_grade: char,
}

#[derive(Debug, Clone, Serialize)]
pub struct InUse {
    pub county: String,
    pub org: String,
    pub cylinders: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SitePoint {
    pub name: String,
    pub kind: SiteKind,
    pub org: String,
    pub county: String,
    pub lat: f64,
    pub lon: f64,
    pub cylinders: u64,
    pub full: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Overstock {
    pub place: String,
    pub kind: &'static str,
    pub org: String,
    pub full: u64,
    pub limit: u64,
}

/// Everything the supervision pages show, for one region subtree and period.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Supervision {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub today: Option<Date>,
    pub inspection_days: u32,
    pub scrap_days: u32,
    pub total: u64,
    pub active: u64,
    /// Active cylinders per county (distribution map) and of them at customers (in-use table).
    pub by_county: BTreeMap<String, u64>,
    pub in_use: Vec<InUse>,
    pub sites: Vec<SitePoint>,
    pub inspection_soon: Listing,
    pub inspection_overdue: Listing,
    pub scrap_soon: Listing,
    pub scrap_past: Listing,
    /// Abnormal (异常钢瓶).
    pub overdue_used: Listing,
    pub scrapped_scanned: u64,
    pub illegal_labels: u64,
    pub circulation_gaps: u64,
    pub enterprises: Vec<EnterpriseRow>,
    pub overstock: Vec<Overstock>,
    pub delivered: u64,
    pub recycled: u64,
    /// The stations' equipment offline and leak alarms not dealt with (issue 18).
    pub devices: super::devices::registry::DeviceFigures,
}

impl Supervision {
    /// The abnormal-cylinder matters of the period (异常钢瓶事项): overdue cylinders still used,
    /// cylinders used past their discard date, scrapped ones scanned, illegal labels, circulation gaps.
    pub fn abnormal(&self) -> u64 {
        self.overdue_used.count
            + self.scrap_past.count
            + self.scrapped_scanned
            + self.illegal_labels
            + self.circulation_gaps
    }

    /// Active cylinders at customers, over all counties and enterprises.
    pub fn in_use_total(&self) -> u64 {
        self.in_use.iter().map(|u| u.cylinders).sum()
    }

    /// Cylinders recycled ÷ delivered in the period (none when nothing was delivered).
    pub fn recycling_rate(&self) -> Option<f64> {
        sv::recycling_rate(self.recycled, self.delivered)
    }
}

/// Kinds that put a cylinder to use (an overdue cylinder must not have them; sending it for
/// inspection, the result and scrapping are what should happen to it).
fn is_use(kind: EventKind) -> bool {
    !matches!(
        kind,
        EventKind::InspectionSend
            | EventKind::InspectionResult
            | EventKind::Scrap
            | EventKind::Register
            | EventKind::TagBind
    )
}

pub async fn orgs_in(st: &AppState, scope: &Scope) -> ApiResult<Vec<OrgRecord>> {
    Ok(st
        .store
        .list_orgs(
            scope,
            Page {
                limit: 10_000,
                offset: 0,
            },
        )
        .await?)
}

pub async fn compute(
    st: &AppState,
    p: &Principal,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ApiResult<Supervision> {
    p.require(cyltrace_domain::access::Action::Read)?;
    let scope = p.scope();
    let now = st.now();
    let today = Date(china_date(now));
    let cfg = &st.config;
    let weights = CreditWeights::parse(&cfg.credit_weights).unwrap_or_default();
    let orgs = orgs_in(st, &scope).await?;
    let org_by_id: HashMap<Uuid, &OrgRecord> = orgs.iter().map(|o| (o.id, o)).collect();
    let org_name = |id: Uuid| {
        org_by_id
            .get(&id)
            .map_or_else(|| id.to_string(), |o| o.name.clone())
    };
    let sites: Vec<SiteRecord> = st
        .store
        .list_sites(
            &scope,
            Page {
                limit: 10_000,
                offset: 0,
            },
        )
        .await?;
    let site_by_id: HashMap<Uuid, &SiteRecord> = sites.iter().map(|s| (s.id, s)).collect();
    let county_of_org = |id: Uuid| {
        org_by_id
            .get(&id)
            .map_or_else(String::new, |o| county_name(o.region_code.as_str()))
    };

    let mut s = Supervision {
        devices: super::devices::registry::supervision_figures(st, p).await?,
        from: Some(from),
        to: Some(to),
        today: Some(today),
        inspection_days: cfg.pending_inspection_days,
        scrap_days: cfg.pending_scrap_days,
        ..Default::default()
    };
    let mut ent: BTreeMap<Uuid, EnterpriseRow> = BTreeMap::new();
    for o in orgs.iter().filter(|o| o.kind == OrgKind::FillingEnterprise) {
        ent.insert(
            o.id,
            EnterpriseRow {
                org_id: o.id,
                name: o.name.clone(),
                county: county_name(o.region_code.as_str()),
                licences: o
                    .licences
                    .iter()
                    .map(|l| {
                        (
                            l.number.as_str().to_owned(),
                            l.valid_until.to_string(),
                            l.valid_until >= today,
                        )
                    })
                    .collect(),
                ..Default::default()
            },
        );
    }
    // Per cylinder: next inspection date (for events in the period) and what counts now.
    let mut next_check: HashMap<String, (Option<Date>, Uuid)> = HashMap::new();
    let mut per_site: HashMap<Uuid, (u64, u64)> = HashMap::new();
    let mut per_holder: HashMap<String, (u64, Uuid)> = HashMap::new();
    let mut in_use: BTreeMap<(String, String), u64> = BTreeMap::new();
    each_cylinder(st, &scope, |c| {
        let code = c.archive.code.as_str().to_owned();
        next_check.insert(code.clone(), (c.status.next_check_date, c.org_id));
        s.total += 1;
        let verdict = Verdict::of(&c.archive, &c.status, today);
        if let Some(e) = ent.get_mut(&c.org_id) {
            e.cylinders += 1;
            match verdict {
                Verdict::Ok => e.ok += 1,
                Verdict::Overdue => e.overdue += 1,
                Verdict::Expired => e.expired += 1,
                Verdict::Scrapped => e.scrapped += 1,
                Verdict::Locked | Verdict::InvalidLabel => {}
            }
        }
        if !sv::is_active(&c.archive, &c.status) {
            return;
        }
        s.active += 1;
        let at_customer = c.status.location_kind == LocationKind::AtCustomer;
        let county = c
            .status
            .site_id
            .filter(|_| !at_customer)
            .and_then(|id| site_by_id.get(&id))
            .map_or_else(
                || county_of_org(c.org_id),
                |site| county_of_org(site.org_id),
            );
        *s.by_county.entry(county.clone()).or_default() += 1;
        if at_customer {
            *in_use.entry((county, org_name(c.org_id))).or_default() += 1;
            if let Some(e) = ent.get_mut(&c.org_id) {
                e.at_customers += 1;
            }
            if c.status.full
                && let Some(h) = &c.status.holder
            {
                per_holder
                    .entry(h.as_str().to_owned())
                    .or_insert((0, c.org_id))
                    .0 += 1;
            }
        } else if let Some(site) = c.status.site_id {
            let e = per_site.entry(site).or_default();
            e.0 += 1;
            if c.status.full {
                e.1 += 1;
            }
        }
        let line = |date| CylinderLine {
            code: code.clone(),
            org: org_name(c.org_id),
            date,
            location: c.status.location_kind.label_zh(),
        };
        match sv::pending_inspection(&c.status, today, s.inspection_days) {
            Due::Past => s.inspection_overdue.push(line(c.status.next_check_date)),
            Due::Soon => s.inspection_soon.push(line(c.status.next_check_date)),
            Due::Later => {}
        }
        match sv::pending_scrap(&c.archive, today, s.scrap_days) {
            Due::Past => s.scrap_past.push(line(c.archive.effective_discard_date())),
            Due::Soon => s.scrap_soon.push(line(c.archive.effective_discard_date())),
            Due::Later => {}
        }
    })
    .await?;

    s.in_use = in_use
        .into_iter()
        .map(|((county, org), cylinders)| InUse {
            county,
            org,
            cylinders,
        })
        .collect();
    // Sites as points, with what they hold now.
    for site in &sites {
        let (n, full) = per_site.get(&site.id).copied().unwrap_or_default();
        if let (Some(lat), Some(lon)) = (site.lat, site.lon) {
            s.sites.push(SitePoint {
                name: site.name.clone(),
                kind: site.kind,
                org: org_name(site.org_id),
                county: county_of_org(site.org_id),
                lat,
                lon,
                cylinders: n,
                full,
            });
        }
        if site.kind != SiteKind::FillingStation && full > cfg.site_full_limit {
            s.overstock.push(Overstock {
                place: site.name.clone(),
                kind: site.kind.label_zh(),
                org: org_name(site.org_id),
                full,
                limit: cfg.site_full_limit,
            });
        }
    }
    for (holder, (full, org)) in &per_holder {
        if *full > cfg.customer_full_limit {
            let name = match holder.parse::<Uuid>() {
                Ok(id) => st
                    .store
                    .get_biz(super::circulation::CUSTOMER, id)
                    .await?
                    .and_then(|r| r.body["name"].as_str().map(super::public::mask_name))
                    .unwrap_or_else(|| "用户".to_owned()),
                Err(_) => holder.clone(),
            };
            s.overstock.push(Overstock {
                place: name,
                kind: "用户",
                org: org_name(*org),
                full: *full,
                limit: cfg.customer_full_limit,
            });
        }
    }

    // Events of the period.
    let mut fills: Vec<(String, DateTime<Utc>, Uuid)> = Vec::new();
    let mut delays: HashMap<Uuid, (i64, i64)> = HashMap::new();
    let mut seen_overdue = std::collections::HashSet::new();
    let mut visit = |e: StoredEvent| {
        let ev = &e.event;
        let kind = ev.kind();
        let n = ev.codes.len() as u64;
        let row = ent.get_mut(&e.org_id);
        let delay = (e.recorded_at - ev.time).num_seconds().max(0);
        let d = delays.entry(e.org_id).or_default();
        d.0 += delay;
        d.1 += 1;
        if let Some(r) = row {
            match kind {
                EventKind::Fill => r.fills += n,
                EventKind::Deliver => r.delivered += n,
                EventKind::Recycle => r.recycled += n,
                _ => {}
            }
            if delay > LATE_UPLOAD_HOURS * 3600 {
                r.credit_counts.late_uploads += 1;
            }
        }
        match kind {
            EventKind::Deliver => s.delivered += n,
            EventKind::Recycle => s.recycled += n,
            _ => {}
        }
        let day = Date(china_date(ev.time));
        for code in &ev.codes {
            if kind == EventKind::Fill {
                fills.push((code.as_str().to_owned(), ev.time, e.org_id));
            }
            let Some((next, org)) = next_check.get(code.as_str()) else {
                continue;
            };
            if is_use(kind) && next.is_none_or(|d| d < day) {
                if kind == EventKind::Fill
                    && let Some(r) = ent.get_mut(org)
                {
                    r.credit_counts.overdue_filled += 1;
                }
                if seen_overdue.insert(code.as_str().to_owned()) {
                    s.overdue_used.push(CylinderLine {
                        code: code.as_str().to_owned(),
                        org: org_name(*org),
                        date: *next,
                        location: kind.label_zh(),
                    });
                }
            }
        }
    };
    each_event(st, &scope, from, to, &mut visit).await?;
    for (org, (sum, n)) in delays {
        if let Some(r) = ent.get_mut(&org)
            && n > 0
        {
            r.avg_upload_delay_secs = Some(sum / n);
        }
    }

    // Filling-control decisions of the period (and the day before, for the fills they preceded).
    let mut decisions = Vec::new();
    let mut offset = 0;
    loop {
        let (page, _) = st
            .store
            .list_decisions(&DecisionFilter {
                scope: Some(scope.clone()),
                from: Some(from - chrono::Duration::days(1)),
                to: Some(to),
                limit: 5_000,
                offset,
                ..Default::default()
            })
            .await?;
        let n = page.len() as i64;
        decisions.extend(page);
        if n < 5_000 {
            break;
        }
        offset += n;
    }
    for d in decisions.iter().filter(|d| d.at >= from) {
        let rules: Vec<&str> = d.refusals.iter().map(|r| r.rule.as_str()).collect();
        if rules.contains(&"B1.6") {
            s.scrapped_scanned += 1;
        }
        if rules.contains(&"B1.9") {
            s.circulation_gaps += 1;
        }
        if d.illegal_label {
            s.illegal_labels += 1;
        }
        if let Some(r) = ent.get_mut(&d.org_id) {
            if !d.allow {
                r.refusals += 1;
            }
            if d.illegal_label {
                r.illegal_labels += 1;
            }
        }
    }
    for (org, r) in ent.iter_mut() {
        let f: Vec<(String, DateTime<Utc>)> = fills
            .iter()
            .filter(|(_, _, o)| o == org)
            .map(|(c, t, _)| (c.clone(), *t))
            .collect();
        let ds: Vec<(String, DateTime<Utc>, bool)> = decisions
            .iter()
            .filter(|d| d.org_id == *org)
            .map(|d| (d.code.clone(), d.at, d.allow))
            .collect();
        r.credit_counts.refusals_overridden =
            sv::refusals_overridden(&f, &ds, |d, f| f - d <= chrono::Duration::hours(24));
        r.recycling_rate = sv::recycling_rate(r.recycled, r.delivered);
    }
    // Complaints upheld in the period.
    let complaints = st
        .store
        .list_biz(&BizFilter {
            kind: COMPLAINT.to_owned(),
            scope: Some(scope.clone()),
            state: Some("upheld".to_owned()),
            limit: 100_000,
            ..Default::default()
        })
        .await?;
    for c in complaints
        .iter()
        .filter(|c| c.created_at >= from && c.created_at < to)
    {
        if let Some(r) = ent.get_mut(&c.org_id) {
            r.credit_counts.complaints_upheld += 1;
        }
    }
    for r in ent.values_mut() {
        let c = sv::credit(&r.credit_counts, &weights);
        r.credit_score = c.score;
        r.credit_grade = c.grade;
    }
    s.enterprises = ent.into_values().collect();
    Ok(s)
}

/// The period `[from, to)` of `from`/`to` (China calendar days as `YYYY-MM-DD`, `to` inclusive);
/// this month when they are not given.
pub fn period(
    now: DateTime<Utc>,
    from: Option<&str>,
    to: Option<&str>,
) -> ApiResult<(DateTime<Utc>, DateTime<Utc>)> {
    use super::calendar::{day_start, this_month};
    use crate::error::ApiError;
    use chrono::NaiveDate;
    let (mf, mt) = this_month(now);
    let day = |s: Option<&str>, name: &str| -> ApiResult<Option<NaiveDate>> {
        match s.map(str::trim).filter(|s| !s.is_empty()) {
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
    let from = in_range(day(from, "from")?, "from")?.map_or(mf, day_start);
    let to =
        in_range(day(to, "to")?, "to")?.map_or(mt, |d| day_start(d + chrono::Duration::days(1)));
    if to <= from {
        return Err(ApiError::invalid("to", "结束日期应不早于开始日期"));
    }
    Ok((from, to))
}

/// One statistics bucket (统计分析).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Bucket {
    pub label: String,
    pub fills: u64,
    pub refusals: u64,
    pub refusals_by_rule: BTreeMap<String, u64>,
    pub checks_failed: u64,
    pub delivered: u64,
    pub recycled: u64,
    pub inspections_passed: u64,
    pub inspections_scrapped: u64,
}

pub async fn statistics(
    st: &AppState,
    p: &Principal,
    g: Granularity,
    n: usize,
) -> ApiResult<Vec<Bucket>> {
    p.require(cyltrace_domain::access::Action::Read)?;
    let scope = p.scope();
    let today = china_date(st.now());
    let mut out = Vec::new();
    for (start, end) in g.last(today, n) {
        let (from, to) = (
            super::calendar::day_start(start),
            super::calendar::day_start(end),
        );
        let mut b = Bucket {
            label: g.bucket(start),
            ..Default::default()
        };
        let mut visit = |e: StoredEvent| {
            let n = e.event.codes.len() as u64;
            match &e.event.data {
                EventData::Fill(_) => b.fills += n,
                EventData::Deliver(_) => b.delivered += n,
                EventData::Recycle(_) => b.recycled += n,
                EventData::InspectionResult(r) => {
                    if r.conclusion == Conclusion::Scrap {
                        b.inspections_scrapped += n;
                    } else {
                        b.inspections_passed += n;
                    }
                }
                EventData::PreFillCheck(c) if !c.passed() => b.checks_failed += n,
                EventData::PostFillCheck(c) if !c.passed() => b.checks_failed += n,
                EventData::InFillCheck(c) if !c.passed() => b.checks_failed += n,
                _ => {}
            }
        };
        each_event(st, &scope, from, to, &mut visit).await?;
        for (rule, count) in st
            .store
            .refusal_counts(&DecisionFilter {
                scope: Some(scope.clone()),
                from: Some(from),
                to: Some(to),
                ..Default::default()
            })
            .await?
        {
            b.refusals_by_rule.insert(rule, count.max(0) as u64);
        }
        let (_, refused) = st
            .store
            .list_decisions(&DecisionFilter {
                scope: Some(scope.clone()),
                allow: Some(false),
                from: Some(from),
                to: Some(to),
                limit: 1,
                ..Default::default()
            })
            .await?;
        b.refusals = refused.max(0) as u64;
        out.push(b);
    }
    Ok(out)
}
