//! What the ledger costs on the write path (issue 4 target: ≤ 30 % of append throughput).
//!
//! Two fresh stores in one run — the same code, one with `LedgerParams::write` off — take the same
//! events: first as batches of 256 from one client, then as single-event requests from 32 clients at
//! once (what group commit is for). Prints events/s per store and the ledger's share. The events go
//! the way every request's do: judged by the writer (references, scope, guards) and appended.
//!
//! `cargo run --release -p cyltrace-bench --bin cyltrace-bench-append -- [--events 51200]`
//! (SQLite in temporary directories; with `CYLTRACE_DATABASE_URL=postgres://…`, two schemas there).
// Benchmarks and data generators run on real time.
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use clap::Parser;
use cyltrace_domain::intake::{Actor, Naming};
use cyltrace_domain::parse::from_value;
use cyltrace_domain::{Archive, Event, OrgKind, RegionCode};
use cyltrace_store::{Intake, Judge, LedgerParams, NewCylinder, OrgRecord, Store, WriteRequest};
use serde_json::json;
use uuid::Uuid;

#[derive(Parser)]
struct Args {
    /// Events per phase and store.
    #[arg(long, default_value_t = 51_200)]
    events: usize,
    /// Cylinders the events are spread over.
    #[arg(long, default_value_t = 10_000)]
    cylinders: usize,
    /// Concurrent single-event clients in the second phase.
    #[arg(long, default_value_t = 32)]
    clients: usize,
}

struct Bench {
    store: Arc<dyn Store>,
    actor: Actor,
    site: Uuid,
    _dir: tempfile::TempDir,
}

async fn open(ledger: bool, cylinders: usize) -> anyhow::Result<Bench> {
    let dir = tempfile::tempdir()?;
    let params = LedgerParams {
        write: ledger,
        ..Default::default()
    };
    let store: Arc<dyn Store> = match std::env::var("CYLTRACE_DATABASE_URL") {
        Ok(url) => {
            let schema = format!("bench_{}", Uuid::new_v4().simple());
            Arc::new(
                cyltrace_store::SqlStore::connect_postgres(&url, Some(&schema), &params).await?,
            )
        }
        Err(_) => Arc::new(
            cyltrace_store::SqlStore::open_sqlite(&dir.path().join("b.db"), &params).await?,
        ),
    };
    let now = Utc::now();
    let ent_id = Uuid::new_v4();
    let ent = OrgRecord {
        id: ent_id,
        kind: OrgKind::FillingEnterprise,
        name: "基准测试燃气有限公司".to_owned(),
        region_code: RegionCode::parse("530102").map_err(anyhow::Error::msg)?,
        parent_id: None,
        credit_code: None,
        licences: vec![],
        phone: None,
        address: None,
        path: OrgRecord::child_path(None, ent_id),
        created_at: now,
    };
    store.insert_org(&ent).await?;
    let site = Uuid::new_v4();
    let new_site = from_value(
        &json!({"org_id": ent.id, "kind": "warehouse", "name": "基准仓库"}),
        "site",
    )
    .map_err(anyhow::Error::msg)?;
    store.insert_site(site, &new_site, now).await?;
    let archives: Vec<NewCylinder> = (0..cylinders)
        .map(|i| {
            let a: Archive = from_value(
                &json!({"code": format!("{}", 3_000_000_000u64 + i as u64), "medium": "液化石油气", "tare_kg": 16.5,
                        "fill_limit_kg": 14.5, "next_check_date": "2028-12-01", "discard_date": "2030-09-01",
                        "owner_org_id": ent.id}),
                "archive",
            )
            .expect("archive");
            NewCylinder { archive: a, org_id: ent.id }
        })
        .collect();
    for chunk in archives.chunks(1000) {
        store.insert_cylinders(chunk, now).await?;
    }
    let actor = Actor {
        user_id: None,
        org_id: ent.id,
        org_path: ent.path.clone(),
        sees_all: false,
        roles: vec![cyltrace_domain::Role::EnterpriseAdmin],
    };
    Ok(Bench {
        store,
        actor,
        site,
        _dir: dir,
    })
}

