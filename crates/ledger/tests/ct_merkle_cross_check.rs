//! Cross-check against an independent implementation, the ct-merkle crate (SM3 through the
//! `digest` 0.11 traits it shares with the sm3 crate): same roots, byte-identical proofs, and
//! each side accepts the other's proofs.

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
use cyltrace_ledger::*;

type Theirs = MemoryBackedTree<sm3::Sm3, Vec<u8>>;

fn flat(proof: &[Hash]) -> Vec<u8> {
    proof.iter().flat_map(|h| h.0).collect()
}

fn their_root(tree: &Theirs) -> Hash {
    Hash::from_slice(tree.root().as_bytes()).expect("32 bytes")
}

fn check_size(ours: &MemoryLog<Sm3Hash>, theirs: &Theirs) {
    let size = theirs.len();
    let root = ours.root(size).expect("root");
    assert_eq!(their_root(theirs), root, "root of {size}");
    let their_root = theirs.root();
    for index in 0..size {
        let proof = ours.inclusion_proof(index, size).expect("proof");
        let their_proof = theirs.prove_inclusion(index as usize);
        assert_eq!(
            flat(&proof),
            their_proof.as_bytes(),
            "inclusion {index} of {size}"
        );
        let leaf = theirs.get(index as usize).expect("leaf");
        assert!(
            their_root
                .verify_inclusion(leaf, index, &InclusionProof::from_bytes(flat(&proof)))
                .is_ok()
        );
    }
    // ct-merkle proves consistency from any non-empty older size to the current one.
    for old in 1..size {
        let proof = ours.consistency_proof(old, size).expect("proof");
        let their_proof = theirs.prove_consistency((size - old) as usize);
        assert_eq!(
            flat(&proof),
            their_proof.as_bytes(),
            "consistency {old} -> {size}"
        );
        let old_root = ours.root(old).expect("root");
        let their_old = RootHash::<sm3::Sm3>::new(old_root.0.into(), old);
        let parsed = ConsistencyProof::try_from_bytes(flat(&proof)).expect("whole digests");
        assert!(their_root.verify_consistency(&their_old, &parsed).is_ok());
        assert!(verify_consistency(Sm3Hash, old, size, &old_root, &root, &proof).is_ok());
    }
}

#[test]
fn same_roots_and_proofs_as_ct_merkle() {
    let mut ours = MemoryLog::new(Sm3Hash);
    let mut theirs = Theirs::new();
    for i in 0u32..300 {
        let entry = format!("event {i}").into_bytes();
        ours.append(&entry);
        theirs.push(entry);
        if i < 140 || i % 37 == 0 || i == 299 {
            check_size(&ours, &theirs);
        }
    }
}
