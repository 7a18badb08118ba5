//! Archive import from CSV (A6): the size bounds (`bounds::check_csv`), the rows
//! (`read::read_csv`) and the domain's validation of each row (`import::Importer`).
//!
//! Beyond "no panic": see `cyltrace_fuzz::Import` (accepted archives re-import to themselves;
//! refusals name a row and a column).
#![no_main]

use cyltrace_fuzz::{Import, bounds, read};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The server refuses what is not UTF-8 text before (`check_file`); the reader must not care.
    if bounds::check_csv(data).is_err() {
        return;
    }
    let mut rows = Import::new(true);
    if let Err(e) = read::read_csv(data, &mut rows) {
        assert!(e.starts_with("CSV"), "{e}");
    }
    rows.finish();
});
