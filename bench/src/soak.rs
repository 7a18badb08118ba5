//! `cyltrace-bench-soak`: a steady mixed load against a running node for a long time (issue 22,
//! item 9), sampling the server's resident memory and open files from `/proc/<pid>` and the load's
//! latency percentiles per window. It answers whether a node that runs for hours stays flat: no
//! growth of RSS or descriptors, no 5xx, no creeping p99.
//!
//! The load, at `--rate` operations a second on a fixed schedule (not as fast as possible), over
//! the cylinders a `cyltrace-bench-seed` node holds, as its filler:
//! - 40 % `POST /api/v1/events`: a batch of 4 pre-fill checks of random cylinders;
//! - 30 % `POST /api/v1/fill-control` for a random cylinder;
//! - 25 % `GET /api/v1/cylinders/{code}/events` (the trace);
//! - 5 % `GET /healthz`.
//!
//! `bench/soak.sh` seeds a node, starts it and runs this; see bench/RESULTS.md.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};
use tokio::sync::Mutex;

#[derive(Parser)]
struct Args {
    /// The node, e.g. http://127.0.0.1:18998.
    #[arg(long)]
    base: String,
    /// The server's process id (its RSS and open files are sampled).
    #[arg(long)]
    pid: u32,
    /// seed.json written by cyltrace-bench-seed (login, site, codes).
    #[arg(long)]
    seed: std::path::PathBuf,
    #[arg(long, default_value_t = 3600)]
    duration_secs: u64,
    /// Operations started per second.
    #[arg(long, default_value_t = 100)]
    rate: u32,
    /// Length of a sampling window.
    #[arg(long, default_value_t = 60)]
    window_secs: u64,
    /// Where the per-window samples go (CSV).
    #[arg(long)]
    out: std::path::PathBuf,
}

/// What the operations of one window saw.
#[derive(Default)]
struct Window {
    latencies_us: Vec<u64>,
    ok: u64,
    client_errors: u64,
    server_errors: u64,
    transport_errors: u64,
}

struct Load {
    client: reqwest::Client,
    base: String,
    token: String,
    site: String,
    first_code: u64,
    cylinders: u64,
}

impl Load {
    fn code(&self) -> String {
        format!("{:010}", self.first_code + rand_below(self.cylinders))
    }

    /// One operation of the mix; its status (0: no answer).
    async fn one(&self, pick: u64) -> u16 {
        let req = match pick {
            0..40 => {
                // The load stands at real time: the node refuses events older than its age limit.
                #[allow(clippy::disallowed_methods)]
                let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                let events: Vec<Value> = (0..4)
                    .map(|_| {
                        json!({"id": uuid::Uuid::new_v4(), "kind": "pre_fill_check",
                           "codes": [self.code()], "time": time, "site_id": self.site,
                           "data": {"own_property": true, "medium_matches": true, "no_cracks": true,
                                    "no_corrosion": true, "no_deformation": true, "no_damage": true,
                                    "inspection_valid": true, "valve_valid": true,
                                    "residual_pressure_ok": true}})
                    })
                    .collect();
                self.client
                    .post(format!("{}/api/v1/events", self.base))
                    .json(&json!({ "events": events }))
            }
            40..70 => self
                .client
                .post(format!("{}/api/v1/fill-control", self.base))
                .json(&json!({"code": self.code(), "site_id": self.site, "medium": "液化石油气"})),
            70..95 => self.client.get(format!(
                "{}/api/v1/cylinders/{}/events",
                self.base,
                self.code()
            )),
            _ => self.client.get(format!("{}/healthz", self.base)),
        };
        match req.bearer_auth(&self.token).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                // The body is read: a connection is only reused once its answer is consumed.
                let _ = r.bytes().await;
                status
            }
            Err(_) => 0,
        }
    }
}

/// A uniformly random number below `n` (good enough for picking cylinders and operations).
fn rand_below(n: u64) -> u64 {
    uuid::Uuid::new_v4().as_u128() as u64 % n.max(1)
}

