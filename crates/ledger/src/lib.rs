//! The ledger's mathematics, with no database: the tamper-evident log over cyltrace's events.
//!
//! It owns
//! - the RFC 6962 / RFC 9162 Merkle tree ([`tree`]) with the hash function as a type parameter
//!   ([`LogHash`]: [`Sm3Hash`] by default, [`Sha256Hash`], or [`HashAlg`] chosen at run time);
//!   roots, inclusion and consistency proofs built from stored perfect-subtree hashes read through
//!   a [`HashReader`], and their verification;
//! - the C2SP tlog-tiles layout ([`tiles`]): tile coordinates and paths, and [`append_tiles`],
//!   which turns an appended batch of leaf hashes into the tiles to (re)write;
//! - the C2SP checkpoint text and its SM2 signature ([`checkpoint`]).
//!
//! How a store uses it: on append, read the rows of [`partial_tiles`]`(old_size)`, call
//! [`append_tiles`] and upsert the returned tiles. To answer a request, build the plan
//! ([`root_plan`], [`inclusion_plan`], [`consistency_plan`]), fetch the rows of
//! [`ProofPlan::tiles`], put them in a [`TileHashReader`] and call [`root`], [`inclusion_proof`]
//! or [`consistency_proof`] with it. A long-lived [`TileCache`], given to each request's reader
//! with [`TileHashReader::with_cache`], spares recomputing the insides of tiles that earlier
//! requests already hashed. (A store that keeps one row per node hash instead can fetch
//! [`ProofPlan::nodes`] and call [`ProofPlan::assemble`].) Nothing here does IO, so the async
//! store needs no async trait.
//! [`MemoryLog`] keeps every hash in memory for tests, benchmarks and full recomputation.

pub mod checkpoint;
pub mod hash;
pub mod tiles;
pub mod tree;

pub use checkpoint::{Checkpoint, SM2_USER_ID, SigningKey, sign_checkpoint, verify_checkpoint};
pub use hash::{Hash, HashAlg, LogHash, Sha256Hash, Sm3Hash};
pub use tiles::{
    Tile, TileCache, TileData, TileHashReader, TileKind, append_tiles, changed_tiles,
    partial_tiles, tiles_for_size,
};
pub use tree::{
    HashReader, MemoryLog, NodeId, ProofPlan, consistency_plan, consistency_proof, inclusion_plan,
    inclusion_proof, root, root_plan, verify_consistency, verify_inclusion,
};

/// Everything that can go wrong in the ledger crate.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizeOrder { old: u64, new: u64 },
    #[error("tree size would exceed 2^64 - 1 leaves")]
    TreeTooLarge,
    #[error("no stored hash for the subtree at level {} index {}", .0.level, .0.index)]
    MissingHash(NodeId),
    #[error("tile {} is missing or has the wrong number of hashes", .0.path())]
    MissingTile(Tile),
    #[error("reading stored hashes: {0}")]
    Storage(Box<dyn std::error::Error + Send + Sync>),
    #[error("proof does not verify: {0}")]
    ProofInvalid(&'static str),
    #[error("not a hash: expected 32 bytes (64 hex digits)")]
    HashEncoding,
    #[error("unknown hash algorithm {0:?} (expected \"sm3\" or \"sha256\")")]
    UnknownHashAlg(String),
    #[error("not a tile path: {0:?}")]
    TilePath(String),
    #[error("malformed checkpoint: {0}")]
    Checkpoint(&'static str),
    #[error("SM2 key: {0}")]
    Key(String),
    #[error("SM2 signature does not verify")]
    BadSignature,
}
