//! The uplink (B6, E1): this node as a client of its upstream's `/PS` interface.
//!
//! - **Outbox delivery.** Every pre-fill check, fill, post-fill check and inspection result gets an
//!   outbox row in its own append transaction. The worker sends pending rows in outbox (= log)
//!   order, in runs of one kind and one person, with `ThridId` = the event id and the ledger index
//!   and leaf hash as extension properties; a row is marked sent only after the upstream answered
//!   `State:0`. A transport failure stops the pass (later rows wait: order per cylinder is kept) and
//!   the next pass backs off; a business refusal of a run is retried item by item, and an item the
//!   upstream refuses is kept as refused with its reason and an alarm. Anything pending longer than
//!   24 h raises an alarm.
//! - **Witness.** After delivering, the worker sends its latest signed checkpoint with a
//!   consistency proof from the checkpoint the upstream holds and inclusion proofs of the leaves the
//!   upstream is waiting to audit (`/PS/Ledger/Checkpoint`, a cyltrace extension).
//! - **Archives.** It pulls `GenericBottle/List?lasttime=` and creates missing archives (owner by
//!   the extension `OwnerCreditCode`, else `upstream_org`); a registration new to this node becomes
//!   a `register` event.
//! - **Month counts.** Once a month is over and nothing of it is pending, it reports
//!   `BusinessCount` for each kind.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};
use cyltrace_domain::ps::{self, LeafRef, TraceKind};
use cyltrace_domain::{Event, EventData, Text};
use cyltrace_store::{
    AppendContext, EventFilter, NewCylinder, OutboxItem, OutboxMark, Page, RegAlarm, Scope,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::config::Config;
use crate::services::audit;
use crate::sm4::{self, Sm4Key};
use crate::state::AppState;

/// Outbox rows read per pass, and items per upload.
const PASS_ROWS: i64 = 1000;
const RUN_ITEMS: usize = 200;
/// Pending longer than this raises an alarm (B6: never later than 24 h).
const STALE_SECS: i64 = 24 * 3600;

/// How the upstream answered a call.
#[derive(Debug)]
pub enum CallError {
    /// Not reached, or not a `/PS` answer: try again later.
    Transport(String),
    /// `State:1`: the upstream refused the content.
    Refused(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Transport(m) => write!(f, "upstream unreachable: {m}"),
            CallError::Refused(m) => write!(f, "upstream refused: {m}"),
        }
    }
}

/// A `/PS` client of the configured upstream.
pub struct Uplink {
    http: reqwest::Client,
    base: String,
    account: String,
    password: String,
    key: Option<Sm4Key>,
    ticket: tokio::sync::Mutex<Option<String>>,
}

impl std::fmt::Debug for Uplink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No password, key or ticket in logs.
        f.debug_struct("Uplink")
            .field("base", &self.base)
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl Uplink {
    /// The uplink of `config`, or `None` when no upstream is configured.
    pub fn from_config(c: &Config) -> anyhow::Result<Option<Uplink>> {
        let Some(url) = &c.upstream_url else {
            return Ok(None);
        };
        let (Some(account), Some(password)) = (&c.upstream_account, &c.upstream_password) else {
            anyhow::bail!(
                "upstream_url is set: upstream_account and upstream_password are required"
            );
        };
        let key = match &c.upstream_sm4_key {
            Some(k) => {
                Some(Sm4Key::parse_hex(k).map_err(|m| anyhow::anyhow!("upstream_sm4_key: {m}"))?)
            }
            None => None,
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Some(Uplink {
            http,
            base: url.trim_end_matches('/').to_owned(),
            account: account.clone(),
            password: password.to_string(),
            key,
            ticket: tokio::sync::Mutex::new(None),
        }))
    }

    async fn login(&self) -> Result<String, CallError> {
        let body = json!({"Account": self.account, "Password": self.password});
        let v = self
            .send(
                reqwest::Method::POST,
                "/PS/Auth/Login",
                None,
                &[],
                Some(body),
            )
            .await?;
        v.get("Value")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| CallError::Transport("login answered no ticket".to_owned()))
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        ticket: Option<&str>,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<Value, CallError> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = ticket {
            req = req.query(&[("ticket", t)]);
        }
        req = req.query(query);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| CallError::Transport(e.to_string()))?;
        let status = resp.status();
        let v: Value = resp
            .json()
            .await
            .map_err(|e| CallError::Transport(format!("HTTP {status}: {e}")))?;
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(CallError::Transport("UNAUTHORIZED".to_owned()));
        }
        if v.get("State").and_then(Value::as_i64) == Some(1) {
            let reason = v
                .get("Value")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            return Err(if status.is_success() {
                CallError::Refused(reason)
            } else {
                CallError::Transport(format!("HTTP {status}: {reason}"))
            });
        }
        if !status.is_success() {
            return Err(CallError::Transport(format!("HTTP {status}")));
        }
        Ok(v)
    }

    /// Calls `path` with a ticket (logging in when there is none or it expired), sending `data`
    /// sealed with SM4 when the account has a key.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        data: Option<&Value>,
    ) -> Result<Value, CallError> {
        let body = match (data, &self.key) {
            (Some(d), Some(k)) => {
                Some(sm4::seal(k, d).map_err(|e| CallError::Transport(e.to_string()))?)
            }
            (Some(d), None) => Some(d.clone()),
            (None, _) => None,
        };
        for attempt in 0..2 {
            let ticket = {
                let mut t = self.ticket.lock().await;
                match t.as_ref() {
                    Some(t) => t.clone(),
                    None => {
                        let fresh = self.login().await?;
                        *t = Some(fresh.clone());
                        fresh
                    }
                }
            };
            match self
                .send(method.clone(), path, Some(&ticket), query, body.clone())
                .await
            {
                Err(CallError::Transport(m)) if m == "UNAUTHORIZED" && attempt == 0 => {
                    *self.ticket.lock().await = None;
                }
                other => return other,
            }
        }
        Err(CallError::Transport(
            "the upstream refuses our ticket".to_owned(),
        ))
    }
}