/// (RSS KiB, open descriptors) of `pid`.
fn sample(pid: u32) -> (u64, u64) {
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count() as u64)
        .unwrap_or(0);
    (rss, fds)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let seed: Value = serde_json::from_str(&std::fs::read_to_string(&args.seed)?)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(64)
        .build()?;
    let login: Value = client
        .post(format!("{}/api/v1/auth/token", args.base))
        .json(&json!({"username": seed["username"], "password": seed["password"]}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("login refused: {login}"))?
        .to_owned();
    let load = Arc::new(Load {
        client,
        base: args.base.clone(),
        token,
        site: seed["site_id"].as_str().unwrap_or_default().to_owned(),
        first_code: seed["first_code"].as_u64().unwrap_or(0),
        cylinders: seed["cylinders"].as_u64().unwrap_or(1),
    });
    let window = Arc::new(Mutex::new(Window::default()));
    let in_flight = Arc::new(AtomicU64::new(0));
    let mut csv = String::from(
        "elapsed_s,ops,ok,client_4xx,server_5xx,no_answer,p50_ms,p99_ms,max_ms,rss_kib,open_fds,in_flight\n",
    );
    println!(
        "soak: {} ops/s for {} s against {} (pid {}), windows of {} s",
        args.rate, args.duration_secs, args.base, args.pid, args.window_secs
    );
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(args.rate)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut next_sample = started + Duration::from_secs(args.window_secs);
    let (mut all_p99, mut rss_seen, mut fds_seen) = (Vec::new(), Vec::new(), Vec::new());
    let mut totals = Window::default();
    while started.elapsed() < Duration::from_secs(args.duration_secs) {
        tick.tick().await;
        let (op_load, op_window, op_in_flight) = (load.clone(), window.clone(), in_flight.clone());
        in_flight.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let t = Instant::now();
            let status = op_load.one(rand_below(100)).await;
            let us = t.elapsed().as_micros() as u64;
            op_in_flight.fetch_sub(1, Ordering::Relaxed);
            let mut w = op_window.lock().await;
            w.latencies_us.push(us);
            match status {
                0 => w.transport_errors += 1,
                200..=299 => w.ok += 1,
                400..=499 => w.client_errors += 1,
                _ => w.server_errors += 1,
            }
        });
        if Instant::now() >= next_sample {
            next_sample += Duration::from_secs(args.window_secs);
            let mut w = std::mem::take(&mut *window.lock().await);
            w.latencies_us.sort_unstable();
            let (rss, fds) = sample(args.pid);
            let line = format!(
                "{},{},{},{},{},{},{:.2},{:.2},{:.2},{},{},{}",
                started.elapsed().as_secs(),
                w.latencies_us.len(),
                w.ok,
                w.client_errors,
                w.server_errors,
                w.transport_errors,
                percentile(&w.latencies_us, 0.5),
                percentile(&w.latencies_us, 0.99),
                percentile(&w.latencies_us, 1.0),
                rss,
                fds,
                in_flight.load(Ordering::Relaxed)
            );
            println!("{line}");
            csv.push_str(&line);
            csv.push('\n');
            std::fs::write(&args.out, &csv)?;
            all_p99.push(percentile(&w.latencies_us, 0.99));
            rss_seen.push(rss);
            fds_seen.push(fds);
            totals.ok += w.ok;
            totals.client_errors += w.client_errors;
            totals.server_errors += w.server_errors;
            totals.transport_errors += w.transport_errors;
            totals.latencies_us.extend(w.latencies_us);
        }
    }
    totals.latencies_us.sort_unstable();
    let span = |v: &[u64]| {
        format!(
            "first {} / last {} / max {}",
            v.first().unwrap_or(&0),
            v.last().unwrap_or(&0),
            v.iter().max().unwrap_or(&0)
        )
    };
    println!(
        "summary: {} ops ({} ok, {} 4xx, {} 5xx, {} without answer); p50 {:.2} ms, p99 {:.2} ms, \
         max {:.2} ms; worst window p99 {:.2} ms; RSS KiB {}; open files {}",
        totals.latencies_us.len(),
        totals.ok,
        totals.client_errors,
        totals.server_errors,
        totals.transport_errors,
        percentile(&totals.latencies_us, 0.5),
        percentile(&totals.latencies_us, 0.99),
        percentile(&totals.latencies_us, 1.0),
        all_p99.iter().copied().fold(0.0, f64::max),
        span(&rss_seen),
        span(&fds_seen),
    );
    Ok(())
}
