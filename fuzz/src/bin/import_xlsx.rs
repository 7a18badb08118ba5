//! Archive import from Excel (A6): the zip bounds checked while inflating (`bounds::check_xlsx`),
//! the sheet's rows (`read::read_xlsx`, calamine) and the domain's validation of each row.
//!
//! Beyond "no panic": a workbook within the bounds is read with bounded memory (libFuzzer's
//! `-rss_limit_mb` in run.sh fails the run otherwise); see `cyltrace_fuzz::Import` for the rows.
#![no_main]

use cyltrace_fuzz::{Import, bounds, read};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if bounds::check_xlsx(data).is_err() {
        return;
    }
    let mut rows = Import::new(false);
    if let Err(e) = read::read_xlsx(data, &mut rows) {
        assert!(!e.is_empty());
    }
    rows.finish();
});