/// Runs the uplink until the task is dropped.
pub async fn run(st: AppState, up: Uplink) {
    let interval = Duration::from_millis(st.config.uplink_interval_ms.max(50));
    let pull_every = chrono::Duration::seconds(st.config.uplink_pull_secs as i64);
    let mut backoff = interval;
    let mut last_pull: Option<DateTime<Utc>> = None;
    loop {
        let mut ok = true;
        if last_pull.is_none_or(|t| st.now() - t >= pull_every) {
            match pull_archives(&st, &up).await {
                Ok(n) => {
                    last_pull = Some(st.now());
                    if n > 0 {
                        let detail = format!("{n} archives pulled from upstream");
                        audit::system(&st, "uplink/archive-pull", detail).await;
                    }
                }
                Err(e) => {
                    ok = false;
                    tracing::warn!(error = %e, "uplink: pulling archives");
                }
            }
        }
        match deliver(&st, &up).await {
            Ok(0) => {}
            Ok(n) => {
                let detail = format!("{n} records delivered upstream");
                audit::system(&st, "uplink/deliver", detail).await;
            }
            Err(e) => {
                ok = false;
                st.metrics.uplink_failures.inc();
                tracing::warn!(error = %e, "uplink: delivery postponed");
            }
        }
        if ok {
            if let Err(e) = witness(&st, &up).await {
                tracing::warn!(error = %e, "uplink: witness");
            }
            if let Err(e) = business_counts(&st, &up).await {
                tracing::warn!(error = %e, "uplink: month counts");
            }
        }
        if let Err(e) = stale_alarm(&st).await {
            tracing::warn!(error = %e, "uplink: stale check");
        }
        backoff = if ok {
            interval
        } else {
            (backoff * 2).min(Duration::from_secs(60))
        };
        tokio::time::sleep(backoff).await;
    }
}

/// One delivery pass: sends every pending outbox row it can. Answers how many were sent; an error
/// when the upstream could not be reached (the rest stays pending).
pub async fn deliver(st: &AppState, up: &Uplink) -> anyhow::Result<usize> {
    let mut sent = 0;
    loop {
        let rows = st.store.outbox_pending(PASS_ROWS).await?;
        if rows.is_empty() {
            return Ok(sent);
        }
        let mut names = Names::default();
        let mut runs: Vec<(TraceKind, String, String, Vec<&OutboxItem>)> = Vec::new();
        for r in &rows {
            let Some(kind) = TraceKind::of(r.event.event.kind()) else {
                continue;
            };
            let man = names.man(st, r).await?;
            let factory = names.factory(st, &r.event.event).await?;
            match runs.last_mut() {
                Some((k, m, f, items))
                    if *k == kind && *m == man && *f == factory && items.len() < RUN_ITEMS =>
                {
                    items.push(r)
                }
                _ => runs.push((kind, man, factory, vec![r])),
            }
        }
        let before = sent;
        for (kind, man, factory, items) in runs {
            sent += send_run(st, up, kind, &man, &factory, &items).await?;
        }
        if rows.len() < PASS_ROWS as usize || sent == before {
            return Ok(sent);
        }
    }
}

