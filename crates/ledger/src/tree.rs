//! RFC 6962 / RFC 9162 Merkle tree math: roots, inclusion and consistency proofs, verification.
//!
//! Every hash a proof or a root needs is the hash of a *perfect* subtree (a [`NodeId`]): an
//! aligned run of 2^level leaves. Those never change once the log has grown past them, which is
//! what lets a store keep them (in tiles) and lets proofs be built from stored hashes only. A
//! request is answered in two steps: a [`ProofPlan`] names the perfect subtrees needed, a
//! [`HashReader`] supplies their hashes, and the plan folds them into the answer.

use crate::LedgerError;
use crate::hash::{Hash, LogHash};
use crate::tiles::{self, Tile};

/// A perfect subtree: the 2^`level` leaves starting at leaf `index << level`.
/// Level 0 nodes are the leaf hashes themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub level: u8,
    pub index: u64,
}

impl NodeId {
    pub fn new(level: u8, index: u64) -> Self {
        NodeId { level, index }
    }
}

/// Where stored node hashes come from: an in-memory log, tiles fetched from a database, ….
///
/// Batched so that a database-backed reader can fetch everything a proof needs in one query.
pub trait HashReader {
    /// The hashes of `nodes`, in the same order. A node the reader does not hold is an error
    /// ([`LedgerError::MissingHash`]), never a made-up value.
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, LedgerError>;
}

/// The perfect subtrees a root or proof is made of, and how to fold them.
///
/// Each element of the answer is the RFC 6962 hash of a range of leaves, and each range is a
/// run of perfect subtrees (largest first) folded right to left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofPlan {
    size: u64,
    nodes: Vec<NodeId>,
    /// Element `i` folds `nodes[ends[i-1]..ends[i]]`.
    ends: Vec<usize>,
}

impl ProofPlan {
    fn new(size: u64) -> Self {
        ProofPlan {
            size,
            nodes: Vec::new(),
            ends: Vec::new(),
        }
    }

    /// Add one answer element: the hash of leaves `[start, end)`. Callers only pass ranges whose
    /// start is aligned to a power of two at least as large as the range, so the binary
    /// decomposition of its length gives aligned perfect subtrees.
    fn push_range(&mut self, start: u64, end: u64) {
        let mut pos = start;
        let len = end - start;
        for level in (0..64u8).rev() {
            if len & (1 << level) != 0 {
                self.nodes.push(NodeId::new(level, pos >> level));
                pos += 1 << level;
            }
        }
        self.ends.push(self.nodes.len());
    }

    /// The perfect subtrees whose hashes are needed, in the order [`HashReader`] is asked for them.
    pub fn nodes(&self) -> &[NodeId] {
        &self.nodes
    }

    /// The C2SP tiles (at the plan's tree size) holding those hashes: what a store must fetch.
    pub fn tiles(&self) -> Vec<Tile> {
        tiles::tiles_for_nodes(&self.nodes, self.size)
    }

    /// Fold the hashes of [`Self::nodes`] into the answer elements.
    pub fn assemble<H: LogHash>(&self, h: H, hashes: &[Hash]) -> Result<Vec<Hash>, LedgerError> {
        if hashes.len() != self.nodes.len() {
            return Err(LedgerError::Storage(
                format!(
                    "hash reader returned {} hashes for {} nodes",
                    hashes.len(),
                    self.nodes.len()
                )
                .into(),
            ));
        }
        let mut start = 0;
        let mut out = Vec::with_capacity(self.ends.len());
        for &end in &self.ends {
            let run = &hashes[start..end];
            // Runs are never empty: every pushed range has a non-zero length.
            let mut acc = run[run.len() - 1];
            for left in run[..run.len() - 1].iter().rev() {
                acc = h.node(left, &acc);
            }
            out.push(acc);
            start = end;
        }
        Ok(out)
    }

