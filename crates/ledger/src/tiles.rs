//! C2SP tlog-tiles: how the tree's hashes are cut into tiles a store can keep as rows.
//!
//! A tile at level L, index N holds the hashes of tree level 8·L, nodes 256·N to 256·N + W − 1
//! (level-0 tiles hold leaf hashes). A full tile has W = 256 and never changes again; a partial
//! tile (W < 256) is the right edge of its level and is replaced by a wider one as the log grows.
//! Any other node hash is computed from the tile below it: a node at level 8·L + r is the
//! perfect-subtree hash of 2^r consecutive hashes in a level-L tile.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use crate::LedgerError;
use crate::hash::{Hash, LogHash};
use crate::tree::{HashReader, NodeId};

/// Tree levels per tile.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes in a full tile.
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;
/// Tile levels a 64-bit tree size can reach (8 · 8 = 64 tree levels).
const MAX_TILE_LEVELS: u8 = 64 / TILE_HEIGHT;

/// Coordinates of a tile: level `L`, index `N`, width `W` (1..=256).
///
/// The same coordinates at level 0 also name the entry bundle holding those leaves' entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tile {
    pub level: u8,
    pub index: u64,
    pub width: u16,
}

/// What a tile path points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TileKind {
    /// `tile/<L>/<N>[.p/<W>]`: hashes.
    Hashes,
    /// `tile/entries/<N>[.p/<W>]`: the entries of the leaves of level-0 tile N.
    Entries,
}

impl Tile {
    pub fn is_full(&self) -> bool {
        u64::from(self.width) == TILE_WIDTH
    }

    /// `tile/<L>/<N>[.p/<W>]`, e.g. `tile/0/x001/234` or `tile/0/005.p/7`.
    pub fn path(&self) -> String {
        format!("tile/{}/{}", self.level, self.index_and_width())
    }

    /// `tile/entries/<N>[.p/<W>]`: the entry bundle for the leaves of this tile, which must be
    /// at level 0 (`None` otherwise: only leaves have entries).
    pub fn entries_path(&self) -> Option<String> {
        (self.level == 0).then(|| format!("tile/entries/{}", self.index_and_width()))
    }

    /// `<N>` as zero-padded 3-digit groups, all but the last prefixed `x`, then `.p/<W>` when
    /// partial. E.g. 1234067 → `x001/x234/067`.
    fn index_and_width(&self) -> String {
        let digits = self.index.to_string();
        let padded = format!("{}{digits}", "0".repeat((3 - digits.len() % 3) % 3));
        // ASCII digits, so byte offsets are character boundaries.
        let groups: Vec<&str> = (0..padded.len())
            .step_by(3)
            .map(|i| &padded[i..i + 3])
            .collect();
        let (last, rest) = groups.split_last().unwrap_or((&"000", &[]));
        let mut out: String = rest.iter().map(|g| format!("x{g}/")).collect();
        out.push_str(last);
        if !self.is_full() {
            out.push_str(&format!(".p/{}", self.width));
        }
        out
    }

    /// Parse a tile or entry-bundle path. Only the canonical form is accepted (no extra zero
    /// groups, no `.p/256`), so one tile has exactly one path.
    pub fn parse_path(path: &str) -> Result<(Tile, TileKind), LedgerError> {
        let bad = || LedgerError::TilePath(path.to_owned());
        let rest = path.strip_prefix("tile/").ok_or_else(bad)?;
        let (kind, level, rest) = match rest.split_once('/').ok_or_else(bad)? {
            ("entries", rest) => (TileKind::Entries, 0, rest),
            (l, rest) => (TileKind::Hashes, parse_decimal(l).ok_or_else(bad)?, rest),
        };
        let level = u8::try_from(level)
            .ok()
            .filter(|&l| l < MAX_TILE_LEVELS)
            .ok_or_else(bad)?;
        let (n, width) = match rest.split_once(".p/") {
            Some((n, w)) => (n, parse_decimal(w).ok_or_else(bad)?),
            None => (rest, TILE_WIDTH),
        };
        let width = u16::try_from(width)
            .ok()
            .filter(|&w| w >= 1 && u64::from(w) <= TILE_WIDTH)
            .ok_or_else(bad)?;
        let mut index: u64 = 0;
        let groups: Vec<&str> = n.split('/').collect();
        for (i, g) in groups.iter().enumerate() {
            let g = if i + 1 < groups.len() {
                g.strip_prefix('x').ok_or_else(bad)?
            } else {
                g
            };
            if g.len() != 3 || !g.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            index = index
                .checked_mul(1000)
                .and_then(|v| v.checked_add(g.parse().ok()?))
                .ok_or_else(bad)?;
        }
        let tile = Tile {
            level,
            index,
            width,
        };
        let canonical = match kind {
            TileKind::Hashes => tile.path(),
            TileKind::Entries => tile.entries_path().unwrap_or_default(),
        };
        if canonical != path {
            return Err(bad());
        }
        Ok((tile, kind))
    }
}

fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Number of complete nodes at tree level 8·`level` in a tree of `size` leaves.
fn count_at(size: u64, level: u8) -> u64 {
    size.checked_shr(u32::from(level) * u32::from(TILE_HEIGHT))
        .unwrap_or(0)
}

/// Width of tile `index` at `level` for a tree of `size` leaves (0 if it does not exist yet).
fn width_at(size: u64, level: u8, index: u64) -> u16 {
    let w = count_at(size, level)
        .saturating_sub(index.saturating_mul(TILE_WIDTH))
        .min(TILE_WIDTH);
    // w <= 256 by the `min`.
    u16::try_from(w).unwrap_or(u16::MAX)
}

/// The tiles whose contents differ between the trees of `old` and `new` leaves: new full tiles,
/// and the partial or newly full tile at the right edge of each level.
pub fn changed_tiles(old: u64, new: u64) -> Vec<Tile> {
    let mut out = Vec::new();
    for level in 0..MAX_TILE_LEVELS {
        let (o, n) = (count_at(old, level), count_at(new, level));
        if n <= o {
            // Nothing new at this level means nothing new above it either.
            break;
        }
        for index in o / TILE_WIDTH..=(n - 1) / TILE_WIDTH {
            let width = width_at(new, level, index);
            if width != width_at(old, level, index) {
                out.push(Tile {
                    level,
                    index,
                    width,
                });
            }
        }
    }
    out
}

/// Every tile of a tree of `size` leaves.
pub fn tiles_for_size(size: u64) -> Vec<Tile> {
    changed_tiles(0, size)
}

/// The partial tiles of a tree of `size` leaves: what [`append_tiles`] needs to extend it.
pub fn partial_tiles(size: u64) -> Vec<Tile> {
    (0..MAX_TILE_LEVELS)
        .map(|level| (level, count_at(size, level)))
        .take_while(|&(_, n)| n > 0)
        .filter(|&(_, n)| n % TILE_WIDTH != 0)
        .map(|(level, n)| Tile {
            level,
            index: n / TILE_WIDTH,
            width: width_at(size, level, n / TILE_WIDTH),
        })
        .collect()
}

/// Tiles (at tree size `size`) holding the hashes of `nodes`, which must be complete in that
/// tree. Sorted and without duplicates.
pub(crate) fn tiles_for_nodes(nodes: &[NodeId], size: u64) -> Vec<Tile> {
    let set: BTreeSet<Tile> = nodes
        .iter()
        .map(|n| {
            let (level, first) = base_of(*n);
            let index = first / TILE_WIDTH;
            Tile {
                level,
                index,
                width: width_at(size, level, index),
            }
        })
        .collect();
    set.into_iter().collect()
}

/// Tile level holding `node`, and the index at tree level 8·L of the first hash it spans.
fn base_of(node: NodeId) -> (u8, u64) {
    let level = node.level / TILE_HEIGHT;
    let r = node.level % TILE_HEIGHT;
    (level, node.index << r)
}

/// A tile and its hashes, e.g. one database row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TileData {
    pub tile: Tile,
    pub hashes: Vec<Hash>,
}

/// Hash of a perfect subtree given its 2^k bottom hashes.
fn perfect_root<H: LogHash>(h: H, hashes: &[Hash]) -> Hash {
    debug_assert!(hashes.len().is_power_of_two());
    let mut row = hashes.to_vec();
    while row.len() > 1 {
        row = row.chunks(2).map(|p| h.node(&p[0], &p[1])).collect();
    }
    row[0]
}