async fn send_run(
    st: &AppState,
    up: &Uplink,
    kind: TraceKind,
    man: &str,
    factory: &str,
    items: &[&OutboxItem],
) -> anyhow::Result<usize> {
    let log = st.store.ledger();
    let body: Vec<Value> = items
        .iter()
        .filter_map(|r| {
            let leaf = cyltrace_store::leaf::leaf_hash(log.hash, &log.origin, &r.event);
            ps::trace_item(
                &r.event.event,
                Some(LeafRef {
                    index: r.event.ledger_index,
                    leaf_hash: leaf.0,
                }),
            )
        })
        .collect();
    let data = ps::trace_batch(kind, body.clone(), man, factory);
    let path = format!("/PS/GenericTrace/{}", kind.path());
    let ids: Vec<i64> = items.iter().map(|r| r.outbox_id).collect();
    match up
        .call(reqwest::Method::POST, &path, &[], Some(&data))
        .await
    {
        Ok(_) => {
            st.store
                .outbox_mark(&ids, &OutboxMark::Sent { at: st.now() })
                .await?;
            st.metrics.uplink_sent.inc_by(ids.len() as u64);
            Ok(ids.len())
        }
        Err(CallError::Transport(m)) => {
            st.store
                .outbox_mark(&ids, &OutboxMark::Failed { error: m.clone() })
                .await?;
            anyhow::bail!("{m}")
        }
        Err(CallError::Refused(reason)) if items.len() > 1 => {
            // Find the item the upstream refuses: the others must not wait for it.
            tracing::info!(%reason, "uplink: a run was refused; sending its items one by one");
            let mut n = 0;
            for r in items {
                n += Box::pin(send_run(st, up, kind, man, factory, &[*r])).await?;
            }
            Ok(n)
        }
        Err(CallError::Refused(reason)) => {
            let r = items[0];
            st.store
                .outbox_mark(
                    &ids,
                    &OutboxMark::Refused {
                        at: st.now(),
                        reason: reason.clone(),
                    },
                )
                .await?;
            tracing::error!(event = %r.event.event.id, %reason, "uplink: the upstream refused a record");
            local_alarm(
                st,
                "uplink_refused",
                format!(
                    "上级平台拒收{}记录（气瓶 {}，事件 {}）：{reason}",
                    kind.event_kind().label_zh(),
                    r.event.event.codes.first().map_or("", |c| c.as_str()),
                    r.event.event.id
                ),
            )
            .await?;
            Ok(0)
        }
    }
}

/// Names the upload needs, looked up once per pass.
#[derive(Default)]
struct Names {
    users: HashMap<Uuid, String>,
    orgs: HashMap<Uuid, String>,
}

impl Names {
    /// `Man.Name`: the operator recorded with the event, else the user who recorded it.
    async fn man(&mut self, st: &AppState, r: &OutboxItem) -> anyhow::Result<String> {
        if let Some(op) = &r.event.event.operator {
            return Ok(op.as_str().to_owned());
        }
        let Some(uid) = r.event.recorded_by else {
            return Ok("未记录".to_owned());
        };
        if let Some(n) = self.users.get(&uid) {
            return Ok(n.clone());
        }
        let name = st
            .store
            .get_user(uid)
            .await?
            .map_or_else(|| "未记录".to_owned(), |u| u.name);
        self.users.insert(uid, name.clone());
        Ok(name)
    }

    /// `Factory.Name` of a fill (the scale's maker, kept as the device), or the station's name of
    /// an inspection.
    async fn factory(&mut self, st: &AppState, e: &Event) -> anyhow::Result<String> {
        Ok(match &e.data {
            EventData::Fill(_) => e
                .device
                .as_ref()
                .map_or_else(|| "未登记".to_owned(), |d| d.as_str().to_owned()),
            EventData::InspectionResult(r) => {
                let id = r.station_org_id;
                if let Some(n) = self.orgs.get(&id) {
                    return Ok(n.clone());
                }
                let name = st
                    .store
                    .get_org(id)
                    .await?
                    .map_or_else(String::new, |o| o.name);
                self.orgs.insert(id, name.clone());
                name
            }
            _ => String::new(),
        })
    }
}

