//! Published test vectors: the RFC 6962 reference tree (SHA-256), SM3 (GB/T 32905) and the
//! SM2 signature example (GB/T 32918.5 annex A / GM/T 0003.5).
//!
//! The Merkle data are the reference tree of the Certificate Transparency code base, as kept in
//! transparency-dev/merkle (`testonly/constants.go`, `proof/verify_test.go`): leaf inputs, every
//! root for sizes 0–8, and known inclusion and consistency proofs.

use cyltrace_ledger::*;

fn h(hex: &str) -> Hash {
    Hash::from_hex(hex).expect("test vector is 64 hex digits")
}

fn hs(hexes: &[&str]) -> Vec<Hash> {
    hexes.iter().map(|x| h(x)).collect()
}

const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// Roots of the trees of the first 0..=8 leaves.
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// Perfect-subtree hashes of the 8-leaf tree, by level.
const NODES: [&[&str]; 4] = [
    &[
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    &[
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    &[
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
];

/// (leaf index, tree size, proof). The source numbers leaves from 1; these are 0-based.
fn inclusion_vectors() -> Vec<(u64, u64, Vec<Hash>)> {
    vec![
        (0, 1, vec![]),
        (
            0,
            8,
            hs(&[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]),
        ),
        (
            5,
            8,
            hs(&[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]),
        ),
        (
            2,
            3,
            hs(&["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
        ),
        (
            1,
            5,
            hs(&[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ]),
        ),
    ]
}

/// (old size, new size, proof).
fn consistency_vectors() -> Vec<(u64, u64, Vec<Hash>)> {
    vec![
        (1, 1, vec![]),
        (
            1,
            8,
            hs(&[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]),
        ),
        (
            6,
            8,
            hs(&[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]),
        ),
        (
            2,
            5,
            hs(&[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ]),
        ),
        (
            6,
            7,
            hs(&[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]),
        ),
    ]
}

fn reference_log() -> MemoryLog<Sha256Hash> {
    let mut log = MemoryLog::new(Sha256Hash);
    for leaf in LEAVES {
        log.append(&hex::decode(leaf).expect("hex"));
    }
    log
}

#[test]
fn rfc6962_roots_for_every_size() {
    let log = reference_log();
    for (size, want) in ROOTS.iter().enumerate() {
        assert_eq!(log.root(size as u64).ok(), Some(h(want)), "size {size}");
    }
    // The run-time choice computes the same tree.
    let mut by_alg = MemoryLog::new(HashAlg::Sha256);
    for leaf in LEAVES {
        by_alg.append(&hex::decode(leaf).expect("hex"));
    }
    assert_eq!(by_alg.root(8).ok(), Some(h(ROOTS[8])));
}

#[test]
fn rfc6962_every_perfect_subtree_hash() {
    let log = reference_log();
    for (level, row) in NODES.iter().enumerate() {
        for (index, want) in row.iter().enumerate() {
            let node = NodeId::new(level as u8, index as u64);
            assert_eq!(log.hash(node), Some(h(want)), "{node:?}");
        }
    }
}

#[test]
fn rfc6962_inclusion_proofs_are_generated_and_verified() {
    let log = reference_log();
    for (index, size, want) in inclusion_vectors() {
        assert_eq!(
            log.inclusion_proof(index, size).ok(),
            Some(want.clone()),
            "index {index} size {size}"
        );
        let leaf = log.leaf_hash(index).expect("leaf exists");
        let root = h(ROOTS[size as usize]);
        assert!(verify_inclusion(Sha256Hash, &leaf, index, size, &want, &root).is_ok());
        // The corruptions of the reference suite.
        let some = h("abacaba000000000000000000000000000000000000000000060061e00123456");
        let mut probes: Vec<(u64, u64, Hash, Hash, Vec<Hash>)> = vec![
            (index.wrapping_sub(1), size, leaf, root, want.clone()),
            (index + 1, size, leaf, root, want.clone()),
            (index ^ 2, size, leaf, root, want.clone()),
            (index, size * 2, leaf, root, want.clone()),
            (index, size / 2, leaf, root, want.clone()),
            (index, size, some, root, want.clone()),
            (index, size, leaf, Sha256Hash.empty_root(), want.clone()),
            (index, size, leaf, some, want.clone()),
            (index, size, leaf, root, [want.clone(), vec![root]].concat()),
            (index, size, leaf, root, [vec![root], want.clone()].concat()),
        ];
        for i in 0..want.len() {
            let mut p = want.clone();
            p[i].0[0] ^= 8;
            probes.push((index, size, leaf, root, p));
        }
        if !want.is_empty() {
            probes.push((index, size, leaf, root, want[..want.len() - 1].to_vec()));
        }
        for (n, (i, s, l, r, p)) in probes.into_iter().enumerate() {
            // `index ^ 2` may equal index + 1 etc.; only probes that differ from the truth count.
            if (i, s, l, r, &p) == (index, size, leaf, root, &want) {
                continue;
            }
            assert!(
                verify_inclusion(Sha256Hash, &l, i, s, &p, &r).is_err(),
                "probe {n} for index {index} size {size} verified"
            );
        }
    }
}

#[test]
fn rfc6962_consistency_proofs_are_generated_and_verified() {
    let log = reference_log();
    for (old, new, want) in consistency_vectors() {
        assert_eq!(
            log.consistency_proof(old, new).ok(),
            Some(want.clone()),
            "{old} -> {new}"
        );
        let (r1, r2) = (h(ROOTS[old as usize]), h(ROOTS[new as usize]));
        assert!(verify_consistency(Sha256Hash, old, new, &r1, &r2, &want).is_ok());
        if want.is_empty() {
            continue;
        }
        let wrong = h("abacaba000000000000000000000000000000000000000000060061e00123456");
        let mut probes: Vec<(u64, u64, Hash, Hash, Vec<Hash>)> = vec![
            (old - 1, new, r1, r2, want.clone()),
            (old + 1, new, r1, r2, want.clone()),
            (old ^ 2, new, r1, r2, want.clone()),
            (old, new * 2, r1, r2, want.clone()),
            (old, new / 2, r1, r2, want.clone()),
            (old, new, wrong, r2, want.clone()),
            (old, new, r1, wrong, want.clone()),
            (old, new, r2, r1, want.clone()),
            (old, new, r1, r2, vec![]),
            (old, new, r1, r2, [want.clone(), vec![r1]].concat()),
            (old, new, r1, r2, [want.clone(), vec![r2]].concat()),
            (old, new, r1, r2, [vec![r1], want.clone()].concat()),
            (old, new, r1, r2, [vec![r2], want.clone()].concat()),
            (old, new, r1, r2, [vec![want[0]], want.clone()].concat()),
            (old, new, r1, r2, want[..want.len() - 1].to_vec()),
        ];
        for i in 0..want.len() {
            let mut p = want.clone();
            p[i].0[0] ^= 16;
            probes.push((old, new, r1, r2, p));
        }
        for (n, (o, s, a, b, p)) in probes.into_iter().enumerate() {
            assert!(
                verify_consistency(Sha256Hash, o, s, &a, &b, &p).is_err(),
                "probe {n} for {old} -> {new} verified"
            );
        }
    }
}

#[test]
fn rfc9162_edge_cases_of_consistency() {
    let e = Sha256Hash.empty_root();
    let r = h(ROOTS[3]);
    assert!(verify_consistency(Sha256Hash, 0, 0, &e, &e, &[]).is_ok());
    assert!(verify_consistency(Sha256Hash, 0, 3, &e, &r, &[]).is_ok());
    assert!(verify_consistency(Sha256Hash, 3, 3, &r, &r, &[]).is_ok());
    // Equal sizes with different roots, a non-empty proof, shrinking, made-up empty root.
    assert!(verify_consistency(Sha256Hash, 3, 3, &r, &e, &[]).is_err());
    assert!(verify_consistency(Sha256Hash, 3, 3, &r, &r, &[e]).is_err());
    assert!(verify_consistency(Sha256Hash, 0, 3, &e, &r, &[e]).is_err());
    assert!(verify_consistency(Sha256Hash, 4, 3, &r, &r, &[]).is_err());
    assert!(verify_consistency(Sha256Hash, 0, 3, &r, &r, &[]).is_err());
    // Inclusion in an empty tree, or past the end.
    assert!(verify_inclusion(Sha256Hash, &e, 0, 0, &[], &e).is_err());
    assert!(verify_inclusion(Sha256Hash, &r, 1, 1, &[], &r).is_err());
}

#[test]
fn sm3_vectors_gbt_32905() {
    assert_eq!(
        Sm3Hash.digest(&[b"abc"]).to_hex(),
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    );
    assert_eq!(
        HashAlg::Sm3
            .digest(&[b"abcd".repeat(16).as_slice()])
            .to_hex(),
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    );
    // RFC 6962 structure with SM3: leaf and node prefixes are the same.
    let mut log = MemoryLog::new(Sm3Hash);
    log.append(b"a");
    log.append(b"b");
    let (a, b) = (Sm3Hash.digest(&[b"\x00a"]), Sm3Hash.digest(&[b"\x00b"]));
    let mut node = vec![1u8];
    node.extend_from_slice(&a.0);
    node.extend_from_slice(&b.0);
    assert_eq!(log.root(2).ok(), Some(Sm3Hash.digest(&[&node])));
}

mod sm2_vector {
    //! GB/T 32918.5-2017 annex A (also GM/T 0003.5-2012 annex A): signature on the recommended
    //! 256-bit curve. The annex's signer identity is the default `1234567812345678` — the
    //! `ALICE123@YAHOO.COM` examples of GB/T 32918.2 annex A use a different test curve.

    use super::*;
    use sm2::elliptic_curve::ops::Reduce;
    use sm2::elliptic_curve::point::AffineCoordinates;
    use sm2::elliptic_curve::sec1::ToSec1Point;
    use sm2::elliptic_curve::{Group, PrimeField};
    use sm2::{FieldBytes, ProjectivePoint, Scalar};

    const D: &str = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8";
    const XA: &str = "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020";
    const YA: &str = "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13";
    const K: &str = "59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21";
    const R: &str = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3";
    const S: &str = "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA";
    const MSG: &str = "message digest";

    // Recommended-curve parameters (GB/T 32918.5 §4), for Z_A.
    const A: &str = "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC";
    const B: &str = "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93";
    const GX: &str = "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7";
    const GY: &str = "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0";

    fn bytes(hex: &str) -> Vec<u8> {
        hex::decode(hex).expect("hex")
    }

    fn scalar(hex: &str) -> Scalar {
        let repr = FieldBytes::try_from(bytes(hex).as_slice()).expect("32 bytes");
        Option::from(Scalar::from_repr(repr)).expect("below the group order")
    }

    fn sec1() -> Vec<u8> {
        [vec![4], bytes(XA), bytes(YA)].concat()
    }

    #[test]
    fn the_public_key_is_derived_from_the_private_key() {
        let key = SigningKey::from_secret_bytes(&bytes(D)).expect("valid key");
        assert_eq!(key.public_key_sec1(), sec1());
        // Our hard-coded generator is the crate's.
        let g = ProjectivePoint::GENERATOR.to_affine().to_sec1_point(false);
        assert_eq!(g.as_bytes(), [vec![4], bytes(GX), bytes(GY)].concat());
    }

    #[test]
    fn the_annex_signature_verifies_with_the_default_user_id_only() {
        let sig = sm2::dsa::Signature::from_slice(&[bytes(R), bytes(S)].concat()).expect("r, s");
        let der = sig.to_der().as_bytes().to_vec();
        assert!(verify_checkpoint(&sec1(), MSG, &der).is_ok());
        assert!(verify_checkpoint(&sec1(), "message digesT", &der).is_err());
        // The same (r, s) does not verify for the identity of the other annex.
        use sm2::dsa::signature::Verifier;
        let alice = sm2::dsa::VerifyingKey::from_sec1_bytes("ALICE123@YAHOO.COM", &sec1())
            .expect("valid key");
        assert!(alice.verify(MSG.as_bytes(), &sig).is_err());
    }

    /// The sm2 crate cannot sign with a chosen k (it derives k per RFC 6979), so recompute the
    /// annex's steps A1–A7 with its k from the curve arithmetic: r and s must come out exactly.
    #[test]
    fn signing_with_the_annex_k_gives_the_annex_r_and_s() {
        let entl = u16::try_from(SM2_USER_ID.len() * 8).expect("short id");
        let za = Sm3Hash.digest(&[
            &entl.to_be_bytes(),
            SM2_USER_ID.as_bytes(),
            &bytes(A),
            &bytes(B),
            &bytes(GX),
            &bytes(GY),
            &bytes(XA),
            &bytes(YA),
        ]);
        let e_hash = Sm3Hash.digest(&[&za.0, MSG.as_bytes()]);
        let e = <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(e_hash.0));
        let (d, k) = (scalar(D), scalar(K));
        let x1 = ProjectivePoint::mul_by_generator(&k).to_affine().x();
        let r = e + <Scalar as Reduce<FieldBytes>>::reduce(&x1);
        let inv = Option::<Scalar>::from((Scalar::ONE + d).invert()).expect("1 + d invertible");
        let s = inv * (k - r * d);
        assert_eq!(hex::encode_upper(r.to_repr()), R);
        assert_eq!(hex::encode_upper(s.to_repr()), S);
    }
}