/// Append `new_leaves` (leaf hashes) to a tree of `old_size` leaves and return every tile whose
/// contents changed, with its full new contents — exactly the tiles of
/// [`changed_tiles`]`(old_size, old_size + new_leaves.len())`, lowest level first.
///
/// `old_partials` must hold the contents of [`partial_tiles`]`(old_size)` (more tiles are
/// ignored): the right edge is all of the old tree an append needs.
pub fn append_tiles<H: LogHash>(
    h: H,
    old_size: u64,
    old_partials: &[TileData],
    new_leaves: &[Hash],
) -> Result<Vec<TileData>, LedgerError> {
    let added = u64::try_from(new_leaves.len()).map_err(|_| LedgerError::TreeTooLarge)?;
    old_size
        .checked_add(added)
        .ok_or(LedgerError::TreeTooLarge)?;
    let mut out = Vec::new();
    // Hashes newly completed at tree level 8·level, in order.
    let mut incoming = new_leaves.to_vec();
    for level in 0..MAX_TILE_LEVELS {
        if incoming.is_empty() {
            break;
        }
        let count = count_at(old_size, level);
        let first = count / TILE_WIDTH;
        let kept = count % TILE_WIDTH;
        let mut row = Vec::new();
        if kept > 0 {
            let want = Tile {
                level,
                index: first,
                width: width_at(old_size, level, first),
            };
            let old = old_partials
                .iter()
                .find(|t| t.tile == want)
                .ok_or(LedgerError::MissingTile(want))?;
            if old.hashes.len() != usize::from(want.width) {
                return Err(LedgerError::MissingTile(want));
            }
            row.extend_from_slice(&old.hashes);
        }
        row.append(&mut incoming);
        for (index, chunk) in (first..).zip(row.chunks(TILE_WIDTH as usize)) {
            if chunk.len() as u64 == TILE_WIDTH {
                incoming.push(perfect_root(h, chunk));
            }
            out.push(TileData {
                tile: Tile {
                    level,
                    index,
                    // A chunk holds at most 256 hashes.
                    width: u16::try_from(chunk.len()).unwrap_or(u16::MAX),
                },
                hashes: chunk.to_vec(),
            });
        }
    }
    Ok(out)
}

/// A [`HashReader`] over tiles held in memory — typically the rows a store fetched for a
/// [`crate::ProofPlan::tiles`] request. Node hashes above the bottom of a tile are recomputed
/// from it, or taken from a [`TileCache`] when the reader was made with one.
#[derive(Clone, Debug)]
pub struct TileHashReader<H: LogHash> {
    hasher: H,
    tiles: HashMap<(u8, u64), Vec<Hash>>,
    cache: Option<Arc<TileCache>>,
}

impl<H: LogHash> TileHashReader<H> {
    pub fn new(hasher: H) -> Self {
        TileHashReader {
            hasher,
            tiles: HashMap::new(),
            cache: None,
        }
    }

    /// A reader that takes tile interiors from `cache` (computing and adding the missing ones)
    /// instead of recomputing the nodes it is asked for. The answers are the same as
    /// [`Self::new`]'s; only the work differs.
    pub fn with_cache(hasher: H, cache: Arc<TileCache>) -> Self {
        TileHashReader {
            cache: Some(cache),
            ..Self::new(hasher)
        }
    }

    /// Add a tile. A wider version of the same tile replaces a narrower one (they agree on the
    /// common prefix), so a store may hand over whatever version it holds.
    pub fn insert(&mut self, data: TileData) -> Result<(), LedgerError> {
        if data.hashes.len() != usize::from(data.tile.width) {
            return Err(LedgerError::MissingTile(data.tile));
        }
        let slot = self
            .tiles
            .entry((data.tile.level, data.tile.index))
            .or_default();
        if data.hashes.len() > slot.len() {
            *slot = data.hashes;
        }
        Ok(())
    }