/// Sends the latest checkpoint with the proofs the upstream needs (see the module comment).
pub async fn witness(st: &AppState, up: &Uplink) -> anyhow::Result<()> {
    let Some(cp) = st.store.latest_checkpoint().await? else {
        return Ok(());
    };
    let state = up
        .call(reqwest::Method::GET, "/PS/Ledger/Checkpoint", &[], None)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let held: Value = state
        .get("Value")
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null);
    let size = held.get("Size").and_then(Value::as_u64).unwrap_or(0);
    let pending: Vec<u64> = held
        .get("Pending")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_u64)
                .filter(|i| *i < cp.size)
                .collect()
        })
        .unwrap_or_default();
    if size == cp.size && pending.is_empty() {
        return Ok(());
    }
    let hex = |p: Vec<cyltrace_ledger::Hash>| p.iter().map(|h| h.to_hex()).collect::<Vec<_>>();
    let consistency = if size > 0 && size <= cp.size {
        hex(crate::services::ledger::consistency(st, size, cp.size)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?)
    } else {
        vec![]
    };
    let mut inclusion = Vec::new();
    for i in pending {
        let proof = crate::services::ledger::inclusion(st, i, cp.size)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        inclusion.push(json!({"Index": i, "Proof": hex(proof)}));
    }
    let body = json!({
        "Text": cp.text,
        "Signature": hex::encode(&cp.signature),
        "PublicKey": hex::encode(&cp.public_key),
        "Hash": st.store.ledger().hash.to_string(),
        "Consistency": consistency,
        "Inclusion": inclusion,
    });
    up.call(
        reqwest::Method::POST,
        "/PS/Ledger/Checkpoint",
        &[],
        Some(&body),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

/// Pulls archives changed upstream since the last pull; answers how many were new here.
pub async fn pull_archives(st: &AppState, up: &Uplink) -> anyhow::Result<usize> {
    let key = "uplink.lasttime";
    let last = st.store.get_setting(key).await?.unwrap_or_default();
    let q: Vec<(&str, &str)> = if last.is_empty() {
        vec![]
    } else {
        vec![("lasttime", last.as_str())]
    };
    let list = up
        .call(reqwest::Method::GET, "/PS/GenericBottle/List", &q, None)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let list = list.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return Ok(0);
    }
    let owners = local_orgs_by_credit_code(st).await?;
    let now = st.now();
    let mut new = Vec::new();
    let mut events = Vec::new();
    let mut newest = last.clone();
    for (i, v) in list.iter().enumerate() {
        if let Some(u) = v.get("UpdatedAt").and_then(Value::as_str)
            && u > newest.as_str()
        {
            newest = u.to_owned();
        }
        let owner = v
            .get("OwnerCreditCode")
            .and_then(Value::as_str)
            .and_then(|c| owners.get(c).copied())
            .or(st.config.upstream_org);
        let Some(owner) = owner else {
            tracing::warn!(
                item = i,
                "uplink: a pulled archive has no local owner (set upstream_org)"
            );
            continue;
        };
        let a = match ps::GenericBottle::to_archive(v, &format!("[{i}]"), owner) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %crate::services::ps::reasons(&e), "uplink: a pulled archive does not parse");
                continue;
            }
        };
        match st.store.get_cylinder(&a.code).await? {
            None => new.push(NewCylinder {
                archive: a,
                org_id: owner,
            }),
            Some(c) => {
                if let Some(reg) = &a.registration
                    && c.status.registration.as_ref() != Some(reg)
                    && c.archive.registration.as_ref() != Some(reg)
                {
                    events.push(Event {
                        id: Uuid::new_v5(
                            &owner,
                            format!("pulled-register:{}:{}", a.code, reg.number).as_bytes(),
                        ),
                        data: EventData::Register(reg.clone()),
                        codes: vec![a.code.clone()],
                        time: now,
                        site_id: None,
                        operator: Text::parse("上级平台").ok(),
                        device: None,
                        position: None,
                    });
                }
            }
        }
    }
    let n = new.len();
    if !new.is_empty() {
        st.store.insert_cylinders(&new, now).await?;
    }
    if !events.is_empty() {
        let org = events_org(st).await?;
        st.store
            .append_events(
                &events,
                &AppendContext {
                    recorded_by: None,
                    org_id: org,
                    recorded_at: now,
                },
            )
            .await?;
    }
    if newest != last {
        st.store.set_setting(key, &newest, now).await?;
    }
    if n > 0 {
        tracing::info!(new = n, "uplink: archives pulled from the upstream");
    }
    Ok(n)
}

