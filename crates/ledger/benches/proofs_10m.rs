//! Proof generation from C2SP tiles on a log of 10,000,000 SM3 leaves, reported as latency
//! percentiles (the requirement is "≤ 1 ms p99", which a mean cannot show).
//!
//! The log is built the way the store builds it: leaf hashes are appended in batches of 256 with
//! [`append_tiles`], and the returned tiles are upserted into a map keyed by (level, index) that
//! stands in for the tile table (a partial tile is overwritten by its wider successor). Each
//! timed request then does the store's whole share of the work on that map: build the plan,
//! fetch (clone) the rows of [`ProofPlan::tiles`], load them into a [`TileHashReader`] and fold
//! the proof. A sample of the answers is verified against the root so that a wrong answer cannot
//! pass for a fast one.
//!
//! Every operation is measured twice: with a fresh [`TileHashReader`] per request, which
//! recomputes the nodes inside the tiles each time, and with readers sharing one long-lived
//! [`TileCache`] (the same requests, which must get the same answers).
//!
//! Run with `cargo bench -p cyltrace-ledger --bench proofs_10m`. Environment:
//! - `LEDGER_BENCH_SIZE`: leaves in the log (default 10,000,000);
//! - `LEDGER_BENCH_SAMPLES`: timed requests per operation (default 20,000).
//!
//! Without `--bench` on the command line (e.g. `cargo test --benches`) it runs as a quick smoke
//! test on 70,000 leaves, and also checks the tile-built roots against a [`MemoryLog`].

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cyltrace_ledger::*;

/// The requirement this benchmark checks.
const TARGET_P99: Duration = Duration::from_millis(1);
/// Leaves per append, as the store batches them.
const BATCH: u64 = 256;
/// Every how many timed requests the answer is kept for verification.
const VERIFY_EVERY: usize = 50;
/// Tiles the shared [`TileCache`] may hold (about 16 KiB each, so 64 MiB): every tile above
/// level 0 of a 10M log (154) and about a tenth of its 39,063 level-0 tiles.
const CACHE_TILES: usize = 4096;

/// The stand-in for the tile table: one row per (level, index), holding the newest version.
type TileStore = HashMap<(u8, u64), TileData>;

/// The entry of leaf `i`; its leaf hash is `Sm3Hash.leaf(&entry(i))`.
fn entry(i: u64) -> [u8; 8] {
    i.to_be_bytes()
}

/// SplitMix64: a small deterministic generator, so every run probes the same requests.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform enough in `lo..hi` for a benchmark (the modulo bias is negligible here).
    fn below(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    let parsed = value.replace('_', "").parse().unwrap_or_else(|_| {
        panic!("{name}={value:?} is not a number");
    });
    Some(parsed)
}

/// Build the log of `size` leaves through `append_tiles`, as the store does on each append.
fn build(size: u64) -> TileStore {
    let mut store = TileStore::new();
    let mut len = 0;
    while len < size {
        let end = size.min(len + BATCH);
        let leaves: Vec<Hash> = (len..end).map(|i| Sm3Hash.leaf(&entry(i))).collect();
        // The rows an append reads: the right edge of the current tree.
        let partials = fetch(&store, &partial_tiles(len));
        for data in append_tiles(Sm3Hash, len, &partials, &leaves).expect("partials present") {
            store.insert((data.tile.level, data.tile.index), data);
        }
        len = end;
    }
    store
}

/// The database fetch: a copy of the stored row of each tile, cut to the width asked for (the
/// row may be wider when the tree has grown since the plan's size).
fn fetch(store: &TileStore, tiles: &[Tile]) -> Vec<TileData> {
    tiles
        .iter()
        .map(|&tile| {
            let row = store
                .get(&(tile.level, tile.index))
                .unwrap_or_else(|| panic!("tile {} is not stored", tile.path()));
            let hashes = row.hashes[..usize::from(tile.width)].to_vec();
            TileData { tile, hashes }
        })
        .collect()
}

/// A reader over the fetched rows of `plan`, taking tile interiors from `cache` if given.
fn reader_for(
    store: &TileStore,
    plan: &ProofPlan,
    cache: Option<&Arc<TileCache>>,
) -> TileHashReader<Sm3Hash> {
    let mut reader = match cache {
        Some(cache) => TileHashReader::with_cache(Sm3Hash, Arc::clone(cache)),
        None => TileHashReader::new(Sm3Hash),
    };
    for data in fetch(store, &plan.tiles()) {
        reader.insert(data).expect("well-formed row");
    }
    reader
}

