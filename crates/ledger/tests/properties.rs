//! Properties of proofs over random tree sizes, for both hash functions: every honest proof
//! verifies, and any single change to what is verified makes it fail.

use cyltrace_ledger::*;
use proptest::prelude::*;

fn alg() -> impl Strategy<Value = HashAlg> {
    prop_oneof![Just(HashAlg::Sm3), Just(HashAlg::Sha256)]
}

fn log_of(alg: HashAlg, size: u64, salt: u8) -> MemoryLog<HashAlg> {
    let mut log = MemoryLog::new(alg);
    for i in 0..size {
        log.append(&[&[salt][..], &i.to_be_bytes()].concat());
    }
    log
}

fn flip(h: &Hash, bit: usize) -> Hash {
    let mut out = *h;
    out.0[bit / 8] ^= 1 << (bit % 8);
    out
}

fn ok<T>(r: Result<T, LedgerError>) -> T {
    r.unwrap_or_else(|e| panic!("unexpected error: {e}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Every inclusion proof and every consistency proof of a tree verifies.
    #[test]
    fn every_proof_of_a_tree_verifies(size in 1u64..=1000, alg in alg(), salt: u8) {
        let log = log_of(alg, size, salt);
        let root = ok(log.root(size));
        for index in 0..size {
            let proof = ok(log.inclusion_proof(index, size));
            let leaf = log.leaf_hash(index).unwrap_or_default();
            prop_assert!(verify_inclusion(alg, &leaf, index, size, &proof, &root).is_ok());
        }
        for old in 0..=size {
            let proof = ok(log.consistency_proof(old, size));
            let old_root = ok(log.root(old));
            prop_assert!(verify_consistency(alg, old, size, &old_root, &root, &proof).is_ok());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Flipping one bit of any proof hash, of the leaf or of the root, claiming another index,
    /// or claiming another tree (size with its root), makes an inclusion proof fail.
    #[test]
    fn any_change_breaks_an_inclusion_proof(
        size in 1u64..=1000,
        index_seed: u64,
        other_index_seed: u64,
        other_size in 1u64..=2000,
        bit in 0usize..256,
        alg in alg(),
    ) {
        let log = log_of(alg, 2000, 7);
        let index = index_seed % size;
        let proof = ok(log.inclusion_proof(index, size));
        let leaf = log.leaf_hash(index).unwrap_or_default();
        let root = ok(log.root(size));
        let verify = |leaf: &Hash, index, size, proof: &[Hash], root: &Hash| {
            verify_inclusion(alg, leaf, index, size, proof, root).is_ok()
        };
        prop_assert!(verify(&leaf, index, size, &proof, &root));
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i] = flip(&bad[i], bit);
            prop_assert!(!verify(&leaf, index, size, &bad, &root), "proof[{}]", i);
        }
        prop_assert!(!verify(&flip(&leaf, bit), index, size, &proof, &root));
        prop_assert!(!verify(&leaf, index, size, &proof, &flip(&root, bit)));
        if size > 1 {
            let other = (index + 1 + other_index_seed % (size - 1)) % size;
            prop_assert!(!verify(&leaf, other, size, &proof, &root), "index {}", other);
        }
        if other_size != size && index < other_size {
            let other_root = ok(log.root(other_size));
            prop_assert!(!verify(&leaf, index, other_size, &proof, &other_root));
        }
        prop_assert!(!verify(&leaf, index, size, &[proof.clone(), vec![root]].concat(), &root));
        if !proof.is_empty() {
            prop_assert!(!verify(&leaf, index, size, &proof[1..], &root));
        }
    }

    /// The same for consistency proofs: any flipped bit in a proof hash or either root, or
    /// another old or new tree (size with its root), makes the proof fail.
    #[test]
    fn any_change_breaks_a_consistency_proof(
        new in 2u64..=1000,
        old_seed: u64,
        other_old_seed: u64,
        other_new in 1u64..=2000,
        bit in 0usize..256,
        alg in alg(),
    ) {
        let log = log_of(alg, 2000, 9);
        let old = 1 + old_seed % (new - 1);
        let proof = ok(log.consistency_proof(old, new));
        let (r1, r2) = (ok(log.root(old)), ok(log.root(new)));
        let verify = |old, new, r1: &Hash, r2: &Hash, proof: &[Hash]| {
            verify_consistency(alg, old, new, r1, r2, proof).is_ok()
        };
        prop_assert!(verify(old, new, &r1, &r2, &proof));
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i] = flip(&bad[i], bit);
            prop_assert!(!verify(old, new, &r1, &r2, &bad), "proof[{}]", i);
        }
        prop_assert!(!verify(old, new, &flip(&r1, bit), &r2, &proof));
        prop_assert!(!verify(old, new, &r1, &flip(&r2, bit), &proof));
        let other_old = 1 + other_old_seed % (new - 1);
        if other_old != old {
            prop_assert!(!verify(other_old, new, &ok(log.root(other_old)), &r2, &proof));
        }
        if other_new != new && other_new > old {
            prop_assert!(!verify(old, other_new, &r1, &ok(log.root(other_new)), &proof));
        }
        prop_assert!(!verify(old, new, &r1, &r2, &proof[1..]));
        prop_assert!(!verify(old, new, &r1, &r2, &[proof.clone(), vec![r2]].concat()));
    }
}

/// What a proof does *not* bind: the size alone only shapes the computation. Leaf 0 has
/// proofs of the same shape in trees of 3 and 4 leaves, so the proof for size 3 "verifies"
/// at size 4 against the size-3 root. Hence clients verify against a size and root taken
/// together from one signed checkpoint — never a size from one place and a root from another.
#[test]
fn size_and_root_must_come_from_the_same_checkpoint() {
    let log = log_of(HashAlg::Sha256, 4, 0);
    let proof = ok(log.inclusion_proof(0, 3));
    let leaf = log.leaf_hash(0).unwrap_or_default();
    let root3 = ok(log.root(3));
    assert!(verify_inclusion(HashAlg::Sha256, &leaf, 0, 4, &proof, &root3).is_ok());
    assert!(verify_inclusion(HashAlg::Sha256, &leaf, 0, 4, &proof, &ok(log.root(4))).is_err());
}
