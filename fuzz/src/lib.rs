//! What the fuzz targets in `src/bin/` share (one file per target: adding a parser to fuzz is one
//! new `src/bin/<target>.rs` plus seeds in `corpus/<target>/`; `run.sh` finds it by itself).
//!
//! The parsers fuzzed are the project's own: the domain crate, and the few pure modules of the
//! server crate that read outside input, compiled here from their very files (`#[path]`), so that
//! the instrumented build does not take the server's web and database stack.

#![forbid(unsafe_code)]

use cyltrace_domain::ValidationErrors;
use serde_json::Value;

/// `crates/server/src/sm4.rs`: SM4-CBC and the `{"Cipher","Iv"}` envelope of `/PS` data.
#[path = "../../crates/server/src/sm4.rs"]
pub mod sm4;

/// `crates/server/src/web/form.rs`: query strings and form bodies (how `/PS` `data` may arrive).
#[path = "../../crates/server/src/web/form.rs"]
pub mod form;

/// `crates/server/src/services/archives/bounds.rs`: the size bounds checked before an import is read.
#[path = "../../crates/server/src/services/archives/bounds.rs"]
pub mod bounds;

/// `crates/server/src/services/archives/read.rs`: the rows of a CSV or xlsx import (it reaches
/// `super::bounds`, which is the module above here as it is its sibling in the server).
#[path = "../../crates/server/src/services/archives/read.rs"]
pub mod read;

/// The JSON the server would parse from a body, or `None` when it refuses it before any typed
/// parsing: not JSON, or text no field can store (NUL), as `JsonBody` and `/PS` `json_of` do.
pub fn json(data: &[u8]) -> Option<Value> {
    let v: Value = serde_json::from_slice(data).ok()?;
    cyltrace_domain::units::unstorable_in(&v)
        .is_none()
        .then_some(v)
}

/// A refusal must say what is wrong where: at least one error, each naming a field below
/// `prefix` (when there is one) with a non-empty message.
pub fn assert_named(e: &ValidationErrors, prefix: &str) {
    assert!(!e.0.is_empty(), "a refusal without any error");
    for f in &e.0 {
        assert!(!f.message.trim().is_empty(), "no reason for {:?}", f.field);
        assert!(
            f.field.starts_with(prefix),
            "error field {:?} is not below {prefix:?} ({})",
            f.field,
            f.message
        );
    }
}

/// What an import file's rows make: the rows go to the domain's `Importer` as the server's
/// `services::archives::import` hands them (header first, CSV rows complete), and every accepted
/// archive, written back as template cells (`archive_cells`, what an export writes), imports again
/// to the same archive; every refusal names a row and a column the file can have.
pub struct Import {
    importer: Option<cyltrace_domain::import::Importer>,
    complete_rows: bool,
    header_refused: bool,
}

/// The day imports are checked on (plausible dates depend on it).
pub fn import_day() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 12, 4).expect("a date")
}

impl Import {
    pub fn new(complete_rows: bool) -> Self {
        Import {
            importer: None,
            complete_rows,
            header_refused: false,
        }
    }

    fn importer(
        &self,
        headers: &[String],
    ) -> Result<cyltrace_domain::import::Importer, Vec<cyltrace_domain::import::RowError>> {
        let i = cyltrace_domain::import::Importer::new(headers)?.on(import_day());
        Ok(if self.complete_rows {
            i.complete_rows()
        } else {
            i
        })
    }

    /// Ends the file: the errors the importer keeps for the end (codes repeated across rows).
    pub fn finish(self) {
        if let Some(i) = self.importer {
            for e in i.finish() {
                assert_row_error(&e);
            }
        }
    }
}

fn assert_row_error(e: &cyltrace_domain::import::RowError) {
    assert!(
        !e.message.trim().is_empty(),
        "row {} without a reason",
        e.row
    );
    assert!(
        e.column.is_empty()
            || e.column.starts_with("第 ")
            || cyltrace_domain::import::find_column(&e.column).is_some(),
        "row {}: unknown column {:?} ({})",
        e.row,
        e.column,
        e.message
    );
}

impl read::Rows for Import {
    fn total(&mut self, _n: usize) {}

    fn push(&mut self, row: usize, cells: Vec<String>) -> bool {
        let Some(importer) = self.importer.as_mut() else {
            if self.header_refused {
                return false;
            }
            match self.importer(&cells) {
                Ok(i) => self.importer = Some(i),
                Err(errs) => {
                    assert!(!errs.is_empty());
                    for e in &errs {
                        assert!(e.row == 1 && !e.message.trim().is_empty(), "{e:?}");
                    }
                    self.header_refused = true;
                    return false;
                }
            }
            return true;
        };
        match importer.row(row, &cells) {
            Ok(Some(a)) => {
                let headers: Vec<String> = cyltrace_domain::import::template_headers()
                    .into_iter()
                    .map(str::to_owned)
                    .collect();
                let mut fresh = cyltrace_domain::import::Importer::new(&headers)
                    .expect("the template's headers")
                    .on(import_day())
                    .complete_rows();
                let cells = cyltrace_domain::import::archive_cells(&a);
                match fresh.row(2, &cells) {
                    Ok(Some(again)) => assert_eq!(again, a, "cells {cells:?}"),
                    other => panic!("archive written as {cells:?} imports as {other:?}"),
                }
            }
            Ok(None) => {}
            Err(errs) => {
                assert!(!errs.is_empty());
                for e in &errs {
                    assert_eq!(e.row, row);
                    assert_row_error(e);
                }
            }
        }
        true
    }
}
