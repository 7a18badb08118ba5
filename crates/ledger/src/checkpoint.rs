//! C2SP tlog-checkpoint text, and its SM2 signature (GB/T 32918.2 with SM3, user ID
//! `1234567812345678`).
//!
//! The signed bytes are exactly the checkpoint text (origin line, size line, base64 root line,
//! optional extension lines, each ending in `\n`). The signature is ASN.1 DER `SEQUENCE { r, s }`,
//! the form OpenSSL's `pkeyutl -digest sm3 -pkeyopt distid:1234567812345678` reads and writes.

use base64ct::{Base64, Encoding};
use sm2::dsa::signature::{Signer, Verifier};
use sm2::elliptic_curve::Generate;
use sm2::elliptic_curve::sec1::ToSec1Point;
use sm2::elliptic_curve::zeroize::Zeroizing;
use sm2::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};

use crate::LedgerError;
use crate::hash::Hash;

/// The default SM2 distinguishing identifier (GB/T 35276 §10 / GM/T 0009), which also OpenSSL
/// must be told explicitly (`-pkeyopt distid:1234567812345678`). The sm2 crate has no default.
pub const SM2_USER_ID: &str = "1234567812345678";

/// A checkpoint: the log's origin, its size and its root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Unique name of the log, e.g. `cyltrace.example.cn/530100/ledger`. One line, not empty.
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// Optional extra lines after the root (C2SP "extension lines"), without their `\n`.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Self {
        Checkpoint {
            origin: origin.into(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// The C2SP checkpoint body: `origin\n<size>\n<base64 root>\n` plus extension lines.
    /// Fails if the origin or an extension line is empty or contains a newline, since the text
    /// would then not parse back to the same checkpoint.
    pub fn to_text(&self) -> Result<String, LedgerError> {
        for line in std::iter::once(&self.origin).chain(&self.extensions) {
            if line.is_empty() || line.contains('\n') {
                return Err(LedgerError::Checkpoint(
                    "empty line or newline inside a line",
                ));
            }
        }
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            Base64::encode_string(&self.root.0)
        );
        for e in &self.extensions {
            text.push_str(e);
            text.push('\n');
        }
        Ok(text)
    }

    /// Parse a checkpoint body. Strict: a final `\n`, no empty line, a decimal size without
    /// leading zeros, a padded standard-base64 root of exactly 32 bytes.
    pub fn parse(text: &str) -> Result<Self, LedgerError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(LedgerError::Checkpoint("text does not end with a newline"))?;
        let mut lines = body.split('\n');
        let mut next = |what| lines.next().ok_or(LedgerError::Checkpoint(what));
        let origin = next("missing origin line")?;
        let size = next("missing size line")?;
        let root = next("missing root line")?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if origin.is_empty() || extensions.iter().any(String::is_empty) {
            return Err(LedgerError::Checkpoint("empty line"));
        }
        let canonical_size = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        let size = size
            .parse::<u64>()
            .ok()
            .filter(|_| canonical_size)
            .ok_or(LedgerError::Checkpoint("size is not a canonical decimal"))?;
        let root = Base64::decode_vec(root)
            .ok()
            .and_then(|b| Hash::from_slice(&b).ok())
            .ok_or(LedgerError::Checkpoint("root is not base64 of 32 bytes"))?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}

/// An SM2 private key for signing checkpoints (user ID [`SM2_USER_ID`]).
#[derive(Clone)]
pub struct SigningKey(sm2::dsa::SigningKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        write!(
            f,
            "SigningKey(public {})",
            hex::encode(self.public_key_sec1())
        )
    }
}

fn key_err(e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Key(e.to_string())
}

impl SigningKey {
    /// A new key from the operating system's random number generator.
    pub fn generate() -> Result<Self, LedgerError> {
        let secret = sm2::SecretKey::try_generate().map_err(key_err)?;
        Self::from_secret(&secret)
    }

    /// The key whose secret scalar is `bytes` (32 bytes, big-endian, in `[1, n-1]`). Lets a
    /// caller bring its own randomness (retry on error) or fixed test keys.
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self, LedgerError> {
        let secret = sm2::SecretKey::from_slice(bytes).map_err(key_err)?;
        Self::from_secret(&secret)
    }

    fn from_secret(secret: &sm2::SecretKey) -> Result<Self, LedgerError> {
        sm2::dsa::SigningKey::new(SM2_USER_ID, secret)
            .map(SigningKey)
            .map_err(key_err)
    }

    fn secret(&self) -> sm2::SecretKey {
        sm2::SecretKey::from(self.0.as_nonzero_scalar())
    }

    /// PKCS#8 `PrivateKeyInfo` DER (id-ecPublicKey with the SM2 curve OID, as OpenSSL writes it).
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, LedgerError> {
        let doc = self.secret().to_pkcs8_der().map_err(key_err)?;
        Ok(doc.to_bytes())
    }

    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), for a key file.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, LedgerError> {
        self.secret().to_pkcs8_pem(LineEnding::LF).map_err(key_err)
    }

    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, LedgerError> {
        let secret = sm2::SecretKey::from_pkcs8_der(der).map_err(key_err)?;
        Self::from_secret(&secret)
    }

    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, LedgerError> {
        let secret = sm2::SecretKey::from_pkcs8_pem(pem).map_err(key_err)?;
        Self::from_secret(&secret)
    }

    /// Uncompressed SEC1 public key (`04 ‖ x ‖ y`, 65 bytes), as the API publishes it in hex.
    pub fn public_key_sec1(&self) -> Vec<u8> {
        self.0
            .verifying_key()
            .as_affine()
            .to_sec1_point(false)
            .as_bytes()
            .to_vec()
    }

    /// `SubjectPublicKeyInfo` PEM (`-----BEGIN PUBLIC KEY-----`), e.g. for `openssl -pubin`.
    pub fn public_key_pem(&self) -> Result<String, LedgerError> {
        sm2::PublicKey::from_affine(*self.0.verifying_key().as_affine())
            .map_err(key_err)?
            .to_public_key_pem(LineEnding::LF)
            .map_err(key_err)
    }
}

