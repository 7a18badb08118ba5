//! Periodic inspection applications (D1–D3): the cylinders an enterprise sends to an inspection
//! station in one application, and the result the station records for each of them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{Conclusion, InspectionResult};
use crate::units::Text;

/// The business-record kind of an application.
pub const INSPECTION_APP: &str = "inspection_app";

/// An application as kept (business record of kind [`INSPECTION_APP`], state `applied` until every
/// cylinder has a result, then `done`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectionApplication {
    pub codes: Vec<String>,
    pub station_org_id: Uuid,
    #[serde(default)]
    pub remark: Option<Text>,
    pub sent_at: DateTime<Utc>,
    /// The result recorded for each code, by code.
    #[serde(default)]
    pub results: BTreeMap<String, ResultNote>,
}

/// What an application keeps of a result: the conclusion and the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultNote {
    pub conclusion: Conclusion,
    pub report_no: Text,
    pub report_file: String,
}

impl InspectionApplication {
    /// Notes the result for `code` when the application waits for one; answers whether it then has
    /// a result for every cylinder, or `None` when `code` is not waiting here.
    pub fn note(&mut self, code: &str, r: &InspectionResult) -> Option<bool> {
        if !self.codes.iter().any(|c| c == code) || self.results.contains_key(code) {
            return None;
        }
        self.results.insert(
            code.to_owned(),
            ResultNote {
                conclusion: r.conclusion,
                report_no: r.report_no.clone(),
                report_file: r.report_file.clone().unwrap_or_default(),
            },
        );
        Some(self.codes.iter().all(|c| self.results.contains_key(c)))
    }
}
