//! Tiles: an append yields exactly the tiles a brute-force recomputation says changed, with the
//! right contents; a store that only ever keeps those tiles answers roots and proofs like the
//! in-memory log.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};

use cyltrace_ledger::*;
use proptest::prelude::*;

/// Past 65,536 leaves, so that level-2 tiles exist.
const BIG: u64 = 140_000;

fn big_log() -> &'static MemoryLog<Sm3Hash> {
    static LOG: OnceLock<MemoryLog<Sm3Hash>> = OnceLock::new();
    LOG.get_or_init(|| {
        let mut log = MemoryLog::new(Sm3Hash);
        for i in 0..BIG {
            log.append(&i.to_le_bytes());
        }
        log
    })
}

fn leaves(log: &MemoryLog<Sm3Hash>, from: u64, to: u64) -> Vec<Hash> {
    (from..to).filter_map(|i| log.leaf_hash(i)).collect()
}

fn contents(log: &MemoryLog<Sm3Hash>, tiles: &[Tile]) -> Vec<TileData> {
    tiles
        .iter()
        .map(|&tile| TileData {
            tile,
            hashes: log.tile_hashes(tile).expect("tile within the log"),
        })
        .collect()
}

fn reader_for(log: &MemoryLog<Sm3Hash>, tiles: &[Tile]) -> TileHashReader<Sm3Hash> {
    let mut reader = TileHashReader::new(Sm3Hash);
    for data in contents(log, tiles) {
        reader.insert(data).expect("consistent tile");
    }
    reader
}

/// One cache shared by every case, as a store shares one between requests; small, so that
/// entries are evicted, and fed tiles of every size, so that entries meet narrower and wider
/// versions of their tiles.
fn shared_cache() -> Arc<TileCache> {
    static CACHE: OnceLock<Arc<TileCache>> = OnceLock::new();
    Arc::clone(CACHE.get_or_init(|| Arc::new(TileCache::new(24))))
}

fn cached_reader_for(log: &MemoryLog<Sm3Hash>, tiles: &[Tile]) -> TileHashReader<Sm3Hash> {
    let mut reader = TileHashReader::with_cache(Sm3Hash, shared_cache());
    for data in contents(log, tiles) {
        reader.insert(data).expect("consistent tile");
    }
    reader
}