/// The store's work for an inclusion proof.
fn inclusion(
    store: &TileStore,
    cache: Option<&Arc<TileCache>>,
    index: u64,
    size: u64,
) -> Vec<Hash> {
    let plan = inclusion_plan(index, size).expect("index below size");
    let reader = reader_for(store, &plan, cache);
    inclusion_proof(Sm3Hash, &reader, index, size).expect("inclusion proof")
}

/// The store's work for a consistency proof.
fn consistency(store: &TileStore, cache: Option<&Arc<TileCache>>, old: u64, new: u64) -> Vec<Hash> {
    let plan = consistency_plan(old, new).expect("old not above new");
    let reader = reader_for(store, &plan, cache);
    consistency_proof(Sm3Hash, &reader, old, new).expect("consistency proof")
}

/// The store's work for a root (what a checkpoint is signed over).
fn tree_root(store: &TileStore, cache: Option<&Arc<TileCache>>, size: u64) -> Hash {
    let reader = reader_for(store, &root_plan(size), cache);
    root(Sm3Hash, &reader, size).expect("root")
}

/// Latency distribution of one operation (nearest-rank percentiles).
struct Stats {
    sorted: Vec<Duration>,
    /// Involuntary context switches while measuring, if known.
    preempted: Option<u64>,
}

impl Stats {
    fn new(mut samples: Vec<Duration>, preempted: Option<u64>) -> Self {
        assert!(!samples.is_empty(), "no samples");
        samples.sort_unstable();
        Stats {
            sorted: samples,
            preempted,
        }
    }

    fn percentile(&self, p: f64) -> Duration {
        let n = self.sorted.len();
        // Nearest rank: the smallest sample with at least p % of the samples at or below it.
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        self.sorted[rank.clamp(1, n) - 1]
    }

    fn max(&self) -> Duration {
        self.sorted[self.sorted.len() - 1]
    }
}

/// Times this thread was descheduled against its will so far (`None` off Linux). On a shared
/// machine each such switch can stall one request for a whole time slice, which is what shows in
/// p99 and max when the count nears 1 % of the samples.
fn preemptions() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/thread-self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("nonvoluntary_ctxt_switches:"))?
        .trim()
        .parse()
        .ok()
}