/// Sign checkpoint text: SM2 with SM3 over `Z_A ‖ text`, DER-encoded.
///
/// The nonce is derived deterministically (RFC 6979 with SM3, as the sm2 crate does), so signing
/// needs no random number generator and the same text and key give the same signature.
pub fn sign_checkpoint(key: &SigningKey, text: &str) -> Vec<u8> {
    let sig: sm2::dsa::Signature = key.0.sign(text.as_bytes());
    sig.to_der().as_bytes().to_vec()
}

/// Verify a DER SM2 signature over checkpoint text, with the signer's SEC1 public key.
pub fn verify_checkpoint(
    public_key_sec1: &[u8],
    text: &str,
    der_sig: &[u8],
) -> Result<(), LedgerError> {
    let key =
        sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_USER_ID, public_key_sec1).map_err(key_err)?;
    let sig = sm2::dsa::Signature::from_der(der_sig).map_err(|_| LedgerError::BadSignature)?;
    key.verify(text.as_bytes(), &sig)
        .map_err(|_| LedgerError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint::new("cyltrace.test/ledger", 1234, Hash([7; 32]))
    }

    #[test]
    fn text_round_trips() {
        let cp = sample();
        let text = cp.to_text().expect("valid checkpoint");
        assert_eq!(
            text,
            "cyltrace.test/ledger\n1234\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n"
        );
        assert_eq!(Checkpoint::parse(&text).ok(), Some(cp.clone()));
        let mut ext = cp;
        ext.extensions.push("time 2026-01-01T00:00:00+08:00".into());
        let text = ext.to_text().expect("valid checkpoint");
        assert!(text.ends_with("=\ntime 2026-01-01T00:00:00+08:00\n"));
        assert_eq!(Checkpoint::parse(&text).ok(), Some(ext));
    }

    #[test]
    fn malformed_text_is_refused() {
        let root = Base64::encode_string(&[7u8; 32]);
        for bad in [
            format!("o\n5\n{root}"),
            format!("\n5\n{root}\n"),
            format!("o\n05\n{root}\n"),
            format!("o\n+5\n{root}\n"),
            format!("o\n-5\n{root}\n"),
            format!("o\n\n{root}\n"),
            format!("o\n18446744073709551616\n{root}\n"),
            format!("o\n5\n{}\n", &root[..root.len() - 1]),
            format!("o\n5\n{}\n", Base64::encode_string(&[7u8; 31])),
            format!("o\n5\n{root}\n\n"),
            "o\n5\n".to_owned(),
        ] {
            assert!(Checkpoint::parse(&bad).is_err(), "accepted {bad:?}");
        }
        assert!(
            Checkpoint::new("two\nlines", 1, Hash::default())
                .to_text()
                .is_err()
        );
        assert!(Checkpoint::parse(&format!("o\n0\n{root}\n")).is_ok());
    }

    #[test]
    fn sign_verify_and_tamper() {
        let key = SigningKey::from_secret_bytes(&[0x11; 32]).expect("valid scalar");
        let text = sample().to_text().expect("valid checkpoint");
        let sig = sign_checkpoint(&key, &text);
        let pk = key.public_key_sec1();
        assert_eq!(pk.len(), 65);
        assert_eq!(pk[0], 0x04);
        assert!(verify_checkpoint(&pk, &text, &sig).is_ok());
        assert!(verify_checkpoint(&pk, &text.replace("1234", "1235"), &sig).is_err());
        let other = SigningKey::from_secret_bytes(&[0x22; 32]).expect("valid scalar");
        assert!(verify_checkpoint(&other.public_key_sec1(), &text, &sig).is_err());
        let mut bad = sig.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(verify_checkpoint(&pk, &text, &bad).is_err());
        assert!(verify_checkpoint(&pk[..64], &text, &sig).is_err());
        assert!(verify_checkpoint(&pk, &text, &sig[..sig.len() - 1]).is_err());
    }

    #[test]
    fn keys_round_trip_through_pkcs8() {
        let key = SigningKey::generate().expect("OS randomness");
        let der = key.to_pkcs8_der().expect("encode");
        let pem = key.to_pkcs8_pem().expect("encode");
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        for back in [
            SigningKey::from_pkcs8_der(&der).expect("decode der"),
            SigningKey::from_pkcs8_pem(&pem).expect("decode pem"),
        ] {
            assert_eq!(back.public_key_sec1(), key.public_key_sec1());
        }
        assert!(SigningKey::from_pkcs8_der(&der[1..]).is_err());
        assert!(SigningKey::from_secret_bytes(&[0; 32]).is_err());
        assert!(!format!("{key:?}").contains(&hex::encode(&der[..])));
    }
}
