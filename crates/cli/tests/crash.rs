//! A crash test of the real binary (issue 15; G3): `cyltrace serve` under load from several clients
//! is killed with SIGKILL at a random moment, restarted on the same data, and must have stored every
//! event and every filling-control decision it answered (B1: "every decision is recorded"), no event
//! twice, and a ledger that `cyltrace verify` accepts. SQLite in a temporary data directory, or, when
//! `CYLTRACE_TEST_DATABASE_URL` is set, a fresh PostgreSQL database created for the test and dropped
//! after it.
// Tests stand at real time (the node's clock is shifted where a test needs another).
#![allow(clippy::disallowed_methods)]

mod node;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use node::{Api, Node, check_event, setup};

const LPG: &str = "液化石油气";
const TRIALS: usize = 20;
const CLIENTS: usize = 4;
/// How long the load runs before the kill: a random time in this range (ms).
const LOAD_MS: std::ops::Range<u64> = 50..400;

// ---------------------------------------------------------------------------------------------
// Load

/// What one client saw: the answered events (id → ledger index) and decisions, the batch in flight
/// when the server died (with the token that sent it: a retry comes from the same user), and any
/// answer other than success.
#[derive(Default)]
struct Seen {
    events: BTreeMap<String, i64>,
    decisions: Vec<String>,
    unanswered: Vec<(String, Vec<Value>)>,
    unexpected: Vec<String>,
}

/// Records the answered events of `batch` in `seen`, or the answer when it is not the expected 201.
fn note_events(seen: &mut Seen, batch: &[Value], status: u16, body: &Value) {
    let accepted = body["accepted"].as_array();
    let sent: Vec<&Value> = batch.iter().map(|e| &e["id"]).collect();
    let got: Vec<&Value> = accepted
        .iter()
        .flat_map(|a| a.iter().map(|x| &x["id"]))
        .collect();
    if status != 201 || sent != got {
        seen.unexpected
            .push(format!("POST /events answered {status}: {body}"));
        return;
    }
    for a in accepted.expect("checked") {
        let index = a["ledger_index"].as_i64().expect("ledger_index");
        seen.events
            .insert(a["id"].as_str().expect("id").to_owned(), index);
    }
}