    fn run<H: LogHash, R: HashReader + ?Sized>(
        &self,
        h: H,
        reader: &R,
    ) -> Result<Vec<Hash>, LedgerError> {
        self.assemble(h, &reader.read_hashes(&self.nodes)?)
    }
}

/// Largest power of two strictly smaller than `n` (`n >= 2`): the split point `k` of RFC 6962.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// Plan for the root of the tree of `size` leaves. Empty for size 0, whose root is
/// [`LogHash::empty_root`] and needs no stored hash.
pub fn root_plan(size: u64) -> ProofPlan {
    let mut plan = ProofPlan::new(size);
    if size > 0 {
        plan.push_range(0, size);
    }
    plan
}

/// Plan for the inclusion proof of leaf `index` in the tree of `size` leaves
/// (RFC 9162 §2.1.3.1, PATH).
pub fn inclusion_plan(index: u64, size: u64) -> Result<ProofPlan, LedgerError> {
    if index >= size {
        return Err(LedgerError::IndexOutOfRange { index, size });
    }
    let mut plan = ProofPlan::new(size);
    // Walk down from the whole tree; siblings are collected top-down and the proof lists them
    // bottom-up, hence the reversal.
    let mut ranges = Vec::new();
    let (mut lo, mut hi) = (0, size);
    while hi - lo > 1 {
        let k = split(hi - lo);
        if index < lo + k {
            ranges.push((lo + k, hi));
            hi = lo + k;
        } else {
            ranges.push((lo, lo + k));
            lo += k;
        }
    }
    for (a, b) in ranges.into_iter().rev() {
        plan.push_range(a, b);
    }
    Ok(plan)
}

/// Plan for the consistency proof between the trees of `old` and `new` leaves
/// (RFC 9162 §2.1.4.1, SUBPROOF). Empty when `old` is 0 or equal to `new`.
pub fn consistency_plan(old: u64, new: u64) -> Result<ProofPlan, LedgerError> {
    if old > new {
        return Err(LedgerError::SizeOrder { old, new });
    }
    let mut plan = ProofPlan::new(new);
    if old == 0 || old == new {
        return Ok(plan);
    }
    // SUBPROOF(m, D[lo:hi], b), unrolled; as for inclusion, collected top-down.
    let mut ranges = Vec::new();
    let (mut m, mut lo, mut hi, mut b) = (old, 0, new, true);
    while m != hi - lo {
        let k = split(hi - lo);
        if m <= k {
            ranges.push((lo + k, hi));
            hi = lo + k;
        } else {
            ranges.push((lo, lo + k));
            m -= k;
            lo += k;
            b = false;
        }
    }
    if !b {
        ranges.push((lo, hi));
    }
    for (a, b) in ranges.into_iter().rev() {
        plan.push_range(a, b);
    }
    Ok(plan)
}

/// The root of the tree of `size` leaves.
pub fn root<H: LogHash, R: HashReader + ?Sized>(
    h: H,
    reader: &R,
    size: u64,
) -> Result<Hash, LedgerError> {
    Ok(root_plan(size)
        .run(h, reader)?
        .pop()
        .unwrap_or_else(|| h.empty_root()))
}

