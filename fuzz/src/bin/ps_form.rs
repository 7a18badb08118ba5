//! Query strings and form bodies (`form_pairs`): how `/PS` `data` (and every API query) arrives
//! when it is not a JSON body; issue 22 defect 5 (invalid UTF-8 was replaced with U+FFFD).
//!
//! Beyond "no panic": accepted pairs hold no NUL and, encoded again as a form, decode to the same
//! pairs; a refusal names the parameter it is about (as it was sent) with a reason.
#![no_main]

use cyltrace_fuzz::form::form_pairs;
use libfuzzer_sys::fuzz_target;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

fuzz_target!(|data: &[u8]| {
    match form_pairs(data) {
        Ok(pairs) => {
            let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
            let again: Vec<String> = pairs
                .iter()
                .map(|(k, v)| {
                    assert!(!k.contains('\0') && !v.contains('\0'));
                    format!("{}={}", enc(k), enc(v))
                })
                .collect();
            let again = again.join("&");
            // Pairs with an empty name and value (`=`) encode to `=`, which reads back the same.
            assert_eq!(form_pairs(again.as_bytes()), Ok(pairs), "{again}");
        }
        Err((name, why)) => {
            assert!(!why.is_empty());
            assert!(!name.contains('\0'), "{name:?}");
        }
    }
});
