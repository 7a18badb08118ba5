//! Hash values and the two hash functions a log can be built with.

use std::fmt;
use std::str::FromStr;

use crate::LedgerError;

/// A 32-byte hash value: a leaf hash, an interior node hash or a tree root.
///
/// Both supported functions (SM3 and SHA-256) produce 32 bytes, so one type serves both; which
/// function made a value is a property of the log, not of the value.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// Length in bytes.
    pub const LEN: usize = 32;

    /// Borrow the bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, as used in the JSON API.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parse 64 hex digits (either case).
    pub fn from_hex(s: &str) -> Result<Self, LedgerError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| LedgerError::HashEncoding)?;
        Ok(Hash(out))
    }

    /// Take exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, LedgerError> {
        <[u8; 32]>::try_from(bytes)
            .map(Hash)
            .map_err(|_| LedgerError::HashEncoding)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl FromStr for Hash {
    type Err = LedgerError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Hash::from_hex(s)
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// The hash function of a log, with the RFC 6962 domain separation built on top of it.
///
/// Implemented by the zero-sized [`Sm3Hash`] and [`Sha256Hash`] (static dispatch, used as a type
/// parameter) and by [`HashAlg`] (chosen at run time from configuration). Methods take `&self`
/// rather than being associated functions so that the run-time choice is possible at all.
pub trait LogHash: Copy + Send + Sync {
    /// The name used in the API (`"sm3"` or `"sha256"`).
    fn name(&self) -> &'static str;

    /// Plain hash of the concatenation of `parts`.
    fn digest(&self, parts: &[&[u8]]) -> Hash;

    /// RFC 6962 leaf hash: `H(0x00 ‖ data)`.
    fn leaf(&self, data: &[u8]) -> Hash {
        self.digest(&[&[0x00], data])
    }

    /// RFC 6962 interior node hash: `H(0x01 ‖ left ‖ right)`.
    fn node(&self, left: &Hash, right: &Hash) -> Hash {
        self.digest(&[&[0x01], &left.0, &right.0])
    }

    /// Root of the empty tree: `H()` (RFC 6962 §2.1).
    fn empty_root(&self) -> Hash {
        self.digest(&[])
    }
}

/// SM3 (GB/T 32905), the default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sm3Hash;

impl LogHash for Sm3Hash {
    fn name(&self) -> &'static str {
        "sm3"
    }

    fn digest(&self, parts: &[&[u8]]) -> Hash {
        use sm3::Digest;
        let mut h = sm3::Sm3::new();
        for p in parts {
            h.update(p);
        }
        Hash(h.finalize().into())
    }
}

/// SHA-256, for nodes configured to use it (and for the RFC 6962 test vectors).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sha256Hash;

impl LogHash for Sha256Hash {
    fn name(&self) -> &'static str {
        "sha256"
    }

    fn digest(&self, parts: &[&[u8]]) -> Hash {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for p in parts {
            h.update(p);
        }
        Hash(h.finalize().into())
    }
}

/// The hash function chosen per node at run time (`"sm3"` by default, or `"sha256"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum HashAlg {
    #[default]
    Sm3,
    Sha256,
}

impl LogHash for HashAlg {
    fn name(&self) -> &'static str {
        match self {
            HashAlg::Sm3 => Sm3Hash.name(),
            HashAlg::Sha256 => Sha256Hash.name(),
        }
    }

    fn digest(&self, parts: &[&[u8]]) -> Hash {
        match self {
            HashAlg::Sm3 => Sm3Hash.digest(parts),
            HashAlg::Sha256 => Sha256Hash.digest(parts),
        }
    }
}

impl fmt::Display for HashAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HashAlg {
    type Err = LedgerError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sm3" => Ok(HashAlg::Sm3),
            "sha256" => Ok(HashAlg::Sha256),
            _ => Err(LedgerError::UnknownHashAlg(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sm3_vectors_from_gbt_32905() {
        assert_eq!(
            Sm3Hash.digest(&[b"abc"]).to_hex(),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
        assert_eq!(
            Sm3Hash.digest(&[b"abcd".repeat(16).as_slice()]).to_hex(),
            "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
        );
    }

    #[test]
    fn parts_are_concatenated() {
        for alg in [HashAlg::Sm3, HashAlg::Sha256] {
            assert_eq!(alg.digest(&[b"ab", b"", b"c"]), alg.digest(&[b"abc"]));
        }
    }

    #[test]
    fn alg_names_round_trip() {
        for alg in [HashAlg::Sm3, HashAlg::Sha256] {
            assert_eq!(alg.to_string().parse::<HashAlg>().ok(), Some(alg));
        }
        assert!("SM3".parse::<HashAlg>().is_err());
        assert_eq!(HashAlg::default(), HashAlg::Sm3);
    }

    #[test]
    fn hash_hex_round_trip_and_rejects_bad_lengths() {
        let h = Sha256Hash.empty_root();
        assert_eq!(
            h.to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(h.to_hex().parse::<Hash>().ok(), Some(h));
        assert!(Hash::from_hex("e3b0").is_err());
        assert!(Hash::from_slice(&[0; 31]).is_err());
    }
}
