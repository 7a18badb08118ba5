//! The pure domain of cyltrace: cylinder codes and region codes, measured quantities, the China
//! calendar, the cylinder archive (table A.1 + Yunnan `GenericBottle`), organisations, licences, sites
//! and roles, the closed set of event kinds with their validated data, the cylinder status
//! projection as a pure fold over events, the filling rules (table B.1), the judging of events on
//! their way into the log (`intake`: references, scope, the circulation guards), circulation and
//! its typed business documents, and the Yunnan interface as data (`ps`).
//!
//! Nothing here performs IO or reads a clock: callers pass `now` in. Input types are built only through
//! parsing (`TryFrom`/`Deserialize`), so a value of a domain type is always valid.

pub mod access;
pub mod archive;
pub mod car_bottle;
pub mod circulation;
pub mod codes;
pub mod devices;
pub mod error;
pub mod event;
pub mod filling;
pub mod import;
pub mod inspection;
pub mod intake;
pub mod org;
pub mod parse;
pub mod plausible;
pub mod ps;
pub mod status;
pub mod supervision;
pub mod time;
pub mod units;
pub mod workshop;

pub use archive::{Archive, CylinderState, Registration, Valve};
pub use codes::{CylinderCode, QrId, RegionCode};
pub use error::{FieldError, ValidationErrors};
pub use event::{Event, EventData, EventKind};
pub use org::{
    CreditCode, Licence, LicenceKind, NewOrg, NewSite, OrgChanges, OrgKind, Role, SiteChanges,
    SiteKind,
};
pub use status::{CylinderStatus, LabelStatus, LocationKind, Verdict};
pub use time::{Date, Timestamp};
pub use units::{Kg, Litres, Mm, Mpa, Text};