/// Time `samples` calls of `op` (whose argument is the call number), keeping every
/// `VERIFY_EVERY`-th answer with its call number for verification afterwards.
fn measure<T>(samples: usize, mut op: impl FnMut(usize) -> T) -> (Stats, Vec<(usize, T)>) {
    let preempted_before = preemptions();
    let mut times = Vec::with_capacity(samples);
    let mut kept = Vec::new();
    for i in 0..samples {
        let start = Instant::now();
        let answer = black_box(op(i));
        times.push(start.elapsed());
        if i % VERIFY_EVERY == 0 {
            kept.push((i, answer));
        }
    }
    let preempted = preemptions()
        .zip(preempted_before)
        .map(|(after, before)| after - before);
    (Stats::new(times, preempted), kept)
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// 10000000 → "10,000,000".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and gets a smoke run.
    let benching = std::env::args().any(|a| a == "--bench");
    let size = env_u64("LEDGER_BENCH_SIZE").unwrap_or(if benching { 10_000_000 } else { 70_000 });
    let samples = env_u64("LEDGER_BENCH_SAMPLES").unwrap_or(if benching { 20_000 } else { 500 });
    assert!(size >= 2, "LEDGER_BENCH_SIZE must be at least 2");
    let samples = usize::try_from(samples).expect("sample count fits in memory");
    let load_before = load_average();

    let start = Instant::now();
    let store = build(size);
    let build_time = start.elapsed();
    let stored_hashes: usize = store.values().map(|t| t.hashes.len()).sum();

    let root_hash = tree_root(&store, None, size);
    if !benching {
        // Independent check of the tile-built roots: the in-memory log hashes every node itself.
        let mut log = MemoryLog::new(Sm3Hash);
        for i in 0..size {
            log.append(&entry(i));
        }
        let sizes = [1, 255, 256, 257, 65_536, size / 2 + 1, size];
        for n in sizes.into_iter().filter(|&n| n <= size) {
            assert_eq!(
                Some(tree_root(&store, None, n)),
                log.root(n).ok(),
                "root at {n}"
            );
        }
    }

    // Fixed seeds, one per operation, so every run (and both readers) probe the same requests.
    let mut rng = SplitMix64(0x0c71_7ace);
    let indices: Vec<u64> = (0..samples).map(|_| rng.below(0, size)).collect();
    let mut rng = SplitMix64(0x0c0f_f5e7);
    let olds: Vec<u64> = (0..samples).map(|_| rng.below(1, size)).collect();

    // Each operation with a fresh reader per request (what the store does today), then with
    // readers sharing one long-lived cache that starts empty.
    let cache = Arc::new(TileCache::new(CACHE_TILES));
    let mut rows = Vec::new();
    let mut kept_inclusion = Vec::new();
    let mut kept_consistency = Vec::new();
    let mut verified = (0, 0);
    for cache in [None, Some(&cache)] {
        let label = |op: &str| match cache {
            None => op.to_owned(),
            Some(_) => format!("{op}, shared TileCache"),
        };

        let (stats, kept) = measure(samples, |i| inclusion(&store, cache, indices[i], size));
        for (i, proof) in &kept {
            let (index, leaf) = (indices[*i], Sm3Hash.leaf(&entry(indices[*i])));
            verify_inclusion(Sm3Hash, &leaf, index, size, proof, &root_hash)
                .unwrap_or_else(|e| panic!("inclusion proof of {index} at {size}: {e}"));
        }
        verified.0 += kept.len();
        rows.push((label("inclusion proof"), stats));
        kept_inclusion.push(kept);

        let (stats, kept) = measure(samples, |i| consistency(&store, cache, olds[i], size));
        for (i, proof) in &kept {
            let old = olds[*i];
            // The old root comes from the same rows, cut to the old size.
            let old_root = tree_root(&store, None, old);
            verify_consistency(Sm3Hash, old, size, &old_root, &root_hash, proof)
                .unwrap_or_else(|e| panic!("consistency proof {old} → {size}: {e}"));
        }
        verified.1 += kept.len();
        rows.push((label("consistency proof (random old size)"), stats));
        kept_consistency.push(kept);

        let (stats, kept) = measure(samples, |_| tree_root(&store, cache, size));
        assert!(kept.iter().all(|(_, r)| *r == root_hash), "root changed");
        rows.push((label("root"), stats));
    }
    // Both readers must have given the very same answers.
    assert!(
        kept_inclusion[0] == kept_inclusion[1],
        "cached inclusion proofs differ"
    );
    assert!(
        kept_consistency[0] == kept_consistency[1],
        "cached consistency proofs differ"
    );
    let load_after = load_average();

    println!();
    println!(
        "Proof generation from C2SP tiles, SM3, log of {} leaves",
        thousands(size)
    );
    println!();
    println!("- CPU: {} ({} logical CPUs)", cpu_model(), num_cpus());
    println!(
        "- build: {:.1} s ({} tiles, {} stored hashes, batches of {BATCH} via append_tiles)",
        build_time.as_secs_f64(),
        thousands(store.len() as u64),
        thousands(stored_hashes as u64)
    );
    println!("- load average before / after: {load_before} / {load_after}");
    println!(
        "- {} timed requests per row (plan → fetch rows → TileHashReader → answer); verified: \
         {} inclusion, {} consistency proofs",
        thousands(samples as u64),
        verified.0,
        verified.1
    );
    println!(
        "- shared TileCache: capacity {} tiles, {} held at the end",
        thousands(CACHE_TILES as u64),
        thousands(cache.len() as u64)
    );
    println!(
        "- preempted: involuntary context switches of the bench thread while timing the row \
         (each can stall one request by a time slice)"
    );
    println!();
    println!("| operation | p50 | p90 | p99 | max | preempted |");
    println!("|---|---|---|---|---|---|");
    for (name, stats) in &rows {
        println!(
            "| {name} | {} | {} | {} | {} | {} |",
            micros(stats.percentile(50.0)),
            micros(stats.percentile(90.0)),
            micros(stats.percentile(99.0)),
            micros(stats.max()),
            stats.preempted.map_or("?".to_owned(), |n| n.to_string())
        );
    }
    println!();
    for (name, stats) in rows
        .iter()
        .filter(|(name, _)| name.starts_with("inclusion"))
    {
        let p99 = stats.percentile(99.0);
        println!(
            "Target p99 ≤ {} for \"{name}\": {} ({}).",
            micros(TARGET_P99),
            if p99 <= TARGET_P99 { "met" } else { "NOT met" },
            micros(p99)
        );
    }
}