/// Inclusion proof (audit path) of leaf `index` in the tree of `size` leaves, leaf side first.
pub fn inclusion_proof<H: LogHash, R: HashReader + ?Sized>(
    h: H,
    reader: &R,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, LedgerError> {
    inclusion_plan(index, size)?.run(h, reader)
}

/// Consistency proof between the trees of `old` and `new` leaves.
pub fn consistency_proof<H: LogHash, R: HashReader + ?Sized>(
    h: H,
    reader: &R,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, LedgerError> {
    consistency_plan(old, new)?.run(h, reader)
}

fn fail(reason: &'static str) -> Result<(), LedgerError> {
    Err(LedgerError::ProofInvalid(reason))
}

/// Verify that `leaf_hash` is leaf `index` of the tree of `size` leaves whose root is `root`
/// (RFC 9162 §2.1.3.2).
///
/// `size` only shapes the computation (leaf 0 has same-shaped proofs in trees of 3 and 4 leaves),
/// so take `size` and `root` together from one signed checkpoint.
pub fn verify_inclusion<H: LogHash>(
    h: H,
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), LedgerError> {
    if index >= size {
        return fail("index is not below the tree size");
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if snode == 0 {
            return fail("proof is longer than the tree is deep");
        }
        if fnode & 1 == 1 || fnode == snode {
            r = h.node(p, &r);
            // Skip the levels where this node has no right sibling (the right edge of the tree).
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = h.node(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return fail("proof is shorter than the tree is deep");
    }
    if r != *root {
        return fail("computed root differs");
    }
    Ok(())
}

/// Verify that the tree of `old_size` leaves with root `old_root` is a prefix of the tree of
/// `new_size` leaves with root `new_root` (RFC 9162 §2.1.4.2).
///
/// Equal sizes need an empty proof and equal roots. Old size 0 needs an empty proof and
/// `old_root` equal to the empty-tree hash: stricter than RFC 9162 (which leaves the case to the
/// caller), so that a made-up old root never "verifies".
pub fn verify_consistency<H: LogHash>(
    h: H,
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), LedgerError> {
    if old_size > new_size {
        return fail("old size is larger than new size");
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return fail("proof between equal sizes must be empty");
        }
        if old_root != new_root {
            return fail("roots of equal sizes differ");
        }
        return Ok(());
    }
    if old_size == 0 {
        if !proof.is_empty() {
            return fail("proof from the empty tree must be empty");
        }
        if *old_root != h.empty_root() {
            return fail("old root is not the empty-tree hash");
        }
        return Ok(());
    }
    let Some((&first, rest)) = proof.split_first() else {
        return fail("proof is empty");
    };
    // When the old tree is a perfect subtree its root is not in the proof; start from it.
    let (start, rest) = if old_size.is_power_of_two() {
        (*old_root, proof)
    } else {
        (first, rest)
    };
    let (mut fnode, mut snode) = (old_size - 1, new_size - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (start, start);
    for c in rest {
        if snode == 0 {
            return fail("proof is longer than expected");
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = h.node(c, &fr);
            sr = h.node(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = h.node(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return fail("proof is shorter than expected");
    }
    if fr != *old_root {
        return fail("computed old root differs");
    }
    if sr != *new_root {
        return fail("computed new root differs");
    }
    Ok(())
}

/// An append-only log held in memory: every perfect-subtree hash, level by level.
///
/// Used by tests, benchmarks and tools (e.g. recomputing a log from its entries); the server's
/// store keeps the same hashes as tiles in its database instead.
#[derive(Clone, Debug)]
pub struct MemoryLog<H: LogHash> {
    hasher: H,
    /// `levels[l][i]` is the hash of [`NodeId`] `(l, i)`.
    levels: Vec<Vec<Hash>>,
}

impl<H: LogHash> MemoryLog<H> {
    pub fn new(hasher: H) -> Self {
        MemoryLog {
            hasher,
            levels: vec![Vec::new()],
        }
    }

    pub fn hasher(&self) -> H {
        self.hasher
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// Append an entry; returns its index.
    pub fn append(&mut self, entry: &[u8]) -> u64 {
        self.append_leaf_hash(self.hasher.leaf(entry))
    }

    /// Append an already computed leaf hash; returns its index.
    pub fn append_leaf_hash(&mut self, leaf: Hash) -> u64 {
        let index = self.size();
        self.levels[0].push(leaf);
        // A node completes the perfect subtree of its left sibling whenever it is a right child.
        let mut level = 0;
        while self.levels[level].len().is_multiple_of(2) {
            let row = &self.levels[level];
            let parent = self.hasher.node(&row[row.len() - 2], &row[row.len() - 1]);
            level += 1;
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(parent);
        }
        index
    }

    /// Leaf hash at `index`, if present.
    pub fn leaf_hash(&self, index: u64) -> Option<Hash> {
        self.hash(NodeId::new(0, index))
    }

    /// Hash of a perfect subtree, if complete.
    pub fn hash(&self, node: NodeId) -> Option<Hash> {
        let row = self.levels.get(usize::from(node.level))?;
        row.get(usize::try_from(node.index).ok()?).copied()
    }

    /// Root of the tree of the first `size` leaves.
    pub fn root(&self, size: u64) -> Result<Hash, LedgerError> {
        root(self.hasher, self, size)
    }

    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, LedgerError> {
        inclusion_proof(self.hasher, self, index, size)
    }

    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, LedgerError> {
        consistency_proof(self.hasher, self, old, new)
    }

    /// The contents of a tile (hashes at tree level 8·L), if the log is large enough to hold it.
    pub fn tile_hashes(&self, tile: Tile) -> Option<Vec<Hash>> {
        let row = self.levels.get(usize::from(tile.level) * 8)?;
        let start = usize::try_from(tile.index.checked_mul(tiles::TILE_WIDTH)?).ok()?;
        let end = start.checked_add(usize::from(tile.width))?;
        row.get(start..end).map(<[Hash]>::to_vec)
    }
}

impl<H: LogHash> HashReader for MemoryLog<H> {
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, LedgerError> {
        nodes
            .iter()
            .map(|&n| self.hash(n).ok_or(LedgerError::MissingHash(n)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Sha256Hash;

    /// RFC 6962 §2.1 MTH, straight from the definition, as an oracle.
    fn mth(h: Sha256Hash, leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => h.empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                h.node(&mth(h, &leaves[..k]), &mth(h, &leaves[k..]))
            }
        }
    }

    #[test]
    fn split_is_the_largest_power_of_two_below() {
        assert_eq!([2, 3, 4, 5, 8, 9].map(split), [1, 2, 2, 4, 4, 8]);
        assert_eq!(split(u64::MAX), 1 << 63);
    }

    #[test]
    fn roots_match_the_recursive_definition() {
        let h = Sha256Hash;
        let mut log = MemoryLog::new(h);
        let mut leaves = Vec::new();
        for i in 0..70u32 {
            assert_eq!(log.root(log.size()).ok(), Some(mth(h, &leaves)));
            leaves.push(h.leaf(&i.to_be_bytes()));
            log.append(&i.to_be_bytes());
        }
        // Historical roots stay available.
        assert_eq!(log.root(13).ok(), Some(mth(h, &leaves[..13])));
    }

    #[test]
    fn errors_for_impossible_requests() {
        let mut log = MemoryLog::new(Sha256Hash);
        log.append(b"a");
        assert!(matches!(
            log.inclusion_proof(1, 1),
            Err(LedgerError::IndexOutOfRange { index: 1, size: 1 })
        ));
        assert!(matches!(
            log.consistency_proof(2, 1),
            Err(LedgerError::SizeOrder { old: 2, new: 1 })
        ));
        assert!(matches!(
            log.root(2),
            Err(LedgerError::MissingHash(NodeId { level: 1, index: 0 }))
        ));
    }

    #[test]
    fn plans_name_perfect_subtrees() {
        // Size 7 = 4 + 2 + 1.
        assert_eq!(
            root_plan(7).nodes(),
            [NodeId::new(2, 0), NodeId::new(1, 2), NodeId::new(0, 6)]
        );
        assert!(root_plan(0).nodes().is_empty());
        // Leaf 6 of 7: its path is the 2-leaf subtree [4,6) then the 4-leaf subtree [0,4).
        assert_eq!(
            inclusion_plan(6, 7).map(|p| p.nodes().to_vec()).ok(),
            Some(vec![NodeId::new(1, 2), NodeId::new(2, 0)])
        );
    }
}
