//! SM4 envelopes of `/PS` data (`{"Cipher","Iv"}`, base64, SM4-CBC with PKCS#7; `sm4::open`) and the
//! account key's hex form.
//!
//! Beyond "no panic": any JSON sealed opens back to itself; an envelope that does not open names
//! `Cipher` or `Iv`; raw cipher text of any length decrypts or is refused, never panics.
#![no_main]

use cyltrace_fuzz::sm4::{self, Sm4Key};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let key = Sm4Key::parse_hex("0123456789abcdeffedcba9876543210").unwrap();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        // What a caller sends: any JSON, which may or may not be an envelope.
        0 => {
            let Ok(v) = serde_json::from_slice::<Value>(rest) else {
                return;
            };
            if sm4::is_sealed(&v) {
                if let Err((field, why)) = sm4::open(&key, &v) {
                    assert!(field == "Cipher" || field == "Iv", "{field}: {why}");
                    assert!(!why.is_empty());
                }
            } else {
                // What this node seals opens back to the JSON it wrote (serde_json may read a long
                // number back one unit in the last place off: that is JSON's, not SM4's).
                let sealed = sm4::seal(&key, &v).unwrap();
                assert!(sm4::is_sealed(&sealed));
                let written: Value = serde_json::from_str(&v.to_string()).unwrap();
                assert_eq!(sm4::open(&key, &sealed).unwrap(), written);
            }
        }
        // Raw cipher text and IV of any length under the key.
        1 => {
            let (iv, ct) = rest.split_at(rest.len().min(16));
            if let Ok(plain) = sm4::decrypt(&key, iv, ct) {
                assert!(plain.len() < ct.len(), "PKCS#7 removes at least one byte");
            }
        }
        // The key of an account, as an administrator types it.
        2 => {
            if let Ok(k) = Sm4Key::parse_hex(&String::from_utf8_lossy(rest)) {
                assert_eq!(Sm4Key::parse_hex(&k.to_hex()).unwrap(), k);
            }
        }
        // Encryption round trip of any bytes.
        _ => {
            let (iv, ct) = sm4::encrypt(&key, rest).unwrap();
            assert_eq!(ct.len() % 16, 0);
            assert_eq!(sm4::decrypt(&key, &iv, &ct).unwrap(), rest);
        }
    }
});
