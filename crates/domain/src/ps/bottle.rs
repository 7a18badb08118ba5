//! `GenericBottle` (§2): the archive in the interface's names, both ways.

use serde_json::Value;
use uuid::Uuid;

use crate::archive::{Archive, CylinderState, Registration, Valve};
use crate::codes::CylinderCode;
use crate::error::ValidationErrors;
use crate::time::{Date, MonthOrDate};
use crate::units::{Kg, Litres, Mm, Mpa, Text};

use super::*;

impl GenericBottle {
    /// The archive a `GenericBottle` record describes (as pulled from an upstream platform), owned
    /// by `owner`; the cyltrace extension properties `RegisterNo` and `Office` give the
    /// registration certificate.
    pub fn to_archive(v: &Value, prefix: &str, owner: Uuid) -> Result<Archive, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        let Some(o) = Obj::new(v, prefix.to_owned(), &mut errs) else {
            return Err(errs);
        };
        let code = o.code("Barcode", &mut errs);
        let mut a = Archive::blank(
            code.unwrap_or_else(|| CylinderCode::parse("0000000000").expect("ten digits")),
        );
        let opt_text = |name: &str, errs: &mut ValidationErrors| {
            o.opt_str(name, errs)
                .filter(|s| !s.trim().is_empty())
                .and_then(|s| o.parse_text(name, &s, errs))
        };
        let opt_date = |name: &str, errs: &mut ValidationErrors| {
            o.opt_str(name, errs)
                .filter(|s| !s.trim().is_empty())
                .and_then(|s| o.date_of(name, &s, errs))
        };
        a.factory_serial = opt_text("Printno", &mut errs);
        a.inner_no = opt_text("InnerNo", &mut errs);
        a.style = opt_text("Style", &mut errs);
        a.medium = opt_text("Medium", &mut errs);
        a.manufacturer = opt_text("Factory", &mut errs);
        a.designer = opt_text("Designer", &mut errs);
        a.supervision_org = opt_text("Supervise", &mut errs);
        a.check_org = opt_text("Check", &mut errs);
        a.manufacture_date = opt_date("ProductDate", &mut errs).map(MonthOrDate::day);
        a.discard_date = opt_date("DiscardDate", &mut errs);
        a.last_check_date = opt_date("CheckDate", &mut errs);
        a.next_check_date = opt_date("NextDate", &mut errs);
        a.tare_kg = o
            .opt_num("IdleWeight", &mut errs)
            .and_then(|n| o.unit("IdleWeight", n, Kg::new, &mut errs));
        a.fill_limit_kg = o
            .opt_num("FillWeight", &mut errs)
            .and_then(|n| o.unit("FillWeight", n, Kg::new, &mut errs));
        a.working_pressure_mpa = o
            .opt_num("NominalPressure", &mut errs)
            .and_then(|n| o.unit("NominalPressure", n, Mpa::new, &mut errs));
        a.test_pressure_mpa = o
            .opt_num("WaterPressure", &mut errs)
            .and_then(|n| o.unit("WaterPressure", n, Mpa::new, &mut errs));
        a.volume_l = o
            .opt_num("Volumn", &mut errs)
            .and_then(|n| o.unit("Volumn", n, Litres::new, &mut errs));
        a.wall_thickness_mm = o
            .opt_num("Thickness", &mut errs)
            .and_then(|n| o.unit("Thickness", n, Mm::new, &mut errs));
        a.check_period_years = o.opt_num("CheckPeriod", &mut errs).map(|n| n as u8);
        a.life_years = o.opt_num("LifePeriod", &mut errs).map(|n| n as u8);
        a.valve = o
            .opt_num("Valve", &mut errs)
            .and_then(|n| Valve::try_from(n as u8).ok());
        a.state = match o.opt_num("State", &mut errs).map(|n| n as i64) {
            Some(1) => CylinderState::Locked,
            Some(2) => CylinderState::Scrapped,
            _ => CylinderState::Normal,
        };
        let reg_no = opt_text("RegisterNo", &mut errs);
        let office = opt_text("Office", &mut errs);
        let reg_date = o
            .opt_str("RegisterDate", &mut errs)
            .filter(|s| !s.trim().is_empty())
            .and_then(|s| match parse_ymdhms(&s) {
                Ok(t) => Some(Date(crate::time::china_date(t))),
                Err(m) => {
                    errs.push(o.at("RegisterDate"), m);
                    None
                }
            });
        if let (Some(number), Some(date)) = (reg_no, reg_date) {
            a.registration = Some(Registration {
                number,
                date,
                authority: office.unwrap_or_else(|| Text::parse("登记机关").expect("text")),
            });
        }
        a.owner_org_id = Some(owner);
        errs.into_result(a)
    }
}

pub use crate::archive::GenericBottle;