    /// Without a cache: each node is the perfect-subtree hash of its span of the tile, computed
    /// on the spot (2^r − 1 hash operations for a node r levels above the tile's bottom).
    fn read_computed(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, LedgerError> {
        nodes
            .iter()
            .map(|&node| {
                let (level, first) = base_of(node);
                let span = 1usize << (node.level % TILE_HEIGHT);
                let offset = (first % TILE_WIDTH) as usize;
                self.tiles
                    .get(&(level, first / TILE_WIDTH))
                    .and_then(|t| t.get(offset..offset + span))
                    .map(|hashes| perfect_root(self.hasher, hashes))
                    .ok_or(LedgerError::MissingHash(node))
            })
            .collect()
    }

    /// With a cache: look each tile up (or compute its interior) once per call, then index it.
    fn read_cached(&self, cache: &TileCache, nodes: &[NodeId]) -> Result<Vec<Hash>, LedgerError> {
        // A proof touches a handful of tiles, so a list beats a map here.
        let mut interiors: Vec<((u8, u64), Arc<TileInterior>)> = Vec::new();
        nodes
            .iter()
            .map(|&node| {
                let (level, first) = base_of(node);
                let key = (level, first / TILE_WIDTH);
                let bottom = self.tiles.get(&key).ok_or(LedgerError::MissingHash(node))?;
                let interior = match interiors.iter().find(|(k, _)| *k == key) {
                    Some((_, interior)) => Arc::clone(interior),
                    None => {
                        let interior = cache.interior(self.hasher, key, bottom);
                        interiors.push((key, Arc::clone(&interior)));
                        interior
                    }
                };
                // The cached interior may belong to a wider version of the tile: only nodes
                // within this reader's version exist for it, as without a cache.
                let r = node.level % TILE_HEIGHT;
                let offset = ((first % TILE_WIDTH) >> r) as usize;
                if offset >= bottom.len() >> r {
                    return Err(LedgerError::MissingHash(node));
                }
                interior
                    .node(r, offset)
                    .ok_or(LedgerError::MissingHash(node))
            })
            .collect()
    }
}

impl<H: LogHash> HashReader for TileHashReader<H> {
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, LedgerError> {
        match &self.cache {
            Some(cache) => self.read_cached(cache, nodes),
            None => self.read_computed(nodes),
        }
    }
}

/// Every node hash inside one version of a tile: `levels[r][j]` is the node `r` levels above the
/// tile's bottom covering bottom hashes `j·2^r .. (j+1)·2^r` (`levels[0]` is the tile itself).
/// The tile's own root (r = 8) is left out: it is read from the bottom of the tile above.
#[derive(Debug)]
struct TileInterior {
    /// [`LogHash::name`] of the function the levels were computed with.
    hash: &'static str,
    levels: Vec<Vec<Hash>>,
}

impl TileInterior {
    /// Compute all levels: one hash operation per interior node (254 for a full tile, about as
    /// many as the 247 of a single inclusion proof through it).
    fn compute<H: LogHash>(h: H, bottom: &[Hash]) -> Self {
        let mut levels = vec![bottom.to_vec()];
        while let Some(row) = levels
            .last()
            .filter(|row| row.len() >= 2 && levels.len() < usize::from(TILE_HEIGHT))
        {
            let up = row
                .chunks_exact(2)
                .map(|pair| h.node(&pair[0], &pair[1]))
                .collect();
            levels.push(up);
        }
        TileInterior {
            hash: h.name(),
            levels,
        }
    }

    /// Whether this interior answers for `bottom` under `h`: same function, and `bottom` is this
    /// version of the tile or a narrower one (a prefix of it).
    fn serves<H: LogHash>(&self, h: H, bottom: &[Hash]) -> bool {
        self.hash == h.name() && self.levels[0].get(..bottom.len()) == Some(bottom)
    }