/// Records `events` as a request of `actor` does: judged by the writer, then appended.
async fn append(store: &dyn Store, events: &[Event], actor: &Actor) -> anyhow::Result<()> {
    let req = WriteRequest {
        intake: Some(Intake {
            events: events.to_vec(),
            recorded_at: Utc::now(),
            judge: Judge::Judged {
                actor: actor.clone(),
                naming: Naming::Events,
                order: None,
                max_age: None,
            },
        }),
        ..Default::default()
    };
    store.write(req).await?;
    Ok(())
}

/// The `n`-th event: store_in / store_out alternating on each cylinder.
fn event(n: usize, cylinders: usize, site: Uuid) -> Event {
    let code = 3_000_000_000u64 + (n % cylinders) as u64;
    let kind = if (n / cylinders).is_multiple_of(2) {
        "store_in"
    } else {
        "store_out"
    };
    Event::parse(
        &json!({"id": Uuid::new_v4(), "kind": kind, "codes": [code.to_string()], "time": Utc::now().to_rfc3339(),
                "site_id": site, "data": {"full": true}}),
        "e",
    )
    .expect("event")
}

async fn batches(b: &Bench, from: usize, n: usize, cylinders: usize) -> anyhow::Result<f64> {
    let events: Vec<Event> = (from..from + n)
        .map(|i| event(i, cylinders, b.site))
        .collect();
    let t = Instant::now();
    for chunk in events.chunks(256) {
        append(b.store.as_ref(), chunk, &b.actor).await?;
    }
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

async fn concurrent(
    b: &Bench,
    from: usize,
    n: usize,
    cylinders: usize,
    clients: usize,
) -> anyhow::Result<f64> {
    let per = n / clients;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let store = b.store.clone();
        let actor = b.actor.clone();
        let events: Vec<Event> = (0..per)
            .map(|i| event(from + c * per + i, cylinders, b.site))
            .collect();
        tasks.push(tokio::spawn(async move {
            for e in events {
                append(store.as_ref(), std::slice::from_ref(&e), &actor).await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok((per * clients) as f64 / t.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let off = open(false, a.cylinders).await?;
    let on = open(true, a.cylinders).await?;
    println!(
        "backend: {}, {} cylinders, {} events per phase and store",
        on.store.backend(),
        a.cylinders,
        a.events
    );
    println!();
    println!("| phase | without ledger (events/s) | with ledger (events/s) | ledger cost |");
    println!("|---|---|---|---|");
    let cost = |x: f64, y: f64| format!("{:.1} %", (1.0 - y / x) * 100.0);
    // Interleaved so that both stores see the same machine state.
    let x = batches(&off, 0, a.events, a.cylinders).await?;
    let y = batches(&on, 0, a.events, a.cylinders).await?;
    println!(
        "| batches of 256, one client | {x:.0} | {y:.0} | {} |",
        cost(x, y)
    );
    let x = concurrent(&off, a.events, a.events, a.cylinders, a.clients).await?;
    let y = concurrent(&on, a.events, a.events, a.cylinders, a.clients).await?;
    println!(
        "| single events, {} clients (group commit) | {x:.0} | {y:.0} | {} |",
        a.clients,
        cost(x, y)
    );
    // Both stores took every event; only the one with the ledger has a tree.
    let expected = (a.events + a.events / a.clients * a.clients) as u64;
    anyhow::ensure!(
        on.store.ledger_size().await? == expected && off.store.ledger_size().await? == expected
    );
    let edge = cyltrace_ledger::partial_tiles(expected);
    anyhow::ensure!(
        on.store.get_tiles(&edge).await?.len() == edge.len(),
        "the ledger store has its tree"
    );
    Ok(())
}
