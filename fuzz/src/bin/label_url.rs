//! Scanned labels (A8): the QR content, bare 16 digits or `…/Q?id=<16 digits>&s=<signature>`
//! (`QrId::parse`, `QrId::signature_in`), as the public page, the handheld and fill-control read it.
//!
//! Beyond "no panic": an accepted QR id writes back (`digits`) to 16 digits that parse to the same
//! id; the label URL the node prints for it, signed with HMAC-SM3 as `services::labels` signs,
//! parses back to the same id and signature; a found signature is part of what was scanned.
#![no_main]

use cyltrace_domain::QrId;
use cyltrace_fuzz::sm4::Sm4Key;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(scanned) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(sig) = QrId::signature_in(scanned) {
        assert!(scanned.contains(&format!("s={sig}")));
    }
    let Ok(qr) = QrId::parse(scanned) else { return };
    let digits = qr.digits();
    assert!(
        digits.len() == 16 && digits.bytes().all(|b| b.is_ascii_digit()),
        "{digits}"
    );
    assert_eq!(QrId::parse(&digits).unwrap(), qr);
    assert_eq!(qr.to_string(), digits);
    let key = Sm4Key::parse_hex("00112233445566778899aabbccddeeff").unwrap();
    let mac = key.mac(&[b"cyltrace label v1", digits.as_bytes()]);
    let sig = hex::encode_upper(&mac[..8]);
    let url = format!("https://trace.example.cn/Q?id={digits}&s={sig}");
    assert_eq!(QrId::parse(&url).unwrap(), qr);
    assert_eq!(QrId::signature_in(&url), Some(sig.as_str()));
});