fn check_append(old: u64, added: u64) -> Result<(), TestCaseError> {
    let log = big_log();
    let new = old + added;
    let partials = contents(log, &cyltrace_ledger::partial_tiles(old));
    let out = append_tiles(Sm3Hash, old, &partials, &leaves(log, old, new))
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let got: Vec<Tile> = out.iter().map(|t| t.tile).collect();
    prop_assert_eq!(&got, &changed_tiles(old, new));
    // Brute force: the tiles of the new tree that the old tree did not have.
    let before: BTreeSet<Tile> = tiles_for_size(old).into_iter().collect();
    let brute: BTreeSet<Tile> = tiles_for_size(new)
        .into_iter()
        .filter(|t| !before.contains(t))
        .collect();
    prop_assert_eq!(got.iter().copied().collect::<BTreeSet<_>>(), brute);
    for data in &out {
        let want = log.tile_hashes(data.tile);
        prop_assert_eq!(Some(&data.hashes), want.as_ref(), "{:?}", data.tile);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn appends_touch_exactly_the_changed_tiles(old in 0u64..=BIG - 1000, added in 0u64..=1000) {
        check_append(old, added)?;
    }

    /// Roots and proofs computed from just the tiles a plan names equal the in-memory log's.
    #[test]
    fn proofs_from_tiles_match_the_memory_log(size in 1u64..=BIG, a: u64, b: u64) {
        let log = big_log();
        let index = a % size;
        let old = b % (size + 1);
        let plan = root_plan(size);
        let reader = reader_for(log, &plan.tiles());
        prop_assert_eq!(root(Sm3Hash, &reader, size).ok(), log.root(size).ok());
        let plan = inclusion_plan(index, size).expect("index < size");
        let reader = reader_for(log, &plan.tiles());
        prop_assert_eq!(
            inclusion_proof(Sm3Hash, &reader, index, size).ok(),
            log.inclusion_proof(index, size).ok()
        );
        let plan = consistency_plan(old, size).expect("old <= size");
        let reader = reader_for(log, &plan.tiles());
        prop_assert_eq!(
            consistency_proof(Sm3Hash, &reader, old, size).ok(),
            log.consistency_proof(old, size).ok()
        );
    }

    /// The same through readers sharing one cache across all cases (and so across sizes).
    #[test]
    fn cached_proofs_from_tiles_match_the_memory_log(size in 1u64..=BIG, a: u64, b: u64) {
        let log = big_log();
        let index = a % size;
        let old = b % (size + 1);
        let reader = cached_reader_for(log, &root_plan(size).tiles());
        prop_assert_eq!(root(Sm3Hash, &reader, size).ok(), log.root(size).ok());
        let plan = inclusion_plan(index, size).expect("index < size");
        let reader = cached_reader_for(log, &plan.tiles());
        prop_assert_eq!(
            inclusion_proof(Sm3Hash, &reader, index, size).ok(),
            log.inclusion_proof(index, size).ok()
        );
        let plan = consistency_plan(old, size).expect("old <= size");
        let reader = cached_reader_for(log, &plan.tiles());
        prop_assert_eq!(
            consistency_proof(Sm3Hash, &reader, old, size).ok(),
            log.consistency_proof(old, size).ok()
        );
        prop_assert!(shared_cache().len() <= shared_cache().capacity());
    }
}

#[test]
fn boundary_appends() {
    for (old, added) in [
        (0, 0),
        (0, 1),
        (0, 256),
        (255, 1),
        (255, 2),
        (256, 0),
        (65_535, 1),
        (65_535, 257),
        (65_280, 256),
        (65_536, 65_536),
        (0, BIG),
    ] {
        check_append(old, added).unwrap_or_else(|e| panic!("{old}+{added}: {e}"));
    }
}

/// A store that keeps only what `append_tiles` hands it, one random batch after another,
/// ends up with every tile of the tree and answers like the in-memory log.
#[test]
fn a_store_fed_only_by_appends() {
    let log = big_log();
    let mut store: HashMap<(u8, u64), TileData> = HashMap::new();
    let mut size = 0;
    let mut batch = 1;
    while size < 70_000 {
        let partials: Vec<TileData> = partial_tiles(size)
            .iter()
            .map(|t| store[&(t.level, t.index)].clone())
            .collect();
        let new = size + batch;
        for data in append_tiles(Sm3Hash, size, &partials, &leaves(log, size, new))
            .expect("partials present")
        {
            store.insert((data.tile.level, data.tile.index), data);
        }
        size = new;
        batch = (batch * 7 + 3) % 611;
    }
    let expected = tiles_for_size(size);
    assert_eq!(store.len(), expected.len());
    for tile in expected {
        assert_eq!(
            Some(&store[&(tile.level, tile.index)].hashes),
            log.tile_hashes(tile).as_ref()
        );
    }
    let mut reader = TileHashReader::new(Sm3Hash);
    for data in store.into_values() {
        reader.insert(data).expect("consistent tile");
    }
    assert_eq!(root(Sm3Hash, &reader, size).ok(), log.root(size).ok());
    for (index, old) in [
        (0, 1),
        (size - 1, size - 1),
        (12_345, 54_321),
        (65_536, 65_537),
    ] {
        assert_eq!(
            inclusion_proof(Sm3Hash, &reader, index, size).ok(),
            log.inclusion_proof(index, size).ok()
        );
        assert_eq!(
            consistency_proof(Sm3Hash, &reader, old, size).ok(),
            log.consistency_proof(old, size).ok()
        );
    }
}

#[test]
fn missing_or_short_tiles_are_errors_not_guesses() {
    let log = big_log();
    let partials = contents(log, &partial_tiles(300));
    assert!(matches!(
        append_tiles(Sm3Hash, 300, &[], &leaves(log, 300, 301)),
        Err(LedgerError::MissingTile(_))
    ));
    let mut short = partials.clone();
    short[0].hashes.pop();
    assert!(append_tiles(Sm3Hash, 300, &short, &leaves(log, 300, 301)).is_err());
    // Nothing to append needs nothing.
    assert_eq!(append_tiles(Sm3Hash, 300, &[], &[]).ok(), Some(vec![]));
    // A reader lacking a tile says which node it could not find.
    let reader = TileHashReader::new(Sm3Hash);
    assert!(matches!(
        root(Sm3Hash, &reader, 300),
        Err(LedgerError::MissingHash(NodeId { level: 8, index: 0 }))
    ));
    let mut bad = TileHashReader::new(Sm3Hash);
    let mut data = partials[0].clone();
    data.hashes.push(Hash::default());
    assert!(bad.insert(data).is_err());
}

#[test]
fn a_wider_tile_version_serves_older_sizes() {
    let log = big_log();
    // The store may hold only the newest version of a partial tile.
    let mut reader = TileHashReader::new(Sm3Hash);
    for data in contents(log, &tiles_for_size(600)) {
        reader.insert(data).expect("consistent tile");
    }
    for data in contents(log, &tiles_for_size(300)) {
        reader.insert(data).expect("narrower versions are ignored");
    }
    assert_eq!(root(Sm3Hash, &reader, 300).ok(), log.root(300).ok());
    assert_eq!(root(Sm3Hash, &reader, 600).ok(), log.root(600).ok());
}