    fn node(&self, r: u8, offset: usize) -> Option<Hash> {
        self.levels.get(usize::from(r))?.get(offset).copied()
    }
}

/// Tile interiors computed by [`TileHashReader`]s, kept for later requests.
///
/// Without it every request recomputes the nodes it needs from the tiles' bottom hashes: an
/// inclusion proof costs up to 247 hash operations per tile on its path, whatever was asked
/// before. A store that keeps one `TileCache` (shared by its requests, e.g. in an [`Arc`]) and
/// makes its readers with [`TileHashReader::with_cache`] computes each tile's interior once, for
/// about the price of one proof through it; the few tiles above level 0, which nearly every
/// request crosses, then cost only a lookup.
///
/// Entries are keyed by tile coordinates but never trusted on that alone: an entry serves a reader
/// only if it was computed with the same hash function from the same hashes as the reader's tile
/// (or from a wider version of it), and is recomputed otherwise. So a stale or foreign entry costs
/// time, never a wrong hash. At most `capacity` tiles are kept (about 16 KiB each), the least
/// recently used one is evicted first.
pub struct TileCache {
    capacity: usize,
    state: Mutex<CacheState>,
}

#[derive(Default)]
struct CacheState {
    entries: HashMap<(u8, u64), CacheEntry>,
    /// Entry keys by last use (a strictly increasing tick), oldest first.
    by_use: BTreeMap<u64, (u8, u64)>,
    tick: u64,
}

struct CacheEntry {
    interior: Arc<TileInterior>,
    used: u64,
}

impl CacheState {
    /// Mark `key`'s entry as just used.
    fn touch(&mut self, key: (u8, u64)) {
        self.tick += 1;
        if let Some(entry) = self.entries.get_mut(&key) {
            self.by_use.remove(&entry.used);
            entry.used = self.tick;
            self.by_use.insert(self.tick, key);
        }
    }
}

impl TileCache {
    /// An empty cache holding at most `capacity` tiles (0 caches nothing).
    pub fn new(capacity: usize) -> Self {
        TileCache {
            capacity,
            state: Mutex::new(CacheState::default()),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Number of tiles held.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drop every entry.
    pub fn clear(&self) {
        *self.lock() = CacheState::default();
    }

    /// The state is consistent between statements, so a panic elsewhere while it was locked
    /// leaves nothing to repair.
    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The interior of the tile at `key` whose bottom hashes are `bottom`: the cached one if it
    /// serves them, else a freshly computed one, which is then cached.
    fn interior<H: LogHash>(&self, h: H, key: (u8, u64), bottom: &[Hash]) -> Arc<TileInterior> {
        {
            let mut state = self.lock();
            let hit = state
                .entries
                .get(&key)
                .filter(|entry| entry.interior.serves(h, bottom))
                .map(|entry| Arc::clone(&entry.interior));
            if let Some(interior) = hit {
                state.touch(key);
                return interior;
            }
        }
        // Hash outside the lock, so that concurrent requests do not wait on each other. Two of
        // them may compute the same tile; the later one simply replaces the earlier.
        let interior = Arc::new(TileInterior::compute(h, bottom));
        if self.capacity == 0 {
            return interior;
        }
        let mut state = self.lock();
        state.tick += 1;
        let used = state.tick;
        let entry = CacheEntry {
            interior: Arc::clone(&interior),
            used,
        };
        if let Some(old) = state.entries.insert(key, entry) {
            state.by_use.remove(&old.used);
        }
        state.by_use.insert(used, key);
        while state.entries.len() > self.capacity {
            let Some((_, oldest)) = state.by_use.pop_first() else {
                break;
            };
            state.entries.remove(&oldest);
        }
        interior
    }
}

impl fmt::Debug for TileCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TileCache")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{Sha256Hash, Sm3Hash};
    use crate::tree::{HashReader, MemoryLog};

    fn tile(level: u8, index: u64, width: u16) -> Tile {
        Tile {
            level,
            index,
            width,
        }
    }

    #[test]
    fn paths_follow_c2sp() {
        assert_eq!(tile(0, 1234, 256).path(), "tile/0/x001/234");
        assert_eq!(tile(0, 5, 7).path(), "tile/0/005.p/7");
        assert_eq!(tile(2, 1234067, 256).path(), "tile/2/x001/x234/067");
        assert_eq!(tile(1, 0, 256).path(), "tile/1/000");
        assert_eq!(tile(0, 1000, 1).path(), "tile/0/x001/000.p/1");
        assert_eq!(
            tile(0, 1234, 256).entries_path().as_deref(),
            Some("tile/entries/x001/234")
        );
        assert_eq!(
            tile(0, 5, 7).entries_path().as_deref(),
            Some("tile/entries/005.p/7")
        );
        assert_eq!(tile(1, 5, 7).entries_path(), None);
        assert_eq!(
            tile(0, u64::MAX, 256).path(),
            "tile/0/x018/x446/x744/x073/x709/x551/615"
        );
    }

    #[test]
    fn paths_parse_back_and_non_canonical_forms_are_refused() {
        for t in [
            tile(0, 1234, 256),
            tile(0, 5, 7),
            tile(7, 1234067, 255),
            tile(0, u64::MAX, 1),
        ] {
            assert_eq!(
                Tile::parse_path(&t.path()).ok(),
                Some((t, TileKind::Hashes))
            );
            let leaves = Tile { level: 0, ..t };
            let entries = leaves.entries_path().unwrap_or_default();
            assert_eq!(
                Tile::parse_path(&entries).ok(),
                Some((leaves, TileKind::Entries))
            );
        }
        for bad in [
            "tile/0/1234",
            "tile/0/x000/005",
            "tile/0/005.p/256",
            "tile/0/005.p/0",
            "tile/0/005.p/07",
            "tile/8/005",
            "tile/00/005",
            "tile/0/x001/x234",
            "tile/0/001/234",
            "tile/0/x018/x446/x744/x073/x709/x551/616",
            "tile/0/",
            "tiles/0/005",
            "tile/entries/x001",
        ] {
            assert!(Tile::parse_path(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn tile_sets_for_sizes() {
        assert!(tiles_for_size(0).is_empty());
        assert_eq!(tiles_for_size(5), [tile(0, 0, 5)]);
        assert_eq!(tiles_for_size(256), [tile(0, 0, 256), tile(1, 0, 1)]);
        assert_eq!(
            tiles_for_size(70_000),
            (0..273)
                .map(|i| tile(0, i, 256))
                .chain([
                    tile(0, 273, 112),
                    tile(1, 0, 256),
                    tile(1, 1, 17),
                    tile(2, 0, 1)
                ])
                .collect::<Vec<_>>()
        );
        assert_eq!(
            partial_tiles(70_000),
            [tile(0, 273, 112), tile(1, 1, 17), tile(2, 0, 1)]
        );
        assert_eq!(partial_tiles(65_536), [tile(2, 0, 1)]);
        assert_eq!(changed_tiles(5, 5), []);
        assert_eq!(changed_tiles(5, 6), [tile(0, 0, 6)]);
        assert_eq!(
            changed_tiles(255, 257),
            [tile(0, 0, 256), tile(0, 1, 1), tile(1, 0, 1)]
        );
    }

    /// A log of `size` leaves whose entries are `salt ‖ i`.
    fn log_of<H: LogHash>(h: H, size: u64, salt: u8) -> MemoryLog<H> {
        let mut log = MemoryLog::new(h);
        for i in 0..size {
            log.append(&[&[salt][..], &i.to_be_bytes()].concat());
        }
        log
    }

    /// A reader holding the given versions of tiles of `log`, sharing `cache`.
    fn cached<H: LogHash>(
        log: &MemoryLog<H>,
        tiles: &[Tile],
        cache: &Arc<TileCache>,
    ) -> TileHashReader<H> {
        let mut reader = TileHashReader::with_cache(log.hasher(), Arc::clone(cache));
        for &tile in tiles {
            let hashes = log.tile_hashes(tile).expect("tile within the log");
            reader
                .insert(TileData { tile, hashes })
                .expect("consistent tile");
        }
        reader
    }

    /// Every node read from tile (0, 0) at width 256, and the first one past the end of each of
    /// its levels. (Its root, node (8, 0), is read from tile (1, 0).)
    fn tile_nodes() -> Vec<NodeId> {
        (0..TILE_HEIGHT)
            .flat_map(|r| (0..=(TILE_WIDTH >> r)).map(move |i| NodeId::new(r, i)))
            .collect()
    }

    /// Reads `nodes` one by one (a batch stops at its first missing node).
    fn each<R: HashReader>(reader: &R, nodes: &[NodeId]) -> Vec<Option<Hash>> {
        nodes
            .iter()
            .map(|&n| reader.read_hashes(&[n]).ok().map(|h| h[0]))
            .collect()
    }

    /// What `log` holds for `nodes`.
    fn expected<H: LogHash>(log: &MemoryLog<H>, nodes: &[NodeId]) -> Vec<Option<Hash>> {
        nodes.iter().map(|&n| log.hash(n)).collect()
    }

    #[test]
    fn cache_entries_only_serve_the_tile_they_were_computed_from() {
        let cache = Arc::new(TileCache::new(8));
        let full = [tile(0, 0, 256)];
        let nodes = tile_nodes();
        // The same tile coordinates with other contents (b), and a's very hashes taken as a
        // SHA-256 tile (other interior from the same bottom), read in turns through one entry.
        let a = log_of(Sm3Hash, 256, 0);
        let b = log_of(Sm3Hash, 256, 1);
        let a_as_sha256 = |cache: Option<&Arc<TileCache>>| {
            let mut reader = match cache {
                Some(cache) => TileHashReader::with_cache(Sha256Hash, Arc::clone(cache)),
                None => TileHashReader::new(Sha256Hash),
            };
            let hashes = a.tile_hashes(full[0]).expect("tile within the log");
            reader
                .insert(TileData {
                    tile: full[0],
                    hashes,
                })
                .expect("consistent tile");
            each(&reader, &nodes)
        };
        let sha256 = a_as_sha256(None);
        assert_ne!(sha256, expected(&a, &nodes));
        assert_eq!(expected(&a, &nodes).iter().flatten().count(), 510);
        for _ in 0..2 {
            assert_eq!(
                each(&cached(&a, &full, &cache), &nodes),
                expected(&a, &nodes)
            );
            assert_eq!(
                each(&cached(&b, &full, &cache), &nodes),
                expected(&b, &nodes)
            );
            assert_eq!(a_as_sha256(Some(&cache)), sha256);
        }
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_cached_wider_version_answers_only_within_the_readers_version() {
        let log = log_of(Sm3Hash, 256, 0);
        let nodes = tile_nodes();
        let cache = Arc::new(TileCache::new(8));
        let wide = cached(&log, &[tile(0, 0, 256)], &cache);
        assert_eq!(each(&wide, &nodes), expected(&log, &nodes));
        for width in [1, 5, 128, 200] {
            let narrow = [tile(0, 0, width)];
            let mut uncached = TileHashReader::new(Sm3Hash);
            let hashes = log.tile_hashes(narrow[0]).expect("tile within the log");
            uncached
                .insert(TileData {
                    tile: narrow[0],
                    hashes,
                })
                .expect("consistent tile");
            assert_eq!(
                each(&cached(&log, &narrow, &cache), &nodes),
                each(&uncached, &nodes)
            );
        }
        // The narrower versions were served by the wider entry, not recomputed over it.
        assert_eq!(cache.lock().entries[&(0, 0)].interior.levels[0].len(), 256);
        // A store shares one cache between tasks and threads.
        fn shareable<T: Send + Sync>(_: &T) {}
        shareable(&cache);
    }

    #[test]
    fn the_least_recently_used_tile_is_evicted() {
        let log = log_of(Sm3Hash, 1024, 0);
        let cache = Arc::new(TileCache::new(2));
        let read = |index: u64| {
            let reader = cached(&log, &[tile(0, index, 256)], &cache);
            // The left half of the tile: its top node inside the tile.
            let node = NodeId::new(7, 2 * index);
            assert_eq!(
                reader.read_hashes(&[node]).ok(),
                log.hash(node).map(|h| vec![h])
            );
        };
        let held = || {
            let state = cache.lock();
            let mut keys: Vec<u64> = state.entries.keys().map(|&(_, i)| i).collect();
            keys.sort_unstable();
            keys
        };
        read(0);
        read(1);
        read(0);
        read(2);
        assert_eq!(held(), [0, 2]);
        read(3);
        assert_eq!(held(), [2, 3]);
        cache.clear();
        assert!(cache.is_empty());

        let none = Arc::new(TileCache::new(0));
        let reader = cached(&log, &[tile(0, 0, 256)], &none);
        let node = NodeId::new(7, 1);
        assert_eq!(
            reader.read_hashes(&[node]).ok(),
            log.hash(node).map(|h| vec![h])
        );
        assert!(none.is_empty());
    }
}