/// One client: event batches and filling-control questions, one after another, until the server
/// stops answering.
async fn client(api: Api, setup: Arc<(String, Vec<String>)>, seed: u64) -> Seen {
    let (station, codes) = &*setup;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut seen = Seen::default();
    loop {
        let code = &codes[rng.random_range(0..codes.len())];
        if rng.random_bool(0.5) {
            let n = rng.random_range(1..=3);
            let batch: Vec<Value> = (0..n)
                .map(|_| check_event(code, station, rng.random_bool(0.3)))
                .collect();
            match api.post("/api/v1/events", &json!({"events": batch})).await {
                Ok((status, body)) => {
                    note_events(&mut seen, &batch, status, &body);
                }
                Err(_) => {
                    seen.unanswered.push((api.token.clone(), batch));
                    return seen;
                }
            }
        } else {
            let ask = json!({"code": code, "site_id": station, "medium": LPG});
            match api.post("/api/v1/fill-control", &ask).await {
                Ok((200, body)) if body["decision_id"].is_string() => seen
                    .decisions
                    .push(body["decision_id"].as_str().expect("id").to_owned()),
                Ok((status, body)) => seen
                    .unexpected
                    .push(format!("POST /fill-control answered {status}: {body}")),
                Err(_) => return seen,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What the restarted server holds

/// Every stored event of the cylinders (id → ledger index); duplicates are reported in `problems`.
async fn stored_events(
    api: &Api,
    codes: &[String],
    problems: &mut Vec<String>,
) -> BTreeMap<String, i64> {
    let mut all = BTreeMap::new();
    for code in codes {
        let (status, b) = api.get(&format!("/api/v1/cylinders/{code}/events")).await;
        assert_eq!(status, 200, "{b}");
        for e in b["events"].as_array().expect("events") {
            let id = e["id"].as_str().expect("id").to_owned();
            let index = e["ledger_index"].as_i64().expect("ledger_index");
            if let Some(before) = all.insert(id.clone(), index) {
                problems.push(format!(
                    "event {id} is listed twice (ledger indexes {before} and {index})"
                ));
            }
        }
    }
    all
}

/// Every recorded decision id (the node admin sees all), page by page.
async fn stored_decisions(api: &Api, problems: &mut Vec<String>) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut offset = 0;
    loop {
        let (status, b) = api
            .get(&format!(
                "/api/v1/fill-control/decisions?limit=500&offset={offset}"
            ))
            .await;
        assert_eq!(status, 200, "{b}");
        let items = b["items"].as_array().expect("items");
        for d in items {
            let id = d["decision_id"].as_str().expect("decision_id").to_owned();
            if !ids.insert(id.clone()) {
                problems.push(format!("decision {id} is listed twice"));
            }
        }
        offset += items.len();
        if items.is_empty() || offset as i64 >= b["total"].as_i64().expect("total") {
            return ids;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The test

// Issue 15 (3): every answered filling-control decision is committed before its answer; events are
// committed before their 2xx (G3); a retried batch is not stored twice; the ledger verifies after a
// crash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answered_event_and_decision_survives_kill_9() {
    let node = Node::new().await;
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let mut rng = StdRng::seed_from_u64(seed);
    let log =
        |trial: usize, what: &str| node.data_dir().join(format!("serve-{trial:02}-{what}.log"));

    let mut first = node.start(log(0, "setup")).await;
    let s = setup(&first.base).await;
    first.stop().await;
    drop(first);
    let shared = Arc::new((s.station.clone(), s.codes.clone()));

    let mut answered_events: BTreeMap<String, i64> = BTreeMap::new();
    let mut answered_decisions: BTreeSet<String> = BTreeSet::new();
    // Per trial: (decisions answered, decisions lost), and every other problem.
    let mut decision_losses: Vec<(usize, usize, usize)> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    for trial in 1..=TRIALS {
        let mut problems = Vec::new();
        // Load from several clients, then SIGKILL after a random delay.
        let mut server = node.start(log(trial, "load")).await;
        let load_ms = rng.random_range(LOAD_MS);
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let token = if rng.random_bool(0.5) {
                    &s.filler
                } else {
                    &s.admin
                };
                tokio::spawn(client(
                    Api::new(&server.base, token),
                    shared.clone(),
                    rng.random(),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(load_ms)).await;
        if let Some(status) = server.child.try_wait().expect("try_wait") {
            panic!(
                "trial {trial}: the server died by itself ({status}):\n{}",
                server.tail()
            );
        }
        server.kill9();
        let load_tail = server.tail();
        let mut unanswered = Vec::new();
        let (mut events_now, mut decisions_now) = (0, 0);
        for c in clients {
            let seen = c.await.expect("client task");
            events_now += seen.events.len();
            decisions_now += seen.decisions.len();
            answered_events.extend(seen.events);
            answered_decisions.extend(seen.decisions.iter().cloned());
            unanswered.extend(seen.unanswered);
            problems.extend(seen.unexpected);
        }

        // Restarted on the same data.
        let mut server = node.start(log(trial, "restart")).await;
        let api = Api::new(&server.base, &s.admin);
        // A client retries what got no answer (same ids, same user): accepted, and stored once.
        let mut retried = Seen::default();
        for (token, batch) in &unanswered {
            let (status, body) = Api::new(&server.base, token)
                .post("/api/v1/events", &json!({"events": batch}))
                .await
                .expect("the restarted server answers");
            note_events(&mut retried, batch, status, &body);
        }
        answered_events.extend(retried.events);
        problems.extend(retried.unexpected);

        let stored = stored_events(&api, &s.codes, &mut problems).await;
        let lost_events: Vec<&String> = answered_events
            .keys()
            .filter(|id| !stored.contains_key(*id))
            .collect();
        if !lost_events.is_empty() {
            problems.push(format!(
                "{} answered events are not stored, e.g. {:?}",
                lost_events.len(),
                &lost_events[..lost_events.len().min(3)]
            ));
        }
        for (id, index) in &answered_events {
            if let Some(i) = stored.get(id)
                && i != index
            {
                problems.push(format!(
                    "event {id} was answered with ledger index {index}, stored at {i}"
                ));
            }
        }
        // The ledger holds each stored event once: indexes 0..n, nothing at n.
        let indexes: BTreeSet<i64> = stored.values().copied().collect();
        let n = stored.len() as i64;
        if indexes != (0..n).collect() {
            problems.push(format!(
                "{n} stored events with {} distinct ledger indexes from {:?} to {:?}",
                indexes.len(),
                indexes.first(),
                indexes.last()
            ));
        }
        let (status, b) = api.get(&format!("/api/v1/ledger/entries/{n}")).await;
        if status != 404 {
            problems.push(format!(
                "the ledger has an entry at {n} beyond the {n} stored events: {b}"
            ));
        }

        let decisions = stored_decisions(&api, &mut problems).await;
        let lost = answered_decisions.difference(&decisions).count();
        decision_losses.push((trial, decisions_now, lost));
        if lost > 0 {
            problems.push(format!(
                "{lost} answered decisions are not recorded ({decisions_now} answered in this trial)"
            ));
            // Counted once: the next trials check what they answer themselves.
            answered_decisions.retain(|d| decisions.contains(d));
        }

        server.stop().await;
        let restart_tail = server.tail();
        drop(server);
        let v = node.verify();
        if !v.status.success() {
            problems.push(format!(
                "cyltrace verify exited {}: {}{}",
                v.status,
                String::from_utf8_lossy(&v.stdout),
                String::from_utf8_lossy(&v.stderr)
            ));
        }
        eprintln!(
            "trial {trial}: {load_ms} ms of load, {events_now} events and {decisions_now} decisions answered, {} batches retried, {} stored events, {} problems",
            unanswered.len(),
            stored.len(),
            problems.len()
        );
        if !problems.is_empty() {
            // The servers' output of the first failed trial only.
            let tails = if failures.is_empty() {
                format!("\n{load_tail}\n{restart_tail}")
            } else {
                String::new()
            };
            failures.push(format!(
                "trial {trial} ({load_ms} ms of load):\n  {}{tails}",
                problems.join("\n  ")
            ));
        }
    }
    let lossy: Vec<String> = decision_losses
        .iter()
        .filter(|(_, _, lost)| *lost > 0)
        .map(|(t, answered, lost)| format!("trial {t}: {lost} of {answered}"))
        .collect();
    assert!(
        failures.is_empty(),
        "seed {seed} (CRASH_SEED to repeat): {} of {TRIALS} trials failed; decisions lost: [{}]\n{}",
        failures.len(),
        lossy.join(", "),
        failures.join("\n")
    );
}
