//! Query strings and form bodies (`a=b&c=d`) as text pairs, refusing what no text can be.
//!
//! Pure (no `crate::` paths): `fuzz/` compiles this very file into its `ps_form` target (the `/PS`
//! `data` sent as a query parameter or a form field).

/// The pairs of a query string or form body (`a=b&c=d`, `+` and `%XX` decoded), refusing what no
/// text can be: bytes that are not UTF-8 once decoded (they are not replaced with U+FFFD) and NUL.
/// The error names the parameter and says why.
pub fn form_pairs(raw: &[u8]) -> Result<Vec<(String, String)>, (String, &'static str)> {
    // `+` is a space in a form; `%XX` is a byte (left as it is when not two hex digits).
    fn decode(b: &[u8]) -> Vec<u8> {
        let spaced: Vec<u8> = b
            .iter()
            .map(|&c| if c == b'+' { b' ' } else { c })
            .collect();
        percent_encoding::percent_decode(&spaced).collect()
    }
    let mut pairs = Vec::new();
    for kv in raw.split(|&c| c == b'&').filter(|kv| !kv.is_empty()) {
        let (k, v) = match kv.iter().position(|&c| c == b'=') {
            Some(at) => (&kv[..at], &kv[at + 1..]),
            None => (kv, &b""[..]),
        };
        let (k, v) = (decode(k), decode(v));
        let name = String::from_utf8_lossy(&k).replace('\0', "\u{FFFD}");
        let text = |b: Vec<u8>| match String::from_utf8(b) {
            Err(_) => Err((name.clone(), "不是合法的 UTF-8 文本")),
            Ok(s) => match cyltrace_domain::units::unstorable(&s) {
                Some(why) => Err((name.clone(), why)),
                None => Ok(s),
            },
        };
        pairs.push((text(k)?, text(v)?));
    }
    Ok(pairs)
}