async fn local_orgs_by_credit_code(st: &AppState) -> anyhow::Result<HashMap<String, Uuid>> {
    let mut map = HashMap::new();
    let mut offset = 0;
    loop {
        let page = st
            .store
            .list_orgs(&Scope::all(), Page { limit: 500, offset })
            .await?;
        for o in &page {
            if let Some(c) = &o.credit_code {
                map.insert(c.clone(), o.id);
            }
        }
        if page.len() < 500 {
            return Ok(map);
        }
        offset += 500;
    }
}

/// The organisation node-level records (alarms, pulled registrations) belong to: `upstream_org`,
/// else the node's first root organisation.
async fn events_org(st: &AppState) -> anyhow::Result<Uuid> {
    if let Some(o) = st.config.upstream_org {
        return Ok(o);
    }
    st.store
        .list_orgs(
            &Scope::all(),
            Page {
                limit: 1,
                offset: 0,
            },
        )
        .await?
        .first()
        .map(|o| o.id)
        .ok_or_else(|| anyhow::anyhow!("the node has no organisation yet"))
}

async fn local_alarm(st: &AppState, kind: &str, message: String) -> anyhow::Result<()> {
    let org = events_org(st).await?;
    st.store
        .insert_reg_alarm(&RegAlarm {
            id: 0,
            org_id: org,
            kind: kind.to_owned(),
            message,
            at: st.now(),
        })
        .await?;
    Ok(())
}

/// B6: an alarm (at most one an hour) while anything has waited longer than 24 h.
pub async fn stale_alarm(st: &AppState) -> anyhow::Result<bool> {
    let stats = st.store.outbox_stats().await?;
    let now = st.now();
    let Some(oldest) = stats.oldest_pending else {
        return Ok(false);
    };
    if now - oldest < chrono::Duration::seconds(STALE_SECS) {
        return Ok(false);
    }
    let key = "uplink.stale_alarm_at";
    if let Some(t) = st.store.get_setting(key).await?
        && let Ok(t) = DateTime::parse_from_rfc3339(&t)
        && now - t.with_timezone(&Utc) < chrono::Duration::hours(1)
    {
        return Ok(false);
    }
    let msg = format!(
        "向上级平台上传积压：{} 条记录未送达，最早的已等待 {} 小时",
        stats.pending,
        (now - oldest).num_hours()
    );
    tracing::error!("UPLINK ALARM: {msg}");
    local_alarm(st, "uplink_stale", msg).await?;
    st.store.set_setting(key, &now.to_rfc3339(), now).await?;
    Ok(true)
}

/// E3: reports each finished month's counts once nothing of that month is pending.
pub async fn business_counts(st: &AppState, up: &Uplink) -> anyhow::Result<usize> {
    let now = st.now();
    let today = cyltrace_domain::time::china_date(now);
    let (year, month) = if today.month() == 1 {
        (today.year() - 1, 12)
    } else {
        (today.year(), today.month() - 1)
    };
    let key = format!("uplink.business_count.{year}-{month:02}");
    if st.store.get_setting(&key).await?.is_some() {
        return Ok(0);
    }
    let (from, to) = ps::month_range(year, month);
    if st
        .store
        .outbox_stats()
        .await?
        .oldest_pending
        .is_some_and(|t| t < to)
    {
        return Ok(0);
    }
    let mut sent = 0;
    for kind in TraceKind::ALL {
        let (_, count) = st
            .store
            .list_events(&EventFilter {
                kinds: vec![kind.event_kind().as_str()],
                from: Some(from),
                to: Some(to),
                limit: 1,
                ..Default::default()
            })
            .await?;
        let c = ps::BusinessCount {
            year,
            month,
            count,
            kind,
        };
        match up
            .call(
                reqwest::Method::POST,
                "/PS/GenericStatistics/BusinessCount",
                &[],
                Some(&c.to_json()),
            )
            .await
        {
            Ok(v) => {
                if let Some(m) = v.get("Value").and_then(Value::as_str) {
                    tracing::warn!(%m, "uplink: the upstream counts differ");
                }
                sent += 1;
            }
            // A cyltrace upstream takes type 4 (inspections); others may refuse it.
            Err(CallError::Refused(m)) if kind == TraceKind::Inspection => {
                tracing::info!(%m, "uplink: the upstream takes no inspection counts");
            }
            Err(e) => anyhow::bail!("{e}"),
        }
    }
    st.store.set_setting(&key, &now.to_rfc3339(), now).await?;
    Ok(sent)
}
