//! Inclusion proofs on a log of 1,000,000 leaves (SM3): generation from the in-memory log,
//! generation from tiles (the work a store does after fetching the plan's tiles), and
//! verification. Run briefly with
//! `cargo bench -p cyltrace-ledger --bench proofs -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use cyltrace_ledger::*;

const SIZE: u64 = 1_000_000;

/// Spread the probed indices over the whole log (a multiplicative step coprime with SIZE).
fn index(i: u64) -> u64 {
    (i * 618_033) % SIZE
}

fn bench(c: &mut Criterion) {
    let mut log = MemoryLog::new(Sm3Hash);
    for i in 0..SIZE {
        log.append(&i.to_be_bytes());
    }
    let root = log.root(SIZE).expect("root");

    let mut i = 0;
    c.bench_function("inclusion_proof/generate/memory", |b| {
        b.iter(|| {
            i += 1;
            black_box(log.inclusion_proof(index(i), SIZE).expect("proof"))
        })
    });

    let mut i = 0;
    c.bench_function("inclusion_proof/generate/tiles", |b| {
        b.iter(|| {
            i += 1;
            let plan = inclusion_plan(index(i), SIZE).expect("plan");
            let mut reader = TileHashReader::new(Sm3Hash);
            for tile in plan.tiles() {
                let hashes = log.tile_hashes(tile).expect("tile");
                reader.insert(TileData { tile, hashes }).expect("tile");
            }
            black_box(inclusion_proof(Sm3Hash, &reader, index(i), SIZE).expect("proof"))
        })
    });

    let proofs: Vec<(u64, Hash, Vec<Hash>)> = (0..1024)
        .map(|i| {
            let n = index(i);
            let leaf = log.leaf_hash(n).expect("leaf");
            (n, leaf, log.inclusion_proof(n, SIZE).expect("proof"))
        })
        .collect();
    let mut i = 0;
    c.bench_function("inclusion_proof/verify", |b| {
        b.iter(|| {
            i = (i + 1) % proofs.len();
            let (n, leaf, proof) = &proofs[i];
            black_box(verify_inclusion(Sm3Hash, leaf, *n, SIZE, proof, &root).is_ok())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
