//! SM4 (GB/T 32907) in CBC mode with PKCS#7 padding: how `/PS` callers with a key send `data`
//! (`{"Cipher": base64, "Iv": base64}`, YUNNAN-API.md), and how this node's uplink sends it.
//!
//! Pure but for the IV's randomness (no `crate::` paths): `fuzz/` compiles this very file into its
//! `sm4_envelope` and `label_url` targets.

use base64ct::{Base64, Encoding};
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};

type Enc = cbc::Encryptor<sm4::Sm4>;
type Dec = cbc::Decryptor<sm4::Sm4>;

/// A 128-bit SM4 key.
#[derive(Clone, PartialEq, Eq)]
pub struct Sm4Key([u8; 16]);

impl std::fmt::Debug for Sm4Key {
    // Keys never reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sm4Key(..)")
    }
}

impl Sm4Key {
    /// From 32 hex digits.
    pub fn parse_hex(s: &str) -> Result<Self, String> {
        let b = hex::decode(s.trim()).map_err(|_| "SM4 密钥应为 32 位十六进制数".to_owned())?;
        let k: [u8; 16] = b
            .try_into()
            .map_err(|_| "SM4 密钥应为 32 位十六进制数（128 位）".to_owned())?;
        Ok(Sm4Key(k))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// HMAC-SM3 under this key: the node's keyed hashes (identity lookup, label signatures) are
    /// derived from its personal-data key.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        use hmac::{KeyInit, Mac};
        let mut m = <hmac::Hmac<sm3::Sm3> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC takes any key length");
        for p in parts {
            m.update(p);
            // A separator, so that ("ab","c") and ("a","bc") differ.
            m.update(&[0]);
        }
        m.finalize().into_bytes().into()
    }
}

/// Encrypts `plain` with a fresh random IV: (iv, ciphertext).
pub fn encrypt(key: &Sm4Key, plain: &[u8]) -> anyhow::Result<([u8; 16], Vec<u8>)> {
    let mut iv = [0u8; 16];
    getrandom::fill(&mut iv).map_err(|e| anyhow::anyhow!("no randomness for the SM4 IV: {e}"))?;
    let ct = Enc::new(&key.0.into(), &iv.into()).encrypt_padded_vec::<Pkcs7>(plain);
    Ok((iv, ct))
}

pub fn decrypt(key: &Sm4Key, iv: &[u8], cipher: &[u8]) -> Result<Vec<u8>, String> {
    let iv: [u8; 16] = iv
        .try_into()
        .map_err(|_| "Iv 应为 16 字节（base64）".to_owned())?;
    Dec::new(&key.0.into(), &iv.into())
        .decrypt_padded_vec::<Pkcs7>(cipher)
        .map_err(|_| "解密失败：密文或密钥不正确".to_owned())
}

/// The envelope `{"Cipher","Iv"}` of `json`.
pub fn seal(key: &Sm4Key, json: &serde_json::Value) -> anyhow::Result<serde_json::Value> {
    let (iv, ct) = encrypt(key, json.to_string().as_bytes())?;
    Ok(serde_json::json!({"Cipher": Base64::encode_string(&ct), "Iv": Base64::encode_string(&iv)}))
}

/// Whether `v` is an SM4 envelope.
pub fn is_sealed(v: &serde_json::Value) -> bool {
    v.as_object()
        .is_some_and(|m| m.len() == 2 && m.contains_key("Cipher") && m.contains_key("Iv"))
}

/// Opens an envelope into the JSON it carries; the error names the property.
pub fn open(key: &Sm4Key, v: &serde_json::Value) -> Result<serde_json::Value, (String, String)> {
    let b64 = |name: &str| {
        v.get(name)
            .and_then(|x| x.as_str())
            .and_then(|s| Base64::decode_vec(s.trim()).ok())
            .ok_or_else(|| (name.to_owned(), "应为 base64 字符串".to_owned()))
    };
    let (ct, iv) = (b64("Cipher")?, b64("Iv")?);
    let plain = decrypt(key, &iv, &ct).map_err(|m| ("Cipher".to_owned(), m))?;
    serde_json::from_slice(&plain)
        .map_err(|e| ("Cipher".to_owned(), format!("解密后不是合法的 JSON：{e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cbc::cipher::{BlockCipherEncrypt, KeyInit};

    #[test]
    fn gbt_32907_vector() {
        // G4: GB/T 32907-2016 Appendix A example 1, one block.
        let key = hex::decode("0123456789abcdeffedcba9876543210").unwrap();
        let c = sm4::Sm4::new_from_slice(&key).unwrap();
        let mut block = [0u8; 16];
        block.copy_from_slice(&key);
        let mut b = block.into();
        c.encrypt_block(&mut b);
        assert_eq!(hex::encode(b), "681edf34d206965e86b3e94f536e4246");
        // Example 2: the same block encrypted 1,000,000 times.
        let mut b = block.into();
        for _ in 0..1_000_000 {
            c.encrypt_block(&mut b);
        }
        assert_eq!(hex::encode(b), "595298c7c6fd271f0402f804c33d3f66");
    }

    #[test]
    fn envelope_round_trip_and_wrong_key() {
        let key = Sm4Key::parse_hex("0123456789abcdeffedcba9876543210").unwrap();
        let data = serde_json::json!({"Items": [{"Barcode": "1103007831", "State": 0, "ThridId": 1}], "Man": {"Name": "张三"}});
        let sealed = seal(&key, &data).unwrap();
        assert!(is_sealed(&sealed));
        assert_eq!(open(&key, &sealed).unwrap(), data);
        let other = Sm4Key::parse_hex("00000000000000000000000000000001").unwrap();
        assert!(open(&other, &sealed).is_err());
        assert!(Sm4Key::parse_hex("0123").is_err());
        assert_eq!(format!("{key:?}"), "Sm4Key(..)");
    }
}
